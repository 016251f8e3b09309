// Matrix products on quantized weights, the engine's hot path. The weight
// stays in its block format (memory-mapped); activations are quantized per
// block to 8 bits (Q8_0 for 32-blocks, Q8_K for 256-blocks) and fused dot
// kernels (scalar / AVX2 / AVX-512 VNNI, chosen at run time) take the
// products. F32/F16/BF16 weights use float dots. Multithreaded over output
// rows with core/parallel.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/ggml_type.h"

namespace lowbit::cpu {

// A 2-D weight: n_out rows of n_in values, each row row_bytes long.
struct WeightMatrix {
  GgmlType type = GgmlType::F32;
  int64_t n_in = 0;
  int64_t n_out = 0;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
};

// y[t * n_out + o] = sum_i W[o][i] * x[t * n_in + i] for t < n_tokens.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y);

}  // namespace lowbit::cpu
