// Kernel selection: maps (weight type, ISA level) to a DotKernel and an
// activation quantizer. See kernels.h for the ISA mapping.
#include "cpu/kernels.h"

#include "core/error.h"
#include "cpu/ref/act_quant_ref.h"

namespace lowbit::cpu {

QuantizeActFn avx512_act_quantizer(GgmlType act);  // vec_dot_avx512*.cpp
QuantizeActFn avx2_act_quantizer(GgmlType act);    // vec_dot_avx2*.cpp

GgmlType activation_type(GgmlType weight) {
  const DotKernel* k = ref_kernel(weight);
  if (!k) fail("no CPU dot kernel for weight type {}", type_name(weight));
  return k->act;
}

bool has_dot_kernel(GgmlType weight) { return ref_kernel(weight) != nullptr; }

const DotKernel* find_dot_kernel(GgmlType weight, Isa isa) {
  const DotKernel* k = nullptr;
  switch (isa) {
    case Isa::Avx512Amx: k = amx_kernel(weight); if (k) break; [[fallthrough]];
    case Isa::Avx512Vnni: k = avx512_kernel(weight); break;
    case Isa::Avx512:
    case Isa::Avx2: k = avx2_kernel(weight); break;
    case Isa::Scalar: break;
  }
  return k ? k : ref_kernel(weight);
}

QuantizeActFn find_act_quantizer(GgmlType act, Isa isa) {
  QuantizeActFn fn = nullptr;
  switch (isa) {
    case Isa::Avx512Amx:
    case Isa::Avx512Vnni: fn = avx512_act_quantizer(act); break;
    case Isa::Avx512:
    case Isa::Avx2: fn = avx2_act_quantizer(act); break;
    case Isa::Scalar: break;
  }
  if (fn) return fn;
  switch (act) {
    case GgmlType::Q8_0: return &ref::quantize_act_q8_0;
    case GgmlType::Q8_K: return &ref::quantize_act_q8_k;
    case GgmlType::F32: return &ref::quantize_act_f32;
    default: fail("no activation quantizer for {}", type_name(act));
  }
}

size_t activation_row_bytes(GgmlType act, int64_t n) { return row_bytes(act, n); }

}  // namespace lowbit::cpu
