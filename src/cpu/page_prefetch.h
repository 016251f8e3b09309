// Decode kernels read each weight matrix from memory once, in address order.
// The hardware stream prefetchers follow such a stream only within a 4 KiB
// page (they work on physical addresses, also inside a 2 MiB huge page) and
// must see new misses in the next page before they run ahead there again. A
// plain read loop keeps enough loads in flight to cover that; a kernel that
// computes between its loads does not, so without help its stream stalls at
// every page start. PageKick prefetches the first lines of the page two
// pages ahead of the read position, once per page, which restarts the
// prefetcher there before the kernel arrives.
//
// Measured on the Zen 4 VM (11008 x 4096 GEMV from DRAM, median GB/s, the
// kernels' prefetch of the next row kept): AVX-512 VNNI Q4_K one thread
// 21.3-23.8 -> 26-28.9, Q6_K 19.3 -> 26.2, Q8_0 26.2 -> 34.5, Q4_K two
// threads 40.3 -> 49.5. Kicking 1-4 pages ahead with 2-8 lines did about as
// well; 16 lines, or the kick without the next-row prefetch, did worse. The
// AVX2 and float kernels did not gain (they are slower than the memory), so
// only the AVX-512 block-format kernels use it. docs/benchmarks.md has more.
//
// In an anonymous namespace: included by files built with different ISA
// flags (_mm_prefetch itself is baseline x86-64).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace lowbit::cpu {
namespace {

class PageKick {
 public:
  // p: the address the kernel reads next (the furthest of its streams).
  void at(const void* p) {
    const uintptr_t page = (reinterpret_cast<uintptr_t>(p) >> kPageBits) + kPagesAhead;
    if (page == page_) return;
    page_ = page;
    // Prefetches never fault, so a page past the end of the matrix is harmless.
    const char* start = reinterpret_cast<const char*>(page << kPageBits);
    for (int i = 0; i < kLines; ++i) _mm_prefetch(start + 64 * i, _MM_HINT_T0);
  }

 private:
  static constexpr int kPageBits = 12;
  static constexpr uintptr_t kPagesAhead = 2;
  static constexpr int kLines = 4;
  uintptr_t page_ = 0;
};

}  // namespace
}  // namespace lowbit::cpu
