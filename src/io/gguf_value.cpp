// GgufValue and GgufMetadata: typed access to GGUF metadata values.
#include <cstring>
#include <limits>

#include "core/error.h"
#include "io/gguf.h"

namespace lowbit {
namespace {

// Reads element i of a raw numeric array as double / int64.
double raw_element_f64(const GgufArray& a, uint64_t i) {
  const uint8_t* p = a.raw.data() + i * gguf_scalar_size(a.elem_type);
  switch (a.elem_type) {
    case GgufType::UINT8: return *p;
    case GgufType::INT8: return int8_t(*p);
    case GgufType::BOOL: return *p ? 1 : 0;
    case GgufType::UINT16: { uint16_t v; std::memcpy(&v, p, 2); return v; }
    case GgufType::INT16: { int16_t v; std::memcpy(&v, p, 2); return v; }
    case GgufType::UINT32: { uint32_t v; std::memcpy(&v, p, 4); return v; }
    case GgufType::INT32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case GgufType::FLOAT32: { float v; std::memcpy(&v, p, 4); return v; }
    case GgufType::UINT64: { uint64_t v; std::memcpy(&v, p, 8); return double(v); }
    case GgufType::INT64: { int64_t v; std::memcpy(&v, p, 8); return double(v); }
    case GgufType::FLOAT64: { double v; std::memcpy(&v, p, 8); return v; }
    default: return 0;
  }
}

int64_t raw_element_i64(const GgufArray& a, uint64_t i) {
  const uint8_t* p = a.raw.data() + i * gguf_scalar_size(a.elem_type);
  switch (a.elem_type) {
    case GgufType::UINT64: { uint64_t v; std::memcpy(&v, p, 8); return int64_t(v); }
    case GgufType::INT64: { int64_t v; std::memcpy(&v, p, 8); return v; }
    case GgufType::FLOAT32: case GgufType::FLOAT64: fail("array holds floats, expected integers");
    default: return int64_t(raw_element_f64(a, i));
  }
}

template <typename T>
GgufValue numeric_array(GgufType t, const std::vector<T>& items) {
  GgufArray a;
  a.elem_type = t;
  a.count = items.size();
  a.raw.resize(items.size() * sizeof(T));
  if (!items.empty()) std::memcpy(a.raw.data(), items.data(), a.raw.size());
  return GgufValue::array(std::move(a));
}

}  // namespace

size_t gguf_scalar_size(GgufType t) {
  switch (t) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
    case GgufType::UINT16: case GgufType::INT16: return 2;
    case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
    case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
    default: return 0;
  }
}

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::UINT8: return "uint8";
    case GgufType::INT8: return "int8";
    case GgufType::UINT16: return "uint16";
    case GgufType::INT16: return "int16";
    case GgufType::UINT32: return "uint32";
    case GgufType::INT32: return "int32";
    case GgufType::FLOAT32: return "float32";
    case GgufType::BOOL: return "bool";
    case GgufType::STRING: return "string";
    case GgufType::ARRAY: return "array";
    case GgufType::UINT64: return "uint64";
    case GgufType::INT64: return "int64";
    case GgufType::FLOAT64: return "float64";
  }
  return "unknown";
}

GgufValue GgufValue::string_array(std::vector<std::string> items) {
  GgufArray a;
  a.elem_type = GgufType::STRING;
  a.count = items.size();
  a.strings = std::move(items);
  return array(std::move(a));
}
GgufValue GgufValue::f32_array(const std::vector<float>& items) { return numeric_array(GgufType::FLOAT32, items); }
GgufValue GgufValue::i32_array(const std::vector<int32_t>& items) { return numeric_array(GgufType::INT32, items); }

bool GgufValue::is_integer() const {
  switch (type_) {
    case GgufType::UINT8: case GgufType::INT8: case GgufType::UINT16: case GgufType::INT16:
    case GgufType::UINT32: case GgufType::INT32: case GgufType::UINT64: case GgufType::INT64: return true;
    default: return false;
  }
}
bool GgufValue::is_number() const {
  return is_integer() || type_ == GgufType::FLOAT32 || type_ == GgufType::FLOAT64;
}

uint64_t GgufValue::as_u64() const {
  if (auto* u = std::get_if<uint64_t>(&v_)) return *u;
  if (auto* i = std::get_if<int64_t>(&v_)) {
    if (*i < 0) fail("value {} is negative, expected a non-negative integer", *i);
    return uint64_t(*i);
  }
  fail("value has type {}, expected an integer", gguf_type_name(type_));
}

int64_t GgufValue::as_i64() const {
  if (auto* i = std::get_if<int64_t>(&v_)) return *i;
  if (auto* u = std::get_if<uint64_t>(&v_)) {
    if (*u > uint64_t(std::numeric_limits<int64_t>::max())) fail("value {} is too large", *u);
    return int64_t(*u);
  }
  fail("value has type {}, expected an integer", gguf_type_name(type_));
}

double GgufValue::as_f64() const {
  if (auto* d = std::get_if<double>(&v_)) return *d;
  if (auto* u = std::get_if<uint64_t>(&v_)) return double(*u);
  if (auto* i = std::get_if<int64_t>(&v_)) return double(*i);
  fail("value has type {}, expected a number", gguf_type_name(type_));
}

bool GgufValue::as_bool() const {
  if (auto* b = std::get_if<bool>(&v_)) return *b;
  fail("value has type {}, expected bool", gguf_type_name(type_));
}

const std::string& GgufValue::as_string() const {
  if (auto* s = std::get_if<std::string>(&v_)) return *s;
  fail("value has type {}, expected string", gguf_type_name(type_));
}

const GgufArray& GgufValue::as_array() const {
  if (auto* a = std::get_if<GgufArray>(&v_)) return *a;
  fail("value has type {}, expected array", gguf_type_name(type_));
}

std::vector<float> GgufValue::as_f32_vector() const {
  const GgufArray& a = as_array();
  if (gguf_scalar_size(a.elem_type) == 0) fail("array of {}, expected numbers", gguf_type_name(a.elem_type));
  std::vector<float> out(a.count);
  for (uint64_t i = 0; i < a.count; ++i) out[i] = float(raw_element_f64(a, i));
  return out;
}

std::vector<int64_t> GgufValue::as_i64_vector() const {
  const GgufArray& a = as_array();
  if (gguf_scalar_size(a.elem_type) == 0) fail("array of {}, expected integers", gguf_type_name(a.elem_type));
  std::vector<int64_t> out(a.count);
  for (uint64_t i = 0; i < a.count; ++i) out[i] = raw_element_i64(a, i);
  return out;
}

const std::vector<std::string>& GgufValue::as_string_vector() const {
  const GgufArray& a = as_array();
  if (a.elem_type != GgufType::STRING) fail("array of {}, expected strings", gguf_type_name(a.elem_type));
  return a.strings;
}

std::string GgufValue::to_display(size_t max_items) const {
  switch (type_) {
    case GgufType::STRING: {
      const std::string& s = as_string();
      if (s.size() > 80) return fmt::format("\"{}...\" ({} bytes)", s.substr(0, 77), s.size());
      return fmt::format("\"{}\"", s);
    }
    case GgufType::BOOL: return as_bool() ? "true" : "false";
    case GgufType::FLOAT32: case GgufType::FLOAT64: return fmt::format("{:g}", as_f64());
    case GgufType::ARRAY: {
      const GgufArray& a = as_array();
      std::string out = fmt::format("[{} x {}]", a.count, gguf_type_name(a.elem_type));
      if (a.count == 0 || max_items == 0) return out;
      out += " ";
      for (uint64_t i = 0; i < a.count && i < max_items; ++i) {
        if (i) out += ", ";
        if (a.elem_type == GgufType::STRING) {
          std::string s = a.strings[i];
          if (s.size() > 24) s = s.substr(0, 21) + "...";
          out += fmt::format("\"{}\"", s);
        } else if (a.elem_type == GgufType::ARRAY) {
          out += a.nested[i].to_display(0);
        } else if (a.elem_type == GgufType::FLOAT32 || a.elem_type == GgufType::FLOAT64) {
          out += fmt::format("{:g}", raw_element_f64(a, i));
        } else {
          out += fmt::format("{}", raw_element_i64(a, i));
        }
      }
      if (a.count > max_items) out += ", ...";
      return out;
    }
    default:
      if (std::holds_alternative<int64_t>(v_)) return fmt::format("{}", std::get<int64_t>(v_));
      return fmt::format("{}", std::get<uint64_t>(v_));
  }
}

void GgufMetadata::set(const std::string& key, GgufValue value) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    entries_[it->second].second = std::move(value);
    return;
  }
  index_.emplace(key, entries_.size());
  entries_.emplace_back(key, std::move(value));
}

const GgufValue* GgufMetadata::find(std::string_view key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

const GgufValue& GgufMetadata::at(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) fail("metadata key '{}' is missing", key);
  return *v;
}

void GgufMetadata::erase(std::string_view key) {
  auto it = index_.find(key);
  if (it == index_.end()) return;
  entries_.erase(entries_.begin() + long(it->second));
  index_.clear();
  for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].first, i);
}

std::string GgufMetadata::get_string(std::string_view key, const std::string& def) const {
  const GgufValue* v = find(key);
  if (!v) return def;
  return with_context(fmt::format("metadata key '{}'", key), [&] { return v->as_string(); });
}
uint64_t GgufMetadata::get_u64(std::string_view key, uint64_t def) const {
  const GgufValue* v = find(key);
  if (!v) return def;
  return with_context(fmt::format("metadata key '{}'", key), [&] { return v->as_u64(); });
}
double GgufMetadata::get_f64(std::string_view key, double def) const {
  const GgufValue* v = find(key);
  if (!v) return def;
  return with_context(fmt::format("metadata key '{}'", key), [&] { return v->as_f64(); });
}
bool GgufMetadata::get_bool(std::string_view key, bool def) const {
  const GgufValue* v = find(key);
  if (!v) return def;
  return with_context(fmt::format("metadata key '{}'", key), [&] { return v->as_bool(); });
}

}  // namespace lowbit
