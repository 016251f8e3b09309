// Scalar reference dot kernels: weight row (block format) . activation row
// (Q8_0 / Q8_K / F32, see cpu/kernels.h). Written to be obviously correct:
// unpack each block's integer quants, take exact integer dot products per
// sub-block, then combine with the float scales in block order, in float
// (the same association the vector kernels use, so their results agree up
// to float summation order).
#pragma once

#include <cstdint>

namespace lowbit::cpu::ref {

float vec_dot_q4_0(int64_t n, const void* w, const void* a);
float vec_dot_q4_1(int64_t n, const void* w, const void* a);
float vec_dot_q5_0(int64_t n, const void* w, const void* a);
float vec_dot_q5_1(int64_t n, const void* w, const void* a);
float vec_dot_q8_0(int64_t n, const void* w, const void* a);
float vec_dot_iq4_nl(int64_t n, const void* w, const void* a);
float vec_dot_q2_k(int64_t n, const void* w, const void* a);
float vec_dot_q3_k(int64_t n, const void* w, const void* a);
float vec_dot_q4_k(int64_t n, const void* w, const void* a);
float vec_dot_q5_k(int64_t n, const void* w, const void* a);
float vec_dot_q6_k(int64_t n, const void* w, const void* a);
float vec_dot_iq4_xs(int64_t n, const void* w, const void* a);
float vec_dot_f32(int64_t n, const void* w, const void* a);
float vec_dot_f16(int64_t n, const void* w, const void* a);
float vec_dot_bf16(int64_t n, const void* w, const void* a);

// Sub-block scales of the K formats, decoded from their packed bytes.
void unpack_q4_k_scales(const uint8_t packed[12], int scale[8], int min[8]);  // Q4_K and Q5_K
void unpack_q3_k_scales(const uint8_t packed[12], int scale[16]);             // 0..63 (not minus 32)

}  // namespace lowbit::cpu::ref
