// Error reporting for the whole library. Library code never exits or aborts
// on user input: it throws lowbit::Error with a message that names the file
// (or tensor, or key) and what is wrong; only the CLI turns that into an exit
// code. Use fail("...{}...", args) to throw a formatted message.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace lowbit {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

// Adds context (usually a file name) in front of an error raised deeper down.
template <typename Fn>
auto with_context(const std::string& context, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error& e) {
    throw Error(context + ": " + e.what());
  }
}

}  // namespace lowbit
