// The Llama-family forward pass (see session.h).
//
// Per layer, for a chunk of n tokens (rows):
//   h   = RMSNorm(x) * attn_norm
//   q,k,v = h Wq, h Wk, h Wv (+ biases), RoPE on q and k, k/v into the cache
//   x  += softmax(q k^T / sqrt(head_dim), causal) v  Wo   (grouped-query heads)
//   h   = RMSNorm(x) * ffn_norm
//   x  += (silu(h Wgate) * (h Wup)) Wdown
// then logits = (RMSNorm(x) * output_norm) Wout.
#include "model/session.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"

namespace lowbit::model {
namespace {

constexpr int64_t kDefaultMaxCtx = 4096;

int64_t choose_ctx(const LlamaConfig& c, int64_t requested) {
  if (requested < 0) fail("context size {} must be positive", requested);
  if (requested == 0) return std::min(c.n_ctx_train, kDefaultMaxCtx);
  return requested;
}

void rms_norm_rows(const float* x, const float* gain, int64_t n_rows, int64_t dim, float eps, float* out) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * dim;
    float* o = out + r * dim;
    double sum_sq = 0.0;
    for (int64_t i = 0; i < dim; ++i) sum_sq += double(xr[i]) * double(xr[i]);
    const float inv = float(1.0 / std::sqrt(sum_sq / double(dim) + double(eps)));
    for (int64_t i = 0; i < dim; ++i) o[i] = xr[i] * inv * gain[i];
  }
}

void add_bias_rows(float* y, const std::vector<float>& bias, int64_t n_rows) {
  if (bias.empty()) return;
  const int64_t dim = int64_t(bias.size());
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t i = 0; i < dim; ++i) y[r * dim + i] += bias[size_t(i)];
}

void add_rows(float* x, const float* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) x[i] += y[i];
}

void softmax_in_place(float* v, int64_t n) {
  float mx = v[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, v[i]);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    v[i] = std::exp(v[i] - mx);
    sum += v[i];
  }
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) v[i] *= inv;
}

}  // namespace

Session::Session(const Model& model, SessionOptions options)
    : model_(model),
      n_ctx_(choose_ctx(model.config(), options.n_ctx)),
      n_batch_(std::clamp<int64_t>(options.n_batch, 1, 4096)),
      kv_(model.config().n_layer, n_ctx_, model.config().n_embd_kv(), options.kv_type),
      rope_(model.config()) {
  const LlamaConfig& c = model.config();
  n_batch_ = std::min(n_batch_, n_ctx_);
  const size_t rows = size_t(n_batch_);
  x_.resize(rows * size_t(c.n_embd));
  xb_.resize(rows * size_t(std::max(c.n_embd, c.n_embd_q())));
  xb2_.resize(rows * size_t(c.n_embd));
  q_.resize(rows * size_t(c.n_embd_q()));
  k_.resize(rows * size_t(c.n_embd_kv()));
  v_.resize(rows * size_t(c.n_embd_kv()));
  att_.resize(rows * size_t(c.n_embd_q()));
  gate_.resize(rows * size_t(c.n_ff));
  up_.resize(rows * size_t(c.n_ff));
}

std::vector<float> Session::eval(std::span<const int32_t> tokens) { return run(tokens, false); }
std::vector<float> Session::eval_all(std::span<const int32_t> tokens) { return run(tokens, true); }

std::vector<float> Session::run(std::span<const int32_t> tokens, bool all_logits) {
  const LlamaConfig& c = model_.config();
  const int64_t n = int64_t(tokens.size());
  if (n == 0) fail("eval: no tokens given");
  if (n_past_ + n > n_ctx_)
    fail("{} tokens do not fit in the context: {} already in it, context size {} (raise --ctx)", n, n_past_, n_ctx_);
  for (int64_t i = 0; i < n; ++i)
    if (tokens[size_t(i)] < 0 || tokens[size_t(i)] >= c.n_vocab)
      fail("token id {} at position {} is outside the vocabulary (size {})", tokens[size_t(i)], n_past_ + i, c.n_vocab);

  std::vector<float> logits(size_t(all_logits ? n : 1) * size_t(c.n_vocab));
  const int64_t start_past = n_past_;
  try {
    for (int64_t done = 0; done < n; done += n_batch_) {
      const int64_t chunk = std::min(n_batch_, n - done);
      const bool last_chunk = done + chunk == n;
      float* out = all_logits ? logits.data() + size_t(done) * size_t(c.n_vocab) : logits.data();
      // Logits of a middle chunk are only needed when all are asked for.
      forward_chunk(tokens.data() + done, chunk, all_logits, (all_logits || last_chunk) ? out : nullptr);
      n_past_ += chunk;
    }
  } catch (...) {
    n_past_ = start_past;
    throw;
  }
  return logits;
}

void Session::forward_chunk(const int32_t* tokens, int64_t n, bool all_logits, float* logits) {
  const LlamaConfig& c = model_.config();
  const int64_t p0 = n_past_;
  const int64_t d = c.n_embd, dq = c.n_embd_q(), dkv = c.n_embd_kv();
  for (int64_t t = 0; t < n; ++t) model_.embed(tokens[t], x_.data() + t * d);

  for (int64_t il = 0; il < c.n_layer; ++il) {
    const LayerWeights& L = model_.layer(il);
    rms_norm_rows(x_.data(), L.attn_norm.data(), n, d, c.rms_eps, xb_.data());
    const cpu::MatmulOutput qkv[] = {{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}};
    cpu::matmul_same_input(qkv, xb_.data(), n);
    add_bias_rows(q_.data(), L.bq, n);
    add_bias_rows(k_.data(), L.bk, n);
    add_bias_rows(v_.data(), L.bv, n);
    for (int64_t t = 0; t < n; ++t) {
      rope_.apply(q_.data() + t * dq, c.n_head, p0 + t);
      rope_.apply(k_.data() + t * dkv, c.n_head_kv, p0 + t);
      kv_.store(il, p0 + t, k_.data() + t * dkv, v_.data() + t * dkv);
    }
    attention(il, n);
    cpu::matmul(L.wo, att_.data(), n, xb2_.data());
    add_rows(x_.data(), xb2_.data(), n * d);

    rms_norm_rows(x_.data(), L.ffn_norm.data(), n, d, c.rms_eps, xb_.data());
    const cpu::MatmulOutput gate_up[] = {{&L.w_gate, gate_.data()}, {&L.w_up, up_.data()}};
    cpu::matmul_same_input(gate_up, xb_.data(), n);
    const int64_t nf = n * c.n_ff;
    for (int64_t i = 0; i < nf; ++i) {
      const float g = gate_[size_t(i)];
      gate_[size_t(i)] = g / (1.0f + std::exp(-g)) * up_[size_t(i)];
    }
    cpu::matmul(L.w_down, gate_.data(), n, xb2_.data());
    add_rows(x_.data(), xb2_.data(), n * d);
  }

  if (!logits) return;
  const int64_t first = all_logits ? 0 : n - 1;
  const int64_t rows = n - first;
  rms_norm_rows(x_.data() + first * d, model_.output_norm().data(), rows, d, c.rms_eps, xb_.data());
  cpu::matmul(model_.output(), xb_.data(), rows, logits);
}

// Causal attention for the n tokens of the current chunk (positions
// n_past_ .. n_past_+n-1), whose keys and values are already in the cache.
// Work item = (token, query head); query head h reads KV head h / n_group.
void Session::attention(int64_t layer, int64_t n) {
  const LlamaConfig& c = model_.config();
  const int64_t p0 = n_past_;
  const int64_t hd = c.head_dim, dq = c.n_embd_q();
  const float scale = float(1.0 / std::sqrt(double(hd)));
  auto work = [&](int64_t begin, int64_t end) {
    std::vector<float> scores(static_cast<size_t>(p0 + n));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t t = item / c.n_head, h = item % c.n_head;
      const int64_t kv_head = h / c.n_group();
      const int64_t n_pos = p0 + t + 1;
      const float* q = q_.data() + t * dq + h * hd;
      kv_scores(kv_.keys(layer, kv_head * hd), q, hd, n_pos, scale, scores.data());
      softmax_in_place(scores.data(), n_pos);
      kv_weighted_sum(kv_.values(layer, kv_head * hd), scores.data(), hd, n_pos, att_.data() + t * dq + h * hd);
    }
  };
  // Short contexts are cheaper on the calling thread than waking the team
  // (about 2 multiply-adds per head dimension and cached position).
  const double macs = 2.0 * double(n) * double(c.n_head) * double(hd) * double(p0 + (n + 1) / 2);
  if (macs < 65536.0)
    work(0, n * c.n_head);
  else
    parallel_for(n * c.n_head, 1, work);
}

}  // namespace lowbit::model
