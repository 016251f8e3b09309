// A one-line progress bar with ETA on stderr for long work (quantize,
// perplexity). Redraws in place on a terminal; prints occasional plain lines
// otherwise (CI logs), so logs stay short.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lowbit {

class Progress {
 public:
  Progress(std::string label, double total, bool enabled = true);
  // Sets the amount done so far and a short note (e.g. the tensor name).
  void update(double done, const std::string& note = "");
  // Prints a line above the bar (e.g. one tensor's result).
  void message(const std::string& line);
  void finish();
  double elapsed_seconds() const;

 private:
  void draw(bool force);
  std::string label_;
  double total_;
  double done_ = 0;
  std::string note_;
  bool enabled_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

std::string format_bytes(double bytes);     // "13.5 MiB"
std::string format_duration(double seconds);  // "1m23s"

}  // namespace lowbit
