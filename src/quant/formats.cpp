// Dispatch of the block formats: one FormatOps entry per ggml type, filled
// with the scalar references from quant/ref/ (the quantizers and
// dequantizers of quant/fast/ replace them for the active ISA); argument and input checks for
// the public quantize_rows / dequantize_row.
#include "quant/formats.h"

#include <array>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/isa.h"
#include "quant/fast/fast.h"
#include "quant/ref/ref.h"

namespace lowbit::quant {

namespace {

constexpr size_t kTableSize = 64;

std::array<FormatOps, kTableSize> make_reference_table() {
  std::array<FormatOps, kTableSize> t{};
  auto set = [&](GgmlType type, QuantizeRowFn q, DequantizeRowFn dq) { t[size_t(type)] = FormatOps{q, dq}; };
  set(GgmlType::F32, ref::quantize_row_f32, ref::dequantize_row_f32);
  set(GgmlType::F16, ref::quantize_row_f16, ref::dequantize_row_f16);
  set(GgmlType::BF16, ref::quantize_row_bf16, ref::dequantize_row_bf16);
  set(GgmlType::Q4_0, ref::quantize_row_q4_0, ref::dequantize_row_q4_0);
  set(GgmlType::Q4_1, ref::quantize_row_q4_1, ref::dequantize_row_q4_1);
  set(GgmlType::Q5_0, ref::quantize_row_q5_0, ref::dequantize_row_q5_0);
  set(GgmlType::Q5_1, ref::quantize_row_q5_1, ref::dequantize_row_q5_1);
  set(GgmlType::Q8_0, ref::quantize_row_q8_0, ref::dequantize_row_q8_0);
  set(GgmlType::Q8_1, ref::quantize_row_q8_1, ref::dequantize_row_q8_1);
  set(GgmlType::Q2_K, ref::quantize_row_q2_k, ref::dequantize_row_q2_k);
  set(GgmlType::Q3_K, ref::quantize_row_q3_k, ref::dequantize_row_q3_k);
  set(GgmlType::Q4_K, ref::quantize_row_q4_k, ref::dequantize_row_q4_k);
  set(GgmlType::Q5_K, ref::quantize_row_q5_k, ref::dequantize_row_q5_k);
  set(GgmlType::Q6_K, ref::quantize_row_q6_k, ref::dequantize_row_q6_k);
  set(GgmlType::Q8_K, ref::quantize_row_q8_k, ref::dequantize_row_q8_k);
  set(GgmlType::IQ4_NL, ref::quantize_row_iq4_nl, ref::dequantize_row_iq4_nl);
  set(GgmlType::IQ4_XS, ref::quantize_row_iq4_xs, ref::dequantize_row_iq4_xs);
  return t;
}

const std::array<FormatOps, kTableSize>& reference_table() {
  static const std::array<FormatOps, kTableSize> table = make_reference_table();
  return table;
}

const FormatOps kNone{};

// The reference table with the (de)quantizers an ISA's fast/ files provide.
std::array<FormatOps, kTableSize> make_fast_table(QuantizeRowFn (*lookup)(GgmlType),
                                                  DequantizeRowFn (*lookup_dequantize)(GgmlType)) {
  std::array<FormatOps, kTableSize> t = reference_table();
  for (size_t i = 0; i < kTableSize; ++i) {
    if (QuantizeRowFn f = t[i].quantize_row ? lookup(GgmlType(i)) : nullptr) t[i].quantize_row = f;
    if (DequantizeRowFn f = t[i].dequantize_row ? lookup_dequantize(GgmlType(i)) : nullptr) t[i].dequantize_row = f;
  }
  return t;
}

const std::array<FormatOps, kTableSize>& active_table() {
  const Isa isa = active_isa();
  if (isa >= Isa::Avx512) {
    static const std::array<FormatOps, kTableSize> table = make_fast_table(fast::avx512_quantize_row, fast::avx512_dequantize_row);
    return table;
  }
  if (isa >= Isa::Avx2) {
    static const std::array<FormatOps, kTableSize> table = make_fast_table(fast::avx2_quantize_row, fast::avx2_dequantize_row);
    return table;
  }
  return reference_table();
}

// Throws naming the first non-finite value of a row.
void check_finite_row(GgmlType type, const float* row, int64_t row_index, int64_t n) {
  // Fast pass first: an all-ones exponent marks Inf/NaN. This branch-free
  // loop vectorizes; std::isfinite per value cost more than Q8_0 itself.
  uint32_t non_finite = 0;
  for (int64_t c = 0; c < n; ++c) {
    uint32_t bits;
    std::memcpy(&bits, row + c, 4);
    non_finite |= uint32_t((bits & 0x7f800000u) == 0x7f800000u);
  }
  if (!non_finite) return;
  for (int64_t c = 0; c < n; ++c) {
    if (!std::isfinite(row[c])) {
      fail("cannot quantize to {}: value {} at row {}, column {} is not finite", type_name(type), row[c], row_index,
           c);
    }
  }
}

}  // namespace

const FormatOps& reference_ops(GgmlType type) {
  const auto id = size_t(type);
  return id < kTableSize ? reference_table()[id] : kNone;
}

const FormatOps& format_ops(GgmlType type) {
  const auto id = size_t(type);
  return id < kTableSize ? active_table()[id] : kNone;
}

bool can_quantize(GgmlType type) { return type != GgmlType::Q8_1 && format_ops(type).quantize_row != nullptr; }

bool can_dequantize(GgmlType type) { return format_ops(type).dequantize_row != nullptr; }

void quantize_rows(GgmlType type, const float* src, void* dst, int64_t n_rows, int64_t n_per_row,
                   const float* importance) {
  const FormatOps& ops = format_ops(type);
  if (!ops.quantize_row) fail("cannot quantize to type {}", type_name(type));
  const int64_t bs = block_size(type);
  if (n_rows < 0 || n_per_row <= 0 || n_per_row % bs != 0) {
    fail("cannot quantize {} rows of {} values to {}: the row length must be a positive multiple of {}", n_rows,
         n_per_row, type_name(type), bs);
  }
  if (importance) {
    for (int64_t c = 0; c < n_per_row; ++c) {
      if (!std::isfinite(importance[c]) || importance[c] < 0) {
        fail("importance value {} for column {} is not a finite number >= 0", importance[c], c);
      }
    }
  }
  const size_t row_size = row_bytes(type, n_per_row);
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* row = src + r * n_per_row;
    check_finite_row(type, row, r, n_per_row);
    ops.quantize_row(row, out + size_t(r) * row_size, n_per_row, importance);
  }
}

void dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
  const FormatOps& ops = format_ops(type);
  if (!ops.dequantize_row) fail("cannot convert type {} to float", type_name(type));
  const int64_t bs = block_size(type);
  if (n < 0 || n % bs != 0) fail("cannot dequantize {} values of {}: not a multiple of {}", n, type_name(type), bs);
  ops.dequantize_row(src, dst, n);
}

}  // namespace lowbit::quant
