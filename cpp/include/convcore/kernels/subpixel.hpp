// Sub-pixel decomposition of a transposed conv (Shi et al. 2016, read backwards): with stride
// s, output pixel s q + r of phase r sums a stride-1 correlation of x around q
// (core/geometry.hpp, subpixel_window). All s_h x s_w phases together are one forward conv of
// x with s_h s_w C_out output channels and a small kernel (3 x 3 for the 4x4/2 layers of
// DCGAN and U-Net decoders, 2 x 2 taps of each phase plus zeros), followed by a pixel shuffle
// into y. No zero-stuffed input; the forward conv can be a 3x3 Winograd one, which does 9
// multiplications per input pixel and channel pair where GEMM + col2im does 16.
//
// Here: the plan (the phase conv's spec), where the phase conv's weights are in w, and the
// shuffle. The Winograd engine runs the phase conv (winograd_engine::run_subpixel), the op
// in ops/conv_transpose.hpp puts it together; the cost model is in ops/algorithm.hpp.
#pragma once
#include <vector>

#include "../core/geometry.hpp"
#include "../core/parallel.hpp"
#include "../core/spec.hpp"

namespace convcore {
namespace kernels {

// Workspace of the sub-pixel form (ops/conv_transpose.hpp): the phase outputs of one image at
// most kSubpixelMaxBytes, of a run of images at most kSubpixelChunkBytes (or one image); the
// Winograd engine's own (kernels/winograd.hpp). algorithm="auto" takes the form only when the
// phase conv's weights (phases x C_in x C_out x window) and one image's phase outputs are
// each within kSubpixelAutoElems elements (ops/algorithm.hpp).
constexpr index_t kSubpixelMaxBytes = index_t(64) << 20;
constexpr index_t kSubpixelChunkBytes = index_t(16) << 20;
constexpr index_t kSubpixelAutoElems = index_t(4) << 20;

struct SubpixelPlan {
  bool ok = false;  // undilated, groups 1, padding before < kernel, stride <= 64 in every dim
  ConvSpec phase;       // the forward conv: x -> z (N, phases x C, Q...), channels-first
  index_t lo[kMaxSpatial] = {0, 0, 0};  // first window position per dim
  index_t phases = 1;   // s_d x s_h x s_w
};

// s: a transposed conv's spec (x has C_out channels and size `out`, y has C_in and `in`).
inline SubpixelPlan subpixel_plan(const ConvSpec& s) {
  SubpixelPlan p;
  if (s.groups != 1 || !s.zero_padding() || s.flip) return p;
  ConvSpec& f = p.phase;
  f.nd = s.nd;
  f.N = s.N;
  f.C_in = s.C_out;
  f.act = s.act;
  for (int d = 0; d < kMaxSpatial; ++d) {
    const index_t S = s.stride[d], K = s.k[d], P = s.pad_lo[d], X = s.out[d];
    if (s.dil[d] != 1 || P >= K || S > 64) return p;  // (64: phase counts stay small)
    index_t lo, hi;
    subpixel_window(K, S, P, &lo, &hi);
    p.lo[d] = lo;
    p.phases *= S;
    f.in[d] = X;
    f.k[d] = hi - lo + 1;
    f.out[d] = ceil_div(s.in[d], S);
    f.pad_lo[d] = -lo;
    f.pad_hi[d] = f.out[d] + hi - X;
  }
  f.C_out = p.phases * s.C_in;
  p.ok = true;
  return p;
}

// Where the phase conv's weights are: for phase ph = (r_d s_h + r_h) s_w + r_w and window
// position j (of f.k_size()), the offset of its tap in a kernel of w, or -1 (no tap: zero).
// The Winograd engine reads w[o][c] through it (winograd_engine::subpixel_weights), so W'
// (2.25x w for 4x4/2) is never written.
inline std::vector<index_t> subpixel_taps(const SubpixelPlan& p, const ConvSpec& s) {
  const ConvSpec& f = p.phase;
  const index_t fs = f.k_size();
  std::vector<index_t> at(static_cast<std::size_t>(p.phases * fs));
  for (index_t ph = 0; ph < p.phases; ++ph) {
    const index_t r[3] = {ph / (s.stride[1] * s.stride[2]), ph / s.stride[2] % s.stride[1],
                          ph % s.stride[2]};
    for (index_t j = 0; j < fs; ++j) {
      const index_t pos[3] = {j / (f.k[1] * f.k[2]), j / f.k[2] % f.k[1], j % f.k[2]};
      index_t off = 0;
      for (int d = 0; d < 3 && off >= 0; ++d) {
        const index_t k = subpixel_tap(r[d], p.lo[d] + pos[d], s.stride[d], s.pad_lo[d]);
        off = k >= 0 && k < s.k[d] ? off * s.k[d] + k : -1;
      }
      at[static_cast<std::size_t>(ph * fs + j)] = off;
    }
  }
  return at;
}

// y[n][c][s q + r] = z[n][(ph, c)][q] for images [n0, n1) (z holds those images from its
// start), every output of y written once.
template <class T>
void subpixel_shuffle(const SubpixelPlan& p, const ConvSpec& s, const T* z, index_t n0,
                      index_t n1, T* y) {
  const ConvSpec& f = p.phase;
  const index_t C = s.C_in, Y = s.in_size(), Z = f.out_size();
  const index_t S0 = s.stride[0], S1 = s.stride[1], S2 = s.stride[2];
  parallel_for((n1 - n0) * C, [&](index_t item) {
    const index_t n = item / C, c = item % C;
    T* yc = y + ((n0 + n) * C + c) * Y;
    for (index_t i0 = 0; i0 < s.in[0]; ++i0)
      for (index_t i1 = 0; i1 < s.in[1]; ++i1) {
        T* yr = yc + (i0 * s.in[1] + i1) * s.in[2];
        const index_t ph01 = (i0 % S0) * S1 + i1 % S1;
        const index_t q01 = (i0 / S0) * f.out[1] + i1 / S1;
        for (index_t r2 = 0; r2 < S2 && r2 < s.in[2]; ++r2) {
          const T* zr = z + ((n * p.phases + ph01 * S2 + r2) * C + c) * Z + q01 * f.out[2];
          const index_t m = (s.in[2] - r2 + S2 - 1) / S2;
          for (index_t q = 0; q < m; ++q) yr[q * S2 + r2] = zr[q];
        }
      }
  });
}

}  // namespace kernels
}  // namespace convcore
