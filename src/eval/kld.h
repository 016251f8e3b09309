// KL divergence between a base model (usually the unquantized one) and a
// quantized one, on the scored positions of a perplexity chunk plan: what
// llama-perplexity --kl-divergence prints. Per scored position we compare
// the two next-token distributions:
//   KLD        = sum_i p_base(i) * (log p_base(i) - log p_quant(i))   (nats)
//   same top   = argmax p_base == argmax p_quant
//   delta p    = p_quant(t) - p_base(t) for the token t that really follows
//   nll        = -log p(t) for each model (-> both perplexities)
// The base distributions come from a run of the base model in the same
// process or from a file saved earlier (kld_file.h).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "eval/perplexity.h"

namespace lowbit {
class ModelSource;
}

namespace lowbit::eval {

class BaseLogitsReader;
class BaseLogitsWriter;

struct PositionComparison {
  double kld = 0;
  double p_base = 0, p_quant = 0;  // probability of the actual next token
  double nll_base = 0, nll_quant = 0;
  bool same_top = false;
};

// Both arrays are log-probabilities (log-softmax) over n_vocab tokens.
PositionComparison compare_distributions(const float* base_logprobs, const float* quant_logprobs, int64_t n_vocab,
                                         int32_t target);

// Linear interpolation between order statistics (numpy's default): sorted
// must be ascending and non-empty, q in [0, 1].
double percentile_sorted(std::span<const double> sorted, double q);

struct MeanError {
  double mean = 0, error = 0;  // error: standard error of the mean
};

struct KldSummary {
  int64_t count = 0;
  MeanError ppl_base, ppl_quant;    // perplexities with their errors
  MeanError ln_ppl_ratio;           // mean of nll_quant - nll_base
  MeanError ppl_ratio;              // PPL(quant) / PPL(base)
  MeanError ppl_delta;              // PPL(quant) - PPL(base)
  double ln_ppl_correlation = 0;    // Pearson correlation of per-token nll_quant, nll_base
  MeanError kld;
  double kld_median = 0, kld_p90 = 0, kld_p95 = 0, kld_p99 = 0, kld_p999 = 0, kld_max = 0;
  MeanError same_top;               // fraction in [0, 1]
  MeanError delta_p;                // mean of p_quant(t) - p_base(t)
  MeanError rms_delta_p;            // sqrt(mean(delta_p^2))
  double delta_p_p01 = 0, delta_p_p05 = 0, delta_p_median = 0, delta_p_p95 = 0, delta_p_p99 = 0;
};

// Collects per-position comparisons and summarises them.
class KldAccumulator {
 public:
  void add(const PositionComparison& c);
  int64_t count() const { return int64_t(kld_.size()); }
  double mean_kld() const { return count() ? kld_sum_ / double(count()) : 0.0; }
  double same_top_fraction() const { return count() ? double(same_top_) / double(count()) : 0.0; }
  double ppl_base() const;
  double ppl_quant() const;
  KldSummary summary() const;

 private:
  std::vector<double> kld_, delta_p_;
  double kld_sum_ = 0, kld_sq_ = 0;
  double nb_ = 0, nb2_ = 0, nq_ = 0, nq2_ = 0, nbq_ = 0;
  double dp_ = 0, dp2_ = 0;
  int64_t same_top_ = 0;
};

// One model's size for the report: file bytes, parameters, bits per weight.
struct ModelSizeInfo {
  std::string path;
  uint64_t file_bytes = 0;
  uint64_t parameters = 0;
  uint64_t tensor_bytes = 0;
  double bits_per_weight() const { return parameters ? 8.0 * double(tensor_bytes) / double(parameters) : 0.0; }
};
ModelSizeInfo model_size_info(const ModelSource& source);

struct KldRun {
  ChunkPlan plan;
  ModelSizeInfo base, quant;
  KldSummary summary;
  double seconds = 0;
};

// Called after each chunk with its index and the running accumulator.
using KldChunkCallback = std::function<void(int64_t chunk, const KldAccumulator& running)>;

// Runs the quant session over the plan's chunks and compares each scored
// position with the base: from base_session when it is non-null, else from
// base_file (whose plan and tokens must match). When save_to is non-null the
// base distributions are also written there (base_session required).
KldRun measure_kld(model::Session* base_session, BaseLogitsReader* base_file, model::Session& quant_session,
                   std::span<const int32_t> text, const ChunkPlan& plan, BaseLogitsWriter* save_to,
                   const KldChunkCallback& on_chunk = {});

// The report, laid out like llama-perplexity --kl-divergence's statistics.
std::string render_kld_report(const KldRun& run);

}  // namespace lowbit::eval
