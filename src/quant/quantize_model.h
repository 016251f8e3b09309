// The quantization pipeline behind `lowbit quantize`: a model (GGUF file or
// Hugging Face folder, as a ModelSource) in, a GGUF file out.
//
// Per tensor, in llama.cpp's order: choose the type (quant/presets.h), read
// the source rows (TensorView::row applies the HF q/k RoPE permutation),
// convert them to float, refuse NaN/Inf, quantize in parallel over row
// chunks, measure the relative RMSE against the float rows, and stream the
// bytes to the GgufWriter. Tensors are processed in slabs of rows, so peak
// memory stays below about two tensors whatever the model size. The output
// is written atomically and never onto an input file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ggml_type.h"
#include "io/model_source.h"
#include "quant/presets.h"

namespace lowbit::quant {

struct QuantizeOptions {
  std::string preset = "Q4_K_M";
  TypeOptions types;          // --pure, --tensor-type, --output-type, --embd-type
  std::string imatrix_path;   // llama.cpp imatrix file; empty: none
  int threads = 0;            // > 0: sets the process-wide thread count
  bool progress = true;       // progress bar and one line per tensor on stderr
};

struct TensorResult {
  std::string name;
  std::vector<int64_t> shape;
  GgmlType source_type = GgmlType::F32;
  GgmlType type = GgmlType::F32;
  uint64_t source_bytes = 0;
  uint64_t bytes = 0;
  bool converted = false;     // false: the source bytes were copied unchanged
  bool used_imatrix = false;
  double relative_rmse = 0;   // sqrt(sum (q - x)^2 / sum x^2); 0 for copies
  std::string note;           // fallback / override explanation
};

struct QuantizeResult {
  std::string output_path;
  std::string preset;
  uint32_t file_type = 0;
  std::vector<TensorResult> tensors;  // in file order
  uint64_t parameters = 0;
  uint64_t source_tensor_bytes = 0;
  uint64_t output_tensor_bytes = 0;
  uint64_t source_file_bytes = 0;     // all input files together
  uint64_t output_file_bytes = 0;
  double size_ratio = 0;              // source_file_bytes / output_file_bytes
  double bits_per_weight = 0;         // output tensor bytes * 8 / parameters
  double seconds = 0;
  uint64_t peak_rss_bytes = 0;        // VmHWM during the run (0 if unknown)
  int threads = 1;
  int fallbacks = 0;                  // tensors whose row length forced another type
  int imatrix_tensors = 0;            // tensors quantized with importance weights
};

// Quantizes `source` into `output_path`. Throws lowbit::Error naming the
// tensor (NaN/Inf, unsupported type, imatrix size mismatch) or the file; on
// any error no output file is left behind.
QuantizeResult quantize_model(const ModelSource& source, const std::string& output_path,
                              const QuantizeOptions& options);

// Several lines: sizes before/after, ratio, bits per weight, time, peak memory.
std::string format_summary(const QuantizeResult& result);

// Peak resident set size of this process (VmHWM from /proc/self/status), 0 if unknown.
uint64_t peak_rss_bytes();
// Starts a new peak measurement where the kernel allows it (/proc/self/clear_refs).
void reset_peak_rss();

}  // namespace lowbit::quant
