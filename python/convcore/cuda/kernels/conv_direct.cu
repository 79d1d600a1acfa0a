// Direct convolution: one thread per output element, looping over its channels and taps.
//
// The kernel of choice when the implicit GEMM has nothing to tile and conv_depthwise does not
// apply: grouped convs with a few output channels per group and depthwise transposed convs
// (forward convs with one input channel per group, including convolve / correlate, go to
// conv_depthwise). It is also a complete kernel for every other geometry (algorithm="direct"),
// so it serves as the CUDA path's plain reference.
//
// Forward reads x through conv_in_index and pad_source_index (every padding mode; the fill value
// for "zeros"), the transposed form gathers through conv_out_index. Consecutive threads take
// consecutive output elements in the output's own layout, so stores and, for channels-last
// depthwise convs, loads are coalesced.
//
// out_shuffle > 0 stores output channel ch at shuffled_channel(ch, C_out, out_shuffle) (the
// shuffle of shuffled_grouped_conv folded into the write); 0 stores it in place.
//
// Launch: 1-D, any grid (grid-stride loop over N * C_out * output positions). No workspace.
#include "common.cuh"

namespace convcore {
namespace cuda {

template <class T, bool Transposed>
__global__ void __launch_bounds__(256)
    conv_direct(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                T* __restrict__ y, int has_bias, int out_shuffle, CONVCORE_CUDA_SPEC_PARAMS) {
  using A = typename Num<T>::acc;
  const ConvSpec s = make_spec(CONVCORE_CUDA_SPEC_ARGS);
  const index_t cpg = s.cin_per_group(), opg = s.cout_per_group(), ks = s.k_size();
  const index_t M = Transposed ? cpg : opg;  // output channels of the op per group
  const index_t Cx = Transposed ? s.C_out : s.C_in, Cy = Transposed ? s.C_in : s.C_out;
  const index_t X1 = Transposed ? s.out[1] : s.in[1], X2 = Transposed ? s.out[2] : s.in[2];
  const index_t xsize = (Transposed ? s.out[0] : s.in[0]) * X1 * X2;
  const index_t Y1 = Transposed ? s.in[1] : s.out[1], Y2 = Transposed ? s.in[2] : s.out[2];
  const index_t ysize = (Transposed ? s.in[0] : s.out[0]) * Y1 * Y2;
  const index_t total = s.N * Cy * ysize;
  const A fillv = static_cast<A>(s.fill);

  for (index_t idx = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<index_t>(gridDim.x) * blockDim.x) {
    index_t n, ch, r;
    if (s.channels_last) {
      ch = idx % Cy;
      r = (idx / Cy) % ysize;
      n = idx / (Cy * ysize);
    } else {
      r = idx % ysize;
      ch = (idx / ysize) % Cy;
      n = idx / (ysize * Cy);
    }
    const index_t q2 = r % Y2, q1 = (r / Y2) % Y1, q0 = r / (Y2 * Y1);
    const index_t g = ch / M, m = ch % M;
    A acc = has_bias ? Num<T>::load(bias + ch) : A(0);
    if (Transposed) {
      for (index_t ocl = 0; ocl < opg; ++ocl) {
        const index_t c = g * opg + ocl;
        const T* wp = w + ((g * opg + ocl) * cpg + m) * ks;
        for (index_t t0 = 0; t0 < s.k[0]; ++t0) {
          const index_t i0 = conv_out_index(q0, t0, s.stride[0], s.dil[0], s.pad_lo[0], s.out[0]);
          if (i0 < 0) continue;
          for (index_t t1 = 0; t1 < s.k[1]; ++t1) {
            const index_t i1 =
                conv_out_index(q1, t1, s.stride[1], s.dil[1], s.pad_lo[1], s.out[1]);
            if (i1 < 0) continue;
            for (index_t t2 = 0; t2 < s.k[2]; ++t2) {
              const index_t i2 =
                  conv_out_index(q2, t2, s.stride[2], s.dil[2], s.pad_lo[2], s.out[2]);
              if (i2 < 0) continue;
              const index_t sp = (i0 * X1 + i1) * X2 + i2;
              acc += Num<T>::load(x + tensor_offset(s.channels_last, n, c, sp, Cx, xsize)) *
                     Num<T>::load(wp + (t0 * s.k[1] + t1) * s.k[2] + t2);
            }
          }
        }
      }
    } else {
      for (index_t cl = 0; cl < cpg; ++cl) {
        const index_t c = g * cpg + cl;
        const T* wp = w + (ch * cpg + cl) * ks;
        for (index_t t0 = 0; t0 < s.k[0]; ++t0) {
          const index_t i0 = pad_source_index(
              conv_in_index(q0, t0, s.stride[0], s.dil[0], s.pad_lo[0]), s.in[0], s.pad_mode);
          for (index_t t1 = 0; t1 < s.k[1]; ++t1) {
            const index_t i1 = pad_source_index(
                conv_in_index(q1, t1, s.stride[1], s.dil[1], s.pad_lo[1]), s.in[1], s.pad_mode);
            for (index_t t2 = 0; t2 < s.k[2]; ++t2) {
              const index_t i2 =
                  pad_source_index(conv_in_index(q2, t2, s.stride[2], s.dil[2], s.pad_lo[2]),
                                   s.in[2], s.pad_mode);
              const index_t tap = (t0 * s.k[1] + t1) * s.k[2] + t2;
              const A xv = (i0 < 0 || i1 < 0 || i2 < 0)
                               ? fillv
                               : Num<T>::load(x + tensor_offset(s.channels_last, n, c,
                                                                (i0 * X1 + i1) * X2 + i2, Cx,
                                                                xsize));
              acc += xv * Num<T>::load(wp + (s.flip ? ks - 1 - tap : tap));
            }
          }
        }
      }
    }
    const A v = apply_activation(s.act, acc);
    if (out_shuffle)  // shuffled_grouped_conv: channel ch is stored at its shuffled place
      y[tensor_offset(s.channels_last, n, shuffled_channel(ch, Cy, out_shuffle), r, Cy, ysize)] =
          Num<T>::from(v);
    else
      y[idx] = Num<T>::from(v);
  }
}

}  // namespace cuda
}  // namespace convcore
