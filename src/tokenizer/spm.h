// SentencePiece-style encoder ("llama" vocabularies): the text, already
// escaped (spaces as U+2581), starts as one symbol per UTF-8 character;
// neighbouring symbols whose concatenation is a token merge, highest token
// score first (leftmost on ties). Symbols that end up outside the vocabulary
// are spelled with <0xXX> byte tokens.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace lowbit::tokenizer_detail {

class SpmEncoder {
 public:
  // vocab must outlive the encoder. unk is used for a byte that has no token.
  SpmEncoder(const Vocab& vocab, int32_t unk);
  void encode(std::string_view escaped_text, std::vector<int32_t>& out) const;

 private:
  const Vocab& vocab_;
  int32_t unk_;
  std::array<int32_t, 256> byte_token_;  // -1: no <0xXX> token and no 1-char token
};

}  // namespace lowbit::tokenizer_detail
