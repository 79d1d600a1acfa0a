// The plain reference: every output element as the textbook sum over channels and taps, every
// padding mode through pad_source_index. Slow on purpose; it is the C++ oracle the optimised
// kernels are tested against (algorithm="reference" exposes it).
#pragma once
#include "../core/geometry.hpp"
#include "../core/parallel.hpp"
#include "../core/spec.hpp"

namespace convcore {
namespace kernels {

// y = conv(x, w) + bias, NCDHW contiguous (3 spatial slots), padding modes and flip honoured.
template <class T>
void conv_reference(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y) {
  const index_t cpg = s.cin_per_group(), opg = s.cout_per_group();
  parallel_for(s.N * s.C_out, [&](index_t item) {
    const index_t n = item / s.C_out, oc = item % s.C_out, g = oc / opg;
    T* yp = y + item * s.out_size();
    for (index_t o0 = 0; o0 < s.out[0]; ++o0)
      for (index_t o1 = 0; o1 < s.out[1]; ++o1)
        for (index_t o2 = 0; o2 < s.out[2]; ++o2) {
          double acc = bias ? static_cast<double>(bias[oc]) : 0.0;
          for (index_t c = 0; c < cpg; ++c) {
            const T* xp = x + (n * s.C_in + g * cpg + c) * s.in_size();
            const T* wp = w + (oc * cpg + c) * s.k_size();
            for (index_t t0 = 0; t0 < s.k[0]; ++t0)
              for (index_t t1 = 0; t1 < s.k[1]; ++t1)
                for (index_t t2 = 0; t2 < s.k[2]; ++t2) {
                  index_t i0 = pad_source_index(conv_in_index(o0, t0, s.stride[0], s.dil[0], s.pad_lo[0]), s.in[0], s.pad_mode);
                  index_t i1 = pad_source_index(conv_in_index(o1, t1, s.stride[1], s.dil[1], s.pad_lo[1]), s.in[1], s.pad_mode);
                  index_t i2 = pad_source_index(conv_in_index(o2, t2, s.stride[2], s.dil[2], s.pad_lo[2]), s.in[2], s.pad_mode);
                  double xv = (i0 < 0 || i1 < 0 || i2 < 0)
                                  ? s.fill
                                  : static_cast<double>(xp[(i0 * s.in[1] + i1) * s.in[2] + i2]);
                  index_t widx = s.flip ? ((s.k[0] - 1 - t0) * s.k[1] + (s.k[1] - 1 - t1)) * s.k[2] + (s.k[2] - 1 - t2)
                                        : (t0 * s.k[1] + t1) * s.k[2] + t2;
                  acc += xv * static_cast<double>(wp[widx]);
                }
          }
          yp[(o0 * s.out[1] + o1) * s.out[2] + o2] = apply_activation(s.act, static_cast<T>(acc));
        }
  });
}

// y = conv_transpose(x, w) + bias: the adjoint of conv_reference with zero padding.
// x has the forward conv's output geometry (C_out, out), y its input geometry (C_in, in).
template <class T>
void conv_transpose_reference(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y) {
  const index_t cpg = s.cin_per_group(), opg = s.cout_per_group();
  parallel_for(s.N * s.C_in, [&](index_t item) {
    const index_t n = item / s.C_in, c = item % s.C_in, g = c / cpg, cl = c % cpg;
    T* yp = y + item * s.in_size();
    for (index_t p0 = 0; p0 < s.in[0]; ++p0)
      for (index_t p1 = 0; p1 < s.in[1]; ++p1)
        for (index_t p2 = 0; p2 < s.in[2]; ++p2) {
          double acc = bias ? static_cast<double>(bias[c]) : 0.0;
          for (index_t oc = g * opg; oc < (g + 1) * opg; ++oc) {
            const T* xp = x + (n * s.C_out + oc) * s.out_size();
            const T* wp = w + (oc * cpg + cl) * s.k_size();
            for (index_t t0 = 0; t0 < s.k[0]; ++t0)
              for (index_t t1 = 0; t1 < s.k[1]; ++t1)
                for (index_t t2 = 0; t2 < s.k[2]; ++t2) {
                  // output position o reads p through tap t iff o*stride - pad + t*dil == p
                  index_t q0 = p0 + s.pad_lo[0] - t0 * s.dil[0];
                  index_t q1 = p1 + s.pad_lo[1] - t1 * s.dil[1];
                  index_t q2 = p2 + s.pad_lo[2] - t2 * s.dil[2];
                  if (q0 < 0 || q1 < 0 || q2 < 0 || q0 % s.stride[0] || q1 % s.stride[1] ||
                      q2 % s.stride[2])
                    continue;
                  index_t o0 = q0 / s.stride[0], o1 = q1 / s.stride[1], o2 = q2 / s.stride[2];
                  if (o0 >= s.out[0] || o1 >= s.out[1] || o2 >= s.out[2]) continue;
                  acc += static_cast<double>(xp[(o0 * s.out[1] + o1) * s.out[2] + o2]) *
                         static_cast<double>(wp[(t0 * s.k[1] + t1) * s.k[2] + t2]);
                }
          }
          yp[(p0 * s.in[1] + p1) * s.in[2] + p2] = apply_activation(s.act, static_cast<T>(acc));
        }
  });
}

}  // namespace kernels
}  // namespace convcore
