// AVX-512 read loop for the bandwidth probe (see bandwidth.h): independent
// 512-bit accumulators so the loads, not the adds, set the pace. `streams`
// equal parts of the range are read interleaved, 256 bytes of each per step:
// one core fetches more from several sequential streams than from one.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace lowbit::cpu {

uint64_t sum_words_avx512(const uint64_t* p, size_t n, int streams) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  if (streams < 1) streams = 1;
  const size_t part = n / size_t(streams) / 32 * 32;  // words per stream, whole 256-byte steps
  for (size_t i = 0; i < part; i += 32) {
    for (int s = 0; s < streams; ++s) {
      const uint64_t* q = p + size_t(s) * part + i;
      a0 = _mm512_add_epi64(a0, _mm512_load_si512(q));
      a1 = _mm512_add_epi64(a1, _mm512_load_si512(q + 8));
      a2 = _mm512_add_epi64(a2, _mm512_load_si512(q + 16));
      a3 = _mm512_add_epi64(a3, _mm512_load_si512(q + 24));
    }
  }
  uint64_t s = uint64_t(_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3))));
  for (size_t i = part * size_t(streams); i < n; ++i) s += p[i];
  return s;
}

}  // namespace lowbit::cpu
