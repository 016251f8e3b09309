// AVX-512 (F, BW, VL, VNNI, BF16) dot kernels. Placeholder table until the kernels land.
#include "cpu/kernels.h"

namespace lowbit::cpu {

const DotKernel* avx512_kernel(GgmlType) { return nullptr; }
QuantizeActFn avx512_act_quantizer(GgmlType) { return nullptr; }

}  // namespace lowbit::cpu
