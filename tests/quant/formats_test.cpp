// quantize_rows / dequantize_row behaviour beyond the golden files: fp16 and
// bf16 conversions (exhaustive round trips, real BF16 weights), input checks
// (NaN/Inf naming row and column, bad lengths), importance steering the
// search, and Q8_K's invariants.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "common/shared_data.h"
#include "core/error.h"
#include "core/half.h"
#include "io/gguf.h"
#include "quant/blocks.h"
#include "quant/formats.h"

namespace lowbit::quant {
namespace {

// NaN and inf: quantize_rows refuses non-finite input.
bool is_special_fp16(uint16_t h) { return (h & 0x7c00) == 0x7c00; }

// Every finite fp16 value survives fp16 -> float (via dequantize_row) -> fp16.
TEST(FloatFormats, Fp16RoundTripIsExactForAllValues) {
  std::vector<uint16_t> all;
  for (uint32_t h = 0; h < 65536; ++h)
    if (!is_special_fp16(uint16_t(h))) all.push_back(uint16_t(h));
  std::vector<float> f(all.size());
  dequantize_row(GgmlType::F16, all.data(), f.data(), int64_t(all.size()));
  std::vector<uint16_t> back(all.size());
  quantize_rows(GgmlType::F16, f.data(), back.data(), 1, int64_t(all.size()));
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(back[i], all[i]) << "fp16 bits " << all[i];
}

TEST(FloatFormats, Bf16RoundTripIsExactForAllValues) {
  std::vector<uint16_t> all;
  for (uint32_t h = 0; h < 65536; ++h)
    if ((h & 0x7f80) != 0x7f80) all.push_back(uint16_t(h));
  std::vector<float> f(all.size());
  dequantize_row(GgmlType::BF16, all.data(), f.data(), int64_t(all.size()));
  for (size_t i = 0; i < all.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &f[i], 4);
    ASSERT_EQ(bits, uint32_t(all[i]) << 16);  // bf16 is the top half of a float
  }
  std::vector<uint16_t> back(all.size());
  quantize_rows(GgmlType::BF16, f.data(), back.data(), 1, int64_t(all.size()));
  EXPECT_EQ(back, all);
}

// Rounding to nearest even, checked against exact arithmetic in double:
// the result is the nearest representable value, ties go to an even mantissa.
TEST(FloatFormats, Fp16RoundsToNearestEven) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mant(-1.f, 1.f);
  std::uniform_int_distribution<int> expo(-26, 16);
  std::vector<float> x(20000);
  for (float& v : x) v = std::ldexp(mant(rng), expo(rng));
  x[0] = 1.f + 1.f / 2048;              // halfway between 1 and 1+2^-10: ties to 1
  x[1] = 1.f + 3.f / 2048;              // halfway, ties up to even 1+2^-9
  x[2] = 65520.f;                       // rounds to inf
  x[3] = std::ldexp(1.f, -25);          // halfway to the smallest subnormal: ties to 0
  x[4] = std::ldexp(1.5f, -25);         // rounds up to the smallest subnormal
  std::vector<uint16_t> h(x.size());
  quantize_rows(GgmlType::F16, x.data(), h.data(), 1, int64_t(x.size()));
  EXPECT_EQ(h[0], 0x3c00);
  EXPECT_EQ(h[1], 0x3c02);
  EXPECT_EQ(h[2], 0x7c00);
  EXPECT_EQ(h[3], 0x0000);
  EXPECT_EQ(h[4], 0x0001);
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i], got = fp16_to_float(h[i]);
    if (std::isinf(got)) {
      EXPECT_GE(std::fabs(v), 65520.0);
      continue;
    }
    // neighbours of the result must not be closer
    for (int delta : {-1, 1}) {
      const uint16_t nb = uint16_t(h[i] + delta);
      if ((nb & 0x7fff) >= 0x7c00 || ((h[i] & 0x7fff) == 0 && delta < 0)) continue;
      const double other = fp16_to_float(nb);
      const double e_got = std::fabs(v - got), e_other = std::fabs(v - other);
      ASSERT_TRUE(e_got < e_other || (e_got == e_other && (h[i] & 1) == 0))
          << "x=" << v << " got " << got << " neighbour " << other;
    }
  }
}

TEST_SHARED(FloatFormats, RealBf16WeightsRoundTrip) {
  GgufReader r(SHARED_FILE("golden/quant/source-BF16.gguf"));
  for (const auto& t : r.tensors()) {
    ASSERT_EQ(t.type, GgmlType::BF16);
    const int64_t n = t.element_count();
    std::vector<float> f(static_cast<size_t>(n));
    dequantize_row(GgmlType::BF16, t.data, f.data(), n);
    std::vector<uint8_t> back(size_t(n) * 2);
    quantize_rows(GgmlType::BF16, f.data(), back.data(), t.row_count(), t.shape[0]);
    EXPECT_EQ(std::memcmp(back.data(), t.data, back.size()), 0) << t.name;
    // fp16 holds these small weights exactly too (8 mantissa bits < 11)
    std::vector<uint16_t> h(static_cast<size_t>(n));
    quantize_rows(GgmlType::F16, f.data(), h.data(), t.row_count(), t.shape[0]);
    std::vector<float> f2(static_cast<size_t>(n));
    dequantize_row(GgmlType::F16, h.data(), f2.data(), n);
    size_t exact = 0;
    for (int64_t i = 0; i < n; ++i) exact += f2[size_t(i)] == f[size_t(i)];
    EXPECT_GT(double(exact) / double(n), 0.99) << t.name;
  }
}

// ---- input checks

const GgmlType kQuantizable[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,   GgmlType::Q4_0,
                                 GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,   GgmlType::Q8_0,
                                 GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K,   GgmlType::Q5_K,
                                 GgmlType::Q6_K, GgmlType::Q8_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS};

TEST(Quantize, NonFiniteInputNamesRowAndColumn) {
  const int64_t n = 256, rows = 4;
  for (GgmlType type : kQuantizable) {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      std::vector<float> x(size_t(n * rows), 0.25f);
      x[size_t(2 * n + 37)] = bad;
      std::vector<uint8_t> out(row_bytes(type, n) * rows);
      try {
        quantize_rows(type, x.data(), out.data(), rows, n);
        ADD_FAILURE() << type_name(type) << ": no error for " << bad;
      } catch (const Error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("row 2"), std::string::npos) << msg;
        EXPECT_NE(msg.find("column 37"), std::string::npos) << msg;
      }
    }
  }
}

TEST(Quantize, RejectsBadLengthsTypesAndImportance) {
  std::vector<float> x(512, 1.f);
  std::vector<uint8_t> out(4096);
  EXPECT_THROW(quantize_rows(GgmlType::Q4_K, x.data(), out.data(), 1, 128), Error);  // not a multiple of 256
  EXPECT_THROW(quantize_rows(GgmlType::Q4_0, x.data(), out.data(), 1, 48), Error);
  EXPECT_THROW(quantize_rows(GgmlType::IQ2_XXS, x.data(), out.data(), 1, 256), Error);
  EXPECT_THROW(quantize_rows(GgmlType(99), x.data(), out.data(), 1, 256), Error);
  EXPECT_THROW(dequantize_row(GgmlType::Q4_0, out.data(), x.data(), 33), Error);
  std::vector<float> imp(256, 1.f);
  imp[9] = -1.f;
  EXPECT_THROW(quantize_rows(GgmlType::Q4_K, x.data(), out.data(), 1, 256, imp.data()), Error);
  imp[9] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(quantize_rows(GgmlType::Q4_K, x.data(), out.data(), 1, 256, imp.data()), Error);
  EXPECT_FALSE(can_quantize(GgmlType::Q8_1));
  EXPECT_TRUE(can_dequantize(GgmlType::Q8_1));
  for (GgmlType t : kQuantizable) EXPECT_TRUE(can_quantize(t) && can_dequantize(t)) << type_name(t);
}

// ---- behaviour of the searches on synthetic data

std::vector<float> gaussian(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.f, 0.02f);
  std::vector<float> x(n);
  for (float& v : x) v = g(rng);
  return x;
}

double weighted_error(GgmlType type, const std::vector<float>& x, int64_t n, const float* imp_quant,
                      const float* imp_measure) {
  const int64_t rows = int64_t(x.size()) / n;
  std::vector<uint8_t> q(row_bytes(type, n) * size_t(rows));
  quantize_rows(type, x.data(), q.data(), rows, n, imp_quant);
  std::vector<float> y(x.size());
  for (int64_t r = 0; r < rows; ++r) dequantize_row(type, q.data() + size_t(r) * row_bytes(type, n), y.data() + r * n, n);
  double e = 0;
  for (size_t i = 0; i < x.size(); ++i) e += double(imp_measure[i % size_t(n)]) * (x[i] - y[i]) * (x[i] - y[i]);
  return e;
}

// Quantizing with an importance vector lowers the error it weighs.
TEST(Quantize, ImportanceLowersWeightedError) {
  const int64_t n = 512;
  const std::vector<float> x = gaussian(size_t(n) * 64, 3);
  std::vector<float> imp(static_cast<size_t>(n));
  std::mt19937 rng(5);
  std::exponential_distribution<float> ex(1.f);
  for (float& v : imp) v = ex(rng) * ex(rng);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q2_K, GgmlType::Q3_K,
                     GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS}) {
    const double plain = weighted_error(t, x, n, nullptr, imp.data());
    const double steered = weighted_error(t, x, n, imp.data(), imp.data());
    EXPECT_LT(steered, plain * 0.97) << type_name(t);
  }
}

// Zero blocks, constant blocks, all-zero importance and huge/tiny values
// quantize without trouble and decode to something close.
TEST(Quantize, DegenerateInputs) {
  const int64_t n = 256;
  std::vector<float> x(size_t(n) * 5, 0.f);
  for (int64_t i = 0; i < n; ++i) {
    x[size_t(n + i)] = 0.5f;                      // constant
    x[size_t(2 * n + i)] = -3e4f + float(i);      // large
    x[size_t(3 * n + i)] = 1e-7f * float(i % 7);  // tiny
    x[size_t(4 * n + i)] = i == 17 ? 5.f : 0.f;   // one spike
  }
  const std::vector<float> zero_imp(size_t(n), 0.f);
  for (GgmlType t : kQuantizable) {
    for (const float* imp : {static_cast<const float*>(nullptr), zero_imp.data()}) {
      std::vector<uint8_t> q(row_bytes(t, n) * 5);
      quantize_rows(t, x.data(), q.data(), 5, n, imp);
      std::vector<float> y(x.size());
      for (int r = 0; r < 5; ++r) dequantize_row(t, q.data() + size_t(r) * row_bytes(t, n), y.data() + r * n, n);
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_TRUE(std::isfinite(y[i])) << type_name(t) << " " << i;
        if (i < size_t(n)) {
          ASSERT_EQ(y[i], 0.f) << type_name(t);
        }
      }
      // constant row: every format with a scale reproduces 0.5 closely
      for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[size_t(n + i)], 0.5f, 0.02f) << type_name(t);
      EXPECT_NEAR(y[size_t(4 * n + 17)], 5.f, 0.3f) << type_name(t);
    }
  }
}

// Finite but enormous weights (squared errors overflow float) still give a
// complete, finite result, the same on every call.
TEST(Quantize, HugeValuesStayFiniteAndDeterministic) {
  const int64_t n = 256;
  std::vector<float> x(size_t(n) * 2);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 3 ? 1e30f : -3e29f) * float(1 + i % 7);
  for (GgmlType t : kQuantizable) {
    if (t == GgmlType::F16) continue;  // overflows to inf by definition
    std::vector<uint8_t> a(row_bytes(t, n) * 2, 0), b(row_bytes(t, n) * 2, 0xff);
    quantize_rows(t, x.data(), a.data(), 2, n);
    quantize_rows(t, x.data(), b.data(), 2, n);
    EXPECT_EQ(a, b) << type_name(t);
    std::vector<float> y(x.size());
    for (int r = 0; r < 2; ++r) dequantize_row(t, a.data() + size_t(r) * row_bytes(t, n), y.data() + r * n, n);
    for (float v : y) ASSERT_TRUE(std::isfinite(v)) << type_name(t);
  }
}

TEST(Quantize, Q8KHoldsScaledValuesAndBlockSums) {
  const std::vector<float> x = gaussian(512, 11);
  std::vector<BlockQ8_K> q(2);
  quantize_rows(GgmlType::Q8_K, x.data(), q.data(), 1, 512);
  for (int b = 0; b < 2; ++b) {
    float amax = 0;
    for (int j = 0; j < 256; ++j) amax = std::max(amax, std::fabs(x[size_t(256 * b + j)]));
    EXPECT_NEAR(std::fabs(q[size_t(b)].d), amax / 127, amax * 1e-6);
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += q[size_t(b)].qs[16 * g + l];
      EXPECT_EQ(q[size_t(b)].bsums[g], sum);
    }
    for (int j = 0; j < 256; ++j)
      EXPECT_NEAR(q[size_t(b)].d * q[size_t(b)].qs[j], x[size_t(256 * b + j)], std::fabs(q[size_t(b)].d) * 0.5001);
  }
}

}  // namespace
}  // namespace lowbit::quant
