// Hyper-parameters of a Llama-family model (llama, mistral, qwen2), read from
// a ModelSource's GGUF-style metadata ("<arch>.embedding_length", ...) and
// checked against the tensor shapes, so that every size the engine allocates
// is bounded by what the file really holds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {
class ModelSource;
}

namespace lowbit::model {

// How RoPE pairs the dimensions of one head.
enum class RopeLayout {
  AdjacentPairs,  // (0,1), (2,3), ...: GGUF llama after llama.cpp's row permutation
  HalfSplit,      // (i, i + n_rot/2): NEOX style, HF order (qwen2, HF llama folders)
};

enum class RopeScaling { None, Linear, Llama3 };

struct LlamaConfig {
  std::string architecture;  // as in the metadata: llama, mistral, qwen2
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  int64_t n_ff = 0;
  int64_t n_rot = 0;  // rotated dimensions per head (<= head_dim, even)
  int64_t n_ctx_train = 0;
  float rms_eps = 1e-5f;

  double rope_base = 10000.0;
  RopeLayout rope_layout = RopeLayout::AdjacentPairs;
  RopeScaling rope_scaling = RopeScaling::None;
  double rope_scale_factor = 1.0;          // linear / llama3 "factor"
  int64_t rope_original_context = 0;       // llama3 original_context_length
  double rope_low_freq_factor = 1.0;       // llama3
  double rope_high_freq_factor = 4.0;      // llama3
  // Per-pair divisors of the RoPE frequencies (GGUF rope_freqs.weight, how
  // llama.cpp stores llama3 scaling); empty when absent.
  std::vector<float> rope_freq_factors;

  bool has_qkv_bias = false;  // qwen2
  bool tied_output = false;   // no output.weight: logits use token_embd.weight

  int64_t n_embd_q() const { return n_head * head_dim; }
  int64_t n_embd_kv() const { return n_head_kv * head_dim; }
  int64_t n_group() const { return n_head / n_head_kv; }  // query heads per KV head

  // Reads and validates everything; throws lowbit::Error naming the model
  // path and the key or tensor at fault, or the unsupported architecture.
  static LlamaConfig from_source(const ModelSource& source);

  // One line for logs: "llama: 6 layers, 512 embd, 8 heads (4 kv), ...".
  std::string summary() const;
};

// True for the architectures this engine runs.
bool is_supported_architecture(const std::string& arch);

}  // namespace lowbit::model
