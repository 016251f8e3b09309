// Helpers for the CPU kernel tests: random weight rows in any block format
// (random quant bytes, chosen scales), activation dequantization, and a
// double-precision dot product used as the independent expectation.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/ggml_type.h"
#include "core/half.h"
#include "quant/blocks.h"
#include "quant/formats.h"

namespace lowbit::test {

// Offsets of the fp16 scale fields inside one block of each format.
inline std::vector<size_t> fp16_scale_offsets(GgmlType t) {
  using T = GgmlType;
  switch (t) {
    case T::Q4_0: case T::Q5_0: case T::Q8_0: case T::IQ4_NL: case T::IQ4_XS: return {0};
    case T::Q4_1: case T::Q5_1: case T::Q4_K: case T::Q5_K: return {0, 2};
    case T::Q2_K: return {80, 82};
    case T::Q3_K: return {108};
    case T::Q6_K: return {208};
    default: return {};
  }
}

// A row of n weights of type t. Block formats: every byte random, then the
// fp16 scales set to `scale` (exact mode: 1.0) or to random values of the
// size real weights have (scale <= 0). Float types: normal random values.
inline std::vector<uint8_t> random_weight_row(GgmlType t, int64_t n, std::mt19937& rng, float scale) {
  std::vector<uint8_t> row(row_bytes(t, n));
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  if (t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16) {
    for (int64_t i = 0; i < n; ++i) {
      const float v = scale > 0 ? float(int(normal(rng) * 4)) * scale : normal(rng) * 0.05f;
      if (t == GgmlType::F32) std::memcpy(&row[size_t(i) * 4], &v, 4);
      const uint16_t h = t == GgmlType::F16 ? float_to_fp16(v) : float_to_bf16(v);
      if (t != GgmlType::F32) std::memcpy(&row[size_t(i) * 2], &h, 2);
    }
    return row;
  }
  for (auto& b : row) b = uint8_t(byte(rng));
  const size_t bpb = type_traits(t).bytes_per_block;
  std::uniform_real_distribution<float> mag(0.002f, 0.02f);
  for (size_t blk = 0; blk < row.size() / bpb; ++blk)
    for (size_t off : fp16_scale_offsets(t)) {
      const uint16_t h = float_to_fp16(scale > 0 ? scale : mag(rng));
      std::memcpy(&row[blk * bpb + off], &h, 2);
    }
  if (t == GgmlType::Q8_K)  // f32 scale at offset 0
    for (size_t blk = 0; blk < row.size() / bpb; ++blk) {
      const float d = scale > 0 ? scale : mag(rng);
      std::memcpy(&row[blk * bpb], &d, 4);
    }
  return row;
}

// Activation row in format act (Q8_0, Q8_K or F32). Exact mode (small_ints):
// quants uniform in [-15, 15] and scale 1, so every partial sum of the dot is
// a small integer and float arithmetic on it is exact in any order.
inline std::vector<uint8_t> random_activation_row(GgmlType act, int64_t n, std::mt19937& rng, bool small_ints,
                                                  void (*quantize)(const float*, void*, int64_t)) {
  std::vector<uint8_t> out(row_bytes(act, n));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> q15(-15, 15);
  if (!small_ints || act == GgmlType::F32) {
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = small_ints ? float(q15(rng)) : normal(rng);
    quantize(x.data(), out.data(), n);
    return out;
  }
  if (act == GgmlType::Q8_0) {
    auto* b = reinterpret_cast<quant::BlockQ8_0*>(out.data());
    for (int64_t k = 0; k < n / 32; ++k) {
      b[k].d = float_to_fp16(1.0f);
      for (auto& q : b[k].qs) q = int8_t(q15(rng));
    }
  } else {
    auto* b = reinterpret_cast<quant::BlockQ8_K*>(out.data());
    for (int64_t k = 0; k < n / 256; ++k) {
      b[k].d = 1.0f;
      for (auto& q : b[k].qs) q = int8_t(q15(rng));
      for (int g = 0; g < 16; ++g) {
        int s = 0;
        for (int i = 0; i < 16; ++i) s += b[k].qs[16 * g + i];
        b[k].bsums[g] = int16_t(s);
      }
    }
  }
  return out;
}

// Activation row back to floats (independent of the kernels: d * q).
inline std::vector<double> dequantize_activation(GgmlType act, const uint8_t* data, int64_t n) {
  std::vector<double> out(static_cast<size_t>(n));
  if (act == GgmlType::F32) {
    for (int64_t i = 0; i < n; ++i) {
      float v;
      std::memcpy(&v, data + 4 * i, 4);
      out[size_t(i)] = v;
    }
  } else if (act == GgmlType::Q8_0) {
    const auto* b = reinterpret_cast<const quant::BlockQ8_0*>(data);
    for (int64_t i = 0; i < n; ++i) out[size_t(i)] = double(fp16_to_float(b[i / 32].d)) * b[i / 32].qs[i % 32];
  } else {
    const auto* b = reinterpret_cast<const quant::BlockQ8_K*>(data);
    for (int64_t i = 0; i < n; ++i) out[size_t(i)] = double(b[i / 256].d) * b[i / 256].qs[i % 256];
  }
  return out;
}

inline std::vector<double> dequantize_weights(GgmlType t, const uint8_t* data, int64_t n) {
  std::vector<float> f(static_cast<size_t>(n));
  quant::dequantize_row(t, data, f.data(), n);
  return std::vector<double>(f.begin(), f.end());
}

struct DotExpectation {
  double value = 0;  // sum w_i a_i in double
  double norm = 0;   // ||w|| * ||a||, the scale for tolerances
};

inline DotExpectation exact_dot(const std::vector<double>& w, const std::vector<double>& a) {
  double s = 0, ww = 0, aa = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    s += w[i] * a[i];
    ww += w[i] * w[i];
    aa += a[i] * a[i];
  }
  return {s, std::sqrt(ww * aa)};
}

}  // namespace lowbit::test
