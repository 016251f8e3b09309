#include "core/output_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace lowbit {
namespace {

// Temporary paths that a signal handler must remove. A fixed table of plain
// char arrays: the handler may not allocate or lock. A slot is claimed
// (kWriting) before its path is copied in and only then published (kReady),
// so the handler never reads a half-written path.
constexpr int kSlots = 16;
constexpr size_t kPathMax = 4096;
enum SlotState : int { kFree = 0, kWriting = 1, kReady = 2 };
char g_temp_paths[kSlots][kPathMax];
std::atomic<int> g_slot_state[kSlots];

int claim_slot(const std::string& path) {
  if (path.size() >= kPathMax) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (g_slot_state[i].compare_exchange_strong(expected, kWriting)) {
      std::memcpy(g_temp_paths[i], path.c_str(), path.size() + 1);
      g_slot_state[i].store(kReady);
      return i;
    }
  }
  return -1;
}

void release_slot(int slot) {
  if (slot >= 0) g_slot_state[slot].store(kFree);
}

extern "C" void remove_temps_and_die(int sig) {
  for (int i = 0; i < kSlots; ++i)
    if (g_slot_state[i].load() == kReady) ::unlink(g_temp_paths[i]);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

constexpr size_t kBufferSize = 1 << 20;

}  // namespace

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void install_interrupt_cleanup() {
  struct sigaction sa {};
  sa.sa_handler = remove_temps_and_die;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  // Over a file-size limit (ulimit -f) writes then fail with EFBIG, which
  // write() reports as an ordinary error.
  ::signal(SIGXFSZ, SIG_IGN);
}

OutputFile::OutputFile(const std::string& destination, const std::vector<std::string>& inputs)
    : destination_(destination) {
  if (destination.empty()) fail("output path is empty");
  for (const auto& in : inputs) {
    if (in == destination || same_file(in, destination))
      fail("{}: refusing to overwrite the input file; choose another output path", destination);
  }
  struct stat st {};
  if (::stat(destination.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    fail("{}: is a directory, expected an output file path", destination);
  std::string templ = destination + ".tmp.XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  fd_ = ::mkstemp(buf.data());
  if (fd_ < 0) fail("{}: cannot create a temporary file beside it: {}", destination, std::strerror(errno));
  temp_path_ = buf.data();
  ::fchmod(fd_, 0644);
  slot_ = claim_slot(temp_path_);
  buffer_.reserve(kBufferSize);
}

OutputFile::~OutputFile() { discard(); }

void OutputFile::discard() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }
  release_slot(slot_);
  slot_ = -1;
}

void OutputFile::flush_buffer() {
  const uint8_t* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      discard();
      fail("{}: write failed: {}", destination_, std::strerror(err));
    }
    p += n;
    left -= size_t(n);
  }
  buffer_.clear();
}

void OutputFile::write(const void* data, size_t bytes) {
  if (fd_ < 0) fail("{}: write after the file was closed", destination_);
  const uint8_t* p = static_cast<const uint8_t*>(data);
  written_ += bytes;
  while (bytes > 0) {
    size_t room = kBufferSize - buffer_.size();
    size_t n = bytes < room ? bytes : room;
    buffer_.insert(buffer_.end(), p, p + n);
    p += n;
    bytes -= n;
    if (buffer_.size() == kBufferSize) flush_buffer();
  }
}

void OutputFile::write_zeros(size_t bytes) {
  static const uint8_t zeros[256] = {};
  while (bytes > 0) {
    size_t n = bytes < sizeof zeros ? bytes : sizeof zeros;
    write(zeros, n);
    bytes -= n;
  }
}

void OutputFile::commit() {
  if (fd_ < 0) fail("{}: commit after the file was closed", destination_);
  flush_buffer();
  if (::fsync(fd_) != 0) {
    int err = errno;
    discard();
    fail("{}: cannot flush to disk: {}", destination_, std::strerror(err));
  }
  if (::close(fd_) != 0) {
    int err = errno;
    fd_ = -1;
    discard();
    fail("{}: cannot close: {}", destination_, std::strerror(err));
  }
  fd_ = -1;
  if (::rename(temp_path_.c_str(), destination_.c_str()) != 0) {
    int err = errno;
    discard();
    fail("{}: cannot rename the finished temporary file into place: {}", destination_, std::strerror(err));
  }
  temp_path_.clear();
  release_slot(slot_);
  slot_ = -1;
}

}  // namespace lowbit
