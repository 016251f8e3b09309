// Row entry points of the vectorized K-quant / IQ4 quantizers: super-blocks
// in groups of 16 sub-blocks through the searches of kquant_body.h, and the
// packing of each format's block. NOT a standalone header: include it after
// kquant_body.h from an ISA file, inside that file's namespace.

// ============================================================ rows and packing

// Runs `solve(group, n_super, outs)` over the row's super-blocks, 16 / ns at a time.
template <class Out, class Solve, class Pack>
void for_each_group(const float* x, int64_t n, const float* importance, int ns, int L, Solve solve, Pack pack) {
  const int per_group = kLanes / ns;
  const int64_t n_super = n / QK_K;
  Group g;
  Out outs[2];
  for (int64_t sb = 0; sb < n_super; sb += per_group) {
    const int valid = int(std::min<int64_t>(per_group, n_super - sb));
    load_group(g, x + sb * QK_K, importance ? importance + sb * QK_K : nullptr, L, valid * ns);
    solve(g, valid, outs);
    for (int b = 0; b < valid; ++b) pack(sb + b, outs[b]);
  }
}

inline void pack_2bit(const uint8_t* q, uint8_t* qs) {
  for (int h = 0; h < QK_K; h += 128)
    for (int l = 0; l < 32; ++l)
      qs[h / 4 + l] = uint8_t((q[h + l] & 3) | ((q[h + l + 32] & 3) << 2) | ((q[h + l + 64] & 3) << 4) |
                              ((q[h + l + 96] & 3) << 6));
}
// Bit `bit` of weight j to byte j % 32, bit j / 32 (Q5_K qh, Q3_K hmask);
// branch-free: the bits are random, a branch per weight mispredicts half the time.
inline void pack_high_bits(const uint8_t* q, int bit, uint8_t* out) {
  for (int l = 0; l < 32; ++l) {
    unsigned b = 0;
    for (int k = 0; k < 8; ++k) b |= unsigned((q[l + 32 * k] >> bit) & 1) << k;
    out[l] = uint8_t(b);
  }
}
inline void pack_scales_k4(const uint8_t* sc, const uint8_t* mc, uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = uint8_t(mc[j] | ((mc[j + 4] >> 4) << 6));
    s[j + 8] = uint8_t((sc[j + 4] & 15) | ((mc[j + 4] & 15) << 4));
  }
}
inline void pack_4bit_k(const uint8_t* q, uint8_t* qs) {
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) qs[32 * c + l] = uint8_t((q[64 * c + l] & 15) | ((q[64 * c + 32 + l] & 15) << 4));
}

void quantize_row_q2_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ2_K*>(vy);
  const MinMaxShapeF sh{16, 16, 3, 15, 1.f, 0.5f, 6, 2};
  for_each_group<MinMaxOutF>(
      x, n, importance, sh.ns, sh.L, [&](const Group& g, int v, MinMaxOutF* o) {
        importance ? quantize_minmax_group<true>(sh, g, v, o) : quantize_minmax_group<false>(sh, g, v, o);
      },
      [&](int64_t i, const MinMaxOutF& r) {
        for (int j = 0; j < 16; ++j) y[i].scales[j] = uint8_t(r.sc[j] | (r.mc[j] << 4));
        pack_2bit(r.q, y[i].qs);
        y[i].d = r.d;
        y[i].dmin = r.dmin;
      });
}

void quantize_row_q4_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ4_K*>(vy);
  const MinMaxShapeF sh{8, 32, 15, 63, 2.f, 0.5f, 8, 3};
  for_each_group<MinMaxOutF>(
      x, n, importance, sh.ns, sh.L, [&](const Group& g, int v, MinMaxOutF* o) {
        importance ? quantize_minmax_group<true>(sh, g, v, o) : quantize_minmax_group<false>(sh, g, v, o);
      },
      [&](int64_t i, const MinMaxOutF& r) {
        pack_scales_k4(r.sc, r.mc, y[i].scales);
        pack_4bit_k(r.q, y[i].qs);
        y[i].d = r.d;
        y[i].dmin = r.dmin;
      });
}

void quantize_row_q5_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ5_K*>(vy);
  const MinMaxShapeF sh{8, 32, 31, 63, 2.f, 0.5f, 8, 3};
  for_each_group<MinMaxOutF>(
      x, n, importance, sh.ns, sh.L, [&](const Group& g, int v, MinMaxOutF* o) {
        importance ? quantize_minmax_group<true>(sh, g, v, o) : quantize_minmax_group<false>(sh, g, v, o);
      },
      [&](int64_t i, const MinMaxOutF& r) {
        pack_scales_k4(r.sc, r.mc, y[i].scales);
        pack_4bit_k(r.q, y[i].qs);
        pack_high_bits(r.q, 4, y[i].qh);
        y[i].d = r.d;
        y[i].dmin = r.dmin;
      });
}

void quantize_row_q3_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ3_K*>(vy);
  const SymShapeF sh{16, 16, -32, 31, {2.f, 1.f, 8, false}};
  const SymLevels lv{false, -4.f, 3.f};
  for_each_group<SymOutF>(
      x, n, importance, sh.ns, sh.L, [&](const Group& g, int v, SymOutF* o) { quantize_sym_group(sh, lv, g, v, o); },
      [&](int64_t i, const SymOutF& r) {
        std::memset(y[i].scales, 0, 12);
        for (int j = 0; j < 16; ++j) {
          const int l = r.sc[j] + 32;
          if (j < 8)
            y[i].scales[j] = uint8_t(l & 15);
          else
            y[i].scales[j - 8] |= uint8_t((l & 15) << 4);
          y[i].scales[8 + j % 4] |= uint8_t((l >> 4) << (2 * (j / 4)));
        }
        pack_high_bits(r.q, 2, y[i].hmask);
        pack_2bit(r.q, y[i].qs);
        y[i].d = r.d;
      });
}

void quantize_row_q6_k(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockQ6_K*>(vy);
  const SymShapeF sh{16, 16, -128, 127, {6.f, 0.5f, 10, false}};
  const SymLevels lv{false, -32.f, 31.f};
  for_each_group<SymOutF>(
      x, n, importance, sh.ns, sh.L, [&](const Group& g, int v, SymOutF* o) { quantize_sym_group(sh, lv, g, v, o); },
      [&](int64_t i, const SymOutF& r) {
        for (int j = 0; j < 16; ++j) y[i].scales[j] = int8_t(r.sc[j]);
        for (int h = 0; h < 2; ++h) {
          const uint8_t* q = r.q + 128 * h;
          uint8_t* ql = y[i].ql + 64 * h;
          uint8_t* qh = y[i].qh + 32 * h;
          for (int l = 0; l < 32; ++l) {
            ql[l] = uint8_t((q[l] & 15) | ((q[l + 64] & 15) << 4));
            ql[l + 32] = uint8_t((q[l + 32] & 15) | ((q[l + 96] & 15) << 4));
            qh[l] = uint8_t((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
          }
        }
        y[i].d = r.d;
      });
}

void quantize_row_iq4_xs(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockIQ4_XS*>(vy);
  const SymShapeF sh{8, 32, -32, 31, {12.f, 12.f, 5, true}};
  const SymLevels lv{true, 0.f, 0.f};
  for_each_group<SymOutF>(
      x, n, importance, sh.ns, sh.L, [&](const Group& g, int v, SymOutF* o) { quantize_sym_group(sh, lv, g, v, o); },
      [&](int64_t i, const SymOutF& r) {
        y[i].d = r.d;
        y[i].scales_h = 0;
        std::memset(y[i].scales_l, 0, sizeof(y[i].scales_l));
        for (int ib = 0; ib < 8; ++ib) {
          const int ls = r.sc[ib] + 32;
          y[i].scales_l[ib / 2] |= uint8_t((ls & 15) << (4 * (ib % 2)));
          y[i].scales_h |= uint16_t((ls >> 4) << (2 * ib));
          const uint8_t* q = r.q + 32 * ib;
          for (int j = 0; j < 16; ++j) y[i].qs[16 * ib + j] = uint8_t((q[j] & 15) | ((q[j + 16] & 15) << 4));
        }
      });
}

// ============================================================ IQ4_NL

// 16 blocks of 32, one per lane: x ~ d * kvalues[q] with one fp16 d per block
// (ref::solve_single_scale, lane-parallel): the scale fit, least-squares d of
// the rounding in fp16 while it helps, then the neighbouring fp16 values.
void quantize_row_iq4_nl(const float* x, void* vy, int64_t n, const float* importance) {
  auto* y = static_cast<BlockIQ4_NL*>(vy);
  const SymLevels lv{true, 0.f, 0.f};
  const ScaleSearch nl_search{12.f, 12.f, 6, true};
  const int64_t n_blocks = n / QK;
  Group g;
  for (int64_t b0 = 0; b0 < n_blocks; b0 += kLanes) {
    const int valid = int(std::min<int64_t>(kLanes, n_blocks - b0));
    load_group(g, x + b0 * QK, importance ? importance + b0 * QK : nullptr, QK, valid);
    V ws;
    const V s = fit_scale_lanes(g, lv, nl_search, ws);
    V d = round_fp16(clampv(s, -65504.f, 65504.f));
    V best = sym_error(g, lv, d);
    M active = ~M(0u);
    for (int it = 0; it < 2; ++it) {
      V s1, s2;
      level_sums(g, lv, inv_or_zero(d), s1, s2);
      const M ok = active & gt(s2, V(0.f));
      const V nd = round_fp16(clampv(sel(ok, s1 / s2, d), -65504.f, 65504.f));
      const V err = sym_error(g, lv, nd);
      const M better = ok & ne(nd, d) & lt(err, best);
      best = sel(better, err, best);
      d = sel(better, nd, d);
      active = better;
    }
    {
      const V mag = vmax(d, V(0.f) - d);
      const M stepable = gt(mag, V(0.f)) & lt(mag, V(65504.f));
      const V up = sel(stepable, fp16_step(d, 1), d), down = sel(stepable, fp16_step(d, -1), d);
      const V err_up = sym_error(g, lv, up), err_down = sym_error(g, lv, down);
      const M take_up = stepable & lt(err_up, best);
      const M take_down = stepable & ~take_up & lt(err_down, best);
      d = sel(take_up, up, sel(take_down, down, d));
    }
    alignas(64) float dl[kLanes], qt[QK][kLanes];
    d.store(dl);
    const V inv = inv_or_zero(d);
    for (int i = 0; i < QK; ++i) lv.index(g.x[i] * inv).store(qt[i]);
    for (int j = 0; j < valid; ++j) {
      BlockIQ4_NL& out = y[b0 + j];
      out.d = float_to_fp16(dl[j]);
      for (int i = 0; i < 16; ++i) out.qs[i] = uint8_t(int(qt[i][j]) | (int(qt[i + 16][j]) << 4));
    }
  }
}
