// Quantizers of the K formats (256-weight super-blocks): Q2_K, Q4_K, Q5_K
// (scale and min per sub-block), Q3_K, Q6_K (signed scale per sub-block), and
// Q8_K (the activation format, byte-identical to llama.cpp's reference).
// The searches live in search.cpp; this file sets each format's shape and
// packs the result into ggml's bit layout (quant/blocks.h).
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/ref/ref.h"
#include "quant/ref/search.h"

namespace lowbit::quant::ref {

namespace {

// Weights of one super-block: importance (or ones) with no all-zero sub-block.
void superblock_weights(const float* importance, int64_t i, int sub_len, float* w) {
  make_weights(importance ? importance + i * QK_K : nullptr, QK_K, sub_len, w);
}

// 2-bit fields of 256 values in ggml's order: two halves of 128; in a half,
// byte l holds values l, l+32, l+64, l+96 at bits 0, 2, 4, 6.
void pack_2bit(const uint8_t* q, uint8_t* qs) {
  for (int h = 0; h < QK_K; h += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[h / 4 + l] = uint8_t((q[h + l] & 3) | ((q[h + l + 32] & 3) << 2) | ((q[h + l + 64] & 3) << 4) |
                              ((q[h + l + 96] & 3) << 6));
    }
  }
}

// 8 scales and 8 mins of 6 bits into the 12-byte Q4_K/Q5_K layout.
void pack_scales_k4(const uint8_t* sc, const uint8_t* mc, uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = uint8_t(mc[j] | ((mc[j + 4] >> 4) << 6));
    s[j + 8] = uint8_t((sc[j + 4] & 15) | ((mc[j + 4] & 15) << 4));
  }
}

// Low nibbles: chunk c of 64 values, byte l = value 64c+l | value 64c+32+l << 4.
void pack_4bit_k(const uint8_t* q, uint8_t* qs) {
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) qs[32 * c + l] = uint8_t((q[64 * c + l] & 15) | ((q[64 * c + 32 + l] & 15) << 4));
  }
}

}  // namespace

// ------------------------------------------------------------------ Q2_K

void quantize_row_q2_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ2_K*>(vy);
  const MinMaxShape shape{16, 16, 3, 15, 1.f};
  float w[QK_K];
  MinMaxResult r;
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    superblock_weights(importance, i, 16, w);
    solve_minmax_superblock(shape, x, w, r);
    for (int j = 0; j < 16; ++j) y[i].scales[j] = uint8_t(r.sc[j] | (r.mc[j] << 4));
    pack_2bit(r.q, y[i].qs);
    y[i].d = r.d;
    y[i].dmin = r.dmin;
  }
}

// ------------------------------------------------------------------ Q3_K

void quantize_row_q3_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ3_K*>(vy);
  const SymShape shape{16, 16, -32, 31, 2.f};
  const IntLevels levels{-4, 3};
  float w[QK_K];
  SymResult r;
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    superblock_weights(importance, i, 16, w);
    solve_sym_superblock(shape, levels, x, w, r);
    std::memset(y[i].scales, 0, 12);
    for (int j = 0; j < 16; ++j) {
      const int l = r.sc[j] + 32;
      if (j < 8)
        y[i].scales[j] = uint8_t(l & 15);
      else
        y[i].scales[j - 8] |= uint8_t((l & 15) << 4);
      y[i].scales[8 + j % 4] |= uint8_t((l >> 4) << (2 * (j / 4)));
    }
    // q index 0..7 is the value + 4: bit 2 goes to hmask, bits 0-1 to qs.
    std::memset(y[i].hmask, 0, QK_K / 8);
    for (int j = 0; j < QK_K; ++j) {
      if (r.q[j] > 3) y[i].hmask[j % 32] |= uint8_t(1 << (j / 32));
    }
    pack_2bit(r.q, y[i].qs);
    y[i].d = r.d;
  }
}

// ------------------------------------------------------------------ Q4_K / Q5_K

void quantize_row_q4_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ4_K*>(vy);
  const MinMaxShape shape{8, 32, 15, 63, 1.5f};
  float w[QK_K];
  MinMaxResult r;
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    superblock_weights(importance, i, 32, w);
    solve_minmax_superblock(shape, x, w, r);
    pack_scales_k4(r.sc, r.mc, y[i].scales);
    pack_4bit_k(r.q, y[i].qs);
    y[i].d = r.d;
    y[i].dmin = r.dmin;
  }
}

void quantize_row_q5_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ5_K*>(vy);
  const MinMaxShape shape{8, 32, 31, 63, 2.f};
  float w[QK_K];
  MinMaxResult r;
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    superblock_weights(importance, i, 32, w);
    solve_minmax_superblock(shape, x, w, r);
    pack_scales_k4(r.sc, r.mc, y[i].scales);
    pack_4bit_k(r.q, y[i].qs);
    std::memset(y[i].qh, 0, QK_K / 8);
    for (int j = 0; j < QK_K; ++j) {
      if (r.q[j] > 15) y[i].qh[j % 32] |= uint8_t(1 << (j / 32));
    }
    y[i].d = r.d;
    y[i].dmin = r.dmin;
  }
}

// ------------------------------------------------------------------ Q6_K

void quantize_row_q6_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ6_K*>(vy);
  const SymShape shape{16, 16, -128, 127, 3.f};
  const IntLevels levels{-32, 31};
  float w[QK_K];
  SymResult r;
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    superblock_weights(importance, i, 16, w);
    solve_sym_superblock(shape, levels, x, w, r);
    for (int j = 0; j < 16; ++j) y[i].scales[j] = int8_t(r.sc[j]);
    // q index 0..63 is the value + 32: low 4 bits to ql, high 2 bits to qh.
    for (int h = 0; h < 2; ++h) {
      const uint8_t* q = r.q + 128 * h;
      uint8_t* ql = y[i].ql + 64 * h;
      uint8_t* qh = y[i].qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = uint8_t((q[l] & 15) | ((q[l + 64] & 15) << 4));
        ql[l + 32] = uint8_t((q[l + 32] & 15) | ((q[l + 96] & 15) << 4));
        qh[l] = uint8_t((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
      }
    }
    y[i].d = r.d;
  }
}

// ------------------------------------------------------------------ Q8_K

void quantize_row_q8_k(const float* x, void* vy, int64_t n, const float*) {
  auto* y = static_cast<BlockQ8_K*>(vy);
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    float max = 0, amax = 0;
    for (int j = 0; j < QK_K; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (!amax) {
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    // ggml maps the largest magnitude to -127 (not -128) so that the AVX
    // dot products can use sign tricks.
    const float iscale = -127.f / max;
    for (int j = 0; j < QK_K; ++j) y[i].qs[j] = int8_t(std::min(127, nearest_int(iscale * x[j])));
    for (int j = 0; j < QK_K / 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += y[i].qs[16 * j + l];
      y[i].bsums[j] = int16_t(sum);
    }
    y[i].d = 1 / iscale;
  }
}

}  // namespace lowbit::quant::ref
