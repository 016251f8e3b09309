// Scale searches shared by the quantizers (method described in search.h).
#include "quant/ref/search.h"

#include <array>
#include <cmath>
#include <limits>

namespace lowbit::quant::ref {

namespace {

// Nearest IQ4 level for every floor(2v) in [-256, 255]: level k is chosen once
// 2v reaches kvalues[k-1] + kvalues[k] (ties go up, like ggml).
constexpr std::array<uint8_t, 512> make_iq4_index_table() {
  std::array<uint8_t, 512> t{};
  for (int i = 0; i < 512; ++i) {
    const int two_v = i - 256;
    int k = 0;
    while (k < 15 && two_v >= kvalues_iq4nl[k] + kvalues_iq4nl[k + 1]) ++k;
    t[i] = uint8_t(k);
  }
  return t;
}
constexpr std::array<uint8_t, 512> kIq4Index = make_iq4_index_table();

}  // namespace

int Iq4Levels::index(float v) const {
  v = std::clamp(v, -128.f, 127.f);
  const int f = int(std::floor(2.f * v));
  return kIq4Index[size_t(f + 256)];
}

// ---------------------------------------------------------------- fits

template <class Levels>
static void level_sums(const float* x, const float* w, int n, const Levels& levels, float t, double& s1,
                       double& s2) {
  s1 = 0;
  s2 = 0;
  for (int i = 0; i < n; ++i) {
    const float q = levels.value(levels.index(t * x[i]));
    s1 += double(w[i]) * x[i] * q;
    s2 += double(w[i]) * q * q;
  }
}

template <class Levels>
ScaleFit fit_scale(const float* x, const float* w, int n, const Levels& levels, int steps, float step) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  ScaleFit r;
  if (!(amax > 1e-30f)) return r;
  double best = -1, bs1 = 0, bs2 = 0;
  const float edges[2] = {levels.min_value(), levels.max_value()};
  for (float edge : edges) {
    if (edge == 0) continue;
    const float t0 = edge / max;
    for (int k = -steps; k <= steps; ++k) {
      double s1, s2;
      level_sums(x, w, n, levels, t0 * (1.f + float(k) * step), s1, s2);
      if (s2 > 0 && s1 * s1 > best * s2) {
        best = s1 * s1 / s2;
        bs1 = s1;
        bs2 = s2;
      }
    }
  }
  if (!(bs2 > 0)) return r;
  // Polish: re-round at the fitted scale while that helps.
  for (int it = 0; it < 3; ++it) {
    const double s = bs1 / bs2;
    if (s == 0) break;
    double s1, s2;
    level_sums(x, w, n, levels, float(1.0 / s), s1, s2);
    if (!(s2 > 0 && s1 * s1 > best * s2 * (1 + 1e-12))) break;
    best = s1 * s1 / s2;
    bs1 = s1;
    bs2 = s2;
  }
  r.scale = float(bs1 / bs2);
  r.sum_wq2 = bs2;
  return r;
}

namespace {

struct AffineSums {
  double w = 0, x = 0;          // sum w, sum w x (fixed per block)
  double q = 0, q2 = 0, xq = 0;  // sum w q, sum w q^2, sum w x q
};

// Least-squares (scale, offset) for the rounding that produced `s`; returns
// false when it cannot be fitted. score = sum w x^2 - error (bigger is better).
bool solve_affine(const AffineSums& s, bool allow_positive, double& scale, double& offset, double& score) {
  const double det = s.w * s.q2 - s.q * s.q;
  if (!(det > 1e-9 * s.w * s.q2)) {
    // Every weight on the same level (a constant block): no offset needed.
    if (!(s.q2 > 0)) return false;
    offset = 0;
    scale = s.xq / s.q2;
  } else {
    scale = (s.w * s.xq - s.x * s.q) / det;
    offset = (s.q2 * s.x - s.q * s.xq) / det;
  }
  if (!allow_positive && offset > 0) {
    offset = 0;
    scale = s.xq / s.q2;
  }
  if (!(scale > 0)) return false;
  score = 2 * scale * s.xq + 2 * offset * s.x - scale * scale * s.q2 - 2 * scale * offset * s.q -
          offset * offset * s.w;
  return true;
}

void affine_sums(const float* x, const float* w, int n, int nmax, float inv_scale, float base, AffineSums& s) {
  s.q = s.q2 = s.xq = 0;
  for (int i = 0; i < n; ++i) {
    const int q = nearest_int(std::clamp((x[i] - base) * inv_scale, 0.f, float(nmax)));
    s.q += double(w[i]) * q;
    s.q2 += double(w[i]) * q * q;
    s.xq += double(w[i]) * x[i] * q;
  }
}

}  // namespace

AffineFit fit_affine(const float* x, const float* w, int n, int nmax, int steps, float step,
                     bool allow_positive_offset) {
  float mn = x[0], mx = x[0];
  AffineSums s;
  for (int i = 0; i < n; ++i) {
    mn = std::min(mn, x[i]);
    mx = std::max(mx, x[i]);
    s.w += w[i];
    s.x += double(w[i]) * x[i];
  }
  const float lo = allow_positive_offset ? mn : std::min(mn, 0.f);
  AffineFit r;
  r.sum_w = s.w;
  r.offset = lo;
  if (!(mx > lo)) return r;  // constant block: the offset says it all

  double best = -std::numeric_limits<double>::infinity();
  double best_scale = 0, best_offset = lo, best_q2 = 0;
  for (int k = -steps; k <= steps; ++k) {
    const float t = (float(nmax) + float(k) * step) / (mx - lo);
    affine_sums(x, w, n, nmax, t, lo, s);
    double scale, offset, score;
    if (solve_affine(s, allow_positive_offset, scale, offset, score) && score > best) {
      best = score;
      best_scale = scale;
      best_offset = offset;
      best_q2 = s.q2;
    }
  }
  if (!(best_scale > 0)) {
    // Every rounding put all weights on one level: plain offset.
    r.offset = allow_positive_offset ? float(s.x / s.w) : std::min(0.f, float(s.x / s.w));
    return r;
  }
  for (int it = 0; it < 3; ++it) {
    affine_sums(x, w, n, nmax, float(1.0 / best_scale), float(best_offset), s);
    double scale, offset, score;
    if (!solve_affine(s, allow_positive_offset, scale, offset, score) || !(score > best * (1 + 1e-12))) break;
    best = score;
    best_scale = scale;
    best_offset = offset;
    best_q2 = s.q2;
  }
  r.scale = float(best_scale);
  r.offset = float(best_offset);
  r.sum_wq2 = best_q2;
  return r;
}

// ---------------------------------------------------------------- min/max super-blocks

namespace {

// Error of one sub-block for integer scale sc and min mc; writes the best q.
double eval_minmax(const float* x, const float* w, int n, int nmax, float d, float dmin, int sc, int mc,
                   uint8_t* q) {
  const float e = d * float(sc);  // exactly as the dequantizer forms them
  const float o = dmin * float(mc);
  double err = 0;
  if (e == 0) {
    for (int i = 0; i < n; ++i) {
      q[i] = 0;
      const float diff = x[i] + o;
      err += double(w[i]) * diff * diff;
    }
    return err;
  }
  const float inv = 1.f / e;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(std::clamp((x[i] + o) * inv, 0.f, float(nmax)));
    q[i] = uint8_t(l);
    const float diff = x[i] - (e * float(l) - o);
    err += double(w[i]) * diff * diff;
  }
  return err;
}

// Picks sub-block j's (sc, mc) near its continuous fit (scale s, min m) for
// the given d, dmin; returns the error.
double choose_minmax(const float* x, const float* w, const MinMaxShape& sh, float s, float m, float d, float dmin,
                     uint8_t& sc_out, uint8_t& mc_out, uint8_t* q_out) {
  const int M = sh.sc_max;
  int sc_c[2] = {0, 0}, mc_c[2] = {0, 0};
  int n_sc = 1, n_mc = 1;
  if (d > 0 && s > 0) {
    const int f = int(std::floor(std::min(s / d, float(M))));
    sc_c[0] = std::clamp(f, 0, M);
    sc_c[1] = std::clamp(f + 1, 0, M);
    n_sc = sc_c[1] != sc_c[0] ? 2 : 1;
  }
  if (dmin > 0 && m > 0) {
    const int f = int(std::floor(std::min(m / dmin, float(M))));
    mc_c[0] = std::clamp(f, 0, M);
    mc_c[1] = std::clamp(f + 1, 0, M);
    n_mc = mc_c[1] != mc_c[0] ? 2 : 1;
  }
  uint8_t qtmp[QK_K];
  double best = std::numeric_limits<double>::infinity();
  int best_sc = 0, best_mc = 0;
  for (int a = 0; a < n_sc; ++a) {
    for (int b = 0; b < n_mc; ++b) {
      const double err = eval_minmax(x, w, sh.sub_len, sh.nmax, d, dmin, sc_c[a], mc_c[b], qtmp);
      if (err < best) {
        best = err;
        best_sc = sc_c[a];
        best_mc = mc_c[b];
        std::memcpy(q_out, qtmp, size_t(sh.sub_len));
      }
    }
  }
  // Polish: least-squares (scale, min) for the chosen q, snapped to the lattice.
  for (int it = 0; it < 2; ++it) {
    AffineSums s2;
    for (int i = 0; i < sh.sub_len; ++i) {
      s2.w += w[i];
      s2.x += double(w[i]) * x[i];
      s2.q += double(w[i]) * q_out[i];
      s2.q2 += double(w[i]) * q_out[i] * q_out[i];
      s2.xq += double(w[i]) * x[i] * q_out[i];
    }
    double scale, offset, score;
    if (!solve_affine(s2, false, scale, offset, score)) break;
    const int nsc = d > 0 ? std::clamp(nearest_int(float(std::min(scale / d, double(M)))), 0, M) : 0;
    const int nmc = dmin > 0 ? std::clamp(nearest_int(float(std::min(-offset / dmin, double(M)))), 0, M) : 0;
    if (nsc == best_sc && nmc == best_mc) break;
    const double err = eval_minmax(x, w, sh.sub_len, sh.nmax, d, dmin, nsc, nmc, qtmp);
    if (!(err < best)) break;
    best = err;
    best_sc = nsc;
    best_mc = nmc;
    std::memcpy(q_out, qtmp, size_t(sh.sub_len));
  }
  sc_out = uint8_t(best_sc);
  mc_out = uint8_t(best_mc);
  return best;
}

}  // namespace

void solve_minmax_superblock(const MinMaxShape& sh, const float* x, const float* w, MinMaxResult& out) {
  const int ns = sh.n_sub, L = sh.sub_len, M = sh.sc_max;
  float s[16], m[16], ws[16], wm[16];
  for (int j = 0; j < ns; ++j) {
    const AffineFit f = fit_affine(x + j * L, w + j * L, L, sh.nmax, sh.steps, sh.step, false);
    s[j] = f.scale;
    m[j] = -f.offset;
    ws[j] = float(f.sum_wq2);
    wm[j] = float(f.sum_w);
  }
  const IntLevels lattice{0, M};
  const float lattice_step = 0.15f / float(M);
  float d = round_to_fp16(clamp_fp16_range(fit_scale(s, ws, ns, lattice, 4, lattice_step).scale));
  float dmin = round_to_fp16(clamp_fp16_range(fit_scale(m, wm, ns, lattice, 4, lattice_step).scale));

  double best_err = std::numeric_limits<double>::infinity();
  MinMaxResult cur;
  for (int round = 0; round < 4; ++round) {
    double err = 0;
    for (int j = 0; j < ns; ++j)
      err += choose_minmax(x + j * L, w + j * L, sh, s[j], m[j], d, dmin, cur.sc[j], cur.mc[j], cur.q + j * L);
    if (err < best_err) {
      best_err = err;
      cur.d = float_to_fp16(d);
      cur.dmin = float_to_fp16(dmin);
      out = cur;
    } else {
      break;
    }
    // Least-squares d, dmin for these integers: x ~ d * a - dmin * b.
    double saa = 0, sab = 0, sbb = 0, sxa = 0, sxb = 0;
    for (int j = 0; j < ns; ++j) {
      const double b = cur.mc[j];
      for (int i = 0; i < L; ++i) {
        const double wi = w[j * L + i], xi = x[j * L + i];
        const double a = double(cur.sc[j]) * cur.q[j * L + i];
        saa += wi * a * a;
        sab += wi * a * b;
        sbb += wi * b * b;
        sxa += wi * xi * a;
        sxb += wi * xi * b;
      }
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

// ---------------------------------------------------------------- symmetric super-blocks

namespace {

template <class Levels>
double eval_sym(const float* x, const float* w, int n, const Levels& levels, float d, int sc, uint8_t* q) {
  const float e = d * float(sc);
  double err = 0;
  if (e == 0) {
    const uint8_t z = uint8_t(levels.index(0.f));
    for (int i = 0; i < n; ++i) {
      q[i] = z;
      err += double(w[i]) * x[i] * x[i];
    }
    return err;
  }
  const float inv = 1.f / e;
  for (int i = 0; i < n; ++i) {
    const int l = levels.index(x[i] * inv);
    q[i] = uint8_t(l);
    const float diff = x[i] - e * levels.value(l);
    err += double(w[i]) * diff * diff;
  }
  return err;
}

template <class Levels>
double choose_sym(const float* x, const float* w, const SymShape& sh, const Levels& levels, float s, float d,
                  int& sc_out, uint8_t* q_out) {
  int c[2] = {0, 0};
  int nc = 1;
  if (d != 0 && s != 0) {
    const float f = std::clamp(s / d, float(sh.sc_lo), float(sh.sc_hi));
    const int fl = int(std::floor(f));
    c[0] = std::clamp(fl, sh.sc_lo, sh.sc_hi);
    c[1] = std::clamp(fl + 1, sh.sc_lo, sh.sc_hi);
    nc = c[1] != c[0] ? 2 : 1;
  }
  uint8_t qtmp[QK_K];
  double best = std::numeric_limits<double>::infinity();
  int best_sc = 0;
  for (int a = 0; a < nc; ++a) {
    const double err = eval_sym(x, w, sh.sub_len, levels, d, c[a], qtmp);
    if (err < best) {
      best = err;
      best_sc = c[a];
      std::memcpy(q_out, qtmp, size_t(sh.sub_len));
    }
  }
  for (int it = 0; it < 2 && d != 0; ++it) {
    double sxq = 0, sq2 = 0;
    for (int i = 0; i < sh.sub_len; ++i) {
      const double v = levels.value(q_out[i]);
      sxq += double(w[i]) * x[i] * v;
      sq2 += double(w[i]) * v * v;
    }
    if (!(sq2 > 0)) break;
    const float e = float(sxq / sq2);
    const int nsc = nearest_int(std::clamp(e / d, float(sh.sc_lo), float(sh.sc_hi)));
    if (nsc == best_sc) break;
    const double err = eval_sym(x, w, sh.sub_len, levels, d, nsc, qtmp);
    if (!(err < best)) break;
    best = err;
    best_sc = nsc;
    std::memcpy(q_out, qtmp, size_t(sh.sub_len));
  }
  sc_out = best_sc;
  return best;
}

}  // namespace

template <class Levels>
void solve_sym_superblock(const SymShape& sh, const Levels& levels, const float* x, const float* w,
                          SymResult& out) {
  const int ns = sh.n_sub, L = sh.sub_len;
  float s[16], ws[16];
  for (int j = 0; j < ns; ++j) {
    const ScaleFit f = fit_scale(x + j * L, w + j * L, L, levels, sh.steps, sh.step);
    s[j] = f.scale;
    ws[j] = float(f.sum_wq2);
  }
  const IntLevels lattice{sh.sc_lo, sh.sc_hi};
  const float lattice_step = 0.15f / float(-sh.sc_lo);
  float d = round_to_fp16(clamp_fp16_range(fit_scale(s, ws, ns, lattice, 4, lattice_step).scale));

  double best_err = std::numeric_limits<double>::infinity();
  SymResult cur;
  for (int round = 0; round < 4; ++round) {
    double err = 0;
    for (int j = 0; j < ns; ++j) err += choose_sym(x + j * L, w + j * L, sh, levels, s[j], d, cur.sc[j], cur.q + j * L);
    if (err < best_err) {
      best_err = err;
      cur.d = float_to_fp16(d);
      out = cur;
    } else {
      break;
    }
    double sxa = 0, saa = 0;
    for (int j = 0; j < ns; ++j) {
      for (int i = 0; i < L; ++i) {
        const double a = double(cur.sc[j]) * levels.value(cur.q[j * L + i]);
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
static double eval_single(const float* x, const float* w, int n, const Levels& levels, float d, uint8_t* q) {
  if (d == 0) {
    const uint8_t z = uint8_t(levels.index(0.f));
    double err = 0;
    for (int i = 0; i < n; ++i) {
      q[i] = z;
      err += double(w[i]) * x[i] * x[i];
    }
    return err;
  }
  const float inv = 1.f / d;
  double err = 0;
  for (int i = 0; i < n; ++i) {
    const int l = levels.index(x[i] * inv);
    q[i] = uint8_t(l);
    const float diff = x[i] - levels.value(l) * d;
    err += double(w[i]) * diff * diff;
  }
  return err;
}

template <class Levels>
uint16_t solve_single_scale(const float* x, const float* w, int n, const Levels& levels, int steps, float step,
                            uint8_t* q) {
  const ScaleFit f = fit_scale(x, w, n, levels, steps, step);
  uint16_t best_d = float_to_fp16(clamp_fp16_range(f.scale));
  uint8_t qtmp[QK_K];
  double best = eval_single(x, w, n, levels, fp16_to_float(best_d), q);
  // Least-squares d for the current rounding, then the fp16 neighbours.
  for (int it = 0; it < 2; ++it) {
    double sxq = 0, sq2 = 0;
    for (int i = 0; i < n; ++i) {
      const double v = levels.value(q[i]);
      sxq += double(w[i]) * x[i] * v;
      sq2 += double(w[i]) * v * v;
    }
    if (!(sq2 > 0)) break;
    const uint16_t nd = float_to_fp16(clamp_fp16_range(float(sxq / sq2)));
    if (nd == best_d) break;
    const double err = eval_single(x, w, n, levels, fp16_to_float(nd), qtmp);
    if (!(err < best)) break;
    best = err;
    best_d = nd;
    std::memcpy(q, qtmp, size_t(n));
  }
  if ((best_d & 0x7fff) != 0 && (best_d & 0x7fff) < 0x7bff) {
    for (int delta : {-1, 1}) {
      const uint16_t nd = uint16_t(best_d + delta);
      const double err = eval_single(x, w, n, levels, fp16_to_float(nd), qtmp);
      if (err < best) {
        best = err;
        best_d = nd;
        std::memcpy(q, qtmp, size_t(n));
        break;
      }
    }
  }
  return best_d;
}

static double eval_affine(const float* x, const float* w, int n, int nmax, float d, float m, uint8_t* q) {
  double err = 0;
  const float inv = d != 0 ? 1.f / d : 0.f;
  for (int i = 0; i < n; ++i) {
    const int l = d != 0 ? nearest_int(std::clamp((x[i] - m) * inv, 0.f, float(nmax))) : 0;
    q[i] = uint8_t(l);
    const float diff = x[i] - (float(l) * d + m);  // as the dequantizer: q*d + m
    err += double(w[i]) * diff * diff;
  }
  return err;
}

void solve_single_affine(const float* x, const float* w, int n, int nmax, uint16_t* d_out, uint16_t* m_out,
                         uint8_t* q) {
  const AffineFit f = fit_affine(x, w, n, nmax, 9, 0.1f, true);
  uint16_t bd = float_to_fp16(clamp_fp16_range(f.scale)), bm = float_to_fp16(clamp_fp16_range(f.offset));
  uint8_t qtmp[QK_K];
  double best = eval_affine(x, w, n, nmax, fp16_to_float(bd), fp16_to_float(bm), q);
  for (int it = 0; it < 3; ++it) {
    AffineSums s;
    for (int i = 0; i < n; ++i) {
      s.w += w[i];
      s.x += double(w[i]) * x[i];
      s.q += double(w[i]) * q[i];
      s.q2 += double(w[i]) * q[i] * q[i];
      s.xq += double(w[i]) * x[i] * q[i];
    }
    double scale, offset, score;
    if (!solve_affine(s, true, scale, offset, score)) break;
    const uint16_t nd = float_to_fp16(clamp_fp16_range(float(scale)));
    const uint16_t nm = float_to_fp16(clamp_fp16_range(float(offset)));
    if (nd == bd && nm == bm) break;
    const double err = eval_affine(x, w, n, nmax, fp16_to_float(nd), fp16_to_float(nm), qtmp);
    if (!(err < best)) break;
    best = err;
    bd = nd;
    bm = nm;
    std::memcpy(q, qtmp, size_t(n));
  }
  *d_out = bd;
  *m_out = bm;
}

void make_weights(const float* importance, int n, int group, float* w) {
  for (int g = 0; g < n; g += group) {
    double sum = 0;
    if (importance) {
      for (int i = g; i < g + group; ++i) {
        w[i] = importance[i];
        sum += w[i];
      }
    }
    if (!(sum > 0)) {
      for (int i = g; i < g + group; ++i) w[i] = 1.f;
    }
  }
}

template ScaleFit fit_scale<IntLevels>(const float*, const float*, int, const IntLevels&, int, float);
template ScaleFit fit_scale<Iq4Levels>(const float*, const float*, int, const Iq4Levels&, int, float);
template void solve_sym_superblock<IntLevels>(const SymShape&, const IntLevels&, const float*, const float*,
                                              SymResult&);
template void solve_sym_superblock<Iq4Levels>(const SymShape&, const Iq4Levels&, const float*, const float*,
                                              SymResult&);
template uint16_t solve_single_scale<IntLevels>(const float*, const float*, int, const IntLevels&, int, float,
                                                uint8_t*);
template uint16_t solve_single_scale<Iq4Levels>(const float*, const float*, int, const Iq4Levels&, int, float,
                                                uint8_t*);

}  // namespace lowbit::quant::ref
