// Scalar reference quantizers for activations: Q8_0 and Q8_K rows.
// Scale d = max|x| / 127 (Q8_0: rounded to fp16 first, and q computed with the
// rounded scale, so d * q is as close to x as the stored scale allows);
// q = round-to-nearest-even(x / d) clamped to [-127, 127]. A zero block has
// d = 0 and q = 0. Vector versions must give the same bytes.
#pragma once

#include <cstdint>

namespace lowbit::cpu::ref {

void quantize_act_q8_0(const float* x, void* out, int64_t n);  // n % 32 == 0
void quantize_act_q8_k(const float* x, void* out, int64_t n);  // n % 256 == 0
void quantize_act_f32(const float* x, void* out, int64_t n);   // plain copy

}  // namespace lowbit::cpu::ref
