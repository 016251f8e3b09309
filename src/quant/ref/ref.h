// Scalar reference quantizers and dequantizers, one pair per ggml format.
//
// All functions work on ONE row of n values (n a multiple of the format's block
// size) and take untyped block pointers (the block structs are in quant/blocks.h).
// `importance` is optional (nullptr = none): n per-column weights >= 0 that
// steer the search the way llama.cpp's imatrix does; formats without a search
// ignore it. Inputs must be finite (quant/formats.cpp checks before calling).
//
// Guarantees:
//  - every dequantizer matches ggml's to_float bit for bit;
//  - Q8_0, Q8_1, Q8_K, and Q4_0/Q4_1/Q5_0/Q5_1 without importance give the same
//    bytes as llama.cpp's reference quantizers (unless a block's fp16 scale
//    would overflow: ggml stores inf, lowbit the largest finite fp16);
//  - the K-quants and IQ4 formats search for the least (importance-weighted)
//    squared error; see kquant_*.cpp for the method.
#pragma once

#include <cstdint>

namespace lowbit::quant::ref {

// ---- plain float types
void quantize_row_f32(const float* x, void* y, int64_t n, const float* importance);
void quantize_row_f16(const float* x, void* y, int64_t n, const float* importance);
void quantize_row_bf16(const float* x, void* y, int64_t n, const float* importance);
void dequantize_row_f32(const void* x, float* y, int64_t n);
void dequantize_row_f16(const void* x, float* y, int64_t n);
void dequantize_row_bf16(const void* x, float* y, int64_t n);

// ---- 32-weight blocks (simple.cpp)
void quantize_row_q4_0(const float* x, void* y, int64_t n, const float* importance);
void quantize_row_q4_1(const float* x, void* y, int64_t n, const float* importance);
void quantize_row_q5_0(const float* x, void* y, int64_t n, const float* importance);
void quantize_row_q5_1(const float* x, void* y, int64_t n, const float* importance);
void quantize_row_q8_0(const float* x, void* y, int64_t n, const float* importance);
void quantize_row_q8_1(const float* x, void* y, int64_t n, const float* importance);
void dequantize_row_q4_0(const void* x, float* y, int64_t n);
void dequantize_row_q4_1(const void* x, float* y, int64_t n);
void dequantize_row_q5_0(const void* x, float* y, int64_t n);
void dequantize_row_q5_1(const void* x, float* y, int64_t n);
void dequantize_row_q8_0(const void* x, float* y, int64_t n);
void dequantize_row_q8_1(const void* x, float* y, int64_t n);

// ---- 256-weight super-blocks
void quantize_row_q2_k(const float* x, void* y, int64_t n, const float* importance);
void quantize_row_q3_k(const float* x, void* y, int64_t n, const float* importance);
void quantize_row_q4_k(const float* x, void* y, int64_t n, const float* importance);
void quantize_row_q5_k(const float* x, void* y, int64_t n, const float* importance);
void quantize_row_q6_k(const float* x, void* y, int64_t n, const float* importance);
void quantize_row_q8_k(const float* x, void* y, int64_t n, const float* importance);
void dequantize_row_q2_k(const void* x, float* y, int64_t n);
void dequantize_row_q3_k(const void* x, float* y, int64_t n);
void dequantize_row_q4_k(const void* x, float* y, int64_t n);
void dequantize_row_q5_k(const void* x, float* y, int64_t n);
void dequantize_row_q6_k(const void* x, float* y, int64_t n);
void dequantize_row_q8_k(const void* x, float* y, int64_t n);

// ---- non-linear 4-bit
void quantize_row_iq4_nl(const float* x, void* y, int64_t n, const float* importance);
void quantize_row_iq4_xs(const float* x, void* y, int64_t n, const float* importance);
void dequantize_row_iq4_nl(const void* x, float* y, int64_t n);
void dequantize_row_iq4_xs(const void* x, float* y, int64_t n);

}  // namespace lowbit::quant::ref
