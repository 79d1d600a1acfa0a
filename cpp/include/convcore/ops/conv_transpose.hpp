// conv_transpose: the exact adjoint of conv (PyTorch's conv_transpose{1,2,3}d), plus bias and
// activation. Never through a zero-stuffed input: GEMM + col2im over tiles (kernels/im2col.hpp),
// a gather per output plane (kernels/direct.hpp), or the sub-pixel form on the Winograd engine
// (kernels/subpixel.hpp: one forward conv with a 3x3 window per phase, then a pixel shuffle).
// Workspace: channels-first copies of x and y when channels_last; for the sub-pixel form the
// phase outputs of a run of images (at most 16 MiB, or one image), kept by the calling thread
// between calls, and the Winograd engine's.
#pragma once
#include <vector>

#include "../core/scratch.hpp"
#include "../kernels/subpixel.hpp"
#include "conv.hpp"

namespace convcore {

namespace detail {
struct subpixel_workspace {};  // owner of the sub-pixel form's scratch slots

// The sub-pixel form (algorithm="winograd"): validated here, run on the Winograd engine.
template <class T>
void conv_transpose_subpixel(const ConvSpec& s, const T* x, const WeightForms<T>& wf,
                             const T* bias, T* y, const kernels::KernelTable& kt) {
  const T* w = wf.w;
  const kernels::SubpixelPlan p = kernels::subpixel_plan(s);
  if (!p.ok || !kernels::winograd_applicable(p.phase))
    fail_value("algorithm='winograd' for conv_transpose needs groups 1, dilation 1, padding "
               "smaller than the kernel and a 3-tap window per output phase along H and W "
               "(kernel 3 with stride 1; kernel 4 with stride 2 and padding 1; kernel 5 or 6 "
               "with stride 2 and padding 2)");
  const ConvSpec& f = p.phase;
  const index_t zn = checked_mul(f.C_out, f.out_size(), "sub-pixel outputs");
  if (zn > kernels::kSubpixelMaxBytes / index_t(sizeof(T)))
    fail_value("algorithm='winograd' for conv_transpose would need more than ",
               kernels::kSubpixelMaxBytes >> 20, " MiB of phase outputs per image (use "
               "algorithm='im2col')");
  const std::vector<index_t> at = kernels::subpixel_taps(p, s);
  std::vector<T> bp;
  if (bias) {
    bp.resize(static_cast<std::size_t>(f.C_out));
    for (index_t i = 0; i < f.C_out; ++i) bp[static_cast<std::size_t>(i)] = bias[i % s.C_in];
  }
  const index_t per = kernels::kSubpixelChunkBytes / index_t(sizeof(T)) / zn;
  const index_t nb = per < 1 ? 1 : per > s.N ? s.N : per;
  T* z = thread_scratch<T, subpixel_workspace, 1>::get(0, nb * zn);
  const index_t xn = s.C_out * s.out_size();
  const auto& fns = kt.fns(static_cast<T*>(nullptr));
  for (index_t n0 = 0; n0 < s.N; n0 += nb) {
    ConvSpec fc = f;
    fc.N = s.N - n0 < nb ? s.N - n0 : nb;
    using kernels::PackForm;
    const T* pre = wf.form(kt, {fns.winograd_few(fc) ? PackForm::subpixel_b : PackForm::subpixel_a,
                                &fc, w, at.data(), s.C_in, s.k_size()});
    fns.winograd_subpixel(fc, x + n0 * xn, w, at.data(), s.C_in, s.k_size(),
                          bias ? bp.data() : nullptr, z, pre);
    kernels::subpixel_shuffle(p, s, z, n0, n0 + fc.N, y);
  }
}

// conv_transpose_forward with the weights from wf (conv.hpp) and the kernels from kt.
template <class T>
void conv_transpose_run(const ConvSpec& s, const T* x, const WeightForms<T>& wf, const T* bias,
                        T* y, Algorithm algo, const kernels::KernelTable& kt) {
  const T* w = wf.w;
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
  if (algo == Algorithm::grouped)
    fail_value("algorithm='grouped' is not available for conv_transpose (use 'auto', 'direct', "
               "'im2col', 'reference' or 'winograd')");
  if (algo == Algorithm::winograd)
    conv_transpose_subpixel(s, x, wf, bias, yc, kt);
  else if (algo == Algorithm::reference)
    kernels::conv_transpose_reference(s, x, w, bias, yc);
  else if (algo == Algorithm::im2col)
    kt.fns(static_cast<T*>(nullptr))
        .conv_transpose_gemm(s, x, w, bias, yc, wf.form(kt, {kernels::PackForm::transpose_gemm, &s, w}));
  else
    kernels::conv_transpose_direct(s, x, w, bias, yc);
  if (s.channels_last) kernels::to_channels_last(yc, y, s.N, s.C_in, s.in_size());
}
}  // namespace detail

// Runs a validated spec (from make_conv_transpose_spec): x has (N, C_out, out...) of the spec,
// y gets (N, C_in, in...), in the spec's layout.
template <class T>
void conv_transpose_forward(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y,
                            Algorithm algo = Algorithm::automatic) {
  detail::conv_transpose_run(s, x, detail::WeightForms<T>{w}, bias, y, algo, active_kernels());
}

}  // namespace convcore
