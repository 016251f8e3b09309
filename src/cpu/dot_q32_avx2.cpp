// AVX2 kernels for the 32-weight block formats (Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, IQ4_NL) against Q8_0 activations. One block = one ymm.
// Signed formats (Q4_0 q-8, Q5_0 q-16, Q8_0, IQ4_NL) use vpmaddubsw on |w|
// and the activation with w's sign (no saturation: |w| <= 128, |a| <= 127);
// Q4_1/Q5_1 have unsigned weights and add m * d_a * sum(a), with
// d_a * sum(a) per block precomputed per token.
// Per token the fp16 activation scales are first converted to floats so the
// inner loop is: sign, maddubs, madd, convert, FMA.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/simd_avx2.h"
#include "quant/blocks.h"

namespace lowbit::cpu {
namespace {

using namespace lowbit::quant;
using namespace lowbit::cpu::avx2;

struct Blk {
  __m256i w;      // signed weights, or unsigned (min formats)
  __m256i w_abs;  // |w| (signed formats)
  float d;
  float m;
};

inline Blk signed_blk(__m256i w, uint16_t d) { return {w, _mm256_abs_epi8(w), fp16(d), 0.0f}; }

inline __m256i fifth_bit(const uint8_t* qh) {
  return _mm256_and_si256(expand_bits32(load_u32(qh)), _mm256_set1_epi8(0x10));
}

struct Q8_0F {
  using Block = BlockQ8_0;
  static constexpr bool kMin = false;
  static Blk load(const Block& b) { return signed_blk(load256(b.qs), b.d); }
};
struct Q4_0F {
  using Block = BlockQ4_0;
  static constexpr bool kMin = false;
  static Blk load(const Block& b) { return signed_blk(_mm256_sub_epi8(unpack_nibbles16(b.qs), _mm256_set1_epi8(8)), b.d); }
};
struct Q5_0F {
  using Block = BlockQ5_0;
  static constexpr bool kMin = false;
  static Blk load(const Block& b) {
    const __m256i q = _mm256_or_si256(unpack_nibbles16(b.qs), fifth_bit(b.qh));
    return signed_blk(_mm256_sub_epi8(q, _mm256_set1_epi8(16)), b.d);
  }
};
struct IQ4_NLF {
  using Block = BlockIQ4_NL;
  static constexpr bool kMin = false;
  static Blk load(const Block& b) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl)));
    return signed_blk(_mm256_shuffle_epi8(table, unpack_nibbles16(b.qs)), b.d);
  }
};
struct Q4_1F {
  using Block = BlockQ4_1;
  static constexpr bool kMin = true;
  static Blk load(const Block& b) { return {unpack_nibbles16(b.qs), _mm256_setzero_si256(), fp16(b.d), fp16(b.m)}; }
};
struct Q5_1F {
  using Block = BlockQ5_1;
  static constexpr bool kMin = true;
  static Blk load(const Block& b) {
    return {_mm256_or_si256(unpack_nibbles16(b.qs), fifth_bit(b.qh)), _mm256_setzero_si256(), fp16(b.d), fp16(b.m)};
  }
};

// Per token: float scale per block, and scale * sum(q) per block.
struct TokenScales {
  const BlockQ8_0* blocks;
  const float* d;
  const float* dsum;
};

// next: the following row, prefetched during decode.
template <class F, int NT>
void row_dot(const typename F::Block* row, int64_t nb, const TokenScales* tok, float* out, const char* next) {
  __m256 acc[NT];
  float macc[NT];
  for (int t = 0; t < NT; ++t) {
    acc[t] = _mm256_setzero_ps();
    macc[t] = 0.0f;
  }
  for (int64_t b = 0; b < nb; ++b) {
    if (NT == 1 && b % 4 == 0)  // 4 blocks are 72..136 bytes: one or two lines
      for (size_t off = 0; off < 4 * sizeof(typename F::Block); off += 64)
        _mm_prefetch(next + b * sizeof(typename F::Block) + off, _MM_HINT_T0);
    const Blk w = F::load(row[b]);
    for (int t = 0; t < NT; ++t) {
      const __m256i a = load256(tok[t].blocks[b].qs);
      __m256i isum;
      if constexpr (F::kMin) isum = _mm256_madd_epi16(_mm256_maddubs_epi16(w.w, a), _mm256_set1_epi16(1));
      else isum = dot_signed(w.w_abs, w.w, a);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(w.d * tok[t].d[b]), acc[t]);
      if constexpr (F::kMin) macc[t] += w.m * tok[t].dsum[b];
    }
  }
  // unrolled: keeps acc in registers (see vec_dot_avx512.cpp)
#pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) out[t] = hsum(acc[t]) + macc[t];
}

constexpr int kMaxTokens = 4;

template <class F>
void tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a, size_t a_stride,
          int64_t n_tok, float* y, int64_t y_stride) {
  const int64_t nb = n / QK;
  thread_local std::vector<float> scratch;
  if (scratch.size() < size_t(2 * nb * kMaxTokens)) scratch.resize(size_t(2 * nb * kMaxTokens));
  for (int64_t t0 = 0; t0 < n_tok; t0 += kMaxTokens) {
    const int nt = int(std::min<int64_t>(kMaxTokens, n_tok - t0));
    TokenScales tok[kMaxTokens];
    for (int t = 0; t < nt; ++t) {
      const auto* blocks = reinterpret_cast<const BlockQ8_0*>(a + size_t(t0 + t) * a_stride);
      float* d = &scratch[size_t(2 * t * nb)];
      float* dsum = d + nb;
      for (int64_t b = 0; b < nb; ++b) {
        d[b] = fp16(blocks[b].d);
        if constexpr (F::kMin) {
          const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), load256(blocks[b].qs)),
                                              _mm256_set1_epi16(1));
          const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
          const __m128i s2 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
          dsum[b] = d[b] * float(_mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xB1))));
        }
      }
      tok[t] = {blocks, d, dsum};
    }
    for (int64_t r = 0; r < n_rows; ++r) {
      const auto* row = reinterpret_cast<const typename F::Block*>(w + size_t(r) * w_stride);
      const char* next = reinterpret_cast<const char*>(w + size_t(r + 1) * w_stride);
      float out[kMaxTokens];
      switch (nt) {
        case 1: row_dot<F, 1>(row, nb, tok, out, next); break;
        case 2: row_dot<F, 2>(row, nb, tok, out, next); break;
        case 3: row_dot<F, 3>(row, nb, tok, out, next); break;
        default: row_dot<F, 4>(row, nb, tok, out, next); break;
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

const DotKernel* avx2_q32_kernel(GgmlType weight) {
  using T = GgmlType;
#define LOWBIT_K(TYPE, F) {T::TYPE, T::Q8_0, &vec_dot<F>, &tile<F>}
  static const DotKernel kTable[] = {LOWBIT_K(Q4_0, Q4_0F), LOWBIT_K(Q4_1, Q4_1F), LOWBIT_K(Q5_0, Q5_0F),
                                     LOWBIT_K(Q5_1, Q5_1F), LOWBIT_K(Q8_0, Q8_0F), LOWBIT_K(IQ4_NL, IQ4_NLF)};
#undef LOWBIT_K
  return find_in_table(kTable, weight);
}

}  // namespace lowbit::cpu
