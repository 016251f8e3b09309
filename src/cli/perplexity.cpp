// `lowbit perplexity MODEL -f TEXT [--ctx 256] [--convention llamacpp|second_half|bos_all|all_but_first]
//  [--chunks N] [--threads N] [--json]`: perplexity of a model on a text, chunk by chunk.
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "eval/perplexity.h"
#include "model/model.h"
#include "model/session.h"
#include "tokenizer/tokenizer.h"

namespace lowbit::cli {
namespace {

struct PerplexityArgs {
  std::string model;
  std::string text;
  int64_t ctx = 256;
  std::string convention = "llamacpp";
  int64_t chunks = 0;
  int threads = 0;
  bool json = false;
  bool quiet = false;
  bool mmap = false;
};

int run_perplexity(const PerplexityArgs& a) {
  set_thread_count(a.threads);
  const auto convention = eval::parse_convention(a.convention);
  if (!convention)
    fail("--convention must be second_half, bos_all, all_but_first or llamacpp, not '{}'", a.convention);
  auto model = model::Model::open(a.model, weight_access(a.mmap));
  const Tokenizer tokenizer = Tokenizer::from_metadata(model->source().metadata());
  const std::vector<int32_t> text = eval::tokenize_text_file(a.text, tokenizer);
  const eval::ChunkPlan plan =
      eval::make_chunk_plan(*convention, a.ctx, int64_t(text.size()), a.chunks, tokenizer.bos(), tokenizer.add_bos());

  model::SessionOptions so;
  so.n_ctx = plan.n_fed();
  so.n_batch = plan.n_fed();
  model::Session session(*model, so);

  std::fprintf(stderr, "model: %s (%s)\ntext:  %s, %zu tokens\nplan:  %s\n", a.model.c_str(),
               model->config().summary().c_str(), a.text.c_str(), text.size(), plan.summary().c_str());
  Progress progress("perplexity", double(plan.n_chunks), !a.quiet);
  const eval::PerplexityResult r = eval::measure_perplexity(session, text, plan, [&](int64_t k, const eval::NllStats& s) {
    progress.update(double(k + 1), fmt::format("chunk {}/{} PPL {:.4f}", k + 1, plan.n_chunks, s.ppl()));
  });
  progress.finish();

  const double tokens_per_s = double(plan.n_chunks * plan.n_fed()) / r.seconds;
  if (a.json) {
    nlohmann::ordered_json j;
    j["model"] = a.model;
    j["text"] = a.text;
    j["text_tokens"] = text.size();
    j["convention"] = std::string(eval::convention_name(plan.convention));
    j["ctx"] = plan.ctx;
    j["chunks"] = plan.n_chunks;
    j["scored"] = r.stats.count;
    j["ppl"] = r.stats.ppl();
    j["ppl_error"] = r.stats.ppl_error();
    j["mean_nll"] = r.stats.mean();
    j["chunk_ppl"] = r.chunk_ppl;
    j["seconds"] = r.seconds;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s\n", fmt::format("PPL = {:.4f} ± {:.4f} ({}: {} tokens scored in {} chunks of {}; {}, {:.0f} tokens/s)",
                                    r.stats.ppl(), r.stats.ppl_error(), eval::convention_name(plan.convention),
                                    r.stats.count, plan.n_chunks, plan.ctx, format_duration(r.seconds), tokens_per_s)
                            .c_str());
  }
  return 0;
}

CommandRegistration perplexity_command(
    "perplexity", "Perplexity of a model on a text, in fixed-size chunks (llama.cpp-comparable)", 50,
    [](CLI::App& app) -> CommandRunner {
      auto a = std::make_shared<PerplexityArgs>();
      app.add_option("model", a->model, "GGUF file or Hugging Face folder")->required();
      app.add_option("-f,--file", a->text, "Text file (UTF-8)")->required();
      app.add_option("--ctx", a->ctx, "Tokens per chunk")->capture_default_str()->check(CLI::Range(int64_t(2), int64_t(1) << 20));
      app.add_option("--convention", a->convention,
                     "llamacpp: exactly llama-perplexity's (BOS in slot 0 only if the vocab adds BOS; tokens "
                     "ctx/2+1..ctx-1 scored); second_half: no BOS, last ctx/2 tokens scored; bos_all: BOS + ctx "
                     "tokens, all scored; all_but_first: no BOS, all but the first scored")
          ->capture_default_str();
      app.add_option("--chunks", a->chunks, "At most this many chunks (0: all)")->check(CLI::NonNegativeNumber);
      app.add_option("-t,--threads", a->threads, "Threads (0: all cores)")->check(CLI::NonNegativeNumber);
      app.add_flag("--json", a->json, "Print the result as JSON");
      app.add_flag("-q,--quiet", a->quiet, "No progress bar");
      add_mmap_flag(app, a->mmap);
      return [a] { return run_perplexity(*a); };
    });

}  // namespace
}  // namespace lowbit::cli
