// AVX2 K-quant / IQ4_XS quantizers: the shared search of kquant_body.h over
// a 16-lane vector made of two ymm registers, and the dispatch lookup.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/fast/fast.h"
#include "quant/fast/iq4_tables.h"
#include "quant/ref/search.h"

namespace lowbit::quant::fast {
namespace avx2 {
namespace {

// Lane mask: all-ones / all-zeros floats per lane; built from a bit mask
// (bit j = lane j) where the shared code needs one.
struct M {
  __m256 lo, hi;
  M(__m256 a, __m256 b) : lo(a), hi(b) {}
  explicit M(uint32_t bits) {
    const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i b0 = _mm256_set1_epi32(int(bits & 0xff)), b1 = _mm256_set1_epi32(int((bits >> 8) & 0xff));
    lo = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(b0, lane_bit), lane_bit));
    hi = _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256(b1, lane_bit), lane_bit));
  }
};
inline M operator&(M a, M b) { return {_mm256_and_ps(a.lo, b.lo), _mm256_and_ps(a.hi, b.hi)}; }
inline M operator~(M a) {
  const __m256 ones = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  return {_mm256_xor_ps(a.lo, ones), _mm256_xor_ps(a.hi, ones)};
}
inline M operator|(M a, M b) { return {_mm256_or_ps(a.lo, b.lo), _mm256_or_ps(a.hi, b.hi)}; }

struct V {
  __m256 lo, hi;
  V() = default;
  V(__m256 a, __m256 b) : lo(a), hi(b) {}
  V(float a) : lo(_mm256_set1_ps(a)), hi(_mm256_set1_ps(a)) {}
  static V load(const float* p) { return {_mm256_load_ps(p), _mm256_load_ps(p + 8)}; }
  void store(float* p) const {
    _mm256_store_ps(p, lo);
    _mm256_store_ps(p + 8, hi);
  }
};
#define LOWBIT_V2(name, expr)                                                   \
  inline V name(V a, V b) {                                                     \
    auto f = [](__m256 x, __m256 y) { return expr; };                           \
    return {f(a.lo, b.lo), f(a.hi, b.hi)};                                      \
  }
LOWBIT_V2(operator+, _mm256_add_ps(x, y))
LOWBIT_V2(operator-, _mm256_sub_ps(x, y))
LOWBIT_V2(operator*, _mm256_mul_ps(x, y))
LOWBIT_V2(operator/, _mm256_div_ps(x, y))
LOWBIT_V2(vmin, _mm256_min_ps(x, y))
LOWBIT_V2(vmax, _mm256_max_ps(x, y))
#undef LOWBIT_V2
inline V fmadd(V a, V b, V c) { return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
inline V vround(V a) {
  constexpr int r = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  return {_mm256_round_ps(a.lo, r), _mm256_round_ps(a.hi, r)};
}
inline V vfloor(V a) { return {_mm256_floor_ps(a.lo), _mm256_floor_ps(a.hi)}; }
inline M lt(V a, V b) { return {_mm256_cmp_ps(a.lo, b.lo, _CMP_LT_OQ), _mm256_cmp_ps(a.hi, b.hi, _CMP_LT_OQ)}; }
inline M le(V a, V b) { return {_mm256_cmp_ps(a.lo, b.lo, _CMP_LE_OQ), _mm256_cmp_ps(a.hi, b.hi, _CMP_LE_OQ)}; }
inline M gt(V a, V b) { return {_mm256_cmp_ps(a.lo, b.lo, _CMP_GT_OQ), _mm256_cmp_ps(a.hi, b.hi, _CMP_GT_OQ)}; }
inline M ne(V a, V b) { return {_mm256_cmp_ps(a.lo, b.lo, _CMP_NEQ_UQ), _mm256_cmp_ps(a.hi, b.hi, _CMP_NEQ_UQ)}; }
inline V sel(M m, V a, V b) { return {_mm256_blendv_ps(b.lo, a.lo, m.lo), _mm256_blendv_ps(b.hi, a.hi, m.hi)}; }

inline __m256 iq4_index8(__m256 v) {
  const __m256 c = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-128.f)), _mm256_set1_ps(127.f));
  const __m256i b = _mm256_cvttps_epi32(_mm256_mul_ps(_mm256_add_ps(c, _mm256_set1_ps(128.f)), _mm256_set1_ps(0.125f)));
  const __m256 base = _mm256_i32gather_ps(kIq4Buckets.base.data(), b, 4);
  const __m256 thr = _mm256_i32gather_ps(kIq4Buckets.threshold.data(), b, 4);
  const __m256 up = _mm256_cmp_ps(_mm256_add_ps(c, c), thr, _CMP_GE_OQ);
  return _mm256_add_ps(base, _mm256_and_ps(up, _mm256_set1_ps(1.f)));
}
inline V iq4_index(V v) { return {iq4_index8(v.lo), iq4_index8(v.hi)}; }
inline V iq4_value(V k) {
  static constexpr float values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  return {_mm256_i32gather_ps(values, _mm256_cvttps_epi32(k.lo), 4),
          _mm256_i32gather_ps(values, _mm256_cvttps_epi32(k.hi), 4)};
}

// Round to the nearest fp16 value (ties to even, as float_to_fp16) and back.
inline V round_fp16(V v) {
  constexpr int r = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  return {_mm256_cvtph_ps(_mm256_cvtps_ph(v.lo, r)), _mm256_cvtph_ps(_mm256_cvtps_ph(v.hi, r))};
}
// The fp16 value `dir` (+1/-1) units in the last place further from zero.
inline V fp16_step(V v, int dir) {
  constexpr int r = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  const __m128i step = _mm_set1_epi16(int16_t(dir));
  return {_mm256_cvtph_ps(_mm_add_epi16(_mm256_cvtps_ph(v.lo, r), step)),
          _mm256_cvtph_ps(_mm_add_epi16(_mm256_cvtps_ph(v.hi, r), step))};
}

// Sum of the 16 lanes.
inline float hsum(V a) {
  const __m256 s = _mm256_add_ps(a.lo, a.hi);
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
}
// Levels 0..255 held as floats, to 16 bytes.
inline void store_bytes(V v, uint8_t* p) {
  const __m256i words = _mm256_packs_epi32(_mm256_cvttps_epi32(v.lo), _mm256_cvttps_epi32(v.hi));  // lo0-3 hi0-3 lo4-7 hi4-7
  const __m256i ordered = _mm256_permute4x64_epi64(words, 0xd8);                                 // lo0-7 hi0-7
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                   _mm_packus_epi16(_mm256_castsi256_si128(ordered), _mm256_extracti128_si256(ordered, 1)));
}

#include "quant/fast/kquant_body.h"
#include "quant/fast/kquant_rows.h"

}  // namespace
}  // namespace avx2

QuantizeRowFn avx2_quantize_row(GgmlType type) {
  switch (type) {
    case GgmlType::Q2_K: return avx2::quantize_row_q2_k;
    case GgmlType::Q3_K: return avx2::quantize_row_q3_k;
    case GgmlType::Q4_K: return avx2::quantize_row_q4_k;
    case GgmlType::Q5_K: return avx2::quantize_row_q5_k;
    case GgmlType::Q6_K: return avx2::quantize_row_q6_k;
    case GgmlType::IQ4_XS: return avx2::quantize_row_iq4_xs;
    case GgmlType::IQ4_NL: return avx2::quantize_row_iq4_nl;
    default: return nullptr;
  }
}

}  // namespace lowbit::quant::fast
