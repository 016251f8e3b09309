// Memory arithmetic behind `lowbit mem` and `lowbit inspect`: what a model's
// weights take at each precision and block format (real block sizes with
// their scales, not just bits/8), what the KV cache takes for a context
// length, and whether the total fits a memory budget.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/ggml_type.h"
#include "io/model_source.h"

namespace lowbit::eval {

// The dimensions that decide KV-cache size.
struct ModelShape {
  std::string description;  // where the numbers came from
  int64_t n_layer = 0;
  int64_t n_embd = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  int64_t n_ff = 0;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
};

struct FormatSize {
  GgmlType type;
  double bits_per_weight;  // effective, including scales and fallbacks
  uint64_t bytes;
};

// The formats the tables show, largest first.
const std::vector<GgmlType>& table_formats();

// Every weight stored as `type` (for a bare parameter count).
std::vector<FormatSize> weight_sizes_for_params(double params);
// Each matrix of a real model stored as `type` where its rows allow it (else
// llama.cpp's fallback type, then F16); 1-D tensors stay F32, as quantizers do.
std::vector<FormatSize> weight_sizes_for_model(const ModelSource& model);

ModelShape shape_from_metadata(const GgufMetadata& metadata);
// A Llama-family shape of about that size (used when only a count is given).
ModelShape assumed_shape_for_params(double params);

uint64_t kv_cache_bytes(const ModelShape& shape, int64_t n_ctx, GgmlType kv_type);

// "7B", "70b", "1.5B", "350M", "8.03e9", "23075328" -> parameters.
std::optional<double> parse_param_count(const std::string& text);
// "8GB", "8 GiB", "24G", "512MB", "1.5e9" -> bytes (GB = 1e9, GiB = 2^30).
std::optional<double> parse_byte_size(const std::string& text);

struct MemPlanOptions {
  int64_t n_ctx = 4096;
  GgmlType kv_type = GgmlType::F16;
  std::optional<double> budget_bytes;  // --vram
};

struct MemPlan {
  std::string subject;  // "7B parameters" or the model path
  double params = 0;
  ModelShape shape;
  uint64_t kv_bytes = 0;
  uint64_t overhead_bytes = 0;  // activations and scratch, an estimate
  std::vector<FormatSize> weights;
  std::optional<uint64_t> file_bytes;  // what the model file actually uses
  std::optional<GgmlType> file_type;   // its dominant matrix type
};

MemPlan plan_for_params(double params, const MemPlanOptions& options);
MemPlan plan_for_model(const ModelSource& model, const MemPlanOptions& options);
std::string render_mem_plan(const MemPlan& plan, const MemPlanOptions& options);

}  // namespace lowbit::eval
