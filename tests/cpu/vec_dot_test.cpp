// Dot kernels: the scalar reference against an independent double-precision
// computation (dequantize_row(weights) . dequantized activation), and every
// vector kernel (each ISA level this CPU supports) against the reference:
// exactly on small-integer data (checks the integer parts bit for bit),
// within a relative tolerance on realistic data and on real weight rows from
// ../shared/golden/quant. Also the activation quantizers and tile kernels,
// and the packed-layout tile kernels (bit-identical to the standard ones).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/shared_data.h"
#include "core/isa.h"
#include "cpu/kernels.h"
#include "cpu/ref/act_quant_ref.h"
#include "cpu_test_util.h"
#include "io/gguf.h"

namespace lowbit::cpu {
namespace {

using test::exact_dot;

// Float results may differ from the reference only by float rounding of the
// block sums, in a different order: at most (blocks * 2^-24) of sum |w_i a_i|
// <= ||w|| ||a||; 1e-5 leaves margin for rows of up to ~150 blocks.
constexpr double kKernelRelTol = 1e-5;
// The reference itself against double: the same float rounding (plus the
// dequantizer's own float products).
constexpr double kRefRelTol = 1e-5;

const GgmlType kTypes[] = {GgmlType::Q4_0,   GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
                           GgmlType::IQ4_NL, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K,
                           GgmlType::Q6_K,   GgmlType::IQ4_XS, GgmlType::F32, GgmlType::F16, GgmlType::BF16};

QuantizeActFn ref_quantizer(GgmlType act) { return find_act_quantizer(act, Isa::Scalar); }

struct IsaGuard {
  Isa saved = active_isa();
  ~IsaGuard() { set_active_isa(saved); }
};

std::string label(GgmlType t, Isa isa) { return type_name(t) + std::string(" @ ") + isa_name(isa); }

TEST(VecDotRef, MatchesDoubleOfDequantized) {
  std::mt19937 rng(1);
  for (GgmlType t : kTypes) {
    const GgmlType act = activation_type(t);
    const DotKernel* ref = find_dot_kernel(t, Isa::Scalar);
    for (int64_t n : {256, 1024, 1536}) {
      for (int rep = 0; rep < 4; ++rep) {
        auto w = test::random_weight_row(t, n, rng, 0.0f);
        auto a = test::random_activation_row(act, n, rng, false, ref_quantizer(act));
        const auto e = exact_dot(test::dequantize_weights(t, w.data(), n), test::dequantize_activation(act, a.data(), n));
        const double got = ref->vec_dot(n, w.data(), a.data());
        EXPECT_NEAR(got, e.value, kRefRelTol * e.norm) << type_name(t) << " n=" << n;
      }
      // small integers: the reference must be exact
      auto w = test::random_weight_row(t, n, rng, 1.0f);
      auto a = test::random_activation_row(act, n, rng, true, ref_quantizer(act));
      const auto e = exact_dot(test::dequantize_weights(t, w.data(), n), test::dequantize_activation(act, a.data(), n));
      EXPECT_EQ(double(ref->vec_dot(n, w.data(), a.data())), e.value) << type_name(t) << " n=" << n;
    }
  }
}

TEST(VecDot, EveryFormatHasVectorKernels) {
  for (Isa isa : supported_isas()) {
    if (isa == Isa::Scalar) continue;
    for (GgmlType t : kTypes) {
      EXPECT_NE(find_dot_kernel(t, isa), find_dot_kernel(t, Isa::Scalar)) << label(t, isa);
      EXPECT_NE(find_act_quantizer(activation_type(t), isa), find_act_quantizer(activation_type(t), Isa::Scalar))
          << label(t, isa);
    }
  }
}

TEST(VecDot, VectorKernelsMatchReference) {
  IsaGuard guard;
  std::mt19937 rng(2);
  for (Isa isa : supported_isas()) {
    if (isa == Isa::Scalar) continue;
    for (GgmlType t : kTypes) {
      const GgmlType act = activation_type(t);
      const DotKernel* ref = find_dot_kernel(t, Isa::Scalar);
      const DotKernel* fast = find_dot_kernel(t, isa);
      for (int64_t n : {256, 512, 768, 1536, 4096}) {
        // exact: integer parts must agree bit for bit
        for (int rep = 0; rep < 3; ++rep) {
          auto w = test::random_weight_row(t, n, rng, 1.0f);
          auto a = test::random_activation_row(act, n, rng, true, ref_quantizer(act));
          EXPECT_EQ(fast->vec_dot(n, w.data(), a.data()), ref->vec_dot(n, w.data(), a.data()))
              << label(t, isa) << " n=" << n << " (small integers)";
        }
        for (int rep = 0; rep < 3; ++rep) {
          auto w = test::random_weight_row(t, n, rng, 0.0f);
          auto a = test::random_activation_row(act, n, rng, false, ref_quantizer(act));
          const auto e =
              exact_dot(test::dequantize_weights(t, w.data(), n), test::dequantize_activation(act, a.data(), n));
          EXPECT_NEAR(fast->vec_dot(n, w.data(), a.data()), ref->vec_dot(n, w.data(), a.data()),
                      kKernelRelTol * e.norm)
              << label(t, isa) << " n=" << n;
        }
      }
      // 32-blocks formats also at odd block counts
      if (block_size(t) <= 32) {
        for (int64_t n : {32, 64, 96, 160, 224, 288}) {
          auto w = test::random_weight_row(t, n, rng, 1.0f);
          auto a = test::random_activation_row(act, n, rng, true, ref_quantizer(act));
          EXPECT_EQ(fast->vec_dot(n, w.data(), a.data()), ref->vec_dot(n, w.data(), a.data()))
              << label(t, isa) << " n=" << n;
        }
      }
      if (block_size(t) == 1) {
        for (int64_t n : {1, 7, 15, 17, 33, 63, 65, 172}) {
          auto w = test::random_weight_row(t, n, rng, 1.0f);
          auto a = test::random_activation_row(act, n, rng, true, ref_quantizer(act));
          EXPECT_EQ(fast->vec_dot(n, w.data(), a.data()), ref->vec_dot(n, w.data(), a.data()))
              << label(t, isa) << " n=" << n;
        }
      }
    }
  }
}

// tile(rows x tokens) must equal vec_dot for every pair, for odd shapes.
TEST(VecDot, TilesMatchVecDot) {
  std::mt19937 rng(3);
  for (Isa isa : supported_isas()) {
    for (GgmlType t : kTypes) {
      const GgmlType act = activation_type(t);
      const DotKernel* k = find_dot_kernel(t, isa);
      const int64_t n = block_size(t) == 256 ? 512 : 832;  // 32-blocks: one group of 16 and a short one
      const size_t wb = row_bytes(t, n), ab = row_bytes(act, n);
      for (int64_t rows : {1, 3, 5, 8, 13}) {
        for (int64_t toks : {1, 2, 3, 4, 5, 7, 9, 17}) {
          std::vector<uint8_t> w, a;
          for (int64_t r = 0; r < rows; ++r) {
            auto row = test::random_weight_row(t, n, rng, 0.0f);
            w.insert(w.end(), row.begin(), row.end());
          }
          for (int64_t i = 0; i < toks; ++i) {
            auto row = test::random_activation_row(act, n, rng, false, ref_quantizer(act));
            a.insert(a.end(), row.begin(), row.end());
          }
          const int64_t stride = rows + 3;
          std::vector<float> y(size_t(toks * stride), -1.0f);
          // the tile kernel may take its own activation layout (64-byte aligned rows)
          const size_t tb = k->tile_act_from_standard ? (k->tile_act_bytes(n) + 63) / 64 * 64 : ab;
          std::vector<uint8_t> tile_act(tb * size_t(toks) + 64);
          uint8_t* ta = tile_act.data() + (64 - reinterpret_cast<uintptr_t>(tile_act.data()) % 64) % 64;
          for (int64_t i = 0; i < toks; ++i) {
            if (k->tile_act_from_standard) k->tile_act_from_standard(a.data() + i * ab, ta + i * tb, n);
            else std::memcpy(ta + i * tb, a.data() + i * ab, ab);
          }
          k->tile(n, w.data(), wb, rows, ta, tb, toks, y.data(), stride);
          if (k->tile_packed) {
            std::vector<uint8_t> packed = w;
            k->pack_rows(packed.data(), wb, rows, n);
            std::vector<float> yp(y.size(), -1.0f);
            k->tile_packed(n, packed.data(), wb, rows, ta, tb, toks, yp.data(), stride);
            for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(yp[i], y[i]) << label(t, isa) << " packed tile, output " << i;
          }
          for (int64_t i = 0; i < toks; ++i)
            for (int64_t r = 0; r < rows; ++r) {
              const float want = k->vec_dot(n, w.data() + r * wb, a.data() + i * ab);
              ASSERT_NEAR(y[size_t(i * stride + r)], want, 1e-6 * (std::fabs(want) + 1.0))
                  << label(t, isa) << " rows=" << rows << " toks=" << toks << " r=" << r << " t=" << i;
            }
          for (int64_t i = 0; i < toks; ++i)
            for (int64_t r = rows; r < stride; ++r) ASSERT_EQ(y[size_t(i * stride + r)], -1.0f) << "wrote outside tile";
        }
      }
    }
  }
}

TEST(ActQuant, VectorQuantizersGiveReferenceBytes) {
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (Isa isa : supported_isas()) {
    for (GgmlType act : {GgmlType::Q8_0, GgmlType::Q8_K, GgmlType::F32}) {
      for (int64_t n : {256, 512, 4096}) {
        std::vector<float> x(static_cast<size_t>(n));
        for (auto& v : x) v = normal(rng) * 3.0f;
        for (int i = 0; i < 32; ++i) x[size_t(i)] = 0.0f;  // an all-zero Q8_0 block
        x[40] = 1e4f;                                       // an outlier
        std::vector<uint8_t> want(row_bytes(act, n)), got(row_bytes(act, n), 0xAB);
        ref_quantizer(act)(x.data(), want.data(), n);
        find_act_quantizer(act, isa)(x.data(), got.data(), n);
        EXPECT_EQ(got, want) << type_name(act) << " @ " << isa_name(isa) << " n=" << n;
      }
    }
  }
}

TEST(ActQuant, RoundTripError) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 1024;
  std::vector<float> x(n);
  for (auto& v : x) v = normal(rng);
  for (GgmlType act : {GgmlType::Q8_0, GgmlType::Q8_K}) {
    std::vector<uint8_t> q(row_bytes(act, n));
    ref_quantizer(act)(x.data(), q.data(), n);
    auto back = test::dequantize_activation(act, q.data(), n);
    const int64_t bs = block_size(act);
    for (int64_t b = 0; b < n / bs; ++b) {
      double amax = 0;
      for (int64_t i = 0; i < bs; ++i) amax = std::max(amax, double(std::fabs(x[b * bs + i])));
      // half a step (amax/127/2) plus the fp16 rounding of the Q8_0 scale
      for (int64_t i = 0; i < bs; ++i)
        EXPECT_LE(std::fabs(back[b * bs + i] - x[b * bs + i]), amax / 127 * 0.5 * (1 + 1e-3) + 1e-7) << type_name(act);
    }
  }
}

// One row packed (a copy) and dotted with one standard activation row by the
// packed tile kernel.
float packed_dot(const DotKernel& k, int64_t n, const uint8_t* w, const uint8_t* a) {
  std::vector<uint8_t> row(w, w + row_bytes(k.weight, n));
  k.pack_rows(row.data(), row.size(), 1, n);
  std::vector<uint8_t> act(k.tile_act_bytes(n) + 64);
  uint8_t* aligned = act.data() + (64 - reinterpret_cast<uintptr_t>(act.data()) % 64) % 64;
  k.tile_act_from_standard(a, aligned, n);
  float y = NAN;
  k.tile_packed(n, row.data(), row.size(), 1, aligned, 0, 1, &y, 1);
  return y;
}

// Real rows: llama.cpp-made weights of each format from ../shared.
TEST_SHARED(VecDot, RealWeightRows) {
  IsaGuard guard;
  std::mt19937 rng(6);
  const GgmlType formats[] = {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
                              GgmlType::Q8_0, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K,
                              GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS};
  for (GgmlType t : formats) {
    GgufReader reader(SHARED_FILE("golden/quant/" + type_name(t) + ".gguf"));
    int checked = 0;
    for (const auto& info : reader.tensors()) {
      if (info.type != t) continue;
      const int64_t n = info.shape[0];
      const size_t wb = row_bytes(t, n);
      const GgmlType act = activation_type(t);
      const DotKernel* ref = find_dot_kernel(t, Isa::Scalar);
      for (int64_t r = 0; r < info.row_count(); r += 37) {
        const uint8_t* w = info.data + size_t(r) * wb;
        auto a = test::random_activation_row(act, n, rng, false, ref_quantizer(act));
        const auto e = exact_dot(test::dequantize_weights(t, w, n), test::dequantize_activation(act, a.data(), n));
        const float want = ref->vec_dot(n, w, a.data());
        ASSERT_NEAR(want, e.value, kRefRelTol * e.norm) << info.name << " row " << r;
        for (Isa isa : supported_isas()) {
          const DotKernel* k = find_dot_kernel(t, isa);
          ASSERT_NEAR(k->vec_dot(n, w, a.data()), want, kKernelRelTol * e.norm)
              << info.name << " row " << r << " " << label(t, isa);
          if (k->tile_packed) ASSERT_NEAR(packed_dot(*k, n, w, a.data()), want, kKernelRelTol * e.norm)
              << info.name << " row " << r << " packed " << label(t, isa);
        }
        ++checked;
      }
    }
    EXPECT_GT(checked, 10) << type_name(t);
  }
}

}  // namespace
}  // namespace lowbit::cpu
