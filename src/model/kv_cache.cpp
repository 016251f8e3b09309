// KV cache storage and the portable attention kernels (see kv_cache.h).
#include "model/kv_cache.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <new>

#include "core/error.h"
#include "core/half.h"
#include "core/isa.h"
#include "quant/formats.h"

namespace lowbit::model {
namespace {

constexpr int64_t kQ8Block = 32;
constexpr size_t kQ8BlockBytes = 34;  // fp16 scale + 32 x int8

uint16_t load_u16(const uint8_t* p) {
  uint16_t x;
  std::memcpy(&x, p, 2);
  return x;
}

bool use_avx2() { return active_isa() >= Isa::Avx2; }

}  // namespace

const char* kv_type_name(KvType t) {
  switch (t) {
    case KvType::F32: return "f32";
    case KvType::F16: return "f16";
    case KvType::Q8_0: return "q8_0";
  }
  return "?";
}

KvType kv_type_from_name(const std::string& name) {
  std::string n = name;
  for (char& ch : n) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  if (n == "f32") return KvType::F32;
  if (n == "f16") return KvType::F16;
  if (n == "q8_0") return KvType::Q8_0;
  fail("unknown KV cache type '{}' (use f16, q8_0 or f32)", name);
}

GgmlType kv_ggml_type(KvType t) {
  return t == KvType::F32 ? GgmlType::F32 : t == KvType::F16 ? GgmlType::F16 : GgmlType::Q8_0;
}

void kv_scores_scalar(const KvRows& k, const float* q, int64_t dim, int64_t n_pos, float scale, float* scores) {
  for (int64_t p = 0; p < n_pos; ++p) {
    const uint8_t* row = k.base + size_t(p) * k.row_bytes;
    float sum = 0.0f;
    switch (k.type) {
      case KvType::F32: {
        const float* r = reinterpret_cast<const float*>(row) + k.offset;
        for (int64_t i = 0; i < dim; ++i) sum += q[i] * r[i];
        break;
      }
      case KvType::F16: {
        for (int64_t i = 0; i < dim; ++i) sum += q[i] * fp16_to_float(load_u16(row + 2 * size_t(k.offset + i)));
        break;
      }
      case KvType::Q8_0: {
        // Walk the blocks the head overlaps: partial dot of int8 values, then
        // times the block's scale.
        int64_t i = 0;
        while (i < dim) {
          const int64_t e = k.offset + i;
          const uint8_t* blk = row + size_t(e / kQ8Block) * kQ8BlockBytes;
          const int64_t in_block = e % kQ8Block;
          const int64_t n = std::min(dim - i, kQ8Block - in_block);
          const int8_t* qs = reinterpret_cast<const int8_t*>(blk + 2) + in_block;
          float part = 0.0f;
          for (int64_t j = 0; j < n; ++j) part += q[i + j] * float(qs[j]);
          sum += part * fp16_to_float(load_u16(blk));
          i += n;
        }
        break;
      }
    }
    scores[p] = sum * scale;
  }
}

void kv_weighted_sum_scalar(const KvRows& v, const float* weights, int64_t dim, int64_t n_pos, float* out) {
  std::fill(out, out + dim, 0.0f);
  for (int64_t p = 0; p < n_pos; ++p) {
    const uint8_t* row = v.base + size_t(p) * v.row_bytes;
    const float w = weights[p];
    switch (v.type) {
      case KvType::F32: {
        const float* r = reinterpret_cast<const float*>(row) + v.offset;
        for (int64_t i = 0; i < dim; ++i) out[i] += w * r[i];
        break;
      }
      case KvType::F16: {
        for (int64_t i = 0; i < dim; ++i) out[i] += w * fp16_to_float(load_u16(row + 2 * size_t(v.offset + i)));
        break;
      }
      case KvType::Q8_0: {
        int64_t i = 0;
        while (i < dim) {
          const int64_t e = v.offset + i;
          const uint8_t* blk = row + size_t(e / kQ8Block) * kQ8BlockBytes;
          const int64_t in_block = e % kQ8Block;
          const int64_t n = std::min(dim - i, kQ8Block - in_block);
          const int8_t* qs = reinterpret_cast<const int8_t*>(blk + 2) + in_block;
          const float ws = w * fp16_to_float(load_u16(blk));
          for (int64_t j = 0; j < n; ++j) out[i + j] += ws * float(qs[j]);
          i += n;
        }
        break;
      }
    }
  }
}

void kv_scores(const KvRows& k, const float* q, int64_t dim, int64_t n_pos, float scale, float* scores) {
  if (use_avx2())
    kv_scores_avx2(k, q, dim, n_pos, scale, scores);
  else
    kv_scores_scalar(k, q, dim, n_pos, scale, scores);
}

void kv_weighted_sum(const KvRows& v, const float* weights, int64_t dim, int64_t n_pos, float* out) {
  if (use_avx2())
    kv_weighted_sum_avx2(v, weights, dim, n_pos, out);
  else
    kv_weighted_sum_scalar(v, weights, dim, n_pos, out);
}

KvCache::KvCache(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv, KvType type)
    : n_layer_(n_layer), n_ctx_(n_ctx), n_embd_kv_(n_embd_kv), type_(type) {
  if (n_layer <= 0 || n_ctx <= 0 || n_embd_kv <= 0) fail("KV cache: invalid size ({} layers, ctx {}, row {})", n_layer, n_ctx, n_embd_kv);
  if (type == KvType::Q8_0 && n_embd_kv % kQ8Block != 0)
    fail("KV cache type q8_0 needs a K/V row length that is a multiple of 32; this model's is {} (use f16)", n_embd_kv);
  row_bytes_ = row_bytes(kv_ggml_type(type), n_embd_kv);
  const double total = double(row_bytes_) * double(n_ctx) * double(n_layer) * 2.0;
  if (total > double(int64_t(1) << 42)) fail("KV cache of {:.1f} GiB for context {} is too large", total / (1 << 30), n_ctx);
  bytes_ = row_bytes_ * size_t(n_ctx) * size_t(n_layer) * 2;
  data_.reset(new (std::nothrow) uint8_t[bytes_]);
  if (!data_) fail("cannot allocate the KV cache: {:.1f} MiB for context {}", double(bytes_) / (1 << 20), n_ctx);
}

uint8_t* KvCache::row_ptr(int64_t layer, int which, int64_t pos) {
  return data_.get() + ((size_t(layer) * 2 + size_t(which)) * size_t(n_ctx_) + size_t(pos)) * row_bytes_;
}

KvRows KvCache::rows(int64_t layer, int which, int64_t offset) const {
  KvRows r;
  r.type = type_;
  r.base = data_.get() + (size_t(layer) * 2 + size_t(which)) * size_t(n_ctx_) * row_bytes_;
  r.row_bytes = row_bytes_;
  r.offset = offset;
  return r;
}

void KvCache::store(int64_t layer, int64_t pos, const float* k, const float* v) {
  if (layer < 0 || layer >= n_layer_ || pos < 0 || pos >= n_ctx_) fail("KV cache: position {} out of range (context {})", pos, n_ctx_);
  const float* src[2] = {k, v};
  for (int which = 0; which < 2; ++which) {
    uint8_t* dst = row_ptr(layer, which, pos);
    switch (type_) {
      case KvType::F32: std::memcpy(dst, src[which], size_t(n_embd_kv_) * 4); break;
      case KvType::F16:
        for (int64_t i = 0; i < n_embd_kv_; ++i) {
          const uint16_t h = float_to_fp16(src[which][i]);
          std::memcpy(dst + 2 * i, &h, 2);
        }
        break;
      case KvType::Q8_0: quant::quantize_rows(GgmlType::Q8_0, src[which], dst, 1, n_embd_kv_); break;
    }
  }
}

}  // namespace lowbit::model
