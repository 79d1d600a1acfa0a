// Small kernels of the variant ops on CUDA: channel_shuffle, squeeze_excitation's three steps
// (pool, the two FC layers, the channel scaling) and fuse_asymmetric (ACNet's deploy-time
// kernel). The convs of shuffled_grouped_conv / asymmetric_conv2d run in conv_igemm /
// conv_direct / conv_depthwise; the channel map of a shuffle is the core's shuffled_channel.
//
// Each kernel takes the sizes as long long scalars and loops grid-stride, so any grid is
// correct. No workspace of their own: squeeze_excitation's caller allocates two (N, C) and one
// (N, C/r) accumulator-typed arrays (float32 for float16 data).
#include "common.cuh"

namespace convcore {
namespace cuda {

// y[n, shuffled_channel(c), s] = x[n, c, s]: one thread per element of x, read in x's layout (so
// loads are coalesced), written to its shuffled channel. A copy: the bits are moved unchanged.
template <class T>
__global__ void __launch_bounds__(256)
    channel_shuffle(const T* __restrict__ x, T* __restrict__ y, long long N, long long C,
                    long long S, long long groups, int channels_last) {
  const index_t total = N * C * S;
  for (index_t idx = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<index_t>(gridDim.x) * blockDim.x) {
    index_t n, c, sp;
    if (channels_last) {
      c = idx % C;
      sp = (idx / C) % S;
      n = idx / (C * S);
    } else {
      sp = idx % S;
      c = (idx / S) % C;
      n = idx / (S * C);
    }
    y[tensor_offset(channels_last != 0, n, shuffled_channel(c, C, groups), sp, C, S)] = x[idx];
  }
}

// z[n * C + c] = mean of x[n, c, :] over the S spatial positions: one block per (n, c) at a
// time, its threads striding over space, then a shared-memory tree sum. blockDim.x must be 256.
template <class T>
__global__ void __launch_bounds__(256)
    se_pool(const T* __restrict__ x, typename Num<T>::acc* __restrict__ z, long long N,
            long long C, long long S, int channels_last) {
  using A = typename Num<T>::acc;
  __shared__ A part[256];
  const int tid = threadIdx.x;
  for (index_t nc = blockIdx.x; nc < N * C; nc += gridDim.x) {
    const index_t n = nc / C, c = nc % C;
    A sum = A(0);
    for (index_t sp = tid; sp < S; sp += blockDim.x)
      sum += Num<T>::load(x + tensor_offset(channels_last != 0, n, c, sp, C, S));
    part[tid] = sum;
    __syncthreads();
    for (int h = 128; h > 0; h >>= 1) {
      if (tid < h) part[tid] += part[tid + h];
      __syncthreads();
    }
    if (tid == 0) z[nc] = part[0] / static_cast<A>(S);
    __syncthreads();  // part is reused by the next (n, c)
  }
}

// out[n, o] = act(b[o] + sum_i w[o, i] in[n, i]) with act ReLU (sigmoid != 0: sigmoid), the
// activations of the core. One thread per (n, o); w is (Out, In) row-major (a Linear weight).
template <class T>
__global__ void __launch_bounds__(256)
    se_fc(const typename Num<T>::acc* __restrict__ in, const T* __restrict__ w,
          const T* __restrict__ b, typename Num<T>::acc* __restrict__ out, int has_bias,
          long long N, long long In, long long Out, int sigmoid) {
  using A = typename Num<T>::acc;
  const Activation act = sigmoid ? Activation::sigmoid : Activation::relu;
  for (index_t idx = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < N * Out;
       idx += static_cast<index_t>(gridDim.x) * blockDim.x) {
    const index_t n = idx / Out, o = idx % Out;
    A acc = has_bias ? Num<T>::load(b + o) : A(0);
    const T* wr = w + o * In;
    const A* ir = in + n * In;
    for (index_t i = 0; i < In; ++i) acc += Num<T>::load(wr + i) * ir[i];
    out[idx] = apply_activation(act, acc);
  }
}

// y[n, c, s] = x[n, c, s] * scale[n * C + c], one thread per element in the layout of x.
template <class T>
__global__ void __launch_bounds__(256)
    se_scale(const T* __restrict__ x, const typename Num<T>::acc* __restrict__ scale,
             T* __restrict__ y, long long N, long long C, long long S, int channels_last) {
  const index_t total = N * C * S;
  for (index_t idx = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<index_t>(gridDim.x) * blockDim.x) {
    const index_t n = idx / (C * S);
    const index_t c = channels_last ? idx % C : (idx / S) % C;
    y[idx] = Num<T>::from(Num<T>::load(x + idx) * scale[n * C + c]);
  }
}

// W = w_square with w_hor added to the middle row and w_ver to the middle column of every
// k x k filter (k odd), in the order of the C++ core's fuse_asymmetric (square + hor + ver), so
// float32/float64 results are bit-identical to the CPU's. One thread per element of W.
template <class T>
__global__ void __launch_bounds__(256)
    fuse_asymmetric(const T* __restrict__ sq, const T* __restrict__ hor,
                    const T* __restrict__ ver, T* __restrict__ W, long long filters,
                    long long k) {
  using A = typename Num<T>::acc;
  const index_t kk = k * k, mid = k / 2;
  for (index_t idx = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       idx < filters * kk; idx += static_cast<index_t>(gridDim.x) * blockDim.x) {
    const index_t f = idx / kk, t = idx % kk, i = t / k, j = t % k;
    A v = Num<T>::load(sq + idx);
    if (i == mid) v += Num<T>::load(hor + f * k + j);
    if (j == mid) v += Num<T>::load(ver + f * k + i);
    W[idx] = Num<T>::from(v);
  }
}

}  // namespace cuda
}  // namespace convcore
