// A Llama-family model ready to run: its config and its weights bound as
// views into the memory-mapped file(s) of a ModelSource. Matrices stay in
// their stored format (F32/F16/BF16 or a block format) and are only ever
// read by cpu::matmul; only the small vectors (norms, biases) are copied out
// as floats.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cpu/matmul.h"
#include "io/model_source.h"
#include "model/llama_config.h"

namespace lowbit::model {

struct LayerWeights {
  cpu::WeightMatrix wq, wk, wv, wo;       // attention projections
  cpu::WeightMatrix w_gate, w_up, w_down; // SwiGLU feed-forward
  std::vector<float> attn_norm, ffn_norm; // RMSNorm gains (n_embd)
  std::vector<float> bq, bk, bv;          // qkv biases (qwen2), empty otherwise
};

// The seven matrices of a layer and their GGUF tensor names (after "blk.N.").
struct LayerMatrix {
  cpu::WeightMatrix LayerWeights::*member;
  const char* name;
};
inline constexpr LayerMatrix kLayerMatrices[] = {
    {&LayerWeights::wq, "attn_q.weight"},        {&LayerWeights::wk, "attn_k.weight"},
    {&LayerWeights::wv, "attn_v.weight"},        {&LayerWeights::wo, "attn_output.weight"},
    {&LayerWeights::w_gate, "ffn_gate.weight"}, {&LayerWeights::w_up, "ffn_up.weight"},
    {&LayerWeights::w_down, "ffn_down.weight"},
};

class Model {
 public:
  // Binds every tensor; throws lowbit::Error naming a missing tensor, a wrong
  // shape or an unsupported type / architecture.
  explicit Model(std::shared_ptr<const ModelSource> source);
  // ModelSource::open(path) (GGUF file or HF folder) then bind. By default
  // the files are read into (huge-page) memory, which decodes up to twice as
  // fast as a memory map; FileAccess::Map starts faster and shares the page
  // cache. With FileAccess::Read the matrices of types that have a packed
  // layout for this CPU are rearranged in place (cpu::pack_for_matmul).
  static std::unique_ptr<Model> open(const std::string& path, FileAccess access = FileAccess::Read);

  const LlamaConfig& config() const { return config_; }
  const ModelSource& source() const { return *source_; }
  const LayerWeights& layer(int64_t i) const { return layers_[size_t(i)]; }
  const cpu::WeightMatrix& output() const { return output_; }
  const std::vector<float>& output_norm() const { return output_norm_; }

  // Writes the embedding row of `token` (n_embd floats). Throws when the id
  // is outside the vocabulary.
  void embed(int32_t token, float* out) const;

  // Bytes of the mapped tensors the engine reads (the whole model's weights).
  uint64_t weight_bytes() const { return weight_bytes_; }
  // Bytes of matrices in the packed layout (0 unless opened with FileAccess::Read).
  uint64_t packed_bytes() const { return packed_bytes_; }

 private:
  cpu::WeightMatrix bind_matrix(const std::string& name, int64_t n_in, int64_t n_out);
  std::vector<float> read_vector(const std::string& name, int64_t n);
  void check_rope_order(const std::string& name, int64_t heads) const;
  void pack_weights();

  std::shared_ptr<const ModelSource> source_;
  LlamaConfig config_;
  const TensorView* token_embd_ = nullptr;
  size_t token_embd_row_bytes_ = 0;
  std::vector<LayerWeights> layers_;
  cpu::WeightMatrix output_;
  std::vector<float> output_norm_;
  uint64_t weight_bytes_ = 0;
  uint64_t packed_bytes_ = 0;
};

}  // namespace lowbit::model
