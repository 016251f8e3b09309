// Quantizers of the non-linear 4-bit formats IQ4_NL (one fp16 scale per 32
// weights) and IQ4_XS (super-block of 256: fp16 d and a 6-bit scale per 32).
// Both map weights onto the 16 levels kvalues_iq4nl times a scale; the
// searches are in search.cpp.
#include <cstring>

#include "quant/blocks.h"
#include "quant/ref/ref.h"
#include "quant/ref/search.h"

namespace lowbit::quant::ref {

namespace {

// Sub-block of 32 level indices into 16 bytes: low nibble j, high nibble j + 16.
void pack_iq4(const uint8_t* q, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = uint8_t((q[j] & 15) | ((q[j + 16] & 15) << 4));
}

}  // namespace

void quantize_row_iq4_nl(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockIQ4_NL*>(vy);
  float w[QK];
  uint8_t q[QK];
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    make_weights(importance ? importance + i * QK : nullptr, QK, QK, w);
    y[i].d = solve_single_scale(x, w, QK, Iq4Levels{}, 12.f, q);
    pack_iq4(q, y[i].qs);
  }
}

void quantize_row_iq4_xs(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockIQ4_XS*>(vy);
  const SymShape shape{8, 32, -32, 31, 12.f};
  float w[QK_K];
  SymResult r;
  for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    make_weights(importance ? importance + i * QK_K : nullptr, QK_K, 32, w);
    solve_sym_superblock(shape, Iq4Levels{}, x, w, r);
    y[i].d = r.d;
    y[i].scales_h = 0;
    std::memset(y[i].scales_l, 0, sizeof(y[i].scales_l));
    for (int ib = 0; ib < 8; ++ib) {
      const int ls = r.sc[ib] + 32;
      y[i].scales_l[ib / 2] |= uint8_t((ls & 15) << (4 * (ib % 2)));
      y[i].scales_h |= uint16_t((ls >> 4) << (2 * ib));
      pack_iq4(r.q + 32 * ib, y[i].qs + 16 * ib);
    }
  }
}

}  // namespace lowbit::quant::ref
