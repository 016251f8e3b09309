// `lowbit kld BASE QUANT -f TEXT [--ctx 256] [--chunks N] [--convention C] [--save-base FILE]`
// `lowbit kld QUANT --base-logits FILE -f TEXT ...`   (base distributions from a saved file)
// `lowbit kld BASE --save-base FILE -f TEXT ...`      (only save the base distributions)
// KL divergence, perplexities and top-token agreement of a quantized model
// against its base, as llama-perplexity --kl-divergence reports them.
#include <cstdio>

#include <fmt/format.h>

#include "cli/command.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "eval/kld.h"
#include "eval/kld_file.h"
#include "eval/perplexity.h"
#include "model/model.h"
#include "model/session.h"
#include "tokenizer/tokenizer.h"

namespace lowbit::cli {
namespace {

struct KldArgs {
  std::vector<std::string> models;
  std::string text;
  int64_t ctx = 256;
  std::string convention = "llamacpp";
  int64_t chunks = 0;
  std::string save_base;
  std::string base_logits;
  int threads = 0;
  bool quiet = false;
  bool mmap = false;
  bool ctx_given = false, convention_given = false;  // else taken from --base-logits
};

struct LoadedModel {
  std::unique_ptr<model::Model> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<model::Session> session;
};

LoadedModel load(const std::string& path, FileAccess access) {
  LoadedModel m;
  m.model = model::Model::open(path, access);
  m.tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_metadata(m.model->source().metadata()));
  return m;
}

void make_session(LoadedModel& m, const eval::ChunkPlan& plan) {
  model::SessionOptions so;
  so.n_ctx = plan.n_fed();
  so.n_batch = plan.n_fed();
  m.session = std::make_unique<model::Session>(*m.model, so);
}

// Only the base model, only saving: prints its perplexity.
int save_base_only(const KldArgs& a, eval::PplConvention convention) {
  LoadedModel base = load(a.models[0], weight_access(a.mmap));
  const std::vector<int32_t> text = eval::tokenize_text_file(a.text, *base.tokenizer);
  const eval::ChunkPlan plan = eval::make_chunk_plan(convention, a.ctx, int64_t(text.size()), a.chunks,
                                                     base.tokenizer->bos(), base.tokenizer->add_bos());
  make_session(base, plan);
  const int64_t n_vocab = base.model->config().n_vocab;
  eval::BaseLogitsWriter writer(a.save_base, plan, text, n_vocab, eval::model_size_info(base.model->source()),
                                base.model->source().files());
  Progress progress("base logits", double(plan.n_chunks), !a.quiet);
  eval::NllStats stats;
  std::vector<float> lp(size_t(plan.n_scored) * size_t(n_vocab));
  for (int64_t k = 0; k < plan.n_chunks; ++k) {
    const std::vector<int32_t> fed = plan.chunk_tokens(text, k);
    base.session->reset();
    const std::vector<float> logits = base.session->eval_all(fed);
    eval::score_chunk(plan, fed, logits.data(), n_vocab, stats);
    for (int64_t j = 0; j < plan.n_scored; ++j)
      eval::log_softmax(logits.data() + size_t(plan.first_scored + j - 1) * size_t(n_vocab), n_vocab,
                        lp.data() + size_t(j) * size_t(n_vocab));
    writer.add_chunk(k, lp.data());
    progress.update(double(k + 1), fmt::format("chunk {}/{} PPL {:.4f}", k + 1, plan.n_chunks, stats.ppl()));
  }
  writer.commit();
  progress.finish();
  std::printf("%s\n", plan.summary().c_str());
  std::printf("PPL(base) = %.6f ± %.6f\nsaved base logits to %s\n", stats.ppl(), stats.ppl_error(), a.save_base.c_str());
  return 0;
}

int run_kld(KldArgs a) {
  set_thread_count(a.threads);
  std::unique_ptr<eval::BaseLogitsReader> reader;
  if (!a.base_logits.empty()) {
    // The file knows how it was made: its ctx and convention are the defaults.
    reader = std::make_unique<eval::BaseLogitsReader>(a.base_logits);
    if (!a.ctx_given) a.ctx = reader->plan().ctx;
    if (!a.convention_given) a.convention = eval::convention_name(reader->plan().convention);
  }
  const auto convention = eval::parse_convention(a.convention);
  if (!convention)
    fail("--convention must be second_half, bos_all, all_but_first or llamacpp, not '{}'", a.convention);
  const bool from_file = !a.base_logits.empty();
  if (from_file && !a.save_base.empty()) fail("--save-base and --base-logits cannot be used together");
  if (a.models.size() == 1 && !from_file && !a.save_base.empty()) return save_base_only(a, *convention);
  if (from_file && a.models.size() != 1)
    fail("with --base-logits give only the quantized model (the base comes from the file)");
  if (!from_file && a.models.size() != 2)
    fail("give BASE and QUANT models (or QUANT with --base-logits FILE, or BASE with --save-base FILE)");

  LoadedModel quant = load(a.models.back(), weight_access(a.mmap));
  const int64_t n_vocab = quant.model->config().n_vocab;
  LoadedModel base;
  if (from_file) {
    if (reader->n_vocab() != n_vocab)
      fail("{}: base logits have a vocabulary of {} tokens, {} has {}: not the same model family", a.base_logits,
           reader->n_vocab(), a.models.back(), n_vocab);
  } else {
    base = load(a.models[0], weight_access(a.mmap));
    if (base.model->config().n_vocab != n_vocab)
      fail("{} has a vocabulary of {} tokens, {} has {}: they cannot be compared", a.models[0],
           base.model->config().n_vocab, a.models[1], n_vocab);
  }
  const std::vector<int32_t> text = eval::tokenize_text_file(a.text, *quant.tokenizer);
  if (base.tokenizer && eval::tokenize_text_file(a.text, *base.tokenizer) != text)
    fail("{} and {} tokenize the text differently: their vocabularies do not match", a.models[0], a.models[1]);
  int64_t max_chunks = a.chunks;
  if (reader && max_chunks <= 0) max_chunks = reader->n_chunks();
  const eval::ChunkPlan plan = eval::make_chunk_plan(*convention, a.ctx, int64_t(text.size()), max_chunks,
                                                     quant.tokenizer->bos(), quant.tokenizer->add_bos());
  make_session(quant, plan);
  if (base.model) make_session(base, plan);

  std::unique_ptr<eval::BaseLogitsWriter> writer;
  if (!a.save_base.empty()) {
    std::vector<std::string> inputs = base.model->source().files();
    for (const auto& f : quant.model->source().files()) inputs.push_back(f);
    writer = std::make_unique<eval::BaseLogitsWriter>(a.save_base, plan, text, n_vocab,
                                                      eval::model_size_info(base.model->source()), inputs);
  }
  std::fprintf(stderr, "text: %s, %zu tokens\nplan: %s\n", a.text.c_str(), text.size(), plan.summary().c_str());
  Progress progress("kld", double(plan.n_chunks), !a.quiet);
  eval::KldRun run = eval::measure_kld(base.session.get(), reader.get(), *quant.session, text, plan, writer.get(),
                                       [&](int64_t k, const eval::KldAccumulator& acc) {
                                         progress.update(double(k + 1),
                                                         fmt::format("chunk {}/{} KLD {:.6f} same-top {:.2f}%",
                                                                     k + 1, plan.n_chunks, acc.mean_kld(),
                                                                     100 * acc.same_top_fraction()));
                                       });
  if (writer) writer->commit();
  progress.finish();
  run.base = base.model ? eval::model_size_info(base.model->source()) : reader->base_info();
  if (reader) run.base.path += " (from " + a.base_logits + ")";
  run.quant = eval::model_size_info(quant.model->source());
  std::fputs(eval::render_kld_report(run).c_str(), stdout);
  if (writer) std::printf("saved base logits to %s\n", a.save_base.c_str());
  return 0;
}

CommandRegistration kld_command(
    "kld", "KL divergence, perplexity and top-token agreement of a quantized model against its base", 55,
    [](CLI::App& app) -> CommandRunner {
      auto a = std::make_shared<KldArgs>();
      app.add_option("models", a->models, "BASE QUANT (GGUF files or HF folders); QUANT alone with --base-logits")
          ->required()
          ->expected(1, 2);
      app.add_option("-f,--file", a->text, "Text file (UTF-8)")->required();
      auto* ctx = app.add_option("--ctx", a->ctx, "Tokens per chunk (default with --base-logits: the file's)")
                      ->capture_default_str()
                      ->check(CLI::Range(int64_t(2), int64_t(1) << 20));
      auto* convention = app.add_option("--convention", a->convention,
                     "Scored positions: llamacpp (llama-perplexity --kl-divergence's exact ones), second_half "
                     "(last ctx/2 tokens), bos_all, all_but_first (default with --base-logits: the file's)")
          ->capture_default_str();
      app.add_option("--chunks", a->chunks, "At most this many chunks (0: all)")->check(CLI::NonNegativeNumber);
      app.add_option("--save-base", a->save_base, "Also write the base distributions to this file");
      app.add_option("--base-logits", a->base_logits, "Read the base distributions from this file (from --save-base)");
      app.add_option("-t,--threads", a->threads, "Threads (0: all cores)")->check(CLI::NonNegativeNumber);
      app.add_flag("-q,--quiet", a->quiet, "No progress bar");
      add_mmap_flag(app, a->mmap);
      return [a, ctx, convention] {
        a->ctx_given = ctx->count() > 0;
        a->convention_given = convention->count() > 0;
        return run_kld(*a);
      };
    });

}  // namespace
}  // namespace lowbit::cli
