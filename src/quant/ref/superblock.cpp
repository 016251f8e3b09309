// Steps 2 and 3 of search.h: putting the sub-block fits onto a super-block's
// integer scale lattice (d * sc, dmin * mc) with fp16 d and dmin, and the
// single-scale blocks (IQ4_NL, and Q4_0/Q4_1/Q5_0/Q5_1 with importance).
// Every error here is measured on the exact floats the dequantizer forms.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "quant/ref/search.h"

namespace lowbit::quant::ref {

namespace {

// Window (in lattice steps) of the fit that puts sub-block scales on d * sc.
constexpr float kLatticeSpan = 1.5f;
constexpr int kMinMaxRounds = 3;
constexpr int kSymRounds = 2;

// ---------------------------------------------------------------- scale and min

// x ~ e * q - o, q = round((x + o) / e) in 0..nmax; e = d * sc, o = dmin * mc.
float minmax_error(const float* x, const float* w, int n, int nmax, float e, float o) {
  float err = 0;
  if (e == 0) {
    for (int i = 0; i < n; ++i) err += w[i] * (x[i] + o) * (x[i] + o);
    return err;
  }
  const float inv = 1.f / e;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(std::clamp((x[i] + o) * inv, 0.f, float(nmax)));
    const float diff = x[i] - (e * float(l) - o);
    err += w[i] * diff * diff;
  }
  return err;
}

void minmax_levels(const float* x, int n, int nmax, float e, float o, uint8_t* q) {
  const float inv = e != 0 ? 1.f / e : 0.f;
  for (int i = 0; i < n; ++i) q[i] = uint8_t(nearest_int(std::clamp((x[i] + o) * inv, 0.f, float(nmax))));
}

struct Choice {
  int sc = 0, mc = 0;
  float err = std::numeric_limits<float>::infinity();
  bool valid = false;  // set by the first candidate, even when its error overflowed
};

// Sums of a sub-block's rounding q: sum w q, sum w q^2, sum w x q.
struct QSums {
  double q = 0, q2 = 0, xq = 0;
};

QSums q_sums(const float* x, const float* w, const uint8_t* q, int n) {
  float a = 0, b = 0, c = 0;
  for (int i = 0; i < n; ++i) {
    const float wq = w[i] * float(q[i]);
    a += wq;
    b += wq * float(q[i]);
    c += wq * x[i];
  }
  return QSums{a, b, c};
}

// Picks sub-block (sc, mc) for the given d, dmin near its continuous fit
// (scale s, min m); writes the rounding to q and its sums to qs. Raising the
// scale by one lattice step moves the best min along a ridge (the
// reconstructed range keeps its centre), so for each of 3 scales around s / d
// the 2 mins around that ridge are tried; then the least-squares (scale, min)
// of the winner's rounding, snapped to the lattice. sw, sx: sum w, sum w x.
Choice choose_minmax(const float* x, const float* w, const MinMaxShape& sh, float s, float m, double sw, double sx,
                     float d, float dmin, uint8_t* q, QSums& qs) {
  const int M = sh.sc_max, L = sh.sub_len;
  Choice best;
  auto consider = [&](int sc, int mc) {
    const float err = minmax_error(x, w, L, sh.nmax, d * float(sc), dmin * float(mc));
    if (err < best.err || !best.valid) best = Choice{sc, mc, err, true};
  };
  auto mins_for = [&](int sc) {
    if (!(dmin > 0)) {
      consider(sc, 0);
      return;
    }
    const float o = std::max(0.f, m + (d * float(sc) - s) * float(sh.nmax) * 0.5f);
    const int g = int(std::min(o / dmin, float(M)));
    consider(sc, std::clamp(g, 0, M));
    if (g + 1 <= M) consider(sc, g + 1);
  };
  if (d > 0 && s > 0) {
    const int f = int(std::min(s / d, float(M)));
    for (int sc = std::max(f - 1, 0); sc <= std::min(f + 1, M); ++sc) mins_for(sc);
  } else {
    mins_for(0);
  }
  minmax_levels(x, L, sh.nmax, d * float(best.sc), dmin * float(best.mc), q);
  qs = q_sums(x, w, q, L);
  // Least-squares (e, o) of the chosen rounding, snapped to the lattice.
  const double det = sw * qs.q2 - qs.q * qs.q;
  if (det > 1e-9 * sw * qs.q2) {
    const double e = (sw * qs.xq - sx * qs.q) / det, o = -(qs.q2 * sx - qs.q * qs.xq) / det;
    const int sc = d > 0 ? nearest_int(float(std::clamp(e / d, 0.0, double(M)))) : 0;
    const int mc = dmin > 0 ? nearest_int(float(std::clamp(o / dmin, 0.0, double(M)))) : 0;
    if (sc != best.sc || mc != best.mc) {
      const Choice prev = best;
      consider(sc, mc);
      if (best.sc != prev.sc || best.mc != prev.mc) {
        minmax_levels(x, L, sh.nmax, d * float(best.sc), dmin * float(best.mc), q);
        qs = q_sums(x, w, q, L);
      }
    }
  }
  return best;
}

}  // namespace

void solve_minmax_superblock(const MinMaxShape& sh, const float* x, const float* w, MinMaxResult& out) {
  const int ns = sh.n_sub, L = sh.sub_len, M = sh.sc_max;
  float s[16], m[16], ws[16], wm[16];
  double sw[16], sx[16];
  for (int j = 0; j < ns; ++j) {
    const AffineFit f = fit_affine(x + j * L, w + j * L, L, sh.nmax, sh.span, false);
    s[j] = f.scale;
    m[j] = -f.offset;
    ws[j] = float(f.sum_wq2);  // error per unit of scale error squared
    wm[j] = float(f.sum_w);    // error per unit of min error squared
    float a = 0, b = 0;
    for (int i = 0; i < L; ++i) {
      a += w[j * L + i];
      b += w[j * L + i] * x[j * L + i];
    }
    sw[j] = a;
    sx[j] = b;
  }
  const IntLevels lattice{0, M};
  float d = round_to_fp16(clamp_fp16_range(fit_scale(s, ws, ns, lattice, kLatticeSpan).scale));
  float dmin = round_to_fp16(clamp_fp16_range(fit_scale(m, wm, ns, lattice, kLatticeSpan).scale));

  float best_err = std::numeric_limits<float>::infinity();
  Choice cur[16];
  QSums sums[16];
  uint8_t q[QK_K];
  for (int round = 0; round < kMinMaxRounds; ++round) {
    float err = 0;
    for (int j = 0; j < ns; ++j) {
      cur[j] = choose_minmax(x + j * L, w + j * L, sh, s[j], m[j], sw[j], sx[j], d, dmin, q + j * L, sums[j]);
      err += cur[j].err;
    }
    if (round > 0 && !(err < best_err)) break;  // (round 0 always counts: errors may overflow to inf)
    best_err = err;
    out.d = float_to_fp16(d);
    out.dmin = float_to_fp16(dmin);
    for (int j = 0; j < ns; ++j) {
      out.sc[j] = uint8_t(cur[j].sc);
      out.mc[j] = uint8_t(cur[j].mc);
    }
    std::memcpy(out.q, q, size_t(ns * L));
    if (round + 1 == kMinMaxRounds) break;
    // Least-squares d, dmin for these integers: x ~ d * (sc q) - dmin * mc.
    double saa = 0, sab = 0, sbb = 0, sxa = 0, sxb = 0;
    for (int j = 0; j < ns; ++j) {
      const double sc = cur[j].sc, mc = cur[j].mc;
      saa += sc * sc * sums[j].q2;
      sab += sc * mc * sums[j].q;
      sbb += mc * mc * sw[j];
      sxa += sc * sums[j].xq;
      sxb += mc * sx[j];
    }
    const double det = saa * sbb - sab * sab;
    double nd = d, ndmin = dmin;
    if (sbb > 0 && det > 1e-12 * saa * sbb) {
      nd = (sxa * sbb - sab * sxb) / det;
      ndmin = (sab * sxa - saa * sxb) / det;
    } else if (saa > 0) {
      nd = (sxa + dmin * sab) / saa;
    }
    const float fd = round_to_fp16(clamp_fp16_range(float(std::max(nd, 0.0))));
    const float fdmin = round_to_fp16(clamp_fp16_range(float(std::max(ndmin, 0.0))));
    if (fd == d && fdmin == dmin) break;
    d = fd;
    dmin = fdmin;
  }
}

// ---------------------------------------------------------------- signed scale

namespace {

template <class Levels>
float sym_error(const float* x, const float* w, int n, const Levels& levels, float e) {
  float err = 0;
  if (e == 0) {
    for (int i = 0; i < n; ++i) err += w[i] * x[i] * x[i];
    return err;
  }
  const float inv = 1.f / e;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - e * levels.value(levels.index(x[i] * inv));
    err += w[i] * diff * diff;
  }
  return err;
}

template <class Levels>
void sym_levels(const float* x, int n, const Levels& levels, float e, uint8_t* q) {
  const float inv = e != 0 ? 1.f / e : 0.f;
  for (int i = 0; i < n; ++i) q[i] = uint8_t(levels.index(x[i] * inv));
}

// Picks sub-block sc for the given d: the two lattice points around s / d,
// then the least-squares scale of the winner's rounding, snapped.
template <class Levels>
Choice choose_sym(const float* x, const float* w, const SymShape& sh, const Levels& levels, float s, float d) {
  Choice best;
  auto consider = [&](int sc) {
    const float err = sym_error(x, w, sh.sub_len, levels, d * float(sc));
    if (err < best.err || !best.valid) best = Choice{sc, 0, err, true};
  };
  if (d == 0 || s == 0) {
    consider(0);
    return best;
  }
  const float f = std::clamp(s / d, float(sh.sc_lo), float(sh.sc_hi));
  const int fl = int(std::floor(f));
  consider(std::clamp(fl, sh.sc_lo, sh.sc_hi));
  if (fl + 1 <= sh.sc_hi) consider(fl + 1);
  uint8_t q[QK_K];
  sym_levels(x, sh.sub_len, levels, d * float(best.sc), q);
  double sxq = 0, sq2 = 0;
  for (int i = 0; i < sh.sub_len; ++i) {
    const double v = levels.value(q[i]);
    sxq += double(w[i]) * x[i] * v;
    sq2 += double(w[i]) * v * v;
  }
  if (sq2 > 0) {
    const int sc = nearest_int(std::clamp(float(sxq / sq2) / d, float(sh.sc_lo), float(sh.sc_hi)));
    if (sc != best.sc) consider(sc);
  }
  return best;
}

}  // namespace

template <class Levels>
void solve_sym_superblock(const SymShape& sh, const Levels& levels, const float* x, const float* w,
                          SymResult& out) {
  const int ns = sh.n_sub, L = sh.sub_len;
  float s[16], ws[16];
  for (int j = 0; j < ns; ++j) {
    const ScaleFit f = fit_scale(x + j * L, w + j * L, L, levels, sh.span);
    s[j] = f.scale;
    ws[j] = float(f.sum_wq2);
  }
  const IntLevels lattice{sh.sc_lo, sh.sc_hi};
  float d = round_to_fp16(clamp_fp16_range(fit_scale(s, ws, ns, lattice, kLatticeSpan).scale));

  float best_err = std::numeric_limits<float>::infinity();
  Choice cur[16];
  for (int round = 0; round < kSymRounds; ++round) {
    float err = 0;
    for (int j = 0; j < ns; ++j) {
      cur[j] = choose_sym(x + j * L, w + j * L, sh, levels, s[j], d);
      err += cur[j].err;
    }
    if (round > 0 && !(err < best_err)) break;  // (round 0 always counts: errors may overflow to inf)
    best_err = err;
    out.d = float_to_fp16(d);
    for (int j = 0; j < ns; ++j) {
      out.sc[j] = cur[j].sc;
      sym_levels(x + j * L, L, levels, d * float(cur[j].sc), out.q + j * L);
    }
    if (round + 1 == kSymRounds) break;
    // Least-squares d for these integers: x ~ d * (sc * level(q)).
    double sxa = 0, saa = 0;
    for (int j = 0; j < ns; ++j) {
      for (int i = 0; i < L; ++i) {
        const double a = double(out.sc[j]) * levels.value(out.q[j * L + i]);
        sxa += double(w[j * L + i]) * x[j * L + i] * a;
        saa += double(w[j * L + i]) * a * a;
      }
    }
    if (!(saa > 0)) break;
    const float nd = round_to_fp16(clamp_fp16_range(float(sxa / saa)));
    if (nd == d) break;
    d = nd;
  }
}

// ---------------------------------------------------------------- single-scale blocks

template <class Levels>
uint16_t solve_single_scale(const float* x, const float* w, int n, const Levels& levels, float span, uint8_t* q) {
  const ScaleFit f = fit_scale(x, w, n, levels, span);
  uint16_t best_d = float_to_fp16(clamp_fp16_range(f.scale));
  float best = sym_error(x, w, n, levels, fp16_to_float(best_d));
  auto consider = [&](uint16_t d16) {
    const float err = sym_error(x, w, n, levels, fp16_to_float(d16));
    if (!(err < best)) return false;
    best = err;
    best_d = d16;
    return true;
  };
  // Least-squares d for the current rounding (repeated while it helps) ...
  for (int it = 0; it < 2; ++it) {
    sym_levels(x, n, levels, fp16_to_float(best_d), q);
    double sxq = 0, sq2 = 0;
    for (int i = 0; i < n; ++i) {
      const double v = levels.value(q[i]);
      sxq += double(w[i]) * x[i] * v;
      sq2 += double(w[i]) * v * v;
    }
    if (!(sq2 > 0)) break;
    const uint16_t nd = float_to_fp16(clamp_fp16_range(float(sxq / sq2)));
    if (nd == best_d || !consider(nd)) break;
  }
  // ... then the neighbouring fp16 values.
  const uint16_t mag = best_d & 0x7fff;
  if (mag != 0 && mag < 0x7bff && !consider(uint16_t(best_d + 1))) consider(uint16_t(best_d - 1));
  sym_levels(x, n, levels, fp16_to_float(best_d), q);
  return best_d;
}

namespace {

// x ~ q * d + m, as the Q4_1/Q5_1 dequantizers compute it.
float affine_error(const float* x, const float* w, int n, int nmax, float d, float m, uint8_t* q) {
  float err = 0;
  const float inv = d != 0 ? 1.f / d : 0.f;
  for (int i = 0; i < n; ++i) {
    const int l = d != 0 ? nearest_int(std::clamp((x[i] - m) * inv, 0.f, float(nmax))) : 0;
    if (q) q[i] = uint8_t(l);
    const float diff = x[i] - (float(l) * d + m);
    err += w[i] * diff * diff;
  }
  return err;
}

}  // namespace

void solve_single_affine(const float* x, const float* w, int n, int nmax, uint16_t* d_out, uint16_t* m_out,
                         uint8_t* q) {
  const AffineFit f = fit_affine(x, w, n, nmax, 1.5f, true);
  uint16_t bd = float_to_fp16(clamp_fp16_range(f.scale)), bm = float_to_fp16(clamp_fp16_range(f.offset));
  float best = affine_error(x, w, n, nmax, fp16_to_float(bd), fp16_to_float(bm), q);
  for (int it = 0; it < 3; ++it) {
    double sw = 0, sx = 0, sq = 0, sq2 = 0, sxq = 0;
    for (int i = 0; i < n; ++i) {
      sw += w[i];
      sx += double(w[i]) * x[i];
      sq += double(w[i]) * q[i];
      sq2 += double(w[i]) * q[i] * q[i];
      sxq += double(w[i]) * x[i] * q[i];
    }
    const double det = sw * sq2 - sq * sq;
    if (!(det > 1e-9 * sw * sq2)) break;
    const uint16_t nd = float_to_fp16(clamp_fp16_range(float((sw * sxq - sx * sq) / det)));
    const uint16_t nm = float_to_fp16(clamp_fp16_range(float((sq2 * sx - sq * sxq) / det)));
    if (nd == bd && nm == bm) break;
    const float err = affine_error(x, w, n, nmax, fp16_to_float(nd), fp16_to_float(nm), nullptr);
    if (!(err < best)) break;
    best = err;
    bd = nd;
    bm = nm;
    affine_error(x, w, n, nmax, fp16_to_float(bd), fp16_to_float(bm), q);
  }
  *d_out = bd;
  *m_out = bm;
}

template void solve_sym_superblock<IntLevels>(const SymShape&, const IntLevels&, const float*, const float*,
                                              SymResult&);
template void solve_sym_superblock<Iq4Levels>(const SymShape&, const Iq4Levels&, const float*, const float*,
                                              SymResult&);
template uint16_t solve_single_scale<IntLevels>(const float*, const float*, int, const IntLevels&, float, uint8_t*);
template uint16_t solve_single_scale<Iq4Levels>(const float*, const float*, int, const Iq4Levels&, float, uint8_t*);

}  // namespace lowbit::quant::ref
