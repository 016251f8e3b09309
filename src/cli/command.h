// Command registry for the lowbit CLI: each command lives in its own file and
// registers itself with a static CommandRegistration, so main.cpp never
// changes when a command is added. A command's setup function adds a CLI11
// subcommand and returns the function that runs it (return value = exit code).
#pragma once

#include <CLI/CLI.hpp>

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

}  // namespace lowbit::cli
