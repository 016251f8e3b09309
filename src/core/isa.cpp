#include "core/isa.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"

namespace lowbit {
namespace {

uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t(edx) << 32) | eax;
}

// AMX tile data is an XSAVE feature Linux enables per process on request
// (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, kernel 5.16+);
// without the grant the first tile instruction faults.
bool os_grants_amx_tiles() {
  constexpr int kArchReqXcompPerm = 0x1023;
  constexpr int kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

Isa detect() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::Scalar;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29);
  if (!osxsave) return Isa::Scalar;
  const uint64_t xcr0 = xgetbv0();
  const bool ymm_os = (xcr0 & 0x6) == 0x6;
  const bool zmm_os = (xcr0 & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return Isa::Scalar;
  const bool avx2 = b & (1u << 5), bmi2 = b & (1u << 8);
  const bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30),
             avx512vl = b & (1u << 31);
  const bool vnni = c & (1u << 11);
  // BF16 is CPUID.(7,1):EAX[5]
  unsigned a1 = 0, b1, c1, d1;
  __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
  const bool avx512bf16 = a1 & (1u << 5);
  if (!(ymm_os && avx2 && fma && f16c && bmi2)) return Isa::Scalar;
  if (!(zmm_os && avx512f && avx512dq && avx512bw && avx512vl)) return Isa::Avx2;
  if (!(vnni && avx512bf16)) return Isa::Avx512;
  const bool amx_tile = d & (1u << 24), amx_int8 = d & (1u << 25);
  const bool tiles_os = (xcr0 & 0x60000) == 0x60000;  // XTILECFG, XTILEDATA
  if (amx_tile && amx_int8 && tiles_os && os_grants_amx_tiles()) return Isa::Avx512Amx;
  return Isa::Avx512Vnni;
}

Isa g_best = detect();


Isa from_env(Isa best) {
  const char* env = std::getenv("LOWBIT_ISA");
  if (!env || !*env) return best;
  std::string v = env;
  Isa want;
  if (v == "scalar") want = Isa::Scalar;
  else if (v == "avx2") want = Isa::Avx2;
  else if (v == "avx512") want = Isa::Avx512;
  else if (v == "avx512vnni") want = Isa::Avx512Vnni;
  else if (v == "avx512amx") want = Isa::Avx512Amx;
  else return best;  // unknown names are ignored; isa_name shows what is used
  return int(want) <= int(best) ? want : best;
}

Isa g_active = from_env(g_best);

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Vnni: return "avx512vnni";
    case Isa::Avx512Amx: return "avx512amx";
  }
  return "?";
}

Isa best_supported_isa() { return g_best; }
Isa active_isa() { return g_active; }
bool isa_supported(Isa isa) { return int(isa) <= int(g_best); }

void set_active_isa(Isa isa) {
  if (!isa_supported(isa)) fail("ISA {} is not supported by this CPU (best: {})", isa_name(isa), isa_name(g_best));
  g_active = isa;
}

bool cpu_has_avx512_vbmi_gfni() {
  static const bool has = [] {
    unsigned a, b, c, d;
    if (detect() < Isa::Avx512 || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return (c & (1u << 1)) != 0 && (c & (1u << 8)) != 0;  // CPUID.(7,0):ECX[1] VBMI, ECX[8] GFNI
  }();
  return has;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (int i = 0; i <= int(g_best); ++i) out.push_back(Isa(i));
  return out;
}

}  // namespace lowbit
