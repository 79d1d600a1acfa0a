// conv_transpose: the exact adjoint of conv (PyTorch's conv_transpose{1,2,3}d), plus bias and
// activation. Never through a zero-stuffed input: GEMM + col2im over tiles (kernels/im2col.hpp)
// or a gather per output plane (kernels/direct.hpp).
// Workspace: channels-first copies of x and y when channels_last.
#pragma once
#include <vector>

#include "conv.hpp"

namespace convcore {

// Runs a validated spec (from make_conv_transpose_spec): x has (N, C_out, out...) of the spec,
// y gets (N, C_in, in...), in the spec's layout.
template <class T>
void conv_transpose_forward(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y,
                            Algorithm algo = Algorithm::automatic) {
  const index_t out_elems = s.N * s.C_in * s.in_size();
  if (out_elems == 0) return;
  std::vector<T> xt, yt;
  if (s.channels_last) {
    xt = detail::workspace<T>(s.N * s.C_out * s.out_size(), "channels-first copy of x");
    kernels::to_channels_first(x, xt.data(), s.N, s.out_size(), s.C_out);
    x = xt.data();
    yt = detail::workspace<T>(out_elems, "channels-first output");
  }
  T* yc = s.channels_last ? yt.data() : y;
  if (algo == Algorithm::automatic) algo = choose_conv_transpose_algorithm(s);
  if (algo == Algorithm::winograd || algo == Algorithm::grouped)
    fail_value("algorithm='", algorithm_name(algo), "' is not available for conv_transpose (use "
               "'auto', 'direct', 'im2col' or 'reference')");
  if (algo == Algorithm::reference)
    kernels::conv_transpose_reference(s, x, w, bias, yc);
  else if (algo == Algorithm::im2col)
    active_kernels().fns(static_cast<T*>(nullptr)).conv_transpose_gemm(s, x, w, bias, yc);
  else
    kernels::conv_transpose_direct(s, x, w, bias, yc);
  if (s.channels_last) kernels::to_channels_last(yc, y, s.N, s.C_in, s.in_size());
}

}  // namespace convcore
