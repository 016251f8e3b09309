// The quantization pipeline (see quantize_model.h): type choice, streaming
// conversion in slabs of rows, parallel quantization, error measurement,
// GGUF output, summary.
#include "quant/quantize_model.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "core/error.h"
#include "core/output_file.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "io/gguf.h"
#include "quant/formats.h"
#include "quant/imatrix.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

namespace lowbit::quant {
namespace {

// A slab holds at most this many weights as floats (32 MiB), so memory
// stays bounded for any tensor size; small tensors are one slab.
constexpr int64_t kSlabValues = int64_t(1) << 23;
// Parallel work items cover at least this many weights (as llama.cpp does),
// so threads are not woken for a handful of short rows.
constexpr int64_t kMinChunkValues = 16 * 1024;

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Source pages already consumed need not stay resident: ask the kernel to
// drop them (keeps the peak RSS near the pipeline's own buffers). A hint
// only: MADV_PAGEOUT never changes contents, and failure is harmless.
void release_pages(const uint8_t* data, uint64_t bytes) {
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (page_size <= 0 || bytes == 0) return;
  const uintptr_t page = uintptr_t(page_size);
  const uintptr_t begin = (uintptr_t(data) + page - 1) / page * page;
  const uintptr_t end = (uintptr_t(data) + bytes) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);
}

uint64_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return 0;
  uint64_t size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

bool same_path(const std::string& a, const std::string& b) {
  if (a == b || same_file(a, b)) return true;
  std::error_code ec;
  auto ca = std::filesystem::weakly_canonical(a, ec);
  if (ec) return false;
  auto cb = std::filesystem::weakly_canonical(b, ec);
  return !ec && ca == cb;
}

void check_output_path(const ModelSource& source, const std::string& output) {
  if (output.empty()) fail("no output path given");
  std::vector<std::string> inputs = source.files();
  inputs.push_back(source.path());
  for (const std::string& in : inputs)
    if (same_path(output, in))
      fail("output '{}' is the input '{}'; refusing to overwrite it, choose another output path", output, in);
}

// Metadata of the output: the source's, minus split keys and stale
// quantization facts, then quantization_version and file_type appended (in
// llama.cpp's order) and the imatrix description when one is used.
void copy_metadata(const GgufMetadata& from, GgufMetadata& to, const Preset& preset) {
  for (const auto& [key, value] : from.entries()) {
    if (key == "split.no" || key == "split.count" || key == "split.tensors.count") continue;
    if (key == "general.quantization_version" || key == "general.file_type") continue;
    if (key.rfind("quantize.imatrix.", 0) == 0) continue;
    to.set(key, value);
  }
  to.set("general.quantization_version", GgufValue::u32(2));
  to.set("general.file_type", GgufValue::u32(preset.file_type));
}

struct SlabBuffers {
  std::vector<float> values;    // slab rows as float
  std::vector<uint8_t> output;  // slab rows in the output type
};

// Everything one tensor needs while it streams through.
struct TensorJob {
  const TensorView* view;
  const TypeChoice* choice;
  const float* importance = nullptr;  // n per expert, or null
  int64_t expert_rows = 0;            // rows per importance vector (ne[1]); 0: one vector for all rows
};

void check_finite(const TensorView& view, const float* row, int64_t r, int64_t n) {
  for (int64_t c = 0; c < n; ++c)
    if (!std::isfinite(row[c]))
      fail("tensor '{}' ({}): value {} at row {}, column {} is not a finite number; refusing to quantize", view.name,
           view.source_file, row[c], r, c);
}

// Converts, checks, quantizes and writes one tensor; returns the relative RMSE.
double run_tensor(const TensorJob& job, GgufWriter& writer, SlabBuffers& buf, Progress& progress,
                  double& values_done, const std::string& progress_note) {
  const TensorView& view = *job.view;
  const GgmlType out_type = job.choice->type;
  const bool convert = job.choice->needs_conversion();
  const int64_t n = view.row_length();
  const int64_t rows = view.row_count();
  if (n <= 0 || rows <= 0) return 0.0;  // an empty tensor: nothing to write
  const size_t in_row_bytes = view.row_bytes();
  const size_t out_row_bytes = convert ? row_bytes(out_type, n) : in_row_bytes;
  const bool readable = can_dequantize(view.type);
  if (convert && !readable)
    fail("tensor '{}' ({}): cannot convert type {} to {}", view.name, view.source_file, type_name(view.type),
         type_name(out_type));
  if (convert && !can_quantize(out_type))
    fail("tensor '{}': lowbit cannot write type {}", view.name, type_name(out_type));

  const int64_t slab_rows = std::max<int64_t>(1, std::min<int64_t>(rows, kSlabValues / std::max<int64_t>(n, 1)));
  const int64_t grain = std::max<int64_t>(1, (kMinChunkValues + n - 1) / n);
  if (readable) buf.values.resize(size_t(slab_rows * n));
  buf.output.resize(size_t(slab_rows) * out_row_bytes);

  double err2_total = 0, ref2_total = 0;
  std::mutex stats_mutex;
  for (int64_t first = 0; first < rows; first += slab_rows) {
    const int64_t count = std::min(slab_rows, rows - first);
    parallel_for(count, grain, [&](int64_t begin, int64_t end) {
      std::vector<float> back(convert ? size_t(n) : 0);
      double err2 = 0, ref2 = 0;
      for (int64_t i = begin; i < end; ++i) {
        const int64_t r = first + i;
        const uint8_t* src = view.row(r);
        if (!convert) std::memcpy(buf.output.data() + size_t(i) * out_row_bytes, src, in_row_bytes);
        if (!readable) continue;
        float* x = buf.values.data() + i * n;
        to_float(view.type, src, x, n);
        check_finite(view, x, r, n);
      }
      if (!convert) return;
      // Quantize runs of rows that share one importance vector.
      for (int64_t i = begin; i < end;) {
        int64_t run_end = end;
        const float* imp = job.importance;
        if (imp && job.expert_rows > 0) {
          const int64_t expert = (first + i) / job.expert_rows;
          imp += expert * n;
          run_end = std::min(end, (expert + 1) * job.expert_rows - first);
        }
        quantize_rows(out_type, buf.values.data() + i * n, buf.output.data() + size_t(i) * out_row_bytes,
                      run_end - i, n, imp);
        i = run_end;
      }
      for (int64_t i = begin; i < end; ++i) {
        dequantize_row(out_type, buf.output.data() + size_t(i) * out_row_bytes, back.data(), n);
        const float* x = buf.values.data() + i * n;
        for (int64_t c = 0; c < n; ++c) {
          const double d = double(back[size_t(c)]) - double(x[c]);
          err2 += d * d;
          ref2 += double(x[c]) * double(x[c]);
        }
      }
      std::lock_guard<std::mutex> lock(stats_mutex);
      err2_total += err2;
      ref2_total += ref2;
    });
    writer.write_tensor_data(buf.output.data(), size_t(count) * out_row_bytes);
    values_done += double(count * n);
    progress.update(values_done, progress_note);
  }
  release_pages(view.data, view.bytes);
  if (ref2_total > 0) return std::sqrt(err2_total / ref2_total);
  return err2_total > 0 ? INFINITY : 0.0;
}

// The importance vector for a tensor, checked against its shape.
const float* importance_for(const Imatrix* imatrix, const TensorView& view, int64_t& expert_rows, bool& used) {
  expert_rows = 0;
  used = false;
  if (!imatrix) return nullptr;
  const std::vector<float>* v = imatrix->find(view.name);
  if (!v) return nullptr;
  const int64_t n = view.row_length();
  const int64_t experts = view.shape.size() >= 3 ? view.shape[2] : 1;
  if (int64_t(v->size()) == n) {
    used = true;
    return v->data();
  }
  if (experts > 1 && int64_t(v->size()) == n * experts) {
    expert_rows = view.shape[1];
    used = true;
    return v->data();
  }
  // llama.cpp tolerates this one (embeddings are looked up, never multiplied).
  if (view.name == "token_embd.weight") return nullptr;
  fail("imatrix entry '{}' has {} values but the tensor's rows have {} weights{}", view.name, v->size(), n,
       experts > 1 ? fmt::format(" ({} experts)", experts) : "");
}

}  // namespace

uint64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      uint64_t kib = 0;
      for (char ch : line)
        if (ch >= '0' && ch <= '9') kib = kib * 10 + uint64_t(ch - '0');
      return kib * 1024;
    }
  }
  return 0;
}

void reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (out) out << "5";  // "5": reset the peak RSS to the current RSS (Linux >= 4.0)
}

QuantizeResult quantize_model(const ModelSource& source, const std::string& output_path,
                              const QuantizeOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  reset_peak_rss();
  check_output_path(source, output_path);
  const Preset& preset = find_preset(options.preset);
  if (options.threads > 0) set_thread_count(options.threads);

  Imatrix imatrix;
  const Imatrix* imatrix_ptr = nullptr;
  TypeOptions type_options = options.types;
  if (!options.imatrix_path.empty()) {
    imatrix = read_imatrix(options.imatrix_path);
    imatrix_ptr = &imatrix;
    type_options.has_imatrix = true;
  }

  const auto& views = source.tensors();
  std::vector<TensorDesc> descs;
  descs.reserve(views.size());
  for (const TensorView& v : views) descs.push_back({v.name, v.shape, v.type});
  const std::vector<TypeChoice> choices = choose_tensor_types(source.metadata(), descs, preset, type_options);

  GgufWriter writer(output_path, source.files());
  copy_metadata(source.metadata(), writer.metadata(), preset);
  if (imatrix_ptr) {
    writer.metadata().set("quantize.imatrix.file", GgufValue::string(options.imatrix_path));
    if (!imatrix.dataset.empty()) writer.metadata().set("quantize.imatrix.dataset", GgufValue::string(imatrix.dataset));
    writer.metadata().set("quantize.imatrix.entries_count", GgufValue::i32(int32_t(imatrix.entries.size())));
    if (imatrix.chunk_count > 0)
      writer.metadata().set("quantize.imatrix.chunks_count", GgufValue::i32(imatrix.chunk_count));
  }

  QuantizeResult result;
  result.output_path = output_path;
  result.preset = preset.name;
  result.file_type = preset.file_type;
  result.threads = thread_count();
  double total_values = 0;
  for (const TypeChoice& c : choices) {
    const TensorView& v = views[c.index];
    writer.add_tensor(v.name, v.shape, c.type);
    total_values += double(v.element_count());
  }
  writer.begin_data();

  Progress progress("quantize " + std::string(preset.name), total_values, options.progress);
  SlabBuffers buffers;
  double values_done = 0;
  for (size_t i = 0; i < choices.size(); ++i) {
    const TypeChoice& c = choices[i];
    const TensorView& view = views[c.index];
    TensorResult t;
    t.name = view.name;
    t.shape = view.shape;
    t.source_type = view.type;
    t.type = c.type;
    t.source_bytes = view.bytes;
    t.bytes = row_bytes(c.type, view.row_length()) * uint64_t(view.row_count());
    t.converted = c.needs_conversion();
    t.note = c.note;

    TensorJob job{&view, &c};
    if (t.converted && type_traits(c.type).quantized)
      job.importance = importance_for(imatrix_ptr, view, job.expert_rows, t.used_imatrix);
    t.relative_rmse = run_tensor(job, writer, buffers, progress, values_done, view.name);

    result.parameters += uint64_t(view.element_count());
    result.source_tensor_bytes += t.source_bytes;
    result.output_tensor_bytes += t.bytes;
    result.fallbacks += c.fallback;
    result.imatrix_tensors += t.used_imatrix;
    if (options.progress) {
      std::string line = fmt::format("[{:>4}/{:>4}] {:<34} {:<14} {:>6} -> {:<6}", i + 1, choices.size(), t.name,
                                     shape_string(t.shape), type_name(t.source_type), type_name(t.type));
      line += t.converted ? fmt::format(" rel. RMSE {:.5f}", t.relative_rmse) : std::string(" copied          ");
      line += fmt::format("  {} -> {}", format_bytes(double(t.source_bytes)), format_bytes(double(t.bytes)));
      if (t.used_imatrix) line += "  (imatrix)";
      if (!t.note.empty()) line += "  (" + t.note + ")";
      progress.message(line);
    }
    result.tensors.push_back(std::move(t));
  }
  // Free the slab buffers before finishing, so the peak reflects the work.
  buffers = SlabBuffers{};
  writer.finish();
  progress.finish();

  for (const std::string& f : source.files()) result.source_file_bytes += file_size_or_zero(f);
  if (result.source_file_bytes == 0) result.source_file_bytes = result.source_tensor_bytes;
  result.output_file_bytes = writer.total_bytes();
  result.size_ratio =
      result.output_file_bytes ? double(result.source_file_bytes) / double(result.output_file_bytes) : 0.0;
  result.bits_per_weight =
      result.parameters ? 8.0 * double(result.output_tensor_bytes) / double(result.parameters) : 0.0;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.peak_rss_bytes = peak_rss_bytes();
  return result;
}

std::string format_summary(const QuantizeResult& r) {
  std::string s = fmt::format("wrote {} ({} preset, general.file_type {})\n", r.output_path, r.preset, r.file_type);
  s += fmt::format("  tensors:     {} ({:.2f} M parameters), {} fallback{}, {} with imatrix\n", r.tensors.size(),
                   double(r.parameters) / 1e6, r.fallbacks, r.fallbacks == 1 ? "" : "s", r.imatrix_tensors);
  s += fmt::format("  size:        {} -> {} ({:.2f}x smaller; {} -> {} bytes)\n", format_bytes(double(r.source_file_bytes)),
                   format_bytes(double(r.output_file_bytes)), r.size_ratio, r.source_file_bytes, r.output_file_bytes);
  s += fmt::format("  weights:     {:.3f} bits per weight ({} of tensor data)\n", r.bits_per_weight,
                   format_bytes(double(r.output_tensor_bytes)));
  s += fmt::format("  time:        {} with {} thread{}\n", format_duration(r.seconds), r.threads,
                   r.threads == 1 ? "" : "s");
  s += fmt::format("  peak memory: {}", r.peak_rss_bytes ? format_bytes(double(r.peak_rss_bytes)) : "unknown");
  return s + "\n";
}

}  // namespace lowbit::quant
