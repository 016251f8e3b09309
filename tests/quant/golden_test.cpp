// The block formats against llama.cpp's own output in ../shared/golden:
//  - dequantizing llama.cpp's blocks gives its F32 dequantization bit for bit;
//  - quantizing the BF16 source gives identical bytes for Q8_0/Q4_0/Q4_1/Q5_0/Q5_1;
//  - for the K-quants and IQ4 formats our error is no worse than llama.cpp's,
//    per tensor: plain RMSE without an imatrix, importance-weighted error with
//    llama.cpp's own imatrix file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/shared_data.h"
#include "core/ggml_type.h"
#include "io/gguf.h"
#include "quant/formats.h"
#include "quant/imatrix.h"

namespace lowbit::quant {
namespace {

std::string param_name(const ::testing::TestParamInfo<const char*>& info) { return info.param; }

const char* const kTensors[] = {"blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.3.attn_v.weight"};

const GgufTensorInfo& tensor(const GgufReader& r, const std::string& name) {
  const GgufTensorInfo* t = r.find_tensor(name);
  if (!t) throw std::runtime_error(r.path() + ": no tensor " + name);
  return *t;
}

std::vector<float> to_floats(const GgufTensorInfo& t) {
  std::vector<float> out(size_t(t.element_count()));
  const int64_t n = t.shape[0];
  const size_t rb = row_bytes(t.type, n);
  for (int64_t r = 0; r < t.row_count(); ++r) dequantize_row(t.type, t.data + size_t(r) * rb, out.data() + r * n, n);
  return out;
}

std::vector<uint8_t> quantize(GgmlType type, const std::vector<float>& x, int64_t n_per_row,
                              const float* importance = nullptr) {
  const int64_t rows = int64_t(x.size()) / n_per_row;
  std::vector<uint8_t> out(row_bytes(type, n_per_row) * size_t(rows));
  quantize_rows(type, x.data(), out.data(), rows, n_per_row, importance);
  return out;
}

// Sum over all values of w[column] * (a - b)^2 (w = 1 when null).
double weighted_sq_error(const std::vector<float>& a, const std::vector<float>& b, int64_t n_per_row,
                         const float* w) {
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = double(a[i]) - b[i];
    e += (w ? w[i % size_t(n_per_row)] : 1.0) * d * d;
  }
  return e;
}

std::vector<float> dequantize_all(GgmlType type, const std::vector<uint8_t>& q, int64_t n_per_row, size_t n) {
  std::vector<float> out(n);
  const size_t rb = row_bytes(type, n_per_row);
  for (size_t r = 0; r < n / size_t(n_per_row); ++r)
    dequantize_row(type, q.data() + r * rb, out.data() + r * size_t(n_per_row), n_per_row);
  return out;
}

class GoldenFormat : public ::testing::TestWithParam<const char*> {};

TEST_P(GoldenFormat, DequantizeMatchesLlamaCppBitForBit) {
  try {
    const std::string name = GetParam();
    GgufReader r(SHARED_FILE("golden/quant/" + name + ".gguf"));
    const GgufTensorInfo& q = tensor(r, "blk.3.attn_v.weight");
    const GgufTensorInfo& ref = tensor(r, "blk.3.attn_v.weight.dequant");
    ASSERT_EQ(q.type, *type_from_name(name));
    ASSERT_EQ(ref.type, GgmlType::F32);
    ASSERT_EQ(q.element_count(), ref.element_count());
    const std::vector<float> ours = to_floats(q);
    const auto* expected = reinterpret_cast<const float*>(ref.data);
    size_t mismatches = 0;
    for (size_t i = 0; i < ours.size(); ++i) {
      uint32_t a, b;
      std::memcpy(&a, &ours[i], 4);
      std::memcpy(&b, &expected[i], 4);
      if (a != b && mismatches++ < 5) ADD_FAILURE() << name << " value " << i << ": " << ours[i] << " vs " << expected[i];
    }
    EXPECT_EQ(mismatches, 0u) << name;
  } catch (const test::SkipShared& s) {
    if (!test::running_in_ci()) GTEST_SKIP() << "needs ../shared: " << s.path;
  }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, GoldenFormat,
                         ::testing::Values("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
                                           "Q6_K", "IQ4_NL", "IQ4_XS"), param_name);

class GoldenSimpleFormat : public ::testing::TestWithParam<const char*> {};

TEST_P(GoldenSimpleFormat, QuantizeGivesLlamaCppBytes) {
  try {
    const std::string name = GetParam();
    const GgmlType type = *type_from_name(name);
    GgufReader src(SHARED_FILE("golden/quant/source-BF16.gguf"));
    GgufReader gold(SHARED_FILE("golden/quant/" + name + ".gguf"));
    for (const char* t : kTensors) {
      const GgufTensorInfo& s = tensor(src, t);
      const GgufTensorInfo& g = tensor(gold, t);
      const std::vector<uint8_t> ours = quantize(type, to_floats(s), s.shape[0]);
      ASSERT_EQ(ours.size(), g.bytes) << name << " " << t;
      size_t first = ours.size();
      for (size_t i = 0; i < ours.size(); ++i) {
        if (ours[i] != g.data[i]) {
          first = i;
          break;
        }
      }
      EXPECT_EQ(first, ours.size()) << name << " " << t << ": first differing byte " << first << " (block "
                                    << first / type_traits(type).bytes_per_block << ")";
    }
  } catch (const test::SkipShared& s) {
    if (!test::running_in_ci()) GTEST_SKIP() << "needs ../shared: " << s.path;
  }
}

INSTANTIATE_TEST_SUITE_P(Simple, GoldenSimpleFormat, ::testing::Values("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"), param_name);

// Ours vs llama.cpp's error on each tensor; `dir` is golden/quant or golden/imatrix.
void compare_error(const std::string& name, bool with_imatrix) {
  const GgmlType type = *type_from_name(name);
  GgufReader src(SHARED_FILE("golden/quant/source-BF16.gguf"));
  GgufReader gold(SHARED_FILE(std::string(with_imatrix ? "golden/imatrix/" : "golden/quant/") + name + ".gguf"));
  Imatrix im;
  if (with_imatrix) im = read_imatrix(SHARED_FILE("golden/imatrix/gutenberg23m.imatrix.dat"));
  for (const char* t : kTensors) {
    const GgufTensorInfo& s = tensor(src, t);
    const int64_t n = s.shape[0];
    const float* w = nullptr;
    if (with_imatrix) {
      const std::vector<float>* v = im.find(t);
      ASSERT_NE(v, nullptr) << t;
      ASSERT_EQ(int64_t(v->size()), n) << t;
      w = v->data();
    }
    const std::vector<float> x = to_floats(s);
    const std::vector<float> theirs = to_floats(tensor(gold, t));
    const std::vector<float> ours = dequantize_all(type, quantize(type, x, n, w), n, x.size());
    const double e_ours = weighted_sq_error(x, ours, n, w), e_theirs = weighted_sq_error(x, theirs, n, w);
    const double r_ours = std::sqrt(e_ours / double(x.size())), r_theirs = std::sqrt(e_theirs / double(x.size()));
    std::printf("  %-7s %-8s %-22s llama.cpp %.6e  lowbit %.6e  (%+.2f%%)\n", name.c_str(),
                with_imatrix ? "imatrix" : "plain", t, r_theirs, r_ours, 100.0 * (r_ours / r_theirs - 1));
    EXPECT_LE(r_ours, r_theirs * (1 + 1e-6)) << name << " " << t << (with_imatrix ? " (imatrix-weighted)" : "");
  }
}

class GoldenSearchFormat : public ::testing::TestWithParam<const char*> {};

TEST_P(GoldenSearchFormat, ErrorNoWorseThanLlamaCpp) {
  try {
    compare_error(GetParam(), false);
  } catch (const test::SkipShared& s) {
    if (!test::running_in_ci()) GTEST_SKIP() << "needs ../shared: " << s.path;
  }
}

INSTANTIATE_TEST_SUITE_P(Searched, GoldenSearchFormat,
                         ::testing::Values("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"), param_name);

class GoldenImatrixFormat : public ::testing::TestWithParam<const char*> {};

TEST_P(GoldenImatrixFormat, WeightedErrorNoWorseThanLlamaCpp) {
  try {
    compare_error(GetParam(), true);
  } catch (const test::SkipShared& s) {
    if (!test::running_in_ci()) GTEST_SKIP() << "needs ../shared: " << s.path;
  }
}

INSTANTIATE_TEST_SUITE_P(Imatrix, GoldenImatrixFormat,
                         ::testing::Values("Q2_K", "Q3_K", "Q4_0", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"), param_name);

}  // namespace
}  // namespace lowbit::quant
