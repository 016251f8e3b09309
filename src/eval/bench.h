// Speed of the engine on one model: prefill (a prompt of N tokens in one
// call) and decode (one token per call from an empty context, like
// llama-bench's pp/tg tests), each repeated and reported as the median. Decode
// is memory-bound, so next to its tokens/s we put the weight bytes it reads
// per token divided by the time per token, and the machine's streaming-read
// bandwidth probed just before each decode run (cpu/bandwidth.h): their ratio
// says how close decode comes to the memory limit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lowbit::model {
class Model;
}

namespace lowbit::eval {

struct BenchOptions {
  int64_t prompt = 512;  // prefill tokens (0: skip prefill)
  int64_t gen = 128;     // decoded tokens (0: skip decode)
  int64_t repeat = 3;
  bool measure_bandwidth = true;
  size_t bandwidth_bytes = size_t(1) << 30;
  uint64_t seed = 42;  // for the random token ids
};

double median(std::vector<double> values);

struct BenchResult {
  std::string model_path;
  std::string model_summary;
  uint64_t parameters = 0;
  uint64_t weight_bytes = 0;            // all mapped weights
  uint64_t decode_bytes_per_token = 0;  // weights one decode step reads
  int threads = 0;
  std::string isa;
  std::string prefetch;  // the decode kernels' stream prefetch (cpu/page_prefetch.h)
  BenchOptions options;
  std::vector<double> prefill_tps, decode_tps;  // one per repeat, tokens/s
  double prefill_tps_median = 0, decode_tps_median = 0;
  double decode_gbps = 0;  // decode_bytes_per_token * decode_tps_median / 1e9
  // The read bandwidth is probed just before each decode run (this VM's moves
  // by tens of percent within a minute, so a figure from another moment says
  // little about a run); without decode, once at the end.
  std::vector<double> machine_gbps_runs;  // one per probe
  double machine_gbps = 0;                // median of the probes; 0 when not measured
  std::vector<double> bandwidth_ratio_runs;  // per decode run: its weight GB/s / the probe before it
  // Median of the per-run ratios.
  double bandwidth_ratio() const { return bandwidth_ratio_runs.empty() ? 0.0 : median(bandwidth_ratio_runs); }
};

// Weight bytes one decode step reads: every layer matrix, the output matrix,
// the norm vectors and one embedding row.
uint64_t decode_bytes_per_token(const model::Model& model);

// Runs the benchmark; `log` gets a line per measurement (may be empty).
BenchResult run_bench(const model::Model& model, const BenchOptions& options,
                      const std::function<void(const std::string&)>& log = {});

std::string render_bench_text(const BenchResult& r);
std::string render_bench_json(const BenchResult& r);

}  // namespace lowbit::eval
