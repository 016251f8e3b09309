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

struct Symbol {
  int32_t prev;
  int32_t next;
  uint32_t start;
  uint32_t len;  // 0 once merged into its left neighbour
};

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

}  // namespace

SpmEncoder::SpmEncoder(const Vocab& vocab, int32_t unk) : vocab_(vocab), unk_(unk) {
  for (int b = 0; b < 256; ++b) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "<0x%02X>", b);
    int32_t id = vocab_.find(hex);
    if (id < 0) id = vocab_.find(std::string_view(reinterpret_cast<const char*>(&b), 1));
    byte_token_[size_t(b)] = id;
  }
}

void SpmEncoder::encode(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t offs = 0; offs < text.size();) {
    const size_t len = std::min(unicode::utf8_lead_length(uint8_t(text[offs])), text.size() - offs);
    const int32_t index = int32_t(symbols.size());
    symbols.push_back({index - 1, index + 1, uint32_t(offs), uint32_t(len)});
    offs += len;
  }
  symbols.back().next = -1;

  std::vector<Bigram> storage;
  storage.reserve(symbols.size());
  std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue(LowerPriority{}, std::move(storage));
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t len = symbols[size_t(left)].len + symbols[size_t(right)].len;
    const int32_t id = vocab_.find(text.substr(symbols[size_t(left)].start, len));
    if (id < 0) return;
    queue.push({vocab_.score(id), left, right, len});
  };
  for (int32_t i = 1; i < int32_t(symbols.size()); ++i) try_add(i - 1, i);

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

  for (int32_t i = 0; i >= 0; i = symbols[size_t(i)].next) {
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
