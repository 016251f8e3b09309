// Multithreading for the whole library: a process-wide thread count (all
// cores by default, --threads overrides) and parallel_for over index ranges.
// Backed by a persistent pool (workers spin briefly, then sleep), so a
// parallel_for per matrix product in decode costs about a microsecond.
#pragma once

#include <cstdint>
#include <functional>

namespace lowbit {

int thread_count();
void set_thread_count(int n);  // n <= 0: all cores

// Calls fn(begin, end) on disjoint chunks covering [0, n), chunks aligned to
// `grain` items, claimed dynamically by up to thread_count() threads. Exceptions thrown by fn
// are rethrown on the calling thread.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Calls fn(i, n) once for each i < n = thread_count(), spread over the
// pool's threads (a thread that is late to start leaves its i to another, so
// fn may see several i on one thread; per-thread scratch stays safe).
void parallel_threads(const std::function<void(int, int)>& fn);

}  // namespace lowbit
