// AVX2 level: kernel table (block formats live in dot_q32_avx2.cpp and
// dot_kquants_avx2.cpp), float-weight dot kernels (F32, F16, BF16 against F32
// activations) and the activation quantizers, which give the same bytes as
// cpu/ref/act_quant_ref.cpp. Also used for the AVX-512-without-VNNI level.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "cpu/kernels.h"
#include "cpu/simd_avx2.h"
#include "quant/blocks.h"

namespace lowbit::cpu {

const DotKernel* avx2_q32_kernel(GgmlType weight);
const DotKernel* avx2_kquant_kernel(GgmlType weight);

namespace {

using namespace lowbit::quant;
using namespace lowbit::cpu::avx2;

struct F32W {
  static __m256 load(const void* w, int64_t i) { return _mm256_loadu_ps(static_cast<const float*>(w) + i); }
  static float one(const void* w, int64_t i) { return static_cast<const float*>(w)[i]; }
};
struct F16W {
  static __m256 load(const void* w, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
  }
  static float one(const void* w, int64_t i) { return _cvtsh_ss(static_cast<const uint16_t*>(w)[i]); }
};
struct BF16W {
  static __m256 load(const void* w, int64_t i) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float one(const void* w, int64_t i) {
    const uint32_t bits = uint32_t(static_cast<const uint16_t*>(w)[i]) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
};

template <class W, int NT>
void row_dot(int64_t n, const void* w, const float* x, size_t x_stride, float* out) {
  __m256 acc0[NT], acc1[NT];
  for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 w0 = W::load(w, i), w1 = W::load(w, i + 8);
    for (int t = 0; t < NT; ++t) {
      acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + t * x_stride + i), acc0[t]);
      acc1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + t * x_stride + i + 8), acc1[t]);
    }
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 w0 = W::load(w, i);
    for (int t = 0; t < NT; ++t) acc0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + t * x_stride + i), acc0[t]);
  }
  // unrolled: keeps acc in registers (see vec_dot_avx512.cpp)
#pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) {
    float s = hsum(_mm256_add_ps(acc0[t], acc1[t]));
    for (int64_t j = i; j < n; ++j) s += W::one(w, j) * x[t * x_stride + j];
    out[t] = s;
  }
}

constexpr int kMaxTokens = 4;

template <class W>
void tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a, size_t a_stride,
          int64_t n_tok, float* y, int64_t y_stride) {
  const size_t xs = a_stride / sizeof(float);
  for (int64_t t0 = 0; t0 < n_tok; t0 += kMaxTokens) {
    const int nt = int(std::min<int64_t>(kMaxTokens, n_tok - t0));
    const float* x = reinterpret_cast<const float*>(a + size_t(t0) * a_stride);
    for (int64_t r = 0; r < n_rows; ++r) {
      const uint8_t* row = w + size_t(r) * w_stride;
      float out[kMaxTokens];
      switch (nt) {
        case 1: row_dot<W, 1>(n, row, x, xs, out); break;
        case 2: row_dot<W, 2>(n, row, x, xs, out); break;
        case 3: row_dot<W, 3>(n, row, x, xs, out); break;
        default: row_dot<W, 4>(n, row, x, xs, out); break;
      }
      for (int t = 0; t < nt; ++t) y[(t0 + t) * y_stride + r] = out[t];
    }
  }
}

template <class W>
float vec_dot(int64_t n, const void* w, const void* a) {
  float y;
  row_dot<W, 1>(n, w, static_cast<const float*>(a), 0, &y);
  return y;
}

inline __m256i quantize8(__m256 x, __m256 inv_d) {
  const __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x, inv_d), _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
  return _mm256_cvtps_epi32(v);
}

inline float abs_max(const float* x, int n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

// 32 floats -> 32 int8 in order; returns the four int32 vectors' lane sums via sums[4] (8 values each).
inline void quantize32(const float* x, __m256 inv, int8_t* out, int* sum16 /* two sums of 16, or nullptr */) {
  const __m256i i0 = quantize8(_mm256_loadu_ps(x), inv), i1 = quantize8(_mm256_loadu_ps(x + 8), inv);
  const __m256i i2 = quantize8(_mm256_loadu_ps(x + 16), inv), i3 = quantize8(_mm256_loadu_ps(x + 24), inv);
  const __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
  const __m256i p = _mm256_packs_epi16(p01, p23);
  const __m256i ordered = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), ordered);
  if (sum16) {
    alignas(32) int32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi32(i0, i1));
    sum16[0] = lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi32(i2, i3));
    sum16[1] = lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
  }
}

void quantize_q8_0(const float* x, void* out, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(out);
  for (int64_t b = 0; b < n / QK; ++b) {
    const float amax = abs_max(x + b * QK, QK);
    const uint16_t dh = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    const float d = _cvtsh_ss(dh);
    blocks[b].d = dh;
    quantize32(x + b * QK, _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f), blocks[b].qs, nullptr);
  }
}

void quantize_q8_k(const float* x, void* out, int64_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(out);
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float* xb = x + b * QK_K;
    const float d = abs_max(xb, QK_K) / 127.0f;
    const __m256 inv = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    blocks[b].d = d;
    for (int g = 0; g < QK_K / 32; ++g) {
      int sums[2];
      quantize32(xb + 32 * g, inv, blocks[b].qs + 32 * g, sums);
      blocks[b].bsums[2 * g] = int16_t(sums[0]);
      blocks[b].bsums[2 * g + 1] = int16_t(sums[1]);
    }
  }
}

void quantize_f32(const float* x, void* out, int64_t n) { std::memcpy(out, x, size_t(n) * sizeof(float)); }

}  // namespace

const DotKernel* avx2_kernel(GgmlType weight) {
  if (const DotKernel* k = avx2_q32_kernel(weight)) return k;
  if (const DotKernel* k = avx2_kquant_kernel(weight)) return k;
  using T = GgmlType;
  static const DotKernel kFloat[] = {{T::F32, T::F32, &vec_dot<F32W>, &tile<F32W>},
                                     {T::F16, T::F32, &vec_dot<F16W>, &tile<F16W>},
                                     {T::BF16, T::F32, &vec_dot<BF16W>, &tile<BF16W>}};
  return find_in_table(kFloat, weight);
}

QuantizeActFn avx2_act_quantizer(GgmlType act) {
  switch (act) {
    case GgmlType::Q8_0: return &quantize_q8_0;
    case GgmlType::Q8_K: return &quantize_q8_k;
    case GgmlType::F32: return &quantize_f32;
    default: return nullptr;
  }
}

}  // namespace lowbit::cpu
