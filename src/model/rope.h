// Rotary position embedding (RoPE) for the Llama family: frequencies from the
// base, optional linear or llama3-style scaling and per-pair frequency
// divisors, applied in either pairing layout (see RopeLayout).
#pragma once

#include <cstdint>
#include <vector>

#include "model/llama_config.h"

namespace lowbit::model {

// Inverse frequencies theta_i = base^(-2i/n_rot), i < n_rot/2, after scaling:
// linear divides all by the factor; llama3 divides low frequencies (long
// wavelengths) by the factor, keeps high ones and blends those in between;
// rope_freq_factors (GGUF rope_freqs.weight) divide pair by pair.
std::vector<double> rope_inverse_frequencies(const LlamaConfig& config);

class Rope {
 public:
  explicit Rope(const LlamaConfig& config);

  // Rotates n_heads consecutive heads of head_dim values each, in place, for
  // the token at position pos. Dimensions from n_rot on are left alone.
  void apply(float* heads, int64_t n_heads, int64_t pos) const;

 private:
  std::vector<double> inv_freq_;
  int64_t head_dim_;
  int64_t n_rot_;
  RopeLayout layout_;
};

}  // namespace lowbit::model
