// Float conversion of a model (HF folder or GGUF) to a GGUF file, the way
// llama.cpp's convert_hf_to_gguf.py does it: every tensor streamed in the
// source order, attn_q/attn_k rows put in GGUF's RoPE order, matrices in the
// requested float type and 1-D tensors (norms, biases) in F32.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/ggml_type.h"
#include "io/model_source.h"

namespace lowbit {

struct ConvertResult {
  size_t tensors = 0;
  uint64_t parameters = 0;
  uint64_t input_bytes = 0;   // tensor bytes read
  uint64_t output_bytes = 0;  // size of the written file
  double seconds = 0;
};

// Called before each tensor is written: index in [0, count), and the tensor.
using ConvertProgress = std::function<void(size_t index, size_t count, const TensorView& tensor)>;

// The type a tensor gets in the output for a requested F32/F16/BF16 type:
// 1-D tensors stay F32 (llama.cpp's rule for norms and biases).
GgmlType converted_type(const TensorView& tensor, GgmlType requested);

// llama_ftype stored as general.file_type: F32 0, F16 1, BF16 32.
uint32_t float_file_type(GgmlType type);

// Writes `out` (atomically: nothing is left behind on error) from `source`
// with matrices in `type` (F32, F16 or BF16). Refuses to overwrite any of
// the source's files, and source tensors that are not F32/F16/BF16. Throws
// lowbit::Error naming the tensor or file on failure.
ConvertResult convert_to_gguf(const ModelSource& source, const std::string& out, GgmlType type,
                              const ConvertProgress& progress = {});

}  // namespace lowbit
