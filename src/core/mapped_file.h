// A read-only memory map of a whole file. Tensor data read from GGUF and
// safetensors files are views into such a map: nothing is copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

class MappedFile {
 public:
  // Throws lowbit::Error naming the path when it cannot be opened or mapped
  // (missing file, a directory, permissions).
  explicit MappedFile(const std::string& path);
  // An in-memory stand-in holding `bytes` under the name `path` (fuzzing and
  // tests feed parsers from memory through this; nothing is mapped).
  MappedFile(std::string path, std::vector<uint8_t> bytes);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;        // data_ came from mmap (else from owned_)
  std::vector<uint8_t> owned_;
};

}  // namespace lowbit
