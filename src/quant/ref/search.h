// Shared machinery of the scalar quantizers: rounding, level sets, and the
// searches for scales that minimise the weighted squared error
//   E = sum_i w_i (x_i - xhat_i)^2.
//
// Method (used by every K-quant and IQ4 format):
//  1. per sub-block, a continuous fit: over a window of inverse scales, score
//     each rounding by its least-squares scale (and offset) error, keep the
//     best, then polish by re-rounding at the fitted scale (search.cpp does
//     this with bucketed level crossings instead of a pass per candidate);
//  2. quantize the sub-block scales onto the super-block's integer lattice
//     d * sc (the same fit, weighted by each sub-block's sensitivity);
//  3. alternate: for the fp16-rounded d, pick each sub-block's integer scale
//     (and min) among its nearest lattice points by the exact error; then
//     re-solve d (and dmin) by least squares over the whole super-block and
//     round to fp16 again; keep the best seen.
// Every error is measured on exactly the values the dequantizer produces.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/half.h"
#include "quant/blocks.h"

namespace lowbit::quant::ref {

// Round to nearest, ties to even, valid for |v| < 2^22 (llama.cpp's nearest_int).
inline int nearest_int(float v) {
  float t = v + 12582912.f;
  int32_t i;
  std::memcpy(&i, &t, 4);
  return (i & 0x007fffff) - 0x00400000;
}

inline float round_to_fp16(float v) { return fp16_to_float(float_to_fp16(v)); }

// Largest finite fp16; scales are clamped to it so a block never stores inf.
constexpr float kMaxFp16 = 65504.f;
inline float clamp_fp16_range(float v) { return std::clamp(v, -kMaxFp16, kMaxFp16); }

// Integer levels lo..hi; index k stands for the value lo + k.
struct IntLevels {
  int lo, hi;
  float min_value() const { return float(lo); }
  float max_value() const { return float(hi); }
  int count() const { return hi - lo + 1; }
  int index(float v) const { return nearest_int(std::clamp(v, float(lo), float(hi))) - lo; }
  float value(int k) const { return float(lo + k); }
};

// The 16 IQ4_NL levels. index() finds the nearest level from floor(2v):
// all midpoints between neighbouring levels are multiples of 1/2.
struct Iq4Levels {
  float min_value() const { return -127.f; }
  float max_value() const { return 113.f; }
  int count() const { return 16; }
  int index(float v) const;
  float value(int k) const { return float(kvalues_iq4nl[k]); }
};

// Result of a scale-only fit x ~ scale * level(q).
struct ScaleFit {
  float scale = 0;
  double sum_wq2 = 0;  // sum w * level^2 at the fit: the sensitivity to a scale error
};

// Best scale for x ~ scale * level(q) over weights w (n <= 256 values, w >= 0).
// Searches the inverse scales that put the first weight to reach an end level
// within `span` level units of it (both signs of the scale), then polishes by
// re-rounding at the fitted scale.
template <class Levels>
ScaleFit fit_scale(const float* x, const float* w, int n, const Levels& levels, float span);

// Result of an affine fit x ~ scale * q + offset, q in 0..nmax.
struct AffineFit {
  float scale = 0;
  float offset = 0;
  double sum_wq2 = 0;
  double sum_w = 0;
};

// Best affine fit; the offset is kept <= 0 unless allow_positive_offset
// (K-quants store the min as a non-negative amount subtracted). Searches the
// roundings q = round(T (x - min)) for T in [(nmax - span), (nmax + span)] / (max - min).
AffineFit fit_affine(const float* x, const float* w, int n, int nmax, float span, bool allow_positive_offset);

// ---- super-block solvers (step 2 and 3 above)

// x ~ d * sc_j * q - dmin * mc_j for sub-block j, q in 0..nmax, sc, mc in 0..sc_max.
struct MinMaxShape {
  int n_sub;    // sub-blocks per super-block
  int sub_len;  // weights per sub-block
  int nmax;     // largest q
  int sc_max;   // largest sc / mc
  float span;   // search window of the sub-block fit (fit_affine)
};
struct MinMaxResult {
  uint16_t d = 0, dmin = 0;  // fp16 bits
  uint8_t sc[16] = {}, mc[16] = {};
  uint8_t q[QK_K] = {};
};
// w: n_sub * sub_len weights (no zero-sum sub-block; callers substitute ones).
void solve_minmax_superblock(const MinMaxShape& shape, const float* x, const float* w, MinMaxResult& out);

// x ~ d * sc_j * level(q), sc in sc_lo..sc_hi.
struct SymShape {
  int n_sub;
  int sub_len;
  int sc_lo, sc_hi;
  float span;  // search window of the sub-block fit (fit_scale)
};
struct SymResult {
  uint16_t d = 0;
  int sc[16] = {};
  uint8_t q[QK_K] = {};  // level indices
};
template <class Levels>
void solve_sym_superblock(const SymShape& shape, const Levels& levels, const float* x, const float* w,
                          SymResult& out);

// A single fp16 scale for the whole block: x ~ d * level(q).
// Returns the fp16 bits of d and the level indices in q.
template <class Levels>
uint16_t solve_single_scale(const float* x, const float* w, int n, const Levels& levels, float span, uint8_t* q);

// x ~ d * q + m with fp16 d and m, q in 0..nmax (Q4_1 / Q5_1 with importance).
void solve_single_affine(const float* x, const float* w, int n, int nmax, uint16_t* d, uint16_t* m, uint8_t* q);

// Copies `importance` (or ones when null) into w; any block of `group` weights
// whose sum is not positive gets ones, so every fit has something to weigh.
void make_weights(const float* importance, int n, int group, float* w);

}  // namespace lowbit::quant::ref
