// AVX-512 Q8_0 quantizer, byte-identical to ref::quantize_row_q8_0 (same
// amax, the same float divisions, round half away from zero done exactly:
// truncate, then step away from zero when the dropped fraction is >= 1/2).
#include <immintrin.h>

#include <cstdint>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/fast/fast.h"
#include "quant/ref/search.h"

namespace lowbit::quant::fast {
namespace {

inline __m128i round_away_to_i8(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 frac = _mm512_sub_ps(v, t);  // exact
  const __m512 abs_frac = _mm512_abs_ps(frac);
  const __mmask16 step = _mm512_cmp_ps_mask(abs_frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 one = _mm512_or_ps(_mm512_set1_ps(1.f), _mm512_and_ps(v, _mm512_set1_ps(-0.f)));  // copysign(1, v)
  const __m512 r = _mm512_mask_add_ps(t, step, t, one);
  return _mm512_cvtsepi32_epi8(_mm512_cvttps_epi32(r));
}

void quantize_row_q8_0_avx512(const float* x, void* vy, int64_t n, const float*) {
  auto* y = static_cast<BlockQ8_0*>(vy);
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    const __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = float_to_fp16(ref::clamp_fp16_range(d));
    const __m512 vid = _mm512_set1_ps(id);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[i].qs), round_away_to_i8(_mm512_mul_ps(a, vid)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[i].qs + 16), round_away_to_i8(_mm512_mul_ps(b, vid)));
  }
}

}  // namespace

QuantizeRowFn avx512_quantize_row_simple(GgmlType type) {
  return type == GgmlType::Q8_0 ? quantize_row_q8_0_avx512 : nullptr;
}

}  // namespace lowbit::quant::fast
