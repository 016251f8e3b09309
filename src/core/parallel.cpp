// A small persistent thread pool behind parallel_for. Workers spin briefly
// for the next job (sub-microsecond hand-off while decode issues a matmul
// every few microseconds), then sleep on a condition variable, so an
// oversubscribed machine (ctest -j, builds alongside) is not slowed by
// threads spinning for a core that another process holds. OpenMP's default
// spin-wait was 20-40x slower in exactly that case.
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
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
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

  // Runs fn(i, n) on every thread (the caller is thread 0) and waits.
  void run(const std::function<void(int, int)>& fn) {
    std::lock_guard<std::mutex> serial(run_mutex_);  // one job at a time
    job_ = &fn;
    error_ = nullptr;
    pending_.store(n_threads_ - 1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    execute(0);
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < kSpinIterations) LOWBIT_PAUSE();
      else std::this_thread::yield();
    }
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void execute(int index) {
    t_inside_pool = true;
    try {
      (*job_)(index, n_threads_);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
    t_inside_pool = false;
  }

  void worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t gen = generation_.load(std::memory_order_acquire);
      for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
        LOWBIT_PAUSE();
        gen = generation_.load(std::memory_order_acquire);
      }
      if (gen == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return generation_.load() != seen; });
        gen = generation_.load();
      }
      seen = gen;
      if (stop_) return;
      execute(index);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  const int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::mutex run_mutex_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  const std::function<void(int, int)>* job_ = nullptr;
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
  if (thread_count() == 1 || t_inside_pool) {
    fn(0, 1);
    return;
  }
  pool().run(fn);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (n + grain - 1) / grain;
  if (thread_count() == 1 || chunks == 1 || t_inside_pool) {
    fn(0, n);
    return;
  }
  parallel_threads([&](int t, int nthreads) {
    const int64_t per = (chunks + nthreads - 1) / nthreads;
    const int64_t begin = std::min(n, int64_t(t) * per * grain);
    const int64_t end = std::min(n, int64_t(t + 1) * per * grain);
    if (begin < end) fn(begin, end);
  });
}

}  // namespace lowbit
