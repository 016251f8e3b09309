// Vectorized K-quant / IQ4 searches, written once over a 16-lane float vector
// type V (defined by the including *_avx512.cpp / *_avx2.cpp before this
// header, with the operations listed in kquant_avx512.cpp). NOT a standalone
// header: include it only from an ISA file, inside that file's namespace.
//
// Layout: 16 consecutive sub-blocks are processed together, one per lane
// (a Group; 1 super-block of 16 sub-blocks or 2 of 8). Row X[i] holds
// element i of every sub-block, so every per-sub-block loop of the scalar
// reference (quant/ref/search.h) becomes one pass over X[0..L) with no
// horizontal work. The method is the reference's, with a grid of candidate
// inverse scales in place of its bucketed crossing sweep:
//  1. per sub-block: a grid over a per-format window, polish twice. The
//     windows come from where the best candidates fall on real weights: for
//     scale-only formats far below the scale that maps the largest |x| onto
//     the end level (6-bit: down to 6 levels below) and hardly above it, so
//     one sign with 8-10 points beats the reference's symmetric sweep;
//  2. per super-block: the sub-block scales onto the d * sc lattice (a small
//     search over its 8-16 values, lattice_scales);
//  3. alternate: pick each sub-block's integers near the lattice by exact
//     error, then least-squares d (and dmin) in fp16; keep the best. Each
//     candidate's error comes from the sums of its rounding (taken about the
//     sub-block mean, so constant sub-blocks keep their precision), and the
//     same sums feed the refits; levels are rounded once at the end.
// Input is transposed in 4x4 tiles, output levels in 16x16 byte tiles.
// Output depends only on the input block, never on threads or batching.

constexpr int kLanes = 16;

struct Group {
  int L = 0;  // weights per sub-block (16 or 32)
  V x[32], w[32];
};

// Transposes a 4x4 float tile: src rows (stride src_stride) to dst rows.
inline void transpose4x4(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + src_stride);
  __m128 r2 = _mm_loadu_ps(src + 2 * src_stride), r3 = _mm_loadu_ps(src + 3 * src_stride);
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  _mm_store_ps(dst, r0);
  _mm_store_ps(dst + dst_stride, r1);
  _mm_store_ps(dst + 2 * dst_stride, r2);
  _mm_store_ps(dst + 3 * dst_stride, r3);
}

// Fills g from 16 sub-blocks of L weights at x; sub-blocks >= valid are zeros.
// Importance per column (or null: ones); a sub-block whose importance sums
// to <= 0 gets ones, like ref::make_weights. Sub-block j (L floats at
// x + j * L) becomes lane j, transposed in 4x4 tiles.
inline void load_group(Group& g, const float* x, const float* importance, int L, int valid) {
  alignas(64) float t[32][kLanes];
  g.L = L;
  alignas(16) static const float zeros[32] = {};
  auto transpose_in = [&](const float* src, V* out) {
    for (int j = 0; j < kLanes; j += 4) {
      if (j + 4 <= valid) {
        for (int i = 0; i < L; i += 4) transpose4x4(src + j * L + i, L, &t[i][j], kLanes);
      } else {
        for (int i = 0; i < L; ++i)
          for (int k = j; k < j + 4; ++k) t[i][k] = k < valid ? src[k * L + i] : zeros[i];
      }
    }
    for (int i = 0; i < L; ++i) out[i] = V::load(t[i]);
  };
  transpose_in(x, g.x);
  if (!importance) {
    for (int i = 0; i < L; ++i) g.w[i] = V(1.f);
    return;
  }
  transpose_in(importance, g.w);
  V sum(0.f);
  for (int i = 0; i < L; ++i) sum = sum + g.w[i];
  const M use = gt(sum, V(0.f));  // false for padding lanes (zeros) too
  for (int i = 0; i < L; ++i) g.w[i] = sel(use, g.w[i], V(1.f));
}

// 16x16 byte transpose: rows[i][j] -> dst[j][i]. Four rounds of interleaving
// row k with row k + 8 bring byte (i, j) to (j, i).
inline void transpose16x16_bytes(const uint8_t (*rows)[16], uint8_t* const* dst) {
  __m128i x[16], t[16];
  for (int i = 0; i < 16; ++i) x[i] = _mm_load_si128(reinterpret_cast<const __m128i*>(rows[i]));
  for (int round = 0; round < 4; ++round) {
    for (int k = 0; k < 8; ++k) {
      t[2 * k] = _mm_unpacklo_epi8(x[k], x[k + 8]);
      t[2 * k + 1] = _mm_unpackhi_epi8(x[k], x[k + 8]);
    }
    for (int k = 0; k < 16; ++k) x[k] = t[k];
  }
  for (int j = 0; j < 16; ++j) _mm_storeu_si128(reinterpret_cast<__m128i*>(dst[j]), x[j]);
}

// Levels q[0..L) (lane j = sub-block j, small non-negative integers as
// floats) to bytes: lane j's L levels go to dst[j].
inline void store_levels(const V* q, int L, uint8_t* const* dst) {
  alignas(16) uint8_t rows[32][16];
  for (int i = 0; i < L; ++i) store_bytes(q[i], rows[i]);
  for (int i0 = 0; i0 < L; i0 += 16) {
    uint8_t* d[16];
    for (int j = 0; j < 16; ++j) d[j] = dst[j] + i0;
    transpose16x16_bytes(rows + i0, d);
  }
}

inline V clampv(V v, float lo, float hi) { return vmin(vmax(v, V(lo)), V(hi)); }
inline V inv_or_zero(V e) { return sel(ne(e, V(0.f)), V(1.f) / e, V(0.f)); }
// Per super-block sums of a group's lanes (lane j belongs to super-block j / ns).
inline void super_block_sums(V v, int ns, float* out) {
  if (ns == kLanes) {
    out[0] = hsum(v);
  } else {
    const M first = M(uint32_t((1u << ns) - 1));
    out[0] = hsum(sel(first, v, V(0.f)));
    out[1] = hsum(sel(first, V(0.f), v));
  }
}

// Step 2: fp16 d so that the sub-block scales s_j ~ d * sc_j, sc_j integers
// in lo..hi, least weighted error sum w_j (s_j - d sc_j)^2, for every
// super-block of the group at once (lane j belongs to super-block j / ns).
// Candidates put the largest |s_j| at or up to 2.5 steps below the end of the
// lattice (a far cheaper search than ref::fit_scale's window for n <= 16
// values), then the least-squares d of the best rounding, twice. Fills d per
// lane (fp16-rounded; 0 for padding lanes and all-zero super-blocks).
inline void lattice_scales(V s, V w, int ns, int n_super, int lo, int hi, float* d) {
  alignas(64) float sl[kLanes];
  s.store(sl);
  float amax[2] = {0, 0}, best_d[2] = {0, 0}, best[2] = {INFINITY, INFINITY};
  for (int b = 0; b < n_super; ++b)
    for (int j = b * ns; j < (b + 1) * ns; ++j)
      if (std::fabs(sl[j]) > std::fabs(amax[b])) amax[b] = sl[j];
  // Per super-block weighted error (and the least-squares sums) of scale db[b].
  const M first = M(uint32_t((1u << ns) - 1));  // lanes of super-block 0
  auto sums = [&](V v, float* out) { super_block_sums(v, ns, out); };
  auto evaluate = [&](const float* db, float* err, double* sxa, double* saa) {
    const float d0 = db[0] != 0 ? db[0] : 1.f, d1 = n_super > 1 && db[1] != 0 ? db[1] : 1.f;
    const V D = sel(first, V(d0), V(d1));
    const V sc = vround(clampv(s / D, float(lo), float(hi)));
    const V diff = s - D * sc, wsc = w * sc;
    sums(w * diff * diff, err);
    if (!sxa) return;
    float a[2], b[2];
    sums(wsc * s, a);
    sums(wsc * sc, b);
    for (int k = 0; k < 2; ++k) sxa[k] = a[k], saa[k] = b[k];
  };
  float db[2], err[2];
  for (int k = 0; k < 6; ++k) {
    for (int b = 0; b < n_super; ++b) {
      const float top = (amax[b] > 0 ? float(hi) : float(-lo)) - 0.5f * float(k);
      db[b] = top > 0.5f ? std::fabs(amax[b]) / top * (amax[b] > 0 ? 1.f : -1.f) : 0.f;
    }
    evaluate(db, err, nullptr, nullptr);
    for (int b = 0; b < n_super; ++b)
      if (db[b] != 0 && err[b] < best[b]) best[b] = err[b], best_d[b] = db[b];
  }
  bool active[2] = {best_d[0] != 0, n_super > 1 && best_d[1] != 0};
  for (int it = 0; it < 2 && (active[0] || active[1]); ++it) {
    double sxa[2], saa[2];
    evaluate(best_d, err, sxa, saa);
    for (int b = 0; b < n_super; ++b) {
      db[b] = best_d[b];
      if (!active[b]) continue;
      const float nd = saa[b] > 0 ? float(sxa[b] / saa[b]) : 0.f;
      if (nd == 0 || nd == best_d[b]) active[b] = false;
      else db[b] = nd;
    }
    evaluate(db, err, nullptr, nullptr);
    for (int b = 0; b < n_super; ++b) {
      if (!active[b]) continue;
      if (err[b] < best[b]) best[b] = err[b], best_d[b] = db[b];
      else active[b] = false;
    }
  }
  const float r0 = ref::round_to_fp16(ref::clamp_fp16_range(best_d[0]));
  const float r1 = n_super > 1 ? ref::round_to_fp16(ref::clamp_fp16_range(best_d[1])) : 0.f;
  for (int j = 0; j < kLanes; ++j) d[j] = j < ns ? r0 : r1;
}

// ============================================================ scale and min

struct MinMaxShapeF {
  int ns, L, nmax, M;
  float below, above;  // step 1 window: nmax - below .. nmax + above levels over the range
  int grid;            // step 1 candidates in that window
  int rounds;          // step 3 alternations at most
};
struct MinMaxOutF {
  uint16_t d = 0, dmin = 0;
  uint8_t sc[16] = {}, mc[16] = {}, q[QK_K] = {};
};

// True where a rounding has (numerically) one level only: its weighted
// variance varq is rounding noise of the float sums (the reference works in
// double and uses a tighter bound).
inline M no_spread(V varq, V sq2) { return le(varq, V(1e-5f) * sq2); }

// Least-squares score (sum w x^2 minus the error) of the rounding whose sums
// are given, offset <= 0 (see ref fit_affine); -inf when not fittable.
inline V affine_score(V sw, V sx, V sq, V sq2, V sxq) {
  const M offset_positive = gt(sq2 * sx - sq * sxq, V(0.f));
  const V cov = sxq - sq * sx / sw, varq = sq2 - sq * sq / sw;
  const M no_det = no_spread(varq, sq2);
  const V score_a = cov * cov / varq + sx * sx / sw;
  const V score_b = sxq * sxq / sq2;
  const V ninf(-INFINITY);
  const V a = sel(gt(sw * sxq - sx * sq, V(0.f)), score_a, ninf);
  const V b = sel(gt(sxq, V(0.f)), score_b, ninf);
  return sel(offset_positive | no_det, b, a);
}
inline void affine_solve(V sw, V sx, V sq, V sq2, V sxq, V& scale, V& offset) {
  const M offset_positive = gt(sq2 * sx - sq * sxq, V(0.f));
  const V cov = sxq - sq * sx / sw, varq = sq2 - sq * sq / sw;
  const M no_det = no_spread(varq, sq2);
  const V sa = cov / varq;
  const V oa = (sx - sa * sq) / sw;
  const M use_b = offset_positive | no_det;
  scale = sel(use_b, sxq / sq2, sa);
  offset = sel(use_b, V(0.f), oa);
}

// Sums of the rounding q = clamp(round((x - base) * inv), 0, nmax).
// w[i] * v, or v where every weight is 1 (no importance: one op less per weight).
template <bool Weighted>
inline V weigh(const Group& g, int i, V v) {
  if constexpr (Weighted) return g.w[i] * v;
  return v;
}

template <bool Weighted>
inline void affine_sums(const Group& g, int nmax, V inv, V base, V& sq, V& sq2, V& sxq) {
  sq = sq2 = sxq = V(0.f);
  const V c = V(0.f) - base * inv;
  for (int i = 0; i < g.L; ++i) {
    const V q = vmin(vround(vmax(fmadd(g.x[i], inv, c), V(0.f))), V(float(nmax)));
    const V wq = weigh<Weighted>(g, i, q);
    sq = sq + wq;
    sq2 = fmadd(wq, q, sq2);
    sxq = fmadd(wq, g.x[i], sxq);
  }
}

template <bool Weighted>
inline void quantize_minmax_group(const MinMaxShapeF& sh, const Group& g, int n_super, MinMaxOutF* out) {
  const float nmax = float(sh.nmax), Mx = float(sh.M);
  V mn(0.f), mx = g.x[0], sw(0.f), sx(0.f);
  for (int i = 0; i < g.L; ++i) {
    mn = vmin(mn, g.x[i]);
    mx = vmax(mx, g.x[i]);
    sw = sw + g.w[i];
    sx = fmadd(g.w[i], g.x[i], sx);
  }
  // Step 1: grid over T in [t0, t1] / range, then polish.
  const V range = mx - mn;
  const V inv_range = sel(gt(range, V(0.f)), V(1.f) / range, V(0.f));
  const float t0 = std::max(nmax - sh.below, 0.5f * nmax), t1 = nmax + sh.above;
  V best(-INFINITY), bq(0.f), bq2(0.f), bxq(0.f);
  for (int k = 0; k < sh.grid; ++k) {
    const V t = V(t0 + (t1 - t0) * float(k) / float(sh.grid - 1)) * inv_range;
    V sq, sq2, sxq;
    affine_sums<Weighted>(g, sh.nmax, t, mn, sq, sq2, sxq);
    const V score = affine_score(sw, sx, sq, sq2, sxq);
    // Ties (exact fits, e.g. a constant sub-block) go to the finer scale.
    const M better = ~lt(score, best) & gt(score, V(-INFINITY));
    best = sel(better, score, best);
    bq = sel(better, sq, bq);
    bq2 = sel(better, sq2, bq2);
    bxq = sel(better, sxq, bxq);
  }
  const M fitted = gt(best, V(-INFINITY));
  V scale, offset;
  affine_solve(sw, sx, bq, bq2, bxq, scale, offset);
  for (int it = 0; it < 2; ++it) {
    V sq, sq2, sxq;
    affine_sums<Weighted>(g, sh.nmax, inv_or_zero(scale), offset, sq, sq2, sxq);
    const V score = affine_score(sw, sx, sq, sq2, sxq);
    V ns, no;
    affine_solve(sw, sx, sq, sq2, sxq, ns, no);
    const M better = gt(score, best) & gt(ns, V(0.f)) & fitted;
    best = sel(better, score, best);
    scale = sel(better, ns, scale);
    offset = sel(better, no, offset);
    bq2 = sel(better, sq2, bq2);
  }
  const M ok = fitted & gt(scale, V(0.f));
  scale = sel(ok, scale, V(0.f));
  offset = sel(ok, offset, vmin(V(0.f), sx / sw));
  bq2 = sel(ok, bq2, V(0.f));

  // Step 2: lattice per super-block.
  alignas(64) float wm[kLanes], d[kLanes], dm[kLanes];
  sw.store(wm);
  lattice_scales(scale, bq2, sh.ns, n_super, 0, sh.M, d);
  lattice_scales(V(0.f) - offset, sw, sh.ns, n_super, 0, sh.M, dm);

  // Step 3. Every candidate's error comes with the sums of its rounding, so
  // the least-squares refits need no extra pass; the levels of the kept
  // candidate are computed once at the end.
  // The error sums are taken about the lane's weighted mean xm and a
  // reference level qc, so a near-constant sub-block's tiny error does not
  // vanish in float cancellation.
  const V S = scale, Mn = V(0.f) - offset;
  const V xm = sx / sw;
  V xc[32], sxx(0.f), sxc(0.f);
  for (int i = 0; i < g.L; ++i) {
    xc[i] = g.x[i] - xm;
    const V wx = weigh<Weighted>(g, i, xc[i]);
    sxx = fmadd(wx, xc[i], sxx);
    sxc = sxc + wx;
  }
  V D = V::load(d), DM = V::load(dm);
  V keep_e(0.f), keep_o(0.f);  // scale and offset whose levels are kept, per lane
  alignas(64) float best_sc[kLanes] = {}, best_mc[kLanes] = {};
  float best_total[2] = {INFINITY, INFINITY};
  bool done[2] = {false, n_super < 2};
  for (int round = 0; round < sh.rounds; ++round) {
    const M dpos = gt(D, V(0.f)), dmpos = gt(DM, V(0.f));
    const V f = sel(dpos & gt(S, V(0.f)), vfloor(vmin(S / D, V(Mx))), V(0.f));
    V berr(INFINITY), bsc(0.f), bmc(0.f), bq(0.f), bq2(0.f), bxq(0.f);
    auto consider = [&](V sc, V mc, M allowed) {
      const V e = D * sc, o = DM * mc;
      const V inv = inv_or_zero(e), c = o * inv;
      const V qc = vmin(vround(vmax((xm + o) * inv, V(0.f))), V(nmax));
      // qd = q - qc = clamp(round(y - qc), -qc, nmax - qc) for the integer qc
      const V cd = c - qc, qd_lo = V(0.f) - qc, qd_hi = V(nmax) - qc;
      V s1(0.f), s2(0.f), s3(0.f);  // sums of w qd, w qd^2, w xc qd
      for (int i = 0; i < g.L; ++i) {
        const V qd = vmin(vround(vmax(fmadd(g.x[i], inv, cd), qd_lo)), qd_hi);
        const V wq = weigh<Weighted>(g, i, qd);
        s1 = s1 + wq;
        s2 = fmadd(wq, qd, s2);
        s3 = fmadd(wq, xc[i], s3);
      }
      // sum w (x - e q + o)^2 = sum w (xc + k - e qd)^2
      const V k = xm + o - e * qc;
      const V err = sxx + k * (k * sw + V(2.f) * sxc) + e * (e * s2 - V(2.f) * (s3 + k * s1));
      const V sq = s1 + qc * sw, sq2 = s2 + qc * (V(2.f) * s1 + qc * sw);
      const V sxq = s3 + qc * sxc + xm * (s1 + qc * sw);
      const M better = allowed & lt(err, berr);
      berr = sel(better, err, berr);
      bsc = sel(better, sc, bsc);
      bmc = sel(better, mc, bmc);
      bq = sel(better, sq, bq);
      bq2 = sel(better, sq2, bq2);
      bxq = sel(better, sxq, bxq);
    };
    for (int dsc = -1; dsc <= 1; ++dsc) {
      const V sc = clampv(f + V(float(dsc)), 0.f, Mx);
      const V o = vmax(V(0.f), Mn + (D * sc - S) * V(nmax * 0.5f));
      const V gq = sel(dmpos, vfloor(vmin(o / DM, V(Mx))), V(0.f));
      consider(sc, clampv(gq, 0.f, Mx), ~M(0u));
      consider(sc, sel(dmpos, vmin(gq + V(1.f), V(Mx)), V(0.f)), ~M(0u));
    }
    // Least-squares (e, o) of the winner's rounding, snapped to the lattice.
    {
      const V det = sw * bq2 - bq * bq;
      const M ok_det = gt(bq2, V(0.f)) & ~no_spread(bq2 - bq * bq / sw, bq2);
      const V el = (sw * bxq - sx * bq) / det, ol = (bq * bxq - bq2 * sx) / det;
      const V sc = sel(dpos, vround(clampv(el / D, 0.f, Mx)), V(0.f));
      const V mc = sel(dmpos, vround(clampv(ol / DM, 0.f, Mx)), V(0.f));
      consider(sc, mc, ok_det);
    }
    alignas(64) float sc_l[kLanes], mc_l[kLanes], sq_l[kLanes], sq2_l[kLanes], sxq_l[kLanes],
        sx_l[kLanes];
    float totals[2] = {0, 0};
    super_block_sums(berr, sh.ns, totals);
    bsc.store(sc_l);
    bmc.store(mc_l);
    bq.store(sq_l);
    bq2.store(sq2_l);
    bxq.store(sxq_l);
    sx.store(sx_l);
    uint32_t commit = 0;
    for (int b = 0; b < n_super; ++b) {
      if (done[b]) continue;
      const int o = b * sh.ns;
      const float total = totals[b];
      if (round > 0 && !(total < best_total[b])) {
        done[b] = true;
        continue;
      }
      best_total[b] = total;
      commit |= ((1u << sh.ns) - 1) << o;
      out[b].d = float_to_fp16(d[o]);
      out[b].dmin = float_to_fp16(dm[o]);
      for (int j = o; j < o + sh.ns; ++j) best_sc[j] = sc_l[j], best_mc[j] = mc_l[j];
      // Least-squares d, dmin for these integers: x ~ d * (sc q) - dmin * mc.
      double saa = 0, sab = 0, sbb = 0, sxa = 0, sxb = 0;
      for (int j = o; j < o + sh.ns; ++j) {
        const double sc = sc_l[j], mc = mc_l[j];
        saa += sc * sc * sq2_l[j];
        sab += sc * mc * sq_l[j];
        sbb += mc * mc * wm[j];
        sxa += sc * sxq_l[j];
        sxb += mc * sx_l[j];
      }
      const double det = saa * sbb - sab * sab;
      double nd = d[o], ndm = dm[o];
      if (sbb > 0 && det > 1e-12 * saa * sbb) {
        nd = (sxa * sbb - sab * sxb) / det;
        ndm = (sab * sxa - saa * sxb) / det;
      } else if (saa > 0) {
        nd = (sxa + dm[o] * sab) / saa;
      }
      const float fd = ref::round_to_fp16(ref::clamp_fp16_range(float(std::max(nd, 0.0))));
      const float fdm = ref::round_to_fp16(ref::clamp_fp16_range(float(std::max(ndm, 0.0))));
      if (fd == d[o] && fdm == dm[o]) done[b] = true;
      for (int j = o; j < o + sh.ns; ++j) d[j] = fd, dm[j] = fdm;
    }
    if (commit) {
      const M cm = M(uint32_t(commit));
      keep_e = sel(cm, D * bsc, keep_e);
      keep_o = sel(cm, DM * bmc, keep_o);
    }
    if (done[0] && done[1]) break;
    D = V::load(d);
    DM = V::load(dm);
  }
  V qbest[32];
  {
    const V inv = inv_or_zero(keep_e), c = keep_o * inv;
    for (int i = 0; i < g.L; ++i) qbest[i] = vmin(vround(vmax(fmadd(g.x[i], inv, c), V(0.f))), V(nmax));
  }
  alignas(16) uint8_t scratch[32];
  uint8_t* dst[kLanes];
  for (int lane = 0; lane < kLanes; ++lane) {
    const int b = lane / sh.ns, j = lane % sh.ns;
    dst[lane] = b < n_super ? out[b].q + j * g.L : scratch;
  }
  store_levels(qbest, g.L, dst);
  for (int b = 0; b < n_super; ++b) {
    for (int j = 0; j < sh.ns; ++j) {
      const int lane = b * sh.ns + j;
      out[b].sc[j] = uint8_t(best_sc[lane]);
      out[b].mc[j] = uint8_t(best_mc[lane]);
    }
  }
}

// ============================================================ signed scale

// Levels x ~ e * level: integers lo..hi, or the 16 IQ4 values.
struct SymLevels {
  bool iq4;
  float lo, hi;  // integer levels (ignored for iq4)
  // Index of the nearest level to v (as a float 0..count-1).
  V index(V v) const { return iq4 ? iq4_index(v) : vround(clampv(v, lo, hi)) - V(lo); }
  V value(V k) const { return iq4 ? iq4_value(k) : k + V(lo); }
  V level(V v) const { return iq4 ? iq4_value(iq4_index(v)) : vround(clampv(v, lo, hi)); }
  float min_value() const { return iq4 ? -127.f : lo; }
  float max_value() const { return iq4 ? 113.f : hi; }
};

// Step 1 window for a scale-only fit, in levels around e (the inverse scale
// that maps the first-binding extreme of x onto its end level): a grid of
// `grid` points over [e - below, e + above] (at least e / 2).
struct ScaleSearch {
  float below, above;
  int grid;
  bool both_signs;  // else only the sign with the finer window (see below)
};

struct SymShapeF {
  int ns, L, sc_lo, sc_hi;
  ScaleSearch search;
};
struct SymOutF {
  uint16_t d = 0;
  int sc[16] = {};
  uint8_t q[QK_K] = {};  // level indices
};

inline void level_sums(const Group& g, const SymLevels& lv, V t, V& s1, V& s2) {
  s1 = s2 = V(0.f);
  for (int i = 0; i < g.L; ++i) {
    const V v = lv.level(t * g.x[i]);
    const V wv = g.w[i] * v;
    s1 = fmadd(wv, g.x[i], s1);
    s2 = fmadd(wv, v, s2);
  }
}

inline V sym_error(const Group& g, const SymLevels& lv, V e) {
  const V inv = inv_or_zero(e);
  V err(0.f);
  for (int i = 0; i < g.L; ++i) {
    const V diff = g.x[i] - e * lv.level(g.x[i] * inv);
    err = fmadd(g.w[i] * diff, diff, err);
  }
  return err;
}

// Step 1 for a scale-only fit; returns the scale, sets ws = sum w level^2.
inline V fit_scale_lanes(const Group& g, const SymLevels& lv, const ScaleSearch& ss, V& ws) {
  V mn(0.f), mx(0.f);
  for (int i = 0; i < g.L; ++i) {
    mn = vmin(mn, g.x[i]);
    mx = vmax(mx, g.x[i]);
  }
  const float hi = lv.max_value(), lo = lv.min_value();
  // Per sign: the window of inverse scales t (x * t ~ levels); negative t
  // maps the largest x onto the lowest level.
  V t_lo[2], t_hi[2];
  M valid[2] = {M(0u), M(0u)};
  for (int si = 0; si < 2; ++si) {
    const bool pos = si == 0;
    const V ymax = pos ? mx : V(0.f) - mn, ymin = pos ? mn : V(0.f) - mx;
    const V t_top = sel(gt(ymax, V(0.f)), V(hi) / ymax, V(INFINITY));
    const V t_bottom = sel(lt(ymin, V(0.f)), V(lo) / ymin, V(INFINITY));
    const M top_first = le(t_top, t_bottom);
    const V e = sel(top_first, V(hi), V(-lo)), a = sel(top_first, ymax, V(0.f) - ymin);
    valid[si] = gt(a, V(0.f));
    const V inv_a = sel(valid[si], V(1.f) / a, V(0.f)) * V(pos ? 1.f : -1.f);
    t_lo[si] = vmax(e - V(ss.below), e * V(0.5f)) * inv_a;
    t_hi[si] = (e + V(ss.above)) * inv_a;
  }
  V best(-1.f), bs1(0.f), bs2(0.f);
  auto consider = [&](V t, M ok) {
    V s1, s2;
    level_sums(g, lv, t, s1, s2);
    const M better = ok & gt(s2, V(0.f)) & gt(s1 * s1, best * s2);
    best = sel(better, s1 * s1 / s2, best);
    bs1 = sel(better, s1, bs1);
    bs2 = sel(better, s2, bs2);
  };
  if (ss.both_signs) {
    for (int si = 0; si < 2; ++si) {
      const V step = (t_hi[si] - t_lo[si]) * V(1.f / float(ss.grid - 1));
      for (int k = 0; k < ss.grid; ++k) consider(t_lo[si] + step * V(float(k)), valid[si]);
    }
  } else {
    // Rounding is symmetric, so both signs give the same levels until one
    // clamps; the sign whose window reaches further (more levels for the
    // largest |x|) loses nothing.
    const M neg = gt(vmax(V(0.f) - t_hi[1], V(0.f) - t_lo[1]), vmax(t_hi[0], t_lo[0])) & valid[1];
    const V t0 = sel(neg, t_lo[1], t_lo[0]), t1 = sel(neg, t_hi[1], t_hi[0]);
    const M ok = valid[0] | valid[1];
    const V step = (t1 - t0) * V(1.f / float(ss.grid - 1));
    for (int k = 0; k < ss.grid; ++k) consider(t0 + step * V(float(k)), ok);
  }
  const M fitted = gt(bs2, V(0.f));
  for (int it = 0; it < 2; ++it) {  // polish: re-round at the least-squares scale
    const M usable = fitted & ne(bs1, V(0.f));
    consider(sel(usable, bs2 / bs1, V(0.f)), usable);
  }
  ws = sel(fitted, bs2, V(0.f));
  return sel(fitted, bs1 / bs2, V(0.f));
}

inline void quantize_sym_group(const SymShapeF& sh, const SymLevels& lv, const Group& g, int n_super, SymOutF* out) {
  V ws;
  const V S = fit_scale_lanes(g, lv, sh.search, ws);
  alignas(64) float d[kLanes];
  lattice_scales(S, ws, sh.ns, n_super, sh.sc_lo, sh.sc_hi, d);
  const float lo = float(sh.sc_lo), hi = float(sh.sc_hi);
  V D = V::load(d);
  V sxx(0.f), keep_e(0.f);
  for (int i = 0; i < g.L; ++i) sxx = fmadd(g.w[i] * g.x[i], g.x[i], sxx);
  alignas(64) float best_sc[kLanes] = {};
  float best_total[2] = {INFINITY, INFINITY};
  bool done[2] = {false, n_super < 2};
  for (int round = 0; round < 2; ++round) {
    const M usable = ne(D, V(0.f)) & ne(S, V(0.f));
    const V f = vfloor(clampv(S / D, lo, hi));
    const V c0 = sel(usable, f, V(0.f)), c1 = sel(usable, vmin(f + V(1.f), V(hi)), V(0.f));
    // Each candidate's error from the sums of its rounding (kept for the refits).
    V berr(INFINITY), bsc(0.f), sxv(0.f), svv(0.f);
    auto consider = [&](V sc, M allowed) {
      const V e = D * sc;
      V s1, s2;
      level_sums(g, lv, inv_or_zero(e), s1, s2);
      const V err = sxx + e * (e * s2 - V(2.f) * s1);
      const M better = allowed & lt(err, berr);
      berr = sel(better, err, berr);
      bsc = sel(better, sc, bsc);
      sxv = sel(better, s1, sxv);
      svv = sel(better, s2, svv);
    };
    consider(c0, ~M(0u));
    consider(c1, ~M(0u));
    {
      // Least-squares scale of the winner's rounding, snapped.
      const M ok = usable & gt(svv, V(0.f));
      consider(sel(ok, vround(clampv(sxv / svv / D, lo, hi)), bsc), ok);
    }
    alignas(64) float sc_l[kLanes], sxv_l[kLanes], svv_l[kLanes];
    float totals[2] = {0, 0};
    super_block_sums(berr, sh.ns, totals);
    bsc.store(sc_l);
    sxv.store(sxv_l);
    svv.store(svv_l);
    uint32_t commit = 0;
    for (int b = 0; b < n_super; ++b) {
      if (done[b]) continue;
      const int o = b * sh.ns;
      const float total = totals[b];
      if (round > 0 && !(total < best_total[b])) {
        done[b] = true;
        continue;
      }
      best_total[b] = total;
      commit |= ((1u << sh.ns) - 1) << o;
      out[b].d = float_to_fp16(d[o]);
      for (int j = o; j < o + sh.ns; ++j) best_sc[j] = sc_l[j];
      double sxa = 0, saa = 0;
      for (int j = o; j < o + sh.ns; ++j) {
        sxa += double(sc_l[j]) * sxv_l[j];
        saa += double(sc_l[j]) * sc_l[j] * svv_l[j];
      }
      if (!(saa > 0)) {
        done[b] = true;
        continue;
      }
      const float nd = ref::round_to_fp16(ref::clamp_fp16_range(float(sxa / saa)));
      if (nd == d[o]) done[b] = true;
      for (int j = o; j < o + sh.ns; ++j) d[j] = nd;
    }
    if (commit) keep_e = sel(M(uint32_t(commit)), D * bsc, keep_e);
    if (done[0] && done[1]) break;
    D = V::load(d);
  }
  V qbest[32];
  {
    const V inv = inv_or_zero(keep_e);
    for (int i = 0; i < g.L; ++i) qbest[i] = lv.index(g.x[i] * inv);
  }
  alignas(16) uint8_t scratch[32];
  uint8_t* dst[kLanes];
  for (int lane = 0; lane < kLanes; ++lane) {
    const int b = lane / sh.ns, j = lane % sh.ns;
    dst[lane] = b < n_super ? out[b].q + j * g.L : scratch;
  }
  store_levels(qbest, g.L, dst);
  for (int b = 0; b < n_super; ++b)
    for (int j = 0; j < sh.ns; ++j) out[b].sc[j] = int(best_sc[b * sh.ns + j]);
}
