// Outputs are never partial: `lowbit synth`, `convert` and `quantize`
// interrupted by SIGINT / SIGTERM / SIGHUP in the middle of writing, or
// stopped by a full disk (a file-size limit, `ulimit -f`, under which writes
// fail with EFBIG since lowbit ignores SIGXFSZ), must leave the destination
// exactly as it was (it is created beforehand with known content) and no
// temporary file beside it.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "bad_input/guarded_run.h"

extern char** environ;

namespace lowbit::test {
namespace {

const std::string kOriginal = "precious user data, must survive\n";

// Starts `lowbit <args...>` with stdout / stderr sent to files in `dir`.
pid_t spawn_lowbit(const std::vector<std::string>& args, const std::string& dir) {
  std::vector<std::string> argv_s = {lowbit_binary()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, (dir + "/.stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, (dir + "/.stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

// Size of the temporary beside `dest` (dest.tmp.XXXXXX), or -1 when none.
int64_t temp_size(const std::string& dest) {
  const fs::path d(dest);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(d.parent_path(), ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(d.filename().string() + ".tmp.", 0) == 0) return int64_t(e.file_size(ec));
  }
  return -1;
}

class Interrupt : public ::testing::Test {
 protected:
  void SetUp() override {
    out_dir_ = tmp_.file("out");
    fs::create_directories(out_dir_);
    dest_ = out_dir_ + "/model.gguf";
  }

  // Runs the command, sends `sig` once its temporary holds at least
  // `min_bytes`, and checks the aftermath.
  void interrupt(const std::vector<std::string>& args, int sig, int64_t min_bytes, const std::string& what) {
    SCOPED_TRACE(what + " with signal " + std::to_string(sig));
    write_bytes(dest_, kOriginal);
    pid_t pid = spawn_lowbit(args, tmp_.path());
    ASSERT_GT(pid, 0);
    const auto start = std::chrono::steady_clock::now();
    bool sent = false;
    int status = 0;
    while (true) {
      pid_t done = waitpid(pid, &status, WNOHANG);
      if (done == pid) break;
      if (!sent && temp_size(dest_) >= min_bytes) {
        ::kill(pid, sig);
        sent = true;
      }
      if (std::chrono::steady_clock::now() - start > std::chrono::seconds(120)) {
        ::kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        FAIL() << "no temporary of " << min_bytes << " bytes appeared within 120 s";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const std::string err = read_text_file(tmp_.path() + "/.stderr");
    ASSERT_TRUE(sent) << "the command finished before it could be interrupted; stderr: " << err;
    // Dies of the signal (re-raised after cleanup), or exits non-zero.
    EXPECT_TRUE((WIFSIGNALED(status) && WTERMSIG(status) == sig) || (WIFEXITED(status) && WEXITSTATUS(status) != 0))
        << "status " << status << " stderr: " << err;
    EXPECT_EQ(read_bytes(dest_), kOriginal) << "the destination was changed";
    EXPECT_EQ(folder_entries(out_dir_), std::vector<std::string>{"model.gguf"}) << "a temporary was left behind";
  }

  // Runs the command under a file-size limit of `limit_kb`.
  void file_size_limit(const std::string& args, int limit_kb, const std::string& what) {
    SCOPED_TRACE(what);
    write_bytes(dest_, kOriginal);
    GuardedRun r = run_guarded(args, tmp_.path(), "ulimit -f " + std::to_string(limit_kb) + "; ");
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_NE(r.err.find(dest_), std::string::npos) << "the error should name the output\n" << describe(r);
    EXPECT_NE(r.err.find("File too large"), std::string::npos) << describe(r);
    EXPECT_EQ(read_bytes(dest_), kOriginal) << "the destination was changed";
    EXPECT_EQ(folder_entries(out_dir_), std::vector<std::string>{"model.gguf"}) << "a temporary was left behind";
  }

  // A synthetic model to convert and quantize (F16, ~120 MB), made once.
  const std::string& small_model() {
    static std::string path;
    static TempDir keep;
    if (path.empty()) {
      path = keep.file("small.gguf");
      auto r = run_lowbit("synth -o " + path + " --shape small --type f16");
      EXPECT_EQ(r.exit_code, 0) << r.output;
    }
    return path;
  }

  TempDir tmp_;
  std::string out_dir_, dest_;
};

TEST_F(Interrupt, SynthLeavesDestinationAlone) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    interrupt({"synth", "-o", dest_, "--shape", "small"}, sig, 4 << 20, "synth");
}

TEST_F(Interrupt, ConvertLeavesDestinationAlone) {
  for (int sig : {SIGINT, SIGTERM})
    interrupt({"convert", "-q", small_model(), "-o", dest_, "--type", "f32"}, sig, 4 << 20, "convert");
}

TEST_F(Interrupt, QuantizeLeavesDestinationAlone) {
  for (int sig : {SIGINT, SIGTERM})
    interrupt({"quantize", "-q", small_model(), "-o", dest_, "--preset", "Q8_0"}, sig, 1, "quantize");
}

TEST_F(Interrupt, FullDiskGivesAClearError) {
  file_size_limit("synth -o " + dest_ + " --shape small", 2048, "synth");
  file_size_limit("convert -q " + small_model() + " -o " + dest_ + " --type f32", 2048, "convert");
  file_size_limit("quantize -q " + small_model() + " -o " + dest_ + " --preset Q8_0", 2048, "quantize");
  // A limit below even the header.
  file_size_limit("synth -o " + dest_ + " --shape tiny", 1, "synth, 1 KB");
}

}  // namespace
}  // namespace lowbit::test
