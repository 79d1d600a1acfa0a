// Deformable convolution (DCNv1; DCNv2 with a mask) as a tiled implicit GEMM per group:
//   Y[m, p] = sum_k W[m, k] B[k, p],  m = output channel in the group, p = (n, output pixel),
//   k = (tap, input channel in the group) (tap-major, so that consecutive rows share a tap and
//   usually an offset group), B[k, p] = mask * bilinear sample of x.
// B is never materialised: each block samples its 16 x 64 tile of columns into shared memory
// with the core's sampling functions (core/bilinear.hpp: deform_coord, bilinear_sample,
// bilinear_gather, corner_in_image), the very functions the CPU kernels call, so the border
// and NaN rules (torchvision's) cannot drift between the two. A thread's 4 rows of a tile are
// 4 channels, usually of one tap and offset group: their sample (offsets, coordinates,
// bilinear weights, mask) is computed once and gathered from each channel's plane. The mask
// multiplies the sample as it is stored in the tile (mask * v, the CPU's order); the bias is
// added at the store.
//
// Layouts: x, offset, mask and y channels-first or channels-last (DeformSpec::strides); w is
// (C_out, C_in/groups, kh, kw). float16 is loaded into float32 and everything, coordinates
// included, is computed in float32 (the CPU op has no float16); float32 and float64 compute in
// their own type, as the CPU op does.
//
// Launch: block (256), grid (ceil(P / 64), ceil(M / 64), groups), P = N * H_out * W_out,
// M = C_out / groups; requires K = C_in / groups * kh * kw < 2^31 (checked by the caller).
// No workspace: 2 x 16 x 65 accumulator values of shared memory per block.
#include <convcore/core/bilinear.hpp>
#include <convcore/core/deform_spec.hpp>

#include "common.cuh"

namespace convcore {
namespace cuda {

constexpr int kDeformBM = 64, kDeformBN = 64, kDeformBK = 16, kDeformThreads = 256;

// The DeformSpec as scalars, in this order (convcore.cuda._ops.deform_args builds the tuple).
#define CONVCORE_CUDA_DEFORM_PARAMS                                                           \
  long long N, long long C_in, long long C_out, long long groups, long long offset_groups,     \
      long long H, long long W, long long kh, long long kw, long long out_h, long long out_w, \
      long long stride_h, long long stride_w, long long dil_h, long long dil_w,              \
      long long pad_h, long long pad_w, int has_mask, int channels_last

template <class T>
__global__ void __launch_bounds__(kDeformThreads)
    deform_igemm(const T* __restrict__ x, const T* __restrict__ offset,
                 const T* __restrict__ mask, const T* __restrict__ w,
                 const T* __restrict__ bias, T* __restrict__ y, int has_bias,
                 CONVCORE_CUDA_DEFORM_PARAMS) {
  using A = typename Num<T>::acc;
  DeformSpec s;
  s.N = N;
  s.C_in = C_in;
  s.C_out = C_out;
  s.groups = groups;
  s.offset_groups = offset_groups;
  s.H = H;
  s.W = W;
  s.kh = kh;
  s.kw = kw;
  s.out_h = out_h;
  s.out_w = out_w;
  s.stride_h = stride_h;
  s.stride_w = stride_w;
  s.dil_h = dil_h;
  s.dil_w = dil_w;
  s.pad_h = pad_h;
  s.pad_w = pad_w;
  s.has_mask = has_mask != 0;
  s.channels_last = channels_last != 0;

  const index_t kk = s.kk(), cpg = s.cin_per_group(), opg = s.cout_per_group();
  const index_t cpog = s.cin_per_offset_group(), OP = s.out_pixels();
  const index_t M = opg, P = s.N * OP;
  const unsigned K = static_cast<unsigned>(cpg * kk);
  index_t xn, xc, xp, on, oc, op, mn, mc, mp, yn, yc, yp;
  s.strides(s.C_in, s.in_pixels(), &xn, &xc, &xp);
  s.strides(2 * s.offset_groups * kk, OP, &on, &oc, &op);
  s.strides(s.offset_groups * kk, OP, &mn, &mc, &mp);
  s.strides(s.C_out, OP, &yn, &yc, &yp);

  const index_t g = blockIdx.z;
  const index_t m0 = static_cast<index_t>(blockIdx.y) * kDeformBM;
  const index_t p0 = static_cast<index_t>(blockIdx.x) * kDeformBN;
  const int tid = threadIdx.x;

  __shared__ A As[kDeformBK][kDeformBM + 1];  // +1: the column-wise stores hit distinct banks
  __shared__ A Bs[kDeformBK][kDeformBN + 1];

  const FastDiv div_cpg(static_cast<unsigned>(cpg)), div_kw(static_cast<unsigned>(s.kw));

  // The B column this thread samples is fixed for the whole reduction: decode it once.
  const int bp = tid % kDeformBN, bk = tid / kDeformBN;
  const index_t p = p0 + bp;
  const bool p_ok = p < P;
  index_t n = 0, pix = 0, oy = 0, ox = 0;
  if (p_ok) {
    n = p / OP;
    pix = p - n * OP;
    oy = pix / s.out_w;
    ox = pix - oy * s.out_w;
  }
  const T* off_p = offset + n * on + pix * op;
  const T* mask_p = mask + n * mn + pix * mp;
  const int ak = tid % kDeformBK, am = tid / kDeformBK;
  const int tx = tid % 16, ty = tid / 16;

  A acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = A(0);

  for (unsigned kt = 0; kt < K; kt += kDeformBK) {
    for (int j = 0; j < 4; ++j) {
      const index_t m = m0 + am + 16 * j;
      const unsigned k = kt + ak;
      A v = A(0);
      if (m < M && k < K) {
        const unsigned tap = div_cpg.div(k), cl = k - tap * static_cast<unsigned>(cpg);
        v = Num<T>::load(w + ((g * opg + m) * cpg + cl) * kk + tap);
      }
      As[ak][am + 16 * j] = v;
    }
    // This thread's 4 rows are channels (k + 4j) of usually one tap and offset group: the
    // sample (coordinates, weights, mask) is computed once for them and gathered per channel.
    index_t last = -1;  // tap * offset_groups + og of the cached sample
    BilinearSample<A> smp;
    A nan_v = A(0), m_v = A(1);
    for (int j = 0; j < 4; ++j) {
      const unsigned k = kt + bk + 4 * j;
      A v = A(0);
      if (p_ok && k < K) {
        const unsigned tap = div_cpg.div(k), cl = k - tap * static_cast<unsigned>(cpg);
        const index_t c = g * cpg + cl, og = c / cpog;
        const index_t key = static_cast<index_t>(tap) * s.offset_groups + og;
        if (key != last) {
          last = key;
          const unsigned ti = div_kw.div(tap), tj = tap - ti * static_cast<unsigned>(s.kw);
          const index_t och = og * 2 * kk + 2 * static_cast<index_t>(tap);
          const A dy = Num<T>::load(off_p + och * oc), dx = Num<T>::load(off_p + (och + 1) * oc);
          const A sy = deform_coord<A>(oy, ti, s.stride_h, s.dil_h, s.pad_h, dy);
          const A sx = deform_coord<A>(ox, tj, s.stride_w, s.dil_w, s.pad_w, dx);
          smp = bilinear_sample(sy, sx, s.H, s.W);
          nan_v = sy + sx;  // the NaN of a NaN coordinate, as bilinear_value_at gives it
          m_v = s.has_mask ? Num<T>::load(mask_p + (og * kk + tap) * mc) : A(1);
        }
        const T* plane = x + n * xn + c * xc;
        const index_t W_ = s.W;
        v = smp.is_nan ? nan_v
                       : bilinear_gather<A>(
                             smp,
                             [plane, W_, xp](index_t r, index_t q) {
                               return Num<T>::load(plane + (r * W_ + q) * xp);
                             },
                             s.H, s.W);
        if (s.has_mask) v = m_v * v;
      }
      Bs[bk + 4 * j][bp] = v;
    }
    __syncthreads();
#pragma unroll
    for (int q = 0; q < kDeformBK; ++q) {
      A a[4], b[4];
      for (int i = 0; i < 4; ++i) a[i] = As[q][ty + 16 * i];
      for (int j = 0; j < 4; ++j) b[j] = Bs[q][tx + 16 * j];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }

  for (int i = 0; i < 4; ++i) {
    const index_t m = m0 + ty + 16 * i;
    if (m >= M) continue;
    const index_t ch = g * M + m;
    const A b = has_bias ? Num<T>::load(bias + ch) : A(0);
    for (int j = 0; j < 4; ++j) {
      const index_t pp = p0 + tx + 16 * j;
      if (pp >= P) continue;
      const index_t nn = pp / OP, r = pp - nn * OP;
      y[nn * yn + ch * yc + r * yp] = Num<T>::from(acc[i][j] + b);
    }
  }
}

}  // namespace cuda
}  // namespace convcore
