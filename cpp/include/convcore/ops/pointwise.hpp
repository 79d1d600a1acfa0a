// pointwise_conv: y = act(conv(x, w, groups) + bias) with a 1x1 kernel, any spatial rank, as a
// matrix product per image and group. The product is pointwise_gemm below: the engine's packed
// SIMD GEMM (kernels/gemm.hpp, through the active ISA's kernel table), with the bias and the
// activation fused into its store and the layouts expressed as strides (no transposed copies).
//
// Workspace: the GEMM's packed panels only (kernels/gemm.hpp: per-thread scratch; packed A is
// w for channels-first and a chunk of 1024 pixels x C_in/groups of x for channels-last).
#pragma once
#include <vector>

#include "../core/checked.hpp"
#include "../core/errors.hpp"
#include "conv.hpp"
#include "engine.hpp"
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
  checked_product(w.begin(), w.end(), wname);  // (refuses a negative dimension too)
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
  if (!detail::channels_match(s.C_in, w[1], groups))
    fail_value("x has ", s.C_in, " channels but ", wname, " expects C_in = ", wname,
               ".shape[1] * groups = ", detail::product_text(w[1], groups));
  if (s.C_out % groups != 0)
    fail_value("groups (", groups, ") must divide the output channels ", wname, ".shape[0] = ",
               s.C_out);
  if (bias_len >= 0 && bias_len != s.C_out)
    fail_value(bname, " must have shape (", s.C_out, ",) to match ", wname,
               ".shape[0], got length ", bias_len);
  for (std::size_t d = channels_last ? 1 : 2; d < (channels_last ? x.size() - 1 : x.size()); ++d)
    s.spatial.push_back(x[d]);
  checked_product(x.begin(), x.end(), "x");
  s.P = checked_product(s.spatial.begin(), s.spatial.end(), "x");
  checked_product({s.N, s.C_out, s.P}, "output");
  return s;
}

inline Shape output_shape(const PointwiseSpec& s) {
  Shape r{s.N};
  if (!s.channels_last) r.push_back(s.C_out);
  r.insert(r.end(), s.spatial.begin(), s.spatial.end());
  if (s.channels_last) r.push_back(s.C_out);
  return r;
}

// The one matrix product of the pointwise family: C = act(A B + bias), A(i, k) = a[i * rsa +
// k * csa], B(k, j) = b[k * rsb + j * csb], C(i, j) = c[i * ldc + j]; bias_m per row, bias_n per
// column (either may be null). Parallel inside unless called from a parallel region.
// apack: A packed for the active level (a plan's), or null. kt: the kernel table (default:
// the active one).
template <class T>
void pointwise_gemm(index_t M, index_t N, index_t K, const T* a, index_t rsa, index_t csa,
                    const T* b, index_t rsb, index_t csb, T* c, index_t ldc, const T* bias_m,
                    const T* bias_n, Activation act, const T* apack = nullptr,
                    const kernels::KernelTable* kt = nullptr) {
  kernels::GemmArgs<T> g;
  g.apack = apack;
  g.M = M;
  g.N = N;
  g.K = K;
  g.a = a;
  g.rsa = rsa;
  g.csa = csa;
  g.b = b;
  g.rsb = rsb;
  g.csb = csb;
  g.c = c;
  g.ldc = ldc;
  g.bias_m = bias_m;
  g.bias_n = bias_n;
  g.act = act;
  (kt ? *kt : active_kernels()).fns(static_cast<T*>(nullptr)).gemm(g);
}

// Pixels per GEMM call of the channels-last pointwise conv.
constexpr index_t kPwChunk = 1024;

// The 1x1 conv spec whose GEMM weights (conv_gemm_engine::pack, PackForm::gemm) are the
// channels-first pointwise GEMM's A, group by group: a plan prepares them once.
inline ConvSpec pointwise_weight_spec(index_t C_in, index_t C_out, index_t groups) {
  ConvSpec s;
  s.C_in = C_in;
  s.C_out = C_out;
  s.groups = groups;
  return s;
}

namespace detail {
// pointwise_forward with the kernels of kt and, channels-first, the weights packed by a plan
// (apack: pointwise_weight_spec's PackForm::gemm form of w, or null).
template <class T>
void pointwise_run(const PointwiseSpec& s, const T* x, const T* w, const T* apack,
                   const T* bias, T* y, const kernels::KernelTable& kt) {
  if (s.N * s.C_out * s.P == 0) return;
  const index_t cpg = s.C_in / s.groups, opg = s.C_out / s.groups;
  if (!s.channels_last) {
    // (the form holds the groups one after the other, each in the level's MR-row panels)
    const ConvSpec ws = pointwise_weight_spec(s.C_in, s.C_out, s.groups);
    const index_t gsz =
        apack ? kt.fns(static_cast<T*>(nullptr)).prepare({kernels::PackForm::gemm, &ws, w}, nullptr) /
                    s.groups
              : 0;
    // Per image and group: y_g (opg x P) = w_g (opg x cpg) @ x_g (cpg x P).
    for (index_t n = 0; n < s.N; ++n)
      for (index_t g = 0; g < s.groups; ++g)
        pointwise_gemm(opg, s.P, cpg, w + g * opg * cpg, cpg, 1, x + (n * s.C_in + g * cpg) * s.P,
                       s.P, 1, y + (n * s.C_out + g * opg) * s.P, s.P,
                       bias ? bias + g * opg : static_cast<const T*>(nullptr),
                       static_cast<const T*>(nullptr), s.act,
                       apack ? apack + g * gsz : nullptr, &kt);
    return;
  }
  // Channels-last, rows are pixels: y[:, g] (NP x opg) = x[:, g] (NP x cpg) @ w_g^T, with w_g^T
  // read through strides. Here the GEMM's A is x itself, and the GEMM packs its A whole, so the
  // pixels go in chunks (one per work item): the packed copy stays kPwChunk x cpg per thread.
  const index_t R = s.N * s.P;
  const index_t nchunk = (R + kPwChunk - 1) / kPwChunk;
  parallel_for(s.groups * nchunk, [&](index_t item) {
    const index_t g = item / nchunk, r0 = (item % nchunk) * kPwChunk;
    const index_t nr = R - r0 < kPwChunk ? R - r0 : kPwChunk;
    pointwise_gemm(nr, opg, cpg, x + r0 * s.C_in + g * cpg, s.C_in, 1, w + g * opg * cpg, 1, cpg,
                   y + r0 * s.C_out + g * opg, s.C_out, static_cast<const T*>(nullptr),
                   bias ? bias + g * opg : static_cast<const T*>(nullptr), s.act,
                   static_cast<const T*>(nullptr), &kt);
  });
}
}  // namespace detail

template <class T>
void pointwise_forward(const PointwiseSpec& s, const T* x, const T* w, const T* bias, T* y) {
  detail::pointwise_run(s, x, w, static_cast<const T*>(nullptr), bias, y, active_kernels());
}

}  // namespace convcore
