// Reader of llama.cpp's legacy binary importance matrix (layout in imatrix.h).
// Every count and length is checked against the bytes left before use.
#include "quant/imatrix.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"

namespace lowbit::quant {

namespace {

class Cursor {
 public:
  Cursor(const std::string& name, const uint8_t* data, size_t size) : name_(name), data_(data), size_(size) {}

  size_t offset() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  int32_t i32(const char* what) {
    if (remaining() < 4) fail("{}: file ends inside {} (at byte {})", name_, what, pos_);
    int32_t v;
    std::memcpy(&v, data_ + pos_, 4);
    pos_ += 4;
    return v;
  }

  // A non-negative int32 length/count whose `elem_size`-byte items must fit in the rest of the file.
  size_t count(const char* what, size_t elem_size) {
    const size_t at = pos_;
    const int32_t v = i32(what);
    if (v < 0) fail("{}: negative {} {} (at byte {})", name_, what, v, at);
    if (size_t(v) > remaining() / elem_size) {
      fail("{}: {} {} runs past the end of the file ({} bytes left, at byte {})", name_, what, v, remaining(), at);
    }
    return size_t(v);
  }

  const uint8_t* bytes(size_t n) {
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }

 private:
  const std::string& name_;
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace

const std::vector<float>* Imatrix::find(std::string_view tensor_name) const {
  auto it = entries.find(tensor_name);
  return it == entries.end() ? nullptr : &it->second;
}

Imatrix parse_imatrix(const std::string& name, const uint8_t* data, size_t size) {
  Cursor in(name, data, size);
  Imatrix m;
  // Each entry takes at least 12 bytes (three int32), which bounds the count.
  const size_t n_entries = in.count("entry count", 12);
  if (n_entries == 0) fail("{}: no entries (is this a legacy llama.cpp imatrix file?)", name);
  for (size_t e = 0; e < n_entries; ++e) {
    const size_t name_len = in.count("tensor name length", 1);
    if (name_len == 0) fail("{}: entry {} has an empty tensor name (at byte {})", name, e, in.offset() - 4);
    const uint8_t* name_bytes = in.bytes(name_len);
    std::string tensor(reinterpret_cast<const char*>(name_bytes), name_len);
    const size_t calls_at = in.offset();
    const int32_t calls = in.i32("call count");
    if (calls < 0) fail("{}: entry '{}' has a negative call count {} (at byte {})", name, tensor, calls, calls_at);
    const size_t n_values = in.count("value count", 4);
    if (n_values == 0) fail("{}: entry '{}' has no values (at byte {})", name, tensor, in.offset() - 4);
    const size_t values_at = in.offset();
    std::vector<float> values(n_values);
    std::memcpy(values.data(), in.bytes(n_values * 4), n_values * 4);
    for (size_t c = 0; c < n_values; ++c) {
      if (!std::isfinite(values[c]) || values[c] < 0) {
        fail("{}: entry '{}' column {} holds {}, not a finite number >= 0 (at byte {})", name, tensor, c, values[c],
             values_at + 4 * c);
      }
      // As llama-quantize: float divided by the int call count.
      if (calls > 0) values[c] /= float(calls);
    }
    if (m.entries.count(tensor)) fail("{}: tensor '{}' appears twice", name, tensor);
    m.call_counts.emplace(tensor, calls);
    m.entries.emplace(std::move(tensor), std::move(values));
  }
  if (in.remaining() > 0) {
    const int32_t chunks = in.i32("chunk count");
    if (chunks < 0) fail("{}: negative chunk count {}", name, chunks);
    m.chunk_count = chunks;
    if (in.remaining() > 0) {
      const size_t len = in.count("dataset name length", 1);
      m.dataset.assign(reinterpret_cast<const char*>(in.bytes(len)), len);
    }
    if (in.remaining() > 0) fail("{}: {} unexpected bytes after the end (at byte {})", name, in.remaining(), in.offset());
  }
  return m;
}

Imatrix read_imatrix(const std::string& path) {
  MappedFile file(path);
  return parse_imatrix(path, file.data(), file.size());
}

}  // namespace lowbit::quant
