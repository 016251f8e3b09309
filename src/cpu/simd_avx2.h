// Small AVX2 helpers shared by the *_avx2.cpp kernel files (include only from
// files compiled with the AVX2 flags).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace lowbit::cpu::avx2 {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float fp16(uint16_t h) { return _cvtsh_ss(h); }

inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 16 nibble bytes (byte j = weight j | weight j + 16 << 4) -> 32 values 0..15 in weight order.
inline __m256i unpack_nibbles16(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// 32 bytes whose bit j (0..31) is bit j of the 32-bit word m, as 0x00/0xFF.
inline __m256i expand_bits32(uint32_t m) {
  const __m256i shuffle = _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL, 0x0303030303030303LL);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(int(m)), shuffle);
  const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201ULL));
  return _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
}

// sum(w * a) of signed bytes as 8 int32 lanes (|w| times a with w's sign).
inline __m256i dot_signed(__m256i w_abs, __m256i w, __m256i a) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(a, w)), _mm256_set1_epi16(1));
}

}  // namespace lowbit::cpu::avx2
