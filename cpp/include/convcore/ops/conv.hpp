// conv: y = act(conv(x, w) + bias) in 1-3 spatial dims, any layout, padding mode and algorithm.
//
// Workspace (freed before returning): a channels-first copy of x when channels_last (except for
// the GEMM engine with zero padding, which reads channels-last directly), a padded
// copy of x for non-zero padding modes, a flipped copy of w when flip, and a channels-first
// output when channels_last. Each is at most the size of an input or output; nothing scales
// with the kernel size: the im2col engine packs its columns tile by tile (kernels/im2col.hpp,
// whose own workspace is bounded by the weights plus 512 KiB per thread).
#pragma once
#include <cstring>
#include <vector>

#include "../core/checked.hpp"
#include "../core/spec.hpp"
#include "../kernels/direct.hpp"
#include "../kernels/layout.hpp"
#include "../kernels/reference.hpp"
#include "algorithm.hpp"
#include "engine.hpp"
#include "options.hpp"

namespace convcore {

// ops/depthwise.hpp (included at the end of this header).
template <class T>
void depthwise_forward(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y);

// conv with groups == C_in (one input channel per group), 1-D or 2-D, unflipped, any padding
// mode but a non-zero fill: the depthwise kernels (ops/depthwise.hpp) take it under "auto".
inline bool conv_is_depthwise(const ConvSpec& s) {
  return s.groups > 1 && s.groups == s.C_in && s.C_out % s.C_in == 0 && s.planar() && !s.flip &&
         (s.pad_mode != PadMode::zeros || s.fill == 0.0);
}

namespace detail {
template <class T>
std::vector<T> workspace(index_t n, const char* what) {
  checked_bytes(n, sizeof(T), what);
  return std::vector<T>(static_cast<std::size_t>(n));
}
}  // namespace detail

// Runs a validated spec (from make_conv_spec) on contiguous buffers in the spec's layout.
template <class T>
void conv_forward(const ConvSpec& spec, const T* x, const T* w, const T* bias, T* y,
                  Algorithm algo = Algorithm::automatic) {
  ConvSpec s = spec;
  const index_t out_elems = s.N * s.C_out * s.out_size();
  if (out_elems == 0) return;
  std::vector<T> xt, yt, xp, wf;
  if (algo == Algorithm::automatic && conv_is_depthwise(s)) {
    depthwise_forward(s, x, w, bias, y);
    return;
  }
  if (algo == Algorithm::automatic) algo = choose_conv_algorithm(s);
  if (algo == Algorithm::winograd && !kernels::winograd_applicable(s))
    fail_value("algorithm='winograd' needs a 3x3 (2-D) or k x 3 x 3 (3-D) conv with stride 1 "
               "along H and W (and groups 1 in 3-D)");
  if (algo == Algorithm::grouped && !s.planar())
    fail_value("algorithm='grouped' needs a 1-D or 2-D conv");
  // The GEMM engine reads and writes channels-last itself; the other kernels, and the padded
  // copy of the non-zero padding modes, work on channels-first planes.
  const bool transpose_layout =
      s.channels_last && !((algo == Algorithm::im2col || algo == Algorithm::grouped) &&
                           (s.zero_padding() || s.unpadded()));
  if (transpose_layout) {
    xt = detail::workspace<T>(s.N * s.C_in * s.in_size(), "channels-first copy of x");
    kernels::to_channels_first(x, xt.data(), s.N, s.in_size(), s.C_in);
    x = xt.data();
    yt = detail::workspace<T>(out_elems, "channels-first output");
    s.channels_last = false;
  }
  T* yc = transpose_layout ? yt.data() : y;
  if (algo == Algorithm::reference) {
    kernels::conv_reference(s, x, w, bias, yc);
  } else {
    if (!s.zero_padding() && !s.unpadded()) {
      index_t P[3];
      for (int d = 0; d < 3; ++d) P[d] = s.in[d] + s.pad_lo[d] + (s.pad_hi[d] > 0 ? s.pad_hi[d] : 0);
      xp = detail::workspace<T>(checked_mul(s.N * s.C_in, P[0] * P[1] * P[2], "padded x"),
                                "padded copy of x");
      kernels::pad_planes(x, xp.data(), s.N * s.C_in, s.in, s.pad_lo, s.pad_hi, s.pad_mode,
                          static_cast<T>(s.fill));
      x = xp.data();
      for (int d = 0; d < 3; ++d) {
        s.in[d] = P[d];
        s.pad_lo[d] = 0;
        if (s.pad_hi[d] > 0) s.pad_hi[d] = 0;
      }
      s.pad_mode = PadMode::zeros;
      s.fill = 0.0;
    }
    if (s.flip) {
      wf = detail::workspace<T>(s.C_out * s.cin_per_group() * s.k_size(), "flipped w");
      kernels::flip_kernels(w, wf.data(), s.C_out * s.cin_per_group(), s.k_size());
      w = wf.data();
      s.flip = false;
    }
    if (algo == Algorithm::im2col)
      active_kernels().fns(static_cast<T*>(nullptr)).conv_gemm(s, x, w, bias, yc);
    else if (algo == Algorithm::grouped)
      active_kernels().fns(static_cast<T*>(nullptr)).grouped(s, x, w, bias, yc);
    else if (algo == Algorithm::winograd)
      active_kernels().fns(static_cast<T*>(nullptr)).winograd(s, x, w, bias, yc);
    else if (kernels::stem_applicable(s))
      active_kernels().fns(static_cast<T*>(nullptr)).stem(s, x, w, bias, yc);
    else
      kernels::conv_direct(s, x, w, bias, yc);
  }
  if (transpose_layout) kernels::to_channels_last(yc, y, s.N, s.C_out, s.out_size());
}

}  // namespace convcore

#include "depthwise.hpp"
