// Picks the next token from logits: greedy at temperature 0, otherwise
// softmax(logits / temperature) restricted to the top-k tokens and then to
// the smallest set whose probability reaches top-p. A seeded generator makes
// runs reproducible (same seed, same logits -> same tokens).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace lowbit::model {

struct SamplerOptions {
  float temperature = 0.8f;  // <= 0: greedy (argmax, lowest id on ties)
  int32_t top_k = 40;        // <= 0: the whole vocabulary
  float top_p = 0.95f;       // >= 1: no nucleus cut
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(SamplerOptions options);
  int32_t sample(std::span<const float> logits);
  const SamplerOptions& options() const { return options_; }

 private:
  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;
  std::vector<double> probs_;
};

// Index of the largest value (the first on ties).
int32_t argmax(std::span<const float> values);

}  // namespace lowbit::model
