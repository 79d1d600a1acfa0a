// spatially_separable_conv2d: y = conv(conv(x, w_col), w_row) + bias with w_col (C_mid,
// C_in/g, kh, 1) and w_row (C_out, C_mid/g, 1, kw). The column pass takes the vertical stride,
// padding and dilation, the row pass the horizontal ones; both use padding_mode (a column filter
// commutes with any horizontal re-indexing, so padding either pass equals padding x).
//
// Composition of two conv_forward calls through a FULL intermediate (N, C_mid, OH, W) (in the
// user's layout), plus each conv_forward's own workspace: simple, and the intermediate is no
// larger than C_mid/C_in times the input.
#pragma once
#include <vector>

#include "conv.hpp"
#include "options.hpp"

namespace convcore {

struct SpatiallySeparableSpec {
  ConvSpec col, row;
};

namespace detail {
// The 2-D options split into the vertical pass (axis 0 kept) and the horizontal one (axis 1).
inline ConvOptions axis_options(const ConvOptions& o, int axis) {
  ConvOptions a = o;
  a.act = Activation::none;
  index_t v[3][2];
  v[0][0] = per_dim(o.stride, 2, 0, 1, "stride", 1);
  v[0][1] = per_dim(o.stride, 2, 1, 1, "stride", 1);
  v[1][0] = per_dim(o.dilation, 2, 0, 1, "dilation", 1);
  v[1][1] = per_dim(o.dilation, 2, 1, 1, "dilation", 1);
  a.stride = {axis == 0 ? v[0][0] : 1, axis == 1 ? v[0][1] : 1};
  a.dilation = {axis == 0 ? v[1][0] : 1, axis == 1 ? v[1][1] : 1};
  if (!o.pad_same) {
    index_t lo[2], hi[2];
    for (int d = 0; d < 2; ++d) {
      lo[d] = per_dim(o.pad_lo, 2, d, 0, "padding", 0);
      hi[d] = per_dim(o.pad_hi.empty() ? o.pad_lo : o.pad_hi, 2, d, 0, "padding", 0);
    }
    a.pad_lo = {axis == 0 ? lo[0] : 0, axis == 1 ? lo[1] : 0};
    a.pad_hi = {axis == 0 ? hi[0] : 0, axis == 1 ? hi[1] : 0};
  }
  // "same" stays "same": along the other axis the kernel is 1 with stride 1, so it pads nothing.
  return a;
}

// The vertical pass of a separable op: make(x) with the width (axis w_axis of x) left as it
// is, even when it is empty (make_conv_spec refuses an empty output): the horizontal pass then
// pads it as conv2d pads x, so both ops accept the same inputs.
template <class Make>
ConvSpec vertical_pass_spec(Shape x, std::size_t w_axis, Make make) {
  const bool empty = x[w_axis] == 0;
  if (empty) x[w_axis] = 1;
  ConvSpec s = make(x);
  if (empty) s.in[2] = s.out[2] = 0;
  return s;
}
}  // namespace detail

inline SpatiallySeparableSpec make_spatially_separable_spec(const Shape& x, const Shape& wc,
                                                            const Shape& wr, const ConvOptions& o,
                                                            index_t bias_len = -1) {
  if (x.size() != 4)
    fail_value("x must be 4-D (N, C, H, W) (or (N, H, W, C) with channels_last), got ", x.size(),
               " dimensions");
  if (wc.size() != 4 || wc[3] != 1)
    fail_value("w_col must have shape (C_mid, C_in/groups, kh, 1), got ", wc.size(),
               "-D with last dimension ", wc.empty() ? 0 : wc.back());
  if (wr.size() != 4 || wr[2] != 1)
    fail_value("w_row must have shape (C_out, C_mid/groups, 1, kw), got ", wr.size(),
               "-D with third dimension ", wr.size() > 2 ? wr[2] : 0);
  if (o.groups < 1) fail_value("groups must be >= 1, got ", o.groups);
  const index_t C = o.channels_last ? x[3] : x[1];
  if (!detail::channels_match(C, wc[1], o.groups))
    fail_value("x has ", C, " channels but w_col expects C_in = w_col.shape[1] * groups = ", wc[1],
               " * ", o.groups);
  if (!detail::channels_match(wc[0], wr[1], o.groups))
    fail_value("w_row expects C_mid = w_row.shape[1] * groups = ", wr[1], " * ", o.groups,
               " channels but w_col makes ", wc[0]);
  if (bias_len >= 0 && bias_len != wr[0])
    fail_value("bias must have shape (", wr[0], ",) to match w_row.shape[0], got length ",
               bias_len);
  detail::check_padding_reach_2d(x, o, wc[2], wr[3]);
  SpatiallySeparableSpec s;
  s.col = detail::vertical_pass_spec(x, o.channels_last ? 2 : 3, [&](const Shape& xs) {
    return make_conv_spec(xs, wc, detail::axis_options(o, 0), -1);
  });
  ConvOptions r = detail::axis_options(o, 1);
  r.act = o.act;  // the activation follows the bias, after the last pass
  s.row = make_conv_spec(output_shape(s.col, false), wr, r, bias_len);
  return s;
}

template <class T>
void spatially_separable_forward(const SpatiallySeparableSpec& s, const T* x, const T* wc,
                                 const T* wr, const T* bias, T* y) {
  if (output_elements(s.row, false) == 0) return;
  std::vector<T> mid = detail::workspace<T>(output_elements(s.col, false), "intermediate");
  conv_forward(s.col, x, wc, static_cast<const T*>(nullptr), mid.data());
  conv_forward(s.row, mid.data(), wr, bias, y);
}

}  // namespace convcore
