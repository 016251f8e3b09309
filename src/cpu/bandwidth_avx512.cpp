// AVX-512 read loop for the bandwidth probe (see bandwidth.h): independent
// 512-bit accumulators so the loads, not the adds, set the pace. `streams`
// equal parts of the range are read interleaved, 256 bytes of each per step:
// one core fetches more from several sequential streams than from one.
// `prefetch` (one stream): the decode kernels' software prefetch as well
// (page_prefetch.h), which lets one core read more than the hardware
// prefetcher alone fetches for it, so the probe stays their ceiling.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "cpu/page_prefetch.h"

namespace lowbit::cpu {

uint64_t sum_words_avx512(const uint64_t* p, size_t n, int streams, bool prefetch) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  if (streams < 1 || prefetch) streams = 1;
  const size_t part = n / size_t(streams) / 32 * 32;  // words per stream, whole 256-byte steps
  PageKick kick;
  LineStream ahead(prefetch ? stream_prefetch() : StreamPrefetch{}, p);
  for (size_t i = 0; i < part; i += 32) {
    if (prefetch) {
      ahead.through(p + i + 32);
      kick.at(p + i);
    }
    for (int s = 0; s < streams; ++s) {
      const uint64_t* q = p + size_t(s) * part + i;
      a0 = _mm512_add_epi64(a0, _mm512_load_si512(q));
      a1 = _mm512_add_epi64(a1, _mm512_load_si512(q + 8));
      a2 = _mm512_add_epi64(a2, _mm512_load_si512(q + 16));
      a3 = _mm512_add_epi64(a3, _mm512_load_si512(q + 24));
    }
  }
  // Lanes summed through memory: GCC 12's _mm512_reduce_add_epi64 warns of an
  // uninitialized value inside its own header here.
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
  uint64_t s = 0;
  for (uint64_t v : lanes) s += v;
  for (size_t i = part * size_t(streams); i < n; ++i) s += p[i];
  return s;
}

}  // namespace lowbit::cpu
