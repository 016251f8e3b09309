// Presets and llama.cpp-compatible per-tensor type rules (see presets.h).
// The rules were written from a reading of llama.cpp's llama-quant.cpp
// (llama_tensor_get_type, build b4747); only the presets lowbit offers are
// covered (no IQ1/IQ2/IQ3 mixes, which need formats lowbit does not write).
#include "quant/presets.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "quant/formats.h"

namespace lowbit::quant {
namespace {

// LLAMA_FTYPE_* values (llama.h).
constexpr uint32_t kFtypeF32 = 0, kFtypeF16 = 1, kFtypeQ4_0 = 2, kFtypeQ4_1 = 3, kFtypeQ8_0 = 7, kFtypeQ5_0 = 8,
                   kFtypeQ5_1 = 9, kFtypeQ2_K = 10, kFtypeQ3_K_S = 11, kFtypeQ3_K_M = 12, kFtypeQ3_K_L = 13,
                   kFtypeQ4_K_S = 14, kFtypeQ4_K_M = 15, kFtypeQ5_K_S = 16, kFtypeQ5_K_M = 17, kFtypeQ6_K = 18,
                   kFtypeIQ4_NL = 25, kFtypeIQ4_XS = 30, kFtypeBF16 = 32;

const std::vector<Preset> kPresets = {
    {"F32", kFtypeF32, GgmlType::F32, "32-bit float (dequantizes a quantized file)"},
    {"F16", kFtypeF16, GgmlType::F16, "16-bit float"},
    {"BF16", kFtypeBF16, GgmlType::BF16, "bfloat16"},
    {"Q8_0", kFtypeQ8_0, GgmlType::Q8_0, "8.5 bpw, nearly lossless"},
    {"Q6_K", kFtypeQ6_K, GgmlType::Q6_K, "6.56 bpw"},
    {"Q5_K_M", kFtypeQ5_K_M, GgmlType::Q5_K, "Q5_K, Q6_K for some attn_v/ffn_down"},
    {"Q5_K_S", kFtypeQ5_K_S, GgmlType::Q5_K, "Q5_K"},
    {"Q5_1", kFtypeQ5_1, GgmlType::Q5_1, "6 bpw legacy"},
    {"Q5_0", kFtypeQ5_0, GgmlType::Q5_0, "5.5 bpw legacy"},
    {"Q4_K_M", kFtypeQ4_K_M, GgmlType::Q4_K, "Q4_K, Q6_K for some attn_v/ffn_down (the usual choice)"},
    {"Q4_K_S", kFtypeQ4_K_S, GgmlType::Q4_K, "Q4_K, Q5_K for early attn_v/ffn_down"},
    {"Q4_1", kFtypeQ4_1, GgmlType::Q4_1, "5 bpw legacy"},
    {"IQ4_NL", kFtypeIQ4_NL, GgmlType::IQ4_NL, "4.5 bpw non-linear"},
    {"Q4_0", kFtypeQ4_0, GgmlType::Q4_0, "4.5 bpw legacy"},
    {"IQ4_XS", kFtypeIQ4_XS, GgmlType::IQ4_XS, "4.25 bpw non-linear"},
    {"Q3_K_L", kFtypeQ3_K_L, GgmlType::Q3_K, "Q3_K, Q5_K for attn_v/attn_output/ffn_down"},
    {"Q3_K_M", kFtypeQ3_K_M, GgmlType::Q3_K, "Q3_K, Q4_K/Q5_K for attn_v/attn_output/ffn_down"},
    {"Q3_K_S", kFtypeQ3_K_S, GgmlType::Q3_K, "Q3_K"},
    {"Q2_K", kFtypeQ2_K, GgmlType::Q2_K, "Q2_K, Q3_K/Q4_K for attn_v/attn_output/ffn_down"},
};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// "blk.12.ffn_down.weight" -> 12; -1 for tensors outside the layers.
int layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  size_t i = 4;
  int value = 0;
  bool any = false;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])) && value < 100000000) {
    value = value * 10 + (name[i] - '0');
    ++i;
    any = true;
  }
  return any ? value : -1;
}

// ggml_n_dims: trailing dimensions of size 1 do not count.
int dims_of(const std::vector<int64_t>& shape) {
  int n = int(shape.size());
  while (n > 1 && shape[size_t(n - 1)] == 1) --n;
  return std::max(n, 1);
}

// Tensors llama-quantize never quantizes, whatever the preset.
bool is_weight_matrix(const TensorDesc& t) {
  const std::string& n = t.name;
  if (n.size() < 6 || n.compare(n.size() - 6, 6, "weight") != 0) return false;
  if (dims_of(t.shape) < 2) return false;
  static const char* const kKeep[] = {
      "_norm.weight",          "ffn_gate_inp.weight",     "ssm_conv1d.weight",       "time_mix_first.weight",
      "time_mix_w1.weight",    "time_mix_w2.weight",      "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
      "time_mix_lerp_fused.weight", "attn_rel_b.weight",
  };
  for (const char* k : kKeep)
    if (contains(n, k)) return false;
  if (n == "position_embd.weight" || n == "token_types.weight") return false;
  return true;
}

bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// Counters llama.cpp keeps while walking the tensors in its order.
struct RuleState {
  int i_attention_wv = 0;
  int i_ffn_down = 0;
};

// The mix rules for one weight matrix (before the row-length fallback).
GgmlType rule_type(const ModelFacts& m, RuleState& st, const TensorDesc& t, const Preset& p, bool has_imatrix) {
  const std::string& name = t.name;
  const uint32_t ft = p.file_type;
  const bool falcon = m.arch == "falcon";
  GgmlType type = p.base_type;

  // Tied embeddings: token_embd doubles as the output matrix and is treated like it.
  if (name == "output.weight" || (!m.has_output && name == "token_embd.weight")) {
    if (falcon || t.shape[0] % block_size(type) != 0) return GgmlType::Q8_0;
    return type == GgmlType::Q8_0 ? type : GgmlType::Q6_K;
  }
  if (name == "token_embd.weight") return type;  // only the IQ1/IQ2/IQ3 mixes change it

  if (contains(name, "attn_v.weight")) {
    const int64_t gqa = m.n_gqa();
    if (ft == kFtypeQ2_K) type = gqa >= 4 ? GgmlType::Q4_K : GgmlType::Q3_K;
    else if (ft == kFtypeQ3_K_M) type = st.i_attention_wv < 2 ? GgmlType::Q5_K : GgmlType::Q4_K;
    else if (ft == kFtypeQ3_K_L) type = GgmlType::Q5_K;
    else if ((ft == kFtypeIQ4_NL || ft == kFtypeIQ4_XS) && gqa >= 4) type = GgmlType::Q5_K;
    else if ((ft == kFtypeQ4_K_M || ft == kFtypeQ5_K_M) && use_more_bits(st.i_attention_wv, m.n_attention_wv))
      type = GgmlType::Q6_K;
    else if (ft == kFtypeQ4_K_S && st.i_attention_wv < 4) type = GgmlType::Q5_K;
    // 70B: attn_v is 8x smaller than attn_q, so extra bits are nearly free.
    if (m.is_70b && (type == GgmlType::Q3_K || type == GgmlType::Q4_K)) type = GgmlType::Q5_K;
    if (m.n_expert == 8) type = GgmlType::Q8_0;
    ++st.i_attention_wv;
    return type;
  }
  if (contains(name, "attn_k.weight")) {
    if (m.n_expert == 8) type = GgmlType::Q8_0;
    return type;
  }
  if (contains(name, "attn_q.weight")) return type;
  if (contains(name, "ffn_down")) {
    // Mixture-of-experts files interleave experts, so the layer comes from the name.
    int i_layer = st.i_ffn_down;
    const int n_layer = int(m.n_layer);
    if (m.n_expert > 1) {
      i_layer = layer_of(name);
      if (i_layer < 0 || i_layer >= n_layer) fail("tensor '{}': cannot tell its layer (block_count {})", name, n_layer);
    }
    if (ft == kFtypeQ2_K) type = GgmlType::Q3_K;
    else if (ft == kFtypeQ3_K_M)
      type = i_layer < n_layer / 16 ? GgmlType::Q5_K
             : (!falcon || use_more_bits(i_layer, n_layer)) ? GgmlType::Q4_K
                                                           : GgmlType::Q3_K;
    else if (ft == kFtypeQ3_K_L) type = falcon ? GgmlType::Q4_K : GgmlType::Q5_K;
    else if (ft == kFtypeQ4_K_M) {
      if (falcon)
        type = i_layer < n_layer / 16 ? GgmlType::Q6_K
               : use_more_bits(i_layer, n_layer) ? GgmlType::Q5_K
                                                 : GgmlType::Q4_K;
      else if (use_more_bits(i_layer, n_layer))
        type = GgmlType::Q6_K;
    } else if (i_layer < n_layer / 8 && (ft == kFtypeIQ4_NL || ft == kFtypeIQ4_XS) && !has_imatrix)
      type = GgmlType::Q5_K;
    else if (ft == kFtypeQ5_K_M && use_more_bits(i_layer, n_layer))
      type = GgmlType::Q6_K;
    else if (ft == kFtypeQ4_K_S && !falcon && i_layer < n_layer / 8)
      type = GgmlType::Q5_K;
    else if ((ft == kFtypeQ4_0 || ft == kFtypeQ5_0) && has_imatrix && i_layer < n_layer / 8)
      type = ft == kFtypeQ4_0 ? GgmlType::Q4_1 : GgmlType::Q5_1;
    ++st.i_ffn_down;
    return type;
  }
  if (contains(name, "attn_output.weight")) {
    if (falcon) return ft == kFtypeQ3_K_L ? GgmlType::Q4_K : type;
    if (m.n_expert == 8) {
      const bool bump = ft == kFtypeQ2_K || ft == kFtypeQ3_K_S || ft == kFtypeQ3_K_M || ft == kFtypeIQ4_NL ||
                        ft == kFtypeQ4_K_S || ft == kFtypeQ4_K_M || ft == kFtypeIQ4_XS;
      return bump ? GgmlType::Q5_K : type;
    }
    if (ft == kFtypeQ2_K) return GgmlType::Q3_K;
    if (ft == kFtypeQ3_K_M) return GgmlType::Q4_K;
    if (ft == kFtypeQ3_K_L) return GgmlType::Q5_K;
    return type;
  }
  if (contains(name, "attn_qkv.weight")) {
    if (ft == kFtypeQ3_K_M || ft == kFtypeQ3_K_L) return GgmlType::Q4_K;
    if (ft == kFtypeQ4_K_M) return GgmlType::Q5_K;
    if (ft == kFtypeQ5_K_M) return GgmlType::Q6_K;
    return type;
  }
  return type;  // ffn_gate / ffn_up change only in the IQ3_XS mix
}

// Unquantized tensors: 1-D floats are stored as F32 (as llama.cpp's
// converter does), everything else keeps its type.
GgmlType kept_type(const TensorDesc& t) {
  const bool is_float = t.type == GgmlType::F32 || t.type == GgmlType::F16 || t.type == GgmlType::BF16;
  if (is_float && dims_of(t.shape) < 2) return GgmlType::F32;
  return t.type;
}

}  // namespace

const std::vector<Preset>& all_presets() { return kPresets; }

const Preset& find_preset(std::string_view name) {
  std::string_view wanted = name;
  if (iequals(name, "Q3_K")) wanted = "Q3_K_M";
  else if (iequals(name, "Q4_K")) wanted = "Q4_K_M";
  else if (iequals(name, "Q5_K")) wanted = "Q5_K_M";
  for (const Preset& p : kPresets)
    if (iequals(p.name, wanted)) return p;
  fail("unknown preset '{}' (valid: {})", name, preset_names());
}

std::string preset_names() {
  std::string out;
  for (const Preset& p : kPresets) {
    if (!out.empty()) out += ", ";
    out += p.name;
  }
  return out;
}

GgmlType parse_output_type(std::string_view name) {
  std::optional<GgmlType> t = type_from_name(name);
  if (!t) fail("unknown tensor type '{}'", name);
  if (!can_quantize(*t)) fail("tensor type {} cannot be written by lowbit", type_name(*t));
  return *t;
}

TensorTypeOverride parse_tensor_type_override(std::string_view spec) {
  const size_t eq = spec.rfind('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == spec.size())
    fail("--tensor-type '{}': expected PATTERN=TYPE, e.g. attn_v=q8_0", spec);
  TensorTypeOverride o;
  o.pattern = std::string(spec.substr(0, eq));
  try {
    o.regex = std::regex(o.pattern, std::regex::ECMAScript | std::regex::icase);
  } catch (const std::regex_error& e) {
    fail("--tensor-type '{}': bad regular expression '{}': {}", spec, o.pattern, e.what());
  }
  o.type = parse_output_type(spec.substr(eq + 1));
  return o;
}

ModelFacts model_facts(const GgufMetadata& metadata, const std::vector<TensorDesc>& tensors) {
  ModelFacts m;
  m.arch = metadata.get_string("general.architecture");
  const std::string a = m.arch;
  auto first_int = [&](const std::string& key, int64_t def) -> int64_t {
    const GgufValue* v = metadata.find(key);
    if (!v) return def;
    if (v->type() == GgufType::ARRAY) {  // per-layer values: llama.cpp's n_gqa() uses layer 0
      std::vector<int64_t> xs = v->as_i64_vector();
      return xs.empty() ? def : xs[0];
    }
    return v->is_integer() ? v->as_i64() : def;
  };
  m.n_layer = first_int(a + ".block_count", 0);
  m.n_head = first_int(a + ".attention.head_count", 0);
  m.n_head_kv = first_int(a + ".attention.head_count_kv", m.n_head);
  m.n_expert = first_int(a + ".expert_count", 0);
  for (const TensorDesc& t : tensors) {
    if (contains(t.name, "attn_v.weight") || contains(t.name, "attn_qkv.weight") || contains(t.name, "attn_kv_b.weight"))
      ++m.n_attention_wv;
    else if (t.name == "output.weight")
      m.has_output = true;
  }
  // llama.cpp's LLM_TYPE_70B for the architectures that can have it.
  if (m.n_layer == 80 && m.n_expert <= 1) {
    if (a == "llama") m.is_70b = m.n_head != m.n_head_kv;
    else if (a == "deci" || a == "qwen2" || a == "olmo") m.is_70b = true;
  }
  return m;
}

bool llama_tensor_order_less(const std::string& a, const std::string& b) {
  const int la = layer_of(a), lb = layer_of(b);
  if (la != lb) return la < lb;
  return a < b;
}

GgmlType fallback_type(GgmlType type, int64_t row_length) {
  if (row_length % block_size(type) == 0) return type;
  GgmlType next;
  switch (type) {
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::IQ4_XS: next = GgmlType::IQ4_NL; break;
    case GgmlType::Q4_K: next = GgmlType::Q5_0; break;
    case GgmlType::Q5_K: next = GgmlType::Q5_1; break;
    case GgmlType::Q6_K: next = GgmlType::Q8_0; break;
    // 32-weight blocks: llama.cpp gives up here; lowbit stores F16.
    default: next = GgmlType::F16; break;
  }
  if (row_length % block_size(next) != 0) next = GgmlType::F16;
  return next;
}

std::vector<TypeChoice> choose_tensor_types(const GgufMetadata& metadata, const std::vector<TensorDesc>& tensors,
                                            const Preset& preset, const TypeOptions& options) {
  const ModelFacts facts = model_facts(metadata, tensors);
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return llama_tensor_order_less(tensors[x].name, tensors[y].name); });

  const bool base_quantized = type_traits(preset.base_type).quantized;
  RuleState state;
  std::vector<TypeChoice> out;
  out.reserve(tensors.size());
  for (size_t idx : order) {
    const TensorDesc& t = tensors[idx];
    TypeChoice c;
    c.index = idx;
    c.name = t.name;
    c.source_type = t.type;
    c.weight_matrix = is_weight_matrix(t) && !t.shape.empty();
    if (!c.weight_matrix) {
      c.type = kept_type(t);
      out.push_back(std::move(c));
      continue;
    }
    GgmlType type = preset.base_type;
    if (!options.pure && base_quantized) type = rule_type(facts, state, t, preset, options.has_imatrix);
    for (const TensorTypeOverride& o : options.overrides) {
      if (std::regex_search(t.name, o.regex)) {
        type = o.type;
        c.note = "--tensor-type " + o.pattern;
      }
    }
    if (options.embd_type && t.name == "token_embd.weight") {
      type = *options.embd_type;
      c.note = "--embd-type";
    }
    if (options.output_type && t.name == "output.weight") {
      type = *options.output_type;
      c.note = "--output-type";
    }
    const GgmlType fitted = fallback_type(type, t.shape[0]);
    if (fitted != type) {
      c.fallback = true;
      std::string why = fmt::format("fallback from {}: row length {} is not a multiple of {}", type_name(type),
                                    t.shape[0], block_size(type));
      c.note = c.note.empty() ? why : c.note + "; " + why;
    }
    c.type = fitted;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace lowbit::quant
