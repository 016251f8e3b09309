// Prefill / decode speed and decode's memory bandwidth (see bench.h).
#include "eval/bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/ggml_type.h"
#include "core/isa.h"
#include "core/parallel.h"
#include "cpu/bandwidth.h"
#include "cpu/page_prefetch.h"
#include "io/model_source.h"
#include "model/model.h"
#include "model/session.h"

namespace lowbit::eval {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

uint64_t matrix_bytes(const cpu::WeightMatrix& w) { return uint64_t(w.n_out) * w.row_bytes; }

std::vector<int32_t> random_tokens(int64_t n, int64_t n_vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> dist(0, n_vocab - 1);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = int32_t(dist(rng));
  return t;
}

}  // namespace

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

uint64_t decode_bytes_per_token(const model::Model& model) {
  const model::LlamaConfig& c = model.config();
  uint64_t bytes = matrix_bytes(model.output()) + uint64_t(c.n_embd) * 4;  // + output norm
  const TensorView& embd = model.source().at("token_embd.weight");
  bytes += row_bytes(embd.type, c.n_embd);  // one embedding row
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const model::LayerWeights& l = model.layer(i);
    for (const model::LayerMatrix& m : model::kLayerMatrices) bytes += matrix_bytes(l.*m.member);
    bytes += (l.attn_norm.size() + l.ffn_norm.size() + l.bq.size() + l.bk.size() + l.bv.size()) * 4;
  }
  return bytes;
}

BenchResult run_bench(const model::Model& model, const BenchOptions& o,
                      const std::function<void(const std::string&)>& log) {
  if (o.prompt < 0 || o.gen < 0 || o.repeat < 1) fail("bench: prompt and gen must be >= 0 and repeat >= 1");
  if (o.prompt == 0 && o.gen == 0) fail("bench: nothing to measure (prompt and gen are both 0)");
  const model::LlamaConfig& c = model.config();
  BenchResult r;
  r.model_path = model.source().path();
  r.model_summary = c.summary();
  r.parameters = model.source().parameter_count();
  r.weight_bytes = model.weight_bytes();
  r.decode_bytes_per_token = decode_bytes_per_token(model);
  r.threads = thread_count();
  r.isa = isa_name(active_isa());
  r.prefetch = cpu::stream_prefetch_name();
  r.options = o;

  model::SessionOptions so;
  so.n_ctx = std::max<int64_t>({o.prompt, o.gen, 8});
  so.n_batch = std::clamp<int64_t>(o.prompt, 1, 512);
  model::Session session(model, so);
  const std::vector<int32_t> prompt = random_tokens(o.prompt, c.n_vocab, o.seed);
  const std::vector<int32_t> gen = random_tokens(o.gen, c.n_vocab, o.seed + 1);

  // Warm-up: pages the weights in and starts the thread team.
  session.reset();
  session.eval(std::span<const int32_t>(gen.empty() ? prompt.data() : gen.data(), 1));
  if (!prompt.empty()) {
    session.reset();
    session.eval(std::span<const int32_t>(prompt.data(), size_t(std::min<int64_t>(o.prompt, 16))));
  }

  auto probe = [&] {
    r.machine_gbps_runs.push_back(cpu::measure_read_bandwidth_gbps(o.bandwidth_bytes, r.threads, 2));
    if (log) log(fmt::format("memory read bandwidth: {:.2f} GB/s", r.machine_gbps_runs.back()));
  };
  for (int64_t rep = 0; rep < o.repeat; ++rep) {
    if (o.prompt > 0) {
      session.reset();
      const auto t = Clock::now();
      session.eval(prompt);
      const double s = seconds_since(t);
      r.prefill_tps.push_back(double(o.prompt) / s);
      if (log) log(fmt::format("prefill {} tokens: {:.3f} s, {:.1f} tokens/s", o.prompt, s, r.prefill_tps.back()));
    }
    if (o.gen > 0) {
      if (o.measure_bandwidth) probe();
      session.reset();
      const auto t = Clock::now();
      for (int64_t i = 0; i < o.gen; ++i) session.eval(std::span<const int32_t>(gen.data() + i, 1));
      const double s = seconds_since(t);
      r.decode_tps.push_back(double(o.gen) / s);
      if (o.measure_bandwidth)
        r.bandwidth_ratio_runs.push_back(double(r.decode_bytes_per_token) * r.decode_tps.back() / 1e9 /
                                         r.machine_gbps_runs.back());
      if (log) log(fmt::format("decode {} tokens: {:.3f} s, {:.2f} tokens/s", o.gen, s, r.decode_tps.back()));
    }
  }
  r.prefill_tps_median = median(r.prefill_tps);
  r.decode_tps_median = median(r.decode_tps);
  r.decode_gbps = double(r.decode_bytes_per_token) * r.decode_tps_median / 1e9;
  if (o.measure_bandwidth && o.gen == 0) probe();
  r.machine_gbps = median(r.machine_gbps_runs);
  return r;
}

std::string render_bench_text(const BenchResult& r) {
  std::string o = fmt::format("model    {}\n         {}\n", r.model_path, r.model_summary);
  o += fmt::format("weights  {:.2f} MB; a decode step reads {:.2f} MB\n", double(r.weight_bytes) / 1e6,
                   double(r.decode_bytes_per_token) / 1e6);
  o += fmt::format("threads  {}, kernels {}, decode prefetch {}, median of {} runs\n\n", r.threads, r.isa, r.prefetch,
                   r.options.repeat);
  o += fmt::format("{:<22} {:>12} {:>14}\n", "test", "tokens/s", "runs");
  auto runs = [](const std::vector<double>& v) {
    std::string s;
    for (double x : v) s += fmt::format("{}{:.1f}", s.empty() ? "" : " ", x);
    return s;
  };
  if (r.options.prompt > 0)
    o += fmt::format("{:<22} {:>12.2f}   {}\n", fmt::format("prefill pp{}", r.options.prompt), r.prefill_tps_median,
                     runs(r.prefill_tps));
  if (r.options.gen > 0) {
    o += fmt::format("{:<22} {:>12.2f}   {}\n", fmt::format("decode tg{}", r.options.gen), r.decode_tps_median,
                     runs(r.decode_tps));
    o += fmt::format("\ndecode weight bandwidth   {:8.2f} GB/s ({:.2f} MB x {:.2f} tokens/s)\n", r.decode_gbps,
                     double(r.decode_bytes_per_token) / 1e6, r.decode_tps_median);
    if (r.machine_gbps > 0) {
      std::string ratios;
      for (double x : r.bandwidth_ratio_runs) ratios += fmt::format(" {:.1f}", 100 * x);
      o += fmt::format("machine read bandwidth    {:8.2f} GB/s (median; probed before each decode run, {} threads: {})\n"
                       "decode / machine          {:8.1f} % (median of the runs:{})\n",
                       r.machine_gbps, r.threads, runs(r.machine_gbps_runs), 100 * r.bandwidth_ratio(), ratios);
    }
  }
  return o;
}

std::string render_bench_json(const BenchResult& r) {
  nlohmann::ordered_json j;
  j["model"] = r.model_path;
  j["summary"] = r.model_summary;
  j["parameters"] = r.parameters;
  j["weight_bytes"] = r.weight_bytes;
  j["decode_bytes_per_token"] = r.decode_bytes_per_token;
  j["threads"] = r.threads;
  j["isa"] = r.isa;
  j["prefetch"] = r.prefetch;
  j["repeat"] = r.options.repeat;
  j["prompt_tokens"] = r.options.prompt;
  j["gen_tokens"] = r.options.gen;
  j["prefill_tokens_per_s"] = r.prefill_tps_median;
  j["prefill_runs"] = r.prefill_tps;
  j["decode_tokens_per_s"] = r.decode_tps_median;
  j["decode_runs"] = r.decode_tps;
  j["decode_weight_gbps"] = r.decode_gbps;
  j["machine_read_gbps"] = r.machine_gbps;
  j["machine_read_runs"] = r.machine_gbps_runs;
  j["decode_bandwidth_ratio"] = r.bandwidth_ratio();
  j["decode_bandwidth_ratio_runs"] = r.bandwidth_ratio_runs;
  return j.dump(2) + "\n";
}

}  // namespace lowbit::eval
