// asymmetric_conv2d and fuse_asymmetric (ACNet, Ding et al. 2019): a k x k conv plus a 1 x k and
// a k x 1 conv, the thin kernels centred on the square one's middle row / column. Because
// convolution is linear in the kernel, the three branches are one k x k conv with the fused
// kernel W = w_square; W[:, :, c, :] += w_hor; W[:, :, :, c] += w_ver (c = k // 2, k odd): the
// deploy-time form. The op fuses (a workspace of one k x k weight tensor) and runs one conv.
#pragma once
#include <vector>

#include "conv.hpp"

namespace convcore {

// Validates the three weights: w_square (O, C/g, k, k) with k odd, w_hor (O, C/g, 1, k),
// w_ver (O, C/g, k, 1). Returns k.
inline index_t check_asymmetric_weights(const Shape& sq, const Shape& hor, const Shape& ver) {
  if (sq.size() != 4)
    fail_value("w_square must be 4-D (C_out, C_in/groups, k, k), got ", sq.size(), "-D");
  for (auto v : sq)
    if (v < 0) fail_value("w_square has a negative dimension");
  const index_t k = sq[2];
  if (sq[3] != k || k < 1 || k % 2 == 0)
    fail_value("w_square must have an odd square kernel (k x k, k odd, so that the 1 x k and "
               "k x 1 kernels have a centre row/column), got ", sq[2], " x ", sq[3]);
  if (hor.size() != 4 || hor[0] != sq[0] || hor[1] != sq[1] || hor[2] != 1 || hor[3] != k)
    fail_value("w_hor must have shape (", sq[0], ", ", sq[1], ", 1, ", k,
               ") to match w_square (a 1 x k kernel)");
  if (ver.size() != 4 || ver[0] != sq[0] || ver[1] != sq[1] || ver[2] != k || ver[3] != 1)
    fail_value("w_ver must have shape (", sq[0], ", ", sq[1], ", ", k, ", 1",
               ") to match w_square (a k x 1 kernel)");
  checked_product(sq.begin(), sq.end(), "w_square");
  return k;
}

// W (O, C/g, k, k) = the single kernel equivalent to the three centred branches.
template <class T>
void fuse_asymmetric(const T* sq, const T* hor, const T* ver, T* W, index_t filters, index_t k) {
  const index_t c = k / 2, kk = k * k;
  parallel_for(filters, [&](index_t f) {
    const T* s = sq + f * kk;
    T* d = W + f * kk;
    for (index_t t = 0; t < kk; ++t) d[t] = s[t];
    for (index_t j = 0; j < k; ++j) d[c * k + j] += hor[f * k + j];
    for (index_t i = 0; i < k; ++i) d[i * k + c] += ver[f * k + i];
  });
}

// x as conv's (any layout/options of conv); w_square's shape gives the conv geometry.
inline ConvSpec make_asymmetric_spec(const Shape& x, const Shape& sq, const Shape& hor,
                                     const Shape& ver, const ConvOptions& o,
                                     index_t bias_len = -1) {
  check_asymmetric_weights(sq, hor, ver);
  if (x.size() != 4)
    fail_value("x must be 4-D (N, C, H, W) for asymmetric_conv2d, got ", x.size(), "-D");
  if (o.flip) fail_value("flip is not supported by asymmetric_conv2d");
  return make_conv_spec(x, sq, o, bias_len);
}

template <class T>
void asymmetric_conv2d_forward(const ConvSpec& s, const T* x, const T* sq, const T* hor,
                               const T* ver, const T* bias, T* y,
                               Algorithm algo = Algorithm::automatic) {
  const index_t filters = s.C_out * s.cin_per_group();
  std::vector<T> W = detail::workspace<T>(filters * s.k_size(), "fused kernel");
  fuse_asymmetric(sq, hor, ver, W.data(), filters, s.k[2]);
  conv_forward(s, x, W.data(), bias, y, algo);
}

}  // namespace convcore
