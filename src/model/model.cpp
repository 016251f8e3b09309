// Binds a ModelSource's tensors to the Llama-family layout (see model.h).
#include "model/model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "quant/formats.h"

namespace lowbit::model {
namespace {

// A matrix may be stored with trailing dimensions of 1.
bool is_matrix(const TensorView& t) {
  if (t.shape.size() < 2) return false;
  for (size_t i = 2; i < t.shape.size(); ++i)
    if (t.shape[i] != 1) return false;
  return true;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// (n_in, n_out) of one of a layer's matrices.
std::pair<int64_t, int64_t> matrix_shape(cpu::WeightMatrix LayerWeights::*m, const LlamaConfig& c) {
  if (m == &LayerWeights::wq) return {c.n_embd, c.n_embd_q()};
  if (m == &LayerWeights::wk || m == &LayerWeights::wv) return {c.n_embd, c.n_embd_kv()};
  if (m == &LayerWeights::wo) return {c.n_embd_q(), c.n_embd};
  if (m == &LayerWeights::w_down) return {c.n_ff, c.n_embd};
  return {c.n_embd, c.n_ff};  // w_gate, w_up
}

}  // namespace

Model::Model(std::shared_ptr<const ModelSource> source) : source_(std::move(source)) {
  if (!source_) fail("Model: no model source");
  config_ = LlamaConfig::from_source(*source_);
  const LlamaConfig& c = config_;

  token_embd_ = &source_->at("token_embd.weight");
  if (!is_matrix(*token_embd_)) fail("{}: token_embd.weight has shape {}, expected a matrix", token_embd_->source_file, shape_string(token_embd_->shape));
  if (!quant::can_dequantize(token_embd_->type))
    fail("{}: token_embd.weight has type {}, which lowbit cannot read", token_embd_->source_file, type_name(token_embd_->type));
  token_embd_row_bytes_ = with_context(token_embd_->source_file + ": token_embd.weight",
                                       [&] { return row_bytes(token_embd_->type, c.n_embd); });
  if (token_embd_->bytes < token_embd_row_bytes_ * size_t(c.n_vocab))
    fail("{}: token_embd.weight holds {} bytes, fewer than its shape needs", token_embd_->source_file, token_embd_->bytes);
  weight_bytes_ += token_embd_->bytes;

  output_norm_ = read_vector("output_norm.weight", c.n_embd);
  if (c.tied_output) {
    output_.type = token_embd_->type;
    output_.n_in = c.n_embd;
    output_.n_out = c.n_vocab;
    output_.data = token_embd_->data;
    output_.row_bytes = token_embd_row_bytes_;
  } else {
    output_ = bind_matrix("output.weight", c.n_embd, c.n_vocab);
  }

  layers_.resize(size_t(c.n_layer));
  for (int64_t i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = layers_[size_t(i)];
    const std::string p = fmt::format("blk.{}.", i);
    l.attn_norm = read_vector(p + "attn_norm.weight", c.n_embd);
    l.ffn_norm = read_vector(p + "ffn_norm.weight", c.n_embd);
    for (const LayerMatrix& m : kLayerMatrices) {
      const auto [n_in, n_out] = matrix_shape(m.member, c);
      l.*m.member = bind_matrix(p + m.name, n_in, n_out);
    }
    if (c.has_qkv_bias) {
      l.bq = read_vector(p + "attn_q.bias", c.n_embd_q());
      l.bk = read_vector(p + "attn_k.bias", c.n_embd_kv());
      l.bv = read_vector(p + "attn_v.bias", c.n_embd_kv());
    }
    if (c.architecture != "qwen2") {
      check_rope_order(p + "attn_q.weight", c.n_head);
      check_rope_order(p + "attn_k.weight", c.n_head_kv);
    }
  }
}

std::unique_ptr<Model> Model::open(const std::string& path, FileAccess access) {
  std::shared_ptr<const ModelSource> src = ModelSource::open(path, access);
  auto model = std::make_unique<Model>(std::move(src));
  // The files were read into memory only this model uses: rearrange its
  // matrices for the fastest kernels (a memory map stays as the file is).
  if (access == FileAccess::Read) model->pack_weights();
  return model;
}

void Model::pack_weights() {
  // Byte ranges already packed, and the embedding table (read row by row as
  // GGUF blocks by embed()): a file whose tensors overlap must not have the
  // same bytes packed twice or the embeddings rearranged.
  std::vector<std::pair<const uint8_t*, const uint8_t*>> taken = {
      {token_embd_->data, token_embd_->data + token_embd_->bytes}};
  auto pack = [&](cpu::WeightMatrix& w, const std::string& name) {
    const TensorView& t = source_->at(name);
    if (!cpu::has_packed_layout(w.type) || t.data != w.data) return;
    const uint8_t* end = t.data + t.bytes;
    for (const auto& [b, e] : taken)
      if (t.data < e && b < end) return;
    uint8_t* bytes = source_->private_bytes(t);
    if (bytes && cpu::pack_for_matmul(w, bytes)) {
      taken.emplace_back(t.data, end);
      packed_bytes_ += t.bytes;
    }
  };
  for (int64_t i = 0; i < config_.n_layer; ++i) {
    LayerWeights& l = layers_[size_t(i)];
    const std::string p = fmt::format("blk.{}.", i);
    for (const LayerMatrix& m : kLayerMatrices) pack(l.*m.member, p + m.name);
  }
  if (!config_.tied_output) pack(output_, "output.weight");
}

cpu::WeightMatrix Model::bind_matrix(const std::string& name, int64_t n_in, int64_t n_out) {
  const TensorView& t = source_->at(name);
  if (!is_matrix(t) || t.shape[0] != n_in || t.shape[1] != n_out)
    fail("{}: tensor {} has shape {}, expected [{}, {}]", t.source_file, name, shape_string(t.shape), n_in, n_out);
  if (!quant::can_dequantize(t.type))
    fail("{}: tensor {} has type {}, which lowbit cannot compute with", t.source_file, name, type_name(t.type));
  cpu::WeightMatrix w;
  w.type = t.type;
  w.n_in = n_in;
  w.n_out = n_out;
  w.data = t.data;
  w.row_bytes = with_context(t.source_file + ": " + name, [&] { return row_bytes(t.type, n_in); });
  if (t.bytes < w.row_bytes * size_t(n_out)) fail("{}: tensor {} holds {} bytes, fewer than its shape needs", t.source_file, name, t.bytes);
  weight_bytes_ += t.bytes;
  return w;
}

std::vector<float> Model::read_vector(const std::string& name, int64_t n) {
  const TensorView& t = source_->at(name);
  if (t.element_count() != n)
    fail("{}: tensor {} has shape {}, expected {} values", t.source_file, name, shape_string(t.shape), n);
  if (!quant::can_dequantize(t.type) || n % block_size(t.type) != 0)
    fail("{}: tensor {} has type {}, which lowbit cannot read here", t.source_file, name, type_name(t.type));
  std::vector<float> v(static_cast<size_t>(n));
  quant::to_float(t.type, t.data, v.data(), n);
  weight_bytes_ += t.bytes;
  return v;
}

// The RoPE layout was chosen from blk.0.attn_q; every attn_q/attn_k must be
// in the same row order (HF order with the head count, or GGUF order).
void Model::check_rope_order(const std::string& name, int64_t heads) const {
  const TensorView& t = source_->at(name);
  const bool hf_order = config_.rope_layout == RopeLayout::HalfSplit;
  if (hf_order ? t.rope_permute_heads != heads : t.rope_permute_heads != 0)
    fail("{}: tensor {} has rope_permute_heads {}, inconsistent with blk.0.attn_q.weight (expected {})", t.source_file,
         name, t.rope_permute_heads, hf_order ? heads : 0);
}

void Model::embed(int32_t token, float* out) const {
  if (token < 0 || token >= config_.n_vocab) fail("token id {} is outside the vocabulary (size {})", token, config_.n_vocab);
  quant::to_float(token_embd_->type, token_embd_->data + size_t(token) * token_embd_row_bytes_, out, config_.n_embd);
}

}  // namespace lowbit::model
