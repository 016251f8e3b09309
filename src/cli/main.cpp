// lowbit command-line entry point: parses the command name and hands over to
// the registered command. Turns library errors into a message on stderr and
// exit code 1 (2 for usage errors); never lets an exception escape.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "core/output_file.h"

namespace lowbit::cli {
std::vector<CommandInfo>& command_registry() {
  static std::vector<CommandInfo> registry;
  return registry;
}
}  // namespace lowbit::cli

int main(int argc, char** argv) {
  using namespace lowbit::cli;
  lowbit::install_interrupt_cleanup();
  CLI::App app{"lowbit: quantize, run and measure LLMs in 8/6/5/4/3/2-bit GGUF formats"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "lowbit 0.1.0");
  auto& registry = command_registry();
  std::sort(registry.begin(), registry.end(), [](auto& a, auto& b) { return a.order < b.order; });
  std::map<CLI::App*, CommandRunner> runners;
  for (auto& cmd : registry) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.description);
    runners[sub] = cmd.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const lowbit::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "lowbit: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fflush(stdout);
    std::fprintf(stderr, "lowbit: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "lowbit: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
