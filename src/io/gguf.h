// GGUF files (v3, v2 read too): metadata values, a memory-mapped reader and a
// streaming writer.
//
// File layout (little-endian):
//   "GGUF" u32 version, u64 tensor_count, u64 kv_count
//   kv_count x { string key, u32 value_type, value }
//   tensor_count x { string name, u32 n_dims, n_dims x u64 ne, u32 ggml_type, u64 offset }
//   padding to general.alignment (default 32), then the tensor data section;
//   each tensor's offset is relative to that section and aligned.
//   string = u64 length + bytes; array = u32 element type, u64 count, elements.
// ne[0] is the row length (fastest-varying dimension).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/ggml_type.h"
#include "core/mapped_file.h"

namespace lowbit {

enum class GgufType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
const char* gguf_type_name(GgufType t);
// Bytes of one numeric/bool value of type t; 0 for STRING, ARRAY and unknown types.
size_t gguf_scalar_size(GgufType t);

class GgufValue;

// An array value. Numbers and bools are kept as their raw little-endian bytes
// (compact: a 150k-entry score array costs 600 KB, not 150k objects); strings
// and nested arrays as objects.
struct GgufArray {
  GgufType elem_type = GgufType::UINT8;
  uint64_t count = 0;
  std::vector<uint8_t> raw;            // numeric / bool elements
  std::vector<std::string> strings;    // STRING elements
  std::vector<GgufValue> nested;       // ARRAY elements
};

class GgufValue {
 public:
  GgufValue() : type_(GgufType::UINT32), v_(uint64_t(0)) {}
  static GgufValue u8(uint8_t x) { return GgufValue(GgufType::UINT8, uint64_t(x)); }
  static GgufValue i8(int8_t x) { return GgufValue(GgufType::INT8, int64_t(x)); }
  static GgufValue u16(uint16_t x) { return GgufValue(GgufType::UINT16, uint64_t(x)); }
  static GgufValue i16(int16_t x) { return GgufValue(GgufType::INT16, int64_t(x)); }
  static GgufValue u32(uint32_t x) { return GgufValue(GgufType::UINT32, uint64_t(x)); }
  static GgufValue i32(int32_t x) { return GgufValue(GgufType::INT32, int64_t(x)); }
  static GgufValue u64(uint64_t x) { return GgufValue(GgufType::UINT64, x); }
  static GgufValue i64(int64_t x) { return GgufValue(GgufType::INT64, x); }
  static GgufValue f32(float x) { return GgufValue(GgufType::FLOAT32, double(x)); }
  static GgufValue f64(double x) { return GgufValue(GgufType::FLOAT64, x); }
  static GgufValue boolean(bool x) { return GgufValue(GgufType::BOOL, x); }
  static GgufValue string(std::string s) { return GgufValue(GgufType::STRING, std::move(s)); }
  static GgufValue array(GgufArray a) { return GgufValue(GgufType::ARRAY, std::move(a)); }
  static GgufValue string_array(std::vector<std::string> items);
  static GgufValue f32_array(const std::vector<float>& items);
  static GgufValue i32_array(const std::vector<int32_t>& items);

  GgufType type() const { return type_; }
  bool is_integer() const;
  bool is_number() const;  // integer or float
  // Typed reads; throw lowbit::Error when the value has another type.
  uint64_t as_u64() const;   // any non-negative integer
  int64_t as_i64() const;    // any integer that fits
  double as_f64() const;     // any number
  bool as_bool() const;
  const std::string& as_string() const;
  const GgufArray& as_array() const;
  // Array element reads (any numeric element type, converted).
  std::vector<float> as_f32_vector() const;
  std::vector<int64_t> as_i64_vector() const;
  const std::vector<std::string>& as_string_vector() const;
  std::string to_display(size_t max_items = 8) const;  // for inspect

 private:
  using Storage = std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray>;
  GgufValue(GgufType t, Storage v) : type_(t), v_(std::move(v)) {}
  friend class GgufReader;
  GgufType type_;
  Storage v_;
};

// Ordered key/value metadata (file order is kept so a round trip is exact).
class GgufMetadata {
 public:
  void set(const std::string& key, GgufValue value);  // replaces or appends
  const GgufValue* find(std::string_view key) const;
  const GgufValue& at(std::string_view key) const;  // throws naming the key
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  void erase(std::string_view key);
  const std::vector<std::pair<std::string, GgufValue>>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  // Convenience typed lookups with a default when absent.
  std::string get_string(std::string_view key, const std::string& def = "") const;
  uint64_t get_u64(std::string_view key, uint64_t def) const;
  double get_f64(std::string_view key, double def) const;
  bool get_bool(std::string_view key, bool def) const;

 private:
  std::vector<std::pair<std::string, GgufValue>> entries_;
  std::map<std::string, size_t, std::less<>> index_;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // ne: shape[0] is the row length
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;   // relative to the data section
  uint64_t bytes = 0;    // computed from shape and type
  const uint8_t* data = nullptr;  // points into the mapped file (reader only)
  int64_t element_count() const;
  int64_t row_count() const;  // product of shape[1..]
};

class GgufReader {
 public:
  // Maps and validates the whole file: every count, string length, offset
  // and shape is checked against the file size and for overflow before use.
  // Throws lowbit::Error "<path>: <what> (at byte N)" on malformed input.
  explicit GgufReader(const std::string& path, FileAccess access = FileAccess::Map);
  // Parses an already mapped (or in-memory) file; the same checks apply.
  explicit GgufReader(std::shared_ptr<const MappedFile> file);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return file_->size(); }
  const GgufMetadata& metadata() const { return metadata_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  std::string architecture() const { return metadata_.get_string("general.architecture"); }
  // Keeps the mapping alive for views handed to other objects.
  std::shared_ptr<const MappedFile> mapping() const { return file_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  GgufMetadata metadata_;
  std::vector<GgufTensorInfo> tensors_;
};

class OutputFile;

// Streams a GGUF file: declare metadata and every tensor (name, shape, type)
// first, then write each tensor's bytes in declaration order. Only the header
// is held in memory. Writes to a temporary file renamed on finish(); the
// destination is never one of `inputs`.
class GgufWriter {
 public:
  GgufWriter(const std::string& path, const std::vector<std::string>& inputs = {});
  ~GgufWriter();

  GgufMetadata& metadata() { return metadata_; }
  void add_tensor(const std::string& name, const std::vector<int64_t>& shape, GgmlType type);
  // Writes the header; after this only tensor data may follow.
  void begin_data();
  // Appends bytes of the current tensor; a tensor may come in several pieces.
  // Moves on to the next tensor (adding alignment padding) once one is full.
  void write_tensor_data(const void* data, size_t bytes);
  void finish();  // checks every tensor was written, then renames into place
  uint64_t total_bytes() const;  // file size once finished (valid after begin_data)

 private:
  std::string path_;
  std::unique_ptr<OutputFile> out_;
  GgufMetadata metadata_;
  std::vector<GgufTensorInfo> tensors_;
  uint64_t alignment_ = 32;
  uint64_t data_start_ = 0;
  uint64_t data_size_ = 0;
  size_t current_ = 0;
  uint64_t current_written_ = 0;
  bool header_written_ = false;
};

}  // namespace lowbit
