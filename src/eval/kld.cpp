// KL-divergence statistics and the base-vs-quant driver (see kld.h).
#include "eval/kld.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/progress.h"
#include "eval/kld_file.h"
#include "io/model_source.h"
#include "model/session.h"

namespace lowbit::eval {

PositionComparison compare_distributions(const float* base_logprobs, const float* quant_logprobs, int64_t n_vocab,
                                         int32_t target) {
  if (target < 0 || target >= n_vocab) fail("token id {} is outside the vocabulary (size {})", target, n_vocab);
  PositionComparison c;
  double kld = 0;
  int64_t top_b = 0, top_q = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    const double lb = base_logprobs[i], lq = quant_logprobs[i];
    if (lb != lq && lb > -HUGE_VAL) kld += std::exp(lb) * (lb - lq);  // p_base = 0 adds nothing
    if (base_logprobs[i] > base_logprobs[top_b]) top_b = i;
    if (quant_logprobs[i] > quant_logprobs[top_q]) top_q = i;
  }
  c.kld = kld;
  c.same_top = top_b == top_q;
  c.nll_base = -double(base_logprobs[target]);
  c.nll_quant = -double(quant_logprobs[target]);
  c.p_base = std::exp(-c.nll_base);
  c.p_quant = std::exp(-c.nll_quant);
  return c;
}

double percentile_sorted(std::span<const double> sorted, double q) {
  if (sorted.empty()) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  const double pos = q * double(sorted.size() - 1);
  const size_t lo = size_t(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - double(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

void KldAccumulator::add(const PositionComparison& c) {
  kld_.push_back(c.kld);
  kld_sum_ += c.kld;
  kld_sq_ += c.kld * c.kld;
  nb_ += c.nll_base;
  nb2_ += c.nll_base * c.nll_base;
  nq_ += c.nll_quant;
  nq2_ += c.nll_quant * c.nll_quant;
  nbq_ += c.nll_base * c.nll_quant;
  const double dp = c.p_quant - c.p_base;
  delta_p_.push_back(dp);
  dp_ += dp;
  dp2_ += dp * dp;
  same_top_ += c.same_top ? 1 : 0;
}

double KldAccumulator::ppl_base() const { return count() ? std::exp(nb_ / double(count())) : 0.0; }
double KldAccumulator::ppl_quant() const { return count() ? std::exp(nq_ / double(count())) : 0.0; }

namespace {

// Mean and standard error of the mean from a sum and a sum of squares.
MeanError mean_error(double sum, double sum_sq, int64_t n) {
  MeanError m;
  if (n == 0) return m;
  m.mean = sum / double(n);
  if (n > 1) {
    const double var = sum_sq / double(n) - m.mean * m.mean;
    m.error = var > 0 ? std::sqrt(var / double(n - 1)) : 0.0;
  }
  return m;
}

}  // namespace

KldSummary KldAccumulator::summary() const {
  KldSummary s;
  const int64_t n = count();
  s.count = n;
  if (n == 0) return s;
  const double dn = double(n);
  const MeanError lb = mean_error(nb_, nb2_, n), lq = mean_error(nq_, nq2_, n);
  s.ppl_base = {std::exp(lb.mean), std::exp(lb.mean) * lb.error};
  s.ppl_quant = {std::exp(lq.mean), std::exp(lq.mean) * lq.error};
  // nll_quant - nll_base per token: sum of squares from the raw moments.
  s.ln_ppl_ratio = mean_error(nq_ - nb_, nq2_ - 2 * nbq_ + nb2_, n);
  const double ratio = std::exp(s.ln_ppl_ratio.mean);
  s.ppl_ratio = {ratio, ratio * s.ln_ppl_ratio.error};
  const double var_b = nb2_ / dn - lb.mean * lb.mean, var_q = nq2_ / dn - lq.mean * lq.mean;
  const double cov = nbq_ / dn - lb.mean * lq.mean;
  s.ln_ppl_correlation = var_b > 0 && var_q > 0 ? cov / std::sqrt(var_b * var_q) : 1.0;
  // Delta method on exp(mean nll) for both, with their covariance.
  const double pb = s.ppl_base.mean, pq = s.ppl_quant.mean;
  const double var_delta = n > 1 ? (pq * pq * var_q + pb * pb * var_b - 2 * pq * pb * cov) / double(n - 1) : 0.0;
  s.ppl_delta = {pq - pb, var_delta > 0 ? std::sqrt(var_delta) : 0.0};

  s.kld = mean_error(kld_sum_, kld_sq_, n);
  std::vector<double> sorted = kld_;
  std::sort(sorted.begin(), sorted.end());
  s.kld_median = percentile_sorted(sorted, 0.5);
  s.kld_p90 = percentile_sorted(sorted, 0.90);
  s.kld_p95 = percentile_sorted(sorted, 0.95);
  s.kld_p99 = percentile_sorted(sorted, 0.99);
  s.kld_p999 = percentile_sorted(sorted, 0.999);
  s.kld_max = sorted.back();

  const double same = double(same_top_) / dn;
  s.same_top = {same, n > 1 ? std::sqrt(same * (1 - same) / double(n - 1)) : 0.0};
  s.delta_p = mean_error(dp_, dp2_, n);
  // RMS and its error by the delta method: d sqrt(m2) = d m2 / (2 sqrt(m2)).
  const MeanError sq = mean_error(dp2_, [&] {
    double s4 = 0;
    for (double d : delta_p_) s4 += d * d * d * d;
    return s4;
  }(), n);
  const double rms = std::sqrt(std::max(0.0, sq.mean));
  s.rms_delta_p = {rms, rms > 0 ? sq.error / (2 * rms) : 0.0};
  sorted = delta_p_;
  std::sort(sorted.begin(), sorted.end());
  s.delta_p_p01 = percentile_sorted(sorted, 0.01);
  s.delta_p_p05 = percentile_sorted(sorted, 0.05);
  s.delta_p_median = percentile_sorted(sorted, 0.5);
  s.delta_p_p95 = percentile_sorted(sorted, 0.95);
  s.delta_p_p99 = percentile_sorted(sorted, 0.99);
  return s;
}

ModelSizeInfo model_size_info(const ModelSource& source) {
  ModelSizeInfo m;
  m.path = source.path();
  for (const std::string& f : source.files()) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(f, ec);
    if (!ec) m.file_bytes += size;
  }
  m.parameters = source.parameter_count();
  m.tensor_bytes = source.tensor_bytes();
  return m;
}

KldRun measure_kld(model::Session* base_session, BaseLogitsReader* base_file, model::Session& quant_session,
                   std::span<const int32_t> text, const ChunkPlan& plan, BaseLogitsWriter* save_to,
                   const KldChunkCallback& on_chunk) {
  const int64_t n_vocab = quant_session.n_vocab();
  if (base_session) {
    if (base_session->n_vocab() != n_vocab)
      fail("the base model has a vocabulary of {} tokens, the quantized model {}: they cannot be compared",
           base_session->n_vocab(), n_vocab);
    if (base_session->n_ctx() < plan.n_fed()) fail("the base session holds fewer than {} tokens", plan.n_fed());
  } else if (base_file) {
    base_file->check_compatible(plan, text, n_vocab);
  } else {
    fail("measure_kld needs a base model or a base-logits file");
  }
  if (save_to && !base_session) fail("saving base logits needs the base model");
  if (quant_session.n_ctx() < plan.n_fed()) fail("the quantized model's session holds fewer than {} tokens", plan.n_fed());

  const auto start = std::chrono::steady_clock::now();
  KldRun run;
  run.plan = plan;
  KldAccumulator acc;
  const size_t row = size_t(n_vocab);
  std::vector<float> base_lp(size_t(plan.n_scored) * row), quant_lp(row);
  for (int64_t k = 0; k < plan.n_chunks; ++k) {
    const std::vector<int32_t> fed = plan.chunk_tokens(text, k);
    if (base_session) {
      base_session->reset();
      const std::vector<float> logits = base_session->eval_all(fed);
      for (int64_t j = 0; j < plan.n_scored; ++j)
        log_softmax(logits.data() + size_t(plan.first_scored + j - 1) * row, n_vocab, base_lp.data() + size_t(j) * row);
      if (save_to) save_to->add_chunk(k, base_lp.data());
    } else {
      base_file->read_chunk(k, base_lp);
    }
    quant_session.reset();
    const std::vector<float> logits = quant_session.eval_all(fed);
    for (int64_t j = 0; j < plan.n_scored; ++j) {
      log_softmax(logits.data() + size_t(plan.first_scored + j - 1) * row, n_vocab, quant_lp.data());
      acc.add(compare_distributions(base_lp.data() + size_t(j) * row, quant_lp.data(), n_vocab,
                                    fed[size_t(plan.first_scored + j)]));
    }
    if (on_chunk) on_chunk(k, acc);
  }
  run.summary = acc.summary();
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

namespace {

std::string size_line(const char* label, const ModelSizeInfo& m) {
  return fmt::format("{:<6} {}\n       file {} ({} bytes), {} parameters, {:.3f} bits per weight\n", label, m.path,
                     format_bytes(double(m.file_bytes)), m.file_bytes, m.parameters, m.bits_per_weight());
}

}  // namespace

std::string render_kld_report(const KldRun& run) {
  const KldSummary& s = run.summary;
  std::string o;
  o += size_line("base", run.base);
  o += size_line("quant", run.quant);
  if (run.base.file_bytes)
    o += fmt::format("quant/base file size: {:.4f}\n", double(run.quant.file_bytes) / double(run.base.file_bytes));
  o += fmt::format("{}\n{} scored positions, {}\n\n", run.plan.summary(), s.count, format_duration(run.seconds));
  o += "====== Perplexity statistics ======\n";
  o += fmt::format("PPL(base)                      : {:10.6f} ± {:.6f}\n", s.ppl_base.mean, s.ppl_base.error);
  o += fmt::format("PPL(quant)                     : {:10.6f} ± {:.6f}\n", s.ppl_quant.mean, s.ppl_quant.error);
  o += fmt::format("Cor(ln PPL(quant), ln PPL(base)): {:9.2f}%\n", 100 * s.ln_ppl_correlation);
  o += fmt::format("Mean ln(PPL(quant)/PPL(base))  : {:10.6f} ± {:.6f}\n", s.ln_ppl_ratio.mean, s.ln_ppl_ratio.error);
  o += fmt::format("PPL(quant)/PPL(base)           : {:10.6f} ± {:.6f}\n", s.ppl_ratio.mean, s.ppl_ratio.error);
  o += fmt::format("Δ PPL = PPL(quant)-PPL(base)   : {:10.6f} ± {:.6f}\n\n", s.ppl_delta.mean, s.ppl_delta.error);
  o += "====== KL divergence statistics ======\n";
  o += fmt::format("Mean    KLD: {:10.6f} ± {:.6f}\n", s.kld.mean, s.kld.error);
  o += fmt::format("Maximum KLD: {:10.6f}\n", s.kld_max);
  o += fmt::format("99.9%   KLD: {:10.6f}\n", s.kld_p999);
  o += fmt::format("99.0%   KLD: {:10.6f}\n", s.kld_p99);
  o += fmt::format("95.0%   KLD: {:10.6f}\n", s.kld_p95);
  o += fmt::format("90.0%   KLD: {:10.6f}\n", s.kld_p90);
  o += fmt::format("Median  KLD: {:10.6f}\n\n", s.kld_median);
  o += "====== Token probability statistics ======\n";
  o += fmt::format("Mean    Δp: {:8.3f} ± {:.3f} %\n", 100 * s.delta_p.mean, 100 * s.delta_p.error);
  o += fmt::format("99.0%   Δp: {:8.3f}%\n", 100 * s.delta_p_p99);
  o += fmt::format("95.0%   Δp: {:8.3f}%\n", 100 * s.delta_p_p95);
  o += fmt::format("Median  Δp: {:8.3f}%\n", 100 * s.delta_p_median);
  o += fmt::format(" 5.0%   Δp: {:8.3f}%\n", 100 * s.delta_p_p05);
  o += fmt::format(" 1.0%   Δp: {:8.3f}%\n", 100 * s.delta_p_p01);
  o += fmt::format("RMS     Δp: {:8.3f} ± {:.3f} %\n", 100 * s.rms_delta_p.mean, 100 * s.rms_delta_p.error);
  o += fmt::format("Same top p: {:8.3f} ± {:.3f} %\n", 100 * s.same_top.mean, 100 * s.same_top.error);
  return o;
}

}  // namespace lowbit::eval
