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
  static __m512 load(const void* w, int64_t i, __mmask16 m) { return _mm512_maskz_loadu_ps(m, static_cast<const float*>(w) + i); }
};
struct F16W {
  static __m512 load(const void* w, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + i));
  }
};
struct BF16W {
  static __m512 load(const void* w, int64_t i, __mmask16 m) {
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
};

// One weight row against NT float activation rows; two accumulators per
// token so the FMA latency does not bound a single-token (GEMV) loop.
template <class W, int NT>
void row_dot(int64_t n, const void* w, const float* x, size_t x_stride, float* out) {
  __m512 acc0[NT], acc1[NT];
  for (int t = 0; t < NT; ++t) acc0[t] = acc1[t] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 w0 = W::load(w, i, 0xFFFF), w1 = W::load(w, i + 16, 0xFFFF);
    for (int t = 0; t < NT; ++t) {
      acc0[t] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + t * x_stride + i), acc0[t]);
      acc1[t] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + t * x_stride + i + 16), acc1[t]);
    }
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - i)) - 1);
    const __m512 wv = W::load(w, i, m);
    for (int t = 0; t < NT; ++t) acc0[t] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + t * x_stride + i), acc0[t]);
  }
  for (int t = 0; t < NT; ++t) out[t] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[t], acc1[t]));
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
  for (const DotKernel& k : kFloat)
    if (k.weight == weight) return &k;
  return nullptr;
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
