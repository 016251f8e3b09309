// The per-CPU choice of the decode kernels' stream prefetch (page_prefetch.h
// says what was measured).
#include "cpu/page_prefetch.h"

#include <cpuid.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace lowbit::cpu {
namespace {

constexpr size_t kL1Ahead = 8 * 1024;
constexpr size_t kL2Ahead = 16 * 1024;
constexpr long kLargeL1d = 48 * 1024;
constexpr unsigned long kMaxDistance = 1ul << 20;

bool cpu_is_amd() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
  char vendor[12];  // "AuthenticAMD" is EBX, EDX, ECX
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  return std::memcmp(vendor, "AuthenticAMD", 12) == 0;
}

}  // namespace

StreamPrefetch choose_stream_prefetch(const char* env, long l1d_bytes, bool amd) {
  const StreamPrefetch chosen =
      amd && l1d_bytes >= kLargeL1d ? StreamPrefetch{true, kL1Ahead} : StreamPrefetch{false, kL2Ahead};
  // LOWBIT_PREFETCH=l1:BYTES | l2:BYTES | off; anything else is ignored
  // (stream_prefetch_name() shows what is used), like LOWBIT_ISA.
  if (!env || !*env) return chosen;
  const std::string v = env;
  if (v == "off") return {false, 0};
  if (v.size() < 4 || (v.compare(0, 3, "l1:") != 0 && v.compare(0, 3, "l2:") != 0)) return chosen;
  char* end = nullptr;
  const unsigned long bytes = std::strtoul(v.c_str() + 3, &end, 10);
  if (*end != '\0' || bytes == 0 || bytes > kMaxDistance) return chosen;
  return {v[1] == '1', size_t(bytes)};
}

const StreamPrefetch& stream_prefetch() {
  // glibc reads the L1d size from CPUID (0 or -1 when it cannot tell).
  static const StreamPrefetch plan =
      choose_stream_prefetch(std::getenv("LOWBIT_PREFETCH"), sysconf(_SC_LEVEL1_DCACHE_SIZE), cpu_is_amd());
  return plan;
}

std::string stream_prefetch_name() {
  const StreamPrefetch& p = stream_prefetch();
  if (p.distance == 0) return "off";
  return std::string(p.into_l1 ? "l1:" : "l2:") + std::to_string(p.distance);
}

}  // namespace lowbit::cpu
