// AVX2 + FMA + F16C versions of the attention kernels in kv_cache.h.
// Compiled with AVX2 flags; called only when core/isa.h reports AVX2.
// Q8_0 heads that do not start and end on a 32-block boundary (head_dim < 32)
// go to the scalar kernels.
#include <immintrin.h>

#include <cstring>

#include "core/half.h"
#include "model/kv_cache.h"

namespace lowbit::model {
namespace {

constexpr size_t kQ8BlockBytes = 34;

inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

inline float load_half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_float(h);
}

// 8 int8 values -> 8 floats.
inline __m256 i8x8_to_ps(const int8_t* p) {
  __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
}

bool q8_aligned(const KvRows& r, int64_t dim) { return r.offset % 32 == 0 && dim % 32 == 0; }

}  // namespace

void kv_scores_avx2(const KvRows& k, const float* q, int64_t dim, int64_t n_pos, float scale, float* scores) {
  if (k.type == KvType::Q8_0 && !q8_aligned(k, dim)) return kv_scores_scalar(k, q, dim, n_pos, scale, scores);
  const int64_t dim8 = dim & ~int64_t(7);
  for (int64_t p = 0; p < n_pos; ++p) {
    const uint8_t* row = k.base + size_t(p) * k.row_bytes;
    float sum = 0.0f;
    if (k.type == KvType::F32) {
      const float* r = reinterpret_cast<const float*>(row) + k.offset;
      __m256 acc = _mm256_setzero_ps();
      for (int64_t i = 0; i < dim8; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), _mm256_loadu_ps(r + i), acc);
      sum = hsum(acc);
      for (int64_t i = dim8; i < dim; ++i) sum += q[i] * r[i];
    } else if (k.type == KvType::F16) {
      const uint8_t* r = row + 2 * size_t(k.offset);
      __m256 acc = _mm256_setzero_ps();
      for (int64_t i = 0; i < dim8; i += 8) {
        __m256 kv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + 2 * i)));
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), kv, acc);
      }
      sum = hsum(acc);
      for (int64_t i = dim8; i < dim; ++i) sum += q[i] * load_half(r + 2 * i);
    } else {
      const uint8_t* blk = row + size_t(k.offset / 32) * kQ8BlockBytes;
      __m256 acc = _mm256_setzero_ps();
      for (int64_t i = 0; i < dim; i += 32, blk += kQ8BlockBytes) {
        const int8_t* qs = reinterpret_cast<const int8_t*>(blk + 2);
        __m256 part = _mm256_mul_ps(_mm256_loadu_ps(q + i), i8x8_to_ps(qs));
        part = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), i8x8_to_ps(qs + 8), part);
        part = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), i8x8_to_ps(qs + 16), part);
        part = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), i8x8_to_ps(qs + 24), part);
        acc = _mm256_fmadd_ps(part, _mm256_set1_ps(load_half(blk)), acc);
      }
      sum = hsum(acc);
    }
    scores[p] = sum * scale;
  }
}

void kv_weighted_sum_avx2(const KvRows& v, const float* weights, int64_t dim, int64_t n_pos, float* out) {
  if (v.type == KvType::Q8_0 && !q8_aligned(v, dim)) return kv_weighted_sum_scalar(v, weights, dim, n_pos, out);
  const int64_t dim8 = dim & ~int64_t(7);
  for (int64_t i = 0; i < dim; ++i) out[i] = 0.0f;
  for (int64_t p = 0; p < n_pos; ++p) {
    const uint8_t* row = v.base + size_t(p) * v.row_bytes;
    const float w = weights[p];
    const __m256 wv = _mm256_set1_ps(w);
    if (v.type == KvType::F32) {
      const float* r = reinterpret_cast<const float*>(row) + v.offset;
      for (int64_t i = 0; i < dim8; i += 8)
        _mm256_storeu_ps(out + i, _mm256_fmadd_ps(wv, _mm256_loadu_ps(r + i), _mm256_loadu_ps(out + i)));
      for (int64_t i = dim8; i < dim; ++i) out[i] += w * r[i];
    } else if (v.type == KvType::F16) {
      const uint8_t* r = row + 2 * size_t(v.offset);
      for (int64_t i = 0; i < dim8; i += 8) {
        __m256 x = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + 2 * i)));
        _mm256_storeu_ps(out + i, _mm256_fmadd_ps(wv, x, _mm256_loadu_ps(out + i)));
      }
      for (int64_t i = dim8; i < dim; ++i) out[i] += w * load_half(r + 2 * i);
    } else {
      const uint8_t* blk = row + size_t(v.offset / 32) * kQ8BlockBytes;
      for (int64_t i = 0; i < dim; i += 32, blk += kQ8BlockBytes) {
        const int8_t* qs = reinterpret_cast<const int8_t*>(blk + 2);
        const __m256 ws = _mm256_set1_ps(w * load_half(blk));
        for (int j = 0; j < 32; j += 8)
          _mm256_storeu_ps(out + i + j, _mm256_fmadd_ps(ws, i8x8_to_ps(qs + j), _mm256_loadu_ps(out + i + j)));
      }
    }
  }
}

}  // namespace lowbit::model
