// The vectorized quantizers (quant/fast/) against the scalar reference and
// llama.cpp, for every ISA level this CPU runs:
//  - on llama.cpp's golden tensors, error (plain, or imatrix-weighted with
//    llama.cpp's imatrix) no worse than llama.cpp's own blocks and within 1%
//    of the scalar reference's;
//  - blocks decode with the reference dequantizer (what format_ops uses);
//  - the same bytes whatever the thread count / row batching;
//  - formats without a fast path stay byte-identical to the reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/shared_data.h"
#include "core/ggml_type.h"
#include "core/isa.h"
#include "core/parallel.h"
#include "io/gguf.h"
#include "quant/formats.h"
#include "quant/imatrix.h"

namespace lowbit::quant {
namespace {

const char* const kSearched[] = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"};
const char* const kTensors[] = {"blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.3.attn_v.weight"};

// Restores the process ISA level after a test that switches it.
struct IsaGuard {
  Isa saved = active_isa();
  ~IsaGuard() { set_active_isa(saved); }
};

std::vector<float> to_floats(const GgufTensorInfo& t) {
  std::vector<float> out(size_t(t.element_count()));
  const int64_t n = t.shape[0];
  const size_t rb = row_bytes(t.type, n);
  for (int64_t r = 0; r < t.row_count(); ++r) dequantize_row(t.type, t.data + size_t(r) * rb, out.data() + r * n, n);
  return out;
}

std::vector<uint8_t> quantize_with(QuantizeRowFn fn, GgmlType type, const std::vector<float>& x, int64_t n,
                                   const float* w) {
  const int64_t rows = int64_t(x.size()) / n;
  const size_t rb = row_bytes(type, n);
  std::vector<uint8_t> out(rb * size_t(rows));
  for (int64_t r = 0; r < rows; ++r) fn(x.data() + r * n, out.data() + size_t(r) * rb, n, w);
  return out;
}

// Decoded with the scalar reference dequantizer, so a fast path cannot hide a
// packing error behind a matching fast dequantizer.
double rms_error(GgmlType type, const std::vector<uint8_t>& q, const std::vector<float>& x, int64_t n,
                 const float* w) {
  const size_t rb = row_bytes(type, n);
  std::vector<float> y(static_cast<size_t>(n));
  double e = 0;
  for (size_t r = 0; r < x.size() / size_t(n); ++r) {
    reference_ops(type).dequantize_row(q.data() + r * rb, y.data(), n);
    for (int64_t c = 0; c < n; ++c) {
      const double d = double(x[r * size_t(n) + size_t(c)]) - y[size_t(c)];
      e += (w ? w[c] : 1.0) * d * d;
    }
  }
  return std::sqrt(e / double(x.size()));
}

void check_golden(bool with_imatrix) {
  IsaGuard guard;
  GgufReader src(SHARED_FILE("golden/quant/source-BF16.gguf"));
  Imatrix im;
  if (with_imatrix) im = read_imatrix(SHARED_FILE("golden/imatrix/gutenberg23m.imatrix.dat"));
  for (const char* name : kSearched) {
    const GgmlType type = *type_from_name(name);
    GgufReader gold(SHARED_FILE(std::string(with_imatrix ? "golden/imatrix/" : "golden/quant/") + name + ".gguf"));
    for (const char* tn : kTensors) {
      const GgufTensorInfo* s = src.find_tensor(tn);
      const GgufTensorInfo* g = gold.find_tensor(tn);
      ASSERT_TRUE(s && g) << name << " " << tn;
      const int64_t n = s->shape[0];
      const float* w = nullptr;
      if (with_imatrix) {
        const std::vector<float>* v = im.find(tn);
        ASSERT_TRUE(v && int64_t(v->size()) == n) << tn;
        w = v->data();
      }
      const std::vector<float> x = to_floats(*s);
      const std::vector<float> theirs = to_floats(*g);
      double e_gold = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        const double d = double(x[i]) - theirs[i];
        e_gold += (w ? w[i % size_t(n)] : 1.0) * d * d;
      }
      const double r_gold = std::sqrt(e_gold / double(x.size()));
      const double r_ref = rms_error(type, quantize_with(reference_ops(type).quantize_row, type, x, n, w), x, n, w);
      for (Isa isa : supported_isas()) {
        set_active_isa(isa);
        const double r = rms_error(type, quantize_with(format_ops(type).quantize_row, type, x, n, w), x, n, w);
        std::printf("  %-7s %-7s %-8s %-22s llama.cpp %.5e  ref %.5e  fast %.5e (%+.3f%% vs ref)\n", name,
                    isa_name(isa), with_imatrix ? "imatrix" : "plain", tn, r_gold, r_ref, r,
                    100.0 * (r / r_ref - 1));
        EXPECT_LE(r, r_gold * (1 + 1e-6)) << name << " " << isa_name(isa) << " " << tn;
        EXPECT_LE(r, r_ref * 1.01) << name << " " << isa_name(isa) << " " << tn;
      }
    }
  }
}

TEST_SHARED(FastQuant, GoldenErrorPlain) { check_golden(false); }
TEST_SHARED(FastQuant, GoldenErrorImatrix) { check_golden(true); }

// Rows with awkward content: odd super-block counts (a half-empty group of
// lanes), zeros, constants, one huge outlier, tiny values, mixed signs.
std::vector<float> awkward_rows(int64_t n, int64_t rows) {
  std::vector<float> x(size_t(n * rows));
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x.data() + r * n;
    for (int64_t c = 0; c < n; ++c) {
      switch (r % 6) {
        case 0: row[c] = normal(rng); break;
        case 1: row[c] = c < 100 ? 0.f : normal(rng) * 1e-3f; break;
        case 2: row[c] = 0.25f; break;
        case 3: row[c] = (c == 17 ? 1e4f : normal(rng)); break;
        case 4: row[c] = std::fabs(normal(rng)) * 1e-6f; break;
        default: row[c] = -std::fabs(normal(rng)) - 3.f; break;
      }
    }
  }
  return x;
}

TEST(FastQuant, SameBytesAcrossThreadCountsAndCloseToReference) {
  IsaGuard guard;
  const int64_t n = 3 * 256, rows = 12;
  const std::vector<float> x = awkward_rows(n, rows);
  std::vector<float> importance(static_cast<size_t>(n));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> uni(0.f, 2.f);
  for (auto& v : importance) v = uni(rng);
  for (int i = 0; i < 32; ++i) importance[size_t(i)] = 0.f;  // an all-zero sub-block: ones are used
  const int saved_threads = thread_count();
  for (const char* name : kSearched) {
    const GgmlType type = *type_from_name(name);
    const size_t rb = row_bytes(type, n);
    for (const float* w : {static_cast<const float*>(nullptr), static_cast<const float*>(importance.data())}) {
      for (Isa isa : supported_isas()) {
        set_active_isa(isa);
        std::vector<uint8_t> one(rb * size_t(rows));
        quantize_rows(type, x.data(), one.data(), rows, n, w);
        for (int threads : {2, 3}) {
          set_thread_count(threads);
          std::vector<uint8_t> many(one.size());
          parallel_for(rows, 1, [&](int64_t r0, int64_t r1) {
            quantize_rows(type, x.data() + r0 * n, many.data() + size_t(r0) * rb, r1 - r0, n, w);
          });
          EXPECT_EQ(one, many) << name << " " << isa_name(isa) << " threads " << threads;
        }
        set_thread_count(saved_threads);
        // Per row: finite decode, error close to the reference's.
        std::vector<uint8_t> ref(rb);
        for (int64_t r = 0; r < rows; ++r) {
          const std::vector<float> row(x.begin() + r * n, x.begin() + (r + 1) * n);
          reference_ops(type).quantize_row(row.data(), ref.data(), n, w);
          const std::vector<uint8_t> fast(one.begin() + r * int64_t(rb), one.begin() + (r + 1) * int64_t(rb));
          const double e_fast = rms_error(type, fast, row, n, w);
          const double e_ref = rms_error(type, ref, row, n, w);
          double rms = 0;
          for (float v : row) rms += double(v) * v;
          rms = std::sqrt(rms / double(n));
          ASSERT_TRUE(std::isfinite(e_fast)) << name << " row " << r;
          // 5% plus an allowance at the level of fp16 scale rounding (which
          // is all the error a constant row has).
          EXPECT_LE(e_fast, e_ref * 1.05 + 1e-3 * rms) << name << " " << isa_name(isa) << " row " << r;
        }
      }
    }
  }
}

TEST(FastQuant, UnsearchedFormatsMatchReferenceBytes) {
  IsaGuard guard;
  const int64_t n = 512, rows = 6;
  const std::vector<float> x = awkward_rows(n, rows);
  for (const char* name : {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q8_K", "F16", "BF16"}) {
    const GgmlType type = *type_from_name(name);
    const std::vector<uint8_t> ref = quantize_with(reference_ops(type).quantize_row, type, x, n, nullptr);
    for (Isa isa : supported_isas()) {
      set_active_isa(isa);
      std::vector<uint8_t> got(ref.size());
      quantize_rows(type, x.data(), got.data(), rows, n);
      EXPECT_EQ(got, ref) << name << " " << isa_name(isa);
    }
  }
}

}  // namespace
}  // namespace lowbit::quant
