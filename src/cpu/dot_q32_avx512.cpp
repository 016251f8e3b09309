// AVX-512 VNNI kernels for the 32-weight block formats (Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0, IQ4_NL) against Q8_0 activations.
//
// Work unit: a pair of blocks (64 weights) = one zmm. Weights are unpacked to
// unsigned bytes u (Q8_0 and IQ4_NL: value + 128; Q4_0: q; Q5_0: q) so that
// vpdpbusd(u, a) gives sum(u * a) per 4-byte lane; the offset (128, 8, 16) is
// removed by starting the accumulator at -offset * sum(a) of the lane.
// Per token, the activations are first expanded into ActPair records:
//   q[64]     the two blocks' quants back to back
//   dy[16]    [d_a x8 | d_b x8]  (float scales per 32-bit lane)
//   extra[16] int: -offset * lane sum of q   (offset formats)
//             float: dy * lane sum of q      (Q4_1/Q5_1: multiplies the min m)
// so the per-(row, token, pair) work is: one vpdpbusd, one convert, one
// multiply of the two scale vectors and one FMA (plus one FMA for the min).
// An odd last block is paired with itself on the weight side and with a
// zero activation block, which contributes exactly 0.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/simd_avx512.h"
#include "quant/blocks.h"

namespace lowbit::cpu {
namespace {

using namespace lowbit::quant;
using namespace lowbit::cpu::avx512;

struct alignas(64) ActPair {
  int8_t q[64];
  float dy[16];
  int32_t extra[16];
};

struct RowPair {
  __m512i u;  // unsigned weights
  __m512 d;   // weight scales per lane
  __m512 m;   // weight mins per lane (min formats)
};

struct Q8_0F {
  using Block = BlockQ8_0;
  static constexpr int kOffset = 128;
  static constexpr bool kMin = false;
  static RowPair load(const Block* a, const Block* b) {
    return {_mm512_xor_si512(concat32(a->qs, b->qs), _mm512_set1_epi8(int8_t(0x80))), two_scales(a->d, b->d), _mm512_setzero_ps()};
  }
};

struct Q4_0F {
  using Block = BlockQ4_0;
  static constexpr int kOffset = 8;
  static constexpr bool kMin = false;
  static RowPair load(const Block* a, const Block* b) { return {unpack_nibbles_2x16(a->qs, b->qs), two_scales(a->d, b->d), _mm512_setzero_ps()}; }
};

struct Q4_1F {
  using Block = BlockQ4_1;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  static RowPair load(const Block* a, const Block* b) {
    return {unpack_nibbles_2x16(a->qs, b->qs), two_scales(a->d, b->d), two_scales(a->m, b->m)};
  }
};

inline __m512i add_fifth_bit(__m512i q, const uint8_t* qh_a, const uint8_t* qh_b) {
  const __mmask64 bits = __mmask64(load_u32(qh_a)) | (__mmask64(load_u32(qh_b)) << 32);
  return _mm512_mask_add_epi8(q, bits, q, _mm512_set1_epi8(0x10));
}

struct Q5_0F {
  using Block = BlockQ5_0;
  static constexpr int kOffset = 16;
  static constexpr bool kMin = false;
  static RowPair load(const Block* a, const Block* b) {
    return {add_fifth_bit(unpack_nibbles_2x16(a->qs, b->qs), a->qh, b->qh), two_scales(a->d, b->d), _mm512_setzero_ps()};
  }
};

struct Q5_1F {
  using Block = BlockQ5_1;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  static RowPair load(const Block* a, const Block* b) {
    return {add_fifth_bit(unpack_nibbles_2x16(a->qs, b->qs), a->qh, b->qh), two_scales(a->d, b->d),
            two_scales(a->m, b->m)};
  }
};

struct IQ4_NLF {
  using Block = BlockIQ4_NL;
  static constexpr int kOffset = 128;
  static constexpr bool kMin = false;
  static RowPair load(const Block* a, const Block* b) {
    // kvalues + 128 as unsigned bytes, looked up per nibble
    const __m512i table = _mm512_broadcast_i32x4(
        _mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, -127, -115, -103, -90, -75, -59, -39, -15));
    return {_mm512_shuffle_epi8(table, unpack_nibbles_2x16(a->qs, b->qs)), two_scales(a->d, b->d), _mm512_setzero_ps()};
  }
};

// Expands one token's Q8_0 row (nb blocks) into (nb + 1) / 2 ActPairs.
template <class F>
void expand_activation(const BlockQ8_0* a, int64_t nb, ActPair* out) {
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t p = 0; p < (nb + 1) / 2; ++p) {
    const BlockQ8_0* b0 = a + 2 * p;
    const bool has_second = 2 * p + 1 < nb;
    __m512i q = has_second ? concat32(b0->qs, b0[1].qs)
                           : _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0->qs)));
    if (!has_second) q = _mm512_inserti64x4(q, _mm256_setzero_si256(), 1);
    const __m512 dy = has_second ? two_scales(b0->d, b0[1].d) : two_scales(b0->d, 0);
    _mm512_store_si512(out[p].q, q);
    _mm512_store_ps(out[p].dy, dy);
    // lane sums of q: vpdpbusd with all-ones unsigned bytes
    const __m512i lane_sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, q);
    if constexpr (F::kMin) {
      _mm512_store_ps(reinterpret_cast<float*>(out[p].extra), _mm512_mul_ps(dy, _mm512_cvtepi32_ps(lane_sum)));
    } else {
      _mm512_store_si512(out[p].extra, _mm512_mullo_epi32(lane_sum, _mm512_set1_epi32(-F::kOffset)));
    }
  }
}

// Dots one weight row with NT expanded tokens (token t's pairs at act + t * stride).
template <class F, int NT>
void row_dot(const typename F::Block* row, int64_t nb, const ActPair* act, int64_t stride, float* out) {
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const int64_t np = (nb + 1) / 2;
  for (int64_t p = 0; p < np; ++p) {
    const auto* b0 = row + 2 * p;
    const RowPair w = F::load(b0, 2 * p + 1 < nb ? b0 + 1 : b0);
    for (int t = 0; t < NT; ++t) {
      const ActPair& ap = act[t * stride + p];
      const __m512i q = _mm512_load_si512(ap.q);
      __m512i isum;
      if constexpr (F::kMin) isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w.u, q);
      else isum = _mm512_dpbusd_epi32(_mm512_load_si512(ap.extra), w.u, q);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(w.d, _mm512_load_ps(ap.dy)), acc[t]);
      if constexpr (F::kMin) acc[t] = _mm512_fmadd_ps(w.m, _mm512_load_ps(reinterpret_cast<const float*>(ap.extra)), acc[t]);
    }
  }
  for (int t = 0; t < NT; ++t) out[t] = hsum(acc[t]);
}

constexpr int kMaxTokens = 4;

template <class F>
void tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a, size_t a_stride,
          int64_t n_tok, float* y, int64_t y_stride) {
  const int64_t nb = n / QK, np = (nb + 1) / 2;
  thread_local std::vector<ActPair> scratch;
  if (scratch.size() < size_t(np * kMaxTokens)) scratch.resize(size_t(np * kMaxTokens));
  for (int64_t t0 = 0; t0 < n_tok; t0 += kMaxTokens) {
    const int nt = int(std::min<int64_t>(kMaxTokens, n_tok - t0));
    for (int t = 0; t < nt; ++t)
      expand_activation<F>(reinterpret_cast<const BlockQ8_0*>(a + size_t(t0 + t) * a_stride), nb, &scratch[size_t(t * np)]);
    for (int64_t r = 0; r < n_rows; ++r) {
      const auto* row = reinterpret_cast<const typename F::Block*>(w + size_t(r) * w_stride);
      float out[kMaxTokens];
      switch (nt) {
        case 1: row_dot<F, 1>(row, nb, scratch.data(), np, out); break;
        case 2: row_dot<F, 2>(row, nb, scratch.data(), np, out); break;
        case 3: row_dot<F, 3>(row, nb, scratch.data(), np, out); break;
        default: row_dot<F, 4>(row, nb, scratch.data(), np, out); break;
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

const DotKernel* avx512_q32_kernel(GgmlType weight) {
  using T = GgmlType;
#define LOWBIT_K(TYPE, F) {T::TYPE, T::Q8_0, &vec_dot<F>, &tile<F>}
  static const DotKernel kTable[] = {LOWBIT_K(Q4_0, Q4_0F), LOWBIT_K(Q4_1, Q4_1F), LOWBIT_K(Q5_0, Q5_0F),
                                     LOWBIT_K(Q5_1, Q5_1F), LOWBIT_K(Q8_0, Q8_0F), LOWBIT_K(IQ4_NL, IQ4_NLF)};
#undef LOWBIT_K
  for (const DotKernel& k : kTable)
    if (k.weight == weight) return &k;
  return nullptr;
}

}  // namespace lowbit::cpu
