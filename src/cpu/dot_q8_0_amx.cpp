// AMX-INT8 kernels for Q8_0 weights (the Avx512Amx level).
//
// One tile multiply (tdpbssd) takes the int8 dot products of up to 16 tokens
// with 16 weight rows over one 32-value block:
//   A = the tokens' quants of the block     (tokens x 32 bytes)
//   B = the 16 rows' quants, VNNI order     (8 x 64 bytes: byte 64*(k/4) + 4*r + k%4 = quant k of row r)
//   C = the integer dots                    (tokens x 16 int32, lane r = row r)
// K is one block because every block has its own scales; the float part,
//   acc[t] (lane r) += float(C[t][r]) * (dw[r] * da[t])
// is three vector instructions per token and block. Measured on this
// Xeon: a K=32 tdpbssd ~17 ns, a tile load ~8-9 ns, the C tile store ~10 ns,
// the float part ~10 ns per block; so the kernel overlaps block b's store and
// float part with block b + 1's multiply, and runs the tile's (token tile,
// panel) pairs over chunks of blocks small enough to stay in L1 (scratch
// GEMM 4096 x 4096 x 64, one thread: ~1.3x over one pass per pair).
//
// Packed layout (WeightLayout::Packed at this level): every full panel of 16
// consecutive rows (16 * row_bytes, dense) becomes, block by block, its B
// tile (512 bytes) followed by the 16 rows' fp16 scales (32 bytes): 544 bytes
// = 16 standard blocks, so the same size and the same values. Rows past the
// last full panel stay standard. Standard-layout weights are packed a panel
// at a time into a thread-local copy and go through the same code, so both
// layouts give bit-identical results.
//
// A tile's fixed cost (loads, multiply, store: about 45 ns per block here)
// buys 16 tokens; for up to kVnniMaxTokens tokens (decode) the panels go
// through vpdpbusd instead, one broadcast activation dword per 16 rows, with
// the same float accumulation, so a token's result does not depend on how
// many tokens share the call.
//
// Activation layout (private to these kernels): per token, the nb blocks'
// quants back to back (32 bytes each), the nb scales as floats, then per
// block -128 * sum(quants) as int32 (the vpdpbusd path takes the weights as
// unsigned q + 128 and starts from it). A tiles are loaded straight from the
// quants with the token stride.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/page_prefetch.h"
#include "cpu/simd_avx512.h"
#include "quant/blocks.h"

namespace lowbit::cpu {
namespace {

using namespace lowbit::quant;
using namespace lowbit::cpu::avx512;

constexpr int kPanelRows = 16;
constexpr int kTileTokens = 16;
constexpr size_t kBTileBytes = 8 * 64;
constexpr size_t kPanelBlockBytes = kPanelRows * sizeof(BlockQ8_0);
static_assert(kPanelBlockBytes == kBTileBytes + kPanelRows * sizeof(uint16_t));

// The 64-byte operand of ldtilecfg (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};  // bytes per row of tile i
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64);

// Tiles: two sets (C, A, B) so that block b + 1's loads and multiply can run
// while block b's integer dots are converted.
#define LOWBIT_C0 0
#define LOWBIT_C1 1
#define LOWBIT_A0 2
#define LOWBIT_A1 3
#define LOWBIT_B0 4
#define LOWBIT_B1 5

void configure_tiles(int tokens) {
  TileConfig c;
  for (int i : {LOWBIT_C0, LOWBIT_C1}) c.rows[i] = uint8_t(tokens), c.colsb[i] = 64;
  for (int i : {LOWBIT_A0, LOWBIT_A1}) c.rows[i] = uint8_t(tokens), c.colsb[i] = 32;
  for (int i : {LOWBIT_B0, LOWBIT_B1}) c.rows[i] = 8, c.colsb[i] = 64;
  // Not _tile_loadconfig: GCC 12's macro tells the compiler only 8 of the 64
  // bytes are read, and the stores to the rest get optimised away.
  __asm__ volatile("ldtilecfg %0" : : "m"(c));
}

// Loads the tile configuration for the calling thread and releases the
// tile state when the kernel returns (no tile state outlives a call).
class TileSession {
 public:
  void use(int tokens) {
    if (tokens != tokens_) configure_tiles(tokens);
    tokens_ = tokens;
  }
  ~TileSession() {
    if (tokens_) _tile_release();
  }

 private:
  int tokens_ = 0;
};

// Block b of 16 standard rows (row[r] points at row r's blocks) as one panel block.
void pack_panel_block(const BlockQ8_0* const row[kPanelRows], int64_t b, uint8_t* out) {
  __m512i P[8], V[8];
  for (int p = 0; p < 8; ++p) P[p] = concat32(row[2 * p][b].qs, row[2 * p + 1][b].qs);
  transpose_16x8(P, V);  // V[k] lane r = quants 4k..4k+3 of row r
  for (int k = 0; k < 8; ++k) _mm512_storeu_si512(out + 64 * k, V[k]);
  uint16_t d16[kPanelRows];
  for (int r = 0; r < kPanelRows; ++r) d16[r] = row[r][b].d;
  std::memcpy(out + kBTileBytes, d16, sizeof(d16));
}

// Packs `valid` (1..16) standard rows starting at `rows` into `out` (nb panel
// blocks); rows past `valid` repeat the last one (their lanes are never stored).
void pack_panel(const uint8_t* rows, size_t stride, int valid, int64_t nb, uint8_t* out) {
  const BlockQ8_0* row[kPanelRows];
  for (int r = 0; r < kPanelRows; ++r)
    row[r] = reinterpret_cast<const BlockQ8_0*>(rows + size_t(std::min(r, valid - 1)) * stride);
  for (int64_t b = 0; b < nb; ++b) pack_panel_block(row, b, out + size_t(b) * kPanelBlockBytes);
}

void pack_rows_q8_0_amx(uint8_t* rows, size_t row_stride, int64_t n_rows, int64_t n) {
  const int64_t nb = n / QK;
  std::vector<uint8_t> copy(size_t(kPanelRows) * row_stride);
  for (int64_t p = 0; p + kPanelRows <= n_rows; p += kPanelRows) {
    uint8_t* panel = rows + size_t(p) * row_stride;
    std::memcpy(copy.data(), panel, copy.size());
    pack_panel(copy.data(), row_stride, kPanelRows, nb, panel);
  }
}

size_t act_bytes(int64_t n) { return size_t(n / QK) * (QK + sizeof(float) + sizeof(int32_t)); }

// The parts of one token's activation row.
struct ActRow {
  const int8_t* q;
  const float* d;
  const int32_t* neg_sum128;
};
inline ActRow act_row(const uint8_t* row, int64_t nb) {
  const auto* q = reinterpret_cast<const int8_t*>(row);
  const auto* d = reinterpret_cast<const float*>(q + nb * QK);
  return {q, d, reinterpret_cast<const int32_t*>(d + nb)};
}

void act_from_q8_0(const void* standard, void* out, int64_t n) {
  const int64_t nb = n / QK;
  const auto* in = static_cast<const BlockQ8_0*>(standard);
  const ActRow row = act_row(static_cast<const uint8_t*>(out), nb);
  auto* q = const_cast<int8_t*>(row.q);
  auto* d = const_cast<float*>(row.d);
  auto* neg_sum128 = const_cast<int32_t*>(row.neg_sum128);
  for (int64_t b = 0; b < nb; ++b) {
    std::memcpy(q + b * QK, in[b].qs, QK);
    d[b] = fp16(in[b].d);
    int32_t sum = 0;
    for (int k = 0; k < QK; ++k) sum += in[b].qs[k];
    neg_sum128[b] = -128 * sum;
  }
}

// Scales of one token tile, block-major: s[16 * b + t] = da(token t, block b),
// 0 for t >= nt, so one broadcast per token and block reads them.
void gather_token_scales(const uint8_t* act, size_t a_stride, int nt, int64_t nb, float* s) {
  std::fill_n(s, size_t(nb) * kTileTokens, 0.0f);
  for (int t = 0; t < nt; ++t) {
    const float* d = act_row(act + size_t(t) * a_stride, nb).d;
    for (int64_t b = 0; b < nb; ++b) s[b * kTileTokens + t] = d[b];
  }
}

// acc[t] += float(C[t]) * (dw * da[t]) for the 16 rows of C (tokens past nt
// have zero C rows and zero scales).
inline void accumulate_block(const int32_t (&c)[kTileTokens][16], const uint8_t* panel_block,
                             const float* scales, __m512 (&acc)[kTileTokens]) {
  const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel_block + kBTileBytes)));
#pragma GCC unroll 16
  for (int t = 0; t < kTileTokens; ++t)
    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c[t])), _mm512_mul_ps(dw, _mm512_set1_ps(scales[t])),
                             acc[t]);
}

// Float accumulators of one token tile x one panel, kept between block chunks.
struct alignas(64) TileAcc {
  float v[kTileTokens][16];
};

// One panel against nt <= 16 tokens over blocks [b0, b1) (A rows at act,
// a_stride apart; panel blocks at `panel`): acc[t] (lane r) += the blocks'
// products of token t and row r. Software-pipelined: block b's product is
// stored and converted while block b + 1's multiply runs, and each store is
// issued before the next multiply so its data can be read without waiting
// for that multiply to retire.
void panel_tile(const uint8_t* panel, int64_t b0, int64_t b1, const uint8_t* act, size_t a_stride,
                const float* scales, TileAcc& acc_io) {
  __m512 acc[kTileTokens];
  for (int t = 0; t < kTileTokens; ++t) acc[t] = _mm512_load_ps(acc_io.v[t]);
  // Tile stores write only the configured token rows: the rest stay zero.
  alignas(64) int32_t c0[kTileTokens][16] = {}, c1[kTileTokens][16] = {};
  const auto block = [&](int64_t b) { return panel + size_t(b) * kPanelBlockBytes; };
  const auto scales_of = [&](int64_t b) { return scales + b * kTileTokens; };
  _tile_loadd(LOWBIT_A0, act + b0 * QK, a_stride);
  _tile_loadd(LOWBIT_B0, block(b0), 64);
  _tile_zero(LOWBIT_C0);
  _tile_dpbssd(LOWBIT_C0, LOWBIT_A0, LOWBIT_B0);
  int64_t b = b0;
  for (; b + 2 <= b1; b += 2) {
    _tile_stored(LOWBIT_C0, c0, 64);
    _tile_loadd(LOWBIT_A1, act + (b + 1) * QK, a_stride);
    _tile_loadd(LOWBIT_B1, block(b + 1), 64);
    _tile_zero(LOWBIT_C1);
    _tile_dpbssd(LOWBIT_C1, LOWBIT_A1, LOWBIT_B1);
    accumulate_block(c0, block(b), scales_of(b), acc);
    _tile_stored(LOWBIT_C1, c1, 64);
    if (b + 2 < b1) {
      _tile_loadd(LOWBIT_A0, act + (b + 2) * QK, a_stride);
      _tile_loadd(LOWBIT_B0, block(b + 2), 64);
      _tile_zero(LOWBIT_C0);
      _tile_dpbssd(LOWBIT_C0, LOWBIT_A0, LOWBIT_B0);
    }
    accumulate_block(c1, block(b + 1), scales_of(b + 1), acc);
  }
  if (b < b1) {  // odd count: block b is in C0
    _tile_stored(LOWBIT_C0, c0, 64);
    accumulate_block(c0, block(b), scales_of(b), acc);
  }
  for (int t = 0; t < kTileTokens; ++t) _mm512_store_ps(acc_io.v[t], acc[t]);
}

constexpr int kVnniMaxTokens = 4;
constexpr int64_t kPrefetchBlocks = 8;
constexpr int64_t kChunkBlocks = 32;  // 16, 32 and 64 measured level

// One panel against NT <= kVnniMaxTokens tokens with vpdpbusd: vector k of a
// panel block holds quants 4k..4k+3 of the 16 rows, so each broadcast
// activation dword feeds all 16 rows. Accumulates exactly as panel_tile.
template <int NT>
void panel_vnni(const uint8_t* panel, int64_t nb, const uint8_t* act, size_t a_stride, int valid, float* y,
                int64_t y_stride) {
  ActRow a[NT];
  for (int t = 0; t < NT; ++t) a[t] = act_row(act + size_t(t) * a_stride, nb);
  __m512 acc[NT];
  for (auto& v : acc) v = _mm512_setzero_ps();
  const __m512i bias = _mm512_set1_epi8(int8_t(0x80));
  PageKick kick;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = panel + size_t(b) * kPanelBlockBytes;
    kick.at(blk);
    // Decode streams the panel from DRAM: fetch a block further on ahead of
    // use (8 blocks, about a page: 4 and 16 were no better on a 4096 x 11008
    // GEMV), and kick the page prefetcher (page_prefetch.h); prefetches never fault.
    const char* ahead = reinterpret_cast<const char*>(blk) + kPrefetchBlocks * kPanelBlockBytes;
    for (size_t off = 0; off < kPanelBlockBytes; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
    __m512i w[8];
    for (int k = 0; k < 8; ++k) w[k] = _mm512_xor_si512(_mm512_loadu_si512(blk + 64 * k), bias);  // q + 128
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kBTileBytes)));
    for (int t = 0; t < NT; ++t) {
      // two dependency chains (integer sums: the split does not change them)
      __m512i isum = _mm512_set1_epi32(a[t].neg_sum128[b]), isum_hi = _mm512_setzero_si512();
      for (int k = 0; k < 4; ++k) {
        isum = _mm512_dpbusd_epi32(isum, w[k], _mm512_set1_epi32(load_u32(a[t].q + b * QK + 4 * k)));
        isum_hi = _mm512_dpbusd_epi32(isum_hi, w[k + 4], _mm512_set1_epi32(load_u32(a[t].q + b * QK + 4 * k + 16)));
      }
      isum = _mm512_add_epi32(isum, isum_hi);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, _mm512_set1_ps(a[t].d[b])), acc[t]);
    }
  }
  const __mmask16 rows = __mmask16((1u << valid) - 1);
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * y_stride, rows, acc[t]);
}

// Rows [0, n_rows) of w against the tokens; the first `packed_panels` panels
// are in the packed layout, the rest standard (packed per call into scratch).
void amx_tile(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, int64_t packed_panels,
              const uint8_t* a, size_t a_stride, int64_t n_tok, float* y, int64_t y_stride) {
  const int64_t nb = n / QK;
  const int64_t panels = (n_rows + kPanelRows - 1) / kPanelRows;
  thread_local std::vector<uint8_t> scratch_panels;
  const int64_t standard_panels = panels - packed_panels;
  if (standard_panels > 0) {
    scratch_panels.resize(size_t(standard_panels) * size_t(nb) * kPanelBlockBytes);
    for (int64_t p = packed_panels; p < panels; ++p)
      pack_panel(w + size_t(p * kPanelRows) * w_stride, w_stride, int(std::min<int64_t>(kPanelRows, n_rows - p * kPanelRows)),
                 nb, scratch_panels.data() + size_t(p - packed_panels) * size_t(nb) * kPanelBlockBytes);
  }
  const auto panel_at = [&](int64_t p) {
    return p < packed_panels ? w + size_t(p * kPanelRows) * w_stride
                             : scratch_panels.data() + size_t(p - packed_panels) * size_t(nb) * kPanelBlockBytes;
  };
  const auto valid_rows = [&](int64_t p) { return int(std::min<int64_t>(kPanelRows, n_rows - p * kPanelRows)); };
  // Token tiles of more than kVnniMaxTokens go through the tile multiply,
  // the rest (decode, a short last tile) through vpdpbusd.
  const int64_t tiles = (n_tok + kTileTokens - 1) / kTileTokens;
  const auto tokens_in = [&](int64_t i) { return int(std::min<int64_t>(kTileTokens, n_tok - i * kTileTokens)); };
  const auto act_of = [&](int64_t i) { return a + size_t(i * kTileTokens) * a_stride; };
  int64_t amx_tiles = 0;
  while (amx_tiles < tiles && tokens_in(amx_tiles) > kVnniMaxTokens) ++amx_tiles;
  if (amx_tiles > 0) {
    thread_local std::vector<float> scales;  // per AMX token tile: gather_token_scales
    thread_local std::vector<TileAcc> accs;  // per AMX token tile x panel
    scales.resize(size_t(amx_tiles * nb) * kTileTokens);
    accs.assign(size_t(amx_tiles * panels), TileAcc{});
    for (int64_t i = 0; i < amx_tiles; ++i)
      gather_token_scales(act_of(i), a_stride, tokens_in(i), nb, scales.data() + size_t(i * nb) * kTileTokens);
    TileSession session;
    // Chunks of kChunkBlocks blocks: one token tile's activations and one
    // panel's weights of a chunk (16 + 17 KB) stay in L1 while every
    // (token tile, panel) pair runs over them.
    for (int64_t c0 = 0; c0 < nb; c0 += kChunkBlocks) {
      const int64_t c1 = std::min(nb, c0 + kChunkBlocks);
      for (int64_t i = 0; i < amx_tiles; ++i) {
        session.use(tokens_in(i));
        for (int64_t p = 0; p < panels; ++p)
          panel_tile(panel_at(p), c0, c1, act_of(i), a_stride, scales.data() + size_t(i * nb) * kTileTokens,
                     accs[size_t(i * panels + p)]);
      }
    }
    for (int64_t i = 0; i < amx_tiles; ++i)
      for (int64_t p = 0; p < panels; ++p) {
        const __mmask16 rows = __mmask16((1u << valid_rows(p)) - 1);
        for (int t = 0; t < tokens_in(i); ++t)
          _mm512_mask_storeu_ps(y + (i * kTileTokens + t) * y_stride + p * kPanelRows, rows,
                                _mm512_load_ps(accs[size_t(i * panels + p)].v[t]));
      }
  }
  for (int64_t i = amx_tiles; i < tiles; ++i)
    for (int64_t p = 0; p < panels; ++p) {
      const uint8_t* act = act_of(i);
      float* yp = y + i * kTileTokens * y_stride + p * kPanelRows;
      switch (tokens_in(i)) {
        case 1: panel_vnni<1>(panel_at(p), nb, act, a_stride, valid_rows(p), yp, y_stride); break;
        case 2: panel_vnni<2>(panel_at(p), nb, act, a_stride, valid_rows(p), yp, y_stride); break;
        case 3: panel_vnni<3>(panel_at(p), nb, act, a_stride, valid_rows(p), yp, y_stride); break;
        default: panel_vnni<4>(panel_at(p), nb, act, a_stride, valid_rows(p), yp, y_stride); break;
      }
    }
}

void tile_standard(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a, size_t a_stride,
                   int64_t n_tok, float* y, int64_t y_stride) {
  amx_tile(n, w, w_stride, n_rows, 0, a, a_stride, n_tok, y, y_stride);
}

// matmul calls packed tiles on rows starting at a multiple of 16, so the
// call's full panels are packed and a short rest is the matrix's last rows.
void tile_packed(int64_t n, const uint8_t* w, size_t w_stride, int64_t n_rows, const uint8_t* a, size_t a_stride,
                 int64_t n_tok, float* y, int64_t y_stride) {
  amx_tile(n, w, w_stride, n_rows, n_rows / kPanelRows, a, a_stride, n_tok, y, y_stride);
}

// One row against one standard Q8_0 activation, through the decode path
// (so it agrees with the tiles bit for bit; only tests call it).
float vec_dot(int64_t n, const void* w, const void* a) {
  const int64_t nb = n / QK;
  thread_local std::vector<uint8_t> act, panel;
  act.resize(act_bytes(n));
  panel.resize(size_t(nb) * kPanelBlockBytes);
  act_from_q8_0(a, act.data(), n);
  pack_panel(static_cast<const uint8_t*>(w), 0, 1, nb, panel.data());
  float y = 0;
  panel_vnni<1>(panel.data(), nb, act.data(), 0, 1, &y, 1);
  return y;
}

}  // namespace

const DotKernel* amx_kernel(GgmlType weight) {
  if (weight != GgmlType::Q8_0) return nullptr;
  static const DotKernel kQ8_0 = [] {
    DotKernel k = *avx512_kernel(GgmlType::Q8_0);
    k.vec_dot = &vec_dot;
    k.tile = &tile_standard;
    k.tile_act_bytes = &act_bytes;
    k.tile_act_from_standard = &act_from_q8_0;
    k.pack_rows = &pack_rows_q8_0_amx;
    k.tile_packed = &tile_packed;
    return k;
  }();
  return &kQ8_0;
}

}  // namespace lowbit::cpu
