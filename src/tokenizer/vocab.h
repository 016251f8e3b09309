// Internal vocabulary shared by the SentencePiece-style and byte-level BPE
// encoders: token strings, scores, types, and a compact open-addressing index
// from text to id that is probed with string_views (no temporary strings in
// the hot loops; one 8-byte slot per entry keeps it cache friendly).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace lowbit::tokenizer_detail {

uint64_t hash_text(std::string_view s);

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return size_t(hash_text(s)); }
};

// string -> int with heterogeneous (string_view) lookup.
using TextMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Text -> id over a token list it does not own. Slot layout: 0 = empty, else
// (upper 32 bits of the hash << 32) | (id + 1); linear probing, load <= 1/2.
class TokenIndex {
 public:
  // Indexes every token; when a text occurs twice the highest id wins (as
  // llama.cpp's map assignment does).
  void build(const std::vector<std::string>& tokens);
  int32_t find(std::string_view text, const std::vector<std::string>& tokens) const;

 private:
  std::vector<uint64_t> slots_;
  uint64_t mask_ = 0;
};

struct Vocab {
  std::vector<std::string> tokens;  // as stored in the GGUF
  std::vector<float> scores;        // empty when the metadata has none
  std::vector<TokenType> types;
  TokenIndex index;

  int32_t find(std::string_view text) const { return index.find(text, tokens); }
  float score(int32_t id) const { return scores.empty() ? 0.0f : scores[size_t(id)]; }
};

}  // namespace lowbit::tokenizer_detail
