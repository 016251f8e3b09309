// Quantization presets (Q4_K_M, Q8_0, ...) and the per-tensor type rules
// behind them. The rules follow llama.cpp's llama-quantize (build b4747) so
// that a lowbit file has the same tensor types, and the same size, as
// llama.cpp's file for the same preset:
//   - 1-D tensors (norms, biases) and a few small 2-D ones stay unquantized;
//   - output.weight gets Q6_K (Q8_0 if its rows are not whole base blocks),
//     and so does token_embd.weight when the model ties it to the output;
//   - attn_v / ffn_down get more bits in some layers (use_more_bits: the first
//     and last eighth of the layers and every third one in between), with
//     adjustments for grouped-query attention, 8-expert models, 70B models;
//   - a type whose block does not divide the row length falls back
//     (Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, Q2_K/Q3_K/IQ4_XS->IQ4_NL, and to
//     F16 when the row is not a multiple of 32 either).
// User overrides (--tensor-type PATTERN=TYPE, --output-type, --embd-type,
// --pure) are applied on top; see docs/compatibility.md for the differences.
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "core/ggml_type.h"
#include "io/gguf.h"

namespace lowbit::quant {

struct Preset {
  const char* name;     // "Q4_K_M"
  uint32_t file_type;   // llama.cpp's LLAMA_FTYPE_* value, stored as general.file_type
  GgmlType base_type;   // type of an ordinary weight matrix
  const char* summary;  // one line for --help
};

// Every preset, in a stable order (largest first).
const std::vector<Preset>& all_presets();
// Case-insensitive; accepts llama.cpp's aliases Q3_K, Q4_K, Q5_K (= the _M
// mixes). Throws lowbit::Error listing the valid names.
const Preset& find_preset(std::string_view name);
// "Q8_0, Q6_K, ..." for messages and help.
std::string preset_names();

// A type name the quantizer can write (case-insensitive), else throws.
GgmlType parse_output_type(std::string_view name);

// --tensor-type PATTERN=TYPE: PATTERN is a regular expression searched in
// the tensor name (ECMAScript, case-insensitive), as in llama-quantize.
struct TensorTypeOverride {
  std::string pattern;
  std::regex regex;
  GgmlType type;
};
TensorTypeOverride parse_tensor_type_override(std::string_view spec);

struct TypeOptions {
  bool pure = false;                        // every weight matrix gets the base type
  std::optional<GgmlType> output_type;      // for output.weight
  std::optional<GgmlType> embd_type;        // for token_embd.weight
  std::vector<TensorTypeOverride> overrides;  // later matches win
  bool has_imatrix = false;                 // changes a few rules (IQ4_*, Q4_0/Q5_0 ffn_down)
};

// What the rules need to know about the model, read from GGUF metadata.
struct ModelFacts {
  std::string arch;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t n_expert = 0;
  bool has_output = false;  // an output.weight tensor exists (else embeddings are tied)
  int n_attention_wv = 0;   // tensors named *attn_v.weight, *attn_qkv.weight, *attn_kv_b.weight
  bool is_70b = false;      // llama.cpp's LLM_TYPE_70B (80 layers; attn_v gets more bits)
  int64_t n_gqa() const { return n_head_kv > 0 ? n_head / n_head_kv : 0; }
};

struct TensorDesc {
  std::string name;
  std::vector<int64_t> shape;  // ne order
  GgmlType type = GgmlType::F32;
};

ModelFacts model_facts(const GgufMetadata& metadata, const std::vector<TensorDesc>& tensors);

struct TypeChoice {
  size_t index = 0;          // position in the input tensor list
  std::string name;
  GgmlType source_type = GgmlType::F32;
  GgmlType type = GgmlType::F32;  // type written
  bool weight_matrix = false;     // subject to the preset (not a norm, bias, ...)
  bool fallback = false;          // the row length forced a different type
  std::string note;               // why, when not the plain rule ("fallback from Q4_K", "--tensor-type")
  bool needs_conversion() const { return type != source_type; }
};

// Chooses the type of every tensor. The result is in llama.cpp's tensor
// order (non-layer tensors by name, then blk.N by layer, then name), which
// is also the order the quantizer writes, so headers match llama.cpp's.
std::vector<TypeChoice> choose_tensor_types(const GgufMetadata& metadata, const std::vector<TensorDesc>& tensors,
                                            const Preset& preset, const TypeOptions& options);

// llama.cpp's name order: layer number (-1 for tensors outside blk.N), then name.
bool llama_tensor_order_less(const std::string& a, const std::string& b);

// Applies the row-length fallback chain to `type` for rows of `row_length`
// weights; returns `type` unchanged when it fits.
GgmlType fallback_type(GgmlType type, int64_t row_length);

}  // namespace lowbit::quant
