// Atomic output: data go to a temporary file beside the destination, which
// is renamed over the destination only when commit() succeeds. On an error,
// a destructor before commit(), or SIGINT/SIGTERM (see
// install_interrupt_cleanup), the temporary is removed and the destination
// is left as it was. Refuses to write onto any of the given input files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

class OutputFile {
 public:
  OutputFile(const std::string& destination, const std::vector<std::string>& inputs = {});
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // Throws lowbit::Error naming the destination on any short write (disk full,
  // file-size limit).
  void write(const void* data, size_t bytes);
  void write_zeros(size_t bytes);
  uint64_t bytes_written() const { return written_; }
  void commit();  // flush, fsync, rename over the destination
  const std::string& destination() const { return destination_; }

 private:
  void discard();
  std::string destination_;
  std::string temp_path_;
  int fd_ = -1;
  int slot_ = -1;
  uint64_t written_ = 0;
  std::vector<uint8_t> buffer_;
  void flush_buffer();
};

// True when both paths name the same existing file (same device and inode).
bool same_file(const std::string& a, const std::string& b);

// Installs SIGINT/SIGTERM/SIGXFSZ handlers that remove every live temporary
// output file before the process dies. Call once from main().
void install_interrupt_cleanup();

}  // namespace lowbit
