// convcore.ndimage's float32 arithmetic: float32 input filtered into float32 output computes
// in float32 with FMA (as cupyx.scipy.ndimage does on the GPU), twice the lanes of the exact
// double kernels (ndimage_lines.hpp) and half the bytes per buffered row. The results differ
// from SciPy's (double, rounded once per pass) by rounding only: docs/ndimage.md gives the
// measured bound. The tap order is the same as the double kernels' (SciPy's pairing of
// symmetric / antisymmetric taps), so a symmetric kernel still costs one FMA per pair.
#pragma once
#include <cmath>

#include "../core/simd.hpp"

namespace convcore {
namespace kernels {

template <class ISA>
struct ndimage_f32_engine {
  using V = vec<float, ISA>;
  static constexpr int kVec = V::width;
  static constexpr int kAcc = 8;  // independent FMA chains to hide the latency
  static constexpr index_t C = kVec * kAcc;

  static float madd(float a, float b, float c) {
    // the vector lanes' operation, so a tail output is computed as a lane would compute it
    if (std::is_same<ISA, isa::scalar>::value) return c + a * b;
    return std::fma(a, b, c);
  }

  static float one(const float* const* p, const float* w, index_t ntaps, int pairing, index_t x) {
    float acc = p[0][x] * w[0];
    if (pairing == 0) {
      for (index_t t = 1; t < ntaps; ++t) acc = madd(p[t][x], w[t], acc);
    } else {
      const float sg = pairing > 0 ? 1.0f : -1.0f;
      for (index_t t = 1, i = 1; t + 1 < ntaps; t += 2, ++i)
        acc = madd(madd(p[t + 1][x], sg, p[t][x]), w[i], acc);
    }
    return acc;
  }

  // NA vectors of outputs from x: NA = kAcc in the body, 1 in the tail
  template <int Pairing, int NA = kAcc>
  static void chunk(const float* const* p, const float* w, index_t ntaps, index_t x, float* y) {
    V acc[NA];
    {
      const V w0 = V::broadcast(w[0]);
      const float* s = p[0] + x;
      for (int v = 0; v < NA; ++v) acc[v] = V::load(s + v * kVec) * w0;
    }
    if (Pairing == 0) {
      for (index_t t = 1; t < ntaps; ++t) {
        const V wt = V::broadcast(w[t]);
        const float* s = p[t] + x;
        for (int v = 0; v < NA; ++v) acc[v] = fma(V::load(s + v * kVec), wt, acc[v]);
      }
    } else {
      // l - r as fma(r, -1, l): exact negation, one rounding, as l - r
      const V sg = V::broadcast(Pairing > 0 ? 1.0f : -1.0f);
      for (index_t t = 1, i = 1; t + 1 < ntaps; t += 2, ++i) {
        const V wt = V::broadcast(w[i]);
        const float* a = p[t] + x;
        const float* b = p[t + 1] + x;
        for (int v = 0; v < NA; ++v) {
          const V s = Pairing > 0 ? V::load(a + v * kVec) + V::load(b + v * kVec)
                                  : fma(V::load(b + v * kVec), sg, V::load(a + v * kVec));
          acc[v] = fma(s, wt, acc[v]);
        }
      }
    }
    for (int v = 0; v < NA; ++v) acc[v].store(y + x + v * kVec);
  }

  // Body in chunks of C outputs, then single vectors; the last partial vector is recomputed
  // as the vector ending at n (the same values again: y never aliases the taps' rows).
  template <int Pairing>
  static void lincomb_t(const float* const* p, const float* w, index_t ntaps, index_t n, float* y) {
    index_t x = 0;
    for (; x + C <= n; x += C) chunk<Pairing>(p, w, ntaps, x, y);
    // the remaining whole vectors as one chunk (independent accumulators, not one chain)
    switch ((n - x) / kVec) {
      case 7: chunk<Pairing, (7 < kAcc ? 7 : 1)>(p, w, ntaps, x, y); break;
      case 6: chunk<Pairing, (6 < kAcc ? 6 : 1)>(p, w, ntaps, x, y); break;
      case 5: chunk<Pairing, (5 < kAcc ? 5 : 1)>(p, w, ntaps, x, y); break;
      case 4: chunk<Pairing, (4 < kAcc ? 4 : 1)>(p, w, ntaps, x, y); break;
      case 3: chunk<Pairing, (3 < kAcc ? 3 : 1)>(p, w, ntaps, x, y); break;
      case 2: chunk<Pairing, 2>(p, w, ntaps, x, y); break;
      case 1: chunk<Pairing, 1>(p, w, ntaps, x, y); break;
      default: break;
    }
    x += (n - x) / kVec * kVec;
    if (x < n && n >= kVec) return chunk<Pairing, 1>(p, w, ntaps, n - kVec, y);
    for (; x < n; ++x) y[x] = one(p, w, ntaps, Pairing, x);
  }

  // y[x] = combination over taps of p[t][x], x < n: the orders of ndimage_engine::lincomb.
  static void lincomb(const float* const* p, const float* w, index_t ntaps, int pairing,
                      index_t n, float* y) {
    if (pairing == 0)
      lincomb_t<0>(p, w, ntaps, n, y);
    else if (pairing > 0)
      lincomb_t<1>(p, w, ntaps, n, y);
    else
      lincomb_t<-1>(p, w, ntaps, n, y);
  }

  // A pass across rows (the filtered axis is not the last): output row r (r < nrows) is
  // y[r][x] = sum over t < ntaps of w[t] * p[r + t][x], x < n, the taps in order t = 0, 1, ...,
  // one FMA each from 0 (exactly the product for t = 0). lincomb computes one output row per
  // call and reads all its taps' rows for it, from L2 once the rows outgrow L1 (a 17-tap
  // Gaussian: 18 vector loads per output vector, the bound of the pass); here R output rows
  // are computed together, so each input row loaded feeds R of them: (ntaps + R - 1) / R
  // loads per output vector. p: nrows + ntaps - 1 row pointers.
  static constexpr int kRows = 4;
  static constexpr int kRowVecs = kVec >= 16 ? 4 : 2;  // accumulators kRows x kRowVecs

  template <int R, int NA>
  static void rows_chunk(const float* const* p, const float* w, index_t ntaps, index_t x,
                         float* const* y) {
    V acc[R][NA];
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NA; ++v) acc[r][v] = V::broadcast(0.0f);
    // input row j feeds output r with tap j - r: rows [0, R - 1) and [ntaps, ntaps + R - 1)
    // feed only some outputs
    const index_t nj = ntaps + R - 1;
    for (index_t j = 0; j < nj; ++j) {
      const float* s = p[j] + x;
      V xv[NA];
      for (int v = 0; v < NA; ++v) xv[v] = V::load(s + v * kVec);
      if (j >= R - 1 && j < ntaps) {
        for (int r = 0; r < R; ++r) {
          const V wt = V::broadcast(w[j - r]);
          for (int v = 0; v < NA; ++v) acc[r][v] = fma(xv[v], wt, acc[r][v]);
        }
      } else {
        for (int r = 0; r < R; ++r) {
          const index_t t = j - r;
          if (t < 0 || t >= ntaps) continue;
          const V wt = V::broadcast(w[t]);
          for (int v = 0; v < NA; ++v) acc[r][v] = fma(xv[v], wt, acc[r][v]);
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NA; ++v) acc[r][v].store(y[r] + x + v * kVec);
  }

  template <int R>
  static void rows_t(const float* const* p, const float* w, index_t ntaps, index_t n,
                     float* const* y) {
    constexpr index_t CW = static_cast<index_t>(kRowVecs) * kVec;
    index_t x = 0;
    for (; x + CW <= n; x += CW) rows_chunk<R, kRowVecs>(p, w, ntaps, x, y);
    for (; x + kVec <= n; x += kVec) rows_chunk<R, 1>(p, w, ntaps, x, y);
    // the last partial vector as the vector ending at n (y never aliases the rows)
    if (x < n && n >= kVec) return rows_chunk<R, 1>(p, w, ntaps, n - kVec, y);
    for (; x < n; ++x)
      for (int r = 0; r < R; ++r) {
        float acc = 0.0f;
        for (index_t t = 0; t < ntaps; ++t) acc = madd(p[r + t][x], w[t], acc);
        y[r][x] = acc;
      }
  }

  static void lincomb_rows(const float* const* p, const float* w, index_t ntaps, index_t nrows,
                           index_t n, float* const* y) {
    index_t r = 0;
    for (; r + kRows <= nrows; r += kRows) rows_t<kRows>(p + r, w, ntaps, n, y + r);
    for (; r < nrows; ++r) rows_t<1>(p + r, w, ntaps, n, y + r);
  }
};

}  // namespace kernels
}  // namespace convcore
