// Run-time CPU feature detection and the ISA level every dispatcher uses.
// Chosen once per process: the best level this CPU supports, or the level
// named by the environment variable LOWBIT_ISA
// (scalar|avx2|avx512|avx512vnni|avx512amx) for tests, comparisons and bug
// reports; asking for more than the CPU has is refused.
// Avx512Amx: Avx512Vnni plus AMX tiles with INT8 (Sapphire Rapids and later),
// with the Linux permission for tile state granted at start-up.
#pragma once

#include <string>
#include <vector>

namespace lowbit {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2, Avx512Vnni = 3, Avx512Amx = 4 };

const char* isa_name(Isa isa);
Isa best_supported_isa();       // what this CPU can run
Isa active_isa();               // best_supported_isa() or LOWBIT_ISA
void set_active_isa(Isa isa);   // tests: run every level the CPU supports
bool isa_supported(Isa isa);
std::vector<Isa> supported_isas();  // Scalar first
// AVX512-VBMI (byte permutes) and GFNI (per-byte bit matrices), beyond the
// levels: the packed K-quant layouts' kernels need both (Zen 4, Ice Lake and
// later; not Skylake-X, Cascade or Cooper Lake).
bool cpu_has_avx512_vbmi_gfni();

}  // namespace lowbit
