// `lowbit run MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P]
//  [--seed S] [--threads N] [--ctx N] [--kv-type f16|q8_0]`: generates text,
// streaming it to stdout; speed and memory go to stderr at the end.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>

#include "cli/command.h"
#include "core/error.h"
#include "core/parallel.h"
#include "model/generate.h"

namespace lowbit::cli {
namespace {

struct RunArgs {
  std::string model;
  std::string prompt;
  int64_t n_predict = 128;
  float temperature = 0.8f;
  int32_t top_k = 40;
  float top_p = 0.95f;
  int64_t seed = -1;
  int threads = 0;
  int64_t ctx = 0;
  std::string kv_type = "f16";
  int64_t batch = 256;
  bool mmap = false;
};

double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

double peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) * 1024.0;  // Linux reports KiB
}

CommandRegistration run_command(
    "run", "Generate text from a prompt (GGUF file or HF folder), streaming it", 40,
    [](CLI::App& app) -> CommandRunner {
      auto a = std::make_shared<RunArgs>();
      app.add_option("model", a->model, "GGUF file or Hugging Face model folder")->required();
      app.add_option("-p,--prompt", a->prompt, "Prompt text")->required();
      app.add_option("-n,--n-predict", a->n_predict, "Tokens to generate at most")->capture_default_str()->check(
          CLI::Range(int64_t(0), int64_t(1) << 24));
      app.add_option("--temp", a->temperature, "Sampling temperature; 0 = greedy")->capture_default_str()->check(
          CLI::Range(0.0f, 100.0f));
      app.add_option("--top-k", a->top_k, "Keep the K most likely tokens; 0 = all")->capture_default_str()->check(
          CLI::Range(0, 1 << 30));
      app.add_option("--top-p", a->top_p, "Keep the smallest set of tokens with probability >= P")
          ->capture_default_str()
          ->check(CLI::Range(0.0001f, 1.0f));
      app.add_option("--seed", a->seed, "Random seed (default: from the clock, printed at the end)");
      app.add_option("-t,--threads", a->threads, "Threads (default: all cores)")->check(CLI::Range(0, 4096));
      add_mmap_flag(app, a->mmap);
      app.add_option("-c,--ctx", a->ctx, "Context size (default: the model's, at most 4096)")->check(
          CLI::Range(int64_t(1), int64_t(1) << 24));
      app.add_option("--kv-type", a->kv_type, "KV cache type: f16 or q8_0")->capture_default_str();
      app.add_option("-b,--batch", a->batch, "Prompt tokens per forward pass")->capture_default_str()->check(
          CLI::Range(int64_t(1), int64_t(4096)));
      return [a] {
        if (a->threads > 0) set_thread_count(a->threads);
        model::SessionOptions so;
        so.n_ctx = a->ctx;
        so.kv_type = model::kv_type_from_name(a->kv_type);
        so.n_batch = a->batch;
        model::GenerateOptions go;
        go.n_predict = a->n_predict;
        go.sampling.temperature = a->temperature;
        go.sampling.top_k = a->top_k;
        go.sampling.top_p = a->top_p;
        const uint64_t seed = a->seed >= 0 ? uint64_t(a->seed)
                                           : uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
        go.sampling.seed = seed;

        auto model = model::Model::open(a->model, weight_access(a->mmap));
        const Tokenizer tokenizer = Tokenizer::from_metadata(model->source().metadata());
        model::Session session(*model, so);

        std::fwrite(a->prompt.data(), 1, a->prompt.size(), stdout);
        std::fflush(stdout);
        const model::GenerateResult r = model::generate(session, tokenizer, a->prompt, go, [](std::string_view piece) {
          std::fwrite(piece.data(), 1, piece.size(), stdout);
          std::fflush(stdout);
        });
        std::fputc('\n', stdout);
        std::fflush(stdout);

        std::fprintf(stderr, "\n%s\n", model->config().summary().c_str());
        std::fprintf(stderr, "prefill: %zu tokens in %.3f s (%.1f tokens/s)\n", r.prompt_tokens.size(),
                     r.prefill_seconds, r.prefill_tokens_per_second());
        std::fprintf(stderr, "decode:  %zu tokens in %.3f s (%.1f tokens/s)%s\n", r.tokens.size(), r.decode_seconds,
                     r.decode_tokens_per_second(),
                     r.hit_eog ? ", stopped at end of text" : r.hit_context_end ? ", context full" : "");
        std::fprintf(stderr, "memory:  weights %.1f MiB mapped, KV cache %.1f MiB (ctx %lld, %s), peak RSS %.1f MiB\n",
                     mib(double(model->weight_bytes())), mib(double(session.kv_cache_bytes())),
                     static_cast<long long>(session.n_ctx()), model::kv_type_name(so.kv_type), mib(peak_rss_bytes()));
        std::fprintf(stderr, "sampling: temp %g, top-k %d, top-p %g, seed %llu, threads %d\n", double(a->temperature),
                     a->top_k, double(a->top_p), static_cast<unsigned long long>(seed), thread_count());
        return 0;
      };
    });

}  // namespace
}  // namespace lowbit::cli
