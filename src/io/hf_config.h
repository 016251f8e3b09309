// Hugging Face config.json for the decoder-only models lowbit converts
// (model_type llama, mistral, qwen2), and its translation to the GGUF
// hyper-parameter keys llama.cpp's converter writes ("<arch>.block_count",
// "<arch>.rope.freq_base", ...).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/gguf.h"

namespace lowbit {

struct HfConfig {
  std::string path;              // the config.json read
  std::string model_type;        // "llama", "mistral", "qwen2"
  std::string arch;              // GGUF architecture: "llama" (llama, mistral) or "qwen2"
  int64_t hidden_size = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;          // default hidden_size / n_head
  bool head_dim_given = false;   // config.json names head_dim (llama.cpp then writes key/value_length)
  int64_t intermediate_size = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool attention_bias = false;   // q/k/v (and o for llama) biases; always true for qwen2

  // RoPE: rope_theta, or transformers 5's rope_parameters, plus rope_scaling.
  double rope_theta = 10000.0;
  std::string rope_type = "default";  // "default", "linear", "llama3", "yarn", ...
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0;    // llama3
  double rope_high_freq_factor = 4.0;   // llama3
  int64_t rope_original_context = 0;    // original_max_position_embeddings (llama3, yarn)

  int64_t bos_token_id = -1;  // -1: not given
  int64_t eos_token_id = -1;  // first one when config.json lists several
};

// Reads and validates config.json (a path to the file or to its folder).
// Throws lowbit::Error naming the file and key on missing or invalid values
// and on unsupported model types or RoPE scalings.
HfConfig read_hf_config(const std::string& path);

// Appends "<arch>.*" hyper-parameter keys in llama.cpp's order (block_count,
// context_length, embedding_length, feed_forward_length, head counts,
// rope.freq_base, layer_norm_rms_epsilon, key/value_length, general.file_type,
// then vocab_size (llama), rope.dimension_count and rope scaling keys).
// Other general.* keys are the caller's.
void add_hf_config_metadata(const HfConfig& config, uint32_t file_type, GgufMetadata& metadata);

// llama3 RoPE scaling: llama.cpp's converter stores the per-frequency
// factors as an F32 tensor "rope_freqs.weight" of head_dim/2 values instead
// of metadata keys. Empty unless rope_type == "llama3".
std::vector<float> llama3_rope_factors(const HfConfig& config);

// llama.cpp's size label ("23M", "3.9M", "7.2B") for a parameter count.
std::string size_label(uint64_t parameters);

}  // namespace lowbit
