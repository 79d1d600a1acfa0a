// convcore.ndimage's float32 arithmetic: float32 input filtered into float32 output computes
// in float32 with FMA (as cupyx.scipy.ndimage does on the GPU), twice the lanes of the exact
// double kernels (ndimage_lines.hpp) and half the bytes per buffered row. The results differ
// from SciPy's (double, rounded once per pass) by rounding only: docs/ndimage.md gives the
// measured bound. The tap order is the same as the double kernels' (SciPy's pairing of
// symmetric / antisymmetric taps), so a symmetric kernel still costs one FMA per pair.
#pragma once
#include <cmath>

#include "../core/simd.hpp"
#include "ndimage_lincomb.hpp"

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

  // y[x] = combination over taps of p[t][x], x < n, in the pairing's order (the line driver:
  // ndimage_lincomb.hpp)
  static void lincomb(const float* const* p, const float* w, index_t ntaps, int pairing,
                      index_t n, float* y) {
    lincomb_lines<ndimage_f32_engine>(p, w, ntaps, pairing, n, y);
  }

  // A pass across rows (the filtered axis is not the last): output row r (r < nrows) is
  // lincomb's combination of the rows q[r + tap[i]] (i < ntaps, lincomb's tap order and
  // pairing, so the result is lincomb's to the bit), x < n. lincomb computes one output row
  // per call, sweeping the whole strip, so every output row fetches all its taps' rows again
  // from L2 once they outgrow L1 (17 taps x 4 KiB strips): such a pass was bound by those
  // fetches. Here R output rows are computed together over a few vectors of columns: the
  // rows they read (ntaps + R - 1, a few cache lines each) stay in L1 and each is fetched
  // about once per R outputs. q: nrows + (largest tap) row pointers; n >= kVec (the op uses
  // it for long rows only: ops/ndimage.hpp rows_by_blocks).
  static constexpr int kRows = 4;
  // accumulators kRows x kRowVecs, and twice as many rows in registers (pairs)
  static constexpr int kRowVecs = kVec >= 16 ? 2 : 1;

  // The taps as correlate1d_order lists them: general weights, tap K - 1 and then 0, 1, ...,
  // K - 2; paired, the centre and then the pairs (i, K - 1 - i) from the outermost in. Output
  // r's tap t reads row r + t: a window of R consecutive rows serves the R outputs, and it
  // moves by one row per tap (down; for a pair's second row, up), so each step loads one
  // new row per side and the others move between registers.
  template <int Pairing, int R, int NA>
  static void rows_chunk(const float* const* q, const index_t* tap, const float* w,
                         index_t ntaps, index_t x, float* const* y) {
    V acc[R][NA];
    const V w0 = V::broadcast(w[0]);
    for (int r = 0; r < R; ++r) {
      const float* s = q[r + tap[0]] + x;
      for (int v = 0; v < NA; ++v) acc[r][v] = V::load(s + v * kVec) * w0;
    }
    if (ntaps == 1) return store_rows<R, NA>(acc, x, y);
    V lo[R][NA];  // rows t + r (general), i + r (pairs)
    for (int r = 0; r < R - 1; ++r)
      for (int v = 0; v < NA; ++v) lo[r + 1][v] = V::load(q[r + tap[1]] + x + v * kVec);
    if (Pairing == 0) {
      for (index_t t = 1; t < ntaps; ++t) {
        for (int r = 0; r + 1 < R; ++r)
          for (int v = 0; v < NA; ++v) lo[r][v] = lo[r + 1][v];
        const float* s = q[R - 1 + tap[t]] + x;
        for (int v = 0; v < NA; ++v) lo[R - 1][v] = V::load(s + v * kVec);
        const V wt = V::broadcast(w[t]);
        for (int r = 0; r < R; ++r)
          for (int v = 0; v < NA; ++v) acc[r][v] = fma(lo[r][v], wt, acc[r][v]);
      }
    } else {
      V hi[R][NA];  // rows K - 1 - i + r
      for (int r = 1; r < R; ++r)
        for (int v = 0; v < NA; ++v) hi[r - 1][v] = V::load(q[r + tap[2]] + x + v * kVec);
      const V sg = V::broadcast(Pairing > 0 ? 1.0f : -1.0f);
      for (index_t t = 1, i = 1; t + 1 < ntaps; t += 2, ++i) {
        for (int r = 0; r + 1 < R; ++r)
          for (int v = 0; v < NA; ++v) lo[r][v] = lo[r + 1][v];
        for (int r = R - 1; r > 0; --r)
          for (int v = 0; v < NA; ++v) hi[r][v] = hi[r - 1][v];
        const float* a = q[R - 1 + tap[t]] + x;
        const float* b = q[tap[t + 1]] + x;
        for (int v = 0; v < NA; ++v) {
          lo[R - 1][v] = V::load(a + v * kVec);
          hi[0][v] = V::load(b + v * kVec);
        }
        const V wt = V::broadcast(w[i]);
        for (int r = 0; r < R; ++r)
          for (int v = 0; v < NA; ++v) {
            const V sum = Pairing > 0 ? lo[r][v] + hi[r][v] : fma(hi[r][v], sg, lo[r][v]);
            acc[r][v] = fma(sum, wt, acc[r][v]);
          }
      }
    }
    store_rows<R, NA>(acc, x, y);
  }

  template <int R, int NA>
  static void store_rows(V (&acc)[R][NA], index_t x, float* const* y) {
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < NA; ++v) acc[r][v].store(y[r] + x + v * kVec);
  }

  template <int Pairing, int R>
  static void rows_t(const float* const* q, const index_t* tap, const float* w, index_t ntaps,
                     index_t n, float* const* y) {
    constexpr index_t CW = static_cast<index_t>(kRowVecs) * kVec;
    index_t x = 0;
    for (; x + CW <= n; x += CW) rows_chunk<Pairing, R, kRowVecs>(q, tap, w, ntaps, x, y);
    for (; x + kVec <= n; x += kVec) rows_chunk<Pairing, R, 1>(q, tap, w, ntaps, x, y);
    // the last partial vector as the vector ending at n (y never aliases the rows)
    if (x < n) rows_chunk<Pairing, R, 1>(q, tap, w, ntaps, n - kVec, y);
  }

  template <int Pairing>
  static void rows_p(const float* const* q, const index_t* tap, const float* w, index_t ntaps,
                     index_t nrows, index_t n, float* const* y) {
    index_t r = 0;
    for (; r + kRows <= nrows; r += kRows) rows_t<Pairing, kRows>(q + r, tap, w, ntaps, n, y + r);
    for (; r < nrows; ++r) rows_t<Pairing, 1>(q + r, tap, w, ntaps, n, y + r);
  }

  static void lincomb_rows(const float* const* q, const index_t* tap, const float* w,
                           index_t ntaps, int pairing, index_t nrows, index_t n, float* const* y) {
    if (pairing == 0)
      rows_p<0>(q, tap, w, ntaps, nrows, n, y);
    else if (pairing > 0)
      rows_p<1>(q, tap, w, ntaps, nrows, n, y);
    else
      rows_p<-1>(q, tap, w, ntaps, nrows, n, y);
  }
};

}  // namespace kernels
}  // namespace convcore
