// Memory read bandwidth probe: streams over a buffer much larger than the
// caches with all threads and reports GB/s (1e9 bytes per second). Used by the
// `bench` command and bench/ to put kernel throughput next to what the memory
// can deliver on the same machine, in the same run.
#pragma once

#include <cstddef>

namespace lowbit::cpu {

// Allocates `bytes` (rounded up to 64; huge pages where available), touches
// them, then reads the buffer `repeats` times with `threads` threads (<= 0:
// thread_count(); the process thread count is set to it for the duration),
// each pass as one sequential stream per thread and (with AVX-512) as four,
// and as one with the decode kernels' software prefetch; returns the best
// pass in GB/s.
double measure_read_bandwidth_gbps(size_t bytes = size_t(1) << 30, int threads = 0, int repeats = 5);

}  // namespace lowbit::cpu
