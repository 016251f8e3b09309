// Random-weight Llama-shaped models written as GGUF: the model the README's
// main command quantizes when ../shared is absent, and the 7B-shaped model of
// the benchmarks (speed does not depend on the weights' values). The
// tokenizer is byte-level (256 byte tokens + BOS/EOS, no merges), so every
// command that needs one works.
#pragma once

#include <cstdint>
#include <string>

#include "core/ggml_type.h"

namespace lowbit::eval {

struct SyntheticShape {
  std::string name;
  int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
};

// "tiny" (about 5.2M parameters), "small" (~63M), "1B", "7B" (Llama-2-7B shape).
SyntheticShape synthetic_shape(const std::string& name);

struct SyntheticResult {
  uint64_t parameters = 0;
  uint64_t file_bytes = 0;
  double seconds = 0;
};

// Writes the model with matrices stored as `type` (F32, F16 or BF16) and
// norms in F32. Deterministic for a given seed.
SyntheticResult write_synthetic_model(const std::string& path, const SyntheticShape& shape, GgmlType type,
                                      uint64_t seed, bool show_progress);

}  // namespace lowbit::eval
