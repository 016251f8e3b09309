// The bytes of a whole file, read only. Tensor data read from GGUF and
// safetensors files are views into it. Two ways to hold them:
//   Map  - a memory map of the file (nothing is copied; pages come in on first
//          touch and stay shared with the page cache). For inspect, convert
//          and quantize, which stream through a file once.
//   Read - the file read into anonymous memory asking for 2 MiB transparent
//          huge pages. For running a model: decode streams all weights per
//          token, and with 4 KiB file pages TLB misses and page-bounded
//          hardware prefetch halved its speed on a 7B model (docs/benchmarks.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

enum class FileAccess { Map, Read };

class MappedFile {
 public:
  // Throws lowbit::Error naming the path when it cannot be opened or mapped
  // (missing file, a directory, permissions).
  // A file that cannot be read completely (I/O error, shrank meanwhile) or
  // memory that cannot be allocated also throws.
  explicit MappedFile(const std::string& path, FileAccess access = FileAccess::Map);
  // An in-memory stand-in holding `bytes` under the name `path` (fuzzing and
  // tests feed parsers from memory through this; nothing is mapped).
  MappedFile(std::string path, std::vector<uint8_t> bytes);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // The same bytes, writable, when this process holds a private copy of them
  // (FileAccess::Read or the in-memory stand-in); nullptr for a memory map of
  // the file. The engine rearranges weights in place here for its kernels
  // (model::Model::open); nothing is ever written back to the file.
  uint8_t* private_bytes() const { return private_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_bytes_ = 0;    // length of the mmap behind data_ (0: data_ is owned_)
  uint8_t* private_ = nullptr; // data_ when it is a private copy (see private_bytes)
  std::vector<uint8_t> owned_;
};

}  // namespace lowbit
