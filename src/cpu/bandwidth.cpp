// Streaming-read bandwidth probe (see bandwidth.h). The read loop sums 64-bit
// words with independent accumulators: 512-bit loads where the CPU has
// AVX-512 (bandwidth_avx512.cpp), else the baseline loop the compiler
// vectorizes with 16-byte loads. Slices start 64-byte aligned.
#include "cpu/bandwidth.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "core/isa.h"
#include "core/parallel.h"

namespace lowbit::cpu {

uint64_t sum_words_avx512(const uint64_t* p, size_t n, int streams, bool prefetch);  // bandwidth_avx512.cpp

namespace {

constexpr size_t kHugePage = size_t(2) << 20;

uint64_t sum_words(const uint64_t* p, size_t n) {
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
    a4 += p[i + 4]; a5 += p[i + 5]; a6 += p[i + 6]; a7 += p[i + 7];
  }
  for (; i < n; ++i) a0 += p[i];
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

}  // namespace

double measure_read_bandwidth_gbps(size_t bytes, int threads, int repeats) {
  if (bytes < 4096) fail("bandwidth probe: buffer of {} bytes is too small", bytes);
  bytes = (bytes + 63) & ~size_t(63);
  const size_t words = bytes / 8;
  // Anonymous memory with 2 MiB huge pages where the kernel gives them, as the
  // engine holds a model's weights (core/mapped_file.cpp): 4 KiB pages stop
  // hardware prefetch at every page end and would understate the memory.
  const size_t len = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* raw = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) fail("bandwidth probe: cannot allocate {} bytes", bytes);
  (void)::madvise(raw, len, MADV_HUGEPAGE);
  struct Unmap {
    void* p;
    size_t n;
    ~Unmap() { ::munmap(p, n); }
  } holder{raw, len};
  auto* buf = static_cast<uint64_t*>(raw);
  // The library's thread pool, at the requested size for the duration.
  const int saved_threads = thread_count();
  if (threads > 0) set_thread_count(threads);
  struct Restore {
    int n;
    ~Restore() { set_thread_count(n); }
  } restore{saved_threads};
  auto slice = [words](int t, int n, size_t& b, size_t& e) {
    const size_t per = ((words + size_t(n) - 1) / size_t(n) + 7) & ~size_t(7);  // whole 64-byte lines
    b = std::min(words, size_t(t) * per);
    e = std::min(words, b + per);
  };

  // Touch the pages from the threads that will read them (first-touch placement).
  parallel_threads([&](int t, int n) {
    size_t b, e;
    slice(t, n, b, e);
    for (size_t i = b; i < e; ++i) buf[i] = uint64_t(i);
  });

  const bool wide = active_isa() >= Isa::Avx512;
  volatile uint64_t sink = 0;
  double best = 0.0;
  std::vector<uint64_t> partial(static_cast<size_t>(thread_count()));
  // Passes cycle through one stream per thread, four, and one with the
  // decode kernels' software prefetch (AVX-512 only): the best pass is the
  // ceiling a kernel's read pattern is compared with.
  constexpr int kPatterns = 3;
  for (int r = 0; r < std::max(repeats, 1) * (wide ? kPatterns : 1); ++r) {
    const int pattern = wide ? r % kPatterns : 0;
    const auto t0 = std::chrono::steady_clock::now();
    parallel_threads([&](int t, int n) {
      size_t b, e;
      slice(t, n, b, e);
      partial[size_t(t)] =
          wide ? sum_words_avx512(buf + b, e - b, pattern == 1 ? 4 : 1, pattern == 2) : sum_words(buf + b, e - b);
    });
    const auto t1 = std::chrono::steady_clock::now();
    for (uint64_t v : partial) sink = sink + v;
    const double secs = std::chrono::duration<double>(t1 - t0).count();
    if (secs > 0) best = std::max(best, double(bytes) / secs / 1e9);
  }
  return best;
}

}  // namespace lowbit::cpu
