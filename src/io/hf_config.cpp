// config.json reading and its translation to GGUF hyper-parameter metadata
// (see hf_config.h).
#include "io/hf_config.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "io/hf_json.h"

namespace lowbit {

namespace {

int64_t required_int(const Json& j, const char* key, const std::string& file) {
  auto v = json_int(j, key, file);
  if (!v) fail("{}: missing \"{}\"", file, key);
  return *v;
}

void check_range(int64_t v, int64_t lo, int64_t hi, const char* key, const std::string& file) {
  if (v < lo || v > hi) fail("{}: \"{}\" = {} is out of range [{}, {}]", file, key, v, lo, hi);
}

// RoPE settings: transformers 5 folds rope_theta and the scaling into
// "rope_parameters"; older configs have "rope_theta" and "rope_scaling".
void read_rope(const Json& j, HfConfig& c) {
  const std::string& file = c.path;
  if (auto theta = json_number(j, "rope_theta", file)) c.rope_theta = *theta;
  const Json* scaling = nullptr;
  std::string where;
  if (auto it = j.find("rope_parameters"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) fail("{}: \"rope_parameters\" must be an object", file);
    if (auto theta = json_number(*it, "rope_theta", file + ": rope_parameters")) c.rope_theta = *theta;
    else if (!it->contains("rope_type")) fail("{}: \"rope_parameters\" has neither rope_theta nor rope_type", file);
    scaling = &*it;
    where = file + ": rope_parameters";
  }
  if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) fail("{}: \"rope_scaling\" must be an object", file);
    scaling = &*it;
    where = file + ": rope_scaling";
  }
  if (!(c.rope_theta > 0) || !std::isfinite(c.rope_theta)) fail("{}: rope_theta {} must be positive", file, c.rope_theta);
  if (!scaling) return;
  auto type = json_string(*scaling, "rope_type", where);
  if (!type) type = json_string(*scaling, "type", where);
  c.rope_type = type.value_or("default");
  if (c.rope_type == "default") return;
  auto factor = json_number(*scaling, "factor", where);
  if (c.rope_type == "linear" || c.rope_type == "yarn" || c.rope_type == "llama3") {
    if (!factor) fail("{}: rope type {} needs \"factor\"", where, c.rope_type);
    if (!(*factor > 0) || !std::isfinite(*factor)) fail("{}: factor {} must be positive", where, *factor);
    c.rope_factor = *factor;
  } else {
    fail("{}: rope scaling type '{}' is not supported (default, linear, llama3, yarn are)", where, c.rope_type);
  }
  if (auto orig = json_int(*scaling, "original_max_position_embeddings", where)) {
    check_range(*orig, 1, int64_t(1) << 32, "original_max_position_embeddings", where);
    c.rope_original_context = *orig;
  }
  if (c.rope_type == "llama3") {
    if (c.arch != "llama") fail("{}: llama3 rope scaling is only supported for llama models", where);
    c.rope_low_freq_factor = json_number(*scaling, "low_freq_factor", where).value_or(1.0);
    c.rope_high_freq_factor = json_number(*scaling, "high_freq_factor", where).value_or(4.0);
    if (c.rope_original_context == 0) c.rope_original_context = 8192;
    if (!(c.rope_high_freq_factor > c.rope_low_freq_factor) || !(c.rope_low_freq_factor > 0))
      fail("{}: llama3 needs 0 < low_freq_factor < high_freq_factor (got {}, {})", where, c.rope_low_freq_factor,
           c.rope_high_freq_factor);
  }
}

}  // namespace

HfConfig read_hf_config(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  HfConfig c;
  c.path = fs::is_directory(path, ec) ? (fs::path(path) / "config.json").string() : path;
  const std::string& file = c.path;
  Json j = read_json_file(file, 64ull << 20);
  if (!j.is_object()) fail("{}: expected a JSON object", file);

  auto model_type = json_string(j, "model_type", file);
  if (!model_type) fail("{}: missing \"model_type\"", file);
  c.model_type = *model_type;
  if (c.model_type == "llama" || c.model_type == "mistral") c.arch = "llama";
  else if (c.model_type == "qwen2") c.arch = "qwen2";
  else fail("{}: model_type '{}' is not supported (llama, mistral, qwen2 are)", file, c.model_type);

  constexpr int64_t kMaxDim = int64_t(1) << 20;
  c.hidden_size = required_int(j, "hidden_size", file);
  check_range(c.hidden_size, 1, kMaxDim, "hidden_size", file);
  c.n_layer = required_int(j, "num_hidden_layers", file);
  check_range(c.n_layer, 1, 4096, "num_hidden_layers", file);
  c.n_head = required_int(j, "num_attention_heads", file);
  check_range(c.n_head, 1, 65536, "num_attention_heads", file);
  c.n_head_kv = json_int(j, "num_key_value_heads", file).value_or(c.n_head);
  check_range(c.n_head_kv, 1, c.n_head, "num_key_value_heads", file);
  if (c.n_head % c.n_head_kv != 0)
    fail("{}: num_attention_heads {} is not a multiple of num_key_value_heads {}", file, c.n_head, c.n_head_kv);
  if (auto hd = json_int(j, "head_dim", file)) {
    c.head_dim = *hd;
    c.head_dim_given = true;
  } else {
    if (c.hidden_size % c.n_head != 0)
      fail("{}: hidden_size {} is not a multiple of num_attention_heads {}", file, c.hidden_size, c.n_head);
    c.head_dim = c.hidden_size / c.n_head;
  }
  check_range(c.head_dim, 2, 65536, "head_dim", file);
  if (c.head_dim % 2 != 0) fail("{}: head_dim {} must be even for RoPE", file, c.head_dim);
  c.intermediate_size = required_int(j, "intermediate_size", file);
  check_range(c.intermediate_size, 1, kMaxDim * 4, "intermediate_size", file);
  c.vocab_size = required_int(j, "vocab_size", file);
  check_range(c.vocab_size, 1, int64_t(1) << 24, "vocab_size", file);
  c.max_position_embeddings = required_int(j, "max_position_embeddings", file);
  check_range(c.max_position_embeddings, 1, int64_t(1) << 32, "max_position_embeddings", file);
  c.rms_norm_eps = json_number(j, "rms_norm_eps", file).value_or(1e-6);
  if (!(c.rms_norm_eps > 0) || c.rms_norm_eps > 1) fail("{}: rms_norm_eps {} is out of range (0, 1]", file, c.rms_norm_eps);
  c.tie_word_embeddings = json_bool(j, "tie_word_embeddings", file).value_or(false);
  // Qwen2 always has q/k/v biases (and no flag for it); llama's are optional.
  c.attention_bias = c.arch == "qwen2" ? true : json_bool(j, "attention_bias", file).value_or(false);
  if (json_bool(j, "mlp_bias", file).value_or(false)) fail("{}: mlp_bias = true is not supported", file);
  read_rope(j, c);

  if (auto bos = json_int(j, "bos_token_id", file)) c.bos_token_id = *bos;
  if (auto it = j.find("eos_token_id"); it != j.end() && it->is_array()) {
    if (!it->empty() && (*it)[0].is_number_integer()) c.eos_token_id = (*it)[0].get<int64_t>();
  } else if (auto eos = json_int(j, "eos_token_id", file)) {
    c.eos_token_id = *eos;
  }
  return c;
}

void add_hf_config_metadata(const HfConfig& c, uint32_t file_type, GgufMetadata& m) {
  const std::string a = c.arch + ".";
  m.set(a + "block_count", GgufValue::u32(uint32_t(c.n_layer)));
  m.set(a + "context_length", GgufValue::u32(uint32_t(c.max_position_embeddings)));
  m.set(a + "embedding_length", GgufValue::u32(uint32_t(c.hidden_size)));
  m.set(a + "feed_forward_length", GgufValue::u32(uint32_t(c.intermediate_size)));
  m.set(a + "attention.head_count", GgufValue::u32(uint32_t(c.n_head)));
  m.set(a + "attention.head_count_kv", GgufValue::u32(uint32_t(c.n_head_kv)));
  m.set(a + "rope.freq_base", GgufValue::f32(float(c.rope_theta)));
  m.set(a + "attention.layer_norm_rms_epsilon", GgufValue::f32(float(c.rms_norm_eps)));
  if (c.head_dim_given) {
    m.set(a + "attention.key_length", GgufValue::u32(uint32_t(c.head_dim)));
    m.set(a + "attention.value_length", GgufValue::u32(uint32_t(c.head_dim)));
  }
  m.set("general.file_type", GgufValue::u32(file_type));
  if (c.arch == "llama") m.set(a + "vocab_size", GgufValue::u32(uint32_t(c.vocab_size)));
  m.set(a + "rope.dimension_count", GgufValue::u32(uint32_t(c.head_dim)));
  if (c.rope_type == "linear" || c.rope_type == "yarn") {
    m.set(a + "rope.scaling.type", GgufValue::string(c.rope_type));
    m.set(a + "rope.scaling.factor", GgufValue::f32(float(c.rope_factor)));
    if (c.rope_type == "yarn" && c.rope_original_context > 0)
      m.set(a + "rope.scaling.original_context_length", GgufValue::u32(uint32_t(c.rope_original_context)));
  }
}

std::vector<float> llama3_rope_factors(const HfConfig& c) {
  if (c.rope_type != "llama3") return {};
  // Meta's llama3 frequency scaling, in float32 like the reference code:
  // long wavelengths are divided by `factor`, short ones kept, and the band
  // in between interpolated smoothly.
  const float pi2 = float(2.0 * M_PI);
  const float old_ctx = float(c.rope_original_context);
  const float lo = float(c.rope_low_freq_factor), hi = float(c.rope_high_freq_factor);
  const float factor = float(c.rope_factor);
  const float low_freq_wavelen = old_ctx / lo;
  const float high_freq_wavelen = old_ctx / hi;
  std::vector<float> out;
  for (int64_t i = 0; i < c.head_dim; i += 2) {
    float freq = 1.0f / std::pow(float(c.rope_theta), float(i) / float(c.head_dim));
    float wavelen = pi2 / freq;
    if (wavelen < high_freq_wavelen) {
      out.push_back(1.0f);
    } else if (wavelen > low_freq_wavelen) {
      out.push_back(factor);
    } else {
      float smooth = (old_ctx / wavelen - lo) / (hi - lo);
      out.push_back(1.0f / ((1.0f - smooth) / factor + smooth));
    }
  }
  return out;
}

std::string size_label(uint64_t n) {
  double scaled;
  const char* suffix;
  if (n > 1e12) scaled = double(n) * 1e-12, suffix = "T";
  else if (n > 1e9) scaled = double(n) * 1e-9, suffix = "B";
  else if (n > 1e6) scaled = double(n) * 1e-6, suffix = "M";
  else scaled = double(n) * 1e-3, suffix = "K";
  // At least two significant digits: 23M, 3.9M, 0.29M is never produced.
  std::string whole = std::to_string(int64_t(std::llround(scaled)));
  int digits = int(whole.size()) - (whole[0] == '0' ? 1 : 0);
  int decimals = std::max(2 - digits, 0);
  return fmt::format("{:.{}f}{}", scaled, decimals, suffix);
}

}  // namespace lowbit
