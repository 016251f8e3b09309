// The 32-weight block formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
//
// Without importance the quantizers repeat llama.cpp's reference arithmetic
// step for step (same float operations, same truncations, fp16 rounding to
// nearest even), so the bytes are identical (except for weights so large that
// ggml's fp16 scale would overflow to inf: lowbit stores the largest finite). With importance, Q4_0/Q5_0 and
// Q4_1/Q5_1 search the scale (and min) for the least weighted error
// (search.h); Q8_0/Q8_1 have nothing to search and ignore it.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/ref/ref.h"
#include "quant/ref/search.h"

namespace lowbit::quant::ref {

namespace {

// fp16 of a block scale as ggml stores it, except that a scale beyond the
// fp16 range (weights above ~5e5) becomes the largest finite fp16, not inf.
uint16_t scale_to_fp16(float v) { return float_to_fp16(clamp_fp16_range(v)); }

// Largest-magnitude value of a block (the first one wins ties), as ggml picks it.
float signed_absmax(const float* x, int n) {
  float amax = 0, max = 0;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// Low nibbles hold weights 0..15, high nibbles 16..31; qh bit j = bit 4 of weight j.
void pack_nibbles(const uint8_t* q, uint8_t* qs) {
  for (int j = 0; j < QK / 2; ++j) qs[j] = uint8_t((q[j] & 15) | ((q[j + QK / 2] & 15) << 4));
}
void pack_high_bits(const uint8_t* q, uint8_t* qh) {
  uint32_t h = 0;
  for (int j = 0; j < QK; ++j) h |= uint32_t((q[j] >> 4) & 1) << j;
  std::memcpy(qh, &h, 4);
}

}  // namespace

// ------------------------------------------------------------------ Q4_0

void quantize_row_q4_0(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ4_0*>(vy);
  const int64_t nb = n / QK;
  uint8_t q[QK];
  float w[QK];
  for (int64_t i = 0; i < nb; ++i, x += QK) {
    if (importance) {
      make_weights(importance + i * QK, QK, QK, w);
      y[i].d = solve_single_scale(x, w, QK, IntLevels{-8, 7}, 1.f, q);
      pack_nibbles(q, y[i].qs);
      continue;
    }
    const float d = signed_absmax(x, QK) / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = scale_to_fp16(d);
    for (int j = 0; j < QK; ++j) {
      const float v = x[j] * id;
      q[j] = uint8_t(std::min(15, int(int8_t(v + 8.5f))));
    }
    pack_nibbles(q, y[i].qs);
  }
}

void dequantize_row_q4_0(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(vx);
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_float(x[i].d);
    for (int j = 0; j < QK / 2; ++j) {
      y[j] = float((x[i].qs[j] & 15) - 8) * d;
      y[j + QK / 2] = float((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

// ------------------------------------------------------------------ Q4_1

void quantize_row_q4_1(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ4_1*>(vy);
  const int64_t nb = n / QK;
  uint8_t q[QK];
  float w[QK];
  for (int64_t i = 0; i < nb; ++i, x += QK) {
    if (importance) {
      make_weights(importance + i * QK, QK, QK, w);
      solve_single_affine(x, w, QK, 15, &y[i].d, &y[i].m, q);
      pack_nibbles(q, y[i].qs);
      continue;
    }
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < QK; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 15;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = scale_to_fp16(d);
    y[i].m = scale_to_fp16(min);
    for (int j = 0; j < QK; ++j) {
      const float v = (x[j] - min) * id;
      q[j] = uint8_t(std::min(15, int(int8_t(v + 0.5f))));
    }
    pack_nibbles(q, y[i].qs);
  }
}

void dequantize_row_q4_1(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4_1*>(vx);
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_float(x[i].d);
    const float m = fp16_to_float(x[i].m);
    for (int j = 0; j < QK / 2; ++j) {
      y[j] = float(x[i].qs[j] & 15) * d + m;
      y[j + QK / 2] = float(x[i].qs[j] >> 4) * d + m;
    }
  }
}

// ------------------------------------------------------------------ Q5_0

void quantize_row_q5_0(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ5_0*>(vy);
  const int64_t nb = n / QK;
  uint8_t q[QK];
  float w[QK];
  for (int64_t i = 0; i < nb; ++i, x += QK) {
    if (importance) {
      make_weights(importance + i * QK, QK, QK, w);
      y[i].d = solve_single_scale(x, w, QK, IntLevels{-16, 15}, 1.f, q);
    } else {
      const float d = signed_absmax(x, QK) / -16;
      const float id = d ? 1.0f / d : 0.0f;
      y[i].d = scale_to_fp16(d);
      for (int j = 0; j < QK; ++j) {
        const float v = x[j] * id;
        q[j] = uint8_t(std::min(31, int(int8_t(v + 16.5f))));
      }
    }
    pack_nibbles(q, y[i].qs);
    pack_high_bits(q, y[i].qh);
  }
}

void dequantize_row_q5_0(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5_0*>(vx);
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_float(x[i].d);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < QK / 2; ++j) {
      const int h0 = int((qh >> j) & 1) << 4;
      const int h1 = int((qh >> (j + 16)) & 1) << 4;
      y[j] = float(((x[i].qs[j] & 15) | h0) - 16) * d;
      y[j + QK / 2] = float(((x[i].qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

// ------------------------------------------------------------------ Q5_1

void quantize_row_q5_1(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ5_1*>(vy);
  const int64_t nb = n / QK;
  uint8_t q[QK];
  float w[QK];
  for (int64_t i = 0; i < nb; ++i, x += QK) {
    if (importance) {
      make_weights(importance + i * QK, QK, QK, w);
      solve_single_affine(x, w, QK, 31, &y[i].d, &y[i].m, q);
    } else {
      float min = FLT_MAX, max = -FLT_MAX;
      for (int j = 0; j < QK; ++j) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
      }
      const float d = (max - min) / 31;
      const float id = d ? 1.0f / d : 0.0f;
      y[i].d = scale_to_fp16(d);
      y[i].m = scale_to_fp16(min);
      for (int j = 0; j < QK; ++j) {
        const float v = (x[j] - min) * id;
        q[j] = uint8_t(v + 0.5f);  // ggml: no clamp here; v <= 31 by construction
      }
    }
    pack_nibbles(q, y[i].qs);
    pack_high_bits(q, y[i].qh);
  }
}

void dequantize_row_q5_1(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5_1*>(vx);
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_float(x[i].d);
    const float m = fp16_to_float(x[i].m);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < QK / 2; ++j) {
      const int h0 = int((qh >> j) & 1) << 4;
      const int h1 = int((qh >> (j + 16)) & 1) << 4;
      y[j] = float((x[i].qs[j] & 15) | h0) * d + m;
      y[j + QK / 2] = float((x[i].qs[j] >> 4) | h1) * d + m;
    }
  }
}

// ------------------------------------------------------------------ Q8_0 / Q8_1

void quantize_row_q8_0(const float* x, void* vy, int64_t n, const float*) {
  auto* y = static_cast<BlockQ8_0*>(vy);
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    float amax = 0;
    for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = scale_to_fp16(d);
    for (int j = 0; j < QK; ++j) y[i].qs[j] = int8_t(std::round(x[j] * id));  // half away from zero
  }
}

void dequantize_row_q8_0(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(vx);
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_float(x[i].d);
    for (int j = 0; j < QK; ++j) y[j] = float(x[i].qs[j]) * d;
  }
}

void quantize_row_q8_1(const float* x, void* vy, int64_t n, const float*) {
  auto* y = static_cast<BlockQ8_1*>(vy);
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    float amax = 0;
    for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = scale_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < QK; ++j) {
      y[i].qs[j] = int8_t(std::round(x[j] * id));
      sum += y[i].qs[j];
    }
    y[i].s = scale_to_fp16(float(sum) * d);
  }
}

void dequantize_row_q8_1(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ8_1*>(vx);
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_float(x[i].d);
    for (int j = 0; j < QK; ++j) y[j] = float(x[i].qs[j]) * d;
  }
}

}  // namespace lowbit::quant::ref
