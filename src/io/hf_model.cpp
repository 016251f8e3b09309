// Hugging Face model folder -> ModelSource: config.json and tokenizer.json
// become GGUF metadata, safetensors tensors get GGUF names and stay in their
// mapped files (zero-copy). Tensor order follows llama.cpp's converter:
// files in name order, each file's tensors in name order.
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>

#include "core/error.h"
#include "io/hf_config.h"
#include "io/hf_tokenizer.h"
#include "io/model_source.h"
#include "io/safetensors.h"

namespace lowbit {

namespace fs = std::filesystem;

namespace {

// HF name -> GGUF name for the llama / mistral / qwen2 layouts; nullopt for
// tensors llama.cpp skips, an error for anything unknown.
struct LayerName {
  const char* hf;
  const char* gguf;
};
constexpr LayerName kLayerNames[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

std::optional<std::string> gguf_name(const SafetensorsTensor& t, const HfConfig& cfg) {
  const std::string& n = t.name;
  if (n == "model.embed_tokens.weight") return "token_embd.weight";
  if (n == "model.norm.weight") return "output_norm.weight";
  if (n == "lm_head.weight") return "output.weight";
  const std::string prefix = "model.layers.";
  if (n.rfind(prefix, 0) == 0) {
    size_t dot = n.find('.', prefix.size());
    std::string idx = n.substr(prefix.size(), dot == std::string::npos ? std::string::npos : dot - prefix.size());
    bool digits = !idx.empty() && idx.size() <= 6 && idx.find_first_not_of("0123456789") == std::string::npos;
    if (digits && dot != std::string::npos) {
      const int64_t layer = std::stoll(idx);
      const std::string rest = n.substr(dot + 1);
      if (rest == "self_attn.rotary_emb.inv_freq") return std::nullopt;  // recomputed by every runtime
      for (const auto& ln : kLayerNames)
        if (rest == ln.hf) {
          if (layer >= cfg.n_layer)
            fail("{}: tensor '{}' is for layer {} but {} has num_hidden_layers = {}", t.file, n, layer, cfg.path,
                 cfg.n_layer);
          return fmt::format("blk.{}.{}", layer, ln.gguf);
        }
    }
  }
  fail("{}: tensor '{}' has no GGUF equivalent for a {} model", t.file, n, cfg.model_type);
}

// Expected GGUF shape (ne order) of each tensor, from config.json.
std::vector<int64_t> expected_shape(const std::string& name, const HfConfig& c) {
  const int64_t q_rows = c.n_head * c.head_dim, kv_rows = c.n_head_kv * c.head_dim;
  auto ends = [&](const char* s) {
    size_t l = std::strlen(s);
    return name.size() >= l && name.compare(name.size() - l, l, s) == 0;
  };
  if (name == "token_embd.weight" || name == "output.weight") return {c.hidden_size, c.vocab_size};
  if (name == "output_norm.weight" || ends("_norm.weight")) return {c.hidden_size};
  if (ends("attn_q.weight")) return {c.hidden_size, q_rows};
  if (ends("attn_q.bias")) return {q_rows};
  if (ends("attn_k.weight") || ends("attn_v.weight")) return {c.hidden_size, kv_rows};
  if (ends("attn_k.bias") || ends("attn_v.bias")) return {kv_rows};
  if (ends("attn_output.weight")) return {q_rows, c.hidden_size};
  if (ends("attn_output.bias")) return {c.hidden_size};
  if (ends("ffn_gate.weight") || ends("ffn_up.weight")) return {c.hidden_size, c.intermediate_size};
  if (ends("ffn_down.weight")) return {c.intermediate_size, c.hidden_size};
  return {};
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

uint32_t file_type_of(const std::vector<TensorView>& tensors) {
  std::map<GgmlType, uint64_t> bytes;
  for (const auto& t : tensors)
    if (t.shape.size() >= 2) bytes[t.type] += t.bytes;
  GgmlType best = GgmlType::F32;
  uint64_t most = 0;
  for (auto [type, b] : bytes)
    if (b > most) best = type, most = b;
  // llama_ftype: ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_BF16 = 32.
  return best == GgmlType::BF16 ? 32 : best == GgmlType::F16 ? 1 : 0;
}

}  // namespace

std::unique_ptr<ModelSource> open_hf_folder(const std::string& dir, FileAccess access) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("{}: not a directory", dir);
  const fs::path folder(dir);
  const bool has_config = fs::is_regular_file(folder / "config.json", ec);
  const bool has_weights = folder_has_safetensors(dir);
  if (!has_config && !has_weights)
    fail("{}: not a model folder (no config.json or *.safetensors; a GGUF model is a file)", dir);
  if (!has_config) fail("{}: no config.json next to the safetensors weights", dir);
  if (!has_weights) {
    if (fs::exists(folder / "pytorch_model.bin", ec) || fs::exists(folder / "pytorch_model.bin.index.json", ec))
      fail("{}: only safetensors weights are supported (found pytorch_model.bin)", dir);
    fail("{}: no safetensors weights (model.safetensors or model.safetensors.index.json)", dir);
  }

  const HfConfig cfg = read_hf_config((folder / "config.json").string());
  const SafetensorsModel weights = SafetensorsModel::open_folder(dir, access);
  GgufMetadata tokenizer = hf_tokenizer_metadata(dir, cfg.vocab_size);

  auto src = std::make_unique<ModelSource>(dir, false);
  std::vector<TensorView> views;
  // llama3 RoPE: llama.cpp stores the frequency factors as a leading F32
  // tensor. Its bytes live in a heap buffer kept alive by an aliasing
  // shared_ptr (it owns the buffer, points at no mapping).
  if (auto factors = llama3_rope_factors(cfg); !factors.empty()) {
    auto buffer = std::make_shared<std::vector<float>>(std::move(factors));
    TensorView v;
    v.name = "rope_freqs.weight";
    v.shape = {int64_t(buffer->size())};
    v.type = GgmlType::F32;
    v.data = reinterpret_cast<const uint8_t*>(buffer->data());
    v.bytes = buffer->size() * sizeof(float);
    v.source_file = (folder / "config.json").string();
    views.push_back(std::move(v));
    src->keep_alive(std::shared_ptr<const MappedFile>(buffer, nullptr));
  }

  std::map<std::string, const SafetensorsTensor*> seen;
  for (const SafetensorsTensor* t : weights.tensors()) {
    std::optional<std::string> name = gguf_name(*t, cfg);
    if (!name) continue;
    if (auto [it, inserted] = seen.emplace(*name, t); !inserted)
      fail("{}: tensors '{}' and '{}' both map to {}", dir, it->second->name, t->name, *name);
    TensorView v;
    v.name = *name;
    v.type = t->float_type();
    v.shape = t->gguf_shape();
    v.data = t->data;
    v.bytes = t->bytes;
    v.source_file = t->file;
    const std::vector<int64_t> want = expected_shape(v.name, cfg);
    if (v.shape != want)
      fail("{}: tensor '{}' has shape {} (GGUF order) but {} implies {}", t->file, t->name, shape_text(v.shape),
           cfg.path, shape_text(want));
    if (cfg.arch == "llama") {
      if (v.name.find(".attn_q.") != std::string::npos) v.rope_permute_heads = cfg.n_head;
      if (v.name.find(".attn_k.") != std::string::npos) v.rope_permute_heads = cfg.n_head_kv;
    }
    views.push_back(std::move(v));
  }

  // Every tensor the architecture needs must be there.
  auto require = [&](const std::string& n) {
    if (!seen.count(n)) fail("{}: missing tensor {} (GGUF name) in the safetensors files", dir, n);
  };
  require("token_embd.weight");
  require("output_norm.weight");
  if (!cfg.tie_word_embeddings) require("output.weight");
  for (int64_t l = 0; l < cfg.n_layer; ++l) {
    for (const char* part : {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
                             "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight",
                             "ffn_down.weight"})
      require(fmt::format("blk.{}.{}", l, part));
    if (cfg.attention_bias)
      for (const char* part : {"attn_q.bias", "attn_k.bias", "attn_v.bias"}) require(fmt::format("blk.{}.{}", l, part));
  }

  uint64_t parameters = 0;
  for (const auto& v : views) parameters += uint64_t(v.element_count());

  GgufMetadata& m = src->mutable_metadata();
  // general.name: the folder's name (llama.cpp's fallback without a model card).
  fs::path abs = fs::absolute(folder, ec).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();
  const std::string name = abs.filename().string();
  m.set("general.architecture", GgufValue::string(cfg.arch));
  m.set("general.type", GgufValue::string("model"));
  m.set("general.name", GgufValue::string(name));
  m.set("general.size_label", GgufValue::string(size_label(parameters)));
  add_hf_config_metadata(cfg, file_type_of(views), m);
  for (const auto& [key, value] : tokenizer.entries()) m.set(key, value);

  for (auto& v : views) src->add_tensor(std::move(v));
  for (const auto& f : weights.files()) src->keep_alive(f->mapping());
  for (const auto& p : weights.file_paths()) src->add_file(p);
  for (const char* f : {"config.json", "tokenizer.json", "tokenizer_config.json"})
    if (fs::exists(folder / f, ec)) src->add_file((folder / f).string());
  return src;
}

}  // namespace lowbit
