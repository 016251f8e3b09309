// `lowbit mem <param-count | model> [--ctx N] [--kv-type f16|q8_0] [--vram 8GB]`
#include <cstdio>
#include <filesystem>

#include "cli/command.h"
#include "core/error.h"
#include "eval/memory_plan.h"

namespace lowbit::cli {
namespace {

struct MemArgs {
  std::string subject;
  int64_t ctx = 4096;
  std::string kv_type = "f16";
  std::string vram;
};

CommandRegistration mem_command(
    "mem", "Memory needed by a model (parameter count like 7B, or a model path) at each format, with KV cache", 30,
    [](CLI::App& app) -> CommandRunner {
      auto args = std::make_shared<MemArgs>();
      app.add_option("model", args->subject, "Parameter count (7B, 70B, 8.03e9) or a GGUF file / HF folder")
          ->required();
      app.add_option("--ctx", args->ctx, "Context length for the KV cache")->capture_default_str()->check(
          CLI::Range(int64_t(1), int64_t(1) << 24));
      app.add_option("--kv-type", args->kv_type, "KV cache type: f16 or q8_0")->capture_default_str();
      app.add_option("--vram", args->vram, "Memory to fit in, e.g. 8GB, 24GiB");
      return [args] {
        eval::MemPlanOptions o;
        o.n_ctx = args->ctx;
        if (args->kv_type == "f16") o.kv_type = GgmlType::F16;
        else if (args->kv_type == "q8_0") o.kv_type = GgmlType::Q8_0;
        else fail("--kv-type must be f16 or q8_0, not '{}'", args->kv_type);
        if (!args->vram.empty()) {
          o.budget_bytes = eval::parse_byte_size(args->vram);
          if (!o.budget_bytes) fail("--vram '{}' is not a size like 8GB or 24GiB", args->vram);
        }
        eval::MemPlan plan;
        if (std::filesystem::exists(args->subject)) {
          auto model = ModelSource::open(args->subject);
          plan = eval::plan_for_model(*model, o);
        } else if (auto params = eval::parse_param_count(args->subject)) {
          plan = eval::plan_for_params(*params, o);
        } else {
          fail("'{}' is neither an existing model path nor a parameter count like 7B or 8.03e9", args->subject);
        }
        std::string out = eval::render_mem_plan(plan, o);
        std::fwrite(out.data(), 1, out.size(), stdout);
        return 0;
      };
    });

}  // namespace
}  // namespace lowbit::cli
