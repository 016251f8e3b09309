// Helpers shared by the libFuzzer targets.
//
// The rule every target enforces: on any input, lowbit's readers either
// succeed or throw lowbit::Error. Any other exception (std::bad_alloc,
// std::length_error, a JSON library exception, ...) escapes the target and
// libFuzzer reports it as a crash, as it does sanitizer reports, leaks,
// timeouts and allocations above -malloc_limit_mb.
//
// Readers that take a path (safetensors, config.json, tokenizer.json) get
// the input through a private scratch folder (under $TMPDIR; scripts/fuzz.sh
// points that at /dev/shm when it exists, so a write costs microseconds).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace lowbit::fuzz {

class Scratch {
 public:
  static Scratch& get() {
    static Scratch s;
    return s;
  }
  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // Writes (or replaces) a file in the scratch folder; returns its path.
  std::string write(const std::string& name, const void* data, size_t size) const {
    std::string p = path(name);
    FILE* f = std::fopen(p.c_str(), "wb");
    if (!f) std::abort();  // the fuzzing machine itself is broken
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
    return p;
  }
  std::string write(const std::string& name, std::string_view text) const {
    return write(name, text.data(), text.size());
  }
  void remove(const std::string& name) const {
    std::error_code ec;
    std::filesystem::remove(path(name), ec);
  }

  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

 private:
  Scratch() {
    std::string templ = (std::filesystem::temp_directory_path() / "lowbit-fuzz-XXXXXX").string();
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) std::abort();
    dir_ = buf.data();
  }
  std::string dir_;
};

// Splits an input into up to n parts at a separator line, so one input can
// carry several files (tokenizer.json, tokenizer_config.json, config.json).
inline std::vector<std::string_view> split_parts(const uint8_t* data, size_t size, size_t n) {
  static constexpr std::string_view kSep = "\n@@@@\n";
  std::string_view all(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < n) {
    size_t p = all.find(kSep);
    if (p == std::string_view::npos) break;
    parts.push_back(all.substr(0, p));
    all.remove_prefix(p + kSep.size());
  }
  parts.push_back(all);
  return parts;
}

// Keeps the optimiser from dropping reads done only to touch memory.
inline void consume(uint64_t v) {
  static volatile uint64_t sink;
  sink = sink + v;
}

// Checks an invariant the code under test promises; a failure is a bug.
#define LOWBIT_FUZZ_CHECK(cond)                                                  \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                              \
    }                                                                            \
  } while (0)

}  // namespace lowbit::fuzz
