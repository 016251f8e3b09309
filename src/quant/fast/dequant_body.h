// Vectorized dequantizers, written once over 16-lane vector types defined by
// the including dequant_avx512.cpp / dequant_avx2.cpp: I (16 int32 lanes) and
// F (16 float lanes) with the helpers listed there. NOT a standalone header:
// include it only from an ISA file, inside that file's namespace.
//
// Bit-exact with the scalar references (quant/ref/kdequant.cpp, simple.cpp):
// every output is formed by the same float operations in the same order
// (scales multiplied in scalar code exactly as the reference does, then one
// product per weight and, for the min formats, one subtraction; mul() keeps
// the compiler from fusing that pair into an FMA).

// y[0..16) = dl * float(q) - ml
inline void store_affine(float* y, I q, float dl, float ml) { store(y, sub(mul(F(dl), to_float(q)), F(ml))); }
// y[0..16) = dl * float(q)
inline void store_scaled(float* y, I q, float dl) { store(y, mul(F(dl), to_float(q))); }

void dequantize_row_q4_0(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(vx);
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_float(x[i].d);
    const I q = load_u8(x[i].qs);
    // ref: float(q - 8) * d; the product commutes exactly
    store_scaled(y, sub(low4(q), 8), d);
    store_scaled(y + 16, sub(high4(q), 8), d);
  }
}

void dequantize_row_q8_0(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(vx);
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const float d = fp16_to_float(x[i].d);
    store_scaled(y, load_i8(x[i].qs), d);
    store_scaled(y + 16, load_i8(x[i].qs + 16), d);
  }
}

void dequantize_row_iq4_nl(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockIQ4_NL*>(vx);
  for (int64_t i = 0; i < n / QK; ++i, y += QK) {
    const F d(fp16_to_float(x[i].d));
    const I q = load_u8(x[i].qs);
    store(y, mul(d, iq4_values(low4(q))));
    store(y + 16, mul(d, iq4_values(high4(q))));
  }
}

void dequantize_row_iq4_xs(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockIQ4_XS*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_float(x[i].d);
    const uint8_t* qs = x[i].qs;
    for (int ib = 0; ib < QK_K / 32; ++ib, y += 32, qs += 16) {
      const int ls = ((x[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | (((x[i].scales_h >> (2 * ib)) & 3) << 4);
      const F dl(d * float(ls - 32));
      const I q = load_u8(qs);
      store(y, mul(dl, iq4_values(low4(q))));
      store(y + 16, mul(dl, iq4_values(high4(q))));
    }
  }
}

void dequantize_row_q2_k(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ2_K*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_float(x[i].d);
    const float min = fp16_to_float(x[i].dmin);
    const uint8_t* q = x[i].qs;
    int is = 0;
    for (int h = 0; h < QK_K; h += 128, q += 32) {
      const I q0 = load_u8(q), q1 = load_u8(q + 16);
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half, y += 16) {
          const uint8_t sc = x[i].scales[is++];
          store_affine(y, and_(srl(half ? q1 : q0, shift), 3), d * float(sc & 15), min * float(sc >> 4));
        }
      }
    }
  }
}

void dequantize_row_q3_k(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ3_K*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d_all = fp16_to_float(x[i].d);
    int scales[16];
    for (int j = 0; j < 16; ++j) {
      const int low = j < 8 ? (x[i].scales[j] & 15) : (x[i].scales[j - 8] >> 4);
      const int high = (x[i].scales[8 + j % 4] >> (2 * (j / 4))) & 3;
      scales[j] = (low | (high << 4)) - 32;
    }
    const I hm0 = load_u8(x[i].hmask), hm1 = load_u8(x[i].hmask + 16);
    const uint8_t* q = x[i].qs;
    int is = 0, bit = 0;
    for (int h = 0; h < QK_K; h += 128, q += 32) {
      const I q0 = load_u8(q), q1 = load_u8(q + 16);
      for (int shift = 0; shift < 8; shift += 2, ++bit) {
        for (int half = 0; half < 2; ++half, y += 16) {
          // level - 4 where the hmask bit is clear
          const I v = sub(and_(srl(half ? q1 : q0, shift), 3), where_zero(and_(half ? hm1 : hm0, 1 << bit), 4));
          store_scaled(y, v, d_all * float(scales[is++]));
        }
      }
    }
  }
}

void dequantize_row_q4_k(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4_K*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_float(x[i].d);
    const float min = fp16_to_float(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int c = 0; c < 4; ++c, q += 32, y += 64) {
      int sc, m;
      scale_min_k4(2 * c, x[i].scales, sc, m);
      const float d1 = d * float(sc), m1 = min * float(m);
      scale_min_k4(2 * c + 1, x[i].scales, sc, m);
      const float d2 = d * float(sc), m2 = min * float(m);
      const I q0 = load_u8(q), q1 = load_u8(q + 16);
      store_affine(y, low4(q0), d1, m1);
      store_affine(y + 16, low4(q1), d1, m1);
      store_affine(y + 32, high4(q0), d2, m2);
      store_affine(y + 48, high4(q1), d2, m2);
    }
  }
}

void dequantize_row_q5_k(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5_K*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_float(x[i].d);
    const float min = fp16_to_float(x[i].dmin);
    const uint8_t* ql = x[i].qs;
    const I qh0 = load_u8(x[i].qh), qh1 = load_u8(x[i].qh + 16);
    for (int c = 0; c < 4; ++c, ql += 32, y += 64) {
      int sc, m;
      scale_min_k4(2 * c, x[i].scales, sc, m);
      const float d1 = d * float(sc), m1 = min * float(m);
      scale_min_k4(2 * c + 1, x[i].scales, sc, m);
      const float d2 = d * float(sc), m2 = min * float(m);
      const int u1 = 1 << (2 * c), u2 = 2 << (2 * c);
      const I q0 = load_u8(ql), q1 = load_u8(ql + 16);
      store_affine(y, add(low4(q0), where_nonzero(and_(qh0, u1), 16)), d1, m1);
      store_affine(y + 16, add(low4(q1), where_nonzero(and_(qh1, u1), 16)), d1, m1);
      store_affine(y + 32, add(high4(q0), where_nonzero(and_(qh0, u2), 16)), d2, m2);
      store_affine(y + 48, add(high4(q1), where_nonzero(and_(qh1, u2), 16)), d2, m2);
    }
  }
}

void dequantize_row_q6_k(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ6_K*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = fp16_to_float(x[i].d);
    for (int h = 0; h < 2; ++h, y += 128) {
      const uint8_t* ql = x[i].ql + 64 * h;
      const uint8_t* qh = x[i].qh + 32 * h;
      const int8_t* sc = x[i].scales + 8 * h;
      for (int half = 0; half < 2; ++half) {  // l in [16 half, 16 half + 16), scale index is = half
        const int l = 16 * half;
        const I a = load_u8(ql + l), b = load_u8(ql + l + 32), hb = load_u8(qh + l);
        // ref: d * float(sc) * float(q), i.e. (d * sc) * q
        store_scaled(y + l, sub(or_(low4(a), sll(and_(hb, 3), 4)), 32), d * float(sc[half]));
        store_scaled(y + l + 32, sub(or_(low4(b), sll(and_(srl(hb, 2), 3), 4)), 32), d * float(sc[half + 2]));
        store_scaled(y + l + 64, sub(or_(high4(a), sll(and_(srl(hb, 4), 3), 4)), 32), d * float(sc[half + 4]));
        store_scaled(y + l + 96, sub(or_(high4(b), sll(srl(hb, 6), 4)), 32), d * float(sc[half + 6]));
      }
    }
  }
}
