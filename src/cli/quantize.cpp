// `lowbit quantize <GGUF file or HF folder> -o out.gguf --preset Q4_K_M
//   [--threads N] [--imatrix FILE] [--tensor-type PAT=TYPE ...] [--pure]
//   [--output-type T] [--embd-type T] [--quiet]`
// Argument parsing only; the work is quant::quantize_model.
#include <cstdio>

#include "cli/command.h"
#include "core/error.h"
#include "core/output_file.h"
#include "quant/quantize_model.h"

namespace lowbit::cli {
namespace {

struct QuantizeArgs {
  std::string input;
  std::string output;
  std::string preset = "Q4_K_M";
  int threads = 0;
  std::string imatrix;
  std::vector<std::string> tensor_types;
  bool pure = false;
  std::string output_type;
  std::string embd_type;
  bool quiet = false;
};

CommandRegistration quantize_command(
    "quantize", "Quantize a GGUF file or Hugging Face folder to a GGUF file (llama.cpp presets)", 10,
    [](CLI::App& app) -> CommandRunner {
      auto args = std::make_shared<QuantizeArgs>();
      app.add_option("model", args->input, "GGUF file or Hugging Face model folder")->required();
      app.add_option("-o,--output", args->output, "Output GGUF file (never one of the inputs)")->required();
      app.add_option("-p,--preset", args->preset, "One of: " + quant::preset_names())->capture_default_str();
      app.add_option("-t,--threads", args->threads, "Worker threads (default: all cores)");
      app.add_option("--imatrix", args->imatrix, "Importance matrix from llama.cpp's llama-imatrix (.dat)");
      app.add_option("--tensor-type", args->tensor_types,
                     "PATTERN=TYPE: tensors whose name matches the regex PATTERN get TYPE (repeatable; last wins)")
          ->allow_extra_args(false);  // one PATTERN=TYPE per flag, so the model path is never swallowed
      app.add_flag("--pure", args->pure, "No per-tensor mix: every weight matrix gets the preset's base type");
      app.add_option("--output-type", args->output_type, "Type for output.weight");
      app.add_option("--embd-type", args->embd_type, "Type for token_embd.weight");
      app.add_flag("-q,--quiet", args->quiet, "No progress bar or per-tensor lines");
      return [args] {
        quant::QuantizeOptions opt;
        opt.preset = args->preset;
        quant::find_preset(opt.preset);  // a bad preset fails before the model is opened
        opt.threads = args->threads;
        opt.imatrix_path = args->imatrix;
        opt.progress = !args->quiet;
        opt.types.pure = args->pure;
        for (const auto& spec : args->tensor_types) opt.types.overrides.push_back(quant::parse_tensor_type_override(spec));
        if (!args->output_type.empty()) opt.types.output_type = quant::parse_output_type(args->output_type);
        if (!args->embd_type.empty()) opt.types.embd_type = quant::parse_output_type(args->embd_type);
        if (args->output == args->input || same_file(args->output, args->input))
          fail("output '{}' is the input model; choose another output path", args->output);
        auto model = ModelSource::open(args->input);
        quant::QuantizeResult result = quant::quantize_model(*model, args->output, opt);
        std::string summary = quant::format_summary(result);
        std::fwrite(summary.data(), 1, summary.size(), stdout);
        return 0;
      };
    });

}  // namespace
}  // namespace lowbit::cli
