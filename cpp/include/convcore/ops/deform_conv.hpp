// deform_conv2d: torchvision.ops.deform_conv2d (DCNv1; DCNv2 with a mask). Validation of the
// shapes (groups and offset groups are deduced from them) and the choice of kernel.
//
// Shapes, channels-first: x (N, C_in, H, W); offset (N, 2*offset_groups*kh*kw, H_out, W_out),
// a (dy, dx) pair per offset group and tap in row-major tap order; mask (N, offset_groups*kh*kw,
// H_out, W_out); w (C_out, C_in/groups, kh, kw); bias (C_out,). With channels_last, x, offset,
// mask and the output are (N, H, W, C) instead (the channel axis moves last in each).
// Workspace: see kernels/deformable.hpp (about the size of x plus w, and a bounded tile per
// thread); the reference kernel needs a channels-first copy of x when channels_last.
#pragma once
#include <vector>

#include "../core/checked.hpp"
#include "../core/errors.hpp"
#include "../kernels/deformable.hpp"
#include "../kernels/layout.hpp"
#include "algorithm.hpp"
#include "engine.hpp"
#include "options.hpp"

namespace convcore {

namespace detail {
inline void deform_need4(const Shape& s, const char* name, const char* layout) {
  if (s.size() != 4)
    fail_value(name, " must have 4 dimensions ", layout, ", got ", s.size());
  for (auto v : s)
    if (v < 0) fail_value(name, " has a negative dimension");
  checked_product(s.begin(), s.end(), name);
}
// (channels, height, width) of a 4-D activation shape in the given layout.
inline void deform_chw(const Shape& s, bool cl, index_t* c, index_t* h, index_t* w) {
  *c = cl ? s[3] : s[1];
  *h = cl ? s[1] : s[2];
  *w = cl ? s[2] : s[3];
}
}  // namespace detail

// Validate a deform_conv2d call. o: stride, dilation, padding (pad_lo/pad_hi or "same"),
// channels_last; o.groups is ignored (deduced as C_in / w.shape[1]). mask empty: no mask.
// bias_len < 0: no bias.
inline DeformSpec make_deform_spec(const Shape& x, const Shape& offset, const Shape& w,
                                   const Shape& mask, index_t bias_len, const ConvOptions& o) {
  const bool cl = o.channels_last;
  const char* lay = cl ? "(N, H, W, C)" : "(N, C, H, W)";
  detail::deform_need4(x, "x", lay);
  if (w.size() != 4)
    fail_value("w must have 4 dimensions (C_out, C_in/groups, kh, kw), got ", w.size());
  detail::deform_need4(offset, "offset", cl ? "(N, H_out, W_out, 2*offset_groups*kh*kw)"
                                            : "(N, 2*offset_groups*kh*kw, H_out, W_out)");
  const bool has_mask = !mask.empty();
  if (has_mask)
    detail::deform_need4(mask, "mask", cl ? "(N, H_out, W_out, offset_groups*kh*kw)"
                                          : "(N, offset_groups*kh*kw, H_out, W_out)");
  index_t cx, hx, wx;
  detail::deform_chw(x, cl, &cx, &hx, &wx);
  if (w[1] < 1) fail_value("w.shape[1] (input channels per group) must be >= 1");
  if (cx < 1) fail_value("x must have at least one channel");
  if (cx % w[1] != 0)
    fail_value("groups: x has ", cx, " channels, not a multiple of w.shape[1] = ", w[1],
               " (groups = C_in / w.shape[1] must be an integer)");
  ConvOptions co = o;
  co.groups = cx / w[1];
  if (co.pad_mode != PadMode::zeros || co.fill != 0.0)
    fail_value("padding_mode must be 'zeros' for deform_conv2d");
  if (co.flip) fail_value("flip is not supported by deform_conv2d");
  if (co.act != Activation::none) fail_value("activation is not supported by deform_conv2d");
  if (w[0] >= 1 && w[0] % co.groups != 0)
    fail_value("groups: groups = C_in / w.shape[1] = ", co.groups,
               " must divide the output channels w.shape[0] = ", w[0]);
  ConvSpec c = make_conv_spec(x, w, co, bias_len);  // geometry, groups, bias, overflow checks

  DeformSpec s;
  s.N = c.N;
  s.C_in = c.C_in;
  s.C_out = c.C_out;
  s.groups = c.groups;
  s.H = c.in[1];
  s.W = c.in[2];
  s.kh = c.k[1];
  s.kw = c.k[2];
  s.out_h = c.out[1];
  s.out_w = c.out[2];
  s.stride_h = c.stride[1];
  s.stride_w = c.stride[2];
  s.dil_h = c.dil[1];
  s.dil_w = c.dil[2];
  s.pad_h = c.pad_lo[1];
  s.pad_w = c.pad_lo[2];
  s.channels_last = cl;
  s.has_mask = has_mask;

  const index_t kk = s.kk();
  index_t co_, ho, wo;
  detail::deform_chw(offset, cl, &co_, &ho, &wo);
  if (offset[0] != s.N)
    fail_value("offset must have the batch size of x (", s.N, "), got ", offset[0]);
  if (co_ < 1 || co_ % (2 * kk) != 0)
    fail_value("offset must have 2*offset_groups*kh*kw channels, a positive multiple of 2*",
               s.kh, "*", s.kw, " = ", 2 * kk, ", got ", co_);
  if (ho != s.out_h || wo != s.out_w)
    fail_value("offset must have the spatial size of the output (", s.out_h, ", ", s.out_w,
               "), got (", ho, ", ", wo, ")");
  s.offset_groups = co_ / (2 * kk);
  if (s.C_in % s.offset_groups != 0)
    fail_value("offset: offset_groups = offset channels / (2*kh*kw) = ", s.offset_groups,
               " must divide the input channels C_in = ", s.C_in);
  if (has_mask) {
    index_t cm, hm, wm;
    detail::deform_chw(mask, cl, &cm, &hm, &wm);
    if (mask[0] != s.N)
      fail_value("mask must have the batch size of x (", s.N, "), got ", mask[0]);
    if (cm != s.offset_groups * kk)
      fail_value("mask must have offset_groups*kh*kw = ", s.offset_groups, "*", kk, " = ",
                 s.offset_groups * kk, " channels (one per offset group and tap), got ", cm);
    if (hm != s.out_h || wm != s.out_w)
      fail_value("mask must have the spatial size of the output (", s.out_h, ", ", s.out_w,
                 "), got (", hm, ", ", wm, ")");
  }
  return s;
}

inline Shape deform_output_shape(const DeformSpec& s) {
  return s.channels_last ? Shape{s.N, s.out_h, s.out_w, s.C_out}
                         : Shape{s.N, s.C_out, s.out_h, s.out_w};
}

namespace detail {
template <class T>
void deform_run(const DeformSpec& s, const T* x, const T* offset, const T* mask, const T* w,
                const T* wpacked, const T* bias, T* y, Algorithm algo) {
  if (s.N * s.C_out * s.out_pixels() == 0) return;
  if (!s.has_mask) mask = nullptr;
  if (algo == Algorithm::reference) {
    std::vector<T> xt;
    if (s.channels_last) {
      xt.resize(checked_bytes(s.N * s.C_in * s.in_pixels(), sizeof(T), "channels-first x") /
                sizeof(T));
      kernels::to_channels_first(x, xt.data(), s.N, s.in_pixels(), s.C_in);
      x = xt.data();
    }
    kernels::deform_reference(s, x, offset, mask, w, bias, y);
    return;
  }
  active_kernels().fns(static_cast<T*>(nullptr)).deform(s, x, offset, mask, w, wpacked, bias, y);
}
}  // namespace detail

// Runs a validated spec on contiguous buffers in the spec's layout. mask may be null only when
// the spec has none; bias may be null. Algorithm::reference runs the definition.
template <class T>
void deform_conv2d_forward(const DeformSpec& s, const T* x, const T* offset, const T* mask,
                           const T* w, const T* bias, T* y,
                           Algorithm algo = Algorithm::automatic) {
  detail::deform_run(s, x, offset, mask, w, static_cast<const T*>(nullptr), bias, y, algo);
}

// A deform_conv2d layer's weights for any number of deform_conv2d_run calls: own copies of w
// and the bias, and w in the tiled kernel's packed form for one group count (groups is
// deduced from x: C_in / w.shape[1]). A run whose x has another group count packs for that
// call only.
template <class T>
struct DeformConvWeights {
  Shape w_shape;
  std::vector<T> w, bias, packed;
  index_t bias_len = -1;  // -1: no bias
  index_t groups = 0;     // the group count packed for; 0: not packed
  std::size_t bytes() const { return (w.size() + bias.size() + packed.size()) * sizeof(T); }
};

// Copies w (C_out, C_in/groups, kh, kw) and the bias (bias_len = C_out values, or -1 and null).
//
//   DeformConvWeights<float> pw = deform_conv2d_weights(w_shape, w, bias, bias_len);
//   deform_conv2d_pack(&pw, s.groups);               // optional: once, before the runs
//   deform_conv2d_run(pw, s, x, offset, mask, y);    // as deform_conv2d_forward(s, x, ..., y)
template <class T>
DeformConvWeights<T> deform_conv2d_weights(const Shape& w_shape, const T* w, const T* bias,
                                           index_t bias_len) {
  if (w_shape.size() != 4)
    fail_value("w must have 4 dimensions (C_out, C_in/groups, kh, kw), got ", w_shape.size());
  DeformConvWeights<T> p;
  p.w_shape = w_shape;
  p.w.assign(w, w + checked_product(w_shape.begin(), w_shape.end(), "w"));
  if (bias) p.bias.assign(bias, bias + bias_len);
  p.bias_len = bias ? bias_len : -1;
  return p;
}

// Packs p's w for specs with `groups` groups (not thread-safe: pack before sharing p).
template <class T>
void deform_conv2d_pack(DeformConvWeights<T>* p, index_t groups) {
  DeformSpec s;
  s.C_out = p->w_shape[0];
  s.C_in = p->w_shape[1] * groups;
  s.kh = p->w_shape[2];
  s.kw = p->w_shape[3];
  s.groups = groups;
  p->packed.resize(static_cast<std::size_t>(kernels::deform_packed_size<T>(s)));
  kernels::deform_pack_weights(s, p->w.data(), p->packed.data());
  p->groups = groups;
}

// deform_conv2d_forward(s, x, offset, mask, w, bias, y, algo) with p's weights, bit for bit; s
// validated against p.w_shape and p.bias_len.
template <class T>
void deform_conv2d_run(const DeformConvWeights<T>& p, const DeformSpec& s, const T* x,
                       const T* offset, const T* mask, T* y,
                       Algorithm algo = Algorithm::automatic) {
  const T* wpacked = s.groups == p.groups ? p.packed.data() : static_cast<const T*>(nullptr);
  detail::deform_run(s, x, offset, mask, p.w.data(), wpacked,
                     p.bias.empty() ? static_cast<const T*>(nullptr) : p.bias.data(), y, algo);
}

}  // namespace convcore
