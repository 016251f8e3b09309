// The vectorized dequantizers (quant/fast/dequant_*.cpp) against the scalar
// reference, for every ISA level this CPU runs: on llama.cpp's golden blocks
// (../shared/golden/quant/<TYPE>.gguf, every tensor of the file's type) the
// floats must be bit-identical. Also all-ones / extreme blocks (every scale,
// min and level at its maximum) built by hand, and rows of several blocks
// at once (the dispatcher hands whole rows).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/shared_data.h"
#include "core/ggml_type.h"
#include "core/isa.h"
#include "io/gguf.h"
#include "quant/formats.h"

namespace lowbit::quant {
namespace {

const char* const kFastDequantized[] = {"Q2_K", "Q3_K",   "Q4_K",   "Q5_K", "Q6_K",
                                        "Q4_0", "Q8_0",   "IQ4_NL", "IQ4_XS"};

struct IsaGuard {
  Isa saved = active_isa();
  ~IsaGuard() { set_active_isa(saved); }
};

// Dequantizes n_rows rows of `data` with every ISA level; expects the
// reference's floats bit for bit. Returns the number of values compared.
int64_t expect_same_floats(GgmlType type, const uint8_t* data, int64_t n_rows, int64_t n_per_row,
                           const std::string& what) {
  const size_t rb = row_bytes(type, n_per_row);
  const size_t count = size_t(n_rows * n_per_row);
  std::vector<float> want(count), got(count);
  for (int64_t r = 0; r < n_rows; ++r)
    reference_ops(type).dequantize_row(data + size_t(r) * rb, want.data() + r * n_per_row, n_per_row);
  for (Isa isa : supported_isas()) {
    set_active_isa(isa);
    if (isa >= Isa::Avx2) {  // the vectorized path is what runs (not the reference again)
      EXPECT_NE(format_ops(type).dequantize_row, reference_ops(type).dequantize_row) << what << " " << isa_name(isa);
    }
    std::fill(got.begin(), got.end(), -1.f);
    for (int64_t r = 0; r < n_rows; ++r) dequantize_row(type, data + size_t(r) * rb, got.data() + r * n_per_row, n_per_row);
    size_t first_diff = count;
    for (size_t i = 0; i < count && first_diff == count; ++i)
      if (std::memcmp(&want[i], &got[i], 4) != 0) first_diff = i;
    EXPECT_EQ(first_diff, count) << what << " " << isa_name(isa) << ": value " << first_diff << " is "
                                 << (first_diff < count ? got[first_diff] : 0.f) << ", reference "
                                 << (first_diff < count ? want[first_diff] : 0.f);
  }
  return int64_t(count);
}

TEST_SHARED(FastDequant, BitExactOnGoldenBlocks) {
  IsaGuard guard;
  for (const char* name : kFastDequantized) {
    const GgmlType type = *type_from_name(name);
    GgufReader gold(SHARED_FILE(std::string("golden/quant/") + name + ".gguf"));
    int64_t compared = 0;
    for (const GgufTensorInfo& t : gold.tensors()) {
      if (t.type != type) continue;
      compared += expect_same_floats(type, t.data, t.row_count(), t.shape[0], std::string(name) + " " + t.name);
    }
    EXPECT_GT(compared, 0) << name << ": no tensor of that type in the golden file";
  }
}

// Random bytes are valid blocks for every format (any bit pattern decodes);
// the fp16 scales are kept finite and the high bits of every field exercised.
TEST(FastDequant, BitExactOnRandomAndExtremeBlocks) {
  IsaGuard guard;
  std::mt19937 rng(11);
  for (const char* name : kFastDequantized) {
    const GgmlType type = *type_from_name(name);
    const int64_t n_per_row = 4 * block_size(type), n_rows = 5;
    const size_t rb = row_bytes(type, n_per_row);
    std::vector<uint8_t> data(rb * size_t(n_rows));
    for (auto& b : data) b = uint8_t(rng());
    // Row 0: all bits set except the fp16 scales' exponents (kept finite below).
    std::fill(data.begin(), data.begin() + long(rb), uint8_t(0xff));
    // fp16 fields hold random finite values: clear the top exponent bit of
    // every 16-bit word that could be a scale (a NaN scale would still have
    // to match, but NaN payloads are not worth asserting on).
    for (size_t i = 1; i < data.size(); i += 2) data[i] &= 0xbf;
    expect_same_floats(type, data.data(), n_rows, n_per_row, std::string(name) + " random");
  }
}

}  // namespace
}  // namespace lowbit::quant
