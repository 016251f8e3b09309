// Shared pieces of the AVX-512 VNNI kernels for the 256-weight super-block
// formats (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS) against Q8_K activations,
// included by dot_kquants_avx512.cpp (the GGUF layout) and
// dot_kquants_packed_avx512vbmi.cpp (the packed layout) only.
//
// Interleaved layout: a super-block is split into 16 sub-blocks of 16
// weights, and vector k (k = 0..3) holds in 32-bit lane g the 4 weights
// 16g + 4k .. 16g + 4k + 3. Then vpdpbusd over the four vectors leaves in
// lane g the whole integer dot of sub-block g, and the sub-block scales are
// one float vector per super-block:
//   min formats (Q2_K, Q4_K, Q5_K):  acc += cvt(isum) * (SD * d_a) - MD * (d_a * bsums)
//   offset formats (Q3_K, Q6_K, IQ4_XS: weights stored + offset 4, 32, 128
//   as unsigned bytes, F::kOffset):   acc += SD * (cvt(isum) * d_a - offset * (d_a * bsums))
// SD = d * scale(g) per lane, MD = dmin * min(g). The offset form is two
// operations per row and block fewer (offset * d_a * bsums is per token) and
// rounds once less. Sub-blocks of 32 (Q4_K,
// Q5_K, IQ4_XS) are lanes 2j and 2j + 1 with the same scale.
// Activations are rearranged once per matmul call into ActK records (same
// values, interleaved order, bsums pre-scaled to float), so the per-(row,
// token, super-block) work is 4 vpdpbusd + convert + multiply + 2 FMA.
// Weights are interleaved per row with vpermt2d/vpermd + shifts (no gather).
// Ranges: lane sums |16 * 255 * 127| < 2^20, exact in float.
//
// Everything here is in an anonymous namespace on purpose: the two files
// are compiled with different ISA flags, and shared inline functions would
// let the linker keep the copy built with the wider instruction set.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/page_prefetch.h"
#include "cpu/simd_avx512.h"
#include "quant/blocks.h"

namespace lowbit::cpu {
namespace {

using namespace lowbit::quant;
using namespace lowbit::cpu::avx512;

// One super-block of one token in the interleaved layout (384 bytes).
struct alignas(64) ActK {
  int8_t q[256];  // q[64k + 4g + j] = a[16g + 4k + j]
  float b[16];    // d * bsums[g]
  float d;
  float pad[15];
};
static_assert(sizeof(ActK) == 384);

inline size_t actk_bytes(int64_t n) { return size_t(n / QK_K) * sizeof(ActK); }

inline void actk_from_q8k(const void* standard, void* out, int64_t n) {
  const auto* a = static_cast<const BlockQ8_K*>(standard);
  auto* o = static_cast<ActK*>(out);
  // vector k = input dwords 4g + k: from each 64-byte quarter take dwords k, 4+k, 8+k, 12+k
  const __m512i pick = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const __m512i* in = reinterpret_cast<const __m512i*>(a[b].qs);
    const __m512i i0 = _mm512_loadu_si512(in), i1 = _mm512_loadu_si512(in + 1);
    const __m512i i2 = _mm512_loadu_si512(in + 2), i3 = _mm512_loadu_si512(in + 3);
    for (int k = 0; k < 4; ++k) {
      const __m512i idx = _mm512_add_epi32(pick, _mm512_set1_epi32(k));
      const __m512i lo = _mm512_permutex2var_epi32(i0, idx, i1);  // lanes 0..7 valid
      const __m512i hi = _mm512_permutex2var_epi32(i2, idx, i3);
      _mm512_store_si512(o[b].q + 64 * k, _mm512_inserti64x4(lo, _mm512_castsi512_si256(hi), 1));
    }
    const __m512 bs = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].bsums))));
    _mm512_store_ps(o[b].b, _mm512_mul_ps(bs, _mm512_set1_ps(a[b].d)));
    o[b].d = a[b].d;
    for (float& p : o[b].pad) p = 0.0f;
  }
}

struct KRow {
  __m512i z[4];  // unsigned weights, interleaved
  __m512 sd;     // d * scale per lane
  __m512 md;     // dmin * min per lane (min formats only)
};

// A format whose weights are stored + F::kOffset (no per-block minimum).
template <class F>
concept OffsetFormat = requires { F::kOffset; };

// Lane constants v(g), g = 0..15, built at compile time (Lanes: simd_avx512.h).
#define LANES(expr) ([] { static constexpr Lanes kL = make_lanes([](int g) { return int32_t(expr); }); return _mm512_load_si512(kL.v); }())

// 8 bytes b[0..7] -> 16 float lanes, lane g = b[g / 2].
inline __m512 pairs_to_float(uint64_t bytes) {
  const __m128i dup = _mm_shuffle_epi8(_mm_cvtsi64_si128(int64_t(bytes)),
                                       _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
  return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(dup));
}

// Nibbles of the Q4_K/Q5_K qs (byte 32c + l: weight 64c + l low, 64c + 32 + l high).
// Weight 16g + 4k + j sits in dword 8(g/4) + 4(g%2) + k, nibble (g%4)/2.
inline void q4k_nibbles(const uint8_t* qs, __m512i z[4]) {
  const __m512i lo = _mm512_loadu_si512(qs), hi = _mm512_loadu_si512(qs + 64);
  const __m512i shift = LANES(4 * ((g % 4) / 2));
  const __m512i idx[4] = {LANES(8 * (g / 4) + 4 * (g % 2)), LANES(8 * (g / 4) + 4 * (g % 2) + 1),
                          LANES(8 * (g / 4) + 4 * (g % 2) + 2), LANES(8 * (g / 4) + 4 * (g % 2) + 3)};
  for (int k = 0; k < 4; ++k)
    z[k] = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutex2var_epi32(lo, idx[k], hi), shift), _mm512_set1_epi8(0x0F));
}

// Bit (g/2) of mask bytes in the "byte i % 32, bit i / 32" layout (Q3_K hmask, Q5_K qh):
// weight 16g + 4k + j -> byte 16(g%2) + 4k + j = dword 4(g%2) + k.
inline __mmask64 high_bits(__m512i mask32, int k) {
  const __m512i idx = LANES(4 * (g % 2));
  const __m512i d = _mm512_permutexvar_epi32(_mm512_add_epi32(idx, _mm512_set1_epi32(k)), mask32);
  const __m512i bit = LANES(int32_t(0x01010101u << (g / 2)));
  return _mm512_test_epi8_mask(d, bit);
}

// 2-bit fields of the Q2_K/Q3_K qs: weight 16g + 4k + j -> dword 8(g/8) + 4(g%2) + k, shift 2((g%8)/2).
inline __m512i two_bits(__m512i qs, int k) {
  const __m512i idx = LANES(8 * (g / 8) + 4 * (g % 2));
  const __m512i shift = LANES(2 * ((g % 8) / 2));
  const __m512i d = _mm512_permutexvar_epi32(_mm512_add_epi32(idx, _mm512_set1_epi32(k)), qs);
  return _mm512_and_si512(_mm512_srlv_epi32(d, shift), _mm512_set1_epi8(3));
}

// SD and MD of a Q4_K/Q5_K block from its first 16 bytes (d, dmin, 12 scale
// bytes s[0..11] at bytes 4..15): lane g gets sub-block j = g/2's
//   scale = j < 4 ? s[j] & 63 : (s[j+4] & 15) | (s[j-4] >> 6) << 4
//   min   = j < 4 ? s[j+4] & 63 : (s[j+4] >> 4) | (s[j] >> 6) << 4
// The 6-bit fields are unpacked with 32-bit scalar arithmetic (four bytes at
// a time): decode is bound by vector-port work, and the integer ports are idle.
inline void q4k_header(const uint8_t* block, KRow& r) {
  const uint32_t s0 = load_u32(block + 4), s4 = load_u32(block + 8), s8 = load_u32(block + 12);
  const uint32_t scale_hi = (s8 & 0x0f0f0f0fu) | ((s0 >> 2) & 0x30303030u);
  const uint32_t min_hi = ((s8 >> 4) & 0x0f0f0f0fu) | ((s4 >> 2) & 0x30303030u);
  const uint64_t scales = uint64_t(s0 & 0x3f3f3f3fu) | uint64_t(scale_hi) << 32;
  const uint64_t mins = uint64_t(s4 & 0x3f3f3f3fu) | uint64_t(min_hi) << 32;
  uint16_t d, dmin;
  std::memcpy(&d, block, 2);
  std::memcpy(&dmin, block + 2, 2);
  r.sd = _mm512_mul_ps(pairs_to_float(scales), _mm512_set1_ps(fp16(d)));
  r.md = _mm512_mul_ps(pairs_to_float(mins), _mm512_set1_ps(fp16(dmin)));
}

inline void q6k_header(const BlockQ6_K& b, KRow& r) {
  const __m512i s = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
  r.sd = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(fp16(b.d)));
}

struct Q6_KF {
  using Block = BlockQ6_K;
  static constexpr float kOffset = 32.0f;  // stored q = value + 32
  static void load(const Block& b, KRow& r) {
    // ql: weight 16g + 4k + j -> dword 16(g/8) + 4(g%4) + k, nibble (g%8)/4
    // qh: dword 8(g/8) + 4(g%2) + k, bits 2((g%8)/2)
    const __m512i ql0 = _mm512_loadu_si512(b.ql), ql1 = _mm512_loadu_si512(b.ql + 64);
    const __m512i qh = _mm512_loadu_si512(b.qh);
    const __m512i ql_idx = LANES(16 * (g / 8) + 4 * (g % 4));
    const __m512i ql_shift = LANES(4 * ((g % 8) / 4));
    const __m512i qh_idx = LANES(8 * (g / 8) + 4 * (g % 2));
    const __m512i qh_shift = LANES(2 * ((g % 8) / 2));
    for (int k = 0; k < 4; ++k) {
      const __m512i kk = _mm512_set1_epi32(k);
      const __m512i low = _mm512_and_si512(
          _mm512_srlv_epi32(_mm512_permutex2var_epi32(ql0, _mm512_add_epi32(ql_idx, kk), ql1), ql_shift),
          _mm512_set1_epi8(0x0F));
      const __m512i high = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi32(_mm512_add_epi32(qh_idx, kk), qh), qh_shift),
                                            _mm512_set1_epi8(3));
      r.z[k] = _mm512_or_si512(low, _mm512_slli_epi32(high, 4));
    }
    q6k_header(b, r);
  }
};

struct Q5_KF {
  using Block = BlockQ5_K;
  static void load(const Block& b, KRow& r) {
    q4k_nibbles(b.qs, r.z);
    const __m512i qh = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh)));
    for (int k = 0; k < 4; ++k) r.z[k] = _mm512_mask_add_epi8(r.z[k], high_bits(qh, k), r.z[k], _mm512_set1_epi8(16));
    q4k_header(reinterpret_cast<const uint8_t*>(&b), r);
  }
};

struct Q3_KF {
  using Block = BlockQ3_K;
  static constexpr float kOffset = 4.0f;  // stored q = value + 4
  static void load(const Block& b, KRow& r) {
    const __m512i qs_full = _mm512_loadu_si512(b.qs);
    const __m512i hm = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.hmask)));
    for (int k = 0; k < 4; ++k) {
      const __m512i low = two_bits(qs_full, k);
      r.z[k] = _mm512_mask_add_epi8(low, high_bits(hm, k), low, _mm512_set1_epi8(4));
    }
    const uint32_t x0 = load_u32(b.scales), x1 = load_u32(b.scales + 4), x2 = load_u32(b.scales + 8);
    const __m128i packed = _mm_setr_epi32(int((x0 & 0x0f0f0f0fu) | (x2 & 0x03030303u) << 4),
                                          int((x1 & 0x0f0f0f0fu) | ((x2 >> 2) & 0x03030303u) << 4),
                                          int(((x0 >> 4) & 0x0f0f0f0fu) | ((x2 >> 4) & 0x03030303u) << 4),
                                          int(((x1 >> 4) & 0x0f0f0f0fu) | ((x2 >> 6) & 0x03030303u) << 4));
    const __m512i s = _mm512_sub_epi32(_mm512_cvtepu8_epi32(packed), _mm512_set1_epi32(32));
    r.sd = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(fp16(b.d)));
  }
};

// NR weight rows x NT tokens: each activation vector is loaded once and used
// for all NR rows (the loads, not the multiplies, bound a one-row kernel).
// Paired: the NR = 2 rows are stored block-interleaved (packed layout), so
// the weights are one sequential stream.
// The decode prefetch state of one tile call, carried from row pair to row
// pair: consecutive pairs are one run of addresses (page_prefetch.h).
struct DecodeStream {
  StreamPrefetch plan;
  PageKick kick;
  LineStream ahead;
  explicit DecodeStream(const void* start) : plan(stream_prefetch()), ahead(plan, start) {}
};

template <class F, int NR, int NT, bool Paired>
void rows_dot(const uint8_t* w, size_t w_stride, int64_t nb, const ActK* act, int64_t stride, float* y,
              int64_t y_stride, DecodeStream& stream) {
  static_assert(!Paired || NR == 2);
  using Block = typename F::Block;
  auto block = [&](int r, int64_t b) {
    return Paired ? w + (size_t(b) * NR + size_t(r)) * sizeof(Block) : w + size_t(r) * w_stride + size_t(b) * sizeof(Block);
  };
  __m512 acc[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
  KRow row[NR];
  for (int64_t b = 0; b < nb; ++b) {
    if constexpr (NT <= 2) {
      // Decode streams weights from DRAM: keep more misses in flight than the
      // hardware prefetcher alone does (page_prefetch.h). A stored pair is
      // one run of addresses; side-by-side standard rows are two.
      if constexpr (Paired)
        stream.ahead.through(block(NR - 1, b) + sizeof(Block));
      else
        for (int r = 0; r < NR; ++r) prefetch_ahead(stream.plan, block(r, b), sizeof(Block));
      stream.kick.at(block(NR - 1, b));
    }
    for (int r = 0; r < NR; ++r) F::load(*reinterpret_cast<const Block*>(block(r, b)), row[r]);
    for (int t = 0; t < NT; ++t) {
      const ActK& a = act[t * stride + b];
      const __m512i* q = reinterpret_cast<const __m512i*>(a.q);
      const __m512i q0 = _mm512_load_si512(q), q1 = _mm512_load_si512(q + 1);
      const __m512i q2 = _mm512_load_si512(q + 2), q3 = _mm512_load_si512(q + 3);
      const __m512 da = _mm512_set1_ps(a.d), bs = _mm512_load_ps(a.b);
      [[maybe_unused]] __m512 offset_bs;
      if constexpr (OffsetFormat<F>) offset_bs = _mm512_mul_ps(bs, _mm512_set1_ps(F::kOffset));
      for (int r = 0; r < NR; ++r) {
        __m512i isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), row[r].z[0], q0);
        isum = _mm512_dpbusd_epi32(isum, row[r].z[1], q1);
        isum = _mm512_dpbusd_epi32(isum, row[r].z[2], q2);
        isum = _mm512_dpbusd_epi32(isum, row[r].z[3], q3);
        if constexpr (OffsetFormat<F>) {
          const __m512 centred = _mm512_fmsub_ps(_mm512_cvtepi32_ps(isum), da, offset_bs);
          acc[r][t] = _mm512_fmadd_ps(row[r].sd, centred, acc[r][t]);
        } else {
          acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(row[r].sd, da), acc[r][t]);
          acc[r][t] = _mm512_fnmadd_ps(row[r].md, bs, acc[r][t]);
        }
      }
    }
  }
  // unrolled: keeps acc in registers (see vec_dot_avx512.cpp)
#pragma GCC unroll 4
  for (int r = 0; r < NR; ++r)
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) y[t * y_stride + r] = hsum(acc[r][t]);
}

constexpr int kTokenGroup = 6;

template <class F, int NR, bool Paired>
void rows_dot_any(int nt, const uint8_t* w, size_t w_stride, int64_t nb, const ActK* act, int64_t stride, float* y,
                  int64_t y_stride, DecodeStream& s) {
  switch (nt) {
    case 1: rows_dot<F, NR, 1, Paired>(w, w_stride, nb, act, stride, y, y_stride, s); break;
    case 2: rows_dot<F, NR, 2, Paired>(w, w_stride, nb, act, stride, y, y_stride, s); break;
    case 3: rows_dot<F, NR, 3, Paired>(w, w_stride, nb, act, stride, y, y_stride, s); break;
    case 4: rows_dot<F, NR, 4, Paired>(w, w_stride, nb, act, stride, y, y_stride, s); break;
    case 5: rows_dot<F, NR, 5, Paired>(w, w_stride, nb, act, stride, y, y_stride, s); break;
    default: rows_dot<F, NR, 6, Paired>(w, w_stride, nb, act, stride, y, y_stride, s); break;
  }
}

// Rows in pairs, tokens in groups of 6: the activations of one group
// (6 x 384 bytes per super-block) stay in L1 across a pass over a row pair.
// Paired (packed layout): w starts a row pair; an odd last row is stored
// as a single row.
template <class F, bool Paired>
void tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a, size_t a_stride,
          int64_t n_tok, float* y, int64_t y_stride) {
  const int64_t nb = n / QK_K;
  const int64_t stride = int64_t(a_stride / sizeof(ActK));  // a_stride is a multiple of 64 = whole records
  for (int64_t t0 = 0; t0 < n_tok; t0 += kTokenGroup) {
    const int nt = int(std::min<int64_t>(kTokenGroup, n_tok - t0));
    const ActK* act = reinterpret_cast<const ActK*>(a + size_t(t0) * a_stride);
    DecodeStream stream(w);
    int64_t r = 0;
    for (; r + 2 <= n_rows; r += 2)
      rows_dot_any<F, 2, Paired>(nt, w + size_t(r) * w_stride, w_stride, nb, act, stride, y + t0 * y_stride + r, y_stride,
                                 stream);
    if (r < n_rows)
      rows_dot_any<F, 1, false>(nt, w + size_t(r) * w_stride, w_stride, nb, act, stride, y + t0 * y_stride + r, y_stride,
                                stream);
  }
}

// Standard Q8_K activation: convert into a thread-local interleaved copy first.
template <class F>
float vec_dot(int64_t n, const void* w, const void* a) {
  thread_local std::vector<ActK> act;
  if (act.size() < size_t(n / QK_K)) act.resize(size_t(n / QK_K));
  actk_from_q8k(a, act.data(), n);
  float y = 0;
  DecodeStream stream(w);
  rows_dot<F, 1, 1, false>(static_cast<const uint8_t*>(w), 0, n / QK_K, act.data(), 0, &y, 1, stream);
  return y;
}

}  // namespace
}  // namespace lowbit::cpu
