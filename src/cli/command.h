// Command registry for the lowbit CLI: each command lives in its own file and
// registers itself with a static CommandRegistration, so main.cpp never
// changes when a command is added. A command's setup function adds a CLI11
// subcommand and returns the function that runs it (return value = exit code).
#pragma once

#include <CLI/CLI.hpp>

#include "core/mapped_file.h"

#include <functional>
#include <string>
#include <vector>

namespace lowbit::cli {

using CommandRunner = std::function<int()>;
using CommandSetup = std::function<CommandRunner(CLI::App& subcommand)>;

struct CommandInfo {
  std::string name;
  std::string description;
  int order;  // position in --help
  CommandSetup setup;
};

std::vector<CommandInfo>& command_registry();

struct CommandRegistration {
  CommandRegistration(std::string name, std::string description, int order, CommandSetup setup) {
    command_registry().push_back({std::move(name), std::move(description), order, std::move(setup)});
  }
};

// `--mmap` for the commands that run a model: map the weights instead of
// reading them into memory (see model::Model::open).
inline void add_mmap_flag(CLI::App& app, bool& mmap) {
  app.add_flag("--mmap", mmap,
               "Map the weights from the file instead of reading them into memory (starts faster and shares the "
               "page cache; decode can be up to 2x slower)");
}
inline FileAccess weight_access(bool mmap) { return mmap ? FileAccess::Map : FileAccess::Read; }

}  // namespace lowbit::cli
