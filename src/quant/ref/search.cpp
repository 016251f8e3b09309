// Continuous fits of one block (step 1 in search.h): the best scale, or scale
// and offset, over the roundings inside a window of inverse scales T.
//
// As T grows, weight i changes level exactly when T * x_i crosses a midpoint
// between two levels. Instead of re-rounding every weight for each candidate
// T (a grid search: one full pass per candidate), each weight's crossings in
// the window are added, as changes of the least-squares sums, to one of a
// fixed number of buckets of T; a prefix sum over the buckets then gives the
// sums of the rounding at every bucket edge. The cost is one pass plus about
// one crossing per weight plus a few operations per bucket, for the accuracy
// of a dense grid (kAffineBuckets / kScaleBuckets points over the window).
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "quant/ref/search.h"

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

// Grid points (bucket edges) per window. The affine fits gain a little from
// more; the scale-only fits not at all (their polish step converges anyway).
constexpr int kAffineBuckets = 24;
constexpr int kScaleBuckets = 16;

// Searches T over [t_lo, t_hi] for y = sign * x, q_i = index(T * y_i), keeping
// the rounding with the largest s1^2 / s2 (the least-squares error is
// sum w x^2 - s1^2 / s2). best_s1 is reported for x (sign applied).
template <class Levels>
void sweep_scale(const float* x, const float* w, int n, const Levels& levels, float sign, float t_lo, float t_hi,
                 double& best, double& best_s1, double& best_s2) {
  // Changes of (s1, s2) per bucket of T: a rounding change at T lands in
  // bucket floor((T - t_lo) / width); after bucket b the sums are those of
  // the rounding at T = t_lo + (b + 1) * width.
  constexpr int kBuckets = kScaleBuckets;
  float d1[kBuckets] = {}, d2[kBuckets] = {};
  const float inv_width = float(kBuckets) / (t_hi - t_lo);
  const int top = levels.count() - 1;
  double s1 = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    const float y = sign * x[i];
    int l = levels.index(t_lo * y);
    float v = levels.value(l);
    const float wi = w[i];
    s1 += wi * y * v;
    s2 += wi * v * v;
    if (y == 0) continue;
    const float inv_y = 1.f / y;
    const int step = y > 0 ? 1 : -1;
    for (int nl = l + step; nl >= 0 && nl <= top; nl += step) {
      const float t = 0.5f * (levels.value(nl - step) + levels.value(nl)) * inv_y;
      if (t > t_hi) break;
      const int b = std::clamp(int((t - t_lo) * inv_width), 0, kBuckets - 1);
      const float nv = levels.value(nl);
      d1[b] += wi * y * (nv - v);
      d2[b] += wi * (nv * nv - v * v);
      v = nv;
    }
  }
  for (int b = -1; b < kBuckets; ++b) {
    if (b >= 0) {
      s1 += d1[b];
      s2 += d2[b];
    }
    if (s2 > 0 && s1 * s1 > best * s2) {
      best = s1 * s1 / s2;
      best_s1 = sign * s1;
      best_s2 = s2;
    }
  }
}

template <class Levels>
void level_sums(const float* x, const float* w, int n, const Levels& levels, float t, double& s1, double& s2) {
  s1 = 0;
  s2 = 0;
  for (int i = 0; i < n; ++i) {
    const float q = levels.value(levels.index(t * x[i]));
    s1 += double(w[i]) * x[i] * q;
    s2 += double(w[i]) * q * q;
  }
}

struct AffineSums {
  double w = 0, x = 0;           // sum w, sum w x (fixed per block)
  double q = 0, q2 = 0, xq = 0;  // sum w q, sum w q^2, sum w x q
};

// Least-squares (scale, offset) for the rounding summed in `s`; false when it
// cannot be fitted (no positive scale). score = sum w x^2 - error.
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

// Rounding sums for q = round((x - base) * inv_scale) in 0..nmax.
void affine_sums(const float* x, const float* w, int n, int nmax, float inv_scale, float base, AffineSums& s) {
  float a = 0, b = 0, c = 0;
  for (int i = 0; i < n; ++i) {
    const float q = float(nearest_int(std::clamp((x[i] - base) * inv_scale, 0.f, float(nmax))));
    const float wq = w[i] * q;
    a += wq;
    b += wq * q;
    c += wq * x[i];
  }
  s.q = a;
  s.q2 = b;
  s.xq = c;
}

}  // namespace

int Iq4Levels::index(float v) const {
  // floor(2v) for 2v in [-256, 254]: truncation of a positive number.
  const float c = std::clamp(v, -128.f, 127.f);
  const int f = int(2.f * c + 512.f) - 512;
  return kIq4Index[size_t(f + 256)];
}

template <class Levels>
ScaleFit fit_scale(const float* x, const float* w, int n, const Levels& levels, float span) {
  float mn = 0, mx = 0;
  for (int i = 0; i < n; ++i) {
    mn = std::min(mn, x[i]);
    mx = std::max(mx, x[i]);
  }
  ScaleFit r;
  if (!(std::max(mx, -mn) > 1e-30f)) return r;
  double best = -1, bs1 = 0, bs2 = 0;
  // Both signs of the scale. For each, the window is centred where the first
  // weight reaches an end level (the top one for the largest y = sign * x, the
  // bottom one for the smallest) and spans `span` level units either side.
  const float hi = levels.max_value(), lo = levels.min_value();
  for (float sign : {1.f, -1.f}) {
    const float ymax = sign > 0 ? mx : -mn, ymin = sign > 0 ? mn : -mx;
    const float t_top = ymax > 0 && hi > 0 ? hi / ymax : INFINITY;
    const float t_bottom = ymin < 0 && lo < 0 ? lo / ymin : INFINITY;
    const bool top_first = t_top <= t_bottom;
    const float e = top_first ? hi : -lo, a = top_first ? ymax : -ymin;
    if (!(a > 0) || !(e > 0)) continue;
    const float t_lo = std::max(e - span, 0.5f * e) / a, t_hi = (e + span) / a;
    sweep_scale(x, w, n, levels, sign, t_lo, t_hi, best, bs1, bs2);
  }
  if (!(bs2 > 0)) return r;
  // Polish: re-rounding at the fitted scale is never worse; refit while it helps.
  for (int it = 0; it < 2; ++it) {
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

AffineFit fit_affine(const float* x, const float* w, int n, int nmax, float span, bool allow_positive_offset) {
  float mn = x[0], mx = x[0], sw = 0, sx = 0;
  for (int i = 0; i < n; ++i) {
    mn = std::min(mn, x[i]);
    mx = std::max(mx, x[i]);
    sw += w[i];
    sx += w[i] * x[i];
  }
  AffineSums s;
  s.w = sw;
  s.x = sx;
  const float lo = allow_positive_offset ? mn : std::min(mn, 0.f);
  AffineFit r;
  r.sum_w = s.w;
  r.offset = lo;
  if (!(mx > lo)) return r;  // constant block: the offset says it all

  // Search T over the window, q_i = round(T (x_i - lo)) in 0..nmax.
  const float range = mx - lo;
  const float t_lo = std::max(float(nmax) - span, 0.5f * float(nmax)) / range;
  const float t_hi = (float(nmax) + span) / range;
  constexpr int kBuckets = kAffineBuckets;
  float dq[kBuckets] = {}, dq2[kBuckets] = {}, dxq[kBuckets] = {};
  const float inv_width = float(kBuckets) / (t_hi - t_lo);
  float sq = 0, sq2 = 0, sxq = 0;
  for (int i = 0; i < n; ++i) {
    const float y = x[i] - lo;
    int l = nearest_int(std::clamp(t_lo * y, 0.f, float(nmax)));
    const float wi = w[i], wl = wi * float(l);
    sq += wl;
    sq2 += wl * float(l);
    sxq += wl * x[i];
    if (!(y > 0)) continue;
    const float inv_y = 1.f / y;
    for (; l < nmax; ++l) {
      const float t = (float(l) + 0.5f) * inv_y;
      if (t > t_hi) break;
      const int b = std::min(int((t - t_lo) * inv_width), kBuckets - 1);
      dq[b] += wi;
      dq2[b] += wi * float(2 * l + 1);
      dxq[b] += wi * x[i];
    }
  }
  s.q = sq;
  s.q2 = sq2;
  s.xq = sxq;
  // Scores a rounding by its least-squares error without solving for the
  // scale and offset (done once, for the winner).
  double best = -std::numeric_limits<double>::infinity();
  AffineSums best_sums = s;
  for (int b = -1; b < kBuckets; ++b) {
    if (b >= 0) {
      if (dq[b] == 0) continue;
      s.q += dq[b];
      s.q2 += dq2[b];
      s.xq += dxq[b];
    }
    const double det = s.w * s.q2 - s.q * s.q;
    double score;
    if (!(det > 1e-9 * s.w * s.q2) || (!allow_positive_offset && s.q2 * s.x - s.q * s.xq > 0)) {
      if (!(s.xq > 0)) continue;  // offset 0: scale = xq / q2 must be positive
      score = s.xq * s.xq / s.q2;
    } else {
      if (!(s.w * s.xq - s.x * s.q > 0)) continue;
      score = (s.w * s.xq * s.xq - 2 * s.q * s.x * s.xq + s.q2 * s.x * s.x) / det;
    }
    if (score > best) {
      best = score;
      best_sums = s;
    }
  }
  double best_scale = 0, best_offset = lo, best_q2 = best_sums.q2;
  if (best > -std::numeric_limits<double>::infinity())
    solve_affine(best_sums, allow_positive_offset, best_scale, best_offset, best);
  if (!(best_scale > 0)) {
    // No rounding could be fitted with a positive scale: a plain offset.
    r.offset = allow_positive_offset ? float(s.x / s.w) : std::min(0.f, float(s.x / s.w));
    return r;
  }
  // Polish: re-round at the fitted scale and offset, refit while it helps.
  for (int it = 0; it < 2; ++it) {
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

template ScaleFit fit_scale<IntLevels>(const float*, const float*, int, const IntLevels&, float);
template ScaleFit fit_scale<Iq4Levels>(const float*, const float*, int, const Iq4Levels&, float);

}  // namespace lowbit::quant::ref
