#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace lowbit {

namespace {

constexpr size_t kHugePage = size_t(2) << 20;

// Reads all `size` bytes of fd into anonymous memory (rounded up to whole huge
// pages); returns the mapping. Throws naming `path`.
uint8_t* read_whole_file(int fd, const std::string& path, size_t size, size_t& mapped_bytes) {
  const size_t len = (size + kHugePage - 1) / kHugePage * kHugePage;
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) fail("{}: cannot allocate {} bytes to read it into memory: {}", path, size, std::strerror(errno));
  // Only a hint: without transparent huge pages this is ordinary memory.
  (void)::madvise(p, len, MADV_HUGEPAGE);
  auto* bytes = static_cast<uint8_t*>(p);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, bytes + done, std::min<size_t>(size - done, size_t(64) << 20), off_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : 0;
      ::munmap(p, len);
      if (err) fail("{}: read failed at byte {}: {}", path, done, std::strerror(err));
      fail("{}: file ended at byte {} while reading {} bytes (changed while being read?)", path, done, size);
    }
    done += size_t(n);
  }
  mapped_bytes = len;
  return bytes;
}

}  // namespace

MappedFile::MappedFile(const std::string& path, FileAccess access) : path_(path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused
  // below as not a regular file); it changes nothing for regular files.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail("{}: cannot stat: {}", path, std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail("{}: is a directory, expected a file", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{}: is not a regular file (a device, FIFO or socket)", path);
  }
  size_ = size_t(st.st_size);
  if (size_ > 0 && access == FileAccess::Read) {
    try {
      private_ = read_whole_file(fd, path, size_, mapped_bytes_);
      data_ = private_;
    } catch (...) {
      ::close(fd);
      throw;
    }
  } else if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      fail("{}: cannot map into memory: {}", path, std::strerror(err));
    }
    data_ = static_cast<const uint8_t*>(p);
    mapped_bytes_ = size_;
  }
  ::close(fd);
}

MappedFile::MappedFile(std::string path, std::vector<uint8_t> bytes) : path_(std::move(path)), owned_(std::move(bytes)) {
  size_ = owned_.size();
  private_ = owned_.empty() ? nullptr : owned_.data();
  data_ = private_;
}

MappedFile::~MappedFile() {
  if (mapped_bytes_) ::munmap(const_cast<uint8_t*>(data_), mapped_bytes_);
}

}  // namespace lowbit
