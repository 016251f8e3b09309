// AVX-512 level: kernel table (block formats live in dot_q32_avx512.cpp and
// dot_kquants_avx512.cpp), float-weight dot kernels (F32, F16, BF16 against
// F32 activations, FMA in f32) and the activation quantizers, which give the
// same bytes as cpu/ref/act_quant_ref.cpp.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "cpu/kernels.h"
#include "cpu/simd_avx512.h"
#include "quant/blocks.h"

namespace lowbit::cpu {

const DotKernel* avx512_q32_kernel(GgmlType weight);
const DotKernel* avx512_kquant_kernel(GgmlType weight);

namespace {

using namespace lowbit::quant;

// 16 weights starting at i (masked at the tail) as floats.
struct F32W {
  static constexpr size_t kBytes = 4;
  static __m512 load(const void* w, int64_t i, __mmask16 m) { return _mm512_maskz_loadu_ps(m, static_cast<const float*>(w) + i); }
};
struct F16W {
  static constexpr size_t kBytes = 2;
  static __m512 load(const void* w, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + i));
  }
};
struct BF16W {
  static constexpr size_t kBytes = 2;
  static __m512 load(const void* w, int64_t i, __mmask16 m) {
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
};

// NR weight rows x NT float activation rows in registers: per 16 weights,
// NR converts + NT activation loads feed NR * NT FMAs, so a 4 x 4 tile is
// FMA-bound rather than load-bound.
// Covers elements [i0, i1) of the rows; add: accumulate into y instead of storing.
template <class W, int NR, int NT>
void block_dot(int64_t i0, int64_t i1, const uint8_t* w, size_t w_stride, const float* x, size_t x_stride, float* y,
               int64_t y_stride, bool add) {
  __m512 acc[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = i0; i < i1; i += 16) {
    const __mmask16 m = i1 - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (i1 - i)) - 1);
    if constexpr (NT == 1) {
      // decode: fetch the next row group ahead (one line per row per 64 bytes)
      if ((i * W::kBytes) % 64 == 0)
        for (int r = 0; r < NR; ++r) _mm_prefetch(reinterpret_cast<const char*>(w + (NR + r) * w_stride + i * W::kBytes), _MM_HINT_T0);
    }
    __m512 wv[NR];
    for (int r = 0; r < NR; ++r) wv[r] = W::load(w + r * w_stride, i, m);
    for (int t = 0; t < NT; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + t * x_stride + i);
      for (int r = 0; r < NR; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  // Fully unrolled so acc stays in registers (a rolled epilogue made GCC keep
  // acc in memory and store it on every loop iteration).
#pragma GCC unroll 4
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) {
      const float v = _mm512_reduce_add_ps(acc[r][t]);
      y[t * y_stride + r] = add ? y[t * y_stride + r] + v : v;
    }
}

template <class W, int NR>
void block_dot_tokens(int nt, int64_t i0, int64_t i1, const uint8_t* w, size_t w_stride, const float* x, size_t xs,
                      float* y, int64_t y_stride, bool add) {
  switch (nt) {
    case 1: block_dot<W, NR, 1>(i0, i1, w, w_stride, x, xs, y, y_stride, add); break;
    case 2: block_dot<W, NR, 2>(i0, i1, w, w_stride, x, xs, y, y_stride, add); break;
    case 3: block_dot<W, NR, 3>(i0, i1, w, w_stride, x, xs, y, y_stride, add); break;
    default: block_dot<W, NR, 4>(i0, i1, w, w_stride, x, xs, y, y_stride, add); break;
  }
}

constexpr int kMaxTokens = 4;
constexpr int kMaxRows = 4;
// Prefill splits the rows into chunks of kChunk values so the activations of
// a token group (4 x 4 KB) stay in L1 across all rows of the tile; decode
// (one token) streams whole rows.
constexpr int64_t kChunk = 1024;

template <class W>
void tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a, size_t a_stride,
          int64_t n_tok, float* y, int64_t y_stride) {
  const size_t xs = a_stride / sizeof(float);
  for (int64_t t0 = 0; t0 < n_tok; t0 += kMaxTokens) {
    const int nt = int(std::min<int64_t>(kMaxTokens, n_tok - t0));
    const float* x = reinterpret_cast<const float*>(a + size_t(t0) * a_stride);
    const int64_t chunk = nt > 1 ? kChunk : n;
    for (int64_t i0 = 0; i0 < n; i0 += chunk) {
      const int64_t i1 = std::min(n, i0 + chunk);
      for (int64_t r = 0; r < n_rows; r += kMaxRows) {
        const uint8_t* rows = w + size_t(r) * w_stride;
        float* out = y + t0 * y_stride + r;
        const bool add = i0 > 0;
        switch (std::min<int64_t>(kMaxRows, n_rows - r)) {
          case 1: block_dot_tokens<W, 1>(nt, i0, i1, rows, w_stride, x, xs, out, y_stride, add); break;
          case 2: block_dot_tokens<W, 2>(nt, i0, i1, rows, w_stride, x, xs, out, y_stride, add); break;
          case 3: block_dot_tokens<W, 3>(nt, i0, i1, rows, w_stride, x, xs, out, y_stride, add); break;
          default: block_dot_tokens<W, 4>(nt, i0, i1, rows, w_stride, x, xs, out, y_stride, add); break;
        }
      }
    }
  }
}

template <class W>
float vec_dot(int64_t n, const void* w, const void* a) {
  float y;
  block_dot<W, 1, 1>(0, n, static_cast<const uint8_t*>(w), 0, static_cast<const float*>(a), 0, &y, 1, false);
  return y;
}

// q = round-to-nearest-even(clamp(x * inv_d, -127, 127)), 16 values.
inline __m512i quantize16(__m512 x, __m512 inv_d) {
  const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(x, inv_d), _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
  return _mm512_cvtps_epi32(v);
}

inline __m512 abs_ps(__m512 v) { return _mm512_abs_ps(v); }

void quantize_q8_0(const float* x, void* out, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(out);
  for (int64_t b = 0; b < n / QK; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + b * QK), v1 = _mm512_loadu_ps(x + b * QK + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(abs_ps(v0), abs_ps(v1)));
    const uint16_t dh = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    const float d = _cvtsh_ss(dh);
    const __m512 inv = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    blocks[b].d = dh;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blocks[b].qs), _mm512_cvtepi32_epi8(quantize16(v0, inv)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blocks[b].qs + 16), _mm512_cvtepi32_epi8(quantize16(v1, inv)));
  }
}

void quantize_q8_k(const float* x, void* out, int64_t n) {
  auto* blocks = static_cast<BlockQ8_K*>(out);
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const float* xb = x + b * QK_K;
    __m512 m = _mm512_setzero_ps();
    for (int i = 0; i < QK_K; i += 16) m = _mm512_max_ps(m, abs_ps(_mm512_loadu_ps(xb + i)));
    const float d = _mm512_reduce_max_ps(m) / 127.0f;
    const __m512 inv = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    blocks[b].d = d;
    for (int g = 0; g < QK_K / 16; ++g) {
      const __m512i q = quantize16(_mm512_loadu_ps(xb + 16 * g), inv);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(blocks[b].qs + 16 * g), _mm512_cvtepi32_epi8(q));
      blocks[b].bsums[g] = int16_t(_mm512_reduce_add_epi32(q));
    }
  }
}

void quantize_f32(const float* x, void* out, int64_t n) { std::memcpy(out, x, size_t(n) * sizeof(float)); }

}  // namespace

const DotKernel* avx512_kernel(GgmlType weight) {
  if (const DotKernel* k = avx512_q32_kernel(weight)) return k;
  if (const DotKernel* k = avx512_kquant_kernel(weight)) return k;
  using T = GgmlType;
  static const DotKernel kFloat[] = {{T::F32, T::F32, &vec_dot<F32W>, &tile<F32W>},
                                     {T::F16, T::F32, &vec_dot<F16W>, &tile<F16W>},
                                     {T::BF16, T::F32, &vec_dot<BF16W>, &tile<BF16W>}};
  return find_in_table(kFloat, weight);
}

QuantizeActFn avx512_act_quantizer(GgmlType act) {
  switch (act) {
    case GgmlType::Q8_0: return &quantize_q8_0;
    case GgmlType::Q8_K: return &quantize_q8_k;
    case GgmlType::F32: return &quantize_f32;
    default: return nullptr;
  }
}

}  // namespace lowbit::cpu
