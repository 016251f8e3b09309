// AVX-512 K-quant / IQ4_XS quantizers: the 16-lane vector type (one zmm) the
// shared search in kquant_body.h is written over, and the dispatch lookup.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/fast/fast.h"
#include "quant/fast/iq4_tables.h"
#include "quant/ref/search.h"

namespace lowbit::quant::fast {
namespace avx512 {
namespace {

using M = __mmask16;

struct V {
  __m512 v;
  V() = default;
  V(__m512 a) : v(a) {}
  V(float a) : v(_mm512_set1_ps(a)) {}
  static V load(const float* p) { return _mm512_load_ps(p); }
  void store(float* p) const { _mm512_store_ps(p, v); }
};
inline V operator+(V a, V b) { return _mm512_add_ps(a.v, b.v); }
inline V operator-(V a, V b) { return _mm512_sub_ps(a.v, b.v); }
inline V operator*(V a, V b) { return _mm512_mul_ps(a.v, b.v); }
inline V operator/(V a, V b) { return _mm512_div_ps(a.v, b.v); }
inline V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a.v, b.v, c.v); }
inline V vmin(V a, V b) { return _mm512_min_ps(a.v, b.v); }
inline V vmax(V a, V b) { return _mm512_max_ps(a.v, b.v); }
inline V vround(V a) { return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
inline V vfloor(V a) { return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
inline M lt(V a, V b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ); }
inline M le(V a, V b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LE_OQ); }
inline M gt(V a, V b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ); }
inline M ne(V a, V b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_NEQ_UQ); }
inline V sel(M m, V a, V b) { return _mm512_mask_blend_ps(m, b.v, a.v); }

inline V iq4_index(V v) {
  const __m512 base_lo = _mm512_loadu_ps(kIq4Buckets.base.data()), base_hi = _mm512_loadu_ps(kIq4Buckets.base.data() + 16);
  const __m512 thr_lo = _mm512_loadu_ps(kIq4Buckets.threshold.data()),
               thr_hi = _mm512_loadu_ps(kIq4Buckets.threshold.data() + 16);
  const __m512 c = _mm512_min_ps(_mm512_max_ps(v.v, _mm512_set1_ps(-128.f)), _mm512_set1_ps(127.f));
  const __m512i b = _mm512_cvttps_epi32(_mm512_mul_ps(_mm512_add_ps(c, _mm512_set1_ps(128.f)), _mm512_set1_ps(0.125f)));
  const __m512 base = _mm512_permutex2var_ps(base_lo, b, base_hi);
  const __m512 thr = _mm512_permutex2var_ps(thr_lo, b, thr_hi);
  const M up = _mm512_cmp_ps_mask(_mm512_add_ps(c, c), thr, _CMP_GE_OQ);
  return _mm512_mask_add_ps(base, up, base, _mm512_set1_ps(1.f));
}
inline V iq4_value(V k) {
  alignas(64) static const float values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  return _mm512_permutexvar_ps(_mm512_cvttps_epi32(k.v), _mm512_load_ps(values));
}

// Round to the nearest fp16 value (ties to even, as float_to_fp16) and back.
inline V round_fp16(V v) { return _mm512_cvtph_ps(_mm512_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)); }
// The fp16 value `dir` (+1/-1) units in the last place further from zero.
inline V fp16_step(V v, int dir) {
  const __m256i h = _mm512_cvtps_ph(v.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm512_cvtph_ps(_mm256_add_epi16(h, _mm256_set1_epi16(int16_t(dir))));
}

// Sum of the 16 lanes.
inline float hsum(V a) { return _mm512_reduce_add_ps(a.v); }
// Levels 0..255 held as floats, to 16 bytes.
inline void store_bytes(V v, uint8_t* p) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v.v)));
}

#include "quant/fast/kquant_body.h"
#include "quant/fast/kquant_rows.h"

}  // namespace
}  // namespace avx512

QuantizeRowFn avx512_quantize_row(GgmlType type) {
  switch (type) {
    case GgmlType::Q2_K: return avx512::quantize_row_q2_k;
    case GgmlType::Q3_K: return avx512::quantize_row_q3_k;
    case GgmlType::Q4_K: return avx512::quantize_row_q4_k;
    case GgmlType::Q5_K: return avx512::quantize_row_q5_k;
    case GgmlType::Q6_K: return avx512::quantize_row_q6_k;
    case GgmlType::IQ4_XS: return avx512::quantize_row_iq4_xs;
    case GgmlType::IQ4_NL: return avx512::quantize_row_iq4_nl;
    default: return avx512_quantize_row_simple(type);
  }
}

}  // namespace lowbit::quant::fast
