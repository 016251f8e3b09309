// Token sampling (see sampler.h).
#include "model/sampler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace lowbit::model {

int32_t argmax(std::span<const float> values) {
  if (values.empty()) fail("argmax of an empty vector");
  size_t best = 0;
  for (size_t i = 1; i < values.size(); ++i)
    if (values[i] > values[best]) best = i;
  return int32_t(best);
}

Sampler::Sampler(SamplerOptions options) : options_(options), rng_(options.seed) {
  if (!std::isfinite(options_.temperature)) fail("temperature must be a finite number");
  if (!(options_.top_p > 0.0f)) fail("top-p must be greater than 0 (got {})", options_.top_p);
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (logits.empty()) fail("sample: no logits");
  if (options_.temperature <= 0.0f) return argmax(logits);

  // Candidates sorted by logit, best first (ties: lower id first), cut to top-k.
  const size_t n = logits.size();
  size_t k = options_.top_k > 0 ? std::min(n, size_t(options_.top_k)) : n;
  candidates_.resize(n);
  for (size_t i = 0; i < n; ++i) candidates_[i] = {logits[i], int32_t(i)};
  auto better = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  std::partial_sort(candidates_.begin(), candidates_.begin() + std::ptrdiff_t(k), candidates_.end(), better);
  candidates_.resize(k);

  // Softmax with temperature, in double.
  probs_.resize(k);
  const double top = candidates_[0].first;
  double sum = 0.0;
  for (size_t i = 0; i < k; ++i) {
    probs_[i] = std::exp((double(candidates_[i].first) - top) / double(options_.temperature));
    sum += probs_[i];
  }
  // Nucleus: keep the smallest prefix whose probability reaches top_p.
  size_t keep = k;
  if (options_.top_p < 1.0f) {
    double cum = 0.0;
    for (size_t i = 0; i < k; ++i) {
      cum += probs_[i] / sum;
      if (cum >= double(options_.top_p)) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept = 0.0;
  for (size_t i = 0; i < keep; ++i) kept += probs_[i];

  // A uniform draw in [0, kept) from 53 random bits: the same on every
  // platform (std::uniform_real_distribution is not specified bit for bit).
  const double u = double(rng_() >> 11) * (1.0 / 9007199254740992.0) * kept;
  double acc = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    acc += probs_[i];
    if (u < acc) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;
}

}  // namespace lowbit::model
