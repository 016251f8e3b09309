// Hugging Face tokenizer.json (+ tokenizer_config.json, config.json) to the
// GGUF tokenizer metadata llama.cpp expects:
//
//   byte-level BPE (GPT-2, Llama 3, Qwen2 style) -> tokenizer.ggml.model "gpt2":
//     tokens (byte-level encoded strings, e.g. "Ġthe"), token_type, merges
//     ("Ġ t" strings), tokenizer.ggml.pre = "gpt-2" / "llama-bpe" / "qwen2"
//     recognised from the pre-tokenizer's split regex.
//   SentencePiece style (Unigram, or BPE with byte_fallback / Metaspace)
//     -> tokenizer.ggml.model "llama": tokens ("▁the"), scores, token_type,
//     add_space_prefix.
//   both: special token ids (bos, eos, unk, sep, pad, cls, mask),
//     add_bos_token / add_eos_token (tokenizer_config.json, else the
//     post-processor template), chat_template.
//
// token_type values: 1 normal, 2 unknown, 3 control (special added tokens),
// 4 user-defined (non-special added tokens), 5 unused (padding), 6 byte.
#pragma once

#include <cstdint>
#include <string>

#include "io/gguf.h"

namespace lowbit {

enum class HfTokenType : int32_t { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 };

// `folder` holds tokenizer.json and optionally tokenizer_config.json,
// chat_template.jinja and config.json. The token list is padded with
// "[PAD<i>]" (type unused) up to vocab_size: the argument when > 0, else
// config.json's vocab_size when present. Returns tokenizer.* keys only, in
// llama.cpp's order. Throws lowbit::Error naming the file and what is wrong
// (missing tokenizer.json, malformed JSON, unsupported model or pre-tokenizer).
GgufMetadata hf_tokenizer_metadata(const std::string& folder, int64_t vocab_size = 0);

// The llama.cpp pre-tokenizer name for a split regex ("gpt-2", "llama-bpe",
// "qwen2"), or "" when it is not one lowbit recognises.
std::string hf_pre_tokenizer_for_regex(const std::string& regex);

}  // namespace lowbit
