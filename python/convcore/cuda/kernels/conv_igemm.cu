// Tiled implicit GEMM: conv and conv_transpose as one matrix product per group, with the
// im2col matrix gathered tile by tile into shared memory and never materialised.
//
// Per group g the product is Y[m, p] = sum_k A[m, k] B[k, p]:
//   conv:            m = output channel in the group, k = (input channel in the group, tap),
//                    p = (n, output position); A = w, B = x read through conv_in_index and
//                    pad_source_index (every padding mode, fill value for "zeros").
//   conv_transpose:  m = output channel of the op in the group (the forward conv's input
//                    channel), k = (input channel of the op in the group, tap), p = (n, output
//                    position); B = x read through conv_out_index, the gather form of the
//                    adjoint (no zero-stuffed input, no atomics).
// Bias, activation and the layout (channels-first or channels-last) are applied at the store;
// out_shuffle > 0 stores output channel ch at shuffled_channel(ch, C_out, out_shuffle) (the
// shuffle of shuffled_grouped_conv folded into the write).
//
// Launch: block (256), grid (ceil(P / 64), ceil(M / 64), groups) where P = N * output positions
// and M = output channels per group. Each thread accumulates a 4 x 4 sub-tile; the tiles are
// 64 (m) x 64 (p) x 16 (k). Requires K = channels per group * taps < 2^31 (checked by the caller).
// No workspace: 2 x 16 x 65 accumulator values of shared memory per block.
#include "common.cuh"

namespace convcore {
namespace cuda {

constexpr int kGemmBM = 64, kGemmBN = 64, kGemmBK = 16, kGemmThreads = 256;

template <class T, bool Transposed>
__global__ void __launch_bounds__(kGemmThreads)
    conv_igemm(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
               T* __restrict__ y, int has_bias, int out_shuffle, CONVCORE_CUDA_SPEC_PARAMS) {
  using A = typename Num<T>::acc;
  const ConvSpec s = make_spec(CONVCORE_CUDA_SPEC_ARGS);
  const index_t cpg = s.cin_per_group(), opg = s.cout_per_group(), ks = s.k_size();
  // x of this op has Cx channels on the spatial grid X*, y has Cy channels on Y*.
  const index_t M = Transposed ? cpg : opg;
  const unsigned K = static_cast<unsigned>((Transposed ? opg : cpg) * ks);
  const index_t Cx = Transposed ? s.C_out : s.C_in, Cy = Transposed ? s.C_in : s.C_out;
  const index_t X0 = Transposed ? s.out[0] : s.in[0], X1 = Transposed ? s.out[1] : s.in[1],
                X2 = Transposed ? s.out[2] : s.in[2];
  const index_t Y1 = Transposed ? s.in[1] : s.out[1], Y2 = Transposed ? s.in[2] : s.out[2];
  const index_t xsize = X0 * X1 * X2, ysize = (Transposed ? s.in[0] : s.out[0]) * Y1 * Y2;
  const index_t P = s.N * ysize;
  const index_t g = blockIdx.z;
  const index_t m0 = static_cast<index_t>(blockIdx.y) * kGemmBM;
  const index_t p0 = static_cast<index_t>(blockIdx.x) * kGemmBN;
  const int tid = threadIdx.x;

  __shared__ A As[kGemmBK][kGemmBM + 1];  // +1: the column-wise stores hit distinct banks
  __shared__ A Bs[kGemmBK][kGemmBN + 1];

  const unsigned k12 = static_cast<unsigned>(s.k[1] * s.k[2]);
  const FastDiv div_ks(static_cast<unsigned>(ks)), div_k12(k12),
      div_k2(static_cast<unsigned>(s.k[2]));

  // The B column this thread gathers is fixed for the whole reduction: decode it once.
  const int bp = tid % kGemmBN, bk = tid / kGemmBN;
  const index_t p = p0 + bp;
  const bool p_ok = p < P;
  index_t n = 0, q0 = 0, q1 = 0, q2 = 0;
  if (p_ok) {
    n = p / ysize;
    index_t r = p - n * ysize;
    q2 = r % Y2;
    r /= Y2;
    q1 = r % Y1;
    q0 = r / Y1;
  }
  const int ak = tid % kGemmBK, am = tid / kGemmBK;  // A: consecutive threads along k (w rows)
  const int tx = tid % 16, ty = tid / 16;            // compute: rows ty + 16 i, cols tx + 16 j
  const A fillv = static_cast<A>(s.fill);

  A acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = A(0);

  for (unsigned kt = 0; kt < K; kt += kGemmBK) {
    for (int j = 0; j < 4; ++j) {
      const index_t m = m0 + am + 16 * j;
      const unsigned k = kt + ak;
      A v = A(0);
      if (m < M && k < K) {
        const unsigned cl = div_ks.div(k), tap = k - cl * static_cast<unsigned>(ks);
        index_t wi;
        if (Transposed)  // w: (C_in of the op = forward C_out, forward C_in / groups, *k)
          wi = ((g * opg + cl) * cpg + m) * ks + tap;
        else  // w: (C_out, C_in / groups, *k); flipping every axis reverses the tap index
          wi = ((g * opg + m) * cpg + cl) * ks + (s.flip ? ks - 1 - tap : tap);
        v = Num<T>::load(w + wi);
      }
      As[ak][am + 16 * j] = v;
    }
    for (int j = 0; j < 4; ++j) {
      const unsigned k = kt + bk + 4 * j;
      A v = A(0);
      if (p_ok && k < K) {
        const unsigned cl = div_ks.div(k), tap = k - cl * static_cast<unsigned>(ks);
        const unsigned t0 = div_k12.div(tap), rem = tap - t0 * k12;
        const unsigned t1 = div_k2.div(rem), t2 = rem - t1 * static_cast<unsigned>(s.k[2]);
        index_t i0, i1, i2;
        if (Transposed) {
          i0 = conv_out_index(q0, t0, s.stride[0], s.dil[0], s.pad_lo[0], s.out[0]);
          i1 = conv_out_index(q1, t1, s.stride[1], s.dil[1], s.pad_lo[1], s.out[1]);
          i2 = conv_out_index(q2, t2, s.stride[2], s.dil[2], s.pad_lo[2], s.out[2]);
        } else {
          i0 = pad_source_index(conv_in_index(q0, t0, s.stride[0], s.dil[0], s.pad_lo[0]),
                                s.in[0], s.pad_mode);
          i1 = pad_source_index(conv_in_index(q1, t1, s.stride[1], s.dil[1], s.pad_lo[1]),
                                s.in[1], s.pad_mode);
          i2 = pad_source_index(conv_in_index(q2, t2, s.stride[2], s.dil[2], s.pad_lo[2]),
                                s.in[2], s.pad_mode);
        }
        if (i0 >= 0 && i1 >= 0 && i2 >= 0) {
          const index_t c = g * (Transposed ? opg : cpg) + cl;
          v = Num<T>::load(x + tensor_offset(s.channels_last, n, c, (i0 * X1 + i1) * X2 + i2,
                                             Cx, xsize));
        } else if (!Transposed) {
          v = fillv;
        }
      }
      Bs[bk + 4 * j][bp] = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kGemmBK; ++kk) {
      A a[4], b[4];
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }

  for (int i = 0; i < 4; ++i) {
    const index_t m = m0 + ty + 16 * i;
    if (m >= M) continue;
    const index_t ch = g * M + m;
    const index_t out_ch = out_shuffle ? shuffled_channel(ch, Cy, out_shuffle) : ch;
    const A b = has_bias ? Num<T>::load(bias + ch) : A(0);
    for (int j = 0; j < 4; ++j) {
      const index_t pp = p0 + tx + 16 * j;
      if (pp >= P) continue;
      const index_t nn = pp / ysize, r = pp - nn * ysize;
      y[tensor_offset(s.channels_last, nn, out_ch, r, Cy, ysize)] =
          Num<T>::from(apply_activation(s.act, acc[i][j] + b));
    }
  }
}

}  // namespace cuda
}  // namespace convcore
