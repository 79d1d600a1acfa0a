// The validated geometry of one convolution, as plain data that every kernel reads.
#pragma once
#include "activation.hpp"
#include "hd.hpp"
#include "padding.hpp"

namespace convcore {

constexpr int kMaxSpatial = 3;

// Geometry of the forward convolution y = conv(x, w), with every rank widened to 3 spatial
// dimensions by leading axes of size 1 (a 1-D conv is a 1x1xL conv). A transposed conv is
// described by the forward conv it is the adjoint of: its input has the spatial size `out` and
// C_out channels, its output the spatial size `in` and C_in channels.
//
// A validated spec (ops/options.hpp) guarantees, along every axis, that in + pad_lo +
// max(pad_hi, 0) and (k - 1) * dil + 1 fit, stride <= that padded extent (a stride or dilation
// that cannot matter is clamped to it) and, in total, that N * C * prod(in), N * C * prod(out),
// the weights and N * C_in * prod(padded) are at most kMaxElements (core/checked.hpp): the
// products below and the kernels' index arithmetic cannot overflow.
struct ConvSpec {
  int nd = 2;  // spatial rank the user asked for, 1..3
  index_t N = 0, C_in = 0, C_out = 0, groups = 1;
  index_t in[kMaxSpatial] = {1, 1, 1};
  index_t k[kMaxSpatial] = {1, 1, 1};
  index_t out[kMaxSpatial] = {1, 1, 1};
  index_t stride[kMaxSpatial] = {1, 1, 1};
  index_t dil[kMaxSpatial] = {1, 1, 1};
  index_t pad_lo[kMaxSpatial] = {0, 0, 0};
  index_t pad_hi[kMaxSpatial] = {0, 0, 0};  // may be negative: trailing input never read
  PadMode pad_mode = PadMode::zeros;
  double fill = 0.0;  // value of PadMode::zeros padding (SciPy's fillvalue); 0 for conv
  bool flip = false;  // true convolution: kernel rotated 180 degrees in every spatial dim
  bool channels_last = false;
  Activation act = Activation::none;

  CONVCORE_HD index_t in_size() const { return in[0] * in[1] * in[2]; }
  CONVCORE_HD index_t out_size() const { return out[0] * out[1] * out[2]; }
  CONVCORE_HD index_t k_size() const { return k[0] * k[1] * k[2]; }
  CONVCORE_HD index_t cin_per_group() const { return C_in / groups; }
  CONVCORE_HD index_t cout_per_group() const { return C_out / groups; }
  // No depth to speak of: a 1-D or 2-D conv, or a 3-D one whose single output slice reads its
  // single input slice at depth 0 (kernels that work on planes take exactly these).
  CONVCORE_HD bool planar() const {
    return in[0] == 1 && out[0] == 1 && k[0] == 1 && pad_lo[0] == 0;
  }
  CONVCORE_HD bool zero_padding() const { return pad_mode == PadMode::zeros && fill == 0.0; }
  CONVCORE_HD bool unpadded() const {
    return pad_lo[0] == 0 && pad_lo[1] == 0 && pad_lo[2] == 0 && pad_hi[0] <= 0 &&
           pad_hi[1] <= 0 && pad_hi[2] <= 0;
  }
};

}  // namespace convcore
