#include "eval/memory_plan.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "core/error.h"

namespace lowbit::eval {
namespace {

// llama.cpp's fallback when a row length is not a multiple of a 256-block.
GgmlType fallback_type(GgmlType t) {
  switch (t) {
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::IQ4_XS: return GgmlType::IQ4_NL;
    case GgmlType::Q4_K: return GgmlType::Q5_0;
    case GgmlType::Q5_K: return GgmlType::Q5_1;
    case GgmlType::Q6_K: return GgmlType::Q8_0;
    default: return GgmlType::F16;
  }
}

GgmlType storable_type(GgmlType want, int64_t row_length) {
  if (row_length % block_size(want) == 0) return want;
  GgmlType fb = fallback_type(want);
  if (row_length % block_size(fb) == 0) return fb;
  return GgmlType::F16;
}

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Splits "8.5GB" into 8.5 and "gb"; rejects anything else.
bool split_number_suffix(const std::string& text, double& number, std::string& suffix) {
  std::string s;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) s += c;
  if (s.empty()) return false;
  size_t used = 0;
  try {
    number = std::stod(s, &used);
  } catch (...) {
    return false;
  }
  if (!std::isfinite(number) || number <= 0) return false;
  suffix = lower(s.substr(used));
  return true;
}

double gb(uint64_t bytes) { return double(bytes) / 1e9; }

}  // namespace

const std::vector<GgmlType>& table_formats() {
  static const std::vector<GgmlType> formats = {
      GgmlType::F32,  GgmlType::F16,  GgmlType::Q8_0,   GgmlType::Q6_K, GgmlType::Q5_K, GgmlType::Q5_0,
      GgmlType::Q4_K, GgmlType::Q4_0, GgmlType::IQ4_XS, GgmlType::Q3_K, GgmlType::Q2_K};
  return formats;
}

std::vector<FormatSize> weight_sizes_for_params(double params) {
  std::vector<FormatSize> out;
  for (GgmlType t : table_formats()) {
    double bpw = bits_per_weight(t);
    out.push_back({t, bpw, uint64_t(std::llround(params * bpw / 8.0))});
  }
  return out;
}

std::vector<FormatSize> weight_sizes_for_model(const ModelSource& model) {
  std::vector<FormatSize> out;
  const double params = double(model.parameter_count());
  for (GgmlType t : table_formats()) {
    uint64_t bytes = 0;
    for (const auto& tensor : model.tensors()) {
      const int64_t rows = tensor.row_count();
      if (tensor.shape.size() < 2) {
        bytes += uint64_t(tensor.element_count()) * 4;
        continue;
      }
      bytes += row_bytes(storable_type(t, tensor.row_length()), tensor.row_length()) * uint64_t(rows);
    }
    out.push_back({t, params > 0 ? 8.0 * double(bytes) / params : 0.0, bytes});
  }
  return out;
}

ModelShape shape_from_metadata(const GgufMetadata& m) {
  const std::string arch = m.get_string("general.architecture");
  if (arch.empty()) fail("model has no general.architecture");
  auto key = [&](const char* k) { return arch + "." + k; };
  ModelShape s;
  s.description = "from the model's " + arch + " metadata";
  s.n_layer = int64_t(m.get_u64(key("block_count"), 0));
  s.n_embd = int64_t(m.get_u64(key("embedding_length"), 0));
  s.n_head = int64_t(m.get_u64(key("attention.head_count"), 0));
  s.n_head_kv = int64_t(m.get_u64(key("attention.head_count_kv"), uint64_t(s.n_head)));
  s.n_ff = int64_t(m.get_u64(key("feed_forward_length"), 0));
  s.n_ctx_train = int64_t(m.get_u64(key("context_length"), 0));
  s.head_dim = int64_t(m.get_u64(key("attention.key_length"), s.n_head ? uint64_t(s.n_embd / s.n_head) : 0));
  if (const GgufValue* toks = m.find("tokenizer.ggml.tokens")) s.n_vocab = int64_t(toks->as_array().count);
  s.n_vocab = int64_t(m.get_u64(key("vocab_size"), uint64_t(s.n_vocab)));
  return s;
}

ModelShape assumed_shape_for_params(double params) {
  // Reference shapes of common Llama-family sizes (layers, hidden, heads,
  // KV heads, FFN); the closest one in log-size is used.
  struct Ref { double params; const char* name; int64_t layers, embd, heads, kv, ff; };
  static const Ref refs[] = {
      {1.24e9, "Llama-3.2-1B", 16, 2048, 32, 8, 8192},
      {3.21e9, "Llama-3.2-3B", 28, 3072, 24, 8, 8192},
      {6.74e9, "Llama-2-7B", 32, 4096, 32, 32, 11008},
      {8.03e9, "Llama-3.1-8B", 32, 4096, 32, 8, 14336},
      {13.0e9, "Llama-2-13B", 40, 5120, 40, 40, 13824},
      {32.8e9, "Qwen2.5-32B", 64, 5120, 40, 8, 27648},
      {70.6e9, "Llama-3.1-70B", 80, 8192, 64, 8, 28672},
      {405e9, "Llama-3.1-405B", 126, 16384, 128, 8, 53248},
  };
  const Ref* best = &refs[0];
  for (const auto& r : refs)
    if (std::fabs(std::log(r.params / params)) < std::fabs(std::log(best->params / params))) best = &r;
  ModelShape s;
  s.description = fmt::format("assumed {}-like shape", best->name);
  s.n_layer = best->layers;
  s.n_embd = best->embd;
  s.n_head = best->heads;
  s.n_head_kv = best->kv;
  s.head_dim = best->embd / best->heads;
  s.n_ff = best->ff;
  return s;
}

uint64_t kv_cache_bytes(const ModelShape& s, int64_t n_ctx, GgmlType kv_type) {
  const int64_t per_token = 2 * s.n_layer * s.n_head_kv * s.head_dim;  // K and V
  return uint64_t(double(per_token) * double(n_ctx) * bits_per_weight(kv_type) / 8.0);
}

std::optional<double> parse_param_count(const std::string& text) {
  double n;
  std::string suffix;
  if (!split_number_suffix(text, n, suffix)) return std::nullopt;
  static const std::map<std::string, double> scale = {{"", 1}, {"k", 1e3}, {"m", 1e6}, {"b", 1e9}, {"t", 1e12}};
  auto it = scale.find(suffix);
  if (it == scale.end()) return std::nullopt;
  return n * it->second;
}

std::optional<double> parse_byte_size(const std::string& text) {
  double n;
  std::string suffix;
  if (!split_number_suffix(text, n, suffix)) return std::nullopt;
  static const std::map<std::string, double> scale = {
      {"", 1},         {"b", 1},          {"k", 1e3},         {"kb", 1e3},          {"m", 1e6},
      {"mb", 1e6},     {"g", 1e9},        {"gb", 1e9},        {"t", 1e12},          {"tb", 1e12},
      {"kib", 1024.0}, {"mib", 1048576.0}, {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
  auto it = scale.find(suffix);
  if (it == scale.end()) return std::nullopt;
  return n * it->second;
}

namespace {
uint64_t overhead_estimate(const ModelShape& s, int64_t n_ctx) {
  // Activations and scratch for a 512-token batch plus output logits: small
  // next to weights; llama.cpp's compute buffers are of this order.
  const double batch = 512;
  const double act = batch * double(std::max(s.n_embd * 4, s.n_ff * 2)) * 4.0;
  const double logits = batch * double(s.n_vocab > 0 ? s.n_vocab : 32000) * 4.0;
  const double attn = batch * double(std::max<int64_t>(n_ctx, 1)) * 4.0 * double(std::max<int64_t>(s.n_head, 1)) / 8;
  return uint64_t(act + logits + attn);
}
}  // namespace

MemPlan plan_for_params(double params, const MemPlanOptions& o) {
  MemPlan p;
  p.params = params;
  p.subject = fmt::format("{:.3g}B parameters", params / 1e9);
  p.shape = assumed_shape_for_params(params);
  p.kv_bytes = kv_cache_bytes(p.shape, o.n_ctx, o.kv_type);
  p.overhead_bytes = overhead_estimate(p.shape, o.n_ctx);
  p.weights = weight_sizes_for_params(params);
  return p;
}

MemPlan plan_for_model(const ModelSource& model, const MemPlanOptions& o) {
  MemPlan p;
  p.params = double(model.parameter_count());
  p.subject = model.path();
  p.shape = shape_from_metadata(model.metadata());
  p.kv_bytes = kv_cache_bytes(p.shape, o.n_ctx, o.kv_type);
  p.overhead_bytes = overhead_estimate(p.shape, o.n_ctx);
  p.weights = weight_sizes_for_model(model);
  p.file_bytes = model.tensor_bytes();
  std::map<GgmlType, uint64_t> by_type;
  for (const auto& t : model.tensors())
    if (t.shape.size() >= 2) by_type[t.type] += t.bytes;
  uint64_t most = 0;
  for (auto& [t, b] : by_type)
    if (b > most) most = b, p.file_type = t;
  return p;
}

std::string render_mem_plan(const MemPlan& p, const MemPlanOptions& o) {
  std::string out;
  out += fmt::format("Memory plan for {} ({:.0f} parameters)\n", p.subject, p.params);
  const ModelShape& s = p.shape;
  out += fmt::format("Shape ({}): {} layers, hidden {}, {} heads, {} KV heads, head dim {}\n", s.description,
                     s.n_layer, s.n_embd, s.n_head, s.n_head_kv, s.head_dim);
  out += fmt::format("KV cache: {} context x {} = {:.2f} GB; runtime buffers ~{:.2f} GB\n", o.n_ctx,
                     type_name(o.kv_type), gb(p.kv_bytes), gb(p.overhead_bytes));
  if (o.budget_bytes) out += fmt::format("Memory budget: {:.2f} GB\n", *o.budget_bytes / 1e9);
  out += "\n";
  out += fmt::format("{:<8} {:>8} {:>12} {:>12} {:>10}{}\n", "format", "bits/w", "weights GB", "total GB",
                     "vs F32", o.budget_bytes ? "  fits?" : "");
  const uint64_t f32_bytes = p.weights.empty() ? 1 : p.weights.front().bytes;
  for (const auto& w : p.weights) {
    const uint64_t total = w.bytes + p.kv_bytes + p.overhead_bytes;
    std::string fits;
    if (o.budget_bytes) {
      double free_gb = (*o.budget_bytes - double(total)) / 1e9;
      fits = double(total) <= *o.budget_bytes ? fmt::format("  yes ({:.2f} GB free)", free_gb)
                                               : fmt::format("  no ({:.2f} GB short)", -free_gb);
    }
    std::string name = w.type == GgmlType::F16 ? "F16/BF16" : type_name(w.type);
    out += fmt::format("{:<8} {:>8.3f} {:>12.3f} {:>12.3f} {:>9.1f}x{}\n", name, w.bits_per_weight, gb(w.bytes),
                       gb(total), double(f32_bytes) / double(std::max<uint64_t>(w.bytes, 1)), fits);
  }
  if (p.file_bytes) {
    out += fmt::format("\nThis file: {:.3f} GB of tensor data ({:.3f} bits/weight{})\n", gb(*p.file_bytes),
                       8.0 * double(*p.file_bytes) / std::max(p.params, 1.0),
                       p.file_type ? ", mostly " + type_name(*p.file_type) : std::string());
  }
  return out;
}

}  // namespace lowbit::eval
