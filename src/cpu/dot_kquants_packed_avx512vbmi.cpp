// Packed-layout kernels for Q4_K and Q6_K (WeightLayout::Packed), AVX-512
// VNNI + VBMI. The method and the shared kernel loop: cpu/kquants_avx512.h.
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
//   Q6_K ql as Q4_K's qs for the low 4 bits of z[k]; qh byte p holds the
//        high 2 bits of z[k] byte p in bits 2k, 2k + 1. Scales and d as stored.
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

inline void load_nibble_pairs(const uint8_t* in, __m512i z[4]) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i a = _mm512_loadu_si512(in), b = _mm512_loadu_si512(in + 64);
  z[0] = _mm512_and_si512(a, low4);
  z[1] = _mm512_and_si512(_mm512_srli_epi16(a, 4), low4);
  z[2] = _mm512_and_si512(b, low4);
  z[3] = _mm512_and_si512(_mm512_srli_epi16(b, 4), low4);
}

struct Q4_KPackedF {
  using Block = BlockQ4_K;
  static void load(const Block& b, KRow& r) {
    load_nibble_pairs(b.qs, r.z);
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&b));
    // qwords 0, 1: bytes 4..11 (scales at bits 0..47); qwords 2, 3: bytes 10..15 (mins)
    const __m256i spread = _mm256_permutexvar_epi8(
        _mm256_setr_epi8(4, 5, 6, 7, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11, 10, 11, 12, 13, 14, 15, 15, 15, 10, 11, 12, 13,
                         14, 15, 15, 15),
        _mm256_castsi128_si256(h));
    const __m256i fields = _mm256_and_si256(
        _mm256_multishift_epi64_epi8(_mm256_setr_epi8(0, 0, 6, 6, 12, 12, 18, 18, 24, 24, 30, 30, 36, 36, 42, 42, 0, 0, 6, 6,
                                                      12, 12, 18, 18, 24, 24, 30, 30, 36, 36, 42, 42),
                                     spread),
        _mm256_set1_epi8(0x3F));
    const __m128 dd = _mm_cvtph_ps(h);  // d, dmin
    r.sd = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(fields))), _mm512_broadcastss_ps(dd));
    r.md = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(fields, 1))),
                         _mm512_broadcastss_ps(_mm_movehdup_ps(dd)));
  }
  static void pack(Block& b) {
    __m512i z[4];
    q4k_nibbles(b.qs, z);
    store_nibble_pairs(b.qs, z);
    // 8 scales then 8 mins, 6 bits each, little-endian bit order from byte 4
    uint64_t scales = 0, mins = 0;
    for (int j = 0; j < 8; ++j) {
      int sc, m;
      scale_min_k4(j, b.scales, sc, m);
      scales |= uint64_t(sc) << (6 * j);
      mins |= uint64_t(m) << (6 * j);
    }
    std::memcpy(b.scales, &scales, 6);  // little-endian: fields in bit order
    std::memcpy(b.scales + 6, &mins, 6);
  }
};

struct Q6_KPackedF {
  using Block = BlockQ6_K;
  static void load(const Block& b, KRow& r) {
    load_nibble_pairs(b.ql, r.z);
    const __m512i qh = _mm512_loadu_si512(b.qh), top2 = _mm512_set1_epi8(0x30);
    // bits 2k, 2k + 1 of each byte -> bits 4, 5 (16-bit shifts; the mask drops what crosses bytes)
    r.z[0] = _mm512_or_si512(r.z[0], _mm512_and_si512(_mm512_slli_epi16(qh, 4), top2));
    r.z[1] = _mm512_or_si512(r.z[1], _mm512_and_si512(_mm512_slli_epi16(qh, 2), top2));
    r.z[2] = _mm512_or_si512(r.z[2], _mm512_and_si512(qh, top2));
    r.z[3] = _mm512_or_si512(r.z[3], _mm512_and_si512(_mm512_srli_epi16(qh, 2), top2));
    q6k_header(b, r);
  }
  static void pack(Block& b) {
    KRow r;
    Q6_KF::load(b, r);
    store_nibble_pairs(b.ql, r.z);
    __m512i qh = _mm512_setzero_si512();
    for (int k = 0; k < 4; ++k) {
      const __m512i top = _mm512_and_si512(_mm512_srli_epi16(r.z[k], 4), _mm512_set1_epi8(3));
      qh = _mm512_or_si512(qh, _mm512_and_si512(_mm512_slli_epi16(top, 2 * k), _mm512_set1_epi8(int8_t(3 << (2 * k)))));
    }
    _mm512_storeu_si512(b.qh, qh);
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
  if (!cpu_has_avx512_vbmi()) return {};
  switch (weight) {
    case GgmlType::Q4_K: return {&pack_rows<Q4_KPackedF>, &tile<Q4_KPackedF, true>};
    case GgmlType::Q6_K: return {&pack_rows<Q6_KPackedF>, &tile<Q6_KPackedF, true>};
    default: return {};
  }
}

}  // namespace lowbit::cpu
