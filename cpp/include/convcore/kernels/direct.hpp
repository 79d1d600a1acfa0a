// Direct convolution by taps: for every (input channel, kernel tap) the output rows are updated
// with one axpy over the valid output range, so the inner loop has no bounds test and
// vectorises for stride 1. Work items are (image, output channel, block of output rows), so a
// single-channel image still spreads over every thread. Zero padding only, kernel not flipped:
// the ops layer materialises other padding modes and flips beforehand.
#pragma once
#include "../core/geometry.hpp"
#include "../core/parallel.hpp"
#include "../core/spec.hpp"

namespace convcore {
namespace kernels {

namespace detail {
// Rows (flattened depth x height) per work item: about 16 KiB of output, at least one row.
inline index_t rows_per_block(index_t row_len, index_t rows, index_t elem) {
  index_t r = (16384 / elem) / (row_len > 0 ? row_len : 1);
  if (r < 1) r = 1;
  return r > rows ? rows : r;
}

template <class T>
inline void axpy_strided(T* y, const T* x, T a, index_t n, index_t stride) {
  if (stride == 1) {
    for (index_t j = 0; j < n; ++j) y[j] += a * x[j];
  } else {
    for (index_t j = 0; j < n; ++j) y[j] += a * x[j * stride];
  }
}
}  // namespace detail

template <class T>
void conv_direct(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y) {
  const index_t cpg = s.cin_per_group(), opg = s.cout_per_group();
  const index_t rows = s.out[0] * s.out[1], OW = s.out[2];
  const index_t rb = detail::rows_per_block(OW, rows, sizeof(T));
  const index_t nrb = (rows + rb - 1) / rb;
  // Valid range of the innermost output axis for each kernel column, computed once.
  parallel_for(s.N * s.C_out * nrb, [&](index_t item) {
    const index_t plane = item / nrb, r0 = (item % nrb) * rb;
    const index_t r1 = r0 + rb < rows ? r0 + rb : rows;
    const index_t n = plane / s.C_out, oc = plane % s.C_out, g = oc / opg;
    T* yp = y + plane * s.out_size();
    const T b = bias ? bias[oc] : T(0);
    for (index_t r = r0; r < r1; ++r)
      for (index_t j = 0; j < OW; ++j) yp[r * OW + j] = b;
    for (index_t c = 0; c < cpg; ++c) {
      const T* xp = x + (n * s.C_in + g * cpg + c) * s.in_size();
      const T* wp = w + (oc * cpg + c) * s.k_size();
      for (index_t t0 = 0; t0 < s.k[0]; ++t0)
        for (index_t t1 = 0; t1 < s.k[1]; ++t1)
          for (index_t t2 = 0; t2 < s.k[2]; ++t2) {
            const T wv = wp[(t0 * s.k[1] + t1) * s.k[2] + t2];
            index_t lo2, hi2;
            valid_out_range(s.in[2], OW, t2, s.stride[2], s.dil[2], s.pad_lo[2], &lo2, &hi2);
            if (hi2 <= lo2) continue;
            const index_t ix0 = conv_in_index(lo2, t2, s.stride[2], s.dil[2], s.pad_lo[2]);
            for (index_t r = r0; r < r1; ++r) {
              const index_t o0 = r / s.out[1], o1 = r % s.out[1];
              const index_t i0 = conv_in_index(o0, t0, s.stride[0], s.dil[0], s.pad_lo[0]);
              const index_t i1 = conv_in_index(o1, t1, s.stride[1], s.dil[1], s.pad_lo[1]);
              if (i0 < 0 || i0 >= s.in[0] || i1 < 0 || i1 >= s.in[1]) continue;
              detail::axpy_strided(yp + r * OW + lo2, xp + (i0 * s.in[1] + i1) * s.in[2] + ix0, wv,
                                   hi2 - lo2, s.stride[2]);
            }
          }
    }
    if (s.act != Activation::none)
      for (index_t r = r0; r < r1; ++r)
        for (index_t j = 0; j < OW; ++j) yp[r * OW + j] = apply_activation(s.act, yp[r * OW + j]);
  });
}

// Transposed conv as the adjoint of conv_direct, gathered per output plane (no write races):
// y[c, o*stride - pad + t*dil] += w[oc, c, t] * x[oc, o]. Never builds a zero-stuffed input.
template <class T>
void conv_transpose_direct(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y) {
  const index_t cpg = s.cin_per_group(), opg = s.cout_per_group();
  const index_t rows = s.in[0] * s.in[1], W = s.in[2];
  const index_t rb = detail::rows_per_block(W, rows, sizeof(T));
  const index_t nrb = (rows + rb - 1) / rb;
  parallel_for(s.N * s.C_in * nrb, [&](index_t item) {
    const index_t plane = item / nrb, r0 = (item % nrb) * rb;
    const index_t r1 = r0 + rb < rows ? r0 + rb : rows;
    const index_t n = plane / s.C_in, c = plane % s.C_in, g = c / cpg, cl = c % cpg;
    T* yp = y + plane * s.in_size();
    const T b = bias ? bias[c] : T(0);
    for (index_t r = r0; r < r1; ++r)
      for (index_t j = 0; j < W; ++j) yp[r * W + j] = b;
    for (index_t oc = g * opg; oc < (g + 1) * opg; ++oc) {
      const T* xp = x + (n * s.C_out + oc) * s.out_size();
      const T* wp = w + (oc * cpg + cl) * s.k_size();
      for (index_t t0 = 0; t0 < s.k[0]; ++t0)
        for (index_t t1 = 0; t1 < s.k[1]; ++t1)
          for (index_t t2 = 0; t2 < s.k[2]; ++t2) {
            const T wv = wp[(t0 * s.k[1] + t1) * s.k[2] + t2];
            index_t lo2, hi2;
            valid_out_range(W, s.out[2], t2, s.stride[2], s.dil[2], s.pad_lo[2], &lo2, &hi2);
            if (hi2 <= lo2) continue;
            const index_t p2 = conv_in_index(lo2, t2, s.stride[2], s.dil[2], s.pad_lo[2]);
            for (index_t r = r0; r < r1; ++r) {
              const index_t p0 = r / s.in[1], p1 = r % s.in[1];
              // o * stride - pad + t * dil == p, solved for o on the two outer axes
              const index_t q0 = p0 + s.pad_lo[0] - t0 * s.dil[0];
              const index_t q1 = p1 + s.pad_lo[1] - t1 * s.dil[1];
              if (q0 < 0 || q1 < 0 || q0 % s.stride[0] || q1 % s.stride[1]) continue;
              const index_t o0 = q0 / s.stride[0], o1 = q1 / s.stride[1];
              if (o0 >= s.out[0] || o1 >= s.out[1]) continue;
              const T* xr = xp + (o0 * s.out[1] + o1) * s.out[2];
              T* yr = yp + r * W + p2;
              const index_t st = s.stride[2];
              for (index_t j = 0; j < hi2 - lo2; ++j) yr[j * st] += wv * xr[lo2 + j];
            }
          }
    }
    if (s.act != Activation::none)
      for (index_t r = r0; r < r1; ++r)
        for (index_t j = 0; j < W; ++j) yp[r * W + j] = apply_activation(s.act, yp[r * W + j]);
  });
}

}  // namespace kernels
}  // namespace convcore
