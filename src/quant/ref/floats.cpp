// Row conversions between float and the plain float types F32, F16, BF16
// (rounding to nearest even, bit-exact with ggml; see core/half.h).
#include <cstring>

#include "core/half.h"
#include "quant/ref/ref.h"

namespace lowbit::quant::ref {

void quantize_row_f32(const float* x, void* y, int64_t n, const float*) {
  std::memcpy(y, x, size_t(n) * sizeof(float));
}

void quantize_row_f16(const float* x, void* vy, int64_t n, const float*) {
  auto* y = static_cast<uint16_t*>(vy);
  for (int64_t i = 0; i < n; ++i) y[i] = float_to_fp16(x[i]);
}

void quantize_row_bf16(const float* x, void* vy, int64_t n, const float*) {
  auto* y = static_cast<uint16_t*>(vy);
  for (int64_t i = 0; i < n; ++i) y[i] = float_to_bf16(x[i]);
}

void dequantize_row_f32(const void* x, float* y, int64_t n) { std::memcpy(y, x, size_t(n) * sizeof(float)); }

void dequantize_row_f16(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(vx);
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_float(x[i]);
}

void dequantize_row_bf16(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(vx);
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_float(x[i]);
}

}  // namespace lowbit::quant::ref
