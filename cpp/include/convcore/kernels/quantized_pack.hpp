// Packing for the INT8 GEMM engine (quantized_gemm.hpp): the reduction layout, the weight
// panels with their precomputed corrections, and the im2col rows of channels-last x.
//
// Two operand encodings, both exact (docs/architecture.md, "The INT8 engine"):
//  - madd (AVX2, AVX-512BW): x - x_zp and w - w_zp as int16 (each in [-255, 255]); vpmaddwd
//    adds two such products (|sum| <= 2 * 255^2 < 2^31: it cannot saturate) into int32.
//  - vnni (AVX-512 VNNI vpdpbusd: uint8 x int8, four products per int32 lane, wrapping):
//    xu = x + 128 if x is int8 (else x), ws = w - 128 if w is uint8 (else w), so that
//      (x - x_zp)(w - w_zp) = (xu - zx)(ws - zw),  zx = x_zp (+128),  zw = w_zp (-128).
//    The engine takes it only when zw = 0 for every channel (symmetric int8 weights, or uint8
//    weights with zero point 128: what quantisers produce); then
//      acc = bias + sum xu * ws - zx * sum ws,
//    and bias - zx * sum_k ws[o, k] is one int32 per output channel, computed here.
// Every sum is taken modulo 2^32, like the direct kernel's wrapping accumulator, so the
// results are identical even where an accumulator wraps (a reduction beyond 33025 products).
//
// The reduction index is k = tap * cpg_pad + c, cpg_pad = C_in/groups rounded up to the
// microkernel's K step (KU products per lane): a pixel's row is one run of cpg channels per
// tap, copied from channels-last x. The pad channels hold weight 0, so they add nothing.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../core/parallel.hpp"
#include "../core/spec.hpp"
#include "quantized_args.hpp"

namespace convcore {
namespace kernels {

// Inline helpers here and in the kernels are templates over the ISA tag: each level's unit
// compiles its own copy, never merged with another level's by the linker.
struct Q8Layout {
  index_t cpg = 0, opg = 0, taps = 0, cpg_pad = 0, Kp = 0, ksteps = 0, nob = 0;
  int MR = 0, NR = 0, KU = 0;
};

template <class ISA>
Q8Layout q8_layout(const ConvSpec& s, int MR, int NR, int KU) {
  Q8Layout L;
  L.cpg = s.cin_per_group();
  L.opg = s.cout_per_group();
  L.taps = s.k_size();
  L.cpg_pad = (L.cpg + KU - 1) / KU * KU;
  L.Kp = L.taps * L.cpg_pad;
  L.ksteps = L.Kp / KU;
  L.nob = (L.opg + NR - 1) / NR;
  L.MR = MR;
  L.NR = NR;
  L.KU = KU;
  return L;
}

// Elements of the packed weights (all groups, NR-wide column blocks, K padded).
template <class ISA>
index_t q8_panel_elems(const ConvSpec& s, const Q8Layout& L) {
  return s.groups * L.nob * L.Kp * L.NR;
}

// True when the vnni encoding applies: every shifted weight zero point zw is 0.
template <class ISA>
bool q8_vnni_weights(const QConvArgs& a) {
  const std::int32_t shift = a.w_signed ? 0 : 128;
  for (index_t o = 0; o < a.s->C_out; ++o)
    if (a.w_zp[o] != shift) return false;
  return true;
}

// Packs w into `panel` as ((g, ob, kstep), NR columns, KU) and writes, per padded column, the
// int32 added to the accumulator (`corr`, modulo 2^32) and the multiplier. B is int8_t (vnni)
// or int16_t (madd). Each panel is written in order (reads gather from NR rows of w), one
// panel per work item: the weights are packed on every call, so this is on the hot path of
// layers with few pixels.
template <class ISA, class B, int NR, int KU>
void q8_pack_weights(const QConvArgs& a, const Q8Layout& L, B* panel, std::uint32_t* corr,
                     double* mult) {
  constexpr bool vnni = std::is_same<B, std::int8_t>::value;
  const ConvSpec& s = *a.s;
  const std::int32_t zx = a.x_zp + (a.x_signed ? 128 : 0);
  const auto* w8 = static_cast<const std::uint8_t*>(a.w);
  const index_t per = L.cpg * L.taps;
  parallel_for(s.groups * L.nob, [&](index_t item) {
    const index_t g = item / L.nob, ob = item % L.nob;
    B* dst = panel + item * L.Kp * NR;
    const std::uint8_t* src[NR];
    std::int32_t zp[NR];
    std::uint8_t flip[NR];
    const index_t ocs = g * L.opg + ob * NR;
    const index_t nv = L.opg - ob * NR < NR ? L.opg - ob * NR : NR;
    for (int j = 0; j < NR; ++j) {
      const index_t oc = ocs + (j < nv ? j : 0);
      src[j] = w8 + oc * per;
      // vnni: int8 w as is, uint8 w - 128 (zw = 0 checked by the caller); madd: w - w_zp
      zp[j] = j < nv ? a.w_zp[oc] : 0;
      flip[j] = a.w_signed ? 0 : 0x80;
      if (!vnni && j >= nv) flip[j] = 0;
    }
    for (index_t t = 0; t < L.taps; ++t)
      for (index_t c0 = 0; c0 < L.cpg_pad; c0 += KU, dst += NR * KU)
        for (int j = 0; j < NR; ++j)
          for (int u = 0; u < KU; ++u) {
            const index_t c = c0 + u;
            std::int32_t v = 0;
            if (c < L.cpg && j < nv) {
              const std::uint8_t raw = src[j][c * L.taps + t];
              if (vnni)
                v = static_cast<std::int8_t>(static_cast<std::uint8_t>(raw ^ flip[j]));
              else
                v = (a.w_signed ? static_cast<std::int32_t>(static_cast<std::int8_t>(raw))
                                : static_cast<std::int32_t>(raw)) - zp[j];
            }
            dst[j * KU + u] = static_cast<B>(v);
          }
    for (int j = 0; j < NR; ++j) {
      const index_t col = item * NR + j;
      if (j >= nv) {
        corr[col] = 0;
        mult[col] = 0.0;
        continue;
      }
      const index_t oc = ocs + j;
      std::uint32_t sum = 0;  // sum of the packed weights, for the x_zp correction
      if (vnni)
        for (index_t i = 0; i < per; ++i)
          sum += static_cast<std::uint32_t>(static_cast<std::int32_t>(
              static_cast<std::int8_t>(static_cast<std::uint8_t>(src[j][i] ^ flip[j]))));
      corr[col] = static_cast<std::uint32_t>(a.bias ? a.bias[oc] : 0) -
                  static_cast<std::uint32_t>(zx) * sum;
      mult[col] = a.mult[oc];
    }
  });
}

// Row r of `dst` (stride L.Kp) = the im2col row of output pixel m0 + r of group g, for m in
// [m0, m1) over the flattened (n, out0, out1, out2). A is uint8_t (vnni) or int16_t (madd).
template <class ISA, class A>
void q8_pack_rows(const QConvArgs& a, const Q8Layout& L, index_t g, index_t m0, index_t m1,
                  A* dst) {
  constexpr bool vnni = std::is_same<A, std::uint8_t>::value;
  const ConvSpec& s = *a.s;
  const auto* x8 = static_cast<const std::uint8_t*>(a.x);
  const std::uint8_t flip = a.x_signed ? 0x80u : 0u;
  // the padding's value: the real 0, x_zp (shifted like x under vnni, zero under madd)
  const A pad = vnni ? static_cast<A>(static_cast<std::uint8_t>(a.x_zp) ^ flip) : A(0);
  const index_t osz = s.out_size(), o12 = s.out[1] * s.out[2];
  const index_t cpg = L.cpg;
  for (index_t m = m0; m < m1; ++m, dst += L.Kp) {
    const index_t n = m / osz, r = m % osz;
    const index_t o[3] = {r / o12, (r % o12) / s.out[2], r % s.out[2]};
    A* d = dst;
    for (index_t t0 = 0; t0 < s.k[0]; ++t0) {
      const index_t i0 = o[0] * s.stride[0] - s.pad_lo[0] + t0 * s.dil[0];
      for (index_t t1 = 0; t1 < s.k[1]; ++t1) {
        const index_t i1 = o[1] * s.stride[1] - s.pad_lo[1] + t1 * s.dil[1];
        for (index_t t2 = 0; t2 < s.k[2]; ++t2, d += L.cpg_pad) {
          const index_t i2 = o[2] * s.stride[2] - s.pad_lo[2] + t2 * s.dil[2];
          if (i0 < 0 || i0 >= s.in[0] || i1 < 0 || i1 >= s.in[1] || i2 < 0 || i2 >= s.in[2]) {
            for (index_t c = 0; c < cpg; ++c) d[c] = pad;
          } else {
            const std::uint8_t* src =
                x8 + (((n * s.in[0] + i0) * s.in[1] + i1) * s.in[2] + i2) * s.C_in + g * cpg;
            if (vnni) {
              for (index_t c = 0; c < cpg; ++c) d[c] = static_cast<A>(src[c] ^ flip);
            } else if (a.x_signed) {
              for (index_t c = 0; c < cpg; ++c)
                d[c] = static_cast<A>(static_cast<std::int8_t>(src[c]) - a.x_zp);
            } else {
              for (index_t c = 0; c < cpg; ++c) d[c] = static_cast<A>(src[c] - a.x_zp);
            }
          }
          for (index_t c = cpg; c < L.cpg_pad; ++c) d[c] = A(0);  // weight 0 there
        }
      }
    }
  }
}

}  // namespace kernels
}  // namespace convcore
