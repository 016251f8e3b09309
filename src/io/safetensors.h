// Memory-mapped, zero-copy reading of safetensors files (Hugging Face's
// weight format), single files or shard sets listed in
// model.safetensors.index.json.
//
// File layout (little-endian):
//   u64 N                     header length in bytes
//   N bytes of JSON           { "<tensor>": { "dtype": "BF16", "shape": [rows, cols],
//                               "data_offsets": [begin, end] }, ...,
//                               "__metadata__": { "<k>": "<v>" } }
//   data section              offsets are relative to its start (byte 8 + N)
// Shapes are row-major: shape.back() is the row length (GGUF's ne[0]).
//
// Every header field is validated before use (lengths in bounds, offsets in
// bounds and non-overlapping, shape x dtype size == byte length, no
// overflow). Tensor data may be unaligned (N is arbitrary): read it with
// memcpy, not through a typed pointer.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ggml_type.h"
#include "core/mapped_file.h"

namespace lowbit {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;               // as stored: "BF16", "F16", "F32", "I64", ...
  std::optional<GgmlType> type;    // F32 / F16 / BF16; empty for other dtypes
  std::vector<int64_t> shape;      // row-major, as stored
  const uint8_t* data = nullptr;   // inside the mapping
  uint64_t bytes = 0;
  std::string file;                // path of the file holding it

  int64_t element_count() const;
  // The GGUF type; throws naming the tensor, dtype and file for dtypes
  // lowbit does not read as weights (anything but F32, F16, BF16).
  GgmlType float_type() const;
  // GGUF shape (ne order: row length first), i.e. the reversed shape.
  std::vector<int64_t> gguf_shape() const;
};

class SafetensorsFile {
 public:
  // Maps and validates the file; throws lowbit::Error "<path>: <what>".
  explicit SafetensorsFile(const std::string& path, FileAccess access = FileAccess::Map);

  const std::string& path() const { return file_->path(); }
  // In the order the safetensors library lists them (sorted by name).
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::shared_ptr<const MappedFile> mapping() const { return file_; }

  // Largest header accepted (the reference implementation's limit).
  static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

 private:
  std::shared_ptr<const MappedFile> file_;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All safetensors of one model folder: the shards named by
// model.safetensors.index.json (sorted by file name, as llama.cpp's converter
// reads them), else model.safetensors, else every *.safetensors file.
class SafetensorsModel {
 public:
  static SafetensorsModel open_folder(const std::string& dir, FileAccess access = FileAccess::Map);
  // Opens one file directly.
  static SafetensorsModel open_file(const std::string& path);

  const std::vector<std::shared_ptr<const SafetensorsFile>>& files() const { return files_; }
  // Every tensor, file by file (each file's tensors in name order).
  std::vector<const SafetensorsTensor*> tensors() const;
  const SafetensorsTensor* find(std::string_view name) const;
  std::vector<std::string> file_paths() const;
  const std::string& index_path() const { return index_path_; }  // empty without an index

 private:
  void add(std::shared_ptr<const SafetensorsFile> f);
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsTensor*, std::less<>> by_name_;
  std::string index_path_;
};

// True when the folder holds safetensors weights (any of the layouts above).
bool folder_has_safetensors(const std::string& dir);

}  // namespace lowbit
