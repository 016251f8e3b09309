// AVX-512 VNNI kernels for the super-block formats in their GGUF layout
// (method: cpu/kquants_avx512.h, which also holds the formats whose packed
// layout, dot_kquants_packed_avx512vbmi.cpp, starts from their load()).
// The packed layouts are used where the CPU has AVX512-VBMI and GFNI.
#include "cpu/kquants_avx512.h"

namespace lowbit::cpu {
namespace {

using namespace lowbit::quant;
using namespace lowbit::cpu::avx512;

struct Q4_KF {
  using Block = BlockQ4_K;
  static void load(const Block& b, KRow& r) {
    q4k_nibbles(b.qs, r.z);
    q4k_header(reinterpret_cast<const uint8_t*>(&b), r);
  }
};

struct Q2_KF {
  using Block = BlockQ2_K;
  static void load(const Block& b, KRow& r) {
    const __m512i qs = _mm512_loadu_si512(b.qs);
    for (int k = 0; k < 4; ++k) r.z[k] = two_bits(qs, k);
    const __m512i s = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
    r.sd = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_and_si512(s, _mm512_set1_epi32(15))), _mm512_set1_ps(fp16(b.d)));
    r.md = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(s, 4)), _mm512_set1_ps(fp16(b.dmin)));
  }
};

struct IQ4_XSF {
  using Block = BlockIQ4_XS;
  static constexpr float kOffset = 128.0f;  // stored as value + 128
  static void load(const Block& b, KRow& r) {
    // sub-block j = g/2: byte 16j + 4k + jj holds weight 32j + 4k + jj (low) and + 16 (high)
    const __m512i lo = _mm512_loadu_si512(b.qs), hi = _mm512_loadu_si512(b.qs + 64);
    const __m512i idx = LANES(4 * (g / 2));
    const __m512i shift = LANES(4 * (g % 2));
    // kvalues + 128 as unsigned bytes
    const __m512i table = _mm512_broadcast_i32x4(
        _mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, -127, -115, -103, -90, -75, -59, -39, -15));
    for (int k = 0; k < 4; ++k) {
      const __m512i d = _mm512_permutex2var_epi32(lo, _mm512_add_epi32(idx, _mm512_set1_epi32(k)), hi);
      r.z[k] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srlv_epi32(d, shift), _mm512_set1_epi8(0x0F)));
    }
    uint16_t sh;
    std::memcpy(&sh, &b.scales_h, 2);
    const uint64_t ls = _pdep_u64(load_u32(b.scales_l), 0x0F0F0F0F0F0F0F0FULL) | _pdep_u64(sh, 0x3030303030303030ULL);
    r.sd = _mm512_mul_ps(_mm512_sub_ps(pairs_to_float(ls), _mm512_set1_ps(32.0f)), _mm512_set1_ps(fp16(b.d)));
  }
};

}  // namespace

const DotKernel* avx512_kquant_kernel(GgmlType weight) {
  using T = GgmlType;
#define LOWBIT_K(TYPE, F)                                                                                   \
  {T::TYPE, T::Q8_K, &vec_dot<F>, &tile<F, false>, &actk_bytes, &actk_from_q8k,                               \
   avx512vbmi_packed_kquant_kernel(T::TYPE).pack_rows, avx512vbmi_packed_kquant_kernel(T::TYPE).tile}
  static const DotKernel kTable[] = {LOWBIT_K(Q2_K, Q2_KF), LOWBIT_K(Q3_K, Q3_KF), LOWBIT_K(Q4_K, Q4_KF),
                                     LOWBIT_K(Q5_K, Q5_KF), LOWBIT_K(Q6_K, Q6_KF), LOWBIT_K(IQ4_XS, IQ4_XSF)};
#undef LOWBIT_K
  return find_in_table(kTable, weight);
}

}  // namespace lowbit::cpu
