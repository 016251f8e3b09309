// Vectorized quantizers and dequantizers (quant/fast/*_avx512.cpp,
// *_avx2.cpp). Each ISA exports lookups; quant/formats.cpp calls the ones
// matching active_isa() and falls back to the scalar reference where they
// return null.
#pragma once

#include "quant/formats.h"

namespace lowbit::quant::fast {

// Quantizer for `type` built for the ISA, or null when there is none.
QuantizeRowFn avx512_quantize_row(GgmlType type);
QuantizeRowFn avx2_quantize_row(GgmlType type);
// Formats whose fast path must give the reference's bytes (Q8_0).
QuantizeRowFn avx512_quantize_row_simple(GgmlType type);
// Dequantizer for `type`, bit-exact with the reference, or null when there is none.
DequantizeRowFn avx512_dequantize_row(GgmlType type);
DequantizeRowFn avx2_dequantize_row(GgmlType type);

}  // namespace lowbit::quant::fast
