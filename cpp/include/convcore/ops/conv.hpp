// conv: y = act(conv(x, w) + bias) in 1-3 spatial dims, any layout, padding mode and algorithm.
//
// Workspace (freed before returning): a channels-first copy of x when channels_last (except for
// the GEMM engine with zero padding, which reads channels-last directly), a padded
// copy of x for non-zero padding modes (the extent the outputs read), a flipped copy of w when flip, and a channels-first
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

namespace detail {
// Where an op's kernels get their weights. A plain call: the user's w, and every other form
// the kernels read (flipped, packed into panels, Winograd-transformed) made on the call. A
// plan (ops/plan.hpp): the plan's own copy of w, already flipped, and each form made once on
// first use (per kernel table) through `get`. Either way the same kernels run in the same
// order on the same values, so a plan's result is the plain call's, bit for bit.
template <class T>
struct WeightForms {
  const T* w = nullptr;
  bool flipped = false;  // w is already flipped (a plan of a flip=True conv)
  const void* plan = nullptr;
  const T* (*get)(const void*, const kernels::KernelTable&, const kernels::PrepareArgs<T>&) =
      nullptr;
  // The form a.form of the weights for the kernel a.spec describes, or null: the engine
  // makes it on the call.
  const T* form(const kernels::KernelTable& kt, const kernels::PrepareArgs<T>& a) const {
    return get ? get(plan, kt, a) : nullptr;
  }
};

// ops/depthwise.hpp (included at the end of this header).
template <class T>
void depthwise_run(const ConvSpec& s, const T* x, const WeightForms<T>& wf, const T* bias, T* y,
                   const kernels::KernelTable& kt);
}  // namespace detail

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

// The spec a kernel sees for a spec with a non-zero padding mode: x copied into planes of the
// extent the outputs read (borders filled by the mode), zero padding from then on. The copy
// stops where the last output's window ends, so a spec that is planar() stays planar (a 3-D
// spec with one input slice and depth padding after it once became two slices, which the
// plane kernels, chosen from the user's spec, did not see).
inline ConvSpec padded_copy_spec(const ConvSpec& s) {
  ConvSpec p = s;
  for (int d = 0; d < 3; ++d) {
    p.in[d] = (s.out[d] - 1) * s.stride[d] + dilated_extent(s.k[d], s.dil[d]);
    p.pad_lo[d] = 0;
    p.pad_hi[d] = 0;
  }
  p.pad_mode = PadMode::zeros;
  p.fill = 0.0;
  return p;
}

// Does the forced or chosen algorithm run the spec `k` that its kernel will see (after the
// padded copy and the layout change)? Refused with a message naming the algorithm.
inline void check_conv_algorithm(Algorithm algo, const ConvSpec& k) {
  if (algo == Algorithm::winograd && !kernels::winograd_applicable(k))
    fail_value("algorithm='winograd' needs a 3x3 (2-D) or k x 3 x 3 (3-D) conv with stride 1 "
               "along H and W (and groups 1 in 3-D, unless one input slice is read)");
  if (algo == Algorithm::grouped && !k.planar())
    fail_value("algorithm='grouped' needs a 1-D or 2-D conv (3-D: one input slice, one output "
               "slice, no depth padding before it)");
}

// The kernel spec and algorithm conv_forward runs a spec with (unless "auto" takes the
// depthwise kernels, conv_is_depthwise): the reference reads padding modes in place; the other
// kernels take zero padding, so a padding mode is resolved by a padded copy of x first, and
// they are chosen and checked against the spec after that copy.
struct ConvRoute {
  bool pad_copy;
  ConvSpec ks;
  Algorithm algo;
};
inline ConvRoute conv_route(const ConvSpec& s, Algorithm algo) {
  const bool pad_copy = algo != Algorithm::reference && !s.zero_padding() && !s.unpadded();
  ConvRoute r{pad_copy, pad_copy ? padded_copy_spec(s) : s, algo};
  if (algo == Algorithm::automatic) r.algo = choose_conv_algorithm(r.ks);
  return r;
}

namespace detail {
// conv_forward, with the weights from wf and the kernels from kt.
template <class T>
void conv_run(const ConvSpec& spec, const T* x, const WeightForms<T>& wf, const T* bias, T* y,
              Algorithm algo, const kernels::KernelTable& kt) {
  ConvSpec s = spec;
  const index_t out_elems = s.N * s.C_out * s.out_size();
  if (out_elems == 0) return;
  const T* w = wf.w;
  std::vector<T> xt, yt, xp, wflip;
  if (algo == Algorithm::automatic && conv_is_depthwise(s)) {
    depthwise_run(s, x, wf, bias, y, kt);
    return;
  }
  const ConvRoute route = conv_route(s, algo);
  const bool pad_copy = route.pad_copy;
  ConvSpec ks = route.ks;
  algo = route.algo;
  check_conv_algorithm(algo, ks);
  // The GEMM engine reads and writes channels-last itself; the other kernels, and the padded
  // copy of the non-zero padding modes, work on channels-first planes.
  const bool transpose_layout =
      s.channels_last && !((algo == Algorithm::im2col || algo == Algorithm::grouped) && !pad_copy);
  if (transpose_layout) {
    xt = detail::workspace<T>(s.N * s.C_in * s.in_size(), "channels-first copy of x");
    kernels::to_channels_first(x, xt.data(), s.N, s.in_size(), s.C_in);
    x = xt.data();
    yt = detail::workspace<T>(out_elems, "channels-first output");
    s.channels_last = ks.channels_last = false;
  }
  T* yc = transpose_layout ? yt.data() : y;
  if (algo == Algorithm::reference) {
    ConvSpec r = s;
    if (wf.flipped) r.flip = false;  // (the same products, in the same order)
    kernels::conv_reference(r, x, w, bias, yc);
  } else {
    if (pad_copy) {
      xp = detail::workspace<T>(checked_mul(s.N * s.C_in, ks.in_size(), "padded x"),
                                "padded copy of x");
      kernels::pad_planes_to(x, xp.data(), s.N * s.C_in, s.in, s.pad_lo, ks.in, s.pad_mode,
                             static_cast<T>(s.fill));
      x = xp.data();
    }
    s = ks;
    if (s.flip) {
      if (!wf.flipped) {
        wflip = detail::workspace<T>(s.C_out * s.cin_per_group() * s.k_size(), "flipped w");
        kernels::flip_kernels(w, wflip.data(), s.C_out * s.cin_per_group(), s.k_size());
        w = wflip.data();
      }
      s.flip = false;
    }
    const auto& fns = kt.fns(static_cast<T*>(nullptr));
    using kernels::PackForm;
    const auto form = [&](PackForm f) { return wf.form(kt, {f, &s, w}); };
    if (algo == Algorithm::im2col)
      fns.conv_gemm(s, x, w, bias, yc, form(PackForm::gemm));
    else if (algo == Algorithm::grouped)
      fns.grouped(s, x, w, bias, yc, form(PackForm::grouped));
    else if (algo == Algorithm::winograd)
      fns.winograd(s, x, w, bias, yc,
                   form(fns.winograd_few(s) ? PackForm::winograd_b : PackForm::winograd_a));
    else if (kernels::stem_applicable(s))
      fns.stem(s, x, w, bias, yc);
    else
      kernels::conv_direct(s, x, w, bias, yc);
  }
  if (transpose_layout) kernels::to_channels_last(yc, y, s.N, s.C_out, s.out_size());
}
}  // namespace detail

// Runs a validated spec (from make_conv_spec) on contiguous buffers in the spec's layout.
template <class T>
void conv_forward(const ConvSpec& spec, const T* x, const T* w, const T* bias, T* y,
                  Algorithm algo = Algorithm::automatic) {
  detail::conv_run(spec, x, detail::WeightForms<T>{w}, bias, y, algo, active_kernels());
}

}  // namespace convcore

#include "depthwise.hpp"
