// Sampling math of deformable convolution (DCNv1/v2), written once for the CPU kernels and the
// CUDA path (NVRTC): no standard-library calls, only arithmetic and comparisons.
//
// Semantics follow torchvision.ops.deform_conv2d (csrc/ops/cpu/deform_conv2d_kernel.cpp,
// bilinear_interpolate), which we checked line by line:
//  * tap (i, j) of output (oy, ox) samples at
//      y = (oy*stride_h - pad_h + i*dil_h) + dy,   x = (ox*stride_w - pad_w + j*dil_w) + dx,
//    the integer part computed exactly and the offset added in the input's own precision T;
//  * a sample with y <= -1 or y >= H or x <= -1 or x >= W is 0 (so +-inf offsets give 0);
//  * otherwise the four corners floor(y|x) and floor(y|x)+1 are weighted by
//    (1-ly)(1-lx), (1-ly)lx, ly(1-lx), ly*lx with ly = y - floor(y), and corners outside the
//    image read as 0. So inside (-1, 0) and (H-1, H) the value fades linearly to 0: at y = -0.25
//    only row 0 contributes, with weight 0.75 — zero padding seen through bilinear interpolation.
//  * NaN coordinates pass torchvision's range test (comparisons with NaN are false) and then
//    cast NaN to int, which is undefined behaviour; its weights are NaN, so the sample is NaN.
//    (For a NaN x with y inside, torchvision 0.29 then indexes far out of bounds: it crashed
//    with a segmentation fault when we tried; for a NaN y it returns NaN.)
//    We give NaN explicitly and never convert NaN to an integer or read memory for it. A NaN
//    coordinate whose other coordinate is outside the range above is 0, as in torchvision.
#pragma once
#include "geometry.hpp"
#include "hd.hpp"

namespace convcore {

// Sampling coordinate of output position o, tap t, offset off along one axis.
template <class T>
CONVCORE_HD T deform_coord(index_t o, index_t t, index_t stride, index_t dilation, index_t pad_lo,
                           T off) {
  return static_cast<T>(conv_in_index(o, t, stride, dilation, pad_lo)) + off;
}

// floor(v) for v in (-1, n] (the only range the sampler converts): truncation, corrected for
// negative non-integers. Avoids <cmath> so that NVRTC compiles it.
template <class T>
CONVCORE_HD index_t floor_in_range(T v) {
  index_t t = static_cast<index_t>(v);
  return static_cast<T>(t) > v ? t - 1 : t;
}

// One bilinear sample: the top-left corner (y0, x0) and the weights of the corners
// (y0,x0), (y0,x0+1), (y0+1,x0), (y0+1,x0+1). `inside` is false when the sample is 0 (outside
// the open range (-1, H) x (-1, W)); `is_nan` when a coordinate is NaN (the sample is NaN).
// Corners outside the image still get their weight: callers read them as 0.
template <class T>
struct BilinearSample {
  index_t y0, x0;
  T w00, w01, w10, w11;
  bool inside, is_nan;
};

template <class T>
CONVCORE_HD BilinearSample<T> bilinear_sample(T y, T x, index_t H, index_t W) {
  BilinearSample<T> s;
  s.y0 = 0;
  s.x0 = 0;
  s.w00 = s.w01 = s.w10 = s.w11 = T(0);
  // torchvision's test, kept in its form: a NaN coordinate makes no comparison true, so a
  // sample whose other coordinate is outside (or +-inf) is 0, not NaN.
  const bool outside = y <= T(-1) || y >= static_cast<T>(H) || x <= T(-1) ||
                       x >= static_cast<T>(W);
  s.is_nan = !outside && ((y != y) || (x != x));
  s.inside = !outside && !s.is_nan;
  if (!s.inside) return s;
  s.y0 = floor_in_range(y);
  s.x0 = floor_in_range(x);
  const T ly = y - static_cast<T>(s.y0), lx = x - static_cast<T>(s.x0);
  const T hy = T(1) - ly, hx = T(1) - lx;
  s.w00 = hy * hx;
  s.w01 = hy * lx;
  s.w10 = ly * hx;
  s.w11 = ly * lx;
  return s;
}

// Whether corner (y, x) lies in the image (a corner outside reads as 0).
CONVCORE_HD bool corner_in_image(index_t y, index_t x, index_t H, index_t W) {
  return y >= 0 && y < H && x >= 0 && x < W;
}

// The value of a computed sample (one that is not NaN) of an H x W plane read through
// load(row, col): 0 outside, otherwise the weighted corners, corners outside the image read as
// 0. Split from bilinear_value_at so that a caller can compute one sample (coordinates and
// weights) and gather it from several channels (the CUDA kernel does, per offset group).
template <class V, class T, class Load>
CONVCORE_HD V bilinear_gather(const BilinearSample<T>& s, const Load& load, index_t H, index_t W) {
  if (!s.inside) return V(0);
  const index_t y1 = s.y0 + 1, x1 = s.x0 + 1;
  V v00 = corner_in_image(s.y0, s.x0, H, W) ? load(s.y0, s.x0) : V(0);
  V v01 = corner_in_image(s.y0, x1, H, W) ? load(s.y0, x1) : V(0);
  V v10 = corner_in_image(y1, s.x0, H, W) ? load(y1, s.x0) : V(0);
  V v11 = corner_in_image(y1, x1, H, W) ? load(y1, x1) : V(0);
  return s.w00 * v00 + s.w01 * v01 + s.w10 * v10 + s.w11 * v11;
}

// The bilinear value at (y, x) of an H x W plane read through load(row, col), torchvision's
// rule. NaN in, NaN out: the NaN is produced arithmetically (y + x; 0/0 would trap under some
// flags). V is the value type of load (and of the sum); the coordinates are T.
template <class V, class T, class Load>
CONVCORE_HD V bilinear_value_at(const Load& load, index_t H, index_t W, T y, T x) {
  const BilinearSample<T> s = bilinear_sample(y, x, H, W);
  if (s.is_nan) return static_cast<V>(y + x);  // NaN
  return bilinear_gather<V>(s, load, H, W);
}

// The bilinear value of one plane (row-major H x W) at (y, x).
template <class T>
CONVCORE_HD T bilinear_value(const T* plane, index_t H, index_t W, T y, T x) {
  return bilinear_value_at<T>([plane, W](index_t r, index_t c) { return plane[r * W + c]; }, H,
                              W, y, x);
}

}  // namespace convcore
