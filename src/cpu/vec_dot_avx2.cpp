// AVX2 + FMA + F16C dot kernels. Placeholder table until the kernels land.
#include "cpu/kernels.h"

namespace lowbit::cpu {

const DotKernel* avx2_kernel(GgmlType) { return nullptr; }
QuantizeActFn avx2_act_quantizer(GgmlType) { return nullptr; }

}  // namespace lowbit::cpu
