// `lowbit convert <hf-folder | gguf> -o out.gguf [--type bf16|f16|f32|auto]`
#include <cstdio>

#include "cli/command.h"
#include "core/error.h"
#include "core/progress.h"
#include "io/convert.h"

namespace lowbit::cli {
namespace {

struct ConvertArgs {
  std::string model;
  std::string out;
  std::string type = "auto";
  bool quiet = false;
};

// "auto": the type most of the source's matrices already have (a lossless
// conversion), F16 when that is not a float type.
GgmlType auto_type(const ModelSource& src) {
  uint64_t bytes[3] = {0, 0, 0};  // F32, F16, BF16
  for (const auto& t : src.tensors()) {
    if (t.shape.size() < 2) continue;
    if (t.type == GgmlType::F32) bytes[0] += t.bytes;
    if (t.type == GgmlType::F16) bytes[1] += t.bytes;
    if (t.type == GgmlType::BF16) bytes[2] += t.bytes;
  }
  if (bytes[2] > bytes[1] && bytes[2] >= bytes[0]) return GgmlType::BF16;
  if (bytes[0] > bytes[1]) return GgmlType::F32;
  return GgmlType::F16;
}

CommandRegistration convert_command(
    "convert", "Convert a Hugging Face folder (safetensors) to a float GGUF file, as llama.cpp's converter does", 5,
    [](CLI::App& app) -> CommandRunner {
      auto args = std::make_shared<ConvertArgs>();
      app.add_option("model", args->model, "Hugging Face model folder (or a GGUF file)")->required();
      app.add_option("-o,--output", args->out, "Output GGUF file")->required();
      app.add_option("--type", args->type, "Matrix type: bf16, f16, f32, or auto (keep the source's)")
          ->capture_default_str();
      app.add_flag("-q,--quiet", args->quiet, "No progress bar");
      return [args] {
        auto src = ModelSource::open(args->model);
        GgmlType type;
        if (args->type == "auto") type = auto_type(*src);
        else if (args->type == "bf16") type = GgmlType::BF16;
        else if (args->type == "f16") type = GgmlType::F16;
        else if (args->type == "f32") type = GgmlType::F32;
        else fail("--type must be bf16, f16, f32 or auto, not '{}'", args->type);

        Progress bar("convert", double(src->tensor_bytes()), !args->quiet);
        double done = 0;
        ConvertResult r = convert_to_gguf(*src, args->out, type, [&](size_t, size_t, const TensorView& t) {
          bar.update(done, t.name);
          done += double(t.bytes);
        });
        bar.update(done);
        bar.finish();
        std::printf("%s: %zu tensors, %llu parameters, %s -> %s (%s, %s)\n", args->out.c_str(), r.tensors,
                    (unsigned long long)r.parameters, format_bytes(double(r.input_bytes)).c_str(),
                    format_bytes(double(r.output_bytes)).c_str(), type_name(type).c_str(),
                    format_duration(r.seconds).c_str());
        return 0;
      };
    });

}  // namespace
}  // namespace lowbit::cli
