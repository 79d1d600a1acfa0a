// Squeeze-and-excitation (Hu et al., SENet): per image, z = mean over space of x (C values),
// s = sigmoid(W2 relu(W1 z + b1) + b2), y = x * s per channel. Three passes: pool (read x),
// excite (C x R work per image, tiny), scale (read x, write y). The squeeze/excite vectors are
// a workspace of 2 * N * C + N * R values.
#pragma once
#include <vector>

#include "../core/activation.hpp"
#include "../core/parallel.hpp"

namespace convcore {
namespace kernels {

// x, y: (N, C, S) or (N, S, C) when channels_last. w1 (R, C), b1 (R) or null, w2 (C, R),
// b2 (C) or null. Accumulates in double so that the float32 mean of a large plane stays exact.
template <class T>
void squeeze_excitation(const T* x, const T* w1, const T* b1, const T* w2, const T* b2, T* y,
                        index_t N, index_t C, index_t S, index_t R, bool channels_last) {
  std::vector<double> z(static_cast<std::size_t>(N * C)), h(static_cast<std::size_t>(N * R));
  std::vector<T> scale(static_cast<std::size_t>(N * C));
  const double inv = S > 0 ? 1.0 / static_cast<double>(S) : 0.0;
  if (!channels_last) {
    parallel_for(N * C, [&](index_t p) {
      const T* xp = x + p * S;
      double acc = 0;
      for (index_t i = 0; i < S; ++i) acc += xp[i];
      z[p] = acc * inv;
    });
  } else {
    parallel_for(N, [&](index_t n) {
      double* zn = z.data() + n * C;
      for (index_t c = 0; c < C; ++c) zn[c] = 0;
      for (index_t i = 0; i < S; ++i) {
        const T* xp = x + (n * S + i) * C;
        for (index_t c = 0; c < C; ++c) zn[c] += xp[c];
      }
      for (index_t c = 0; c < C; ++c) zn[c] *= inv;
    });
  }
  parallel_for(N, [&](index_t n) {
    const double* zn = z.data() + n * C;
    double* hn = h.data() + n * R;
    for (index_t r = 0; r < R; ++r) {
      double acc = b1 ? static_cast<double>(b1[r]) : 0.0;
      for (index_t c = 0; c < C; ++c) acc += static_cast<double>(w1[r * C + c]) * zn[c];
      hn[r] = acc < 0 ? 0 : acc;
    }
    for (index_t c = 0; c < C; ++c) {
      double acc = b2 ? static_cast<double>(b2[c]) : 0.0;
      for (index_t r = 0; r < R; ++r) acc += static_cast<double>(w2[c * R + r]) * hn[r];
      scale[n * C + c] = static_cast<T>(apply_activation(Activation::sigmoid, acc));
    }
  });
  if (!channels_last) {
    parallel_for(N * C, [&](index_t p) {
      const T* xp = x + p * S;
      T* yp = y + p * S;
      const T sc = scale[p];
      for (index_t i = 0; i < S; ++i) yp[i] = xp[i] * sc;
    });
  } else {
    const index_t block = 256;
    const index_t nb = (S + block - 1) / block;
    parallel_for(N * nb, [&](index_t item) {
      const index_t n = item / nb, b = item % nb;
      const index_t s1 = (b + 1) * block < S ? (b + 1) * block : S;
      const T* sc = scale.data() + n * C;
      for (index_t i = b * block; i < s1; ++i) {
        const T* xp = x + (n * S + i) * C;
        T* yp = y + (n * S + i) * C;
        for (index_t c = 0; c < C; ++c) yp[c] = xp[c] * sc[c];
      }
    });
  }
}

}  // namespace kernels
}  // namespace convcore
