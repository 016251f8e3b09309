// RoPE: rotation angles against a direct complex-number computation, the two
// pairing layouts against each other under llama.cpp's row permutation, and
// the scaled frequency schedules.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <numbers>
#include <random>
#include <vector>

#include "model/rope.h"

namespace lowbit::model {
namespace {

LlamaConfig small_config(RopeLayout layout, int64_t head_dim = 16, int64_t n_rot = 16) {
  LlamaConfig c;
  c.head_dim = head_dim;
  c.n_rot = n_rot;
  c.rope_base = 10000.0;
  c.rope_layout = layout;
  return c;
}

std::vector<float> random_vector(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(Rope, AdjacentPairsRotateLikeComplexNumbers) {
  const LlamaConfig c = small_config(RopeLayout::AdjacentPairs);
  Rope rope(c);
  const int64_t pos = 37;
  std::vector<float> v = random_vector(32, 1);  // two heads
  std::vector<float> r = v;
  rope.apply(r.data(), 2, pos);
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 8; ++i) {
      const double theta = pos * std::pow(10000.0, -2.0 * i / 16.0);
      std::complex<double> z(v[h * 16 + 2 * i], v[h * 16 + 2 * i + 1]);
      z *= std::polar(1.0, theta);
      EXPECT_NEAR(r[h * 16 + 2 * i], z.real(), 1e-5);
      EXPECT_NEAR(r[h * 16 + 2 * i + 1], z.imag(), 1e-5);
    }
}

TEST(Rope, PositionZeroIsIdentity) {
  Rope rope(small_config(RopeLayout::HalfSplit));
  std::vector<float> v = random_vector(16, 2), r = v;
  rope.apply(r.data(), 1, 0);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_FLOAT_EQ(r[i], v[i]);
}

// llama.cpp's converter permutes HF rows so that GGUF row 2i is HF row i
// and row 2i+1 is HF row i + head_dim/2. Half-split RoPE on HF order must
// equal adjacent-pair RoPE on GGUF order, up to that permutation.
TEST(Rope, HalfSplitOnHfOrderEqualsAdjacentOnPermutedOrder) {
  const int64_t hd = 64, heads = 3;
  Rope half(small_config(RopeLayout::HalfSplit, hd, hd));
  Rope adjacent(small_config(RopeLayout::AdjacentPairs, hd, hd));
  std::vector<float> hf = random_vector(size_t(hd * heads), 3);
  std::vector<float> gg(hf.size());
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < hd / 2; ++i) {
      gg[size_t(h * hd + 2 * i)] = hf[size_t(h * hd + i)];
      gg[size_t(h * hd + 2 * i + 1)] = hf[size_t(h * hd + i + hd / 2)];
    }
  half.apply(hf.data(), heads, 123);
  adjacent.apply(gg.data(), heads, 123);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < hd / 2; ++i) {
      EXPECT_FLOAT_EQ(gg[size_t(h * hd + 2 * i)], hf[size_t(h * hd + i)]);
      EXPECT_FLOAT_EQ(gg[size_t(h * hd + 2 * i + 1)], hf[size_t(h * hd + i + hd / 2)]);
    }
}

TEST(Rope, PartialRotationLeavesTheRestAlone) {
  Rope rope(small_config(RopeLayout::HalfSplit, 16, 8));
  std::vector<float> v = random_vector(16, 4), r = v;
  rope.apply(r.data(), 1, 5);
  for (int i = 8; i < 16; ++i) EXPECT_EQ(r[size_t(i)], v[size_t(i)]);
  // the rotated part keeps its pair norms: pairs are (i, i+4) for i < 4
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(std::hypot(r[size_t(i)], r[size_t(i + 4)]), std::hypot(v[size_t(i)], v[size_t(i + 4)]), 1e-5);
}

TEST(Rope, LinearScalingDividesEveryFrequency) {
  LlamaConfig c = small_config(RopeLayout::HalfSplit, 128, 128);
  const std::vector<double> base = rope_inverse_frequencies(c);
  c.rope_scaling = RopeScaling::Linear;
  c.rope_scale_factor = 4.0;
  const std::vector<double> scaled = rope_inverse_frequencies(c);
  for (size_t i = 0; i < base.size(); ++i) EXPECT_DOUBLE_EQ(scaled[i], base[i] / 4.0);
}

// Llama 3.1's published parameters: factor 8, low 1, high 4, original 8192,
// base 500000, head dim 128. Wavelengths below 8192/4 = 2048 keep their
// frequency, above 8192/1 it is divided by 8, and in between it is
// interpolated: (1-s) f/8 + s f with s = (8192/wavelen - 1) / 3.
TEST(Rope, Llama3ScalingBands) {
  LlamaConfig c = small_config(RopeLayout::AdjacentPairs, 128, 128);
  c.rope_base = 500000.0;
  const std::vector<double> base = rope_inverse_frequencies(c);
  c.rope_scaling = RopeScaling::Llama3;
  c.rope_scale_factor = 8.0;
  c.rope_low_freq_factor = 1.0;
  c.rope_high_freq_factor = 4.0;
  c.rope_original_context = 8192;
  const std::vector<double> scaled = rope_inverse_frequencies(c);
  int kept = 0, divided = 0, blended = 0;
  for (size_t i = 0; i < base.size(); ++i) {
    const double wavelen = 2 * std::numbers::pi / base[i];
    if (wavelen < 2048) {
      EXPECT_DOUBLE_EQ(scaled[i], base[i]);
      ++kept;
    } else if (wavelen > 8192) {
      EXPECT_DOUBLE_EQ(scaled[i], base[i] / 8);
      ++divided;
    } else {
      const double s = (8192 / wavelen - 1) / 3;
      EXPECT_NEAR(scaled[i], (1 - s) * base[i] / 8 + s * base[i], 1e-15);
      ++blended;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(blended, 0);
}

TEST(Rope, FrequencyFactorsDividePairByPair) {
  LlamaConfig c = small_config(RopeLayout::AdjacentPairs, 8, 8);
  const std::vector<double> base = rope_inverse_frequencies(c);
  c.rope_freq_factors = {1.0f, 2.0f, 4.0f, 8.0f};
  const std::vector<double> scaled = rope_inverse_frequencies(c);
  for (size_t i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(scaled[i], base[i] / c.rope_freq_factors[i]);
}

}  // namespace
}  // namespace lowbit::model
