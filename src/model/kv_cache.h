// The attention key/value cache and the two kernels attention runs on it.
//
// Layout: for each layer, K then V, each n_ctx rows of n_embd_kv values (all
// KV heads of one position side by side, head h at h*head_dim) stored as
// F32, F16 (default) or Q8_0 (ggml blocks of 32: fp16 scale + 32 int8, along
// the row, so a head may start inside a block).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/ggml_type.h"

namespace lowbit::model {

enum class KvType { F32, F16, Q8_0 };
const char* kv_type_name(KvType t);
KvType kv_type_from_name(const std::string& name);  // "f32", "f16", "q8_0"; throws otherwise
GgmlType kv_ggml_type(KvType t);

// Rows of one cache region (K or V of one layer) as the kernels see them.
struct KvRows {
  KvType type = KvType::F16;
  const uint8_t* base = nullptr;  // row 0
  size_t row_bytes = 0;
  int64_t offset = 0;             // first element used in each row (head * head_dim)
};

// scores[p] = scale * dot(q, K_p[offset .. offset+dim)) for p < n_pos.
void kv_scores(const KvRows& k, const float* q, int64_t dim, int64_t n_pos, float scale, float* scores);
// out[i] = sum_p weights[p] * V_p[offset + i] for i < dim (out is overwritten).
void kv_weighted_sum(const KvRows& v, const float* weights, int64_t dim, int64_t n_pos, float* out);

// The portable versions, and the AVX2 ones (callable only when the CPU has
// AVX2+FMA+F16C); the two functions above pick one by core/isa.h.
void kv_scores_scalar(const KvRows& k, const float* q, int64_t dim, int64_t n_pos, float scale, float* scores);
void kv_weighted_sum_scalar(const KvRows& v, const float* weights, int64_t dim, int64_t n_pos, float* out);
void kv_scores_avx2(const KvRows& k, const float* q, int64_t dim, int64_t n_pos, float scale, float* scores);
void kv_weighted_sum_avx2(const KvRows& v, const float* weights, int64_t dim, int64_t n_pos, float* out);

class KvCache {
 public:
  // Throws lowbit::Error when Q8_0 is asked for a row length that is not a
  // multiple of 32, or when the cache would not fit in memory.
  KvCache(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv, KvType type);

  // Stores the keys and values (n_embd_kv floats each) of position pos.
  void store(int64_t layer, int64_t pos, const float* k, const float* v);
  KvRows keys(int64_t layer, int64_t offset) const { return rows(layer, 0, offset); }
  KvRows values(int64_t layer, int64_t offset) const { return rows(layer, 1, offset); }

  KvType type() const { return type_; }
  int64_t n_ctx() const { return n_ctx_; }
  size_t bytes() const { return bytes_; }

 private:
  KvRows rows(int64_t layer, int which, int64_t offset) const;
  uint8_t* row_ptr(int64_t layer, int which, int64_t pos);

  int64_t n_layer_, n_ctx_, n_embd_kv_;
  KvType type_;
  size_t row_bytes_;
  size_t bytes_ = 0;
  // Not zero-filled: pages of positions never reached are never touched.
  std::unique_ptr<uint8_t[]> data_;
};

}  // namespace lowbit::model
