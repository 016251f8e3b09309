#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace lowbit {

Progress::Progress(std::string label, double total, bool enabled)
    : label_(std::move(label)), total_(total > 0 ? total : 1), enabled_(enabled), tty_(::isatty(2)) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void Progress::update(double done, const std::string& note) {
  done_ = done;
  note_ = note;
  draw(false);
}

void Progress::message(const std::string& line) {
  if (!enabled_) return;
  if (tty_ && drawn_) std::fputs("\r\033[K", stderr);
  std::fprintf(stderr, "%s\n", line.c_str());
  drawn_ = false;
  draw(true);
}

void Progress::draw(bool force) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (!force && since < (tty_ ? 0.1 : 10.0) && done_ < total_) return;
  last_draw_ = now;
  double frac = done_ / total_;
  if (frac > 1) frac = 1;
  double elapsed = elapsed_seconds();
  std::string eta = frac > 0.001 ? format_duration(elapsed / frac - elapsed) : "?";
  constexpr int kWidth = 30;
  int filled = int(frac * kWidth);
  std::string bar(size_t(filled), '#');
  bar.resize(kWidth, '.');
  std::string line = fmt::format("{} [{}] {:5.1f}% {} elapsed, ETA {} {}", label_, bar, 100 * frac,
                                 format_duration(elapsed), eta, note_);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    drawn_ = true;
  } else if (!force) {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

void Progress::finish() {
  if (!enabled_) return;
  done_ = total_;
  if (tty_ && drawn_) std::fputs("\r\033[K", stderr);
  drawn_ = false;
  std::fflush(stderr);
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.2f} {}", bytes, units[u]);
}

std::string format_duration(double seconds) {
  if (seconds < 60) return fmt::format("{:.1f}s", seconds);
  int s = int(seconds + 0.5);
  if (s < 3600) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
}

}  // namespace lowbit
