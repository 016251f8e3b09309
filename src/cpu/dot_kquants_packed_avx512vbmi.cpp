// Packed-layout kernels for Q3_K, Q4_K, Q5_K and Q6_K (WeightLayout::Packed), AVX-512
// VNNI + VBMI + GFNI. The method and the shared kernel loop: cpu/kquants_avx512.h.
#include <cstddef>

#include "core/isa.h"
#include "cpu/kquants_avx512.h"

namespace lowbit::cpu {
namespace {

using namespace lowbit::quant;
using namespace lowbit::cpu::avx512;

// Packed layouts (WeightLayout::Packed, rewritten in place by pack_rows, same
// size): the quant bytes hold the four interleaved vectors z[0..3] of the
// GGUF-layout load() (kquants_avx512.h), so unpacking needs no cross-lane
// permutes:
//   Q4_K qs[0..63]:  z[0] low nibble, z[1] high nibble (byte p = lane byte p);
//        qs[64..127]: z[2], z[3].
//        The 12 scale bytes hold the 8 scales then the 8 mins as 6-bit fields
//        (field j at bits 6j of bytes 4..9, resp. 10..15 of the block), which
//        one byte permute and one multishift unpack, instead of the GGUF
//        packing's scalar bit surgery.
//   Q6_K the 192 quant bytes (ql then qh) as three vectors V0..V2: byte p
//        of Vk holds z[k] byte p (6 bits) in bits 0..5 and bits 2k, 2k + 1
//        of z[3] byte p in bits 6, 7. z[0..2] are one AND each, z[3] three
//        shifts, two bit-selects and an AND: 9 vector operations for the
//        four vectors, where nibbles plus 2-bit fields took 17. From DRAM
//        one Zen 5 core read 28-33 GB/s with those and 35-41 with these
//        (docs/benchmarks.md): this kernel's arithmetic was its limit.
//        Scales and d as stored.
//   Q5_K qs as Q4_K's (the low nibbles); qh as four 64-bit masks, mask k
//        bit p = bit 4 of z[k] byte p (one masked add each); header as Q4_K's.
//   Q3_K qs as one vector, byte p holding the low two bits of z[k] byte p at
//        bits 2k, 2k + 1; hmask as four masks of bit 2 like Q5_K's; the 16
//        6-bit scales (stored + 32) in bit order, unpacked like Q4_K's.
// Unpacking was the bound once weights stream at full speed: the GEMV loop
// ran ~80 instructions per Q4_K row-block at ~6 per cycle.
inline void store_nibble_pairs(uint8_t* out, const __m512i z[4]) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (int h = 0; h < 2; ++h) {
    const __m512i lo = _mm512_and_si512(z[2 * h], low4), hi = _mm512_and_si512(z[2 * h + 1], low4);
    // hi < 16, so a 16-bit shift by 4 stays inside each byte
    _mm512_storeu_si512(out + 64 * h, _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4)));
  }
}

// The high nibbles by a GF(2) affine transform (output bit i = input bit
// i + 4), as the two-bit planes below.
constexpr long long kHighNibbleMatrix = 0x1020408000000000LL;

inline void load_nibble_pairs(const uint8_t* in, __m512i z[4]) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i a = _mm512_loadu_si512(in), b = _mm512_loadu_si512(in + 64);
  z[0] = _mm512_and_si512(a, low4);
  z[1] = _mm512_gf2p8affine_epi64_epi8(a, _mm512_set1_epi64(kHighNibbleMatrix), 0);
  z[2] = _mm512_and_si512(b, low4);
  z[3] = _mm512_gf2p8affine_epi64_epi8(b, _mm512_set1_epi64(kHighNibbleMatrix), 0);
}

// The 16 6-bit fields stored in bit order (field j at bits 6j) from byte
// First of a 16-byte load, as int32 lanes 0..15: one byte permute puts the
// 8 bytes holding fields 2q, 2q + 1 into qword q (from byte First + 3q/2,
// where field 2q starts at bit 4 (q % 2)), one multishift brings each field
// to its lane's low byte. Three operations where the GGUF packings take a
// dozen.
constexpr int32_t six_bit_source(int first, int g) {
  const int from = first + 3 * (g / 2) / 2 + 4 * (g % 2);
  int32_t dword = 0;
  for (int i = 0; i < 4; ++i) dword |= int32_t(std::min(from + i, 15)) << (8 * i);  // bytes past 15 are never selected
  return dword;
}

template <int First>
inline __m512i six_bit_fields(__m128i h) {
  static_assert(First + 12 <= 16, "the 12 field bytes lie inside the load");
  const __m512i spread = _mm512_permutexvar_epi8(LANES(six_bit_source(First, g)), _mm512_castsi128_si512(h));
  return _mm512_and_si512(_mm512_multishift_epi64_epi8(LANES(4 * ((g / 2) % 2) + 6 * (g % 2)), spread),
                          _mm512_set1_epi32(0x3F));
}

inline void store_six_bit_fields(uint8_t* out, const int (&fields)[16]) {
  for (int h = 0; h < 2; ++h) {
    uint64_t bits = 0;
    for (int j = 0; j < 8; ++j) bits |= uint64_t(fields[8 * h + j]) << (6 * j);
    std::memcpy(out + 6 * h, &bits, 6);  // little-endian: fields in bit order
  }
}

// Bit `bit` of every byte of z[0..3] as four 64-bit masks (Q3_K's third,
// Q5_K's fifth bits), and back as a masked add.
inline void store_bit_masks(uint8_t* out, const __m512i z[4], int bit) {
  for (int k = 0; k < 4; ++k) {
    const uint64_t m = _cvtmask64_u64(_mm512_test_epi8_mask(z[k], _mm512_set1_epi8(char(1 << bit))));
    std::memcpy(out + 8 * k, &m, sizeof(m));
  }
}

inline void add_bit_masks(const uint8_t* in, __m512i z[4], int bit) {
  for (int k = 0; k < 4; ++k)
    z[k] = _mm512_mask_add_epi8(z[k], _cvtu64_mask64(load_u64(in + 8 * k)), z[k], _mm512_set1_epi8(char(1 << bit)));
}

// Q3_K low bits: byte p of one 64-byte vector holds the two low bits of
// z[k] byte p at bits 2k, 2k + 1.
inline void store_two_bit_planes(uint8_t* out, const __m512i z[4]) {
  const __m512i three = _mm512_set1_epi8(3);
  __m512i v = _mm512_and_si512(z[0], three);
  // fields masked to 2 bits first, so the 16-bit shifts stay inside each byte
  for (int k = 1; k < 4; ++k) v = _mm512_or_si512(v, _mm512_slli_epi16(_mm512_and_si512(z[k], three), 2 * k));
  _mm512_storeu_si512(out, v);
}

// One GF(2) affine transform per vector moves bits 2k, 2k + 1 of each byte to
// bits 0, 1 and clears the rest (matrix row 7 - i selects output bit i): one
// operation where a shift and a mask took two, worth ~20% on the Q3_K GEMV.
constexpr long long two_bit_plane_matrix(int k) { return (1LL << (2 * k)) << 56 | (1LL << (2 * k + 1)) << 48; }

inline void load_two_bit_planes(const uint8_t* in, __m512i z[4]) {
  const __m512i v = _mm512_loadu_si512(in), three = _mm512_set1_epi8(3);
  z[0] = _mm512_and_si512(v, three);
  for (int k = 1; k < 4; ++k) z[k] = _mm512_gf2p8affine_epi64_epi8(v, _mm512_set1_epi64(two_bit_plane_matrix(k)), 0);
}

// Packed Q4_K/Q5_K header: the 8 scales then the 8 mins as 6-bit fields from
// byte 4, scaled by d (lanes 0..7) and dmin (8..15) in one multiply, then
// spread to the sub-block lanes (g -> field g / 2): 9 vector operations where
// two 16-lane conversions took 14.
inline void q4k_packed_header(const uint8_t* block, KRow& r) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block));
  const __m512 d_dmin = _mm512_permutexvar_ps(LANES(g / 8), _mm512_castps128_ps512(_mm_cvtph_ps(h)));
  const __m512 scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(six_bit_fields<4>(h)), d_dmin);
  r.sd = _mm512_permutexvar_ps(LANES(g / 2), scaled);
  r.md = _mm512_permutexvar_ps(LANES(8 + g / 2), scaled);
}

inline void pack_q4k_header(uint8_t* scales) {
  int fields[16];
  for (int j = 0; j < 8; ++j) scale_min_k4(j, scales, fields[j], fields[8 + j]);
  store_six_bit_fields(scales, fields);
}

struct Q4_KPackedF {
  using Block = BlockQ4_K;
  static void load(const Block& b, KRow& r) {
    load_nibble_pairs(b.qs, r.z);
    q4k_packed_header(reinterpret_cast<const uint8_t*>(&b), r);
  }
  static void pack(Block& b) {
    __m512i z[4];
    q4k_nibbles(b.qs, z);
    store_nibble_pairs(b.qs, z);
    pack_q4k_header(b.scales);
  }
};

struct Q5_KPackedF {
  using Block = BlockQ5_K;
  static void load(const Block& b, KRow& r) {
    load_nibble_pairs(b.qs, r.z);
    add_bit_masks(b.qh, r.z, 4);
    q4k_packed_header(reinterpret_cast<const uint8_t*>(&b), r);
  }
  static void pack(Block& b) {
    KRow r;
    Q5_KF::load(b, r);
    store_nibble_pairs(b.qs, r.z);
    store_bit_masks(b.qh, r.z, 4);
    pack_q4k_header(b.scales);
  }
};

struct Q3_KPackedF {
  using Block = BlockQ3_K;
  static constexpr float kOffset = Q3_KF::kOffset;
  static void load(const Block& b, KRow& r) {
    static_assert(offsetof(Block, scales) == offsetof(Block, qs) + 64 && offsetof(Block, d) == offsetof(Block, scales) + 12,
                  "the 16 bytes before the end of the block hold the scales");
    load_two_bit_planes(b.qs, r.z);
    add_bit_masks(b.hmask, r.z, 2);
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales - 2));  // ends with d: inside the block
    const __m512i s = _mm512_sub_epi32(six_bit_fields<2>(h), _mm512_set1_epi32(32));
    r.sd = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(fp16(b.d)));
  }
  static void pack(Block& b) {
    KRow r;
    Q3_KF::load(b, r);
    store_two_bit_planes(b.qs, r.z);
    store_bit_masks(b.hmask, r.z, 2);
    int fields[16];
    for (int j = 0; j < 16; ++j) fields[j] = scale_k3(j, b.scales);
    store_six_bit_fields(b.scales, fields);
  }
};

struct Q6_KPackedF {
  using Block = BlockQ6_K;
  static constexpr float kOffset = Q6_KF::kOffset;
  // bits from a where mask is set, else from b (vpternlogd truth table of C ? A : B)
  static __m512i select_bits(__m512i mask, __m512i a, __m512i b) { return _mm512_ternarylogic_epi32(a, b, mask, 0xE4); }
  static void load(const Block& b, KRow& r) {
    static_assert(offsetof(Block, qh) == offsetof(Block, ql) + 128, "the three vectors are one run of 192 bytes");
    const __m512i low6 = _mm512_set1_epi8(0x3F);
    const __m512i v0 = _mm512_loadu_si512(b.ql), v1 = _mm512_loadu_si512(b.ql + 64), v2 = _mm512_loadu_si512(b.qh);
    r.z[0] = _mm512_and_si512(v0, low6);
    r.z[1] = _mm512_and_si512(v1, low6);
    r.z[2] = _mm512_and_si512(v2, low6);
    // 16-bit shifts bring the top two bits of each byte of Vk to bits 2k, 2k + 1
    // (the bits above them are the next byte's, dropped by the selects and the AND)
    const __m512i top01 = _mm512_srli_epi16(v0, 6), top23 = _mm512_srli_epi16(v1, 4), top45 = _mm512_srli_epi16(v2, 2);
    const __m512i low4 = select_bits(_mm512_set1_epi8(0x03), top01, top23);
    r.z[3] = _mm512_and_si512(select_bits(_mm512_set1_epi8(0x0F), low4, top45), low6);
    q6k_header(b, r);
  }
  static void pack(Block& b) {
    KRow r;
    Q6_KF::load(b, r);
    const __m512i three = _mm512_set1_epi8(3);
    uint8_t* out[3] = {b.ql, b.ql + 64, b.qh};
    for (int k = 0; k < 3; ++k) {
      // bits 2k, 2k + 1 of z[3] to bits 6, 7 (masked to 2 bits first, so the 16-bit shifts stay inside each byte)
      const __m512i top = _mm512_and_si512(_mm512_srli_epi16(r.z[3], 2 * k), three);
      _mm512_storeu_si512(out[k], _mm512_or_si512(r.z[k], _mm512_slli_epi16(top, 6)));
    }
  }
};

// Packs each block in place, then stores each row pair block-interleaved
// (row 2p block b, row 2p + 1 block b, row 2p block b + 1, ...) so decode
// reads the weights as one sequential stream: two interleaved row streams
// kept fewer reads in flight (22 vs 33 GB/s on one Zen 4 core). An odd last
// row stays a single row. `rows` must start a row pair of the matrix.
template <class F>
void pack_rows(uint8_t* rows, size_t row_stride, int64_t n_rows, int64_t n) {
  using Block = typename F::Block;
  const int64_t nb = n / QK_K;
  for (int64_t r = 0; r < n_rows; ++r) {
    auto* blocks = reinterpret_cast<Block*>(rows + size_t(r) * row_stride);
    for (int64_t b = 0; b < nb; ++b) F::pack(blocks[b]);
  }
  std::vector<Block> pair(size_t(2 * nb));
  for (int64_t r = 0; r + 2 <= n_rows; r += 2) {
    uint8_t* base = rows + size_t(r) * row_stride;
    for (int h = 0; h < 2; ++h)
      for (int64_t b = 0; b < nb; ++b)
        std::memcpy(&pair[size_t(2 * b + h)], base + size_t(h) * row_stride + size_t(b) * sizeof(Block), sizeof(Block));
    std::memcpy(base, pair.data(), size_t(nb) * sizeof(Block));
    std::memcpy(base + row_stride, pair.data() + nb, size_t(nb) * sizeof(Block));
  }
}

}  // namespace

PackedKernel avx512vbmi_packed_kquant_kernel(GgmlType weight) {
  if (!cpu_has_avx512_vbmi_gfni()) return {};
  switch (weight) {
    case GgmlType::Q3_K: return {&pack_rows<Q3_KPackedF>, &tile<Q3_KPackedF, true>};
    case GgmlType::Q4_K: return {&pack_rows<Q4_KPackedF>, &tile<Q4_KPackedF, true>};
    case GgmlType::Q5_K: return {&pack_rows<Q5_KPackedF>, &tile<Q5_KPackedF, true>};
    case GgmlType::Q6_K: return {&pack_rows<Q6_KPackedF>, &tile<Q6_KPackedF, true>};
    default: return {};
  }
}

}  // namespace lowbit::cpu
