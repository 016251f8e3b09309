// One description of a model, whatever it was read from: a GGUF file or a
// Hugging Face folder (config.json + tokenizer.json + safetensors). Readers
// produce it; convert, quantize, inspect and the engine consume it.
//
// Names and metadata always follow GGUF/llama.cpp conventions: tensors are
// called token_embd.weight, blk.N.attn_q.weight, ..., and hyper-parameters
// live under "<arch>.*" keys, the tokenizer under "tokenizer.ggml.*". An HF
// folder is translated on open (names, metadata); its tensor bytes stay in
// the mapped safetensors files (zero-copy).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/ggml_type.h"
#include "core/mapped_file.h"
#include "io/gguf.h"

namespace lowbit {

struct TensorView {
  std::string name;               // GGUF name
  std::vector<int64_t> shape;     // ne order: shape[0] is the row length
  GgmlType type = GgmlType::F32;
  const uint8_t* data = nullptr;  // first byte, inside a mapped file
  uint64_t bytes = 0;
  std::string source_file;        // for error messages
  // Hugging Face stores attn_q/attn_k rows in half-split RoPE order; GGUF's
  // llama architecture expects adjacent pairs (llama.cpp's converter permutes
  // rows). When rope_permute_heads > 0 this view is in HF order with that many
  // heads: row(r) returns the row that GGUF order puts at r. Code that can use
  // the HF order directly (the engine, with half-split RoPE) may read data.
  int64_t rope_permute_heads = 0;

  int64_t row_length() const { return shape.empty() ? 0 : shape[0]; }
  int64_t row_count() const;
  int64_t element_count() const;
  size_t row_bytes() const;
  int64_t source_row(int64_t r) const;  // applies the permutation
  const uint8_t* row(int64_t r) const { return data + size_t(source_row(r)) * row_bytes(); }
};

class ModelSource {
 public:
  // A regular file is read as GGUF; a directory as an HF model folder.
  // `access`: map the files or read them into memory (core/mapped_file.h).
  // Throws lowbit::Error naming the path and what is wrong.
  static std::unique_ptr<ModelSource> open(const std::string& path, FileAccess access = FileAccess::Map);

  const std::string& path() const { return path_; }
  bool is_gguf() const { return is_gguf_; }
  const GgufMetadata& metadata() const { return metadata_; }
  GgufMetadata& mutable_metadata() { return metadata_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(std::string_view name) const;
  const TensorView& at(std::string_view name) const;  // throws naming the tensor
  std::string architecture() const { return metadata_.get_string("general.architecture"); }
  // Every file the model was read from (outputs must not overwrite them).
  const std::vector<std::string>& files() const { return files_; }
  uint64_t parameter_count() const;
  uint64_t tensor_bytes() const;
  // Writable pointer to the bytes of `t` when they lie in a private copy of
  // their file (opened with FileAccess::Read), else nullptr (memory map, or
  // bytes computed on open). See MappedFile::private_bytes.
  uint8_t* private_bytes(const TensorView& t) const;

  // Used by the readers.
  ModelSource(std::string path, bool is_gguf) : path_(std::move(path)), is_gguf_(is_gguf) {}
  void add_tensor(TensorView view) { tensors_.push_back(std::move(view)); }
  void keep_alive(std::shared_ptr<const MappedFile> file);
  void add_file(const std::string& f) { files_.push_back(f); }

 private:
  std::string path_;
  bool is_gguf_;
  GgufMetadata metadata_;
  std::vector<TensorView> tensors_;
  std::vector<std::string> files_;
  std::vector<std::shared_ptr<const MappedFile>> mappings_;
};

// Implemented by the HF reader (io/hf_model.cpp).
std::unique_ptr<ModelSource> open_hf_folder(const std::string& dir, FileAccess access = FileAccess::Map);

}  // namespace lowbit
