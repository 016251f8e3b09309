// Matrix products on quantized weights, the engine's hot path. The weight
// stays in its block format (memory-mapped); activations are quantized per
// block to 8 bits (Q8_0 for 32-blocks, Q8_K for 256-blocks) and fused dot
// kernels (scalar / AVX2 / AVX-512 VNNI, chosen at run time) take the
// products. F32/F16/BF16 weights use float dots. Multithreaded over output
// rows with core/parallel.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/ggml_type.h"
#include "core/isa.h"

namespace lowbit::cpu {

// How the rows of a block-format weight are laid out in memory.
//   Standard - as GGUF stores them (every reader and writer understands it).
//   Packed   - rearranged in place by pack_for_matmul for the AVX-512 VNNI
//              kernels (same size, same values, fewer instructions to unpack);
//              only cpu::matmul reads it.
enum class WeightLayout : uint8_t { Standard, Packed };

// A 2-D weight: n_out rows of n_in values, each row row_bytes long.
struct WeightMatrix {
  GgmlType type = GgmlType::F32;
  int64_t n_in = 0;
  int64_t n_out = 0;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  WeightLayout layout = WeightLayout::Standard;
  Isa packed_for = Isa::Scalar;  // Packed: the ISA level whose kernels read it
};

// y[t * n_out + o] = sum_i W[o][i] * x[t * n_in + i] for t < n_tokens.
// Results do not depend on w.layout (bit-identical).
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y);

// One product of a matmul_same_input call: y = W x, laid out as matmul's y.
struct MatmulOutput {
  const WeightMatrix* w;
  float* y;
};

// Several products of the same input x (a layer's q, k and v; gate and up),
// all with rows of x's length: x is quantized once for the matrices that
// share an activation format, and their rows are one parallel job, so the
// threads meet once instead of once per matrix. Each y is bit-identical to
// matmul(*w, x, n_tokens, y).
void matmul_same_input(std::span<const MatmulOutput> outs, const float* x, int64_t n_tokens);

// True when the active ISA level has a packed layout for weights of type t
// (AVX-512 VNNI: Q4_K, Q6_K and Q8_0; AMX: Q8_0 in 16-row panels).
bool has_packed_layout(GgmlType t);

// Rearranges the rows of a Standard matrix in place into the packed layout
// when the active ISA level has one for its type, and marks it Packed;
// returns whether it did. `writable` must point at the same bytes as w.data,
// which nothing else may read as GGUF blocks afterwards (the model's weights,
// read into private memory, are the intended use).
bool pack_for_matmul(WeightMatrix& w, uint8_t* writable);

}  // namespace lowbit::cpu
