// `lowbit bench MODEL [--threads N] [--prompt 512] [--gen 128] [--repeat 3] [--json] [--no-bandwidth]`:
// prefill and decode tokens/s, decode's weight bandwidth next to the machine's.
#include <cstdio>

#include "cli/command.h"
#include "core/parallel.h"
#include "eval/bench.h"
#include "model/model.h"

namespace lowbit::cli {
namespace {

struct BenchArgs {
  std::string model;
  int threads = 0;
  eval::BenchOptions options;
  bool json = false;
  bool no_bandwidth = false;
  bool quiet = false;
  bool mmap = false;
};

CommandRegistration bench_command(
    "bench", "Prefill and decode speed of a model, and decode's memory bandwidth against the machine's", 60,
    [](CLI::App& app) -> CommandRunner {
      auto a = std::make_shared<BenchArgs>();
      app.add_option("model", a->model, "GGUF file or Hugging Face folder")->required();
      app.add_option("-t,--threads", a->threads, "Threads (0: all cores)")->check(CLI::NonNegativeNumber);
      app.add_option("-p,--prompt", a->options.prompt, "Prompt tokens for the prefill test (0: skip)")
          ->capture_default_str()->check(CLI::Range(int64_t(0), int64_t(1) << 16));
      app.add_option("-n,--gen", a->options.gen, "Tokens for the decode test (0: skip)")
          ->capture_default_str()->check(CLI::Range(int64_t(0), int64_t(1) << 16));
      app.add_option("-r,--repeat", a->options.repeat, "Runs of each test (the median is reported)")
          ->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(1000)));
      app.add_flag("--json", a->json, "Print the result as JSON");
      app.add_flag("--no-bandwidth", a->no_bandwidth, "Skip the memory bandwidth probe");
      app.add_flag("-q,--quiet", a->quiet, "No per-run lines on stderr");
      add_mmap_flag(app, a->mmap);
      return [a] {
        set_thread_count(a->threads);
        eval::BenchOptions o = a->options;
        o.measure_bandwidth = !a->no_bandwidth;
        auto model = model::Model::open(a->model, weight_access(a->mmap));
        auto log = [&](const std::string& line) {
          if (!a->quiet) std::fprintf(stderr, "%s\n", line.c_str());
        };
        const eval::BenchResult r = eval::run_bench(*model, o, log);
        const std::string out = a->json ? eval::render_bench_json(r) : eval::render_bench_text(r);
        std::fwrite(out.data(), 1, out.size(), stdout);
        return 0;
      };
    });

}  // namespace
}  // namespace lowbit::cli
