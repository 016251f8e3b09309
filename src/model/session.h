// One inference context over a Model: the KV cache, the position, and the
// forward pass. A prompt is processed in chunks of up to n_batch tokens, each
// chunk with one matrix product per weight (n_tokens > 1); decoding feeds one
// token at a time. Attention runs on all threads, one (token, head) pair per
// work item.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/kv_cache.h"
#include "model/model.h"
#include "model/rope.h"

namespace lowbit::model {

struct SessionOptions {
  int64_t n_ctx = 0;      // context size; 0: the model's training context, at most 4096
  KvType kv_type = KvType::F16;
  int64_t n_batch = 256;  // prompt tokens per forward chunk
};

class Session {
 public:
  // Allocates the KV cache. Throws lowbit::Error when it cannot.
  explicit Session(const Model& model, SessionOptions options = {});

  // Feeds tokens after the n_past() already in context and returns the
  // logits (n_vocab floats) of the last one. Throws lowbit::Error, with the
  // context left as it was, when the tokens would overflow the context or an
  // id is outside the vocabulary.
  std::vector<float> eval(std::span<const int32_t> tokens);
  // Same, returning the logits of every token: tokens.size() x n_vocab, row-major.
  std::vector<float> eval_all(std::span<const int32_t> tokens);

  void reset() { n_past_ = 0; }  // forget the context (the cache is overwritten)
  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_vocab() const { return model_.config().n_vocab; }
  size_t kv_cache_bytes() const { return kv_.bytes(); }
  const Model& model() const { return model_; }

 private:
  std::vector<float> run(std::span<const int32_t> tokens, bool all_logits);
  // Runs n tokens at positions n_past_.. and writes the logits of the last
  // token, or of all when all_logits, to logits.
  void forward_chunk(const int32_t* tokens, int64_t n, bool all_logits, float* logits);
  void attention(int64_t layer, int64_t n);

  const Model& model_;
  int64_t n_ctx_;
  int64_t n_batch_;
  KvCache kv_;
  Rope rope_;
  int64_t n_past_ = 0;
  // Activations of one chunk (n_batch rows each).
  std::vector<float> x_, xb_, xb2_, q_, k_, v_, att_, gate_, up_;
};

}  // namespace lowbit::model
