// flattened_conv2d (Jin et al. 2014): a 1x1 conv over channels w_channel (C_out, C_in), then a
// per-channel vertical filter w_vertical (C_out, kh), then a per-channel horizontal filter
// w_horizontal (C_out, kw), bias after the last. Equals conv with the rank-1 kernels
// W[o, c, i, j] = w_channel[o, c] * w_vertical[o, i] * w_horizontal[o, j]: the padding
// commutes with the per-pixel channel stage, and the vertical/horizontal stages split the
// stride, padding and dilation per axis.
//
// Workspace: two full intermediates, (N, C_out, H, W) after the channel stage and
// (N, C_out, OH, W) after the vertical one, plus the depthwise kernels' workspace.
#pragma once
#include <vector>

#include "depthwise.hpp"
#include "pointwise.hpp"
#include "spatially_separable.hpp"

namespace convcore {

struct FlattenedSpec {
  PointwiseSpec channel;
  ConvSpec vertical, horizontal;
};

inline FlattenedSpec make_flattened_spec(const Shape& x, const Shape& wc, const Shape& wv,
                                         const Shape& wh, const ConvOptions& o,
                                         index_t bias_len = -1) {
  if (x.size() != 4) fail_value("x must be 4-D (N, C, H, W), got ", x.size(), " dimensions");
  if (wc.size() != 2) fail_value("w_channel must be 2-D (C_out, C_in), got ", wc.size(), "-D");
  if (wv.size() != 2) fail_value("w_vertical must be 2-D (C_out, kh), got ", wv.size(), "-D");
  if (wh.size() != 2) fail_value("w_horizontal must be 2-D (C_out, kw), got ", wh.size(), "-D");
  if (o.channels_last) fail_value("channels_last is not supported by flattened_conv2d");
  if (wv[0] != wc[0])
    fail_value("w_vertical must have one filter per output channel: w_vertical.shape[0] = ", wv[0],
               " but w_channel.shape[0] = ", wc[0]);
  if (wh[0] != wc[0])
    fail_value("w_horizontal must have one filter per output channel: w_horizontal.shape[0] = ",
               wh[0], " but w_channel.shape[0] = ", wc[0]);
  if (wv[1] < 1) fail_value("w_vertical must have at least one tap");
  if (wh[1] < 1) fail_value("w_horizontal must have at least one tap");
  if (bias_len >= 0 && bias_len != wc[0])
    fail_value("bias must have shape (", wc[0], ",) to match w_channel.shape[0], got length ",
               bias_len);
  detail::check_padding_reach_2d(x, o, wv[1], wh[1]);
  FlattenedSpec s;
  s.channel = make_pointwise_spec(x, wc, 1, false, Activation::none, -1, "w_channel");
  const index_t Co = wc[0];
  ConvOptions v = detail::axis_options(o, 0), h = detail::axis_options(o, 1);
  h.act = o.act;  // the activation follows the bias, after the last stage
  s.vertical = detail::vertical_pass_spec({x[0], Co, x[2], x[3]}, 3, [&](const Shape& xs) {
    return make_depthwise_spec(xs, {Co, 1, wv[1], 1}, v, -1, "w_vertical");
  });
  s.horizontal = make_depthwise_spec(output_shape(s.vertical, false), {Co, 1, 1, wh[1]}, h,
                                     bias_len, "w_horizontal");
  return s;
}

template <class T>
void flattened_forward(const FlattenedSpec& s, const T* x, const T* wc, const T* wv, const T* wh,
                       const T* bias, T* y) {
  if (output_elements(s.horizontal, false) == 0) return;
  std::vector<T> a = detail::workspace<T>(s.channel.N * s.channel.C_out * s.channel.P,
                                          "channel-stage intermediate");
  pointwise_forward(s.channel, x, wc, static_cast<const T*>(nullptr), a.data());
  std::vector<T> b = detail::workspace<T>(output_elements(s.vertical, false),
                                          "vertical-stage intermediate");
  depthwise_forward(s.vertical, a.data(), wv, static_cast<const T*>(nullptr), b.data());
  a = std::vector<T>();
  depthwise_forward(s.horizontal, b.data(), wh, bias, y);
}

}  // namespace convcore
