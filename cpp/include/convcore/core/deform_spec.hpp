// Validated geometry of one deformable convolution (ops/deform_conv.hpp builds it), shared by
// the CPU kernels (kernels/deformable.hpp) and the CUDA kernel (cuda/kernels/deform.cu), which
// rebuilds it on the device from scalars. No standard headers: it compiles under NVRTC.
// Tensors other than w are addressed by (n, channel, pixel) strides so that NCHW and NHWC
// (channels_last) share the kernels; pixels are flattened row-major (oy * out_w + ox).
#pragma once
#include "hd.hpp"

namespace convcore {

struct DeformSpec {
  index_t N = 0, C_in = 0, C_out = 0, groups = 1, offset_groups = 1;
  index_t H = 0, W = 0, kh = 1, kw = 1, out_h = 0, out_w = 0;
  index_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1, pad_h = 0, pad_w = 0;
  bool has_mask = false;
  bool channels_last = false;

  CONVCORE_HD index_t kk() const { return kh * kw; }
  CONVCORE_HD index_t in_pixels() const { return H * W; }
  CONVCORE_HD index_t out_pixels() const { return out_h * out_w; }
  CONVCORE_HD index_t cin_per_group() const { return C_in / groups; }
  CONVCORE_HD index_t cout_per_group() const { return C_out / groups; }
  CONVCORE_HD index_t cin_per_offset_group() const { return C_in / offset_groups; }
  // Strides of an activation tensor with C channels and S pixels in this spec's layout.
  CONVCORE_HD void strides(index_t C, index_t S, index_t* n, index_t* c, index_t* p) const {
    *n = C * S;
    *c = channels_last ? 1 : S;
    *p = channels_last ? C : 1;
  }
};

}  // namespace convcore
