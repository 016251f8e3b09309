// Access to ../shared (real models, texts, references) from tests.
//
// SHARED_FILE("models/stories260K.gguf") returns the full path, or skips the
// test with a clear message when ../shared is absent (a user's fresh clone).
// Under CI (CI=true) a missing file fails the test instead: CI has ../shared.
// LOWBIT_SHARED overrides the location.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace lowbit::test {

inline std::string shared_dir() {
  if (const char* env = std::getenv("LOWBIT_SHARED")) return env;
  return std::string(LOWBIT_SOURCE_DIR) + "/../shared";
}

inline bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

inline std::string source_dir() { return LOWBIT_SOURCE_DIR; }
inline std::string lowbit_binary() { return LOWBIT_BINARY; }

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh temporary directory, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "lowbit-test-XXXXXX").string();
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command, capturing its output and exit code.
inline CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// Runs the lowbit CLI with the given argument string.
inline CommandResult run_lowbit(const std::string& args) { return run_command(lowbit_binary() + " " + args); }

}  // namespace lowbit::test

#define SHARED_FILE(relative)                                                                   \
  ([&]() -> std::string {                                                                       \
    std::string p__ = ::lowbit::test::shared_dir() + "/" + (relative);                          \
    if (!std::filesystem::exists(p__)) {                                                        \
      if (::lowbit::test::running_in_ci()) {                                                    \
        ADD_FAILURE() << "CI=true but the shared test data is missing: " << p__;                \
      }                                                                                         \
      throw ::lowbit::test::SkipShared{p__};                                                    \
    }                                                                                           \
    return p__;                                                                                 \
  }())

namespace lowbit::test {
struct SkipShared {
  std::string path;
};
}  // namespace lowbit::test

// Wrap a test body that uses SHARED_FILE: TEST_SHARED(Suite, Name) { ... }
// turns a missing file into GTEST_SKIP (or a failure under CI).
#define TEST_SHARED(suite, name)                                                       \
  static void suite##_##name##_body();                                                 \
  TEST(suite, name) {                                                                  \
    try {                                                                              \
      suite##_##name##_body();                                                         \
    } catch (const ::lowbit::test::SkipShared& s) {                                    \
      if (!::lowbit::test::running_in_ci())                                            \
        GTEST_SKIP() << "needs ../shared (not found: " << s.path << "); skipped";      \
    }                                                                                  \
  }                                                                                    \
  static void suite##_##name##_body()
