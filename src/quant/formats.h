// Front door of the block formats: quantize and dequantize rows of any
// supported ggml type. Dispatches to the scalar reference (quant/ref/) or a
// vectorized path chosen at run time (see core/isa.h). Row lengths must be a
// multiple of the type's block size.
#pragma once

#include <cstdint>

#include "core/ggml_type.h"

namespace lowbit::quant {

// True for types lowbit can write: F32, F16, BF16, Q4_0..Q8_0, Q2_K..Q6_K, Q8_K, IQ4_NL, IQ4_XS.
bool can_quantize(GgmlType type);
bool can_dequantize(GgmlType type);

// Quantizes n_rows rows of n_per_row floats into dst (row_bytes(type, n_per_row) each).
// importance: optional per-column weights (n_per_row values, e.g. from an imatrix);
// formats that cannot use it ignore it. Throws lowbit::Error on a NaN/Inf input
// naming the row and column. Single-threaded; callers parallelize over rows.
void quantize_rows(GgmlType type, const float* src, void* dst, int64_t n_rows, int64_t n_per_row,
                   const float* importance = nullptr);

// Dequantizes n values (a multiple of the block size) of `type` into dst.
void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n);

// Converts n values stored as `type` (F32/F16/BF16 or a block format) to float.
inline void to_float(GgmlType type, const void* src, float* dst, int64_t n) { dequantize_row(type, src, dst, n); }

// ---- per-format kernel table (faster paths plug in here)

// One row of n values (a multiple of the block size); no argument checks.
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n, const float* importance);
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);

struct FormatOps {
  QuantizeRowFn quantize_row = nullptr;      // null: lowbit cannot produce this type
  DequantizeRowFn dequantize_row = nullptr;  // null: lowbit cannot read this type
};

// The implementation quantize_rows / dequantize_row use for `type` (both
// fields null for types lowbit does not handle). Includes Q8_1 (an activation
// format: in the table for the CPU kernels, but can_quantize says false).
const FormatOps& format_ops(GgmlType type);
// The scalar reference (quant/ref/), for tests that compare faster paths to it.
const FormatOps& reference_ops(GgmlType type);

}  // namespace lowbit::quant
