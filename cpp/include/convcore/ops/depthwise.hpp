// depthwise_conv2d: y = act(conv(x, w, groups=C) + bias), w (C*m, 1, kh, kw), depth multiplier
// m >= 1, on its own kernels (kernels/depthwise.hpp), not the generic grouped path: channels-last
// x on the channels-last kernel; channels-first x on the planar engine (flat form for planes
// whose packed input fits in 32 KiB, rows form above), or, for large planes of short rows, on
// bands gathered channels-last. An x with fewer than 16 channels always takes the planar engine
// (a vector over so few channels would be mostly empty); channels-last x then goes through
// channels-first copies of x and y.
//
// Workspace (freed before returning): for the channels-last kernels the packed weights
// (kh*kw*C*m) and the per-tap index tables (OH*kh + OW*kw indices); the planar engine's
// column and row tables (a few hundred indices); for the band path, per work item a band of
// output rows channels-last (about 64 KiB, at least one output row) plus the input rows that
// band reads, gathered channels-last (at most rows*kh*W*C elements). The planar engine keeps
// two per-thread buffers that outlive the call (core/scratch.hpp; no page faults per call):
// the packed input (flat: one plane, at most 32 KiB; rows: the padded rows of about 16 KiB of
// output) and the flat form's accumulators (one output plane). Padding modes are read in place.
#pragma once
#include <vector>

#include "../core/checked.hpp"
#include "../kernels/depthwise.hpp"
#include "../kernels/layout.hpp"
#include "engine.hpp"
#include "conv.hpp"
#include "options.hpp"

namespace convcore {

// Validate depthwise_conv2d(x, w): x (N, C, H, W) (or (N, H, W, C) when channels_last),
// w (C*m, 1, kh, kw). `wname` names the weight in messages. The result is the spec of the
// equivalent conv with groups = C.
inline ConvSpec make_depthwise_spec(const Shape& x, const Shape& w, const ConvOptions& o,
                                    index_t bias_len = -1, const char* wname = "w",
                                    const char* bname = "bias") {
  if (w.size() != 4)
    fail_value(wname, " must be 4-D (C*m, 1, kh, kw) for depthwise_conv2d, got ", w.size(),
               " dimensions");
  if (x.size() != 4)
    fail_value("x must be 4-D (N, C, H, W) (or (N, H, W, C) with channels_last), got ", x.size(),
               " dimensions");
  const index_t C = o.channels_last ? x[3] : x[1];
  if (C < 1) fail_value("x must have at least one channel");
  if (w[1] != 1)
    fail_value(wname, " must have shape (C*m, 1, kh, kw); got w.shape[1] = ", w[1],
               " (a depthwise filter sees one input channel)");
  if (w[0] < 1 || w[0] % C != 0)
    fail_value(wname, ".shape[0] must be a positive multiple of the ", C,
               " input channels (C*m for depth multiplier m), got ", w[0]);
  if (bias_len >= 0 && bias_len != w[0])
    fail_value(bname, " must have shape (", w[0], ",) to match ", wname, ".shape[0], got length ",
               bias_len);
  ConvOptions d = o;
  d.groups = C;
  d.flip = false;
  d.fill = 0.0;
  return make_conv_spec(x, w, d, -1);
}

// A dilated kernel far wider than the input and output (dilation 2**31 with "same" padding):
// the depthwise kernels copy padded rows and bands as long as the kernel's span, almost all
// zeros, where the direct kernel reads only the taps that land in x.
inline bool depthwise_span_dwarfs_input(const ConvSpec& s) {
  for (int d = 1; d < 3; ++d)
    if (dilated_extent(s.k[d], s.dil[d]) > 4 * (s.in[d] + s.out[d]) + 4096) return true;
  return false;
}

namespace detail {
// depthwise_forward with the weights from wf (conv.hpp) and the kernels from kt.
template <class T>
void depthwise_run(const ConvSpec& s, const T* x, const WeightForms<T>& wf, const T* bias, T* y,
                   const kernels::KernelTable& kt) {
  const index_t out_elems = s.N * s.C_out * s.out_size();
  if (out_elems == 0) return;
  const T* w = wf.w;
  if (depthwise_span_dwarfs_input(s)) {
    conv_run(s, x, wf, bias, y, Algorithm::direct, kt);
    return;
  }
  const auto& fns = kt.fns(static_cast<T*>(nullptr));
  // Packed weights only for the channels-last kernels (the planar engine reads w as given):
  // a plan's, or packed here into wt.
  std::vector<T> wt;
  auto packed = [&]() -> const T* {
    if (const T* p = wf.form(kt, {kernels::PackForm::depthwise, &s, w})) return p;
    wt = detail::workspace<T>(s.C_out * s.k_size(), "packed depthwise weights");
    kernels::depthwise_pack_weights(s, w, wt.data());
    return wt.data();
  };
  if (s.channels_last && s.C_in < kernels::kDepthwisePlanarMaxChannels) {
    // So few channels leave the channels-last vector mostly empty: go through the planar
    // kernel on channels-first copies (cheap at this channel count).
    ConvSpec p = s;
    p.channels_last = false;
    std::vector<T> xt =
        detail::workspace<T>(s.N * s.C_in * s.in_size(), "channels-first copy of x");
    kernels::to_channels_first(x, xt.data(), s.N, s.in_size(), s.C_in);
    std::vector<T> yt = detail::workspace<T>(out_elems, "channels-first output");
    fns.depthwise_planar(p, xt.data(), w, bias, yt.data());
    kernels::to_channels_last(yt.data(), y, s.N, s.C_out, s.out_size());
    return;
  }
  if (s.channels_last) {
    fns.depthwise_nhwc(s, x, packed(), bias, y);
    return;
  }
  if (kernels::depthwise_planar_wins(s, sizeof(T))) {
    fns.depthwise_planar(s, x, w, bias, y);
    return;
  }
  // Channels-first with short rows: bands gathered channels-last (kernels/depthwise.hpp).
  fns.depthwise_bands(s, x, packed(), bias, y);
}
}  // namespace detail

// Runs a spec from make_depthwise_spec on contiguous buffers in the spec's layout.
template <class T>
void depthwise_forward(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y) {
  detail::depthwise_run(s, x, detail::WeightForms<T>{w}, bias, y, active_kernels());
}

}  // namespace convcore
