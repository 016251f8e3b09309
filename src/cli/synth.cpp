// `lowbit synth -o model.gguf [--shape tiny|small|1B|7B] [--type f16] [--seed N]`
#include <cstdio>

#include "cli/command.h"
#include "core/error.h"
#include "core/progress.h"
#include "eval/synthetic_model.h"

namespace lowbit::cli {
namespace {

struct SynthArgs {
  std::string output;
  std::string shape = "tiny";
  std::string type = "f16";
  uint64_t seed = 1;
};

CommandRegistration synth_command(
    "synth", "Write a random-weight Llama-shaped model (for demos and benchmarks)", 90,
    [](CLI::App& app) -> CommandRunner {
      auto args = std::make_shared<SynthArgs>();
      app.add_option("-o,--output", args->output, "Output GGUF file")->required();
      app.add_option("--shape", args->shape, "tiny, small, 1B or 7B")->capture_default_str();
      app.add_option("--type", args->type, "f32, f16 or bf16")->capture_default_str();
      app.add_option("--seed", args->seed, "Random seed")->capture_default_str();
      return [args] {
        auto type = type_from_name(args->type);
        if (!type) fail("unknown type '{}'", args->type);
        auto shape = eval::synthetic_shape(args->shape);
        auto r = eval::write_synthetic_model(args->output, shape, *type, args->seed, true);
        std::printf("wrote %s: %s model, %llu parameters, %s, %.1fs\n", args->output.c_str(), shape.name.c_str(),
                    (unsigned long long)r.parameters, format_bytes(double(r.file_bytes)).c_str(), r.seconds);
        return 0;
      };
    });

}  // namespace
}  // namespace lowbit::cli
