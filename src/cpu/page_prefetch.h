// Decode kernels read each weight matrix from memory once, in address order
// (rows are dense, so the rows a kernel reads one after another, or two side
// by side, are one run of addresses). Two helpers keep that stream ahead of
// the kernel:
//
// prefetch_ahead() fetches the bytes kStreamAhead past each address the kernel
// reads into L2 (prefetcht1). The distance is fixed, not "the next row": with
// the next row's block as target, rows of 11008 inputs (ffn_down) put the
// prefetches 12 KB ahead into L1, where they and the 16 KB of activations
// evicted each other, and the GEMV ran at half the speed of 4096-input rows.
// Measured on the Zen 4 VM (Q4_K packed GEMV from DRAM, one thread, median
// GB/s, read bandwidth 30-32): next row into L1 16.0 (11008 inputs) / 28.6
// (4096); 16 KB ahead into L2 29.7 / 31.4; 6, 8, 12 and 24 KB 27-30; 4 and
// 12 KB into L1 19.4 and 16.0 (11008). docs/benchmarks.md has the table.
//
// PageKick: the hardware stream prefetchers follow a stream only within a
// 4 KiB page (they work on physical addresses, also inside a 2 MiB huge page)
// and must see new misses in the next page before they run ahead there
// again; a kernel that computes between its loads does not keep enough loads
// in flight for that, so without help its stream stalls at every page start.
// PageKick prefetches the first lines of the page two pages ahead of the read
// position, once per page, which restarts the prefetcher there before the
// kernel arrives. Measured with the next-row prefetch (11008 x 4096 GEMV from
// DRAM, median GB/s): Q4_K one thread 21.3-23.8 -> 26-28.9, Q6_K 19.3 ->
// 26.2, Q8_0 26.2 -> 34.5, Q4_K two threads 40.3 -> 49.5. The AVX2 and float
// kernels did not gain (they are slower than the memory), so only the
// AVX-512 block-format kernels use it.
//
// In an anonymous namespace: included by files built with different ISA
// flags (_mm_prefetch itself is baseline x86-64).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace lowbit::cpu {
namespace {

constexpr size_t kStreamAhead = 16 * 1024;

// Prefetches into L2 the `bytes` starting kStreamAhead past p (the block the
// kernel reads now). Prefetches never fault, so reaching past the end of
// the matrix is harmless.
inline void prefetch_ahead(const void* p, size_t bytes) {
  const char* ahead = static_cast<const char*>(p) + kStreamAhead;
  for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T1);
}

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
