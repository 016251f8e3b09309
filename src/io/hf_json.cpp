// JSON parsing with a depth limit and typed member access for the Hugging
// Face readers (see hf_json.h).
#include "io/hf_json.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace lowbit {

namespace {

// Scans for the deepest [ / { nesting outside strings; cheap and iterative,
// so it is safe on any input, unlike the recursive parser it protects.
int max_nesting(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') deepest = std::max(deepest, ++depth);
    else if (c == ']' || c == '}') --depth;
  }
  return deepest;
}

const Json* member(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

std::string brief(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

Json parse_json_text(std::string_view text, const std::string& what, int max_depth) {
  if (max_nesting(text) > max_depth) fail("{}: malformed JSON (nested deeper than {} levels)", what, max_depth);
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    // nlohmann's message names the byte position and the unexpected token.
    std::string msg = e.what();
    if (auto p = msg.find("] "); p != std::string::npos && msg.rfind("[json.exception", 0) == 0) msg = msg.substr(p + 2);
    fail("{}: malformed JSON ({})", what, msg);
  }
}

Json read_json_file(const std::string& path, uint64_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) fail("{}: is a directory, expected a JSON file", path);
  if (uint64_t(st.st_size) > max_bytes) fail("{}: JSON file too large ({} bytes)", path, uint64_t(st.st_size));
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open: {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("{}: read error", path);
  return parse_json_text(ss.str(), path);
}

std::optional<int64_t> json_int(const Json& obj, const char* key, const std::string& file) {
  const Json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (v->is_number_unsigned()) {
    uint64_t u = v->get<uint64_t>();
    if (u > uint64_t(INT64_MAX)) fail("{}: \"{}\" = {} is out of range", file, key, u);
    return int64_t(u);
  }
  if (v->is_number_integer()) return v->get<int64_t>();
  // Some configs write integers as 1024.0.
  if (v->is_number_float()) {
    double d = v->get<double>();
    // Range first: converting an out-of-range double to int64 is undefined.
    if (d >= -9.0e18 && d <= 9.0e18 && d == double(int64_t(d))) return int64_t(d);
  }
  fail("{}: \"{}\" must be an integer, found {}", file, key, brief(*v));
}

std::optional<double> json_number(const Json& obj, const char* key, const std::string& file) {
  const Json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) fail("{}: \"{}\" must be a number, found {}", file, key, brief(*v));
  return v->get<double>();
}

std::optional<bool> json_bool(const Json& obj, const char* key, const std::string& file) {
  const Json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) fail("{}: \"{}\" must be true or false, found {}", file, key, brief(*v));
  return v->get<bool>();
}

std::optional<std::string> json_string(const Json& obj, const char* key, const std::string& file) {
  const Json* v = member(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) fail("{}: \"{}\" must be a string, found {}", file, key, brief(*v));
  return v->get<std::string>();
}

}  // namespace lowbit
