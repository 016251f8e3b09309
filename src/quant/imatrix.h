// Importance matrices made by llama.cpp's llama-imatrix, legacy binary
// format (.dat), little-endian:
//   int32 entry_count
//   entry_count x { int32 name_len, name bytes, int32 call_count,
//                   int32 value_count, value_count x float32 }
//   optional: int32 chunk_count, int32 dataset_len, dataset bytes
// Each stored value is (mean of the squared activations of one input column)
// x call_count; like llama-quantize we divide by the call count on load, so
// every vector holds per-column importances for quantize_rows.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit::quant {

struct Imatrix {
  // tensor name (e.g. "blk.0.attn_q.weight") -> one importance per column
  std::map<std::string, std::vector<float>, std::less<>> entries;
  std::map<std::string, int32_t, std::less<>> call_counts;  // as stored
  int32_t chunk_count = -1;  // -1 when the file has no trailer
  std::string dataset;

  // nullptr when the tensor has no entry.
  const std::vector<float>* find(std::string_view tensor_name) const;
};

// Reads a legacy imatrix file. Throws lowbit::Error "<path>: <what>" when the
// file is truncated, a count or length is negative or runs past the end, a
// name repeats, or a value is not a finite number >= 0.
Imatrix read_imatrix(const std::string& path);
// The same from bytes in memory (`name` is used in messages).
Imatrix parse_imatrix(const std::string& name, const uint8_t* data, size_t size);

}  // namespace lowbit::quant
