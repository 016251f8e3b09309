// Reads LlamaConfig from GGUF-style metadata and checks it against the
// tensors (see llama_config.h).
#include "model/llama_config.h"

#include <fmt/format.h>

#include <cmath>

#include "core/error.h"
#include "io/model_source.h"
#include "quant/formats.h"

namespace lowbit::model {
namespace {

// Bounds that no real model exceeds; they keep a corrupt header from asking
// for absurd buffers before the tensor shapes are compared.
constexpr int64_t kMaxDim = int64_t(1) << 20;
constexpr int64_t kMaxLayers = 4096;

class KeyReader {
 public:
  KeyReader(const ModelSource& src, std::string arch) : src_(src), arch_(std::move(arch)) {}

  std::string key(const std::string& suffix) const { return arch_ + "." + suffix; }
  const GgufValue* find(const std::string& suffix) const { return src_.metadata().find(key(suffix)); }

  int64_t required_int(const std::string& suffix, int64_t lo, int64_t hi) const {
    const GgufValue* v = find(suffix);
    if (!v) fail("{}: missing metadata key {}", src_.path(), key(suffix));
    return checked_int(*v, suffix, lo, hi);
  }
  int64_t optional_int(const std::string& suffix, int64_t def, int64_t lo, int64_t hi) const {
    const GgufValue* v = find(suffix);
    return v ? checked_int(*v, suffix, lo, hi) : def;
  }
  double optional_float(const std::string& suffix, double def) const {
    const GgufValue* v = find(suffix);
    if (!v) return def;
    if (!v->is_number()) fail("{}: metadata key {} must be a number, is {}", src_.path(), key(suffix), gguf_type_name(v->type()));
    double x = v->as_f64();
    if (!std::isfinite(x)) fail("{}: metadata key {} is not finite", src_.path(), key(suffix));
    return x;
  }
  std::string optional_string(const std::string& suffix) const {
    const GgufValue* v = find(suffix);
    if (!v) return "";
    if (v->type() != GgufType::STRING) fail("{}: metadata key {} must be a string", src_.path(), key(suffix));
    return v->as_string();
  }

 private:
  int64_t checked_int(const GgufValue& v, const std::string& suffix, int64_t lo, int64_t hi) const {
    if (v.type() == GgufType::ARRAY)
      fail("{}: metadata key {} is a per-layer array; lowbit supports only one value for all layers", src_.path(), key(suffix));
    if (!v.is_integer()) fail("{}: metadata key {} must be an integer, is {}", src_.path(), key(suffix), gguf_type_name(v.type()));
    int64_t x = v.as_i64();
    if (x < lo || x > hi) fail("{}: metadata key {} = {} is out of range [{}, {}]", src_.path(), key(suffix), x, lo, hi);
    return x;
  }
  const ModelSource& src_;
  std::string arch_;
};

std::vector<float> read_small_float_tensor(const TensorView& t, int64_t expected) {
  if (t.element_count() != expected)
    fail("{}: tensor {} has {} values, expected {}", t.source_file, t.name, t.element_count(), expected);
  std::vector<float> out(static_cast<size_t>(expected));
  quant::to_float(t.type, t.data, out.data(), expected);
  return out;
}

}  // namespace

bool is_supported_architecture(const std::string& arch) {
  return arch == "llama" || arch == "mistral" || arch == "qwen2";
}

LlamaConfig LlamaConfig::from_source(const ModelSource& src) {
  LlamaConfig c;
  c.architecture = src.architecture();
  if (c.architecture.empty()) fail("{}: no general.architecture in the metadata", src.path());
  if (!is_supported_architecture(c.architecture))
    fail("{}: architecture '{}' is not supported by the engine (supported: llama, mistral, qwen2)", src.path(),
         c.architecture);
  KeyReader k(src, c.architecture);

  c.n_embd = k.required_int("embedding_length", 1, kMaxDim);
  c.n_layer = k.required_int("block_count", 1, kMaxLayers);
  c.n_head = k.required_int("attention.head_count", 1, kMaxDim);
  c.n_head_kv = k.optional_int("attention.head_count_kv", c.n_head, 1, c.n_head);
  c.n_ff = k.required_int("feed_forward_length", 1, kMaxDim);
  c.n_ctx_train = k.optional_int("context_length", 4096, 1, int64_t(1) << 32);
  if (c.n_head % c.n_head_kv != 0)
    fail("{}: {} = {} is not a multiple of {} = {}", src.path(), k.key("attention.head_count"), c.n_head,
         k.key("attention.head_count_kv"), c.n_head_kv);
  int64_t default_head_dim = c.n_embd % c.n_head == 0 ? c.n_embd / c.n_head : 0;
  c.head_dim = k.optional_int("attention.key_length", default_head_dim, 0, kMaxDim);
  if (c.head_dim <= 0)
    fail("{}: {} = {} is not divisible by {} = {} and no attention.key_length is given", src.path(),
         k.key("embedding_length"), c.n_embd, k.key("attention.head_count"), c.n_head);
  int64_t value_length = k.optional_int("attention.value_length", c.head_dim, 1, kMaxDim);
  if (value_length != c.head_dim)
    fail("{}: attention.value_length {} differs from key_length {}; not supported", src.path(), value_length, c.head_dim);
  c.n_rot = k.optional_int("rope.dimension_count", c.head_dim, 2, c.head_dim);
  if (c.n_rot % 2 != 0) fail("{}: {} = {} must be even", src.path(), k.key("rope.dimension_count"), c.n_rot);

  double eps = k.optional_float("attention.layer_norm_rms_epsilon", 1e-5);
  if (!(eps > 0 && eps < 1)) fail("{}: {} = {} is out of range", src.path(), k.key("attention.layer_norm_rms_epsilon"), eps);
  c.rms_eps = float(eps);
  c.rope_base = k.optional_float("rope.freq_base", c.architecture == "qwen2" ? 1000000.0 : 10000.0);
  if (!(c.rope_base > 1)) fail("{}: {} = {} must be > 1", src.path(), k.key("rope.freq_base"), c.rope_base);

  // RoPE scaling. GGUF: rope.scaling.type (none/linear/yarn/...) with
  // rope.scaling.factor; older files: rope.scale_linear. llama3-style
  // scaling comes as rope.scaling.type = llama3 with low/high frequency
  // factors, or (llama.cpp's converter) as a rope_freqs.weight tensor.
  std::string scaling = k.optional_string("rope.scaling.type");
  double factor = k.optional_float("rope.scaling.factor", 0.0);
  if (scaling.empty() || scaling == "none" || scaling == "default") {
    double legacy = k.optional_float("rope.scale_linear", 0.0);
    if (legacy > 0 && legacy != 1.0) {
      c.rope_scaling = RopeScaling::Linear;
      c.rope_scale_factor = legacy;
    }
  } else if (scaling == "linear") {
    c.rope_scaling = RopeScaling::Linear;
    c.rope_scale_factor = factor > 0 ? factor : 1.0;
  } else if (scaling == "llama3") {
    c.rope_scaling = RopeScaling::Llama3;
    c.rope_scale_factor = factor > 0 ? factor : 8.0;
    c.rope_low_freq_factor = k.optional_float("rope.scaling.low_freq_factor", 1.0);
    c.rope_high_freq_factor = k.optional_float("rope.scaling.high_freq_factor", 4.0);
    c.rope_original_context = k.optional_int("rope.scaling.original_context_length", 8192, 1, int64_t(1) << 32);
    if (!(c.rope_high_freq_factor > c.rope_low_freq_factor) || !(c.rope_low_freq_factor > 0))
      fail("{}: llama3 RoPE scaling needs 0 < low_freq_factor < high_freq_factor (got {} and {})", src.path(),
           c.rope_low_freq_factor, c.rope_high_freq_factor);
  } else {
    fail("{}: RoPE scaling type '{}' ({}) is not supported (supported: none, linear, llama3)", src.path(), scaling,
         k.key("rope.scaling.type"));
  }
  if (!(c.rope_scale_factor > 0)) fail("{}: RoPE scaling factor {} must be > 0", src.path(), c.rope_scale_factor);
  if (const TensorView* ff = src.find("rope_freqs.weight")) {
    c.rope_freq_factors = read_small_float_tensor(*ff, c.n_rot / 2);
    for (float f : c.rope_freq_factors)
      if (!(f > 0) || !std::isfinite(f)) fail("{}: rope_freqs.weight holds a non-positive or non-finite value", src.path());
  }

  // Vocabulary size and the output matrix come from the tensors.
  const TensorView& embd = src.at("token_embd.weight");
  if (embd.shape.size() != 2 || embd.shape[0] != c.n_embd)
    fail("{}: token_embd.weight has row length {}, expected embedding_length {}", embd.source_file,
         embd.shape.empty() ? 0 : embd.shape[0], c.n_embd);
  c.n_vocab = embd.shape[1];
  if (c.n_vocab < 1) fail("{}: token_embd.weight has no rows", embd.source_file);
  c.tied_output = src.find("output.weight") == nullptr;
  c.has_qkv_bias = src.find("blk.0.attn_q.bias") != nullptr;

  // RoPE pairing: qwen2 always rotates the two halves of a head. For llama,
  // GGUF files hold attn_q/attn_k permuted for adjacent pairs; an HF folder
  // hands them over in HF order (rope_permute_heads > 0), which half-split
  // RoPE uses as is.
  if (c.architecture == "qwen2") {
    c.rope_layout = RopeLayout::HalfSplit;
  } else {
    const TensorView& wq = src.at("blk.0.attn_q.weight");
    c.rope_layout = wq.rope_permute_heads > 0 ? RopeLayout::HalfSplit : RopeLayout::AdjacentPairs;
  }
  return c;
}

std::string LlamaConfig::summary() const {
  const char* scaling = rope_scaling == RopeScaling::None ? "none" : rope_scaling == RopeScaling::Linear ? "linear" : "llama3";
  return fmt::format(
      "{}: {} layers, embd {}, {} heads ({} kv, dim {}), ffn {}, vocab {}, ctx {}, rope base {} ({}, scaling {}){}{}",
      architecture, n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx_train, rope_base,
      rope_layout == RopeLayout::HalfSplit ? "half-split" : "adjacent pairs", scaling, has_qkv_bias ? ", qkv bias" : "",
      tied_output ? ", tied output" : "");
}

}  // namespace lowbit::model
