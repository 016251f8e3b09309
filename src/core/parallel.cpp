// A small persistent thread pool behind parallel_for. Workers spin briefly
// for the next job (sub-microsecond hand-off while decode issues a matmul
// every few microseconds), then sleep on a condition variable, so an
// oversubscribed machine (ctest -j, builds alongside) is not slowed by
// threads spinning for a core that another process holds.
//
// Work is handed out in chunks claimed from a shared counter, and the caller
// waits only for chunks that were claimed, never for a worker to wake up: if
// the OS has descheduled a worker (another process holds its core), the
// calling thread does that worker's share itself instead of idling until the
// next time slice. A statically split job (and OpenMP's default schedule)
// made 2-thread decode 20-40x slower in exactly that case.
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define LOWBIT_PAUSE() _mm_pause()
#else
#define LOWBIT_PAUSE() ((void)0)
#endif

namespace lowbit {
namespace {

constexpr int kSpinIterations = 20000;  // ~50-100 us of pause before sleeping

thread_local bool t_inside_pool = false;

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads) : n_threads_(n_threads) {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return n_threads_; }

  // Runs fn(c) for every chunk c < n_chunks on the calling thread and any
  // workers that show up, and returns when all chunks are done.
  void run(int64_t n_chunks, const std::function<void(int64_t)>& fn) {
    std::lock_guard<std::mutex> serial(run_mutex_);  // one job at a time
    job_.store(&fn, std::memory_order_relaxed);
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    // A new generation with chunk counter 0; workers of older generations
    // cannot claim from it (the claim compares the generation too).
    uint64_t gen;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      gen = generation_.load(std::memory_order_relaxed) + 1;
      n_chunks_.store(n_chunks, std::memory_order_relaxed);
      claim_.store(gen << 32, std::memory_order_relaxed);
      generation_.store(gen, std::memory_order_release);
    }
    cv_.notify_all();
    work(gen, fn);
    for (int spin = 0; done_.load(std::memory_order_acquire) != n_chunks; ++spin) {
      if (spin < kSpinIterations) LOWBIT_PAUSE();
      else std::this_thread::yield();
    }
    job_.store(nullptr, std::memory_order_relaxed);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // Claims and runs chunks of generation `gen` until none are left.
  void work(uint64_t gen, const std::function<void(int64_t)>& fn) {
    const int64_t n_chunks = n_chunks_.load(std::memory_order_acquire);
    t_inside_pool = true;
    for (;;) {
      uint64_t c = claim_.load(std::memory_order_acquire);
      int64_t chunk;
      do {
        if ((c >> 32) != (gen & 0xffffffffu)) {
          t_inside_pool = false;
          return;
        }
        chunk = int64_t(c & 0xffffffffu);
        if (chunk >= n_chunks) {
          t_inside_pool = false;
          return;
        }
      } while (!claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel));
      try {
        fn(chunk);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      done_.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      uint64_t gen = generation_.load(std::memory_order_acquire);
      for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
        LOWBIT_PAUSE();
        gen = generation_.load(std::memory_order_acquire);
      }
      const std::function<void(int64_t)>* job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (gen == seen) cv_.wait(lock, [&] { return generation_.load() != seen; });
        gen = generation_.load();
        if (stop_) return;
        job = job_.load(std::memory_order_acquire);
      }
      seen = gen;
      // job_ may already belong to a later generation than `gen` (or be
      // null); the generation check in every claim keeps us out of it.
      if (job) work(gen, *job);
    }
  }

  const int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::mutex run_mutex_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> claim_{0};  // generation << 32 | next chunk
  std::atomic<int64_t> done_{0};
  std::atomic<int64_t> n_chunks_{0};
  std::atomic<const std::function<void(int64_t)>*> job_{nullptr};
  std::mutex error_mutex_;
  std::exception_ptr error_;
  bool stop_ = false;
};

int g_threads = 0;
std::unique_ptr<ThreadPool> g_pool;
std::mutex g_pool_mutex;

ThreadPool& pool() {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  const int n = thread_count();
  if (!g_pool || g_pool->size() != n) {
    g_pool.reset();
    g_pool = std::make_unique<ThreadPool>(n);
  }
  return *g_pool;
}

}  // namespace

int thread_count() {
  if (g_threads <= 0) {
    unsigned hw = std::thread::hardware_concurrency();
    g_threads = hw ? int(hw) : 1;
  }
  return g_threads;
}

void set_thread_count(int n) {
  g_threads = n > 0 ? n : 0;
  thread_count();
}

void parallel_threads(const std::function<void(int, int)>& fn) {
  // Nested calls (a parallel_for inside a worker) run on the calling thread.
  const int n = thread_count();
  if (n == 1 || t_inside_pool) {
    fn(0, 1);
    return;
  }
  pool().run(n, [&](int64_t i) { fn(int(i), n); });
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t grains = (n + grain - 1) / grain;
  const int threads = thread_count();
  if (threads == 1 || grains == 1 || t_inside_pool) {
    fn(0, n);
    return;
  }
  // Chunks shrink as the work runs out: each is about 1/(4 x threads) of the
  // grains left, and at least one grain. The first ones are large enough that
  // claiming them costs nothing next to their work, and no chunk holds more
  // than an eighth of the job (with 2 threads), so a descheduled thread's
  // share can still be taken over. The last ones are a single grain, so the
  // threads finish within about a grain of each other: with equal chunks of a
  // sixteenth, a decode matmul's last chunk left the other thread idle for
  // about 3% of every product.
  thread_local std::vector<int64_t> starts;  // chunk c covers items [starts[c], starts[c + 1])
  starts.clear();
  for (int64_t done = 0; done < grains;) {
    starts.push_back(done * grain);
    done += std::max<int64_t>(1, (grains - done) / (4 * int64_t(threads)));
  }
  starts.push_back(n);
  const std::vector<int64_t>& bounds = starts;
  pool().run(int64_t(bounds.size()) - 1, [&](int64_t c) { fn(bounds[size_t(c)], bounds[size_t(c) + 1]); });
}

}  // namespace lowbit
