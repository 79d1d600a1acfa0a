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
#include "../core/scratch.hpp"
#include "../core/spec.hpp"
#include "quantized_args.hpp"

namespace convcore {
namespace kernels {

// Inline helpers here and in the kernels are templates over the ISA tag: each level's unit
// compiles its own copy, never merged with another level's by the linker.
template <class ISA>
struct q8_engine_tag {};  // owner of the packing scratch of a level

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
// or int16_t (madd). The weights are packed on every call, which is on the hot path of layers
// with few pixels: per panel, each filter is first converted into its tap-major row (one
// sequential pass, the sum taken alongside), then the rows are interleaved KU values at a time.
template <class ISA, class B, int NR, int KU>
void q8_pack_weights(const QConvArgs& a, const Q8Layout& L, B* panel, std::uint32_t* corr,
                     double* mult) {
  constexpr bool vnni = std::is_same<B, std::int8_t>::value;
  const ConvSpec& s = *a.s;
  const std::int32_t zx = a.x_zp + (a.x_signed ? 128 : 0);
  const auto* w8 = static_cast<const std::uint8_t*>(a.w);
  parallel_for(s.groups * L.nob, [&](index_t item) {
    // locals, not the captured references: the byte stores below may alias anything, and
    // the compiler would reload every captured value after each of them
    const index_t per = L.cpg * L.taps, Kp = L.Kp, taps = L.taps, cpg = L.cpg,
                  cpg_pad = L.cpg_pad;
    const bool w_signed = a.w_signed;
    const index_t g = item / L.nob, ob = item % L.nob;
    const index_t ocs = g * L.opg + ob * NR;
    const index_t nv = L.opg - ob * NR < NR ? L.opg - ob * NR : NR;
    B* rowt = thread_scratch<B, q8_engine_tag<ISA>, 1>::get(0, NR * Kp);
    for (int j = 0; j < NR; ++j) {
      B* rt = rowt + j * Kp;
      const index_t col = item * NR + j;
      if (j >= nv) {  // padding column: weight 0, never stored
        for (index_t k = 0; k < Kp; ++k) rt[k] = B(0);
        corr[col] = 0;
        mult[col] = 0.0;
        continue;
      }
      const index_t oc = ocs + j;
      const std::uint8_t* src = w8 + oc * per;
      // vnni: int8 w as is, uint8 w - 128 (zw = 0 checked by the caller); madd: w - w_zp
      const std::uint8_t flip = w_signed ? 0 : 0x80;
      const std::int32_t zp = a.w_zp[oc];
      std::uint32_t sum = 0;
      for (index_t c = 0; c < cpg; ++c)
        for (index_t t = 0; t < taps; ++t) {
          const std::uint8_t raw = src[c * taps + t];
          std::int32_t v;
          if (vnni)
            v = static_cast<std::int8_t>(static_cast<std::uint8_t>(raw ^ flip));
          else
            v = (w_signed ? static_cast<std::int32_t>(static_cast<std::int8_t>(raw))
                          : static_cast<std::int32_t>(raw)) - zp;
          sum += static_cast<std::uint32_t>(v);
          rt[t * cpg_pad + c] = static_cast<B>(v);
        }
      for (index_t t = 0; t < taps; ++t)
        for (index_t c = cpg; c < cpg_pad; ++c) rt[t * cpg_pad + c] = B(0);
      corr[col] = static_cast<std::uint32_t>(a.bias ? a.bias[oc] : 0) -
                  (vnni ? static_cast<std::uint32_t>(zx) * sum : 0u);
      mult[col] = a.mult[oc];
    }
    B* dst = panel + item * Kp * NR;
    for (index_t k = 0; k < Kp; k += KU, dst += NR * KU)
      for (int j = 0; j < NR; ++j) std::memcpy(dst + j * KU, rowt + j * Kp + k, KU * sizeof(B));
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
  // locals (the byte stores may alias anything): geometry copied out of the spec
  const index_t osz = s.out_size(), o12 = s.out[1] * s.out[2], O2 = s.out[2];
  const index_t cpg = L.cpg, cpg_pad = L.cpg_pad, Kp = L.Kp, C_in = s.C_in;
  const index_t K0 = s.k[0], K1 = s.k[1], K2 = s.k[2], I0 = s.in[0], I1 = s.in[1], I2 = s.in[2];
  const index_t S0 = s.stride[0], S1 = s.stride[1], S2 = s.stride[2];
  const index_t D0 = s.dil[0], D1 = s.dil[1], D2 = s.dil[2];
  const index_t P0 = s.pad_lo[0], P1 = s.pad_lo[1], P2 = s.pad_lo[2];
  const bool x_signed = a.x_signed;
  const std::int32_t x_zp = a.x_zp;
  for (index_t m = m0; m < m1; ++m, dst += Kp) {
    const index_t n = m / osz, r = m % osz;
    const index_t o0 = r / o12, o1 = (r % o12) / O2, o2 = r % O2;
    A* d = dst;
    for (index_t t0 = 0; t0 < K0; ++t0) {
      const index_t i0 = o0 * S0 - P0 + t0 * D0;
      for (index_t t1 = 0; t1 < K1; ++t1) {
        const index_t i1 = o1 * S1 - P1 + t1 * D1;
        for (index_t t2 = 0; t2 < K2; ++t2, d += cpg_pad) {
          const index_t i2 = o2 * S2 - P2 + t2 * D2;
          if (i0 < 0 || i0 >= I0 || i1 < 0 || i1 >= I1 || i2 < 0 || i2 >= I2) {
            for (index_t c = 0; c < cpg; ++c) d[c] = pad;
          } else {
            const std::uint8_t* src = x8 + (((n * I0 + i0) * I1 + i1) * I2 + i2) * C_in + g * cpg;
            if (vnni) {
              for (index_t c = 0; c < cpg; ++c) d[c] = static_cast<A>(src[c] ^ flip);
            } else if (x_signed) {
              for (index_t c = 0; c < cpg; ++c)
                d[c] = static_cast<A>(static_cast<std::int8_t>(src[c]) - x_zp);
            } else {
              for (index_t c = 0; c < cpg; ++c) d[c] = static_cast<A>(src[c] - x_zp);
            }
          }
          for (index_t c = cpg; c < cpg_pad; ++c) d[c] = A(0);  // weight 0 there
        }
      }
    }
  }
}

}  // namespace kernels
}  // namespace convcore
