#include "eval/inspect.h"

#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/progress.h"
#include "eval/memory_plan.h"

namespace lowbit::eval {
namespace {

struct TypeTotal {
  int64_t tensors = 0;
  int64_t params = 0;
  uint64_t bytes = 0;
};

std::map<std::string, TypeTotal> totals_by_type(const ModelSource& model) {
  std::map<std::string, TypeTotal> totals;
  for (const auto& t : model.tensors()) {
    TypeTotal& tt = totals[type_name(t.type)];
    tt.tensors += 1;
    tt.params += t.element_count();
    tt.bytes += t.bytes;
  }
  return totals;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? " x " : "") + std::to_string(shape[i]);
  return s;
}

double bpw(uint64_t bytes, int64_t params) { return params > 0 ? 8.0 * double(bytes) / double(params) : 0.0; }

nlohmann::json value_json(const GgufValue& v) {
  switch (v.type()) {
    case GgufType::STRING: return v.as_string();
    case GgufType::BOOL: return v.as_bool();
    case GgufType::FLOAT32: case GgufType::FLOAT64: return v.as_f64();
    case GgufType::ARRAY: {
      const GgufArray& a = v.as_array();
      nlohmann::json j;
      j["type"] = std::string("array of ") + gguf_type_name(a.elem_type);
      j["length"] = a.count;
      return j;
    }
    case GgufType::INT8: case GgufType::INT16: case GgufType::INT32: case GgufType::INT64: return v.as_i64();
    default: return v.as_u64();
  }
}

}  // namespace

std::string inspect_text(const ModelSource& model, bool list_tensors) {
  const GgufMetadata& m = model.metadata();
  const std::string arch = model.architecture();
  std::string out;
  out += fmt::format("{}  ({})\n", model.path(), model.is_gguf() ? "GGUF file" : "Hugging Face folder");
  out += fmt::format("architecture: {}", arch.empty() ? "(none)" : arch);
  if (auto name = m.get_string("general.name"); !name.empty()) out += fmt::format("   name: {}", name);
  out += "\n";
  const uint64_t params = model.parameter_count();
  out += fmt::format("parameters: {} ({:.2f} M)   tensors: {}   tensor data: {} ({:.3f} bits/weight)\n\n", params,
                     double(params) / 1e6, model.tensors().size(), format_bytes(double(model.tensor_bytes())),
                     bpw(model.tensor_bytes(), int64_t(params)));

  out += "hyper-parameters:\n";
  for (const auto& [key, value] : m.entries())
    if (!arch.empty() && key.rfind(arch + ".", 0) == 0)
      out += fmt::format("  {:<44} {}\n", key, value.to_display());
  out += "other metadata:\n";
  for (const auto& [key, value] : m.entries())
    if (arch.empty() || key.rfind(arch + ".", 0) != 0) out += fmt::format("  {:<44} {}\n", key, value.to_display(4));

  if (list_tensors) {
    out += fmt::format("\n{:<34} {:>18} {:>8} {:>14} {:>8}\n", "tensor", "shape", "type", "bytes", "bits/w");
    for (const auto& t : model.tensors())
      out += fmt::format("{:<34} {:>18} {:>8} {:>14} {:>8.3f}\n", t.name, shape_string(t.shape), type_name(t.type),
                         t.bytes, bpw(t.bytes, t.element_count()));
  }

  out += fmt::format("\n{:<8} {:>8} {:>14} {:>14} {:>8}\n", "type", "tensors", "parameters", "bytes", "bits/w");
  for (const auto& [name, tt] : totals_by_type(model))
    out += fmt::format("{:<8} {:>8} {:>14} {:>14} {:>8.3f}\n", name, tt.tensors, tt.params, tt.bytes,
                       bpw(tt.bytes, tt.params));

  out += "\nweight memory at each format (1-D tensors kept F32, llama.cpp fallbacks for odd rows):\n";
  for (const auto& w : weight_sizes_for_model(model)) {
    std::string name = w.type == GgmlType::F16 ? "F16/BF16" : type_name(w.type);
    out += fmt::format("  {:<9} {:>12}  {:>7.3f} bits/w\n", name, format_bytes(double(w.bytes)), w.bits_per_weight);
  }
  out += fmt::format("  {:<9} {:>12}  {:>7.3f} bits/w\n", "this file", format_bytes(double(model.tensor_bytes())),
                     bpw(model.tensor_bytes(), int64_t(params)));
  return out;
}

std::string inspect_json(const ModelSource& model) {
  nlohmann::json j;
  j["path"] = model.path();
  j["format"] = model.is_gguf() ? "gguf" : "huggingface";
  j["architecture"] = model.architecture();
  j["parameters"] = model.parameter_count();
  j["tensor_bytes"] = model.tensor_bytes();
  nlohmann::json meta = nlohmann::json::object();
  for (const auto& [key, value] : model.metadata().entries()) meta[key] = value_json(value);
  j["metadata"] = meta;
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : model.tensors())
    tensors.push_back({{"name", t.name},
                       {"shape", t.shape},
                       {"type", type_name(t.type)},
                       {"bytes", t.bytes},
                       {"bits_per_weight", bpw(t.bytes, t.element_count())}});
  j["tensors"] = tensors;
  nlohmann::json totals = nlohmann::json::object();
  for (const auto& [name, tt] : totals_by_type(model))
    totals[name] = {{"tensors", tt.tensors}, {"parameters", tt.params}, {"bytes", tt.bytes},
                    {"bits_per_weight", bpw(tt.bytes, tt.params)}};
  j["totals_by_type"] = totals;
  nlohmann::json mem = nlohmann::json::object();
  for (const auto& w : weight_sizes_for_model(model))
    mem[type_name(w.type)] = {{"bytes", w.bytes}, {"bits_per_weight", w.bits_per_weight}};
  j["weight_memory_by_format"] = mem;
  // Names and metadata strings come from the file and need not be valid
  // UTF-8: replace bad bytes with U+FFFD rather than throw.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace lowbit::eval
