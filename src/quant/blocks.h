// Block structs of the ggml quantization formats, byte-compatible with ggml
// (same field order, no padding). fp16 fields are stored as raw uint16_t bits;
// convert with core/half.h (fp16_to_float / float_to_fp16). Little-endian.
// "bpw" = bits per weight including the block's scales.
#pragma once

#include <cstdint>

namespace lowbit::quant {

constexpr int QK = 32;     // weights per block of the simple formats (Q4_0..Q8_1, IQ4_NL)
constexpr int QK_K = 256;  // weights per super-block of the K formats (Q2_K..Q8_K, IQ4_XS)

// Q4_0, 4.5 bpw: x = d * (q - 8), q in 0..15.
// [0..2) d fp16 | [2..18) qs: byte j = q[j] (low nibble) | q[j+16] << 4.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[QK / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// Q4_1, 5 bpw: x = d * q + m, q in 0..15.
// [0..2) d fp16 | [2..4) m fp16 | [4..20) qs, nibbles as in Q4_0.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[QK / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

// Q5_0, 5.5 bpw: x = d * (q - 16), q in 0..31.
// [0..2) d fp16 | [2..6) qh: bit j = bit 4 of q[j] (uint32 LE) | [6..22) qs low nibbles as in Q4_0.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[QK / 2];
};
static_assert(sizeof(BlockQ5_0) == 22);

// Q5_1, 6 bpw: x = d * q + m, q in 0..31.
// [0..2) d | [2..4) m | [4..8) qh | [8..24) qs (as Q5_0).
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[QK / 2];
};
static_assert(sizeof(BlockQ5_1) == 24);

// Q8_0, 8.5 bpw: x = d * q, q in -127..127.
// [0..2) d fp16 | [2..34) qs int8.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[QK];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Q8_1, 9 bpw (activation format): x = d * q; s = d * sum(q) (fp16).
// [0..2) d | [2..4) s | [4..36) qs int8.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[QK];
};
static_assert(sizeof(BlockQ8_1) == 36);

// Q2_K, 2.625 bpw: 16 sub-blocks of 16; x = d*sc*q - dmin*m, q in 0..3, sc/m 4 bits.
// [0..16) scales: byte i = sc[i] | m[i] << 4 | [16..80) qs: two groups of 128
// weights; in group g, byte l (0..31) holds weights g*128 + 32*s + l at bits 2s..2s+1 (s = 0..3)
// | [80..82) d fp16 | [82..84) dmin fp16.
struct BlockQ2_K {
  uint8_t scales[QK_K / 16];
  uint8_t qs[QK_K / 4];
  uint16_t d;
  uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

// Q3_K, 3.4375 bpw: 16 sub-blocks of 16; x = d * (sc - 32) * (q - 4), q in 0..7, sc 6 bits.
// [0..32) hmask: bit 2 of q; weight i -> byte i % 32, bit i / 32, set = high bit 1
// | [32..96) qs: low 2 bits, laid out as Q2_K | [96..108) scales: 16 x 6 bits packed
// (low nibbles of sc 0..7 in bytes 0..7 low, sc 8..15 in bytes 0..7 high; the 2 high
// bits of sc j in byte 8 + j % 4 at bits 2*(j/4)) | [108..110) d fp16.
struct BlockQ3_K {
  uint8_t hmask[QK_K / 8];
  uint8_t qs[QK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

// Scale j (0..15, stored + 32) of the 12-byte Q3_K scale field: low nibble
// from byte j (j < 8) or the high nibble of byte j - 8, top 2 bits from
// byte 8 + j % 4 at bit 2 (j / 4).
inline int scale_k3(int j, const uint8_t* s) {
  const int low = j < 8 ? (s[j] & 15) : (s[j - 8] >> 4);
  return low | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
}

// Q4_K, 4.5 bpw: 8 sub-blocks of 32; x = d*sc*q - dmin*m, q in 0..15, sc/m 6 bits.
// [0..2) d | [2..4) dmin | [4..16) scales: 8 sc + 8 m, 6 bits each, packed as
// j<4: sc = s[j] & 63, m = s[j+4] & 63;  j>=4: sc = (s[j+4] & 15) | (s[j-4] >> 6) << 4,
// m = (s[j+4] >> 4) | (s[j] >> 6) << 4 | [16..144) qs: 4 chunks of 64 weights, chunk c byte l
// holds weight 64c + l (low nibble) and 64c + 32 + l (high nibble).
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[QK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// Scale and min j (0..7) of the 12-byte Q4_K/Q5_K scale field: 6 bits each,
// j < 4 in the low bits of bytes j and j + 4, j >= 4 split into a low nibble
// in byte j + 4 and the top 2 bits of bytes j - 4 (scale) and j (min).
inline void scale_min_k4(int j, const uint8_t* s, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Q5_K, 5.5 bpw: as Q4_K with q in 0..31; [16..48) qh: bit 4 of weight i at
// byte i % 32, bit i / 32 | [48..176) qs low nibbles as in Q4_K.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[QK_K / 8];
  uint8_t qs[QK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

// Q6_K, 6.5625 bpw: 16 sub-blocks of 16; x = d * sc * (q - 32), q in 0..63, sc int8.
// [0..128) ql: two halves of 128 weights; half h byte l (0..63): low nibble = weight
// 128h + l, high nibble = weight 128h + 64 + l (low 4 bits of q) | [128..192) qh: half h
// byte l (0..31) bits 2s..2s+1 = high 2 bits of weight 128h + 32s + l | [192..208) scales
// int8 | [208..210) d fp16.
struct BlockQ6_K {
  uint8_t ql[QK_K / 2];
  uint8_t qh[QK_K / 4];
  int8_t scales[QK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// Q8_K, 9.125 bpw (activation format for K dot products): x = d * q.
// [0..4) d float32 | [4..260) qs int8 | [260..292) bsums int16: sum of each 16 qs.
struct BlockQ8_K {
  float d;
  int8_t qs[QK_K];
  int16_t bsums[QK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

// IQ4_NL, 4.5 bpw: x = d * kvalues_iq4nl[q], q in 0..15.
// [0..2) d fp16 | [2..18) qs, nibbles as in Q4_0.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[QK / 2];
};
static_assert(sizeof(BlockIQ4_NL) == 18);

// IQ4_XS, 4.25 bpw: 8 sub-blocks of 32; x = d * (ls - 32) * kvalues_iq4nl[q], ls 6 bits.
// [0..2) d fp16 | [2..4) scales_h: bits 2j..2j+1 = high 2 bits of ls[j] | [4..8) scales_l:
// byte j/2, nibble j%2 = low 4 bits of ls[j] | [8..136) qs: sub-block j bytes 16j..16j+15,
// nibbles as in Q4_0.
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[QK_K / 64];
  uint8_t qs[QK_K / 2];
};
static_assert(sizeof(BlockIQ4_XS) == 136);

// The 16 non-linear levels of IQ4_NL / IQ4_XS (ggml's kvalues_iq4nl).
inline constexpr int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                             1,    13,   25,  38,  53,  69,  89,  113};

}  // namespace lowbit::quant
