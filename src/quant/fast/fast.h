// Vectorized quantizers (quant/fast/*_avx512.cpp, *_avx2.cpp). Each ISA file
// exports one lookup; quant/formats.cpp calls the one matching active_isa()
// and falls back to the scalar reference where it returns null.
#pragma once

#include "quant/formats.h"

namespace lowbit::quant::fast {

// Quantizer for `type` built for the ISA, or null when there is none.
QuantizeRowFn avx512_quantize_row(GgmlType type);
QuantizeRowFn avx2_quantize_row(GgmlType type);
// Formats whose fast path must give the reference's bytes (Q8_0).
QuantizeRowFn avx512_quantize_row_simple(GgmlType type);

}  // namespace lowbit::quant::fast
