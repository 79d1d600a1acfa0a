// conv_matrix: the explicit (sparse, CSR) matrix of a zero-padded convolution, C with
// C @ x.ravel() == conv(x, w).ravel() for x of shape (N, C_in, *in) and y (N, C_out, *out).
// Row r = ((n * C_out + o) * out0 + p0) * out1 ... ; column likewise over x. Its transpose is
// conv_transpose with the same parameters (the adjoint).
//
// The column of a row's entry is the input coordinate conv_in_index gives for each tap (the
// index math the kernels use); taps falling into the padding have no entry. Within a row the
// columns are increasing (channel, then taps in order) and distinct, so the CSR is canonical.
#pragma once
#include <vector>

#include "../core/checked.hpp"
#include "../core/geometry.hpp"
#include "../core/parallel.hpp"
#include "options.hpp"

namespace convcore {

// Refuses results larger than this many bytes (indptr + indices + data): the matrix of a conv
// is a teaching and testing tool, and a conv big enough to exceed it is best run as a conv.
constexpr index_t kConvMatrixMaxBytes = index_t(1) << 36;  // 64 GiB
// Counting the non-zeros loops over min(outputs, taps) per spatial dim; more than this many
// of both along one dim is refused (such a matrix is beyond the byte limit unless nearly all
// of its taps fall into the padding).
constexpr index_t kConvMatrixMaxCount = index_t(1) << 20;

struct ConvMatrixSize {
  index_t rows = 0, cols = 0, nnz = 0;
};

namespace detail {
// valid[d][o] = number of taps of spatial dim d whose input coordinate lies inside the input:
// each tap adds 1 over its valid_out_range (a difference array, O(out + k) per dim). Only
// called once conv_matrix_size has bounded the matrix, hence out (rows >= out[d]).
inline std::vector<std::vector<index_t>> valid_taps(const ConvSpec& s) {
  std::vector<std::vector<index_t>> v(kMaxSpatial);
  for (int d = 0; d < kMaxSpatial; ++d) {
    std::vector<index_t>& c = v[d];
    c.assign(static_cast<std::size_t>(s.out[d]) + 1, 0);
    for (index_t t = 0; t < s.k[d]; ++t) {
      index_t lo, hi;
      valid_out_range(s.in[d], s.out[d], t, s.stride[d], s.dil[d], s.pad_lo[d], &lo, &hi);
      ++c[static_cast<std::size_t>(lo)];
      --c[static_cast<std::size_t>(hi)];
    }
    for (index_t o = 1; o <= s.out[d]; ++o)
      c[static_cast<std::size_t>(o)] += c[static_cast<std::size_t>(o - 1)];
    c.pop_back();
  }
  return v;
}

// Number of (output, tap) pairs of spatial dim d whose input coordinate lies inside the input,
// without allocating anything: summed over the taps (the valid_out_range lengths) or over the
// outputs (the taps o * stride - pad_lo + t * dil in [0, in)), whichever is fewer.
inline index_t valid_pairs(const ConvSpec& s, int d) {
  index_t sum = 0;
  if (s.k[d] > kConvMatrixMaxCount && s.out[d] > kConvMatrixMaxCount)
    fail_value("input_shape: conv_matrix of a conv with ", s.out[d], " outputs and ", s.k[d],
               " taps along spatial dimension ", d - (kMaxSpatial - s.nd),
               " is too large to build: run the convolution itself instead");
  if (s.k[d] <= s.out[d]) {
    for (index_t t = 0; t < s.k[d]; ++t) {
      index_t lo, hi;
      valid_out_range(s.in[d], s.out[d], t, s.stride[d], s.dil[d], s.pad_lo[d], &lo, &hi);
      sum = checked_add(sum, hi - lo, "conv_matrix non-zeros");
    }
    return sum;
  }
  for (index_t o = 0; o < s.out[d]; ++o) {
    const index_t off = o * s.stride[d] - s.pad_lo[d];  // input = off + t * dil
    index_t lo = off >= 0 ? 0 : ceil_div(-off, s.dil[d]);
    index_t hi = floor_div(s.in[d] - 1 - off, s.dil[d]) + 1;
    if (hi > s.k[d]) hi = s.k[d];
    if (hi > lo) sum = checked_add(sum, hi - lo, "conv_matrix non-zeros");
  }
  return sum;
}
}  // namespace detail

// Validates (zero padding, no flip, channels-first) and sizes the matrix; throws ValueError
// when its arrays would exceed kConvMatrixMaxBytes.
inline ConvMatrixSize conv_matrix_size(const ConvSpec& s, std::size_t elem_size) {
  if (!s.zero_padding()) fail_value("padding_mode must be 'zeros' for conv_matrix");
  if (s.channels_last) fail_value("channels_last is not supported by conv_matrix");
  if (s.flip) fail_value("flip is not supported by conv_matrix");
  ConvMatrixSize m;
  m.rows = checked_mul(checked_mul(s.N, s.C_out, "conv_matrix rows"), s.out_size(),
                       "conv_matrix rows");
  m.cols = checked_mul(checked_mul(s.N, s.C_in, "conv_matrix columns"), s.in_size(),
                       "conv_matrix columns");
  // indptr alone (rows + 1 entries) bounds the rows, hence every out[d], before anything that
  // is sized by them (valid_taps in conv_matrix_fill) is allocated.
  if (m.rows + 1 > kConvMatrixMaxBytes / 8)
    fail_value("input_shape: conv_matrix would have ", m.rows, " rows, more than its limit of ",
               kConvMatrixMaxBytes, " bytes allows: run the convolution itself instead");
  // Taps are independent per dim, so the number of in-range (tap, output) pairs factorises.
  index_t per_channel = 1;
  for (int d = 0; d < kMaxSpatial; ++d)
    per_channel = checked_mul(per_channel, detail::valid_pairs(s, d), "conv_matrix non-zeros");
  m.nnz = checked_mul(checked_mul(checked_mul(s.N, s.C_out, "conv_matrix non-zeros"),
                                  s.cin_per_group(), "conv_matrix non-zeros"),
                      per_channel, "conv_matrix non-zeros");
  index_t bytes = checked_mul(m.nnz, static_cast<index_t>(8 + elem_size), "conv_matrix");
  bytes = checked_add(checked_mul(m.rows + 1, 8, "conv_matrix"), bytes, "conv_matrix");
  if (bytes > kConvMatrixMaxBytes)
    fail_value("input_shape: conv_matrix would need ", bytes, " bytes (", m.nnz,
               " non-zeros); the limit is ", kConvMatrixMaxBytes,
               " bytes: run the convolution itself instead");
  return m;
}

// Fills CSR arrays sized by conv_matrix_size: indptr (rows + 1), indices (nnz), data (nnz).
template <class T>
void conv_matrix_fill(const ConvSpec& s, const T* w, long long* indptr, long long* indices,
                      T* data) {
  auto v = detail::valid_taps(s);
  const index_t cpg = s.cin_per_group(), opg = s.cout_per_group();
  const index_t osz = s.out_size(), rows = s.N * s.C_out * osz;
  indptr[0] = 0;
  for (index_t r = 0; r < rows; ++r) {
    const index_t p = r % osz;
    const index_t o2 = p % s.out[2], o1 = (p / s.out[2]) % s.out[1], o0 = p / (s.out[2] * s.out[1]);
    indptr[r + 1] = indptr[r] + cpg * v[0][o0] * v[1][o1] * v[2][o2];
  }
  parallel_for(rows, [&](index_t r) {
    const index_t p = r % osz, plane = r / osz;
    const index_t n = plane / s.C_out, oc = plane % s.C_out, g = oc / opg;
    const index_t o2 = p % s.out[2], o1 = (p / s.out[2]) % s.out[1], o0 = p / (s.out[2] * s.out[1]);
    index_t e = indptr[r];
    for (index_t c = 0; c < cpg; ++c) {
      const index_t base = (n * s.C_in + g * cpg + c) * s.in_size();
      const T* wp = w + (oc * cpg + c) * s.k_size();
      for (index_t t0 = 0; t0 < s.k[0]; ++t0) {
        const index_t i0 = conv_in_index(o0, t0, s.stride[0], s.dil[0], s.pad_lo[0]);
        if (i0 < 0 || i0 >= s.in[0]) continue;
        for (index_t t1 = 0; t1 < s.k[1]; ++t1) {
          const index_t i1 = conv_in_index(o1, t1, s.stride[1], s.dil[1], s.pad_lo[1]);
          if (i1 < 0 || i1 >= s.in[1]) continue;
          for (index_t t2 = 0; t2 < s.k[2]; ++t2) {
            const index_t i2 = conv_in_index(o2, t2, s.stride[2], s.dil[2], s.pad_lo[2]);
            if (i2 < 0 || i2 >= s.in[2]) continue;
            indices[e] = base + (i0 * s.in[1] + i1) * s.in[2] + i2;
            data[e] = wp[(t0 * s.k[1] + t1) * s.k[2] + t2];
            ++e;
          }
        }
      }
    }
  });
}

}  // namespace convcore
