// Quantized convolution (ONNX QLinearConv / QNNPACK semantics), bit-identical to the CPU op:
//   acc = bias[o] + sum (x - x_zp) * (w - w_zp[o])   in int32 (wrapping, as the CPU kernel)
//   y   = requantize(acc, requant_multiplier(x_scale, w_scale[o], y_scale), y_zp, lo, hi)
// with requant_multiplier / requantize from core/requantize.hpp, the functions the CPU kernel
// calls (round half to even, saturation), and the tap geometry from conv_in_index. Padding
// reads the real value 0 (x_zp), so out-of-range taps add nothing.
//
// One thread per output element in the output's own layout (channels-first or -last), a
// grid-stride loop; TX, TW, TY are signed char (int8) or unsigned char (uint8). w_scale and
// w_zp hold 1 value (per tensor) or C_out (per output channel): w_scale_step / w_zp_step are 0
// or 1. No workspace.
#include <convcore/core/requantize.hpp>

#include "common.cuh"

namespace convcore {
namespace cuda {

template <class TX, class TW, class TY>
__global__ void __launch_bounds__(256)
    quantized_conv(const TX* __restrict__ x, const TW* __restrict__ w,
                   const int* __restrict__ bias, const double* __restrict__ w_scale,
                   const int* __restrict__ w_zp, TY* __restrict__ y, int has_bias,
                   int w_scale_step, int w_zp_step, double x_scale, double y_scale, int x_zp,
                   int y_zp, int y_lo, int y_hi, CONVCORE_CUDA_SPEC_PARAMS) {
  const ConvSpec s = make_spec(CONVCORE_CUDA_SPEC_ARGS);
  const index_t cpg = s.cin_per_group(), opg = s.cout_per_group(), ks = s.k_size();
  const index_t xsize = s.in_size(), ysize = s.out_size();
  const index_t Y1 = s.out[1], Y2 = s.out[2];
  const index_t total = s.N * s.C_out * ysize;
  for (index_t idx = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<index_t>(gridDim.x) * blockDim.x) {
    index_t n, o, r;
    if (s.channels_last) {
      o = idx % s.C_out;
      r = (idx / s.C_out) % ysize;
      n = idx / (s.C_out * ysize);
    } else {
      r = idx % ysize;
      o = (idx / ysize) % s.C_out;
      n = idx / (ysize * s.C_out);
    }
    const index_t q2 = r % Y2, q1 = (r / Y2) % Y1, q0 = r / (Y2 * Y1);
    const index_t g = o / opg;
    const int wz = w_zp[o * w_zp_step];
    unsigned acc = has_bias ? static_cast<unsigned>(bias[o]) : 0u;
    for (index_t cl = 0; cl < cpg; ++cl) {
      const index_t c = g * cpg + cl;
      const TW* wp = w + (o * cpg + cl) * ks;
      for (index_t t0 = 0; t0 < s.k[0]; ++t0) {
        const index_t i0 = conv_in_index(q0, t0, s.stride[0], s.dil[0], s.pad_lo[0]);
        if (i0 < 0 || i0 >= s.in[0]) continue;
        for (index_t t1 = 0; t1 < s.k[1]; ++t1) {
          const index_t i1 = conv_in_index(q1, t1, s.stride[1], s.dil[1], s.pad_lo[1]);
          if (i1 < 0 || i1 >= s.in[1]) continue;
          for (index_t t2 = 0; t2 < s.k[2]; ++t2) {
            const index_t i2 = conv_in_index(q2, t2, s.stride[2], s.dil[2], s.pad_lo[2]);
            if (i2 < 0 || i2 >= s.in[2]) continue;
            const int xv =
                static_cast<int>(x[tensor_offset(s.channels_last, n, c, (i0 * s.in[1] + i1) *
                                                                            s.in[2] + i2,
                                                 s.C_in, xsize)]) - x_zp;
            const int wv = static_cast<int>(wp[(t0 * s.k[1] + t1) * s.k[2] + t2]) - wz;
            acc += static_cast<unsigned>(xv * wv);
          }
        }
      }
    }
    const double mult = requant_multiplier(x_scale, w_scale[o * w_scale_step], y_scale);
    y[idx] = static_cast<TY>(requantize(static_cast<int>(acc), mult, y_zp, y_lo, y_hi));
  }
}

}  // namespace cuda
}  // namespace convcore
