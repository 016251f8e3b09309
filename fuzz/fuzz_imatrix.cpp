// Fuzz target: llama.cpp legacy importance-matrix files (.dat, as users
// bring them to `lowbit quantize --imatrix`) parsed from memory. Whatever is
// accepted must hold finite, non-negative importances.
#include <cmath>

#include "fuzz_common.h"
#include "quant/imatrix.h"

using namespace lowbit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    quant::Imatrix m = quant::parse_imatrix("fuzz.imatrix.dat", data, size);
    for (const auto& [name, values] : m.entries) {
      LOWBIT_FUZZ_CHECK(m.find(name) == &values);
      for (float v : values) LOWBIT_FUZZ_CHECK(std::isfinite(v) && v >= 0);
    }
  } catch (const Error&) {
  }
  return 0;
}
