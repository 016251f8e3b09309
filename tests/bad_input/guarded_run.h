// Helpers for the bad-input tests: running the built `lowbit` under time and
// memory limits with stdout / stderr captured apart, checking the promises
// lowbit makes on bad input (a clean exit code, an error naming the input,
// nothing left behind in the output folder), and a small independent GGUF
// header walker that records where each field sits, so a test can damage
// exactly one field of a real file.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/shared_data.h"

#if defined(__SANITIZE_ADDRESS__)
#define LOWBIT_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOWBIT_TEST_UNDER_ASAN 1
#endif
#endif

namespace lowbit::test {

namespace fs = std::filesystem;

inline std::string read_bytes(const std::string& path) { return read_text_file(path); }

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

template <typename T>
void poke(std::string& bytes, uint64_t pos, T value) {
  ASSERT_LE(pos + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + pos, &value, sizeof(T));
}

template <typename T>
T peek(const std::string& bytes, uint64_t pos) {
  T v{};
  if (pos + sizeof(T) <= bytes.size()) std::memcpy(&v, bytes.data() + pos, sizeof(T));
  return v;
}

struct GuardedRun {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  bool timed_out = false;
  std::string out, err;
  double seconds = 0;
};

constexpr int kTimeLimitSeconds = 20;

// Runs `lowbit <args>` with a 20 s time limit and (except under ASan, whose
// shadow memory needs a huge address space) a 4 GB address-space limit.
// Under ASan, allocations above 4 GB fail instead (bad_alloc).
inline GuardedRun run_guarded(const std::string& args, const std::string& scratch_dir, const std::string& prefix = "") {
  const std::string out_file = scratch_dir + "/.stdout", err_file = scratch_dir + "/.stderr";
#ifdef LOWBIT_TEST_UNDER_ASAN
  const std::string limits =
      "export ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:max_allocation_size_mb=4096\"; ";
#else
  const std::string limits = "ulimit -v 4194304; ";
#endif
  const std::string script = limits + prefix + "exec timeout " + std::to_string(kTimeLimitSeconds) + " " +
                             lowbit_binary() + " " + args + " >" + out_file + " 2>" + err_file;
  const auto start = std::chrono::steady_clock::now();
  const int status = std::system(("bash -c '" + script + "'").c_str());
  GuardedRun r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
    if (r.exit_code == 124) r.timed_out = true;
    if (r.exit_code > 128) r.signal = r.exit_code - 128, r.exit_code = -1;  // shell convention
  }
  r.out = read_text_file(out_file);
  r.err = read_text_file(err_file);
  fs::remove(out_file);
  fs::remove(err_file);
  return r;
}

// Every entry of a folder (names only), for "nothing left behind" checks.
inline std::vector<std::string> folder_entries(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string describe(const GuardedRun& r) {
  return "exit " + std::to_string(r.exit_code) + ", signal " + std::to_string(r.signal) +
         (r.timed_out ? " (timed out)" : "") + ", " + std::to_string(r.seconds) + " s\nstderr: " + r.err.substr(0, 2000) +
         "\nstdout: " + r.out.substr(0, 500);
}

// The refusal lowbit promises for bad input: exit 1 or 2 (no signal, no
// timeout), within the time limit, an error on stderr naming `input` (or a
// file inside it), and nothing new in `out_dir`.
inline void expect_clean_refusal(const GuardedRun& r, const std::string& input, const std::string& out_dir,
                                 const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(r.signal, 0) << describe(r);
  EXPECT_FALSE(r.timed_out) << describe(r);
  EXPECT_TRUE(r.exit_code >= 1 && r.exit_code <= 2) << describe(r);
  EXPECT_NE(r.err.find("error"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find(input), std::string::npos) << "the error does not name " << input << "\n" << describe(r);
  if (!out_dir.empty()) EXPECT_TRUE(folder_entries(out_dir).empty()) << "left behind in " << out_dir << "\n" << describe(r);
}

// Layout of a GGUF header as found by walking it independently of lowbit's
// reader: byte positions of the fields the tests damage.
struct GgufLayout {
  struct Kv {
    std::string key;
    uint64_t key_len_pos = 0, key_pos = 0, type_pos = 0, value_pos = 0;
    uint32_t type = 0;
    uint64_t array_count_pos = 0;  // arrays only
  };
  struct Tensor {
    std::string name;
    uint64_t name_len_pos = 0, n_dims_pos = 0, dims_pos = 0, type_pos = 0, offset_pos = 0;
    std::vector<uint64_t> dims;
    uint32_t type = 0;
    uint64_t offset = 0;
  };
  uint64_t n_tensors = 0, n_kv = 0;
  std::vector<Kv> kvs;
  std::vector<Tensor> tensors;
  uint64_t header_end = 0;   // first byte after the tensor infos
  uint64_t data_offset = 0;  // aligned start of the data section
  const Kv* find_kv(const std::string& key) const {
    for (const auto& kv : kvs)
      if (kv.key == key) return &kv;
    return nullptr;
  }
};

// Walks a well-formed GGUF v2/v3 file (the tests' real inputs).
inline GgufLayout walk_gguf(const std::string& b) {
  GgufLayout L;
  uint64_t p = 8;
  auto u32 = [&] { uint32_t v = peek<uint32_t>(b, p); p += 4; return v; };
  auto u64 = [&] { uint64_t v = peek<uint64_t>(b, p); p += 8; return v; };
  auto str = [&] { uint64_t n = u64(); std::string s = b.substr(p, n); p += n; return s; };
  auto scalar_size = [](uint32_t t) -> uint64_t {
    switch (t) {
      case 0: case 1: case 7: return 1;
      case 2: case 3: return 2;
      case 4: case 5: case 6: return 4;
      default: return 8;
    }
  };
  std::function<void(uint32_t)> skip = [&](uint32_t t) {
    if (t == 8) { str(); return; }
    if (t == 9) {
      uint32_t et = u32();
      uint64_t n = u64();
      for (uint64_t i = 0; i < n; ++i) {
        if (et == 8 || et == 9) skip(et);
        else { p += scalar_size(et) * (n - i); break; }
      }
      return;
    }
    p += scalar_size(t);
  };
  L.n_tensors = u64();
  L.n_kv = u64();
  uint64_t alignment = 32;
  for (uint64_t i = 0; i < L.n_kv; ++i) {
    GgufLayout::Kv kv;
    kv.key_len_pos = p;
    kv.key = str();
    kv.key_pos = kv.key_len_pos + 8;
    kv.type_pos = p;
    kv.type = u32();
    kv.value_pos = p;
    if (kv.type == 9) kv.array_count_pos = p + 4;
    if (kv.key == "general.alignment") alignment = peek<uint32_t>(b, p);
    skip(kv.type);
    L.kvs.push_back(kv);
  }
  for (uint64_t i = 0; i < L.n_tensors; ++i) {
    GgufLayout::Tensor t;
    t.name_len_pos = p;
    t.name = str();
    t.n_dims_pos = p;
    uint32_t nd = u32();
    t.dims_pos = p;
    for (uint32_t d = 0; d < nd; ++d) t.dims.push_back(u64());
    t.type_pos = p;
    t.type = u32();
    t.offset_pos = p;
    t.offset = u64();
    L.tensors.push_back(t);
  }
  L.header_end = p;
  L.data_offset = (p + alignment - 1) / alignment * alignment;
  return L;
}

}  // namespace lowbit::test
