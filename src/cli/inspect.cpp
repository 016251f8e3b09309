// `lowbit inspect <gguf-or-hf-folder> [--json] [--no-tensors]`
#include <cstdio>

#include "cli/command.h"
#include "eval/inspect.h"

namespace lowbit::cli {
namespace {

struct InspectArgs {
  std::string path;
  bool json = false;
  bool no_tensors = false;
};

CommandRegistration inspect_command(
    "inspect", "Show a model's architecture, tensors, types and memory at each precision", 20,
    [](CLI::App& app) -> CommandRunner {
      auto args = std::make_shared<InspectArgs>();
      app.add_option("model", args->path, "GGUF file or Hugging Face model folder")->required();
      app.add_flag("--json", args->json, "Machine-readable JSON output");
      app.add_flag("--no-tensors", args->no_tensors, "Leave out the per-tensor table");
      return [args] {
        auto model = ModelSource::open(args->path);
        std::string out = args->json ? eval::inspect_json(*model) : eval::inspect_text(*model, !args->no_tensors);
        std::fwrite(out.data(), 1, out.size(), stdout);
        if (args->json) std::fputc('\n', stdout);
        return 0;
      };
    });

}  // namespace
}  // namespace lowbit::cli
