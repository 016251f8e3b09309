// AVX-512 VNNI kernels for the 32-weight block formats (Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0, IQ4_NL) against Q8_0 activations.
//
// Interleaved layout: 16 blocks (512 weights) form a group; vector k
// (k = 0..7) holds in 32-bit lane g the 4 quants 4k..4k+3 of block g. Eight
// vpdpbusd then leave block g's whole integer dot in lane g, and the block
// scales are one float vector per group:
//   acc += cvt(isum) * (dw * da)            (+ m * (da * sum a) for Q4_1/Q5_1)
// Weights are unpacked to unsigned bytes (Q8_0, IQ4_NL: value + 128; Q4_0:
// q = value + 8; Q5_0: q = value + 16; Q4_1/Q5_1: q), two blocks per zmm, and
// transposed into the interleaved order with 24 vpermt2d per group; the
// offset comes back through the accumulator's start value
// -offset * sum(a of block g), precomputed per token.
// Activations are rearranged once per matmul call into ActQ records. A short
// last group is padded with zero activations (weights there are a repeat of
// the row's last block, never read past the row).
//
// Packed layouts (WeightLayout::Packed) of every format here: the unpack,
// transpose and scale gather are done once at load. Each full group of 16
// blocks becomes its 8 interleaved vectors of quants, exactly as load_group
// leaves them, followed by the 16 fp16 scales (32 bytes) and, for Q4_1/Q5_1,
// the 16 fp16 mins: Q8_0 as 8 x 64 bytes of unsigned quants (544 in all),
// the others as 4 x 64 bytes of nibble pairs (vector 2j in the low, 2j + 1
// in the high nibble of byte p of the j-th; IQ4_NL keeps its table indices),
// Q5_0/Q5_1 then 8 x 64 bits of fifth bits. A short last group stays
// standard. Same size, same values, bit-identical results.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/page_prefetch.h"
#include "cpu/simd_avx512.h"
#include "quant/blocks.h"

namespace lowbit::cpu {
namespace {

using namespace lowbit::quant;
using namespace lowbit::cpu::avx512;

constexpr int kGroup = 16;  // blocks per group

// One group of 16 blocks of one token (640 bytes).
struct alignas(64) ActQ {
  int8_t q[512];    // q[64k + 4g + j] = quant 4k + j of block g
  float d[16];      // block scales
  int32_t extra[16];  // -offset * sum(q) (offset formats) or float d * sum(q) (min formats)
};
static_assert(sizeof(ActQ) == 640);

inline __m512i add_fifth_bit(__m512i q, const uint8_t* qh_a, const uint8_t* qh_b) {
  const __mmask64 bits = __mmask64(load_u32(qh_a)) | (__mmask64(load_u32(qh_b)) << 32);
  return _mm512_mask_add_epi8(q, bits, q, _mm512_set1_epi8(0x10));
}

// Per format: unsigned quants of two blocks as [a | b] (32 bytes each, weight order).
struct Q8_0F {
  using Block = BlockQ8_0;
  static constexpr int kOffset = 128;
  static constexpr bool kMin = false;
  static constexpr bool kNibbles = false;
  static constexpr bool kFifthBit = false;
  static __m512i unpack(const Block* a, const Block* b) {
    return _mm512_xor_si512(concat32(a->qs, b->qs), _mm512_set1_epi8(int8_t(0x80)));
  }
};
// The nibble formats (kNibbles: Q4_0, Q4_1, IQ4_NL, and Q5_0, Q5_1 with a
// fifth bit, kFifthBit) map each 4-bit field to its unsigned quant with
// values(), also after the transpose (per byte).
struct Q4_0F {
  using Block = BlockQ4_0;
  static constexpr int kOffset = 8;
  static constexpr bool kMin = false;
  static constexpr bool kNibbles = true;
  static constexpr bool kFifthBit = false;
  static __m512i values(__m512i nibbles) { return nibbles; }
  static __m512i unpack(const Block* a, const Block* b) { return unpack_nibbles_2x16(a->qs, b->qs); }
};
struct Q4_1F {
  using Block = BlockQ4_1;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  static constexpr bool kNibbles = true;
  static constexpr bool kFifthBit = false;
  static __m512i values(__m512i nibbles) { return nibbles; }
  static __m512i unpack(const Block* a, const Block* b) { return unpack_nibbles_2x16(a->qs, b->qs); }
};
struct Q5_0F {
  using Block = BlockQ5_0;
  static constexpr int kOffset = 16;
  static constexpr bool kMin = false;
  static constexpr bool kNibbles = true;
  static constexpr bool kFifthBit = true;
  static __m512i values(__m512i nibbles) { return nibbles; }
  static __m512i unpack(const Block* a, const Block* b) {
    return add_fifth_bit(unpack_nibbles_2x16(a->qs, b->qs), a->qh, b->qh);
  }
};
struct Q5_1F {
  using Block = BlockQ5_1;
  static constexpr int kOffset = 0;
  static constexpr bool kMin = true;
  static constexpr bool kNibbles = true;
  static constexpr bool kFifthBit = true;
  static __m512i values(__m512i nibbles) { return nibbles; }
  static __m512i unpack(const Block* a, const Block* b) {
    return add_fifth_bit(unpack_nibbles_2x16(a->qs, b->qs), a->qh, b->qh);
  }
};
struct IQ4_NLF {
  using Block = BlockIQ4_NL;
  static constexpr int kOffset = 128;
  static constexpr bool kMin = false;
  static constexpr bool kNibbles = true;
  static constexpr bool kFifthBit = false;
  static __m512i values(__m512i nibbles) {
    // kvalues + 128 as unsigned bytes, looked up per nibble
    const __m512i table = _mm512_broadcast_i32x4(
        _mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, -127, -115, -103, -90, -75, -59, -39, -15));
    return _mm512_shuffle_epi8(table, nibbles);
  }
  static __m512i unpack(const Block* a, const Block* b) { return values(unpack_nibbles_2x16(a->qs, b->qs)); }
};

// A nibble format's blocks with the raw 4-bit fields as quants (for packing).
template <class F>
struct RawNibbles {
  using Block = typename F::Block;
  static constexpr bool kMin = F::kMin;
  static __m512i unpack(const Block* a, const Block* b) { return unpack_nibbles_2x16(a->qs, b->qs); }
};

struct GroupRow {
  __m512i v[8];  // interleaved unsigned quants
  __m512 d;      // block scales
  __m512 m;      // block mins (min formats)
};

// Loads group `gi` of a row with nb blocks (blocks past the end repeat the last one).
template <class F>
inline void load_group(const typename F::Block* row, int64_t nb, int64_t gi, GroupRow& r) {
  const int64_t first = gi * kGroup;
  const int64_t valid = std::min<int64_t>(kGroup, nb - first);
  const auto* blk = row + first;
  __m512i P[8];
  if (valid == kGroup) {
    for (int p = 0; p < 8; ++p) P[p] = F::unpack(blk + 2 * p, blk + 2 * p + 1);
  } else {
    for (int p = 0; p < 8; ++p)
      P[p] = F::unpack(blk + std::min<int64_t>(2 * p, valid - 1), blk + std::min<int64_t>(2 * p + 1, valid - 1));
  }
  transpose_16x8(P, r.v);
  // d (and m right after it) of each block: one 32-bit gather at the block starts
  __m512i offs = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                    _mm512_set1_epi32(int(sizeof(typename F::Block))));
  if (valid < kGroup) offs = _mm512_min_epi32(offs, _mm512_set1_epi32(int((valid - 1) * sizeof(typename F::Block))));
  const __m512i dm = _mm512_i32gather_epi32(offs, blk, 1);
  r.d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dm));
  if constexpr (F::kMin) r.m = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dm, 16)));
}

// The formats with a packed layout; the bytes of one full group in it (= 16
// standard blocks): quant vectors, the fifth-bit masks (kFifthBit: 8 x 64
// bits, bit p of mask k = bit 4 of vector k byte p), the 16 fp16 scales, the
// 16 fp16 mins (kMin).
template <class F>
constexpr bool kHasPacked = std::is_same_v<F, Q8_0F> || F::kNibbles;
template <class F>
constexpr size_t kPackedGroupBytes = kGroup * sizeof(typename F::Block);
template <class F>
constexpr size_t kPackedScalesAt = F::kNibbles ? 4 * 64 + (F::kFifthBit ? 64 : 0) : 8 * 64;
static_assert(kPackedGroupBytes<Q8_0F> == kPackedScalesAt<Q8_0F> + 32);
static_assert(kPackedGroupBytes<Q4_0F> == kPackedScalesAt<Q4_0F> + 32);
static_assert(kPackedGroupBytes<Q4_1F> == kPackedScalesAt<Q4_1F> + 64);
static_assert(kPackedGroupBytes<Q5_0F> == kPackedScalesAt<Q5_0F> + 32);
static_assert(kPackedGroupBytes<Q5_1F> == kPackedScalesAt<Q5_1F> + 64);
static_assert(kPackedGroupBytes<IQ4_NLF> == kPackedScalesAt<IQ4_NLF> + 32);

inline __m512 load_fp16x16(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Loads full group `gi` of a packed row.
template <class F>
inline void load_packed_group(const uint8_t* row, int64_t gi, GroupRow& r) {
  static_assert(kHasPacked<F>);
  const uint8_t* g = row + size_t(gi) * kPackedGroupBytes<F>;
  if constexpr (F::kNibbles) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    for (int j = 0; j < 4; ++j) {
      const __m512i pair = _mm512_loadu_si512(g + 64 * j);
      r.v[2 * j] = F::values(_mm512_and_si512(pair, low4));
      r.v[2 * j + 1] = F::values(_mm512_and_si512(_mm512_srli_epi16(pair, 4), low4));
    }
    if constexpr (F::kFifthBit)
      for (int k = 0; k < 8; ++k)
        r.v[k] = _mm512_mask_add_epi8(r.v[k], _cvtu64_mask64(load_u64(g + 256 + 8 * k)), r.v[k], _mm512_set1_epi8(0x10));
  } else {
    for (int k = 0; k < 8; ++k) r.v[k] = _mm512_loadu_si512(g + 64 * k);
  }
  r.d = load_fp16x16(g + kPackedScalesAt<F>);
  if constexpr (F::kMin) r.m = load_fp16x16(g + kPackedScalesAt<F> + 32);
}

template <class F>
void pack_rows(uint8_t* rows, size_t row_stride, int64_t n_rows, int64_t n) {
  static_assert(kHasPacked<F>);
  using Block = typename F::Block;
  const int64_t nb = n / QK;
  for (int64_t i = 0; i < n_rows; ++i) {
    auto* row = reinterpret_cast<Block*>(rows + size_t(i) * row_stride);
    for (int64_t gi = 0; gi < nb / kGroup; ++gi) {
      GroupRow r;
      uint16_t d16[kGroup], m16[kGroup] = {};
      for (int b = 0; b < kGroup; ++b) {
        std::memcpy(&d16[b], &row[gi * kGroup + b].d, sizeof(uint16_t));
        if constexpr (F::kMin) std::memcpy(&m16[b], &row[gi * kGroup + b].m, sizeof(uint16_t));
      }
      uint8_t* g = reinterpret_cast<uint8_t*>(row) + size_t(gi) * kPackedGroupBytes<F>;
      // load_group reads only this group's blocks, so the group is rewritten in place
      if constexpr (F::kNibbles) {
        // IQ4_NL: the table indices; Q5_0/Q5_1: values 0..31, split below
        if constexpr (F::kFifthBit) load_group<F>(row, nb, gi, r);
        else load_group<RawNibbles<F>>(row, nb, gi, r);
        const __m512i low4 = _mm512_set1_epi8(0x0F);
        // fields < 16, so the 16-bit shift stays inside each byte
        for (int j = 0; j < 4; ++j)
          _mm512_storeu_si512(g + 64 * j, _mm512_or_si512(_mm512_and_si512(r.v[2 * j], low4),
                                                          _mm512_slli_epi16(_mm512_and_si512(r.v[2 * j + 1], low4), 4)));
        if constexpr (F::kFifthBit)
          for (int k = 0; k < 8; ++k) {
            const uint64_t bits = _cvtmask64_u64(_mm512_test_epi8_mask(r.v[k], _mm512_set1_epi8(0x10)));
            std::memcpy(g + 256 + 8 * k, &bits, sizeof(bits));
          }
      } else {
        load_group<F>(row, nb, gi, r);
        for (int k = 0; k < 8; ++k) _mm512_storeu_si512(g + 64 * k, r.v[k]);
      }
      std::memcpy(g + kPackedScalesAt<F>, d16, sizeof(d16));
      if constexpr (F::kMin) std::memcpy(g + kPackedScalesAt<F> + 32, m16, sizeof(m16));
    }
  }
}

// Expands one token's Q8_0 row into ActQ groups.
template <class F>
void expand_activation(const BlockQ8_0* a, int64_t nb, ActQ* out) {
  const int64_t groups = (nb + kGroup - 1) / kGroup;
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t gi = 0; gi < groups; ++gi) {
    const int64_t valid = std::min<int64_t>(kGroup, nb - gi * kGroup);
    const BlockQ8_0* blk = a + gi * kGroup;
    alignas(64) uint16_t d16[16] = {};
    __m512i P[8];
    for (int p = 0; p < 8; ++p) {
      const int b0 = 2 * p, b1 = 2 * p + 1;
      const __m256i lo = b0 < valid ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[b0].qs)) : _mm256_setzero_si256();
      const __m256i hi = b1 < valid ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[b1].qs)) : _mm256_setzero_si256();
      P[p] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
    for (int b = 0; b < valid; ++b) d16[b] = blk[b].d;
    __m512i V[8];
    transpose_16x8(P, V);
    __m512i sum = _mm512_setzero_si512();
    for (int k = 0; k < 8; ++k) {
      _mm512_store_si512(out[gi].q + 64 * k, V[k]);
      sum = _mm512_dpbusd_epi32(sum, ones, V[k]);
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d16)));
    _mm512_store_ps(out[gi].d, d);
    if constexpr (F::kMin)
      _mm512_store_ps(reinterpret_cast<float*>(out[gi].extra), _mm512_mul_ps(d, _mm512_cvtepi32_ps(sum)));
    else
      _mm512_store_si512(out[gi].extra, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-F::kOffset)));
  }
}

// acc[t] += the products of one loaded group (group gi of a row) with NT
// tokens' groups (token t's at act[t * stride + gi]).
template <class F, int NT>
inline void dot_group_tokens(const GroupRow& r, const ActQ* act, int64_t stride, int64_t gi, __m512* acc) {
  // k outer, tokens inner: the NT dependency chains of vpdpbusd sit side
  // by side in program order, so the out-of-order core overlaps them
  // (integer sums: the order does not change the result).
  __m512i isum[NT];
  for (int t = 0; t < NT; ++t)
    isum[t] = F::kMin ? _mm512_setzero_si512() : _mm512_load_si512(act[t * stride + gi].extra);
  for (int k = 0; k < 8; ++k)
    for (int t = 0; t < NT; ++t)
      isum[t] = _mm512_dpbusd_epi32(isum[t], r.v[k], _mm512_load_si512(act[t * stride + gi].q + 64 * k));
  for (int t = 0; t < NT; ++t) {
    const ActQ& a = act[t * stride + gi];
    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(r.d, _mm512_load_ps(a.d)), acc[t]);
    if constexpr (F::kMin) acc[t] = _mm512_fmadd_ps(r.m, _mm512_load_ps(reinterpret_cast<const float*>(a.extra)), acc[t]);
  }
}

// One weight row against NT tokens (token t's groups at act + t * stride).
// stream: the row is one of a run read from memory (decode): prefetch ahead.
// Packed: the row's full groups are in the packed layout.
template <class F, int NT, bool Packed = false>
void row_dot(const typename F::Block* row, int64_t nb, const ActQ* act, int64_t stride, float* out,
             bool stream = false) {
  static_assert(!Packed || kHasPacked<F>);
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  const int64_t groups = (nb + kGroup - 1) / kGroup;
  GroupRow r;
  PageKick kick;
  const StreamPrefetch plan = stream_prefetch();
  constexpr size_t kGroupBytes = kGroup * sizeof(typename F::Block);
  for (int64_t gi = 0; gi < groups; ++gi) {
    if (NT <= 2 && stream) {
      // Decode streams weights from DRAM: keep more misses in flight than the
      // hardware prefetcher alone does (page_prefetch.h).
      prefetch_ahead(plan, row + gi * kGroup, kGroupBytes);
      kick.at(row + gi * kGroup);
    }
    if constexpr (Packed) {
      if (gi < nb / kGroup) load_packed_group<F>(reinterpret_cast<const uint8_t*>(row), gi, r);
      else load_group<F>(row, nb, gi, r);
    } else {
      load_group<F>(row, nb, gi, r);
    }
    dot_group_tokens<F, NT>(r, act, stride, gi, acc);
  }
  // unrolled: keeps acc in registers (see vec_dot_avx512.cpp)
#pragma GCC unroll 8
  for (int t = 0; t < NT; ++t) out[t] = hsum(acc[t]);
}

size_t actq_bytes(int64_t n) { return size_t((n / QK + kGroup - 1) / kGroup) * sizeof(ActQ); }

template <class F>
void actq_from_q8_0(const void* standard, void* out, int64_t n) {
  expand_activation<F>(static_cast<const BlockQ8_0*>(standard), n / QK, static_cast<ActQ*>(out));
}

constexpr int kTokenGroup = 8;

template <class F, bool Packed = false>
void tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a, size_t a_stride,
          int64_t n_tok, float* y, int64_t y_stride) {
  const int64_t nb = n / QK;
  const int64_t stride = int64_t(a_stride / sizeof(ActQ));  // a_stride is whole records
  for (int64_t t0 = 0; t0 < n_tok; t0 += kTokenGroup) {
    const int nt = int(std::min<int64_t>(kTokenGroup, n_tok - t0));
    const ActQ* act = reinterpret_cast<const ActQ*>(a + size_t(t0) * a_stride);
    for (int64_t r = 0; r < n_rows; ++r) {
      const auto* row = reinterpret_cast<const typename F::Block*>(w + size_t(r) * w_stride);
      float out[kTokenGroup];
      switch (nt) {
        case 1: row_dot<F, 1, Packed>(row, nb, act, stride, out, true); break;
        case 2: row_dot<F, 2, Packed>(row, nb, act, stride, out, true); break;
        case 3: row_dot<F, 3, Packed>(row, nb, act, stride, out, true); break;
        case 4: row_dot<F, 4, Packed>(row, nb, act, stride, out, true); break;
        case 5: row_dot<F, 5, Packed>(row, nb, act, stride, out, true); break;
        case 6: row_dot<F, 6, Packed>(row, nb, act, stride, out, true); break;
        case 7: row_dot<F, 7, Packed>(row, nb, act, stride, out, true); break;
        default: row_dot<F, 8, Packed>(row, nb, act, stride, out, true); break;
      }
      for (int t = 0; t < nt; ++t) y[(t0 + t) * y_stride + r] = out[t];
    }
  }
}

// Packed Q8_0, two rows against NT tokens over groups [g_begin, g_end):
// each activation vector loaded feeds both rows, halving the loads and the
// L1/L2 traffic per vpdpbusd (prefill reads activations far more often than
// weights). Registers: 4*NT accumulators + 2 weight vectors + 1 activation,
// so NT <= 6. acc[0..NT) (row 0) and acc[NT..2NT) (row 1) carry the float
// sums between calls; per row the accumulation is exactly row_dot's, so
// results are bit-identical.
template <int NT>
void row_pair_groups_packed(const BlockQ8_0* row0, const BlockQ8_0* row1, int64_t nb, const ActQ* act,
                            int64_t stride, int64_t g_begin, int64_t g_end, __m512* acc) {
  __m512 acc0[NT], acc1[NT];
  for (int t = 0; t < NT; ++t) {
    acc0[t] = acc[t];
    acc1[t] = acc[NT + t];
  }
  const int64_t full = nb / kGroup;
  for (int64_t gi = g_begin; gi < std::min(g_end, full); ++gi) {
    const auto* g0 = reinterpret_cast<const uint8_t*>(row0) + size_t(gi) * kPackedGroupBytes<Q8_0F>;
    const auto* g1 = reinterpret_cast<const uint8_t*>(row1) + size_t(gi) * kPackedGroupBytes<Q8_0F>;
    __m512i s0[NT], s1[NT];
    for (int t = 0; t < NT; ++t) s0[t] = s1[t] = _mm512_load_si512(act[t * stride + gi].extra);
    for (int k = 0; k < 8; ++k) {
      const __m512i w0 = _mm512_loadu_si512(g0 + 64 * k), w1 = _mm512_loadu_si512(g1 + 64 * k);
      for (int t = 0; t < NT; ++t) {
        const __m512i a = _mm512_load_si512(act[t * stride + gi].q + 64 * k);
        s0[t] = _mm512_dpbusd_epi32(s0[t], w0, a);
        s1[t] = _mm512_dpbusd_epi32(s1[t], w1, a);
      }
    }
    const __m512 d0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g0 + 512)));
    const __m512 d1 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g1 + 512)));
    for (int t = 0; t < NT; ++t) {
      const __m512 da = _mm512_load_ps(act[t * stride + gi].d);
      acc0[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0[t]), _mm512_mul_ps(d0, da), acc0[t]);
      acc1[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1[t]), _mm512_mul_ps(d1, da), acc1[t]);
    }
  }
  if (full * kGroup < nb && g_begin <= full && full < g_end) {  // short last group, standard layout
    __m512* accs[2] = {acc0, acc1};
    const BlockQ8_0* rows[2] = {row0, row1};
    for (int i = 0; i < 2; ++i) {
      GroupRow r;
      load_group<Q8_0F>(rows[i], nb, full, r);
      dot_group_tokens<Q8_0F, NT>(r, act, stride, full, accs[i]);
    }
  }
  for (int t = 0; t < NT; ++t) {
    acc[t] = acc0[t];
    acc[NT + t] = acc1[t];
  }
}

constexpr int kPairTokenGroup = 6;
// Groups per pass over the rows: 6 tokens' activations for 4 groups (15 KB)
// stay in L1 while every row pair of the tile runs over them; whole rows of
// 8-16 groups would not (measured: GEMM throughput falls by a third from
// n_in 4096 to 11008 without the split).
constexpr int64_t kChunkGroups = 4;

template <int NT>
void pair_tile_packed(const uint8_t* w, size_t w_stride, int64_t n_rows, int64_t nb, const ActQ* act, int64_t stride,
                      float* y, int64_t y_stride) {
  const int64_t pairs = n_rows / 2;
  struct Acc {
    __m512 v;
  };
  thread_local std::vector<Acc> acc_store;
  if (acc_store.size() < size_t(pairs * 2 * NT)) acc_store.resize(size_t(pairs * 2 * NT));
  std::fill_n(acc_store.begin(), pairs * 2 * NT, Acc{_mm512_setzero_ps()});
  const int64_t groups = (nb + kGroup - 1) / kGroup;
  auto row_at = [&](int64_t r) { return reinterpret_cast<const BlockQ8_0*>(w + size_t(r) * w_stride); };
  for (int64_t g0 = 0; g0 < groups; g0 += kChunkGroups)
    for (int64_t p = 0; p < pairs; ++p)
      row_pair_groups_packed<NT>(row_at(2 * p), row_at(2 * p + 1), nb, act, stride, g0, g0 + kChunkGroups,
                                 &acc_store[size_t(p * 2 * NT)].v);
  for (int64_t p = 0; p < pairs; ++p)
    for (int t = 0; t < NT; ++t)
      for (int i = 0; i < 2; ++i) y[t * y_stride + 2 * p + i] = hsum(acc_store[size_t(p * 2 * NT + i * NT + t)].v);
}

// Decode of a packed layout (one token): the tile's rows are one run of
// addresses, read in one loop with the group's products inline, each line
// prefetched once (LineStream) and the page kick carried from row to row.
// The same arithmetic as row_dot<F, 1, true>, so bit-identical; written
// out because that generic version (a call, a plan lookup and a fresh
// PageKick per row, per-group prefetch_ahead) streamed 12-18% slower from
// DRAM on Zen 5 (Q8_0, docs/benchmarks.md).
template <class F>
void stream_rows_packed(int64_t nb, const uint8_t* w, size_t w_stride, int64_t n_rows, const ActQ* act, float* y) {
  const int64_t full = nb / kGroup;
  PageKick kick;
  LineStream ahead(stream_prefetch(), w);
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = w + size_t(r) * w_stride;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t gi = 0; gi < full; ++gi) {
      const uint8_t* g = row + size_t(gi) * kPackedGroupBytes<F>;
      ahead.through(g + kPackedGroupBytes<F>);
      kick.at(g);
      GroupRow group;
      load_packed_group<F>(row, gi, group);
      dot_group_tokens<F, 1>(group, act, 0, gi, &acc);
    }
    if (full * kGroup < nb) {  // short last group, standard layout
      ahead.through(row + w_stride);
      GroupRow last;
      load_group<F>(reinterpret_cast<const typename F::Block*>(row), nb, full, last);
      dot_group_tokens<F, 1>(last, act, 0, full, &acc);
    }
    y[r] = hsum(acc);
  }
}

// Packed nibble-format tile: one-token calls stream the rows, others take
// them one at a time, up to kTokenGroup tokens per pass.
template <class F>
void tile_packed_nibbles(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
                         size_t a_stride, int64_t n_tok, float* y, int64_t y_stride) {
  if (n_tok == 1) return stream_rows_packed<F>(n / QK, w, w_stride, n_rows, reinterpret_cast<const ActQ*>(a), y);
  tile<F, true>(n, w, w_stride, n_rows, a, a_stride, n_tok, y, y_stride);
}

// Packed Q8_0 tile: one-token calls stream the rows (above), two-token ones
// take them one at a time with prefetch; prefill takes rows in pairs,
// kPairTokenGroup tokens per pass.
void tile_packed_q8_0(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
                      size_t a_stride, int64_t n_tok, float* y, int64_t y_stride) {
  if (n_tok == 1) return stream_rows_packed<Q8_0F>(n / QK, w, w_stride, n_rows, reinterpret_cast<const ActQ*>(a), y);
  if (n_tok <= 2) return tile<Q8_0F, true>(n, w, w_stride, n_rows, a, a_stride, n_tok, y, y_stride);
  const int64_t nb = n / QK;
  const int64_t stride = int64_t(a_stride / sizeof(ActQ));
  const int64_t even_rows = n_rows / 2 * 2;
  for (int64_t t0 = 0; t0 < n_tok; t0 += kPairTokenGroup) {
    const int nt = int(std::min<int64_t>(kPairTokenGroup, n_tok - t0));
    const ActQ* act = reinterpret_cast<const ActQ*>(a + size_t(t0) * a_stride);
    float* yt = y + t0 * y_stride;
    switch (nt) {
      case 1: pair_tile_packed<1>(w, w_stride, even_rows, nb, act, stride, yt, y_stride); break;
      case 2: pair_tile_packed<2>(w, w_stride, even_rows, nb, act, stride, yt, y_stride); break;
      case 3: pair_tile_packed<3>(w, w_stride, even_rows, nb, act, stride, yt, y_stride); break;
      case 4: pair_tile_packed<4>(w, w_stride, even_rows, nb, act, stride, yt, y_stride); break;
      case 5: pair_tile_packed<5>(w, w_stride, even_rows, nb, act, stride, yt, y_stride); break;
      default: pair_tile_packed<6>(w, w_stride, even_rows, nb, act, stride, yt, y_stride); break;
    }
    if (even_rows < n_rows)  // odd last row
      tile<Q8_0F, true>(n, w + size_t(even_rows) * w_stride, w_stride, 1, a + size_t(t0) * a_stride, a_stride, nt,
                        yt + even_rows, y_stride);
  }
}

// Standard Q8_0 activation: expand into a thread-local copy first.
template <class F>
float vec_dot(int64_t n, const void* w, const void* a) {
  thread_local std::vector<ActQ> act;
  const int64_t groups = (n / QK + kGroup - 1) / kGroup;
  if (act.size() < size_t(groups)) act.resize(size_t(groups));
  actq_from_q8_0<F>(a, act.data(), n);
  float y = 0;
  row_dot<F, 1>(static_cast<const typename F::Block*>(w), n / QK, act.data(), 0, &y);
  return y;
}

}  // namespace

const DotKernel* avx512_q32_kernel(GgmlType weight) {
  using T = GgmlType;
#define LOWBIT_K_PACKED(TYPE, F) \
  {T::TYPE, T::Q8_0, &vec_dot<F>, &tile<F>, &actq_bytes, &actq_from_q8_0<F>, &pack_rows<F>, &tile_packed_nibbles<F>}
  static const DotKernel kTable[] = {
      LOWBIT_K_PACKED(Q4_0, Q4_0F),
      LOWBIT_K_PACKED(Q4_1, Q4_1F),
      LOWBIT_K_PACKED(Q5_0, Q5_0F),
      LOWBIT_K_PACKED(Q5_1, Q5_1F),
      {T::Q8_0, T::Q8_0, &vec_dot<Q8_0F>, &tile<Q8_0F>, &actq_bytes, &actq_from_q8_0<Q8_0F>, &pack_rows<Q8_0F>,
       &tile_packed_q8_0},
      LOWBIT_K_PACKED(IQ4_NL, IQ4_NLF)};
#undef LOWBIT_K_PACKED
  return find_in_table(kTable, weight);
}

}  // namespace lowbit::cpu
