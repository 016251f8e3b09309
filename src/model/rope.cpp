// RoPE frequencies and rotation (see rope.h).
#include "model/rope.h"

#include <cmath>
#include <numbers>

namespace lowbit::model {

std::vector<double> rope_inverse_frequencies(const LlamaConfig& c) {
  const int64_t half = c.n_rot / 2;
  std::vector<double> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) inv[size_t(i)] = std::pow(c.rope_base, -double(2 * i) / double(c.n_rot));

  if (c.rope_scaling == RopeScaling::Linear) {
    for (double& f : inv) f /= c.rope_scale_factor;
  } else if (c.rope_scaling == RopeScaling::Llama3) {
    // Wavelengths longer than original_context / low_freq_factor are scaled
    // by 1/factor, those shorter than original_context / high_freq_factor
    // kept, and the band in between interpolated smoothly.
    const double old_ctx = double(c.rope_original_context);
    const double low_wavelen = old_ctx / c.rope_low_freq_factor;
    const double high_wavelen = old_ctx / c.rope_high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_wavelen) {
        f /= c.rope_scale_factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_ctx / wavelen - c.rope_low_freq_factor) /
                              (c.rope_high_freq_factor - c.rope_low_freq_factor);
        f = (1.0 - smooth) * f / c.rope_scale_factor + smooth * f;
      }
    }
  }
  if (!c.rope_freq_factors.empty())
    for (int64_t i = 0; i < half; ++i) inv[size_t(i)] /= double(c.rope_freq_factors[size_t(i)]);
  return inv;
}

Rope::Rope(const LlamaConfig& c)
    : inv_freq_(rope_inverse_frequencies(c)), head_dim_(c.head_dim), n_rot_(c.n_rot), layout_(c.rope_layout) {}

void Rope::apply(float* heads, int64_t n_heads, int64_t pos) const {
  const int64_t half = n_rot_ / 2;
  // cos/sin once per token, shared by all heads. Computed in double: the
  // angle pos * theta grows with the position.
  float cos_sin[2 * 512];
  std::vector<float> big;
  float* cs = cos_sin;
  if (half > 512) {
    big.resize(size_t(2 * half));
    cs = big.data();
  }
  for (int64_t i = 0; i < half; ++i) {
    const double angle = double(pos) * inv_freq_[size_t(i)];
    cs[2 * i] = float(std::cos(angle));
    cs[2 * i + 1] = float(std::sin(angle));
  }
  // Pair (a, b) of each rotation: adjacent (2i, 2i+1) or halves (i, i+half).
  const int64_t stride = layout_ == RopeLayout::AdjacentPairs ? 2 : 1;
  const int64_t partner = layout_ == RopeLayout::AdjacentPairs ? 1 : half;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = heads + h * head_dim_;
    for (int64_t i = 0; i < half; ++i) {
      float& a = v[i * stride];
      float& b = v[i * stride + partner];
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const float x0 = a, x1 = b;
      a = x0 * c - x1 * s;
      b = x0 * s + x1 * c;
    }
  }
}

}  // namespace lowbit::model
