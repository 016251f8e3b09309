// Scalar activation quantizers (see act_quant_ref.h).
#include "cpu/ref/act_quant_ref.h"

#include <cmath>
#include <cstring>

#include "core/half.h"
#include "quant/blocks.h"

namespace lowbit::cpu::ref {
namespace {

// x * inv_d, clamped before the conversion so no input (even NaN) overflows int.
int8_t quantize_one(float x, float inv_d) {
  float v = x * inv_d;
  v = std::fmin(std::fmax(v, -127.0f), 127.0f);
  return int8_t(std::nearbyint(v));
}

}  // namespace

void quantize_act_q8_0(const float* x, void* out, int64_t n) {
  auto* blocks = static_cast<quant::BlockQ8_0*>(out);
  for (int64_t b = 0; b < n / quant::QK; ++b) {
    const float* xb = x + b * quant::QK;
    float amax = 0.0f;
    for (int i = 0; i < quant::QK; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    const uint16_t dh = float_to_fp16(amax / 127.0f);
    const float d = fp16_to_float(dh);
    const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].d = dh;
    for (int i = 0; i < quant::QK; ++i) blocks[b].qs[i] = quantize_one(xb[i], inv_d);
  }
}

void quantize_act_q8_k(const float* x, void* out, int64_t n) {
  auto* blocks = static_cast<quant::BlockQ8_K*>(out);
  for (int64_t b = 0; b < n / quant::QK_K; ++b) {
    const float* xb = x + b * quant::QK_K;
    float amax = 0.0f;
    for (int i = 0; i < quant::QK_K; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f;
    const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
    blocks[b].d = d;
    for (int i = 0; i < quant::QK_K; ++i) blocks[b].qs[i] = quantize_one(xb[i], inv_d);
    for (int g = 0; g < quant::QK_K / 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += blocks[b].qs[g * 16 + i];
      blocks[b].bsums[g] = int16_t(sum);
    }
  }
}

void quantize_act_f32(const float* x, void* out, int64_t n) { std::memcpy(out, x, size_t(n) * sizeof(float)); }

}  // namespace lowbit::cpu::ref
