// Decode kernels read each weight matrix from memory once, in address order
// (rows are dense, so the rows a kernel reads one after another, or two side
// by side, are one run of addresses). Two helpers keep that stream ahead of
// the kernel:
//
// prefetch_ahead() fetches the bytes a fixed distance past each address the
// kernel reads, not "the next row": with the next row's block as target, rows
// of 11008 inputs (ffn_down) put the prefetches 12 KB ahead, and on Zen 4 the
// GEMV ran at half the speed of 4096-input rows. Where the lines go and how
// far ahead is a per-CPU choice (StreamPrefetch, once per process), because
// the cores measured want different ones (Q4_K packed GEMV from DRAM, one
// thread, median GB/s; docs/benchmarks.md has the tables):
//   Zen 4 (32 KiB L1d): into L2 16 KiB ahead 29.7 (11008 inputs) / 31.4
//     (4096); into L1 4 or 12 KiB ahead 19.4 / 16.0 (11008): the prefetched
//     lines and the 16 KB of activations evict each other.
//   Zen 5 (48 KiB L1d): into L1 8 KiB ahead 36.0 / 37.8; into L2 16 KiB
//     ahead 20.6 / 21.7, below no software prefetch at all (25.3 / 28.9).
//   Intel Xeon with AMX (48 KiB L1d): into L1 8 KiB ahead is the worst plan
//     but none (7B Q4_K_M decode 20-25% below the others); into L2 16 KiB
//     ahead and into L1 4 KiB ahead are level (GEMV 13-16 GB/s, near the
//     probe), L2 16 KiB slightly ahead on the whole model.
// So: into L1 8 KiB ahead on AMD CPUs whose L1d holds at least 48 KiB, else
// into L2 16 KiB ahead. LOWBIT_PREFETCH=l1:BYTES|l2:BYTES|off overrides (for
// measuring a new CPU); stream_prefetch_name() says what runs.
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
// The inline helpers are in an anonymous namespace: included by files built
// with different ISA flags (_mm_prefetch itself is baseline x86-64).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace lowbit::cpu {

struct StreamPrefetch {
  bool into_l1 = false;   // prefetcht0; else prefetcht1 (L2)
  size_t distance = 0;    // bytes past the read position; 0: no prefetch
};

// The plan for this CPU (or LOWBIT_PREFETCH), chosen on first use.
const StreamPrefetch& stream_prefetch();
// The rule behind it: env is LOWBIT_PREFETCH's value (or null), l1d_bytes
// the L1 data cache size (<= 0: unknown), amd whether the CPU is AMD's.
StreamPrefetch choose_stream_prefetch(const char* env, long l1d_bytes, bool amd);
std::string stream_prefetch_name();  // "l1:10240", "l2:16384" or "off"

namespace {

// Prefetches the `bytes` starting plan.distance past p (the block the kernel
// reads now). Prefetches never fault, so reaching past the end of the matrix
// is harmless. Kernels copy the plan once per row, outside their loops.
inline void prefetch_ahead(const StreamPrefetch& plan, const void* p, size_t bytes) {
  if (plan.distance == 0) return;
  const char* ahead = static_cast<const char*>(p) + plan.distance;
  if (plan.into_l1)
    for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
  else
    for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T1);
}

// prefetch_ahead() for a kernel that reads one run of addresses from start
// to end in order (the rows of a tile one after another, or a row pair
// stored interleaved): each line is prefetched exactly once, plan.distance
// past the read position, where prefetch_ahead() per block repeats the lines
// neighbouring blocks share (a Q8_0 group is 8.5 lines, a Q4_K block 2.25).
// On Zen 5 the packed Q8_0 one-token kernel read 5-8% more per second from
// DRAM this way than with prefetch_ahead() per group (docs/benchmarks.md).
class LineStream {
 public:
  LineStream(const StreamPrefetch& plan, const void* start)
      : next_((reinterpret_cast<uintptr_t>(start) + plan.distance) & ~uintptr_t(63)),
        distance_(plan.distance),
        into_l1_(plan.into_l1) {}
  // The kernel reads up to `end` (exclusive) next: prefetch through end + distance.
  void through(const void* end) {
    if (distance_ == 0) return;
    const uintptr_t limit = reinterpret_cast<uintptr_t>(end) + distance_;
    if (into_l1_)
      for (; next_ < limit; next_ += 64) _mm_prefetch(reinterpret_cast<const char*>(next_), _MM_HINT_T0);
    else
      for (; next_ < limit; next_ += 64) _mm_prefetch(reinterpret_cast<const char*>(next_), _MM_HINT_T1);
  }

 private:
  uintptr_t next_;
  size_t distance_;
  bool into_l1_;
};

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
