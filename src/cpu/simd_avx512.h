// Small AVX-512 helpers shared by the *_avx512.cpp kernel files (include only
// from files compiled with the AVX-512 flags).
#pragma once

// GCC 12's cast intrinsics (_mm512_castsi256_si512, ...) trip its own
// uninitialized-variable warnings; the upper lanes are don't-care by design.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

// The anonymous namespace gives every including file its own copies: the
// files are compiled with different ISA flags (*_avx512.cpp,
// *_avx512vbmi.cpp), and shared inline functions would let the linker keep the
// copy built with the wider instruction set.
namespace lowbit::cpu::avx512 {
namespace {

// 16 int32 lane constants, v[i] = fn(i), built at compile time.
struct alignas(64) Lanes {
  int32_t v[16];
};
template <class Fn>
constexpr Lanes make_lanes(Fn fn) {
  Lanes l{};
  for (int i = 0; i < 16; ++i) l.v[i] = fn(i);
  return l;
}

inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

// Two fp16 scales as [a x8 | b x8] floats.
inline __m512 two_scales(uint16_t a, uint16_t b) {
  const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(int16_t(a))),
                                            _mm_set1_epi16(int16_t(b)), 1);
  return _mm512_cvtph_ps(h);
}

inline float fp16(uint16_t h) { return _cvtsh_ss(h); }

inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline uint64_t load_u64(const void* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// 32 bytes from a and 32 bytes from b as one vector.
inline __m512i concat32(const void* a, const void* b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(static_cast<const __m256i*>(a))),
                            _mm256_loadu_si256(static_cast<const __m256i*>(b)), 1);
}

// 16 packed nibble bytes of a and of b -> 64 values 0..15 laid out
// [a low nibbles | a high nibbles | b low | b high] (the Q4_0 order: byte j
// holds weight j and weight j + 16).
inline __m512i unpack_nibbles_2x16(const uint8_t* a, const uint8_t* b) {
  const __m256i ab = _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(b)), 1);
  const __m512i dup = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), _mm512_castsi256_si512(ab));
  const __m512i shifted = _mm512_srlv_epi16(dup, _mm512_setr_epi64(0, 0, 0x0004000400040004LL, 0x0004000400040004LL, 0, 0,
                                                                    0x0004000400040004LL, 0x0004000400040004LL));
  return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
}

// 32 packed nibble bytes (the K-quant order: byte l holds weight l and l + 32)
// -> 64 values 0..15 in weight order.
inline __m512i unpack_nibbles_32(const uint8_t* p) {
  const __m512i dup = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  const __m512i shifted = _mm512_srlv_epi16(dup, _mm512_setr_epi64(0, 0, 0, 0, 0x0004000400040004LL, 0x0004000400040004LL,
                                                                    0x0004000400040004LL, 0x0004000400040004LL));
  return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F));
}

// Sixteen int16 lanes (a 256-bit vector) spread so that 32-bit lane i of a
// maddubs/dpwssd result over 64 weights gets the scale of its sub-block:
// sub-blocks of 32 -> [s(2k) x16 words | s(2k+1) x16 words]; of 16 -> four
// scales, one per 128-bit lane.
inline __m512i scales_for_32(__m512i s16, int k) {
  const __m512i idx = _mm512_inserti64x4(_mm512_set1_epi16(int16_t(2 * k)), _mm256_set1_epi16(int16_t(2 * k + 1)), 1);
  return _mm512_permutexvar_epi16(idx, s16);
}
inline __m512i scales_for_16(__m512i s16, int k) {
  const __m512i idx = _mm512_setr_epi32(4 * k * 0x10001, 4 * k * 0x10001, 4 * k * 0x10001, 4 * k * 0x10001,
                                        (4 * k + 1) * 0x10001, (4 * k + 1) * 0x10001, (4 * k + 1) * 0x10001,
                                        (4 * k + 1) * 0x10001, (4 * k + 2) * 0x10001, (4 * k + 2) * 0x10001,
                                        (4 * k + 2) * 0x10001, (4 * k + 2) * 0x10001, (4 * k + 3) * 0x10001,
                                        (4 * k + 3) * 0x10001, (4 * k + 3) * 0x10001, (4 * k + 3) * 0x10001);
  return _mm512_permutexvar_epi16(idx, s16);
}

// Transposes 8 vectors P[p] = [block 2p dwords 0..7 | block 2p+1 dwords 0..7]
// into V[k] = [dword k of blocks 0..15], in three rounds of 2-source permutes
// that each double the blocks and halve the dwords per vector.
inline void transpose_16x8(const __m512i P[8], __m512i V[8]) {
  // round 1: blocks 4i..4i+3 x dwords 4h..4h+3, lane = 4b + kk
  static constexpr Lanes r1[2] = {
      make_lanes([](int L) { int b = L / 4, kk = L % 4; return b < 2 ? b * 8 + kk : 16 + (b - 2) * 8 + kk; }),
      make_lanes([](int L) { int b = L / 4, kk = L % 4; return b < 2 ? b * 8 + 4 + kk : 16 + (b - 2) * 8 + 4 + kk; })};
  // round 2: blocks 8m..8m+7 x dwords 2q..2q+1 of the half, lane = 2b + kk
  static constexpr Lanes r2[2] = {
      make_lanes([](int L) { int b = L / 2, kk = L % 2; return b < 4 ? b * 4 + kk : 16 + (b - 4) * 4 + kk; }),
      make_lanes([](int L) { int b = L / 2, kk = L % 2; return b < 4 ? b * 4 + 2 + kk : 16 + (b - 4) * 4 + 2 + kk; })};
  // round 3: blocks 0..15 x one dword, lane = b
  static constexpr Lanes r3[2] = {make_lanes([](int b) { return b < 8 ? b * 2 : 16 + (b - 8) * 2; }),
                                  make_lanes([](int b) { return b < 8 ? b * 2 + 1 : 16 + (b - 8) * 2 + 1; })};
  __m512i R[4][2], S[2][2][2];
  for (int i = 0; i < 4; ++i)
    for (int h = 0; h < 2; ++h) R[i][h] = _mm512_permutex2var_epi32(P[2 * i], _mm512_load_si512(r1[h].v), P[2 * i + 1]);
  for (int m = 0; m < 2; ++m)
    for (int h = 0; h < 2; ++h)
      for (int q = 0; q < 2; ++q)
        S[m][h][q] = _mm512_permutex2var_epi32(R[2 * m][h], _mm512_load_si512(r2[q].v), R[2 * m + 1][h]);
  for (int h = 0; h < 2; ++h)
    for (int q = 0; q < 2; ++q)
      for (int kk = 0; kk < 2; ++kk)
        V[4 * h + 2 * q + kk] = _mm512_permutex2var_epi32(S[0][h][q], _mm512_load_si512(r3[kk].v), S[1][h][q]);
}

}  // namespace
}  // namespace lowbit::cpu::avx512
