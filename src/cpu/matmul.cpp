// matmul driver: quantizes the activations once per call into the weight
// format's dot partner, then runs the fused tile kernels over blocks of
// output rows (split across threads) x blocks of tokens. Weight types without
// a fused kernel fall back to dequantize-row-then-float-dot.
//
// Blocking: each thread owns a contiguous range of output rows. Within it,
// kRowBlock rows (a few hundred KB of weights at most, L2-resident) are
// dotted with every token, kTokenBlock tokens per tile call; the tile kernel
// itself keeps a few rows x a few tokens in registers, so each weight byte is
// fetched from memory once per call and unpacked once per register tile.
#include "cpu/matmul.h"

#include <algorithm>
#include <span>
#include <vector>

#include "core/error.h"
#include "core/isa.h"
#include "core/parallel.h"
#include "cpu/kernels.h"
#include "quant/formats.h"

namespace lowbit::cpu {
namespace {

constexpr int64_t kTokenBlock = 64;
// Per-thread scratch row for the standard-layout activation before conversion.
std::vector<uint8_t>& scratch_row(size_t bytes) {
  thread_local std::vector<uint8_t> row;
  if (row.size() < bytes) row.resize(bytes);
  return row;
}
constexpr size_t kRowBlockBytes = 128 * 1024;
constexpr size_t kDecodeRowBlockBytes = size_t(2) << 20;

void check(const WeightMatrix& w) {
  const int64_t bs = block_size(w.type);
  if (w.n_in % bs != 0)
    fail("matmul: row length {} is not a multiple of the {} block size {}", w.n_in, type_name(w.type), bs);
  if (w.row_bytes < row_bytes(w.type, w.n_in))
    fail("matmul: {} rows of {} values need {} bytes, the matrix says {}", type_name(w.type), w.n_in,
         row_bytes(w.type, w.n_in), w.row_bytes);
  if (!w.data) fail("matmul: {} x {} {} weight has no data", w.n_out, w.n_in, type_name(w.type));
}

// Fallback for weight types without a fused kernel.
void matmul_dequantized(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) {
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

// How one matrix is multiplied: its tile kernel and the activation format
// that kernel takes.
struct Plan {
  const DotKernel* kernel;
  TileFn tile;
  QuantizeActFn quantize;
};

Plan plan_for(const WeightMatrix& w) {
  // A packed matrix is read by the level that packed it, whatever the active
  // level is now (tests switch levels; the CPU still has it).
  const Isa isa = w.layout == WeightLayout::Packed ? w.packed_for : active_isa();
  const DotKernel* kernel = find_dot_kernel(w.type, isa);
  const TileFn tile = w.layout == WeightLayout::Packed ? kernel->tile_packed : kernel->tile;
  if (!tile) fail("matmul: no kernel for packed {} weights", type_name(w.type));
  return {kernel, tile, find_act_quantizer(kernel->act, isa)};
}

// True when the two plans take the same activation bytes, so one quantized
// copy of x serves both.
bool same_activation(const Plan& a, const Plan& b) {
  return a.kernel->act == b.kernel->act && a.quantize == b.quantize &&
         a.kernel->tile_act_bytes == b.kernel->tile_act_bytes &&
         a.kernel->tile_act_from_standard == b.kernel->tile_act_from_standard;
}

// The fused path for matrices that share `plan`'s activation format, each
// with its own tile kernel (tiles[m]): x is quantized once, then one
// parallel job covers the rows of all of them. Each matrix's rows start at a
// multiple of the grain in the job's index space, so every chunk starts on a
// multiple of 16 rows (the packed layouts' units: row pairs, 16-row panels).
void matmul_fused(const Plan& plan, std::span<const MatmulOutput> outs, std::span<const TileFn> tiles,
                  const float* x, int64_t n_in, int64_t n_tokens) {
  const DotKernel* kernel = plan.kernel;
  const size_t std_bytes = activation_row_bytes(kernel->act, n_in);
  const bool private_layout = kernel->tile_act_from_standard != nullptr;
  const size_t act_bytes = private_layout ? kernel->tile_act_bytes(n_in) : std_bytes;

  // Reused across calls: decode calls matmul hundreds of times per token.
  // 64-byte aligned rows: the private layouts are read with aligned loads.
  thread_local std::vector<uint8_t> act_buffer;
  const size_t act_stride = (act_bytes + 63) & ~size_t(63);
  const size_t need = act_stride * size_t(n_tokens) + 64;
  if (act_buffer.size() < need) act_buffer.resize(need);
  uint8_t* act = act_buffer.data() + ((64 - reinterpret_cast<uintptr_t>(act_buffer.data()) % 64) % 64);
  auto prepare = [&](int64_t t, uint8_t* tmp) {
    uint8_t* out = act + size_t(t) * act_stride;
    if (!private_layout) {
      plan.quantize(x + t * n_in, out, n_in);
    } else {
      plan.quantize(x + t * n_in, tmp, n_in);
      kernel->tile_act_from_standard(tmp, out, n_in);
    }
  };
  if (n_tokens == 1) {
    std::vector<uint8_t>& tmp = scratch_row(std_bytes);
    prepare(0, tmp.data());
  } else {
    parallel_threads([&](int tid, int nthreads) {
      std::vector<uint8_t>& tmp = scratch_row(std_bytes);
      for (int64_t t = tid; t < n_tokens; t += nthreads) prepare(t, tmp.data());
    });
  }

  const int64_t grain = n_tokens == 1 ? 16 : 32;
  std::vector<int64_t> first_row(outs.size() + 1, 0);  // in the job's index space
  for (size_t m = 0; m < outs.size(); ++m)
    first_row[m + 1] = first_row[m] + (outs[m].w->n_out + grain - 1) / grain * grain;
  auto rows_of = [&](const WeightMatrix& w, TileFn tile, float* y, int64_t begin, int64_t end) {
    // Row blocks keep weights in L2 for the next token block. Decode has no
    // next one: its tile calls are large, so a kernel streams megabytes
    // without restarting its prefetch (kernels that repack a standard
    // matrix per call, AMX, do so in scratch of one block).
    const size_t block_bytes = n_tokens == 1 ? kDecodeRowBlockBytes : kRowBlockBytes;
    const int64_t row_block = std::max<int64_t>(16, int64_t(block_bytes / w.row_bytes) / 16 * 16);
    for (int64_t r0 = begin; r0 < end; r0 += row_block) {
      const int64_t nr = std::min(row_block, end - r0);
      for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenBlock) {
        const int64_t nt = std::min(kTokenBlock, n_tokens - t0);
        tile(n_in, w.data + size_t(r0) * w.row_bytes, w.row_bytes, nr, act + size_t(t0) * act_stride, act_stride,
                  nt, y + t0 * w.n_out + r0, w.n_out);
      }
    }
  };
  parallel_for(first_row.back(), grain, [&](int64_t begin, int64_t end) {
    for (size_t m = 0; m < outs.size(); ++m) {
      const int64_t b = std::max(begin, first_row[m]) - first_row[m];
      const int64_t e = std::min({end, first_row[m + 1], first_row[m] + outs[m].w->n_out}) - first_row[m];
      if (b < e) rows_of(*outs[m].w, tiles[m], outs[m].y, b, e);
    }
  });
}

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y) {
  const MatmulOutput one{&w, y};
  matmul_same_input(std::span<const MatmulOutput>(&one, 1), x, n_tokens);
}

void matmul_same_input(std::span<const MatmulOutput> outs, const float* x, int64_t n_tokens) {
  if (outs.empty()) return;
  const int64_t n_in = outs[0].w->n_in;
  for (const MatmulOutput& o : outs) {
    const WeightMatrix& w = *o.w;
    if (w.n_in < 0 || w.n_out < 0 || n_tokens < 0)
      fail("matmul: negative size ({} x {}, {} tokens)", w.n_out, w.n_in, n_tokens);
    if (w.n_in != n_in) fail("matmul: matrices of one input have rows of {} and {} values", n_in, w.n_in);
  }
  if (n_tokens == 0) return;
  // Matrices with the first fused one's activation format go into one job;
  // the rest (empty, without a fused kernel, another format) one by one.
  std::vector<MatmulOutput> fused;
  std::vector<TileFn> fused_tiles;
  std::vector<MatmulOutput> apart;
  Plan fused_plan{};
  for (const MatmulOutput& o : outs) {
    const WeightMatrix& w = *o.w;
    if (w.n_out == 0) continue;
    if (w.n_in == 0) {
      std::fill(o.y, o.y + n_tokens * w.n_out, 0.0f);
      continue;
    }
    check(w);
    if (!has_dot_kernel(w.type)) {
      matmul_dequantized(w, x, n_tokens, o.y);
      continue;
    }
    const Plan plan = plan_for(w);
    if (fused.empty()) fused_plan = plan;
    if (fused.empty() || same_activation(plan, fused_plan)) {
      fused.push_back(o);
      fused_tiles.push_back(plan.tile);
    } else {
      apart.push_back(o);
    }
  }
  if (!fused.empty()) matmul_fused(fused_plan, fused, fused_tiles, x, n_in, n_tokens);
  for (const MatmulOutput& o : apart) matmul(*o.w, x, n_tokens, o.y);
}

bool has_packed_layout(GgmlType t) {
  if (active_isa() < Isa::Avx512Vnni || !has_dot_kernel(t)) return false;
  const DotKernel* k = find_dot_kernel(t, active_isa());
  return k->pack_rows && k->tile_packed;
}

bool pack_for_matmul(WeightMatrix& w, uint8_t* writable) {
  if (w.layout != WeightLayout::Standard || !has_packed_layout(w.type) || w.n_out == 0) return false;
  check(w);
  // The packed layouts interleave rows (pairs, 16-row panels): rows must be dense.
  if (w.row_bytes != row_bytes(w.type, w.n_in)) return false;
  if (writable != w.data) fail("pack_for_matmul: the writable pointer is not the matrix's data");
  const Isa isa = active_isa();
  const DotKernel* k = find_dot_kernel(w.type, isa);
  // Chunks start at multiples of the grain (64), so on row pairs and 16-row
  // panels, as matmul's tiles do (its grains and row blocks are multiples of 16).
  parallel_for(w.n_out, 64, [&](int64_t begin, int64_t end) {
    k->pack_rows(writable + size_t(begin) * w.row_bytes, w.row_bytes, end - begin, w.n_in);
  });
  w.layout = WeightLayout::Packed;
  w.packed_for = isa;
  return true;
}

}  // namespace lowbit::cpu
