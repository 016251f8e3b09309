// Perplexity conventions, chunk plans and scoring (see perplexity.h).
#include "eval/perplexity.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "model/session.h"
#include "tokenizer/tokenizer.h"

namespace lowbit::eval {

std::optional<PplConvention> parse_convention(std::string_view name) {
  if (name == "second_half") return PplConvention::SecondHalf;
  if (name == "bos_all") return PplConvention::BosAll;
  if (name == "all_but_first") return PplConvention::AllButFirst;
  if (name == "llamacpp") return PplConvention::LlamaCpp;
  return std::nullopt;
}

std::string_view convention_name(PplConvention c) {
  switch (c) {
    case PplConvention::SecondHalf: return "second_half";
    case PplConvention::BosAll: return "bos_all";
    case PplConvention::AllButFirst: return "all_but_first";
    case PplConvention::LlamaCpp: return "llamacpp";
  }
  return "?";
}

std::string convention_description(PplConvention c) {
  switch (c) {
    case PplConvention::SecondHalf:
      return "chunks fed without BOS, the last ctx/2 tokens of each scored";
    case PplConvention::BosAll:
      return "each chunk fed as BOS + ctx tokens, all ctx tokens scored";
    case PplConvention::AllButFirst:
      return "chunks fed without BOS, every token after the first scored";
    case PplConvention::LlamaCpp:
      return "llama-perplexity's: BOS in slot 0 when the vocab adds BOS, tokens ctx/2+1..ctx-1 scored";
  }
  return "";
}

std::vector<int32_t> ChunkPlan::chunk_tokens(std::span<const int32_t> text, int64_t k) const {
  if (k < 0 || k >= n_chunks) fail("chunk {} is outside the plan ({} chunks)", k, n_chunks);
  std::vector<int32_t> fed;
  fed.reserve(size_t(n_fed()));
  if (prepend_bos) {
    fed.push_back(bos);
    fed.insert(fed.end(), text.begin() + k * ctx, text.begin() + (k + 1) * ctx);
  } else if (bos_first) {
    // The stream is BOS + text, so stream[k*ctx + i] = text[k*ctx + i - 1];
    // slot 0 is overwritten with BOS.
    fed.push_back(bos);
    fed.insert(fed.end(), text.begin() + k * ctx, text.begin() + k * ctx + ctx - 1);
  } else {
    fed.insert(fed.end(), text.begin() + k * ctx, text.begin() + (k + 1) * ctx);
  }
  return fed;
}

std::string ChunkPlan::summary() const {
  return fmt::format("{} chunks of {} tokens{}, {}: {} scored per chunk, {} in all", n_chunks, ctx,
                     prepend_bos ? " (+BOS)" : bos_first ? " (BOS in slot 0)" : "", convention_name(convention),
                     n_scored, total_scored());
}

ChunkPlan make_chunk_plan(PplConvention convention, int64_t ctx, int64_t n_text, int64_t max_chunks, int32_t bos,
                          bool vocab_adds_bos) {
  if (n_text <= 0) fail("the text is empty (no tokens to score)");
  const int64_t min_ctx = convention == PplConvention::LlamaCpp ? 4 : 2;
  if (ctx < min_ctx) fail("context {} is too small for the {} convention (at least {})", ctx, convention_name(convention), min_ctx);
  ChunkPlan p;
  p.convention = convention;
  p.ctx = ctx;
  int64_t stream = n_text;
  switch (convention) {
    case PplConvention::SecondHalf:
      p.first_scored = ctx / 2;
      p.n_scored = ctx - ctx / 2;
      break;
    case PplConvention::BosAll:
      if (bos < 0) fail("the bos_all convention needs a BOS token, and this model has none");
      p.bos = bos;
      p.prepend_bos = true;
      p.first_scored = 1;
      p.n_scored = ctx;
      break;
    case PplConvention::AllButFirst:
      p.first_scored = 1;
      p.n_scored = ctx - 1;
      break;
    case PplConvention::LlamaCpp:
      if (vocab_adds_bos) {
        if (bos < 0) fail("the vocab adds BOS but names no BOS token");
        p.bos = bos;
        p.bos_first = true;
        stream = n_text + 1;
      }
      p.first_scored = ctx / 2 + 1;
      p.n_scored = ctx - 1 - ctx / 2;
      break;
  }
  p.n_chunks = stream / ctx;
  if (p.n_chunks == 0)
    fail("the text has {} tokens, fewer than one {}-token chunk; use a longer text or a smaller --ctx", n_text, ctx);
  if (max_chunks > 0) p.n_chunks = std::min(p.n_chunks, max_chunks);
  return p;
}

double log_softmax_at(const float* logits, int64_t n_vocab, int32_t target) {
  if (target < 0 || target >= n_vocab) fail("token id {} is outside the vocabulary (size {})", target, n_vocab);
  float mx = logits[0];
  for (int64_t i = 1; i < n_vocab; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp(double(logits[i]) - double(mx));
  return double(logits[target]) - double(mx) - std::log(sum);
}

void log_softmax(const float* logits, int64_t n_vocab, float* out) {
  float mx = logits[0];
  for (int64_t i = 1; i < n_vocab; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp(double(logits[i]) - double(mx));
  const double shift = double(mx) + std::log(sum);
  for (int64_t i = 0; i < n_vocab; ++i) out[i] = float(double(logits[i]) - shift);
}

double NllStats::ppl() const { return std::exp(mean()); }

double NllStats::ppl_error() const {
  if (count < 2) return 0.0;
  const double m = mean();
  const double var = sum_sq / double(count) - m * m;
  return var > 0 ? ppl() * std::sqrt(var / double(count - 1)) : 0.0;
}

void score_chunk(const ChunkPlan& plan, std::span<const int32_t> fed, const float* logits, int64_t n_vocab,
                 NllStats& stats) {
  if (int64_t(fed.size()) != plan.n_fed()) fail("chunk has {} tokens, the plan feeds {}", fed.size(), plan.n_fed());
  for (int64_t j = plan.first_scored; j < plan.first_scored + plan.n_scored; ++j)
    stats.add(-log_softmax_at(logits + (j - 1) * n_vocab, n_vocab, fed[size_t(j)]));
}

PerplexityResult measure_perplexity(model::Session& session, std::span<const int32_t> text, const ChunkPlan& plan,
                                    const ChunkCallback& on_chunk) {
  if (session.n_ctx() < plan.n_fed())
    fail("the session holds {} tokens, the chunks need {}", session.n_ctx(), plan.n_fed());
  const auto start = std::chrono::steady_clock::now();
  PerplexityResult r;
  r.plan = plan;
  for (int64_t k = 0; k < plan.n_chunks; ++k) {
    const std::vector<int32_t> fed = plan.chunk_tokens(text, k);
    session.reset();
    const std::vector<float> logits = session.eval_all(fed);
    NllStats chunk;
    score_chunk(plan, fed, logits.data(), session.n_vocab(), chunk);
    r.stats.sum += chunk.sum;
    r.stats.sum_sq += chunk.sum_sq;
    r.stats.count += chunk.count;
    r.chunk_ppl.push_back(chunk.ppl());
    if (on_chunk) on_chunk(k, r.stats);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

std::vector<int32_t> tokenize_text_file(const std::string& path, const Tokenizer& tokenizer) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open the text file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("{}: error reading the text file", path);
  const std::string text = ss.str();
  if (text.empty()) fail("{}: the text file is empty", path);
  std::vector<int32_t> ids = tokenizer.encode(text, /*add_special=*/false, /*parse_special=*/false);
  if (ids.empty()) fail("{}: the text gives no tokens", path);
  return ids;
}

}  // namespace lowbit::eval
