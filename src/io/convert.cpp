// Streaming float conversion of a ModelSource to GGUF (see convert.h).
#include "io/convert.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/parallel.h"
#include "io/gguf.h"

namespace lowbit {

namespace {

bool is_float(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

// Element i of a row in a float type, read with memcpy (safetensors data
// may be unaligned).
inline float load(const uint8_t* p, int64_t i, GgmlType t) {
  if (t == GgmlType::F32) {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return t == GgmlType::BF16 ? bf16_to_float(h) : fp16_to_float(h);
}

inline void store(uint8_t* p, int64_t i, GgmlType t, float f) {
  if (t == GgmlType::F32) {
    std::memcpy(p + 4 * i, &f, 4);
    return;
  }
  uint16_t h = t == GgmlType::BF16 ? float_to_bf16(f) : float_to_fp16(f);
  std::memcpy(p + 2 * i, &h, 2);
}

// Converts n elements; F16 <-> BF16 goes through float exactly as
// llama.cpp's converter does (via float32).
void convert_elements(const uint8_t* in, GgmlType from, uint8_t* out, GgmlType to, int64_t n) {
  if (from == to) {
    std::memcpy(out, in, size_t(n) * (from == GgmlType::F32 ? 4 : 2));
    return;
  }
  for (int64_t i = 0; i < n; ++i) store(out, i, to, load(in, i, from));
}

// Index permutation of a 1-D attn_q/attn_k bias in a llama model: the same
// per-head reordering as TensorView::source_row applies to rows.
int64_t permuted_element(int64_t e, int64_t n, int64_t heads) {
  const int64_t per_head = n / heads;
  if (per_head < 2) return e;
  const int64_t head = e / per_head, within = e % per_head;
  return head * per_head + (within % 2) * (per_head / 2) + within / 2;
}

}  // namespace

GgmlType converted_type(const TensorView& t, GgmlType requested) {
  return t.shape.size() <= 1 ? GgmlType::F32 : requested;
}

uint32_t float_file_type(GgmlType type) {
  switch (type) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1;
    case GgmlType::BF16: return 32;
    default: fail("convert: output type {} is not a float type (F32, F16, BF16)", type_name(type));
  }
}

ConvertResult convert_to_gguf(const ModelSource& src, const std::string& out, GgmlType type,
                              const ConvertProgress& progress) {
  const auto start = std::chrono::steady_clock::now();
  const uint32_t file_type = float_file_type(type);
  for (const auto& t : src.tensors())
    if (!is_float(t.type))
      fail("{}: tensor '{}' is {}; convert reads F32, F16 and BF16 tensors only (quantize handles the rest)",
           t.source_file, t.name, type_name(t.type));

  GgufWriter writer(out, src.files());
  GgufMetadata& m = writer.metadata();
  for (const auto& [key, value] : src.metadata().entries()) m.set(key, value);
  m.set("general.file_type", GgufValue::u32(file_type));
  if (!m.contains("general.quantization_version")) m.set("general.quantization_version", GgufValue::u32(2));
  for (const auto& t : src.tensors()) writer.add_tensor(t.name, t.shape, converted_type(t, type));
  writer.begin_data();

  ConvertResult result;
  std::vector<uint8_t> buffer;
  constexpr size_t kChunkBytes = size_t(8) << 20;  // output staged in chunks of whole rows
  const auto& tensors = src.tensors();
  for (size_t ti = 0; ti < tensors.size(); ++ti) {
    const TensorView& t = tensors[ti];
    if (progress) progress(ti, tensors.size(), t);
    const GgmlType to = converted_type(t, type);
    const int64_t row_len = t.row_length(), rows = t.row_count();
    const size_t in_row = t.row_bytes(), out_row = row_bytes(to, row_len);
    if (uint64_t(in_row) * uint64_t(rows) != t.bytes)
      fail("{}: tensor '{}' holds {} bytes, its shape needs {}", t.source_file, t.name, t.bytes,
           uint64_t(in_row) * uint64_t(rows));

    if (t.shape.size() <= 1 && t.rope_permute_heads > 0) {
      // A permuted bias: reorder its elements.
      buffer.resize(out_row);
      for (int64_t e = 0; e < row_len; ++e)
        store(buffer.data(), e, to, load(t.data, permuted_element(e, row_len, t.rope_permute_heads), t.type));
      writer.write_tensor_data(buffer.data(), out_row);
    } else if (to == t.type && t.rope_permute_heads == 0) {
      writer.write_tensor_data(t.data, t.bytes);  // straight from the mapping
    } else {
      const int64_t chunk_rows = std::max<int64_t>(1, int64_t(kChunkBytes / std::max<size_t>(out_row, 1)));
      for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
        const int64_t nr = std::min(chunk_rows, rows - r0);
        buffer.resize(size_t(nr) * out_row);
        parallel_for(nr, 16, [&](int64_t b, int64_t e) {
          for (int64_t r = b; r < e; ++r)
            convert_elements(t.row(r0 + r), t.type, buffer.data() + size_t(r) * out_row, to, row_len);
        });
        writer.write_tensor_data(buffer.data(), buffer.size());
      }
    }
    result.parameters += uint64_t(t.element_count());
    result.input_bytes += t.bytes;
  }
  writer.finish();
  result.tensors = tensors.size();
  result.output_bytes = writer.total_bytes();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace lowbit
