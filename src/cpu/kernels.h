// Internal kernel table of the CPU layer: for each weight format, the
// activation format it is dotted with and the dot kernels of one ISA level.
//
// Activation partners (one quantization per token per matmul call):
//   Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 IQ4_NL -> Q8_0 blocks (32 values, fp16 scale);
//     Q4_1/Q5_1 need sum(a) per block, which the kernels take from the qs.
//   Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_XS -> Q8_K blocks (256 values, f32 scale, bsums)
//   F32 F16 BF16 -> plain F32 activations.
// ISA levels: Scalar -> ref/ (obviously-correct loops); Avx2 and Avx512 (no
// VNNI) -> *_avx2.cpp; Avx512Vnni -> *_avx512.cpp; Avx512Amx -> *_amx.cpp
// where it has a kernel (Q8_0), else the Avx512Vnni one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/ggml_type.h"
#include "core/isa.h"

namespace lowbit::cpu {

// Dot product of one weight row (n values in its block format) with one
// activation row (n values in the partner format).
using VecDotFn = float (*)(int64_t n, const void* w, const void* a);

// y[t * y_stride + r] = dot(weight row r, activation row t) for r < n_rows,
// t < n_tok. Rows are w_stride bytes apart, activation rows a_stride bytes.
// A tile kernel reads each weight row once per call however many tokens.
using TileFn = void (*)(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
                        size_t a_stride, int64_t n_tok, float* y, int64_t y_stride);

// Quantizes one activation row of n floats into the partner format.
using QuantizeActFn = void (*)(const float* x, void* out, int64_t n);

struct DotKernel {
  GgmlType weight = GgmlType::F32;
  GgmlType act = GgmlType::F32;  // Q8_0, Q8_K or F32
  VecDotFn vec_dot = nullptr;    // takes the standard partner layout
  TileFn tile = nullptr;         // takes the tile layout (see below)
  // Optional kernel-private activation layout for tile(): the same quantized
  // values rearranged for the kernel (e.g. interleaved so one vector lane
  // holds one sub-block). nullptr: tile() takes the standard layout too.
  size_t (*tile_act_bytes)(int64_t n) = nullptr;
  void (*tile_act_from_standard)(const void* standard, void* out, int64_t n) = nullptr;
  // Optional packed weight layout (WeightLayout::Packed): pack_rows rearranges
  // n_rows rows of n values in place, same size, same values, so that
  // tile_packed unpacks them with fewer instructions. tile_packed takes the
  // activations in the same layout as tile and gives bit-identical results.
  void (*pack_rows)(uint8_t* rows, size_t row_stride, int64_t n_rows, int64_t n) = nullptr;
  TileFn tile_packed = nullptr;
};

// The activation format a weight type is dotted with (throws for types
// without kernels).
GgmlType activation_type(GgmlType weight);
// True when some ISA level has a fused kernel for this weight type.
bool has_dot_kernel(GgmlType weight);
// Kernel of `weight` at ISA level `isa` (see the mapping above); nullptr if none.
const DotKernel* find_dot_kernel(GgmlType weight, Isa isa);
// Activation quantizer for `act` (Q8_0, Q8_K or F32 = copy) at `isa`.
QuantizeActFn find_act_quantizer(GgmlType act, Isa isa);
// Bytes of one activation row of n values in format `act`.
size_t activation_row_bytes(GgmlType act, int64_t n);

// The entry for `weight` in a per-ISA kernel table, or nullptr.
template <size_t N>
const DotKernel* find_in_table(const DotKernel (&table)[N], GgmlType weight) {
  for (const DotKernel& k : table)
    if (k.weight == weight) return &k;
  return nullptr;
}

// Tile built from a vec_dot (used by the scalar level).
template <VecDotFn Dot>
void tile_from_vec_dot(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a,
                       size_t a_stride, int64_t n_tok, float* y, int64_t y_stride) {
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t t = 0; t < n_tok; ++t) y[t * y_stride + r] = Dot(n, w + size_t(r) * w_stride, a + size_t(t) * a_stride);
}

// Packed-layout kernels of a super-block format (dot_kquants_packed_avx512vbmi.cpp);
// both nullptr when the format has none or the CPU lacks AVX512-VBMI or GFNI.
struct PackedKernel {
  void (*pack_rows)(uint8_t* rows, size_t row_stride, int64_t n_rows, int64_t n) = nullptr;
  TileFn tile = nullptr;
};
PackedKernel avx512vbmi_packed_kquant_kernel(GgmlType weight);

// Per-ISA tables (defined in ref/vec_dot_ref.cpp, vec_dot_avx2*.cpp, vec_dot_avx512*.cpp).
// Each returns nullptr for a type it does not cover.
const DotKernel* ref_kernel(GgmlType weight);
const DotKernel* avx2_kernel(GgmlType weight);
const DotKernel* avx512_kernel(GgmlType weight);
const DotKernel* amx_kernel(GgmlType weight);  // dot_q8_0_amx.cpp

}  // namespace lowbit::cpu
