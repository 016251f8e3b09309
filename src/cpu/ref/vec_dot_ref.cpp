// Scalar reference dot kernels (see vec_dot_ref.h) and the scalar kernel table.
// Each block is unpacked to its integer quants q[i] (offsets such as -8 for
// Q4_0 already applied), dotted exactly in int with the activation quants, and
// scaled in float: sum over blocks of d_w * d_a * isum (+ min/offset terms).
#include "cpu/ref/vec_dot_ref.h"

#include "core/half.h"
#include "cpu/kernels.h"
#include "cpu/ref/act_quant_ref.h"
#include "quant/blocks.h"

namespace lowbit::cpu::ref {

using namespace lowbit::quant;

namespace {

// q[j] and q[j + 16] from the nibble layout shared by Q4_0, Q4_1, Q5_*, IQ4_NL.
void unpack_nibbles32(const uint8_t qs[16], int q[32]) {
  for (int j = 0; j < 16; ++j) {
    q[j] = qs[j] & 15;
    q[j + 16] = qs[j] >> 4;
  }
}

// Adds bit 4 from the 32-bit qh field (bit j belongs to weight j).
void add_high_bit32(const uint8_t qh[4], int q[32]) {
  const uint32_t bits = uint32_t(qh[0]) | uint32_t(qh[1]) << 8 | uint32_t(qh[2]) << 16 | uint32_t(qh[3]) << 24;
  for (int j = 0; j < 32; ++j) q[j] |= int((bits >> j) & 1u) << 4;
}

int dot32(const int q[32], const int8_t a[32]) {
  int s = 0;
  for (int j = 0; j < 32; ++j) s += q[j] * a[j];
  return s;
}

int sum32(const int8_t a[32]) {
  int s = 0;
  for (int j = 0; j < 32; ++j) s += a[j];
  return s;
}

}  // namespace

float vec_dot_q4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / QK; ++b) {
    int q[32];
    unpack_nibbles32(x[b].qs, q);
    for (int& v : q) v -= 8;
    sum += fp16_to_float(x[b].d) * fp16_to_float(y[b].d) * float(dot32(q, y[b].qs));
  }
  return sum;
}

float vec_dot_q4_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / QK; ++b) {
    int q[32];
    unpack_nibbles32(x[b].qs, q);
    const float dy = fp16_to_float(y[b].d);
    // x = d * q + m  =>  sum x*a = d*dy*sum(q*qa) + m*dy*sum(qa)
    sum += fp16_to_float(x[b].d) * dy * float(dot32(q, y[b].qs)) + fp16_to_float(x[b].m) * dy * float(sum32(y[b].qs));
  }
  return sum;
}

float vec_dot_q5_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / QK; ++b) {
    int q[32];
    unpack_nibbles32(x[b].qs, q);
    add_high_bit32(x[b].qh, q);
    for (int& v : q) v -= 16;
    sum += fp16_to_float(x[b].d) * fp16_to_float(y[b].d) * float(dot32(q, y[b].qs));
  }
  return sum;
}

float vec_dot_q5_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_1*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / QK; ++b) {
    int q[32];
    unpack_nibbles32(x[b].qs, q);
    add_high_bit32(x[b].qh, q);
    const float dy = fp16_to_float(y[b].d);
    sum += fp16_to_float(x[b].d) * dy * float(dot32(q, y[b].qs)) + fp16_to_float(x[b].m) * dy * float(sum32(y[b].qs));
  }
  return sum;
}

float vec_dot_q8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / QK; ++b) {
    int q[32];
    for (int j = 0; j < 32; ++j) q[j] = x[b].qs[j];
    sum += fp16_to_float(x[b].d) * fp16_to_float(y[b].d) * float(dot32(q, y[b].qs));
  }
  return sum;
}

float vec_dot_iq4_nl(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockIQ4_NL*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / QK; ++b) {
    int q[32];
    unpack_nibbles32(x[b].qs, q);
    for (int& v : q) v = kvalues_iq4nl[v];
    sum += fp16_to_float(x[b].d) * fp16_to_float(y[b].d) * float(dot32(q, y[b].qs));
  }
  return sum;
}

// ---- K formats: 256-weight super-blocks against Q8_K.

void unpack_q4_k_scales(const uint8_t s[12], int scale[8], int min[8]) {
  for (int j = 0; j < 4; ++j) {
    scale[j] = s[j] & 63;
    min[j] = s[j + 4] & 63;
  }
  for (int j = 4; j < 8; ++j) {
    scale[j] = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    min[j] = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void unpack_q3_k_scales(const uint8_t s[12], int scale[16]) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (s[j] & 15) : (s[j - 8] >> 4);
    const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    scale[j] = low | (high << 4);
  }
}

namespace {

// Integer dot of q[from..from+len) with the activation quants.
int dot_range(const int* q, const int8_t* a, int from, int len) {
  int s = 0;
  for (int i = from; i < from + len; ++i) s += q[i] * a[i];
  return s;
}

// The 2-bit field of weight i in the Q2_K/Q3_K qs layout.
int two_bits(const uint8_t qs[64], int i) {
  const int group = i / 128, r = i % 128;
  return (qs[group * 32 + r % 32] >> (2 * (r / 32))) & 3;
}

// Bit i of a 32-byte mask laid out as "byte i % 32, bit i / 32" (Q3_K hmask, Q5_K qh).
int mask_bit(const uint8_t m[32], int i) { return (m[i % 32] >> (i / 32)) & 1; }

// The 4-bit field of weight i in the Q4_K/Q5_K qs layout.
int q4k_nibble(const uint8_t qs[128], int i) {
  const int chunk = i / 64, r = i % 64;
  const uint8_t byte = qs[chunk * 32 + r % 32];
  return r < 32 ? (byte & 15) : (byte >> 4);
}

}  // namespace

float vec_dot_q2_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ2_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int q[256];
    for (int i = 0; i < 256; ++i) q[i] = two_bits(x[b].qs, i);
    int scaled = 0, mins = 0;  // sum_j sc_j * dot_j, sum_j m_j * bsum_j
    for (int j = 0; j < 16; ++j) {
      scaled += (x[b].scales[j] & 15) * dot_range(q, y[b].qs, 16 * j, 16);
      mins += (x[b].scales[j] >> 4) * y[b].bsums[j];
    }
    sum += y[b].d * (fp16_to_float(x[b].d) * float(scaled) - fp16_to_float(x[b].dmin) * float(mins));
  }
  return sum;
}

float vec_dot_q3_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ3_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int q[256];
    for (int i = 0; i < 256; ++i) q[i] = two_bits(x[b].qs, i) + 4 * mask_bit(x[b].hmask, i) - 4;
    int scale[16];
    unpack_q3_k_scales(x[b].scales, scale);
    int scaled = 0;
    for (int j = 0; j < 16; ++j) scaled += (scale[j] - 32) * dot_range(q, y[b].qs, 16 * j, 16);
    sum += y[b].d * fp16_to_float(x[b].d) * float(scaled);
  }
  return sum;
}

float vec_dot_q4_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int q[256];
    for (int i = 0; i < 256; ++i) q[i] = q4k_nibble(x[b].qs, i);
    int scale[8], min[8];
    unpack_q4_k_scales(x[b].scales, scale, min);
    int scaled = 0, mins = 0;
    for (int j = 0; j < 8; ++j) {
      scaled += scale[j] * dot_range(q, y[b].qs, 32 * j, 32);
      mins += min[j] * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
    }
    sum += y[b].d * (fp16_to_float(x[b].d) * float(scaled) - fp16_to_float(x[b].dmin) * float(mins));
  }
  return sum;
}

float vec_dot_q5_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ5_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int q[256];
    for (int i = 0; i < 256; ++i) q[i] = q4k_nibble(x[b].qs, i) | (mask_bit(x[b].qh, i) << 4);
    int scale[8], min[8];
    unpack_q4_k_scales(x[b].scales, scale, min);
    int scaled = 0, mins = 0;
    for (int j = 0; j < 8; ++j) {
      scaled += scale[j] * dot_range(q, y[b].qs, 32 * j, 32);
      mins += min[j] * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
    }
    sum += y[b].d * (fp16_to_float(x[b].d) * float(scaled) - fp16_to_float(x[b].dmin) * float(mins));
  }
  return sum;
}

float vec_dot_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int q[256];
    for (int i = 0; i < 256; ++i) {
      const int half = i / 128, r = i % 128;
      const uint8_t low_byte = x[b].ql[64 * half + r % 64];
      const int low = r < 64 ? (low_byte & 15) : (low_byte >> 4);
      const int high = (x[b].qh[32 * half + r % 32] >> (2 * (r / 32))) & 3;
      q[i] = (low | (high << 4)) - 32;
    }
    int scaled = 0;
    for (int j = 0; j < 16; ++j) scaled += x[b].scales[j] * dot_range(q, y[b].qs, 16 * j, 16);
    sum += y[b].d * fp16_to_float(x[b].d) * float(scaled);
  }
  return sum;
}

float vec_dot_iq4_xs(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockIQ4_XS*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int scaled = 0;
    for (int j = 0; j < 8; ++j) {
      const int ls = ((x[b].scales_l[j / 2] >> (4 * (j % 2))) & 15) | (((x[b].scales_h >> (2 * j)) & 3) << 4);
      int q[32];
      unpack_nibbles32(x[b].qs + 16 * j, q);
      for (int& v : q) v = kvalues_iq4nl[v];
      scaled += (ls - 32) * dot32(q, y[b].qs + 32 * j);
    }
    sum += y[b].d * fp16_to_float(x[b].d) * float(scaled);
  }
  return sum;
}

// ---- float weights against F32 activations.

float vec_dot_f32(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

float vec_dot_f16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += fp16_to_float(x[i]) * y[i];
  return sum;
}

float vec_dot_bf16(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += bf16_to_float(x[i]) * y[i];
  return sum;
}

}  // namespace lowbit::cpu::ref

namespace lowbit::cpu {

const DotKernel* ref_kernel(GgmlType weight) {
  using T = GgmlType;
#define LOWBIT_REF(TYPE, ACT, FN) {T::TYPE, T::ACT, &ref::FN, &tile_from_vec_dot<&ref::FN>}
  static const DotKernel kTable[] = {
      LOWBIT_REF(Q4_0, Q8_0, vec_dot_q4_0),   LOWBIT_REF(Q4_1, Q8_0, vec_dot_q4_1),
      LOWBIT_REF(Q5_0, Q8_0, vec_dot_q5_0),   LOWBIT_REF(Q5_1, Q8_0, vec_dot_q5_1),
      LOWBIT_REF(Q8_0, Q8_0, vec_dot_q8_0),   LOWBIT_REF(IQ4_NL, Q8_0, vec_dot_iq4_nl),
      LOWBIT_REF(Q2_K, Q8_K, vec_dot_q2_k),   LOWBIT_REF(Q3_K, Q8_K, vec_dot_q3_k),
      LOWBIT_REF(Q4_K, Q8_K, vec_dot_q4_k),   LOWBIT_REF(Q5_K, Q8_K, vec_dot_q5_k),
      LOWBIT_REF(Q6_K, Q8_K, vec_dot_q6_k),   LOWBIT_REF(IQ4_XS, Q8_K, vec_dot_iq4_xs),
      LOWBIT_REF(F32, F32, vec_dot_f32),      LOWBIT_REF(F16, F32, vec_dot_f16),
      LOWBIT_REF(BF16, F32, vec_dot_bf16),
  };
#undef LOWBIT_REF
  return find_in_table(kTable, weight);
}

}  // namespace lowbit::cpu
