// pointwise_conv: y = act(conv(x, w, groups) + bias) with a 1x1 kernel, any spatial rank, as a
// matrix product per image and group (kernels/pointwise.hpp).
//
// Workspace: the transposed weights (C_out * C_in/groups) when channels_last; nothing else.
#pragma once
#include <vector>

#include "../core/checked.hpp"
#include "../core/errors.hpp"
#include "../kernels/pointwise.hpp"
#include "conv.hpp"
#include "options.hpp"

namespace convcore {

struct PointwiseSpec {
  index_t N = 0, C_in = 0, C_out = 0, groups = 1;
  index_t P = 1;   // pixels per image (product of the spatial dims)
  Shape spatial;   // the spatial dims, in order
  bool channels_last = false;
  Activation act = Activation::none;
};

// w (C_out, C_in/groups) or (C_out, C_in/groups, 1, ...) with as many 1s as x has spatial dims.
inline PointwiseSpec make_pointwise_spec(const Shape& x, const Shape& w, index_t groups,
                                         bool channels_last, Activation act,
                                         index_t bias_len = -1, const char* wname = "w",
                                         const char* bname = "bias") {
  if (x.size() < 2 || x.size() > 5)
    fail_value("x must have 2 to 5 dimensions (N, C, *spatial), got ", x.size());
  for (auto v : x)
    if (v < 0) fail_value("x has a negative dimension");
  if (w.size() < 2)
    fail_value(wname, " must be (C_out, C_in/groups) or (C_out, C_in/groups, 1, ...), got ",
               w.size(), " dimensions");
  for (std::size_t d = 2; d < w.size(); ++d)
    if (w[d] != 1)
      fail_value(wname, " must be a 1x1 kernel for pointwise_conv: ", wname, ".shape[", d,
                 "] = ", w[d], " (use conv for larger kernels)");
  if (w.size() > 2 && w.size() != x.size())
    fail_value(wname, " has ", w.size() - 2, " trailing kernel dimensions but x has ",
               x.size() - 2, " spatial dimensions");
  if (groups < 1) fail_value("groups must be >= 1, got ", groups);
  PointwiseSpec s;
  s.N = x[0];
  s.C_in = channels_last ? x.back() : x[1];
  s.C_out = w[0];
  s.groups = groups;
  s.channels_last = channels_last;
  s.act = act;
  if (s.C_out < 1 || w[1] < 1) fail_value(wname, " must have non-empty channel dimensions");
  if (s.C_in != w[1] * groups)
    fail_value("x has ", s.C_in, " channels but ", wname, " expects C_in = ", wname,
               ".shape[1] * groups = ", w[1], " * ", groups, " = ", w[1] * groups);
  if (s.C_out % groups != 0)
    fail_value("groups (", groups, ") must divide the output channels ", wname, ".shape[0] = ",
               s.C_out);
  if (bias_len >= 0 && bias_len != s.C_out)
    fail_value(bname, " must have shape (", s.C_out, ",) to match ", wname, ".shape[0], got length ",
               bias_len);
  for (std::size_t d = channels_last ? 1 : 2; d < (channels_last ? x.size() - 1 : x.size()); ++d)
    s.spatial.push_back(x[d]);
  s.P = checked_product(s.spatial.begin(), s.spatial.end(), "x");
  checked_mul(checked_mul(s.N, s.C_out, "output"), s.P, "output");
  checked_mul(checked_mul(s.N, s.C_in, "x"), s.P, "x");
  return s;
}

inline Shape output_shape(const PointwiseSpec& s) {
  Shape r{s.N};
  if (!s.channels_last) r.push_back(s.C_out);
  r.insert(r.end(), s.spatial.begin(), s.spatial.end());
  if (s.channels_last) r.push_back(s.C_out);
  return r;
}

template <class T>
void pointwise_forward(const PointwiseSpec& s, const T* x, const T* w, const T* bias, T* y) {
  if (s.N * s.C_out * s.P == 0) return;
  if (!s.channels_last) {
    kernels::pointwise_nchw(s.N, s.C_in, s.C_out, s.groups, s.P, x, w, bias, s.act, y);
    return;
  }
  const index_t cpg = s.C_in / s.groups;
  std::vector<T> wt = detail::workspace<T>(s.C_out * cpg, "transposed pointwise weights");
  kernels::pointwise_transpose_weights(s.C_out, s.groups, cpg, w, wt.data());
  kernels::pointwise_nhwc(s.N * s.P, s.C_in, s.C_out, s.groups, x, wt.data(), bias, s.act, y);
}

}  // namespace convcore
