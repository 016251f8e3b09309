// The one table of ggml tensor types: id (as stored in GGUF), name, block
// size (weights per block) and bytes per block. Every layer asks this table;
// nothing else hard-codes block sizes. Ids we do not know are reported by
// number, never trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lowbit {

enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21,
  IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28,
  IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct TypeTraits {
  GgmlType type;
  const char* name;
  int64_t block_size;     // weights per block
  size_t bytes_per_block;
  bool quantized;         // a block format (not a plain float/int type)
  bool supported;         // lowbit can quantize/dequantize/compute with it
};

// nullptr for an id that is not a ggml type we know.
const TypeTraits* find_type(uint32_t id);
// Throws for unknown ids (message: "unknown ggml type id N").
const TypeTraits& type_traits(GgmlType type);
// Looks up a name such as "Q4_K" or "q4_k" (case-insensitive).
std::optional<GgmlType> type_from_name(std::string_view name);
// "Q4_K", or "type 99 (unknown)" for an unknown id.
std::string type_name(uint32_t id);
inline std::string type_name(GgmlType t) { return type_name(uint32_t(t)); }

inline int64_t block_size(GgmlType t) { return type_traits(t).block_size; }
// Bytes of one row of n weights; n must be a multiple of the block size.
size_t row_bytes(GgmlType t, int64_t n);
// Bits per weight including block scales (e.g. 4.5 for Q4_0).
double bits_per_weight(GgmlType t);

}  // namespace lowbit
