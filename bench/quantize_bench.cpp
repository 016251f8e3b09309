// Quantize / dequantize throughput per format, printed as JSON lines:
//   read_bandwidth  streaming read over 1 GiB with all threads (the ceiling)
//   quantize        GB/s of F32 input (4 bytes per weight), one thread and all;
//                   *_1t_cpu: one thread, per second of its own CPU time
//   dequantize      GB/s of F32 output, one thread and all
// Input: Gaussian weights (rows of 4096), 16 MiB of F32 per pass; figures are
// the median of the passes (the machine is shared). Threads split the rows
// with parallel_for, as quantize_model does.
// Usage: bench_quantize_bench [--quick] [--types Q4_K,Q6_K] [--imatrix] [--one-thread]
// --one-thread: only the one-thread figures (no bandwidth probe, no all-thread
// pass; the all-thread fields repeat the one-thread wall figures), which keeps
// the other core free on a shared machine.
// LOWBIT_ISA=scalar|avx2|avx512 picks the quantizer level (scalar = reference).
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/ggml_type.h"
#include "core/isa.h"
#include "core/parallel.h"
#include "cpu/bandwidth.h"
#include "quant/formats.h"

using namespace lowbit;

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of the calling thread: on a shared, loaded machine the one-thread
// figures use it (time the thread actually ran), next to wall time.
double thread_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Figures {
  double quantize_gbps, dequantize_gbps;
  double quantize_cpu_gbps = 0, dequantize_cpu_gbps = 0;  // one thread: per second of its CPU time
};

Figures measure(GgmlType t, const std::vector<float>& x, int64_t n_per_row, const float* importance, int threads,
                int passes) {
  set_thread_count(threads);
  const int64_t rows = int64_t(x.size()) / n_per_row;
  const size_t rb = row_bytes(t, n_per_row);
  std::vector<uint8_t> q(rb * size_t(rows));
  std::vector<float> y(x.size());
  const double bytes = double(x.size()) * 4;
  std::vector<double> tq, td, cq, cd;
  for (int p = 0; p < passes; ++p) {
    if (threads == 1) {
      // Single thread: straight on this thread, so its CPU time is the cost.
      double c0 = thread_seconds();
      quant::quantize_rows(t, x.data(), q.data(), rows, n_per_row, importance);
      cq.push_back(thread_seconds() - c0);
      c0 = thread_seconds();
      for (int64_t r = 0; r < rows; ++r)
        quant::dequantize_row(t, q.data() + size_t(r) * rb, y.data() + r * n_per_row, n_per_row);
      cd.push_back(thread_seconds() - c0);
    }
    double t0 = now_seconds();
    parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
      quant::quantize_rows(t, x.data() + r0 * n_per_row, q.data() + size_t(r0) * rb, r1 - r0, n_per_row, importance);
    });
    tq.push_back(now_seconds() - t0);
    t0 = now_seconds();
    parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        quant::dequantize_row(t, q.data() + size_t(r) * rb, y.data() + r * n_per_row, n_per_row);
    });
    td.push_back(now_seconds() - t0);
  }
  Figures f{bytes / median(tq) / 1e9, bytes / median(td) / 1e9};
  if (threads == 1) {
    f.quantize_cpu_gbps = bytes / median(cq) / 1e9;
    f.dequantize_cpu_gbps = bytes / median(cd) / 1e9;
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, with_imatrix = false, one_thread = false;
  std::string types = "Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,IQ4_NL,IQ4_XS,Q4_0,Q8_0";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--imatrix") with_imatrix = true;
    else if (a == "--one-thread") one_thread = true;
    else if (a == "--types" && i + 1 < argc) types = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--types Q4_K,...] [--imatrix] [--one-thread]\n", argv[0]);
      return 2;
    }
  }
  const int all = one_thread ? 1 : thread_count();
  const double bw = one_thread ? 0.0 : cpu::measure_read_bandwidth_gbps(size_t(1) << 30, all, quick ? 3 : 5);
  std::printf("{\"bench\":\"read_bandwidth\",\"threads\":%d,\"gbps\":%.2f}\n", all, bw);

  const int64_t n_per_row = 4096;
  const size_t n = quick ? (size_t(1) << 20) : (size_t(1) << 22);
  std::vector<float> x(n), importance(static_cast<size_t>(n_per_row));
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 0.02f);
  for (auto& v : x) v = normal(rng);
  std::uniform_real_distribution<float> uni(0.01f, 4.f);
  for (auto& v : importance) v = uni(rng) * uni(rng);
  const int passes = quick ? 3 : 7;

  size_t start = 0;
  while (start < types.size()) {
    size_t end = types.find(',', start);
    if (end == std::string::npos) end = types.size();
    const std::string name = types.substr(start, end - start);
    start = end + 1;
    const auto t = type_from_name(name);
    if (!t || !quant::can_quantize(*t)) {
      std::fprintf(stderr, "skipping %s: not a quantizable type\n", name.c_str());
      continue;
    }
    const float* imp = with_imatrix ? importance.data() : nullptr;
    const Figures one = measure(*t, x, n_per_row, imp, 1, passes);
    const Figures many = one_thread ? one : measure(*t, x, n_per_row, imp, all, passes);
    std::printf(
        "{\"bench\":\"quantize\",\"type\":\"%s\",\"isa\":\"%s\",\"imatrix\":%s,\"threads\":%d,"
        "\"quantize_gbps_1t\":%.3f,\"quantize_gbps_1t_cpu\":%.3f,\"quantize_gbps\":%.3f,"
        "\"dequantize_gbps_1t\":%.3f,\"dequantize_gbps_1t_cpu\":%.3f,\"dequantize_gbps\":%.3f,"
        "\"read_bandwidth_gbps\":%.2f}\n",
        name.c_str(), isa_name(active_isa()), with_imatrix ? "true" : "false", all, one.quantize_gbps,
        one.quantize_cpu_gbps, many.quantize_gbps, one.dequantize_gbps, one.dequantize_cpu_gbps, many.dequantize_gbps, bw);
    std::fflush(stdout);
  }
  return 0;
}
