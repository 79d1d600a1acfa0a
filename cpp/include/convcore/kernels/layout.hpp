// Layout changes the ops need around kernels that work on one layout: channels-last <-> first,
// explicit padding for the non-zero padding modes, and the 180-degree kernel rotation.
#pragma once
#include "../core/geometry.hpp"
#include "../core/padding.hpp"
#include "../core/parallel.hpp"

namespace convcore {
namespace kernels {

// (N, S, C) -> (N, C, S), S the flattened spatial size.
template <class T>
void to_channels_first(const T* src, T* dst, index_t N, index_t S, index_t C) {
  parallel_for(N * C, [&](index_t item) {
    const index_t n = item / C, c = item % C;
    const T* sp = src + n * S * C + c;
    T* dp = dst + item * S;
    for (index_t i = 0; i < S; ++i) dp[i] = sp[i * C];
  });
}

// (N, C, S) -> (N, S, C).
template <class T>
void to_channels_last(const T* src, T* dst, index_t N, index_t C, index_t S) {
  const index_t block = 256;
  const index_t nb = (S + block - 1) / block;
  parallel_for(N * nb, [&](index_t item) {
    const index_t n = item / nb, b = item % nb;
    const index_t s0 = b * block, s1 = s0 + block < S ? s0 + block : S;
    for (index_t c = 0; c < C; ++c) {
      const T* sp = src + (n * C + c) * S;
      T* dp = dst + n * S * C + c;
      for (index_t i = s0; i < s1; ++i) dp[i * C] = sp[i];
    }
  });
}

// Copy `planes` 3-D planes of size in[] into planes of size P[], padded coordinate a of axis d
// reading input a - lo[d] (the border filled by `mode`, or `fill` for zeros). P may stop short
// of in + lo + hi: a conv copies only the extent its outputs read.
template <class T>
void pad_planes_to(const T* src, T* dst, index_t planes, const index_t* in, const index_t* lo,
                   const index_t* P, PadMode mode, T fill) {
  const index_t isz = in[0] * in[1] * in[2], psz = P[0] * P[1] * P[2];
  parallel_for(planes * P[0], [&](index_t item) {
    const index_t pl = item / P[0], a = item % P[0];
    const T* sp = src + pl * isz;
    T* dp = dst + pl * psz + a * P[1] * P[2];
    index_t i0 = pad_source_index(a - lo[0], in[0], mode);
    for (index_t b = 0; b < P[1]; ++b) {
      index_t i1 = pad_source_index(b - lo[1], in[1], mode);
      for (index_t c = 0; c < P[2]; ++c) {
        index_t i2 = pad_source_index(c - lo[2], in[2], mode);
        dp[b * P[2] + c] = (i0 < 0 || i1 < 0 || i2 < 0) ? fill : sp[(i0 * in[1] + i1) * in[2] + i2];
      }
    }
  });
}

// The same into planes of size in[] + lo[] + hi[] (hi clipped at 0).
template <class T>
void pad_planes(const T* src, T* dst, index_t planes, const index_t* in, const index_t* lo,
                const index_t* hi, PadMode mode, T fill) {
  index_t P[3];
  for (int d = 0; d < 3; ++d) P[d] = in[d] + lo[d] + (hi[d] > 0 ? hi[d] : 0);
  pad_planes_to(src, dst, planes, in, lo, P, mode, fill);
}

// Rotate each of `count` kernels of `ksize` taps by 180 degrees (reverse the tap order).
template <class T>
void flip_kernels(const T* src, T* dst, index_t count, index_t ksize) {
  for (index_t i = 0; i < count; ++i)
    for (index_t t = 0; t < ksize; ++t) dst[i * ksize + t] = src[i * ksize + ksize - 1 - t];
}

}  // namespace kernels
}  // namespace convcore
