// Depthwise convolution (groups == C_in, one input channel per group, C_out = C_in * m): one
// thread per output element, no channel loop, in any spatial rank and layout.
//
// What makes it cheaper than conv_direct on the same geometry: the thread first checks whether
// its whole receptive window lies inside x (true for all but a border of width ~k/2); there it
// reads x without any padding logic, so the inner loop is a load, a multiply-add and an index
// step. Border outputs go through pad_source_index (every padding mode, the fill value for
// "zeros"), exactly as conv_direct. Consecutive threads take consecutive outputs in the output's
// layout: along a row (channels-first) or along channels (channels-last), so stores are
// coalesced and loads are too (stride 1) or nearly so.
//
// out_shuffle > 0 stores output channel ch at shuffled_channel(ch, C_out, out_shuffle)
// (shuffled_grouped_conv with groups == C_in). Launch: 1-D, any grid. No workspace.
#include "common.cuh"

namespace convcore {
namespace cuda {

template <class T>
__global__ void __launch_bounds__(256)
    conv_depthwise(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                   T* __restrict__ y, int has_bias, int out_shuffle, CONVCORE_CUDA_SPEC_PARAMS) {
  using A = typename Num<T>::acc;
  const ConvSpec s = make_spec(CONVCORE_CUDA_SPEC_ARGS);
  const index_t mult = s.C_out / s.C_in, ks = s.k_size();
  const index_t X1 = s.in[1], X2 = s.in[2], xsize = s.in[0] * X1 * X2;
  const index_t Y1 = s.out[1], Y2 = s.out[2], ysize = s.out[0] * Y1 * Y2;
  const index_t total = s.N * s.C_out * ysize;
  const A fillv = static_cast<A>(s.fill);

  for (index_t idx = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<index_t>(gridDim.x) * blockDim.x) {
    index_t n, ch, r;
    if (s.channels_last) {
      ch = idx % s.C_out;
      r = (idx / s.C_out) % ysize;
      n = idx / (s.C_out * ysize);
    } else {
      r = idx % ysize;
      ch = (idx / ysize) % s.C_out;
      n = idx / (ysize * s.C_out);
    }
    const index_t q2 = r % Y2, q1 = (r / Y2) % Y1, q0 = r / (Y2 * Y1);
    const index_t c = ch / mult;
    const T* wp = w + ch * ks;
    const T* xc = x + tensor_offset(s.channels_last, n, c, 0, s.C_in, xsize);
    const index_t step = s.channels_last ? s.C_in : 1;  // elements between spatial neighbours
    A acc = has_bias ? Num<T>::load(bias + ch) : A(0);
    const index_t q[3] = {q0, q1, q2};
    bool inside = true;
    for (int d = 0; d < 3; ++d) {
      const index_t lo = conv_in_index(q[d], 0, s.stride[d], s.dil[d], s.pad_lo[d]);
      const index_t hi = conv_in_index(q[d], s.k[d] - 1, s.stride[d], s.dil[d], s.pad_lo[d]);
      inside = inside && lo >= 0 && hi < s.in[d];
    }
    for (index_t t0 = 0; t0 < s.k[0]; ++t0) {
      index_t i0 = conv_in_index(q0, t0, s.stride[0], s.dil[0], s.pad_lo[0]);
      if (!inside) i0 = pad_source_index(i0, s.in[0], s.pad_mode);
      for (index_t t1 = 0; t1 < s.k[1]; ++t1) {
        index_t i1 = conv_in_index(q1, t1, s.stride[1], s.dil[1], s.pad_lo[1]);
        if (!inside) i1 = pad_source_index(i1, s.in[1], s.pad_mode);
        for (index_t t2 = 0; t2 < s.k[2]; ++t2) {
          const index_t tap = (t0 * s.k[1] + t1) * s.k[2] + t2;
          const A wv = Num<T>::load(wp + (s.flip ? ks - 1 - tap : tap));
          index_t i2 = conv_in_index(q2, t2, s.stride[2], s.dil[2], s.pad_lo[2]);
          if (inside) {
            acc += Num<T>::load(xc + ((i0 * X1 + i1) * X2 + i2) * step) * wv;
            continue;
          }
          i2 = pad_source_index(i2, s.in[2], s.pad_mode);
          const A xv = (i0 < 0 || i1 < 0 || i2 < 0)
                           ? fillv
                           : Num<T>::load(xc + ((i0 * X1 + i1) * X2 + i2) * step);
          acc += xv * wv;
        }
      }
    }
    const index_t out_ch = out_shuffle ? shuffled_channel(ch, s.C_out, out_shuffle) : ch;
    y[out_shuffle ? tensor_offset(s.channels_last, n, out_ch, r, s.C_out, ysize) : idx] =
        Num<T>::from(apply_activation(s.act, acc));
  }
}

}  // namespace cuda
}  // namespace convcore
