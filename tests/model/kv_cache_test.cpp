// KV cache storage and the attention kernels: the scalar kernels against a
// plain float computation on values dequantized by quant/, and every SIMD
// kernel compiled in against the scalar one.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/isa.h"
#include "model/kv_cache.h"
#include "quant/formats.h"

namespace lowbit::model {
namespace {

struct Filled {
  KvCache cache;
  std::vector<float> k, v;  // what was stored, n_pos x row
};

Filled fill_cache(KvType type, int64_t n_pos, int64_t row, uint32_t seed) {
  Filled f{KvCache(2, n_pos + 3, row, type), {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  f.k.resize(size_t(n_pos * row));
  f.v.resize(size_t(n_pos * row));
  for (auto& x : f.k) x = dist(rng);
  for (auto& x : f.v) x = dist(rng);
  std::vector<float> junk(static_cast<size_t>(row), 1e3f);
  for (int64_t p = 0; p < n_pos; ++p) {
    f.cache.store(1, p, f.k.data() + p * row, f.v.data() + p * row);
    f.cache.store(0, p, junk.data(), junk.data());  // another layer must not leak in
  }
  return f;
}

// What the cache holds for stored floats: the values after a round trip
// through the storage type, dequantized by the quant layer.
std::vector<float> stored_values(KvType type, const std::vector<float>& src, int64_t row) {
  const GgmlType g = kv_ggml_type(type);
  std::vector<float> out(src.size());
  std::vector<uint8_t> buf(row_bytes(g, row));
  for (size_t r = 0; r < src.size() / size_t(row); ++r) {
    quant::quantize_rows(g, src.data() + r * size_t(row), buf.data(), 1, row);
    quant::dequantize_row(g, buf.data(), out.data() + r * size_t(row), row);
  }
  return out;
}

struct Case {
  KvType type;
  int64_t row, head_dim;
};

const Case kCases[] = {
    {KvType::F32, 32, 8},  {KvType::F16, 32, 8},   {KvType::Q8_0, 32, 8},  {KvType::F16, 256, 64},
    {KvType::Q8_0, 256, 64}, {KvType::F32, 128, 64}, {KvType::F16, 60, 12}, {KvType::Q8_0, 192, 96},
};

TEST(KvCache, ScalarKernelsMatchPlainFloatMath) {
  for (const Case& cs : kCases) {
    SCOPED_TRACE(std::string(kv_type_name(cs.type)) + " row " + std::to_string(cs.row));
    const int64_t n_pos = 37;
    Filled f = fill_cache(cs.type, n_pos, cs.row, 7);
    const std::vector<float> k = stored_values(cs.type, f.k, cs.row);
    const std::vector<float> v = stored_values(cs.type, f.v, cs.row);
    std::mt19937 rng(3);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> q(static_cast<size_t>(cs.head_dim)), w(static_cast<size_t>(n_pos));
    for (auto& x : q) x = dist(rng);
    for (auto& x : w) x = std::abs(dist(rng));
    for (int64_t head = 0; head < cs.row / cs.head_dim; ++head) {
      const int64_t off = head * cs.head_dim;
      std::vector<float> scores(static_cast<size_t>(n_pos)), out(static_cast<size_t>(cs.head_dim));
      kv_scores_scalar(f.cache.keys(1, off), q.data(), cs.head_dim, n_pos, 0.5f, scores.data());
      kv_weighted_sum_scalar(f.cache.values(1, off), w.data(), cs.head_dim, n_pos, out.data());
      for (int64_t p = 0; p < n_pos; ++p) {
        double ref = 0;
        for (int64_t i = 0; i < cs.head_dim; ++i) ref += double(q[size_t(i)]) * k[size_t(p * cs.row + off + i)];
        EXPECT_NEAR(scores[size_t(p)], 0.5 * ref, 1e-4 * (1 + std::abs(ref)));
      }
      for (int64_t i = 0; i < cs.head_dim; ++i) {
        double ref = 0;
        for (int64_t p = 0; p < n_pos; ++p) ref += double(w[size_t(p)]) * v[size_t(p * cs.row + off + i)];
        EXPECT_NEAR(out[size_t(i)], ref, 1e-4 * (1 + std::abs(ref)));
      }
    }
  }
}

TEST(KvCache, SimdKernelsMatchScalar) {
  if (!isa_supported(Isa::Avx2)) GTEST_SKIP() << "CPU has no AVX2";
  for (const Case& cs : kCases) {
    SCOPED_TRACE(std::string(kv_type_name(cs.type)) + " row " + std::to_string(cs.row));
    for (int64_t n_pos : {1, 5, 64}) {
      Filled f = fill_cache(cs.type, n_pos, cs.row, uint32_t(n_pos));
      std::vector<float> q(static_cast<size_t>(cs.head_dim)), w(static_cast<size_t>(n_pos));
      std::mt19937 rng(11);
      std::normal_distribution<float> dist(0.0f, 1.0f);
      for (auto& x : q) x = dist(rng);
      for (auto& x : w) x = dist(rng);
      for (int64_t head = 0; head < cs.row / cs.head_dim; ++head) {
        const int64_t off = head * cs.head_dim;
        std::vector<float> s_ref(static_cast<size_t>(n_pos)), s_simd(static_cast<size_t>(n_pos));
        std::vector<float> o_ref(static_cast<size_t>(cs.head_dim)), o_simd(static_cast<size_t>(cs.head_dim), 99.0f);
        kv_scores_scalar(f.cache.keys(1, off), q.data(), cs.head_dim, n_pos, 0.125f, s_ref.data());
        kv_scores_avx2(f.cache.keys(1, off), q.data(), cs.head_dim, n_pos, 0.125f, s_simd.data());
        kv_weighted_sum_scalar(f.cache.values(1, off), w.data(), cs.head_dim, n_pos, o_ref.data());
        kv_weighted_sum_avx2(f.cache.values(1, off), w.data(), cs.head_dim, n_pos, o_simd.data());
        for (int64_t p = 0; p < n_pos; ++p) EXPECT_NEAR(s_simd[size_t(p)], s_ref[size_t(p)], 1e-5f * (1 + std::abs(s_ref[size_t(p)])));
        for (int64_t i = 0; i < cs.head_dim; ++i)
          EXPECT_NEAR(o_simd[size_t(i)], o_ref[size_t(i)], 1e-5f * (1 + std::abs(o_ref[size_t(i)])));
      }
    }
  }
}

TEST(KvCache, RejectsQ8RowsThatAreNotWholeBlocks) {
  EXPECT_THROW(KvCache(1, 4, 40, KvType::Q8_0), Error);
  EXPECT_NO_THROW(KvCache(1, 4, 40, KvType::F16));
}

TEST(KvCache, TypeNames) {
  EXPECT_EQ(kv_type_from_name("Q8_0"), KvType::Q8_0);
  EXPECT_EQ(kv_type_from_name("f16"), KvType::F16);
  EXPECT_THROW(kv_type_from_name("q4_k"), Error);
  EXPECT_EQ(KvCache(3, 10, 64, KvType::F16).bytes(), size_t(3 * 2 * 10 * 64 * 2));
}

}  // namespace
}  // namespace lowbit::model
