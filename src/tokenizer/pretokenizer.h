// Pre-tokenizers of byte-level BPE vocabularies: they cut text into the
// pieces that BPE merges never cross. Each variant reproduces the split
// regexes Hugging Face tokenizers (and llama.cpp) use for a model family,
// written as hand-made matchers because std::regex has no Unicode classes.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace lowbit {

enum class PreTokenizer {
  Gpt2,           // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  Llama3,         // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  Qwen2,          // Llama3's pattern with single digits: \p{N}
  DeepseekLlm,    // [\r\n], \s?<cased letters>+, \s?<ASCII/fullwidth punct>+, \s+$, <CJK>+, \p{N}+
  DeepseekCoder,  // [\r\n], \s?\p{L}+, \s?\p{P}+, <CJK>+, \p{N}
  Falcon,         // [\p{P}$+<=>^~|`]+, then Gpt2, then [0-9]{3}
  Starcoder,      // \p{N}, then Gpt2 (also refact, command-r, smollm, ...)
  Default,        // [\p{P}$+<=>^~|]+, then Gpt2, then \p{N}+, then [0-9]{3}
};

// Maps a tokenizer.ggml.pre name (llama.cpp spelling) to a variant; throws
// lowbit::Error naming the value when it is unknown.
PreTokenizer pre_tokenizer_from_name(std::string_view name);
const char* pre_tokenizer_name(PreTokenizer kind);

// A byte range [begin, end) of the input text.
struct TextPiece {
  size_t begin;
  size_t end;
};

// Splits text into consecutive non-empty pieces that cover it exactly. When
// several patterns apply, each one splits the pieces of the previous one;
// text between matches stays a piece of its own (HF "Isolated" splitting).
// Invalid UTF-8 bytes are kept, one code point each of class Other.
std::vector<TextPiece> pre_tokenize(PreTokenizer kind, std::string_view text);

}  // namespace lowbit
