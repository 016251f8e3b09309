// SentencePiece-style encoder ("llama" vocabularies): the text, already
// escaped (spaces as U+2581), starts as one symbol per UTF-8 character;
// neighbouring symbols whose concatenation is a token merge, highest token
// score first (leftmost on ties). Symbols that end up outside the vocabulary
// are spelled with <0xXX> byte tokens.
//
// Speed: when no token has a U+2581 after another character (true of
// SentencePiece-trained vocabularies), no merge can cross the start of a
// U+2581 run, so the text is cut there into words that merge independently,
// and each distinct word is merged only once per call. The result is the same
// as merging the whole text at once.
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
  // allow_word_split = false always merges the whole text at once (tests).
  SpmEncoder(const Vocab& vocab, int32_t unk, bool allow_word_split = true);
  void encode(std::string_view escaped_text, std::vector<int32_t>& out) const;
  bool splits_words() const { return split_words_; }

 private:
  struct Symbol {
    int32_t prev;
    int32_t next;
    uint32_t start;
    uint32_t len;  // 0 once merged into its left neighbour
  };
  // Merges symbols[first, last) (one word, or the whole text) and appends its tokens.
  void encode_symbols(std::string_view text, std::vector<Symbol>& symbols, size_t first, size_t last,
                      std::vector<int32_t>& out) const;

  const Vocab& vocab_;
  int32_t unk_;
  bool split_words_ = false;
  std::array<int32_t, 256> byte_token_;  // -1: no <0xXX> token and no 1-char token
};

}  // namespace lowbit::tokenizer_detail
