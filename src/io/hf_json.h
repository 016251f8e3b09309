// JSON helpers for the Hugging Face readers (config.json, tokenizer.json,
// safetensors headers, shard indexes): parsing with a nesting-depth limit
// (nlohmann's parser recurses, so hostile input could otherwise exhaust the
// stack) and typed field access whose errors name the file and the key.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lowbit {

using Json = nlohmann::json;

// Parses text; throws lowbit::Error "<what>: malformed JSON (...)" naming
// `what` (usually the file path). Rejects nesting deeper than max_depth.
Json parse_json_text(std::string_view text, const std::string& what, int max_depth = 256);
// Reads and parses a file (at most max_bytes), errors name the path.
Json read_json_file(const std::string& path, uint64_t max_bytes = 1ull << 30);

// Typed access to an object member: nullopt when absent or null, an error
// naming `file` and `key` when present with another type.
std::optional<int64_t> json_int(const Json& obj, const char* key, const std::string& file);
std::optional<double> json_number(const Json& obj, const char* key, const std::string& file);
std::optional<bool> json_bool(const Json& obj, const char* key, const std::string& file);
std::optional<std::string> json_string(const Json& obj, const char* key, const std::string& file);

// A value's JSON text, shortened for error messages.
std::string brief(const Json& v);

}  // namespace lowbit
