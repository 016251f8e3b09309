// AVX2 dequantizers: the shared code of dequant_body.h over 16-lane int/float
// vectors made of two ymm registers, and the dispatch lookup.
#include <immintrin.h>

#include <cstdint>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/fast/fast.h"

namespace lowbit::quant::fast {
namespace avx2 {
namespace {

struct I {
  __m256i lo, hi;
};
struct F {
  __m256 lo, hi;
  F(__m256 a, __m256 b) : lo(a), hi(b) {}
  explicit F(float a) : lo(_mm256_set1_ps(a)), hi(_mm256_set1_ps(a)) {}
};

inline I load_u8(const uint8_t* p) {
  return {_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))),
          _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8)))};
}
inline I load_i8(const int8_t* p) {
  return {_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))),
          _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8)))};
}
inline I and_(I a, int b) {
  const __m256i m = _mm256_set1_epi32(b);
  return {_mm256_and_si256(a.lo, m), _mm256_and_si256(a.hi, m)};
}
inline I or_(I a, I b) { return {_mm256_or_si256(a.lo, b.lo), _mm256_or_si256(a.hi, b.hi)}; }
inline I add(I a, I b) { return {_mm256_add_epi32(a.lo, b.lo), _mm256_add_epi32(a.hi, b.hi)}; }
inline I sub(I a, I b) { return {_mm256_sub_epi32(a.lo, b.lo), _mm256_sub_epi32(a.hi, b.hi)}; }
inline I sub(I a, int b) {
  const __m256i m = _mm256_set1_epi32(b);
  return {_mm256_sub_epi32(a.lo, m), _mm256_sub_epi32(a.hi, m)};
}
inline I srl(I a, int s) { return {_mm256_srli_epi32(a.lo, s), _mm256_srli_epi32(a.hi, s)}; }
inline I sll(I a, int s) { return {_mm256_slli_epi32(a.lo, s), _mm256_slli_epi32(a.hi, s)}; }
inline I low4(I q) { return and_(q, 15); }
inline I high4(I q) { return srl(q, 4); }  // q holds one zero-extended byte per lane
inline I where_zero(I t, int value) {
  const __m256i z = _mm256_setzero_si256(), v = _mm256_set1_epi32(value);
  return {_mm256_and_si256(_mm256_cmpeq_epi32(t.lo, z), v), _mm256_and_si256(_mm256_cmpeq_epi32(t.hi, z), v)};
}
inline I where_nonzero(I t, int value) {
  const __m256i z = _mm256_setzero_si256(), v = _mm256_set1_epi32(value);
  return {_mm256_andnot_si256(_mm256_cmpeq_epi32(t.lo, z), v), _mm256_andnot_si256(_mm256_cmpeq_epi32(t.hi, z), v)};
}
inline F to_float(I a) { return {_mm256_cvtepi32_ps(a.lo), _mm256_cvtepi32_ps(a.hi)}; }
// The product is pinned in a register so it is rounded before any following
// subtraction (no FMA contraction): bit-exact with the scalar reference.
inline F mul(F a, F b) {
  __m256 lo = _mm256_mul_ps(a.lo, b.lo), hi = _mm256_mul_ps(a.hi, b.hi);
  asm("" : "+x"(lo), "+x"(hi));
  return {lo, hi};
}
inline F sub(F a, F b) { return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
inline void store(float* p, F a) {
  _mm256_storeu_ps(p, a.lo);
  _mm256_storeu_ps(p + 8, a.hi);
}
// kvalues_iq4nl[k] for indices 0..15: two 8-entry permutes, picked by k >= 8.
inline __m256 iq4_values8(__m256i k) {
  const __m256 lo = _mm256_setr_ps(-127, -104, -83, -65, -49, -35, -22, -10);
  const __m256 hi = _mm256_setr_ps(1, 13, 25, 38, 53, 69, 89, 113);
  const __m256 upper = _mm256_castsi256_ps(_mm256_cmpgt_epi32(k, _mm256_set1_epi32(7)));
  return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, k), _mm256_permutevar8x32_ps(hi, k), upper);
}
inline F iq4_values(I k) { return {iq4_values8(k.lo), iq4_values8(k.hi)}; }

#include "quant/fast/dequant_body.h"

}  // namespace
}  // namespace avx2

DequantizeRowFn avx2_dequantize_row(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0: return avx2::dequantize_row_q4_0;
    case GgmlType::Q8_0: return avx2::dequantize_row_q8_0;
    case GgmlType::Q2_K: return avx2::dequantize_row_q2_k;
    case GgmlType::Q3_K: return avx2::dequantize_row_q3_k;
    case GgmlType::Q4_K: return avx2::dequantize_row_q4_k;
    case GgmlType::Q5_K: return avx2::dequantize_row_q5_k;
    case GgmlType::Q6_K: return avx2::dequantize_row_q6_k;
    case GgmlType::IQ4_NL: return avx2::dequantize_row_iq4_nl;
    case GgmlType::IQ4_XS: return avx2::dequantize_row_iq4_xs;
    default: return nullptr;
  }
}

}  // namespace lowbit::quant::fast
