// AVX-512 dequantizers: the 16-lane int/float vector types the shared code
// in dequant_body.h is written over, and the dispatch lookup.
#include <immintrin.h>

#include <cstdint>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/fast/fast.h"

namespace lowbit::quant::fast {
namespace avx512 {
namespace {

struct I {
  __m512i v;
};
struct F {
  __m512 v;
  F(__m512 a) : v(a) {}
  explicit F(float a) : v(_mm512_set1_ps(a)) {}
};

inline I load_u8(const uint8_t* p) { return {_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))}; }
inline I load_i8(const int8_t* p) { return {_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))}; }
inline I and_(I a, int b) { return {_mm512_and_si512(a.v, _mm512_set1_epi32(b))}; }
inline I or_(I a, I b) { return {_mm512_or_si512(a.v, b.v)}; }
inline I add(I a, I b) { return {_mm512_add_epi32(a.v, b.v)}; }
inline I sub(I a, I b) { return {_mm512_sub_epi32(a.v, b.v)}; }
inline I sub(I a, int b) { return {_mm512_sub_epi32(a.v, _mm512_set1_epi32(b))}; }
inline I srl(I a, int s) { return {_mm512_srli_epi32(a.v, unsigned(s))}; }
inline I sll(I a, int s) { return {_mm512_slli_epi32(a.v, unsigned(s))}; }
inline I low4(I q) { return and_(q, 15); }
inline I high4(I q) { return srl(q, 4); }  // q holds one zero-extended byte per lane
inline I where_zero(I t, int value) {
  return {_mm512_maskz_mov_epi32(_mm512_cmpeq_epi32_mask(t.v, _mm512_setzero_si512()), _mm512_set1_epi32(value))};
}
inline I where_nonzero(I t, int value) {
  return {_mm512_maskz_mov_epi32(_mm512_cmpneq_epi32_mask(t.v, _mm512_setzero_si512()), _mm512_set1_epi32(value))};
}
inline F to_float(I a) { return _mm512_cvtepi32_ps(a.v); }
// The product is pinned in a register so it is rounded before any following
// subtraction (no FMA contraction): bit-exact with the scalar reference.
inline F mul(F a, F b) {
  __m512 r = _mm512_mul_ps(a.v, b.v);
  asm("" : "+v"(r));
  return r;
}
inline F sub(F a, F b) { return _mm512_sub_ps(a.v, b.v); }
inline void store(float* p, F a) { _mm512_storeu_ps(p, a.v); }
inline F iq4_values(I k) {
  alignas(64) static const float values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                1,    13,   25,  38,  53,  69,  89,  113};
  return _mm512_permutexvar_ps(k.v, _mm512_load_ps(values));
}

#include "quant/fast/dequant_body.h"

}  // namespace
}  // namespace avx512

DequantizeRowFn avx512_dequantize_row(GgmlType type) {
  switch (type) {
    case GgmlType::Q4_0: return avx512::dequantize_row_q4_0;
    case GgmlType::Q8_0: return avx512::dequantize_row_q8_0;
    case GgmlType::Q2_K: return avx512::dequantize_row_q2_k;
    case GgmlType::Q3_K: return avx512::dequantize_row_q3_k;
    case GgmlType::Q4_K: return avx512::dequantize_row_q4_k;
    case GgmlType::Q5_K: return avx512::dequantize_row_q5_k;
    case GgmlType::Q6_K: return avx512::dequantize_row_q6_k;
    case GgmlType::IQ4_NL: return avx512::dequantize_row_iq4_nl;
    case GgmlType::IQ4_XS: return avx512::dequantize_row_iq4_xs;
    default: return nullptr;
  }
}

}  // namespace lowbit::quant::fast
