// Text <-> token ids for the two vocabulary families GGUF models carry, built
// from GGUF tokenizer metadata (Hugging Face tokenizer.json is converted into
// the same keys by io/hf_tokenizer):
//   tokenizer.ggml.model = "llama": SentencePiece-style. Spaces become U+2581,
//     a space is prefixed to the text, symbols merge by best score, and
//     characters outside the vocabulary fall back to <0xXX> byte tokens.
//   tokenizer.ggml.model = "gpt2": byte-level BPE. A pre-tokenizer chosen by
//     tokenizer.ggml.pre cuts the text into words, bytes map to GPT-2's
//     printable alphabet, and merges apply by rank.
// Results match llama.cpp's tokenizer and Hugging Face tokenizers on the
// supported vocabularies.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit {

class GgufMetadata;

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,      // BOS, EOS, chat markers: matched in text only with parse_special
  UserDefined = 4,  // added tokens: always matched in text
  Unused = 5,
  Byte = 6,         // <0xXX> byte fallback (SentencePiece)
};

class Tokenizer {
 public:
  enum class Kind { SentencePiece, BytePairEncoding };

  // Reads tokenizer.ggml.{model, pre, tokens, scores, token_type, merges,
  // bos/eos/unknown/padding/eot/eom_token_id, add_bos_token, add_eos_token,
  // add_space_prefix}. Throws lowbit::Error naming the key that is missing
  // or inconsistent.
  static Tokenizer from_metadata(const GgufMetadata& metadata);

  // add_special: put BOS / EOS around the text when the vocabulary asks for
  // them (add_bos() / add_eos()). parse_special: control tokens written in
  // the text (e.g. "<|im_end|>") become their ids; user-defined tokens are
  // matched either way.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // Concatenated pieces. Control tokens are left out unless render_special.
  // The space a SentencePiece vocabulary prefixes to text (at the start and
  // after special tokens) is removed again, so decode(encode(t)) == t.
  std::string decode(const std::vector<int32_t>& ids, bool render_special = false) const;

  // The bytes one token stands for (a byte token gives one raw byte, so a
  // single piece may be partial UTF-8). Control tokens give their text.
  const std::string& token_to_piece(int32_t id) const;
  // The token string as stored in the vocabulary.
  const std::string& token_text(int32_t id) const;
  TokenType token_type(int32_t id) const;
  // Id of the exact token string, or -1.
  int32_t find_token(std::string_view text) const;

  Kind kind() const;
  const std::string& pre_tokenizer() const;  // tokenizer.ggml.pre ("" for SentencePiece)
  int32_t n_vocab() const;
  int32_t bos() const;  // -1 when the vocabulary has none
  int32_t eos() const;
  int32_t unk() const;
  int32_t pad() const;
  bool add_bos() const;
  bool add_eos() const;
  // End of generation: EOS, EOT, EOM and control tokens such as <|eot_id|>,
  // <|im_end|>, <|end|>, <|endoftext|>, <end_of_turn>.
  bool is_eog(int32_t id) const;
  bool is_control(int32_t id) const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace lowbit
