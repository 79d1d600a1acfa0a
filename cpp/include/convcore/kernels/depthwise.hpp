// Depthwise 2-D convolution on a channels-last layout: y[n, oh, ow, c*m + j] =
// sum_taps x[n, ih, iw, c] * w[c*m + j, th, tw]. Channels are innermost in both x and y, so the
// inner loop is a contiguous multiply-add over channels (vectorised for m == 1), whatever the
// stride or dilation. Every padding mode is read in place through per-tap index tables built from
// pad_source_index (the same map kernels::pad_planes uses), so no padded copy is made.
#pragma once
#include <memory>
#include <vector>

#include "../core/activation.hpp"
#include "../core/geometry.hpp"
#include "../core/padding.hpp"
#include "../core/parallel.hpp"
#include "../core/spec.hpp"

#ifndef CONVCORE_OMP_SIMD
#if defined(_OPENMP)
#define CONVCORE_OMP_SIMD _Pragma("omp simd")
#else
#define CONVCORE_OMP_SIMD
#endif
#endif

namespace convcore {
namespace kernels {

// Per-work-item buffer, left uninitialised: every element used is written before it is read.
template <class T>
std::unique_ptr<T[]> scratch(index_t n) {
  return std::unique_ptr<T[]>(new T[static_cast<std::size_t>(n > 0 ? n : 1)]);
}

// Input row/column read by each (output position, tap) of one axis: -1 where the padding reads
// a zero. Sizes out*k: the only workspace of the kernel (a few KiB for real layers).
struct DepthwiseTables {
  std::vector<index_t> rows, cols;  // rows[oh * kh + th], cols[ow * kw + tw]
};

// The 2-D spec's axes live in slots 1 (height) and 2 (width).
inline DepthwiseTables depthwise_tables(const ConvSpec& s) {
  DepthwiseTables t;
  t.rows.resize(static_cast<std::size_t>(s.out[1] * s.k[1]));
  t.cols.resize(static_cast<std::size_t>(s.out[2] * s.k[2]));
  for (index_t o = 0; o < s.out[1]; ++o)
    for (index_t k = 0; k < s.k[1]; ++k)
      t.rows[o * s.k[1] + k] = pad_source_index(
          conv_in_index(o, k, s.stride[1], s.dil[1], s.pad_lo[1]), s.in[1], s.pad_mode);
  for (index_t o = 0; o < s.out[2]; ++o)
    for (index_t k = 0; k < s.k[2]; ++k)
      t.cols[o * s.k[2] + k] = pad_source_index(
          conv_in_index(o, k, s.stride[2], s.dil[2], s.pad_lo[2]), s.in[2], s.pad_mode);
  return t;
}

// w (C*m, 1, kh, kw) -> (kh*kw, C*m): one contiguous weight vector per tap.
template <class T>
void depthwise_pack_weights(const ConvSpec& s, const T* w, T* wt) {
  const index_t ks = s.k[1] * s.k[2];
  for (index_t oc = 0; oc < s.C_out; ++oc)
    for (index_t t = 0; t < ks; ++t) wt[t * s.C_out + oc] = w[oc * ks + t];
}

// `nrows` output rows into `out` ((nrows, OW, C*m)), with bias and s.act applied in the store.
// rows[r * kh + th] is the row of `xn` ((rows, W, C), channels-last) that output row r reads
// through tap th (-1: zero padding); cols as in DepthwiseTables. Callers pass the image itself
// with a slice of the tables, or a gathered band of input rows with a band-local row table.
namespace detail {
// Channels [c0, c0 + CB) of one output pixel (m == 1), accumulated over every tap in a local
// block the compiler keeps in vector registers (CB a compile-time constant), stored once.
template <class T, index_t CB, bool Tail>
inline void dw_pixel_block(const index_t* rows, const index_t* cols, index_t kh, index_t kw,
                           const T* xn, index_t WC, index_t C, index_t c0, index_t nc, const T* wt,
                           const T* bias, Activation act, T* out) {
  T a[CB];
  const index_t n = Tail ? nc : CB;
  for (index_t j = 0; j < n; ++j) a[j] = bias ? bias[c0 + j] : T(0);
  for (index_t th = 0; th < kh; ++th) {
    const index_t ih = rows[th];
    if (ih < 0) continue;
    const T* xr = xn + ih * WC + c0;
    for (index_t tw = 0; tw < kw; ++tw) {
      const index_t iw = cols[tw];
      if (iw < 0) continue;
      const T* __restrict xp = xr + iw * C;
      const T* __restrict wp = wt + (th * kw + tw) * C + c0;
      CONVCORE_OMP_SIMD
      for (index_t j = 0; j < n; ++j) a[j] += xp[j] * wp[j];
    }
  }
  if (act == Activation::none) {
    for (index_t j = 0; j < n; ++j) out[j] = a[j];
  } else {
    for (index_t j = 0; j < n; ++j) out[j] = apply_activation(act, a[j]);
  }
}
}  // namespace detail

// `nrows` output rows into `out` ((nrows, OW, C*m)), with bias and s.act applied in the store.
// rows[r * kh + th] is the row of `xn` ((rows, W, C), channels-last) that output row r reads
// through tap th (-1: zero padding); cols as in DepthwiseTables. Callers pass the image itself
// with a slice of the tables, or a gathered band of input rows with a band-local row table.
template <class T>
void depthwise_rows(const ConvSpec& s, const index_t* rows, const index_t* cols, const T* xn,
                    const T* wt, const T* bias, index_t nrows, T* out) {
  const index_t C = s.C_in, Cm = s.C_out, m = Cm / C;
  const index_t W = s.in[2], OW = s.out[2], kh = s.k[1], kw = s.k[2];
  constexpr index_t CB = 128 / sizeof(T);  // 32 floats / 16 doubles per register block
  for (index_t oh = 0; oh < nrows; ++oh) {
    T* yrow = out + oh * OW * Cm;
    const index_t* rr = rows + oh * kh;
    for (index_t ow = 0; ow < OW; ++ow) {
      const index_t* cr = cols + ow * kw;
      T* acc = yrow + ow * Cm;
      if (m == 1) {
        index_t c0 = 0;
        for (; c0 + CB <= C; c0 += CB)
          detail::dw_pixel_block<T, CB, false>(rr, cr, kh, kw, xn, W * C, C, c0, CB, wt, bias,
                                               s.act, acc + c0);
        if (c0 < C)
          detail::dw_pixel_block<T, CB, true>(rr, cr, kh, kw, xn, W * C, C, c0, C - c0, wt, bias,
                                              s.act, acc + c0);
        continue;
      }
      // Depth multiplier > 1: output channel c*m + j reads input channel c.
      for (index_t oc = 0; oc < Cm; ++oc) acc[oc] = bias ? bias[oc] : T(0);
      for (index_t th = 0; th < kh; ++th) {
        const index_t ih = rr[th];
        if (ih < 0) continue;
        const T* xr = xn + ih * W * C;
        for (index_t tw = 0; tw < kw; ++tw) {
          const index_t iw = cr[tw];
          if (iw < 0) continue;
          const T* __restrict xp = xr + iw * C;
          const T* __restrict wp = wt + (th * kw + tw) * Cm;
          for (index_t c = 0; c < C; ++c) {
            const T xv = xp[c];
            for (index_t j = 0; j < m; ++j) acc[c * m + j] += xv * wp[c * m + j];
          }
        }
      }
      if (s.act != Activation::none)
        for (index_t oc = 0; oc < Cm; ++oc) acc[oc] = apply_activation(s.act, acc[oc]);
    }
  }
}

// Rows per work item: about 64 KiB of output, at least one row.
inline index_t depthwise_band_rows(const ConvSpec& s, index_t elem) {
  index_t per_row = s.out[2] * s.C_out * elem;
  index_t r = per_row > 0 ? 65536 / per_row : 1;
  if (r < 1) r = 1;
  return r > s.out[1] ? s.out[1] : r;
}

// Whole op on channels-last buffers: x (N, H, W, C), wt packed by depthwise_pack_weights,
// y (N, OH, OW, C*m). Work items are (image, band of output rows).
template <class T>
void depthwise_nhwc(const ConvSpec& s, const T* x, const T* wt, const T* bias, T* y) {
  const DepthwiseTables tb = depthwise_tables(s);
  const index_t OH = s.out[1], rb = depthwise_band_rows(s, sizeof(T));
  const index_t nrb = (OH + rb - 1) / rb;
  const index_t xsz = s.in[1] * s.in[2] * s.C_in, ysz = OH * s.out[2] * s.C_out;
  parallel_for(s.N * nrb, [&](index_t item) {
    const index_t n = item / nrb, r0 = (item % nrb) * rb;
    const index_t r1 = r0 + rb < OH ? r0 + rb : OH;
    depthwise_rows(s, tb.rows.data() + r0 * s.k[1], tb.cols.data(), x + n * xsz, wt, bias, r1 - r0,
                   y + n * ysz + r0 * s.out[2] * s.C_out);
  });
}

// dst[j * ldd + i] = src[i * lds + j] for i < R, j < Cc, in 16 x 16 tiles so that both the
// strided reads and the strided writes stay within a few cache lines per tile.
template <class T>
inline void transpose_tiled(const T* src, index_t lds, T* dst, index_t ldd, index_t R, index_t Cc) {
  constexpr index_t B = 16;
  for (index_t i0 = 0; i0 < R; i0 += B) {
    const index_t i1 = i0 + B < R ? i0 + B : R;
    for (index_t j0 = 0; j0 < Cc; j0 += B) {
      const index_t j1 = j0 + B < Cc ? j0 + B : Cc;
      for (index_t i = i0; i < i1; ++i)
        for (index_t j = j0; j < j1; ++j) dst[j * ldd + i] = src[i * lds + j];
    }
  }
}

// Gathers the input rows that output rows [r0, r0 + nrows) read from a channels-first image
// xn (C, H, W) into `band` as channels-last rows (slots, W, C), and writes the band-local row
// table (nrows * kh entries, -1 kept) into `local`. Returns the number of slots used (at most
// nrows * kh; (nrows - 1) * stride + (kh - 1) * dilation + 1 without wrap-around padding).
// `slot_of` is scratch of H entries, all -1 on entry and on return.
template <class T>
index_t depthwise_gather_rows(const ConvSpec& s, const DepthwiseTables& tb, const T* xn,
                              index_t r0, index_t nrows, index_t* slot_of, index_t* local,
                              T* band) {
  const index_t C = s.C_in, H = s.in[1], W = s.in[2], kh = s.k[1];
  index_t used = 0;
  for (index_t i = 0; i < nrows * kh; ++i) {
    const index_t ih = tb.rows[r0 * kh + i];
    if (ih < 0) {
      local[i] = -1;
      continue;
    }
    if (slot_of[ih] < 0) {
      slot_of[ih] = used;
      transpose_tiled(xn + ih * W, H * W, band + used * W * C, C, C, W);
      ++used;
    }
    local[i] = slot_of[ih];
  }
  for (index_t i = 0; i < nrows * kh; ++i)
    if (local[i] >= 0) slot_of[tb.rows[r0 * kh + i]] = -1;
  return used;
}

// Channels-first depthwise for inputs with few channels, where a channels-last vector over C
// would be mostly empty: work items are (image, output channel, band of rows); every tap adds
// a scaled input row to the output row over the columns that lie inside the input (a
// contiguous loop for stride 1), and the padded columns at the row ends through the tables.
template <class T>
void depthwise_planar(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y) {
  const DepthwiseTables tb = depthwise_tables(s);
  const index_t OH = s.out[1], OW = s.out[2], kh = s.k[1], kw = s.k[2];
  const index_t H = s.in[1], W = s.in[2], C = s.C_in, Cm = s.C_out, m = Cm / C;
  const index_t sw = s.stride[2], dw = s.dil[2], pw = s.pad_lo[2];
  const index_t row_bytes = OW * static_cast<index_t>(sizeof(T));
  index_t rb = row_bytes > 0 ? 16384 / row_bytes : 1;  // about 16 KiB of output per item
  if (rb < 1) rb = 1;
  if (rb > OH) rb = OH;
  const index_t nrb = (OH + rb - 1) / rb;
  parallel_for(s.N * Cm * nrb, [&](index_t item) {
    const index_t plane = item / nrb, r0 = (item % nrb) * rb;
    const index_t r1 = r0 + rb < OH ? r0 + rb : OH;
    const index_t n = plane / Cm, oc = plane % Cm, c = oc / m;
    const T* xp = x + (n * C + c) * H * W;
    const T* wp = w + oc * kh * kw;
    T* yp = y + plane * OH * OW;
    const T b = bias ? bias[oc] : T(0);
    for (index_t oh = r0; oh < r1; ++oh) {
      T* __restrict yr = yp + oh * OW;
      for (index_t j = 0; j < OW; ++j) yr[j] = b;
      for (index_t th = 0; th < kh; ++th) {
        const index_t ih = tb.rows[oh * kh + th];
        if (ih < 0) continue;
        const T* __restrict xr = xp + ih * W;
        for (index_t tw = 0; tw < kw; ++tw) {
          const T wv = wp[th * kw + tw];
          index_t lo, hi;
          valid_out_range(W, OW, tw, sw, dw, pw, &lo, &hi);
          if (hi > lo) {
            const T* xi = xr + conv_in_index(lo, tw, sw, dw, pw);
            if (sw == 1) {
              CONVCORE_OMP_SIMD
              for (index_t j = 0; j < hi - lo; ++j) yr[lo + j] += wv * xi[j];
            } else {
              for (index_t j = 0; j < hi - lo; ++j) yr[lo + j] += wv * xi[j * sw];
            }
          } else {
            lo = hi = 0;
          }
          for (index_t j = 0; j < lo; ++j) {
            const index_t iw = tb.cols[j * kw + tw];
            if (iw >= 0) yr[j] += wv * xr[iw];
          }
          for (index_t j = hi; j < OW; ++j) {
            const index_t iw = tb.cols[j * kw + tw];
            if (iw >= 0) yr[j] += wv * xr[iw];
          }
        }
      }
      if (s.act != Activation::none)
        for (index_t j = 0; j < OW; ++j) yr[j] = apply_activation(s.act, yr[j]);
    }
  });
}

// Below this many input channels a channels-first input takes depthwise_planar.
constexpr index_t kDepthwisePlanarMaxChannels = 16;

}  // namespace kernels
}  // namespace convcore
