// Byte-level BPE merging (see bpe.h). Symbols form a linked list over the
// word's bytes; queued merges are dropped when popped if either side has
// changed since (its symbol id differs or it was absorbed).
#include "tokenizer/bpe.h"

#include <queue>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace lowbit::tokenizer_detail {
namespace {

std::string byte_level(std::string_view bytes) {
  std::string s;
  s.reserve(bytes.size() * 2);
  for (char c : bytes) unicode::append_utf8(s, unicode::byte_to_codepoint(uint8_t(c)));
  return s;
}

inline uint64_t pair_key(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

struct Symbol {
  int32_t id;  // interned string id, -1 if the string is in neither vocab nor merges
  int32_t prev;
  int32_t next;
  uint32_t start;
  uint32_t len;  // bytes; 0 once merged into the left neighbour
};

struct Bigram {
  int32_t rank;
  int32_t left;
  int32_t right;
  int32_t left_id;
  int32_t right_id;
  int32_t result;
};

struct LowerPriority {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

BpeEncoder::BpeEncoder(const Vocab& vocab, const std::vector<std::string>& merges, bool ignore_merges)
    : vocab_(vocab), n_vocab_(int32_t(vocab.tokens.size())), ignore_merges_(ignore_merges) {
  merges_.reserve(merges.size());
  std::string joined;
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& m = merges[i];
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos) fail("tokenizer.ggml.merges[{}] = '{}' has no space between its two parts", i, m);
    const std::string_view left = std::string_view(m).substr(0, space), right = std::string_view(m).substr(space + 1);
    joined.assign(left).append(right);
    const int32_t l = intern(left), r = intern(right), result = intern(joined);
    merges_.try_emplace(pair_key(l, r), Merge{int32_t(i), result});  // first rank wins on duplicates
  }
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    unicode::append_utf8(ch, unicode::byte_to_codepoint(uint8_t(b)));
    byte_symbol_[size_t(b)] = symbol_id(ch);
  }
}

int32_t BpeEncoder::symbol_id(std::string_view text) const {
  const int32_t id = vocab_.find(text);
  if (id >= 0) return id;
  if (extra_.empty()) return -1;
  auto it = extra_.find(text);
  return it == extra_.end() ? -1 : it->second;
}

int32_t BpeEncoder::intern(std::string_view text) {
  const int32_t id = symbol_id(text);
  if (id >= 0) return id;
  const int32_t fresh = n_vocab_ + int32_t(extra_.size());
  extra_.emplace(std::string(text), fresh);
  return fresh;
}

// A symbol string that is not a token: llama.cpp emits whichever single bytes
// of its byte-level spelling happen to be tokens (normally none arise, as
// byte-level vocabularies hold all 256 characters).
void BpeEncoder::append_fallback(std::string_view bytes, std::vector<int32_t>& out) const {
  for (char c : byte_level(bytes)) {
    const int32_t id = vocab_.find(std::string_view(&c, 1));
    if (id >= 0) out.push_back(id);
  }
}

void BpeEncoder::encode_word(std::string_view bytes, std::vector<int32_t>& out) const {
  if (bytes.empty()) return;
  if (ignore_merges_) {
    const int32_t id = vocab_.find(byte_level(bytes));
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  if (bytes.size() == 1) {
    const int32_t id = byte_symbol_[uint8_t(bytes[0])];
    if (id >= 0 && id < n_vocab_) out.push_back(id);
    else append_fallback(bytes, out);
    return;
  }

  std::vector<Symbol> symbols(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    symbols[i] = {byte_symbol_[uint8_t(bytes[i])], int32_t(i) - 1, int32_t(i) + 1, uint32_t(i), 1};
  }
  symbols.back().next = -1;

  std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t lid = symbols[size_t(left)].id, rid = symbols[size_t(right)].id;
    if (lid < 0 || rid < 0) return;
    auto it = merges_.find(pair_key(lid, rid));
    if (it == merges_.end()) return;
    queue.push({it->second.rank, left, right, lid, rid, it->second.result});
  };
  for (int32_t i = 1; i < int32_t(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[size_t(b.left)];
    Symbol& right = symbols[size_t(b.right)];
    if (left.len == 0 || right.len == 0 || left.id != b.left_id || right.id != b.right_id) continue;  // stale
    left.id = b.result;
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[size_t(right.next)].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }

  for (int32_t i = 0; i >= 0; i = symbols[size_t(i)].next) {
    const Symbol& s = symbols[size_t(i)];
    if (s.id >= 0 && s.id < n_vocab_) out.push_back(s.id);
    else append_fallback(bytes.substr(s.start, s.len), out);
  }
}

}  // namespace lowbit::tokenizer_detail
