// Internal vocabulary shared by the SentencePiece-style and byte-level BPE
// encoders: token strings, scores, types and a text -> id map that can be
// probed with string_views (no temporary strings in the hot loops).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace lowbit::tokenizer_detail {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct Vocab {
  std::vector<std::string> tokens;  // as stored in the GGUF
  std::vector<float> scores;        // empty when the metadata has none
  std::vector<TokenType> types;
  TokenMap token_to_id;             // duplicate texts: the highest id wins (as llama.cpp)

  int32_t find(std::string_view text) const {
    auto it = token_to_id.find(text);
    return it == token_to_id.end() ? -1 : it->second;
  }
  float score(int32_t id) const { return scores.empty() ? 0.0f : scores[size_t(id)]; }
};

}  // namespace lowbit::tokenizer_detail
