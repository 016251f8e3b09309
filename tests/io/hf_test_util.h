// Helpers for the HF reader tests: writing small safetensors files and
// model folders by hand, and catching error messages.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace lowbit::test {

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// A safetensors file from a literal JSON header and a data section.
inline std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Symlinks every file of `from` into `to` except those named in `skip`.
inline void link_folder(const std::string& from, const std::string& to, const std::vector<std::string>& skip = {}) {
  namespace fs = std::filesystem;
  for (const auto& e : fs::directory_iterator(from)) {
    std::string name = e.path().filename().string();
    bool skipped = false;
    for (const auto& s : skip) skipped |= s == name;
    if (!skipped) fs::create_symlink(fs::absolute(e.path()), fs::path(to) / name);
  }
}

}  // namespace lowbit::test
