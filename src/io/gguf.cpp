// GgufReader (validating, memory-mapped) and GgufWriter (streaming, atomic).
#include "io/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "core/error.h"
#include "core/output_file.h"

namespace lowbit {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr int kMaxDims = 4;
constexpr int kMaxNesting = 8;           // nested array depth
constexpr uint64_t kMaxStringBytes = uint64_t(1) << 30;
// Memory the parsed header (metadata and tensor table) may take. Counts are
// already bounded by the file size, but objects are bigger than their
// encoding (a 13-byte key/value pair becomes ~200 bytes), so a crafted file
// could otherwise ask for many times its size. Real headers need a few MB.
constexpr uint64_t kMaxHeaderMemory = uint64_t(256) << 20;

// Smallest number of bytes one element of type t can occupy in a file; used
// to reject counts that cannot fit before anything is allocated.
uint64_t min_encoded_size(GgufType t) {
  if (t == GgufType::STRING) return 8;
  if (t == GgufType::ARRAY) return 12;
  return gguf_scalar_size(t);
}

bool valid_value_type(uint32_t t) { return t <= uint32_t(GgufType::FLOAT64); }

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Bounds-checked little-endian cursor over the mapped file.
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* data, uint64_t size) : path_(path), data_(data), size_(size) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  [[noreturn]] void error(const std::string& what) const {
    fail("{}: {} (at byte {} of {})", path_, what, pos_, size_);
  }
  // Counts memory the parsed header will hold; fails past kMaxHeaderMemory.
  void charge(uint64_t bytes) {
    charged_ += bytes;
    if (charged_ > kMaxHeaderMemory)
      error(fmt::format("the header would need more than {} MiB of memory; the file is corrupt or hostile",
                        kMaxHeaderMemory >> 20));
  }
  void need(uint64_t n, const char* what) const {
    if (n > remaining()) error(fmt::format("file is truncated: {} needs {} bytes, {} left", what, n, remaining()));
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    uint64_t n = read<uint64_t>(what);
    if (n > kMaxStringBytes) error(fmt::format("{} has absurd length {}", what, n));
    need(n, what);
    if (n >= sizeof(std::string)) charge(n + 1);  // beyond the small-string buffer
    std::string s(reinterpret_cast<const char*>(data_ + pos_), size_t(n));
    pos_ += n;
    return s;
  }
  void read_raw(void* dst, uint64_t n, const char* what) {
    need(n, what);
    if (n) std::memcpy(dst, data_ + pos_, n);
    pos_ += n;
  }

 private:
  const std::string& path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t charged_ = 0;
};

}  // namespace

class GgufValueParser {
 public:
  static GgufValue parse(Cursor& c, GgufType type, const std::string& key, int depth);
};

// Reads one value of the given type; key names the value in messages.
GgufValue GgufValueParser::parse(Cursor& c, GgufType type, const std::string& key, int depth) {
  switch (type) {
    case GgufType::UINT8: return GgufValue::u8(c.read<uint8_t>("metadata value"));
    case GgufType::INT8: return GgufValue::i8(c.read<int8_t>("metadata value"));
    case GgufType::UINT16: return GgufValue::u16(c.read<uint16_t>("metadata value"));
    case GgufType::INT16: return GgufValue::i16(c.read<int16_t>("metadata value"));
    case GgufType::UINT32: return GgufValue::u32(c.read<uint32_t>("metadata value"));
    case GgufType::INT32: return GgufValue::i32(c.read<int32_t>("metadata value"));
    case GgufType::FLOAT32: return GgufValue::f32(c.read<float>("metadata value"));
    case GgufType::UINT64: return GgufValue::u64(c.read<uint64_t>("metadata value"));
    case GgufType::INT64: return GgufValue::i64(c.read<int64_t>("metadata value"));
    case GgufType::FLOAT64: return GgufValue::f64(c.read<double>("metadata value"));
    case GgufType::BOOL: {
      uint8_t b = c.read<uint8_t>("metadata value");
      if (b > 1) c.error(fmt::format("metadata key '{}': bool value {} is neither 0 nor 1", key, b));
      return GgufValue::boolean(b != 0);
    }
    case GgufType::STRING: return GgufValue::string(c.read_string("metadata string"));
    case GgufType::ARRAY: {
      if (depth >= kMaxNesting) c.error(fmt::format("metadata key '{}': arrays nested too deeply", key));
      uint32_t et = c.read<uint32_t>("array element type");
      if (!valid_value_type(et)) c.error(fmt::format("metadata key '{}': unknown array element type {}", key, et));
      GgufArray a;
      a.elem_type = GgufType(et);
      a.count = c.read<uint64_t>("array length");
      const uint64_t min_size = min_encoded_size(a.elem_type);
      if (a.count > c.remaining() / min_size)
        c.error(fmt::format("metadata key '{}': array length {} cannot fit in the file", key, a.count));
      if (a.elem_type == GgufType::STRING) {
        c.charge(a.count * sizeof(std::string));
        a.strings.reserve(a.count);
        for (uint64_t i = 0; i < a.count; ++i) a.strings.push_back(c.read_string("array string"));
      } else if (a.elem_type == GgufType::ARRAY) {
        c.charge(a.count * sizeof(GgufValue));
        a.nested.reserve(a.count);
        for (uint64_t i = 0; i < a.count; ++i) a.nested.push_back(parse(c, GgufType::ARRAY, key, depth + 1));
      } else {
        c.charge(a.count * min_size);
        a.raw.resize(a.count * min_size);
        c.read_raw(a.raw.data(), a.raw.size(), "array data");
        if (a.elem_type == GgufType::BOOL)
          for (uint8_t b : a.raw)
            if (b > 1) c.error(fmt::format("metadata key '{}': bool array element {} is neither 0 nor 1", key, b));
      }
      return GgufValue::array(std::move(a));
    }
  }
  c.error(fmt::format("metadata key '{}': unknown value type {}", key, uint32_t(type)));
}

int64_t GgufTensorInfo::element_count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t GgufTensorInfo::row_count() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

GgufReader::GgufReader(const std::string& path, FileAccess access)
    : GgufReader(std::make_shared<MappedFile>(path, access)) {}

GgufReader::GgufReader(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {
  const std::string& path = file_->path();
  Cursor c(path, file_->data(), file_->size());
  if (file_->size() == 0) c.error("file is empty, expected a GGUF file");
  uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic) c.error("not a GGUF file (wrong magic bytes)");
  version_ = c.read<uint32_t>("version");
  if (version_ == 1) c.error("GGUF version 1 is not supported (only 2 and 3)");
  if (version_ != 2 && version_ != 3) {
    if ((version_ & 0xffff) == 0) c.error(fmt::format("GGUF version {:#x} looks big-endian; only little-endian files are supported", version_));
    c.error(fmt::format("unsupported GGUF version {} (expected 2 or 3)", version_));
  }
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  // A key/value pair takes at least 8 (key length) + 4 (type) + 1 bytes, a
  // tensor info at least 8 + 4 + 8 + 4 + 8.
  if (n_kv > c.remaining() / 13) c.error(fmt::format("metadata count {} cannot fit in the file", n_kv));
  if (n_tensors > c.remaining() / 32) c.error(fmt::format("tensor count {} cannot fit in the file", n_tensors));

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.read_string("metadata key");
    if (key.empty()) c.error(fmt::format("metadata entry {} has an empty key", i));
    if (metadata_.contains(key)) c.error(fmt::format("duplicate metadata key '{}'", key));
    uint32_t t = c.read<uint32_t>("metadata value type");
    if (!valid_value_type(t)) c.error(fmt::format("metadata key '{}' has unknown value type {}", key, t));
    c.charge(2 * sizeof(std::pair<std::string, GgufValue>));  // entry + index node
    metadata_.set(key, GgufValueParser::parse(c, GgufType(t), key, 0));
  }

  if (const GgufValue* a = metadata_.find("general.alignment")) {
    if (a->type() != GgufType::UINT32) c.error("general.alignment must be a uint32");
    alignment_ = a->as_u64();
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0)
      c.error(fmt::format("general.alignment {} is not a power of two", alignment_));
  }

  std::set<std::string> names;
  c.charge(n_tensors * sizeof(GgufTensorInfo));
  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = c.read_string("tensor name");
    c.charge(2 * sizeof(std::string) + 64);  // name set node, shape vector
    if (t.name.empty()) c.error(fmt::format("tensor {} has an empty name", i));
    if (!names.insert(t.name).second) c.error(fmt::format("duplicate tensor name '{}'", t.name));
    uint32_t n_dims = c.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > kMaxDims)
      c.error(fmt::format("tensor '{}' has {} dimensions (1 to {} allowed)", t.name, n_dims, kMaxDims));
    // The product of the non-zero dimensions must fit in int64 too: with a
    // zero row length, the row count (product of the others) is still used.
    int64_t elements = 1, nonzero_product = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = c.read<uint64_t>("tensor dimension");
      if (ne > uint64_t(std::numeric_limits<int64_t>::max()))
        c.error(fmt::format("tensor '{}' dimension {} is {} (negative or absurd)", t.name, d, ne));
      if (ne != 0 && uint64_t(nonzero_product) > uint64_t(std::numeric_limits<int64_t>::max()) / ne)
        c.error(fmt::format("tensor '{}' has a shape whose element count overflows", t.name));
      if (ne != 0) nonzero_product *= int64_t(ne);
      elements *= int64_t(ne);
      t.shape.push_back(int64_t(ne));
    }
    uint32_t type_id = c.read<uint32_t>("tensor type");
    const TypeTraits* traits = find_type(type_id);
    if (!traits) c.error(fmt::format("tensor '{}' has unknown ggml type id {}", t.name, type_id));
    t.type = traits->type;
    if (t.shape[0] % traits->block_size != 0)
      c.error(fmt::format("tensor '{}': row length {} is not a multiple of {}'s block size {}", t.name, t.shape[0],
                          traits->name, traits->block_size));
    t.offset = c.read<uint64_t>("tensor data offset");
    if (t.offset % alignment_ != 0)
      c.error(fmt::format("tensor '{}': data offset {} is not a multiple of the alignment {}", t.name, t.offset,
                          alignment_));
    // bytes = elements / block_size * bytes_per_block; elements <= file size
    // is not implied, so check the multiplication.
    uint64_t blocks = uint64_t(elements) / uint64_t(traits->block_size);
    if (blocks > std::numeric_limits<uint64_t>::max() / traits->bytes_per_block)
      c.error(fmt::format("tensor '{}': byte size overflows", t.name));
    t.bytes = blocks * traits->bytes_per_block;
    tensors_.push_back(std::move(t));
  }

  data_offset_ = align_up(c.pos(), alignment_);
  const uint64_t file_size = file_->size();
  if (n_tensors > 0 && data_offset_ > file_size)
    c.error("file is truncated: it ends before the tensor data section");
  const uint64_t data_size = file_size > data_offset_ ? file_size - data_offset_ : 0;
  for (auto& t : tensors_) {
    if (t.offset > data_size || t.bytes > data_size - t.offset)
      fail("{}: tensor '{}' ({} bytes at data offset {}) extends past the end of the file ({} data bytes); the file "
           "is truncated or corrupt",
           path, t.name, t.bytes, t.offset, data_size);
    t.data = file_->data() + data_offset_ + t.offset;
  }
  // No two tensors may share bytes.
  std::vector<const GgufTensorInfo*> by_offset;
  for (auto& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto* prev = by_offset[i - 1];
    if (prev->offset + prev->bytes > by_offset[i]->offset)
      fail("{}: tensors '{}' and '{}' overlap in the data section", path, prev->name, by_offset[i]->name);
  }
}

const GgufTensorInfo* GgufReader::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

// ---------------------------------------------------------------- writer

namespace {

class ByteSink {
 public:
  explicit ByteSink(OutputFile& out) : out_(out) {}
  template <typename T>
  void put(T v) { out_.write(&v, sizeof v); }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    out_.write(s.data(), s.size());
  }
  void put_value(const GgufValue& v) {
    switch (v.type()) {
      case GgufType::UINT8: put<uint8_t>(uint8_t(v.as_u64())); break;
      case GgufType::INT8: put<int8_t>(int8_t(v.as_i64())); break;
      case GgufType::UINT16: put<uint16_t>(uint16_t(v.as_u64())); break;
      case GgufType::INT16: put<int16_t>(int16_t(v.as_i64())); break;
      case GgufType::UINT32: put<uint32_t>(uint32_t(v.as_u64())); break;
      case GgufType::INT32: put<int32_t>(int32_t(v.as_i64())); break;
      case GgufType::UINT64: put<uint64_t>(v.as_u64()); break;
      case GgufType::INT64: put<int64_t>(v.as_i64()); break;
      case GgufType::FLOAT32: put<float>(float(v.as_f64())); break;
      case GgufType::FLOAT64: put<double>(v.as_f64()); break;
      case GgufType::BOOL: put<uint8_t>(v.as_bool() ? 1 : 0); break;
      case GgufType::STRING: put_string(v.as_string()); break;
      case GgufType::ARRAY: {
        const GgufArray& a = v.as_array();
        put<uint32_t>(uint32_t(a.elem_type));
        put<uint64_t>(a.count);
        if (a.elem_type == GgufType::STRING) {
          for (const auto& s : a.strings) put_string(s);
        } else if (a.elem_type == GgufType::ARRAY) {
          for (const auto& n : a.nested) put_value(n);
        } else {
          out_.write(a.raw.data(), a.raw.size());
        }
        break;
      }
    }
  }

 private:
  OutputFile& out_;
};

}  // namespace

GgufWriter::GgufWriter(const std::string& path, const std::vector<std::string>& inputs)
    : path_(path), out_(std::make_unique<OutputFile>(path, inputs)) {}

GgufWriter::~GgufWriter() = default;

void GgufWriter::add_tensor(const std::string& name, const std::vector<int64_t>& shape, GgmlType type) {
  if (header_written_) fail("{}: tensor '{}' declared after the header was written", path_, name);
  if (shape.empty() || shape.size() > kMaxDims) fail("{}: tensor '{}' must have 1 to 4 dimensions", path_, name);
  for (const auto& t : tensors_)
    if (t.name == name) fail("{}: duplicate tensor name '{}'", path_, name);
  GgufTensorInfo t;
  t.name = name;
  t.shape = shape;
  t.type = type;
  const TypeTraits& tr = type_traits(type);
  int64_t rows = 1;
  for (size_t i = 1; i < shape.size(); ++i) rows *= shape[i];
  t.bytes = row_bytes(type, shape[0]) * uint64_t(rows);
  (void)tr;
  tensors_.push_back(std::move(t));
}

void GgufWriter::begin_data() {
  if (header_written_) return;
  if (const GgufValue* a = metadata_.find("general.alignment")) alignment_ = a->as_u64();
  if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0)
    fail("{}: general.alignment {} is not a power of two", path_, alignment_);
  uint64_t offset = 0;
  for (auto& t : tensors_) {
    t.offset = offset;
    offset = align_up(offset + t.bytes, alignment_);
  }
  data_size_ = offset;

  ByteSink s(*out_);
  s.put<uint32_t>(kMagic);
  s.put<uint32_t>(3);
  s.put<uint64_t>(tensors_.size());
  s.put<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_.entries()) {
    s.put_string(key);
    s.put<uint32_t>(uint32_t(value.type()));
    s.put_value(value);
  }
  for (const auto& t : tensors_) {
    s.put_string(t.name);
    s.put<uint32_t>(uint32_t(t.shape.size()));
    for (int64_t d : t.shape) s.put<uint64_t>(uint64_t(d));
    s.put<uint32_t>(uint32_t(t.type));
    s.put<uint64_t>(t.offset);
  }
  // A file without tensors ends right after the header (as llama.cpp's
  // vocab-only files do); otherwise the data section starts aligned.
  data_start_ = tensors_.empty() ? out_->bytes_written() : align_up(out_->bytes_written(), alignment_);
  out_->write_zeros(data_start_ - out_->bytes_written());
  header_written_ = true;
  current_ = 0;
  current_written_ = 0;
}

void GgufWriter::write_tensor_data(const void* data, size_t bytes) {
  if (!header_written_) begin_data();
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (bytes > 0) {
    while (current_ < tensors_.size() && tensors_[current_].bytes == 0) ++current_;
    if (current_ >= tensors_.size()) fail("{}: more tensor data written than declared", path_);
    const GgufTensorInfo& t = tensors_[current_];
    uint64_t room = t.bytes - current_written_;
    uint64_t n = std::min<uint64_t>(room, bytes);
    out_->write(p, n);
    p += n;
    bytes -= n;
    current_written_ += n;
    if (current_written_ == t.bytes) {
      out_->write_zeros(align_up(t.bytes, alignment_) - t.bytes);
      ++current_;
      current_written_ = 0;
    }
  }
}

void GgufWriter::finish() {
  if (!header_written_) begin_data();
  // Zero-byte tensors complete without any write call.
  while (current_ < tensors_.size() && tensors_[current_].bytes == 0) ++current_;
  if (current_ != tensors_.size())
    fail("{}: tensor '{}' was declared but its data was not written", path_, tensors_[current_].name);
  out_->commit();
}

uint64_t GgufWriter::total_bytes() const { return data_start_ + data_size_; }

}  // namespace lowbit
