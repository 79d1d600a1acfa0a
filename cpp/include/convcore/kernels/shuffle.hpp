// Channel shuffle as a copy: each contiguous channel plane (channels-first) or each pixel's
// channel vector (channels-last) is written to its shuffled position in one pass.
#pragma once
#include <cstring>

#include "../core/geometry.hpp"
#include "../core/parallel.hpp"

namespace convcore {
namespace kernels {

// x, y: (N, C, S) with S the flattened spatial size; y[:, shuffled_channel(c)] = x[:, c].
template <class T>
void channel_shuffle_planes(const T* x, T* y, index_t N, index_t C, index_t S, index_t groups) {
  parallel_for(N * C, [&](index_t item) {
    const index_t n = item / C, c = item % C;
    const T* src = x + item * S;
    T* dst = y + (n * C + shuffled_channel(c, C, groups)) * S;
    if (S > 0) std::memcpy(dst, src, static_cast<std::size_t>(S) * sizeof(T));
  });
}

// x, y: (N, S, C); every pixel's channel vector is permuted.
template <class T>
void channel_shuffle_last(const T* x, T* y, index_t N, index_t C, index_t S, index_t groups) {
  const index_t per = C / groups;
  const index_t block = 64;  // pixels per work item
  const index_t nb = (S + block - 1) / block;
  parallel_for(N * nb, [&](index_t item) {
    const index_t n = item / nb, b = item % nb;
    const index_t s1 = (b + 1) * block < S ? (b + 1) * block : S;
    for (index_t s = b * block; s < s1; ++s) {
      const T* src = x + (n * S + s) * C;
      T* dst = y + (n * S + s) * C;
      // Walk the output in order (i outer) so the writes are sequential.
      for (index_t i = 0; i < per; ++i)
        for (index_t g = 0; g < groups; ++g) dst[i * groups + g] = src[g * per + i];
    }
  });
}

}  // namespace kernels
}  // namespace convcore
