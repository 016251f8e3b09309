// SentencePiece-style bigram merging (see spm.h). Symbols form a doubly
// linked list over the text; candidate merges wait in a priority queue and
// are dropped when popped if either side changed since they were queued.
#include "tokenizer/spm.h"

#include <cstdio>
#include <queue>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace lowbit::tokenizer_detail {
namespace {

constexpr std::string_view kEscapedSpace = "\xE2\x96\x81";  // U+2581

struct Bigram {
  float score;
  int32_t left;
  int32_t right;
  uint32_t len;  // combined length when queued
};

struct LowerPriority {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

// True when every U+2581 in the token belongs to its leading run of them.
bool spaces_only_leading(std::string_view token) {
  size_t i = 0;
  while (token.substr(i, kEscapedSpace.size()) == kEscapedSpace) i += kEscapedSpace.size();
  return token.find(kEscapedSpace, i) == std::string_view::npos;
}

}  // namespace

SpmEncoder::SpmEncoder(const Vocab& vocab, int32_t unk, bool allow_word_split) : vocab_(vocab), unk_(unk) {
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    int32_t id = vocab_.find(hex);
    const char c = char(b);
    if (id < 0) id = vocab_.find(std::string_view(&c, 1));
    byte_token_[size_t(b)] = id;
  }
  split_words_ = allow_word_split;
  for (const std::string& t : vocab_.tokens) {
    if (!split_words_) break;
    if (!spaces_only_leading(t)) {
      split_words_ = false;
      break;
    }
  }
}

void SpmEncoder::encode(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t offs = 0; offs < text.size();) {
    const size_t len = std::min(unicode::utf8_lead_length(uint8_t(text[offs])), text.size() - offs);
    symbols.push_back({0, 0, uint32_t(offs), uint32_t(len)});
    offs += len;
  }
  if (!split_words_) {
    encode_symbols(text, symbols, 0, symbols.size(), out);
    return;
  }
  // A word starts at a U+2581 symbol that follows a non-U+2581 symbol.
  auto is_space = [&](size_t i) { return text.substr(symbols[i].start, symbols[i].len) == kEscapedSpace; };
  struct Span {
    uint32_t begin, count;  // tokens already in `out`
  };
  std::unordered_map<std::string_view, Span, StringHash> seen;
  size_t first = 0;
  for (size_t i = 1; i <= symbols.size(); ++i) {
    if (i < symbols.size() && !(is_space(i) && !is_space(i - 1))) continue;
    const size_t begin = symbols[first].start;
    const size_t end = i < symbols.size() ? symbols[i].start : text.size();
    const std::string_view word = text.substr(begin, end - begin);
    auto it = seen.find(word);
    if (it != seen.end()) {
      for (uint32_t k = 0; k < it->second.count; ++k) {
        const int32_t id = out[it->second.begin + k];
        out.push_back(id);
      }
    } else {
      const size_t before = out.size();
      encode_symbols(text, symbols, first, i, out);
      seen.emplace(word, Span{uint32_t(before), uint32_t(out.size() - before)});
    }
    first = i;
  }
}

void SpmEncoder::encode_symbols(std::string_view text, std::vector<Symbol>& symbols, size_t first, size_t last,
                                std::vector<int32_t>& out) const {
  for (size_t i = first; i < last; ++i) {
    symbols[i].prev = i == first ? -1 : int32_t(i) - 1;
    symbols[i].next = i + 1 == last ? -1 : int32_t(i) + 1;
  }
  std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t len = symbols[size_t(left)].len + symbols[size_t(right)].len;
    const int32_t id = vocab_.find(text.substr(symbols[size_t(left)].start, len));
    if (id < 0) return;
    queue.push({vocab_.score(id), left, right, len});
  };
  for (size_t i = first + 1; i < last; ++i) try_add(int32_t(i) - 1, int32_t(i));

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[size_t(b.left)];
    Symbol& right = symbols[size_t(b.right)];
    if (left.len == 0 || right.len == 0 || left.len + right.len != b.len) continue;  // stale
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[size_t(right.next)].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }

  for (int32_t i = int32_t(first); i >= 0; i = symbols[size_t(i)].next) {
    const Symbol& s = symbols[size_t(i)];
    const std::string_view piece = text.substr(s.start, s.len);
    const int32_t id = vocab_.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // Merged symbols are always tokens, so this is a single character the
    // vocabulary lacks: spell it byte by byte.
    for (char c : piece) {
      int32_t byte_id = byte_token_[uint8_t(c)];
      if (byte_id < 0) byte_id = unk_;
      if (byte_id < 0) fail("tokenizer: no token for byte 0x{:02X} and no unknown token", unsigned(uint8_t(c)));
      out.push_back(byte_id);
    }
  }
}

}  // namespace lowbit::tokenizer_detail
