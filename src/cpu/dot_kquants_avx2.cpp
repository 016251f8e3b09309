// AVX2 kernels for the 256-weight super-block formats (Q2_K, Q3_K, Q4_K,
// Q5_K, Q6_K, IQ4_XS) against Q8_K activations.
//
// load() unpacks a super-block of one row into eight ymm of 32 unsigned quants
// in weight order plus an int16 scale vector per ymm (sub-blocks of 32: one
// scale; of 16: [s(2k) x8 | s(2k+1) x8]); per token, each ymm costs
// vpmaddubsw + vpmaddwd(scales) + add, then one convert + FMA per super-block.
// Offsets and mins come from the activation bsums as in the AVX-512 file.
#include <immintrin.h>

#include <algorithm>

#include "cpu/kernels.h"
#include "cpu/simd_avx2.h"
#include "quant/blocks.h"

namespace lowbit::cpu {
namespace {

using namespace lowbit::quant;
using namespace lowbit::cpu::avx2;

struct KRow {
  __m256i w[8];
  __m256i s[8];
  __m256i aux;  // mins (one per bsum) or the 16 sub-block scales (offset formats)
  float d;
  float dmin;
};

inline __m256i bsums(const BlockQ8_K& a) { return load256(a.bsums); }

inline __m256i scaled_dot(const KRow& r, const int8_t* q) {
  __m256i isum = _mm256_setzero_si256();
  for (int k = 0; k < 8; ++k)
    isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(r.w[k], load256(q + 32 * k)), r.s[k]));
  return isum;
}

inline void finish(const KRow& r, __m256i isum, float da, __m256& acc) {
  acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(r.d * da), acc);
}
inline void finish_min(const KRow& r, const BlockQ8_K& a, __m256& accm) {
  accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(bsums(a), r.aux)), _mm256_set1_ps(r.dmin * a.d), accm);
}
template <int kShift>
inline __m256i remove_offset(const KRow& r, const BlockQ8_K& a, __m256i isum) {
  return _mm256_sub_epi32(isum, _mm256_slli_epi32(_mm256_madd_epi16(bsums(a), r.aux), kShift));
}

// Scale vectors for sub-blocks of 16 from 16 int16 scales.
inline void scales16(const int16_t sc[16], __m256i s[8]) {
  for (int k = 0; k < 8; ++k)
    s[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(sc[2 * k])), _mm_set1_epi16(sc[2 * k + 1]), 1);
}

// 6-bit scales and mins of Q4_K / Q5_K.
inline void q4k_scales(const uint8_t* p, uint8_t sc[8], uint8_t mn[8]) {
  const uint32_t x0 = load_u32(p), x1 = load_u32(p + 4), x2 = load_u32(p + 8);
  const uint32_t s[2] = {x0 & 0x3f3f3f3fu, (x2 & 0x0f0f0f0fu) | ((x0 >> 6) & 0x03030303u) << 4};
  const uint32_t m[2] = {x1 & 0x3f3f3f3fu, ((x2 >> 4) & 0x0f0f0f0fu) | ((x1 >> 6) & 0x03030303u) << 4};
  std::memcpy(sc, s, 8);
  std::memcpy(mn, m, 8);
}

inline __m256i dup_pairs(const uint8_t m[8]) {  // [m0 m0 m1 m1 ... m7 m7] as int16
  uint64_t v;
  std::memcpy(&v, m, 8);
  const __m128i d = _mm_shuffle_epi8(_mm_cvtsi64_si128(int64_t(v)), _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
  return _mm256_cvtepu8_epi16(d);
}

// Shared by Q4_K and Q5_K: nibbles of qs, 6-bit scales and mins, d, dmin.
inline void load_q4k_common(const uint8_t* scales, const uint8_t* qs, uint16_t d, uint16_t dmin, KRow& r) {
  uint8_t sc[8], mn[8];
  q4k_scales(scales, sc, mn);
  for (int c = 0; c < 4; ++c) {
    const __m256i v = load256(qs + 32 * c);
    r.w[2 * c] = _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
    r.w[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F));
  }
  for (int j = 0; j < 8; ++j) r.s[j] = _mm256_set1_epi16(sc[j]);
  r.aux = dup_pairs(mn);
  r.d = fp16(d);
  r.dmin = fp16(dmin);
}

struct Q4_KF {
  using Block = BlockQ4_K;
  static constexpr bool kMin = true;
  static void load(const Block& b, KRow& r) { load_q4k_common(b.scales, b.qs, b.d, b.dmin, r); }
  static void dot(const KRow& r, const BlockQ8_K& a, __m256& acc, __m256& accm) {
    finish(r, scaled_dot(r, a.qs), a.d, acc);
    finish_min(r, a, accm);
  }
};

struct Q5_KF {
  using Block = BlockQ5_K;
  static constexpr bool kMin = true;
  static void load(const Block& b, KRow& r) {
    load_q4k_common(b.scales, b.qs, b.d, b.dmin, r);
    const __m256i qh = load256(b.qh);
    for (int j = 0; j < 8; ++j) {
      const __m256i bit = _mm256_set1_epi8(int8_t(1 << j));
      const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
      r.w[j] = _mm256_or_si256(r.w[j], _mm256_and_si256(set, _mm256_set1_epi8(16)));
    }
  }
  static void dot(const KRow& r, const BlockQ8_K& a, __m256& acc, __m256& accm) { Q4_KF::dot(r, a, acc, accm); }
};

inline __m256i two_bits(const uint8_t* qs, int k) {  // weights 32k..32k+31 of the Q2_K/Q3_K layout
  const __m256i v = load256(qs + 32 * (k / 4));
  return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(2 * (k % 4))), _mm256_set1_epi8(3));
}

struct Q2_KF {
  using Block = BlockQ2_K;
  static constexpr bool kMin = true;
  static void load(const Block& b, KRow& r) {
    int16_t sc[16];
    for (int j = 0; j < 16; ++j) sc[j] = int16_t(b.scales[j] & 15);
    scales16(sc, r.s);
    r.aux = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)), 4),
                                               _mm_set1_epi8(15)));
    for (int k = 0; k < 8; ++k) r.w[k] = two_bits(b.qs, k);
    r.d = fp16(b.d);
    r.dmin = fp16(b.dmin);
  }
  static void dot(const KRow& r, const BlockQ8_K& a, __m256& acc, __m256& accm) {
    finish(r, scaled_dot(r, a.qs), a.d, acc);
    finish_min(r, a, accm);
  }
};

struct Q3_KF {
  using Block = BlockQ3_K;
  static constexpr bool kMin = false;
  static void load(const Block& b, KRow& r) {
    const uint32_t x0 = load_u32(b.scales), x1 = load_u32(b.scales + 4), x2 = load_u32(b.scales + 8);
    const uint32_t packed[4] = {(x0 & 0x0f0f0f0fu) | (x2 & 0x03030303u) << 4,
                                (x1 & 0x0f0f0f0fu) | ((x2 >> 2) & 0x03030303u) << 4,
                                ((x0 >> 4) & 0x0f0f0f0fu) | ((x2 >> 4) & 0x03030303u) << 4,
                                ((x1 >> 4) & 0x0f0f0f0fu) | ((x2 >> 6) & 0x03030303u) << 4};
    int16_t sc[16];
    for (int j = 0; j < 16; ++j) sc[j] = int16_t(int((packed[j / 4] >> (8 * (j % 4))) & 0xFF) - 32);
    scales16(sc, r.s);
    // built in registers: a 32-byte load of sc[] right after its 2-byte stores would stall
    r.aux = _mm256_cvtepi8_epi16(_mm_sub_epi8(
        _mm_setr_epi32(int(packed[0]), int(packed[1]), int(packed[2]), int(packed[3])), _mm_set1_epi8(32)));
    const __m256i hm = load256(b.hmask);
    for (int k = 0; k < 8; ++k) {
      const __m256i bit = _mm256_set1_epi8(int8_t(1 << k));
      const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);
      r.w[k] = _mm256_or_si256(two_bits(b.qs, k), _mm256_and_si256(set, _mm256_set1_epi8(4)));
    }
    r.d = fp16(b.d);
  }
  static void dot(const KRow& r, const BlockQ8_K& a, __m256& acc, __m256&) {
    finish(r, remove_offset<2>(r, a, scaled_dot(r, a.qs)), a.d, acc);
  }
};

struct Q6_KF {
  using Block = BlockQ6_K;
  static constexpr bool kMin = false;
  static void load(const Block& b, KRow& r) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load256(b.ql + 64 * h), ql1 = load256(b.ql + 64 * h + 32);
      const __m256i qh = load256(b.qh + 32 * h);
      // weights 128h + 32s + l: low nibble source and high-bit shift per s
      r.w[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
      r.w[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
      r.w[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qh, bits45));
      r.w[4 * h + 3] =
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
    }
    int16_t sc[16];
    for (int j = 0; j < 16; ++j) sc[j] = b.scales[j];
    scales16(sc, r.s);
    r.aux = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
    r.d = fp16(b.d);
  }
  static void dot(const KRow& r, const BlockQ8_K& a, __m256& acc, __m256&) {
    finish(r, remove_offset<5>(r, a, scaled_dot(r, a.qs)), a.d, acc);
  }
};

struct IQ4_XSF {
  using Block = BlockIQ4_XS;
  static constexpr bool kMin = false;
  // w holds the signed values, s the scales; |w| is taken per use (one op).
  static void load(const Block& b, KRow& r) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl)));
    uint16_t sh;
    std::memcpy(&sh, &b.scales_h, 2);
    for (int j = 0; j < 8; ++j) {
      const int ls = ((b.scales_l[j / 2] >> (4 * (j % 2))) & 15) | (((sh >> (2 * j)) & 3) << 4);
      r.s[j] = _mm256_set1_epi16(int16_t(ls - 32));
      r.w[j] = _mm256_shuffle_epi8(table, unpack_nibbles16(b.qs + 16 * j));
    }
    r.d = fp16(b.d);
  }
  static void dot(const KRow& r, const BlockQ8_K& a, __m256& acc, __m256&) {
    __m256i isum = _mm256_setzero_si256();
    for (int k = 0; k < 8; ++k) {
      const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(r.w[k]), _mm256_sign_epi8(load256(a.qs + 32 * k), r.w[k]));
      isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, r.s[k]));
    }
    finish(r, isum, a.d, acc);
  }
};

// next: the following row, prefetched block by block during decode.
template <class F, int NT>
void row_dot(const typename F::Block* row, int64_t nb, const uint8_t* act, size_t a_stride, float* out,
             const char* next) {
  __m256 acc[NT], accm[NT];
  for (int t = 0; t < NT; ++t) acc[t] = accm[t] = _mm256_setzero_ps();
  KRow r;
  for (int64_t b = 0; b < nb; ++b) {
    if (NT == 1)
      for (size_t off = 0; off < sizeof(typename F::Block); off += 64)
        _mm_prefetch(next + b * sizeof(typename F::Block) + off, _MM_HINT_T0);
    F::load(row[b], r);
    for (int t = 0; t < NT; ++t) F::dot(r, reinterpret_cast<const BlockQ8_K*>(act + t * a_stride)[b], acc[t], accm[t]);
  }
  // unrolled: keeps acc in registers (see vec_dot_avx512.cpp)
#pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) out[t] = F::kMin ? hsum(acc[t]) - hsum(accm[t]) : hsum(acc[t]);
}

constexpr int kMaxTokens = 2;

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
      const char* next = reinterpret_cast<const char*>(w + size_t(r + 1) * w_stride);
      if (nt == 1) row_dot<F, 1>(row, nb, act, a_stride, out, next);
      else row_dot<F, 2>(row, nb, act, a_stride, out, next);
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

const DotKernel* avx2_kquant_kernel(GgmlType weight) {
  using T = GgmlType;
#define LOWBIT_K(TYPE, F) {T::TYPE, T::Q8_K, &vec_dot<F>, &tile<F>}
  static const DotKernel kTable[] = {LOWBIT_K(Q2_K, Q2_KF), LOWBIT_K(Q3_K, Q3_KF), LOWBIT_K(Q4_K, Q4_KF),
                                     LOWBIT_K(Q5_K, Q5_KF), LOWBIT_K(Q6_K, Q6_KF), LOWBIT_K(IQ4_XS, IQ4_XSF)};
#undef LOWBIT_K
  return find_in_table(kTable, weight);
}

}  // namespace lowbit::cpu
