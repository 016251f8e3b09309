// AVX-512 VNNI kernels for the 256-weight super-block formats (Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K, IQ4_XS) against Q8_K activations.
//
// Per super-block and weight row, load() unpacks the 256 quants into four
// zmm of unsigned bytes in weight order (so activation quants are plain 64-byte
// loads) and spreads the sub-block scales into int16 vectors. Per token:
//   p = vpmaddubsw(weights, activation)   int16 sums of 2 products
//   isum = vpdpwssd(isum, p, scales)      int32, sub-block scales applied
// then one convert + FMA with d_w * d_a. Offsets (Q3_K -4, Q6_K -32) and mins
// (Q2_K, Q4_K, Q5_K) are taken from the activation's bsums with one vpmaddwd.
// IQ4_XS has signed weights: |w| times the activation with w's sign.
// Ranges: |vpmaddubsw| <= 2 * 127 * 127 < 2^15 (no saturation for our
// activations in [-127, 127]); int32 sums stay below 2^26.
#include <immintrin.h>

#include <algorithm>

#include "cpu/kernels.h"
#include "cpu/simd_avx512.h"
#include "quant/blocks.h"

namespace lowbit::cpu {
namespace {

using namespace lowbit::quant;
using namespace lowbit::cpu::avx512;

inline __m512i bcast32(const uint8_t* p) { return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
inline __m512i shift_counts(int lo, int hi) {  // per-16-bit-lane shifts: low 256 bits by lo, high by hi
  return _mm512_inserti64x4(_mm512_set1_epi16(int16_t(lo)), _mm256_set1_epi16(int16_t(hi)), 1);
}
inline __m512i bit_select(int lo, int hi) {  // bytes with bit lo (low half) / bit hi (high half) set
  return _mm512_inserti64x4(_mm512_set1_epi8(int8_t(1 << lo)), _mm256_set1_epi8(int8_t(1 << hi)), 1);
}
inline __m256i bsums(const BlockQ8_K& a) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bsums)); }

// sum_k dpwssd(maddubs(w[k], a[k]), s[k]) over the 4 chunks of 64 weights.
inline __m512i scaled_dot(const __m512i w[4], const __m512i s[4], const int8_t* q) {
  const __m512i* a = reinterpret_cast<const __m512i*>(q);
  __m512i isum = _mm512_madd_epi16(_mm512_maddubs_epi16(w[0], _mm512_loadu_si512(a)), s[0]);
  for (int k = 1; k < 4; ++k) isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(w[k], _mm512_loadu_si512(a + k)), s[k]);
  return isum;
}

struct KRow {
  __m512i w[4];
  __m512i s[4];
  __m256i aux;   // mins (16 int16, one per bsum) or scales for the offset term
  __m512 d;
  __m512 dmin;
};

// Accumulates one token: acc += d*da*isum; accm += dmin*da*mins (min formats).
inline void finish(const KRow& r, __m512i isum, float da, __m512& acc) {
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(r.d, _mm512_set1_ps(da)), acc);
}
inline void finish_min(const KRow& r, const BlockQ8_K& a, __m512& acc, __m256& accm) {
  const __m256i mins = _mm256_madd_epi16(bsums(a), r.aux);
  accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_mul_ps(_mm512_castps512_ps256(r.dmin), _mm256_set1_ps(a.d)), accm);
}
// isum -= offset * sum_j scale_j * bsum_j
template <int kShift>
inline __m512i remove_offset(const KRow& r, const BlockQ8_K& a, __m512i isum) {
  const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(bsums(a), r.aux), kShift);
  return _mm512_sub_epi32(isum, _mm512_zextsi256_si512(corr));
}

struct Q4_KF {
  using Block = BlockQ4_K;
  static constexpr bool kMin = true;
  static void load(const Block& b, KRow& r) {
    const uint32_t x0 = load_u32(b.scales), x1 = load_u32(b.scales + 4), x2 = load_u32(b.scales + 8);
    const uint64_t sc = uint64_t(x0 & 0x3f3f3f3fu) | uint64_t((x2 & 0x0f0f0f0fu) | ((x0 >> 6) & 0x03030303u) << 4) << 32;
    const uint64_t mn =
        uint64_t(x1 & 0x3f3f3f3fu) | uint64_t(((x2 >> 4) & 0x0f0f0f0fu) | ((x1 >> 6) & 0x03030303u) << 4) << 32;
    const __m512i s16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(sc))));
    for (int k = 0; k < 4; ++k) {
      r.s[k] = scales_for_32(s16, k);
      r.w[k] = unpack_nibbles_32(b.qs + 32 * k);
    }
    const __m128i mdup = _mm_shuffle_epi8(_mm_cvtsi64_si128(int64_t(mn)), _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    r.aux = _mm256_cvtepu8_epi16(mdup);
    r.d = _mm512_set1_ps(fp16(b.d));
    r.dmin = _mm512_set1_ps(fp16(b.dmin));
  }
  static void dot(const KRow& r, const BlockQ8_K& a, __m512& acc, __m256& accm) {
    finish(r, scaled_dot(r.w, r.s, a.qs), a.d, acc);
    finish_min(r, a, acc, accm);
  }
};

struct Q5_KF {
  using Block = BlockQ5_K;
  static constexpr bool kMin = true;
  static void load(const Block& b, KRow& r) {
    const uint32_t x0 = load_u32(b.scales), x1 = load_u32(b.scales + 4), x2 = load_u32(b.scales + 8);
    const uint64_t sc = uint64_t(x0 & 0x3f3f3f3fu) | uint64_t((x2 & 0x0f0f0f0fu) | ((x0 >> 6) & 0x03030303u) << 4) << 32;
    const uint64_t mn =
        uint64_t(x1 & 0x3f3f3f3fu) | uint64_t(((x2 >> 4) & 0x0f0f0f0fu) | ((x1 >> 6) & 0x03030303u) << 4) << 32;
    const __m512i s16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(sc))));
    const __m512i qh = bcast32(b.qh);
    for (int k = 0; k < 4; ++k) {
      r.s[k] = scales_for_32(s16, k);
      const __mmask64 high = _mm512_test_epi8_mask(qh, bit_select(2 * k, 2 * k + 1));
      const __m512i low = unpack_nibbles_32(b.qs + 32 * k);
      r.w[k] = _mm512_mask_add_epi8(low, high, low, _mm512_set1_epi8(16));
    }
    const __m128i mdup = _mm_shuffle_epi8(_mm_cvtsi64_si128(int64_t(mn)), _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    r.aux = _mm256_cvtepu8_epi16(mdup);
    r.d = _mm512_set1_ps(fp16(b.d));
    r.dmin = _mm512_set1_ps(fp16(b.dmin));
  }
  static void dot(const KRow& r, const BlockQ8_K& a, __m512& acc, __m256& accm) {
    finish(r, scaled_dot(r.w, r.s, a.qs), a.d, acc);
    finish_min(r, a, acc, accm);
  }
};

// Low 2 bits of the Q2_K / Q3_K layout, chunk k (weights 64k..64k+63).
inline __m512i two_bit_chunk(const uint8_t* qs, int k) {
  const __m512i v = bcast32(qs + 32 * (k / 2));
  return _mm512_and_si512(_mm512_srlv_epi16(v, shift_counts(4 * (k % 2), 4 * (k % 2) + 2)), _mm512_set1_epi8(3));
}

struct Q2_KF {
  using Block = BlockQ2_K;
  static constexpr bool kMin = true;
  static void load(const Block& b, KRow& r) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales));
    const __m512i s16 = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(packed, _mm_set1_epi8(15))));
    r.aux = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(15)));
    for (int k = 0; k < 4; ++k) {
      r.s[k] = scales_for_16(s16, k);
      r.w[k] = two_bit_chunk(b.qs, k);
    }
    r.d = _mm512_set1_ps(fp16(b.d));
    r.dmin = _mm512_set1_ps(fp16(b.dmin));
  }
  static void dot(const KRow& r, const BlockQ8_K& a, __m512& acc, __m256& accm) {
    finish(r, scaled_dot(r.w, r.s, a.qs), a.d, acc);
    finish_min(r, a, acc, accm);
  }
};

struct Q3_KF {
  using Block = BlockQ3_K;
  static constexpr bool kMin = false;
  static void load(const Block& b, KRow& r) {
    const uint32_t x0 = load_u32(b.scales), x1 = load_u32(b.scales + 4), x2 = load_u32(b.scales + 8);
    const uint64_t s_lo = uint64_t((x0 & 0x0f0f0f0fu) | (x2 & 0x03030303u) << 4) |
                          uint64_t((x1 & 0x0f0f0f0fu) | ((x2 >> 2) & 0x03030303u) << 4) << 32;
    const uint64_t s_hi = uint64_t(((x0 >> 4) & 0x0f0f0f0fu) | ((x2 >> 4) & 0x03030303u) << 4) |
                          uint64_t(((x1 >> 4) & 0x0f0f0f0fu) | ((x2 >> 6) & 0x03030303u) << 4) << 32;
    const __m128i sc = _mm_sub_epi8(_mm_set_epi64x(int64_t(s_hi), int64_t(s_lo)), _mm_set1_epi8(32));
    r.aux = _mm256_cvtepi8_epi16(sc);
    const __m512i s16 = _mm512_castsi256_si512(r.aux);
    const __m512i hm = bcast32(b.hmask);
    for (int k = 0; k < 4; ++k) {
      r.s[k] = scales_for_16(s16, k);
      const __mmask64 high = _mm512_test_epi8_mask(hm, bit_select(2 * k, 2 * k + 1));
      const __m512i low = two_bit_chunk(b.qs, k);
      r.w[k] = _mm512_mask_add_epi8(low, high, low, _mm512_set1_epi8(4));
    }
    r.d = _mm512_set1_ps(fp16(b.d));
  }
  static void dot(const KRow& r, const BlockQ8_K& a, __m512& acc, __m256&) {
    finish(r, remove_offset<2>(r, a, scaled_dot(r.w, r.s, a.qs)), a.d, acc);
  }
};

struct Q6_KF {
  using Block = BlockQ6_K;
  static constexpr bool kMin = false;
  static void load(const Block& b, KRow& r) {
    const __m512i low4 = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
    for (int h = 0; h < 2; ++h) {
      const __m512i ql = _mm512_loadu_si512(b.ql + 64 * h);
      const __m512i qh = bcast32(b.qh + 32 * h);
      const __m512i lo = _mm512_and_si512(ql, low4);
      const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(ql, 4), low4);
      r.w[2 * h] = _mm512_or_si512(lo, _mm512_and_si512(_mm512_sllv_epi16(qh, shift_counts(4, 2)), bits45));
      r.w[2 * h + 1] = _mm512_or_si512(hi, _mm512_and_si512(_mm512_srlv_epi16(qh, shift_counts(0, 2)), bits45));
    }
    r.aux = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
    const __m512i s16 = _mm512_castsi256_si512(r.aux);
    for (int k = 0; k < 4; ++k) r.s[k] = scales_for_16(s16, k);
    r.d = _mm512_set1_ps(fp16(b.d));
  }
  static void dot(const KRow& r, const BlockQ8_K& a, __m512& acc, __m256&) {
    finish(r, remove_offset<5>(r, a, scaled_dot(r.w, r.s, a.qs)), a.d, acc);
  }
};

struct IQ4_XSF {
  using Block = BlockIQ4_XS;
  static constexpr bool kMin = false;
  // aux is unused; the sign masks of the weights live in `neg`.
  struct Row {
    KRow k;
    __mmask64 neg[4];
  };
  static void load(const Block& b, Row& r) {
    const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl)));
    uint16_t sh;
    std::memcpy(&sh, &b.scales_h, 2);
    const uint64_t ls = _pdep_u64(load_u32(b.scales_l), 0x0F0F0F0F0F0F0F0FULL) | _pdep_u64(sh, 0x3030303030303030ULL);
    const __m512i s16 = _mm512_castsi128_si512(
        _mm_sub_epi16(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(int64_t(ls))), _mm_set1_epi16(32)));
    for (int k = 0; k < 4; ++k) {
      r.k.s[k] = scales_for_32(s16, k);
      const __m512i v = _mm512_shuffle_epi8(table, unpack_nibbles_2x16(b.qs + 32 * k, b.qs + 32 * k + 16));
      r.neg[k] = _mm512_movepi8_mask(v);
      r.k.w[k] = _mm512_abs_epi8(v);
    }
    r.k.d = _mm512_set1_ps(fp16(b.d));
  }
  static void dot(const Row& r, const BlockQ8_K& a, __m512& acc, __m256&) {
    const __m512i* q = reinterpret_cast<const __m512i*>(a.qs);
    __m512i isum = _mm512_setzero_si512();
    for (int k = 0; k < 4; ++k) {
      const __m512i av = _mm512_loadu_si512(q + k);
      const __m512i signed_a = _mm512_mask_sub_epi8(av, r.neg[k], _mm512_setzero_si512(), av);
      isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(r.k.w[k], signed_a), r.k.s[k]);
    }
    finish(r.k, isum, a.d, acc);
  }
};

template <class F>
struct RowOf {
  using type = KRow;
};
template <>
struct RowOf<IQ4_XSF> {
  using type = IQ4_XSF::Row;
};

template <class F, int NT>
void row_dot(const typename F::Block* row, int64_t nb, const uint8_t* act, size_t a_stride, float* out) {
  __m512 acc[NT];
  __m256 accm[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm512_setzero_ps();
    accm[t] = _mm256_setzero_ps();
  }
  typename RowOf<F>::type r;
  for (int64_t b = 0; b < nb; ++b) {
    F::load(row[b], r);
    for (int t = 0; t < NT; ++t) F::dot(r, reinterpret_cast<const BlockQ8_K*>(act + t * a_stride)[b], acc[t], accm[t]);
  }
  for (int t = 0; t < NT; ++t) {
    float s = hsum(acc[t]);
    if constexpr (F::kMin) s -= _mm512_reduce_add_ps(_mm512_zextps256_ps512(accm[t]));
    out[t] = s;
  }
}

constexpr int kMaxTokens = 4;

template <class F>
void tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a, size_t a_stride,
          int64_t n_tok, float* y, int64_t y_stride) {
  const int64_t nb = n / QK_K;
  for (int64_t t0 = 0; t0 < n_tok; t0 += kMaxTokens) {
    const int nt = int(std::min<int64_t>(kMaxTokens, n_tok - t0));
    const uint8_t* act = a + size_t(t0) * a_stride;
    for (int64_t r = 0; r < n_rows; ++r) {
      const auto* row = reinterpret_cast<const typename F::Block*>(w + size_t(r) * w_stride);
      float out[kMaxTokens];
      switch (nt) {
        case 1: row_dot<F, 1>(row, nb, act, a_stride, out); break;
        case 2: row_dot<F, 2>(row, nb, act, a_stride, out); break;
        case 3: row_dot<F, 3>(row, nb, act, a_stride, out); break;
        default: row_dot<F, 4>(row, nb, act, a_stride, out); break;
      }
      for (int t = 0; t < nt; ++t) y[(t0 + t) * y_stride + r] = out[t];
    }
  }
}

template <class F>
float vec_dot(int64_t n, const void* w, const void* a) {
  float y = 0;
  tile<F>(n, static_cast<const uint8_t*>(w), 0, 1, static_cast<const uint8_t*>(a), 0, 1, &y, 1);
  return y;
}

}  // namespace

const DotKernel* avx512_kquant_kernel(GgmlType weight) {
  using T = GgmlType;
#define LOWBIT_K(TYPE, F) {T::TYPE, T::Q8_K, &vec_dot<F>, &tile<F>}
  static const DotKernel kTable[] = {LOWBIT_K(Q2_K, Q2_KF), LOWBIT_K(Q3_K, Q3_KF), LOWBIT_K(Q4_K, Q4_KF),
                                     LOWBIT_K(Q5_K, Q5_KF), LOWBIT_K(Q6_K, Q6_KF), LOWBIT_K(IQ4_XS, IQ4_XSF)};
#undef LOWBIT_K
  for (const DotKernel& k : kTable)
    if (k.weight == weight) return &k;
  return nullptr;
}

}  // namespace lowbit::cpu
