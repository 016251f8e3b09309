// Byte-level BPE encoder ("gpt2" vocabularies) for one pre-tokenized word:
// each byte becomes its GPT-2 alphabet character, then adjacent symbols merge
// by merge rank (lowest first, leftmost on ties) until no listed merge is
// left. Symbol strings are interned to integers at load time, so a merge
// lookup is one hash probe on a pair of ints.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/vocab.h"

namespace lowbit::tokenizer_detail {

class BpeEncoder {
 public:
  // merges: "left right" strings in rank order. ignore_merges: a word that is
  // itself a token is emitted whole (Llama-3 behaviour). vocab must outlive
  // the encoder.
  BpeEncoder(const Vocab& vocab, const std::vector<std::string>& merges, bool ignore_merges);
  // Appends the tokens of one word given as raw bytes.
  void encode_word(std::string_view bytes, std::vector<int32_t>& out) const;
  size_t merge_count() const { return merges_.size(); }

 private:
  struct Merge {
    int32_t rank;
    int32_t result;  // symbol id of the merged string
  };
  int32_t symbol_id(std::string_view text) const;  // -1 when unknown
  int32_t intern(std::string_view text);
  void append_fallback(std::string_view bytes, std::vector<int32_t>& out) const;

  const Vocab& vocab_;
  int32_t n_vocab_;
  bool ignore_merges_;
  TextMap extra_;  // merge strings that are not tokens -> ids from n_vocab_
  std::array<int32_t, 256> byte_symbol_;
  std::unordered_map<uint64_t, Merge> merges_;
};

}  // namespace lowbit::tokenizer_detail
