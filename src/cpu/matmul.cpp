// Simple, obviously-correct matmul: each weight row is converted to float
// (quant::dequantize_row for block formats), then a float dot product with
// every token's activation row. Parallel over output rows. The fast fused
// kernels replace this; it stays as the fallback for other types.
#include "cpu/matmul.h"

#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "quant/formats.h"

namespace lowbit::cpu {

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) {
  if (w.n_in <= 0 || w.n_out <= 0 || n_tokens <= 0) return;
  if (w.n_in % block_size(w.type) != 0)
    fail("matmul: row length {} is not a multiple of the {} block size {}", w.n_in, type_name(w.type),
         block_size(w.type));
  parallel_for(w.n_out, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> row(size_t(w.n_in));
    for (int64_t o = begin; o < end; ++o) {
      quant::dequantize_row(w.type, w.data + size_t(o) * w.row_bytes, row.data(), w.n_in);
      for (int64_t t = 0; t < n_tokens; ++t) {
        const float* xt = x + t * w.n_in;
        float sum = 0.0f;
        for (int64_t i = 0; i < w.n_in; ++i) sum += row[size_t(i)] * xt[i];
        y[t * w.n_out + o] = sum;
      }
    }
  });
}

}  // namespace lowbit::cpu
