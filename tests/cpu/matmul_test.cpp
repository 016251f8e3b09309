// matmul against a naive double computation, for every weight format and ISA
// level: n_tokens 1..9 and 70 (more than one token block), n_out not a
// multiple of any tile, 1 and 2 threads. The expectation uses the same
// quantized activations (dequantized in double), so the tolerance is float
// rounding only; a looser check against the unquantized activations guards
// the activation quantization itself. Types with a packed layout (AVX-512
// VNNI) are also run packed and must give bit-identical results.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/isa.h"
#include "core/parallel.h"
#include "cpu/kernels.h"
#include "cpu/matmul.h"
#include "cpu_test_util.h"

namespace lowbit::cpu {
namespace {

constexpr double kRelTol = 1e-5;          // vs double on the quantized activations (times ||w|| ||a||)
constexpr double kQuantizedActTol = 2e-2;  // vs double on the float activations (times ||w|| ||x||)

struct Restore {
  Isa isa = active_isa();
  int threads = thread_count();
  ~Restore() {
    set_active_isa(isa);
    set_thread_count(threads);
  }
};

void check_matmul(GgmlType t, int64_t n_in, int64_t n_out, int64_t n_tok, std::mt19937& rng) {
  const size_t rb = row_bytes(t, n_in);
  std::vector<uint8_t> w;
  for (int64_t o = 0; o < n_out; ++o) {
    auto row = test::random_weight_row(t, n_in, rng, 0.0f);
    w.insert(w.end(), row.begin(), row.end());
  }
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_in * n_tok));
  for (auto& v : x) v = normal(rng);
  std::vector<float> y(static_cast<size_t>(n_out * n_tok), NAN);
  WeightMatrix m{t, n_in, n_out, w.data(), rb};
  matmul(m, x.data(), n_tok, y.data());
  if (has_packed_layout(t)) {
    // The packed layout (rearranged in place) must give bit-identical products.
    std::vector<uint8_t> packed = w;
    WeightMatrix p{t, n_in, n_out, packed.data(), rb};
    ASSERT_TRUE(pack_for_matmul(p, packed.data()));
    ASSERT_EQ(p.layout, WeightLayout::Packed);
    ASSERT_NE(packed, w) << type_name(t) << ": packing changed nothing";
    std::vector<float> yp(y.size(), NAN);
    matmul(p, x.data(), n_tok, yp.data());
    for (size_t i = 0; i < y.size(); ++i)
      ASSERT_EQ(yp[i], y[i]) << type_name(t) << " packed, n_tok=" << n_tok << " output " << i;
    EXPECT_FALSE(pack_for_matmul(p, packed.data())) << "packed twice";
  }

  const GgmlType act = has_dot_kernel(t) ? activation_type(t) : GgmlType::F32;
  std::vector<std::vector<double>> wd;
  for (int64_t o = 0; o < n_out; ++o) wd.push_back(test::dequantize_weights(t, w.data() + size_t(o) * rb, n_in));
  for (int64_t tok = 0; tok < n_tok; ++tok) {
    std::vector<uint8_t> q(row_bytes(act, n_in));
    find_act_quantizer(act, Isa::Scalar)(x.data() + tok * n_in, q.data(), n_in);
    const auto a = test::dequantize_activation(act, q.data(), n_in);
    const std::vector<double> xf(x.begin() + tok * n_in, x.begin() + (tok + 1) * n_in);
    for (int64_t o = 0; o < n_out; ++o) {
      const auto e = test::exact_dot(wd[size_t(o)], a);
      const auto ef = test::exact_dot(wd[size_t(o)], xf);
      const float got = y[size_t(tok * n_out + o)];
      ASSERT_NEAR(got, e.value, kRelTol * e.norm + 1e-30)
          << type_name(t) << " @ " << isa_name(active_isa()) << " n_in=" << n_in << " n_out=" << n_out
          << " n_tok=" << n_tok << " token " << tok << " row " << o;
      ASSERT_NEAR(got, ef.value, kQuantizedActTol * ef.norm) << type_name(t) << " (vs float activations)";
    }
  }
}

TEST(Matmul, AllFormatsAllIsasMatchDouble) {
  Restore restore;
  std::mt19937 rng(11);
  const GgmlType types[] = {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0,   GgmlType::Q5_1,
                            GgmlType::Q8_0, GgmlType::IQ4_NL, GgmlType::Q2_K, GgmlType::Q3_K,
                            GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K,   GgmlType::IQ4_XS,
                            GgmlType::F32,  GgmlType::F16,  GgmlType::BF16};
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    for (int threads : {1, 2}) {
      set_thread_count(threads);
      for (GgmlType t : types) {
        const int64_t n_in = block_size(t) == 256 ? 512 : (block_size(t) == 32 ? 608 : 67);
        for (int64_t n_tok = 1; n_tok <= 9; n_tok += (threads == 1 ? 1 : 4)) check_matmul(t, n_in, 37, n_tok, rng);
      }
    }
    set_thread_count(2);
    for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q8_0, GgmlType::Q6_K, GgmlType::BF16}) check_matmul(t, 256 * 3, 53, 70, rng);
    // Q8_0 prefill splits rows into passes of 4 groups of 16 blocks: 83
    // blocks are 5 full groups (two passes) and a short one; 21 rows, odd.
    check_matmul(GgmlType::Q8_0, 32 * 83, 21, 13, rng);
    check_matmul(GgmlType::Q4_0, 32 * 83, 21, 13, rng);
    for (int64_t n_in : {512, 1536}) check_matmul(GgmlType::Q8_0, n_in, 40, 64, rng);  // whole groups only
  }
}

// Several matrices of one input in one call: every output must be
// bit-identical to its own matmul, whatever mix of formats (one shared
// activation, several, none), layouts, row counts (odd ones too) and threads.
TEST(Matmul, SameInputGroupEqualsSeparateProducts) {
  Restore restore;
  std::mt19937 rng(13);
  const int64_t n_in = 512;
  struct Matrix {
    GgmlType type;
    int64_t n_out;
    bool pack;
  };
  const std::vector<std::vector<Matrix>> groups = {
      {{GgmlType::Q4_K, 64, true}, {GgmlType::Q4_K, 16, true}, {GgmlType::Q6_K, 16, true}},  // q, k, v of a Q4_K_M layer
      {{GgmlType::Q4_K, 37, true}, {GgmlType::Q6_K, 53, false}, {GgmlType::Q4_K, 3, false}},
      {{GgmlType::Q8_0, 40, false}, {GgmlType::Q4_K, 21, true}, {GgmlType::Q8_K, 5, false},
       {GgmlType::BF16, 9, false}, {GgmlType::Q4_0, 0, false}, {GgmlType::Q5_0, 17, false}},
      {{GgmlType::Q4_0, 32, true}, {GgmlType::Q8_0, 17, true}, {GgmlType::Q4_1, 16, true}, {GgmlType::IQ4_NL, 5, true},
       {GgmlType::Q5_0, 16, true}, {GgmlType::Q5_1, 3, true}},
      {{GgmlType::Q3_K, 33, true}, {GgmlType::Q5_K, 16, true}, {GgmlType::Q2_K, 7, true}, {GgmlType::Q3_K, 5, false}},
  };
  for (Isa isa : supported_isas()) {
    for (int threads : {1, 2}) {
      set_thread_count(threads);
      for (const auto& group : groups) {
        for (int64_t n_tok : {1, 7}) {
          set_active_isa(isa);
          std::vector<std::vector<uint8_t>> data;
          std::vector<WeightMatrix> ws;
          for (const Matrix& m : group) {
            std::vector<uint8_t> w;
            for (int64_t o = 0; o < m.n_out; ++o) {
              auto row = test::random_weight_row(m.type, n_in, rng, 0.0f);
              w.insert(w.end(), row.begin(), row.end());
            }
            data.push_back(std::move(w));
          }
          for (size_t i = 0; i < group.size(); ++i) {
            ws.push_back({group[i].type, n_in, group[i].n_out, data[i].data(), row_bytes(group[i].type, n_in)});
            if (group[i].pack) pack_for_matmul(ws.back(), data[i].data());
          }
          std::normal_distribution<float> normal(0.0f, 1.0f);
          std::vector<float> x(size_t(n_in * n_tok));
          for (auto& v : x) v = normal(rng);
          std::vector<std::vector<float>> separate, grouped;
          std::vector<MatmulOutput> outs;
          for (const WeightMatrix& w : ws) {
            separate.emplace_back(size_t(w.n_out * n_tok), NAN);
            grouped.emplace_back(size_t(w.n_out * n_tok), NAN);
            matmul(w, x.data(), n_tok, separate.back().data());
          }
          for (size_t i = 0; i < ws.size(); ++i) outs.push_back({&ws[i], grouped[i].data()});
          matmul_same_input(outs, x.data(), n_tok);
          for (size_t i = 0; i < ws.size(); ++i)
            for (size_t j = 0; j < grouped[i].size(); ++j)
              ASSERT_EQ(grouped[i][j], separate[i][j])
                  << isa_name(isa) << ", " << threads << " threads, " << n_tok << " tokens: matrix " << i << " ("
                  << type_name(ws[i].type) << (ws[i].layout == WeightLayout::Packed ? ", packed" : "")
                  << ") output " << j;
        }
      }
    }
  }
  // Rows of different lengths cannot share an input.
  std::vector<uint8_t> a(row_bytes(GgmlType::Q8_0, 64)), b(row_bytes(GgmlType::Q8_0, 32));
  const WeightMatrix wa{GgmlType::Q8_0, 64, 1, a.data(), a.size()}, wb{GgmlType::Q8_0, 32, 1, b.data(), b.size()};
  std::vector<float> x(64), ya(1), yb(1);
  const MatmulOutput mixed[] = {{&wa, ya.data()}, {&wb, yb.data()}};
  EXPECT_THROW(matmul_same_input(mixed, x.data(), 1), Error);
}

// A token's product must not depend on how many tokens share the call:
// decode (one token) and prefill (AMX tiles of 16 tokens, row pairs of 6,
// rows of 8 tokens, ...) take different kernels, which must accumulate in
// the same order. The formats with packed layouts have the most of them.
TEST(Matmul, TokenResultDoesNotDependOnBatch) {
  Restore restore;
  std::mt19937 rng(17);
  const int64_t n_out = 37, n_tok = 21;
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::IQ4_NL,
                        GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    const int64_t n_in = block_size(type) == 256 ? 256 * 11 : 32 * 83;
    std::vector<uint8_t> w;
    for (int64_t o = 0; o < n_out; ++o) {
      auto row = test::random_weight_row(type, n_in, rng, 0.0f);
      w.insert(w.end(), row.begin(), row.end());
    }
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(size_t(n_in * n_tok));
    for (auto& v : x) v = normal(rng);
    for (Isa isa : supported_isas()) {
      set_active_isa(isa);
      for (bool pack : {false, true}) {
        std::vector<uint8_t> bytes = w;
        WeightMatrix m{type, n_in, n_out, bytes.data(), row_bytes(type, n_in)};
        if (pack && !pack_for_matmul(m, bytes.data())) continue;
        std::vector<float> all(size_t(n_out * n_tok), NAN), one(size_t(n_out), NAN);
        matmul(m, x.data(), n_tok, all.data());
        for (int64_t t = 0; t < n_tok; ++t) {
          matmul(m, x.data() + t * n_in, 1, one.data());
          for (int64_t o = 0; o < n_out; ++o)
            ASSERT_EQ(one[size_t(o)], all[size_t(t * n_out + o)])
                << type_name(type) << " " << isa_name(isa) << (pack ? " packed" : " standard") << ": token " << t
                << " row " << o;
        }
      }
    }
  }
}

TEST(Matmul, FallbackAndEdgeCases) {
  std::mt19937 rng(12);
  // Q8_K weights have no fused kernel: the dequantizing fallback must agree with double.
  check_matmul(GgmlType::Q8_K, 512, 19, 3, rng);
  // n_in not a multiple of the block size is an error, not a crash.
  std::vector<uint8_t> w(1000);
  std::vector<float> x(100), y(10);
  WeightMatrix bad{GgmlType::Q4_0, 48, 1, w.data(), 18};
  EXPECT_THROW(matmul(bad, x.data(), 1, y.data()), Error);
  WeightMatrix short_rows{GgmlType::Q4_0, 64, 1, w.data(), 18};
  EXPECT_THROW(matmul(short_rows, x.data(), 1, y.data()), Error);
  // zero tokens / rows do nothing
  WeightMatrix ok{GgmlType::Q4_0, 32, 1, w.data(), 18};
  matmul(ok, x.data(), 0, y.data());
}

}  // namespace
}  // namespace lowbit::cpu
