// Perplexity of a model on a token stream, chunk by chunk, each chunk
// evaluated from an empty context. A convention says how the stream is cut
// into chunks, what is fed (with or without BOS) and which tokens are scored:
//
//   second_half   chunk = ctx text tokens, fed as-is; the last ctx/2 tokens
//                 scored (token j predicted by the logits of position j-1).
//                 transformers-reference definition (reference.json).
//   bos_all       chunk = ctx text tokens, fed as BOS + chunk (ctx+1 positions);
//                 all ctx text tokens scored.
//   all_but_first chunk fed as-is; every token after the first scored (ctx-1).
//   llamacpp      exactly what llama-perplexity (and its --kl-divergence) does:
//                 the stream is BOS + text when the vocab adds BOS (else the
//                 text), cut into ctx-token chunks whose slot 0 is overwritten
//                 with BOS (when the vocab adds BOS); tokens ctx/2+1 .. ctx-1
//                 scored: ctx-1-ctx/2 per chunk, one fewer than second_half.
//                 The CLI default: it reproduces llama.cpp's printed numbers
//                 (gutenberg23m BF16, 120 chunks: 33.859 vs llama.cpp's 33.858;
//                 second_half gives 33.811 there).
// The tail that does not fill a chunk is dropped in all conventions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit {
class Tokenizer;
}
namespace lowbit::model {
class Session;
}

namespace lowbit::eval {

enum class PplConvention { SecondHalf, BosAll, AllButFirst, LlamaCpp };

std::optional<PplConvention> parse_convention(std::string_view name);
std::string_view convention_name(PplConvention c);
std::string convention_description(PplConvention c);

// How the text is cut and scored. Scored tokens are fed[j] for j in
// [first_scored, first_scored + n_scored) of each chunk's fed sequence,
// predicted by the logits row j - 1.
struct ChunkPlan {
  PplConvention convention = PplConvention::SecondHalf;
  int64_t ctx = 0;           // chunk stride in the stream (text tokens per chunk)
  int64_t n_chunks = 0;
  int32_t bos = -1;          // BOS id when the convention feeds one
  bool prepend_bos = false;  // bos_all: BOS before the ctx text tokens
  bool bos_first = false;    // llamacpp with a BOS-adding vocab: stream starts with BOS, slot 0 holds BOS
  int64_t first_scored = 0;
  int64_t n_scored = 0;

  int64_t n_fed() const { return ctx + (prepend_bos ? 1 : 0); }
  int64_t total_scored() const { return n_chunks * n_scored; }
  // The tokens fed for chunk k (n_fed() of them).
  std::vector<int32_t> chunk_tokens(std::span<const int32_t> text, int64_t k) const;
  std::string summary() const;  // "304 chunks of 256 tokens, second_half: 128 scored per chunk"
};

// Builds and checks a plan for a text of n_text tokens. max_chunks <= 0: all
// full chunks. bos < 0: the model has no BOS (bos_all then fails). Throws
// lowbit::Error when the text is empty or shorter than one chunk, or ctx is
// too small for the convention.
ChunkPlan make_chunk_plan(PplConvention convention, int64_t ctx, int64_t n_text, int64_t max_chunks, int32_t bos,
                          bool vocab_adds_bos);

// log(softmax(logits)[target]), in double with the maximum subtracted.
double log_softmax_at(const float* logits, int64_t n_vocab, int32_t target);
// out[i] = log(softmax(logits)[i]), computed in double and stored as float.
void log_softmax(const float* logits, int64_t n_vocab, float* out);

// Running sums of per-token negative log-likelihoods.
struct NllStats {
  double sum = 0, sum_sq = 0;
  int64_t count = 0;
  void add(double nll) {
    sum += nll;
    sum_sq += nll * nll;
    ++count;
  }
  double mean() const { return count ? sum / double(count) : 0.0; }
  double ppl() const;
  // Standard error of the perplexity: ppl * sqrt(var(nll) / (count - 1))
  // (delta method, tokens treated as independent, as llama.cpp reports it).
  double ppl_error() const;
};

// Adds the nll of every scored token of one chunk. logits: n_fed x n_vocab.
void score_chunk(const ChunkPlan& plan, std::span<const int32_t> fed, const float* logits, int64_t n_vocab,
                 NllStats& stats);

struct PerplexityResult {
  ChunkPlan plan;
  NllStats stats;
  std::vector<double> chunk_ppl;  // perplexity of each chunk alone
  double seconds = 0;
};

// Called after each chunk with its index and the running statistics.
using ChunkCallback = std::function<void(int64_t chunk, const NllStats& running)>;

// Evaluates every chunk of the plan from an empty context (the session must
// hold n_fed() tokens) and scores it.
PerplexityResult measure_perplexity(model::Session& session, std::span<const int32_t> text, const ChunkPlan& plan,
                                    const ChunkCallback& on_chunk = {});

// Reads a text file and tokenizes it as a whole, without special tokens.
// Throws lowbit::Error when it cannot be read or is empty.
std::vector<int32_t> tokenize_text_file(const std::string& path, const Tokenizer& tokenizer);

}  // namespace lowbit::eval
