// Packing for the INT8 GEMM engine (quantized_gemm.hpp): the reduction layout, the weight
// panels with their precomputed corrections, and the source image the microkernels read.
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
// microkernel's K step (KU products per lane). The microkernels read x without im2col (an
// implicit GEMM): output pixel m's values at tap t are the cpg channels at
// row(m) + toff[t] of the source image, channels-last. The source is x itself where its
// values are the microkernel's operands and no padding is read (vnni, uint8 x, unpadded,
// cpg a multiple of 4); for other 1x1 kernels each work item converts its pixels' rows; for
// the rest a padded channels-last copy holds the operands, the padding filled with the
// encoded real 0 (x_zp under vnni, 0 under madd). Where cpg is not a
// multiple of KU the last K step of a tap reads up to KU - 1 values past the group (the next
// group's, the next pixel's, or the copy's slack): their weights are 0, so they add nothing.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
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

// Rounds a byte count up to 64 (the packed arrays are 64-byte aligned, one after another).
inline constexpr std::size_t q8_align64(std::size_t b) { return (b + 63) / 64 * 64; }

// Bytes of the packed weights of layout L with B values: panels, then corr, then mult.
template <class ISA, class B>
std::size_t q8_panel_bytes(const ConvSpec& s, const Q8Layout& L) {
  const auto cols = static_cast<std::size_t>(s.groups * L.nob * L.NR);
  return q8_align64(cols * static_cast<std::size_t>(L.Kp) * sizeof(B)) +
         q8_align64(cols * sizeof(std::uint32_t)) + q8_align64(cols * sizeof(double));
}

// True when the vnni encoding applies: every shifted weight zero point zw is 0.
template <class ISA>
bool q8_vnni_weights(const QConvArgs& a) {
  const std::int32_t shift = a.w_signed ? 0 : 128;
  for (index_t o = 0; o < a.s->C_out; ++o)
    if (a.w_zp[o] != shift) return false;
  return true;
}

// dst[t * cpg_pad + c] = f(src[c * taps + t]): one filter in tap-major order. Reads strided,
// writes sequential runs (3x3 and 1x1 with the stride a constant, which the compiler
// vectorises: on the hot path of layers packed per call).
template <class ISA, class B, class F>
inline void q8_tap_major(const std::uint8_t* src, index_t cpg, index_t taps, index_t cpg_pad,
                         B* dst, F f) {
  if (taps == 9) {
    for (index_t t = 0; t < 9; ++t)
      for (index_t c = 0; c < cpg; ++c) dst[t * cpg_pad + c] = f(src[c * 9 + t]);
  } else if (taps == 1) {
    for (index_t c = 0; c < cpg; ++c) dst[c] = f(src[c]);
  } else {
    for (index_t t = 0; t < taps; ++t)
      for (index_t c = 0; c < cpg; ++c) dst[t * cpg_pad + c] = f(src[c * taps + t]);
  }
}

// Packs w into mem as panels ((g, ob), tap, K step, NR columns, KU values), then per padded
// column the int32 added to the accumulator (`corr`, modulo 2^32) and the multiplier; fills
// p's pointers and layout. B is int8_t (vnni) or int16_t (madd). Per panel each filter is
// first converted into its tap-major row (per tap a run of cpg_pad values), then the rows are
// interleaved as 32-bit words (KU values), NR words per K step: a transpose of 32-bit words.
template <class ISA, class B, int NR, int KU>
void q8_pack_weights(const QConvArgs& a, const Q8Layout& L, void* mem, Q8Packed* p) {
  static_assert(sizeof(B) * KU == 4, "a K step of one column is one 32-bit word");
  constexpr bool vnni = std::is_same<B, std::int8_t>::value;
  const ConvSpec& s = *a.s;
  const index_t cols = s.groups * L.nob * NR;
  auto* bytes = static_cast<unsigned char*>(mem);
  B* panel = reinterpret_cast<B*>(bytes);
  bytes += q8_align64(static_cast<std::size_t>(cols * L.Kp) * sizeof(B));
  auto* corr = reinterpret_cast<std::uint32_t*>(bytes);
  bytes += q8_align64(static_cast<std::size_t>(cols) * sizeof(std::uint32_t));
  auto* mult = reinterpret_cast<double*>(bytes);
  const std::int32_t zx = a.x_zp + (a.x_signed ? 128 : 0);
  const auto* w8 = static_cast<const std::uint8_t*>(a.w);
  parallel_for(s.groups * L.nob, [&](index_t item) {
    // locals, not the captured references: the byte stores below may alias anything, and
    // the compiler would reload every captured value after each of them
    const index_t per = L.cpg * L.taps, Kp = L.Kp, taps = L.taps, cpg = L.cpg,
                  cpg_pad = L.cpg_pad, kw = Kp / KU;
    const bool w_signed = a.w_signed;
    const index_t g = item / L.nob, ob = item % L.nob;
    const index_t ocs = g * L.opg + ob * NR;
    const index_t nv = L.opg - ob * NR < NR ? L.opg - ob * NR : NR;
    B* rowt = thread_scratch<B, q8_engine_tag<ISA>, 1>::get(0, NR * Kp);
    for (int j = 0; j < NR; ++j) {
      B* rt = rowt + j * Kp;
      const index_t col = item * NR + j;
      if (j >= nv) {  // padding column: weight 0, never stored
        std::memset(rt, 0, static_cast<std::size_t>(Kp) * sizeof(B));
        corr[col] = 0;
        mult[col] = 0.0;
        continue;
      }
      const index_t oc = ocs + j;
      const std::uint8_t* src = w8 + oc * per;
      std::uint32_t sum = 0;
      if (vnni) {
        // int8 w as is, uint8 w - 128 (zw = 0 checked by the caller): flip the top bit
        const std::uint8_t flip = w_signed ? 0 : 0x80;
        for (index_t i = 0; i < per; ++i)
          sum += static_cast<std::uint32_t>(static_cast<std::int32_t>(
              static_cast<std::int8_t>(static_cast<std::uint8_t>(src[i] ^ flip))));
        q8_tap_major<ISA>(src, cpg, taps, cpg_pad, rt, [flip](std::uint8_t v) {
          return static_cast<B>(static_cast<std::uint8_t>(v ^ flip));
        });
      } else {
        const std::int32_t zp = a.w_zp[oc];
        if (w_signed)
          q8_tap_major<ISA>(src, cpg, taps, cpg_pad, rt, [zp](std::uint8_t v) {
            return static_cast<B>(static_cast<std::int8_t>(v) - zp);
          });
        else
          q8_tap_major<ISA>(src, cpg, taps, cpg_pad, rt,
                            [zp](std::uint8_t v) { return static_cast<B>(v - zp); });
      }
      for (index_t t = 0; t < taps; ++t)
        for (index_t c = cpg; c < cpg_pad; ++c) rt[t * cpg_pad + c] = B(0);
      corr[col] = static_cast<std::uint32_t>(a.bias ? a.bias[oc] : 0) -
                  (vnni ? static_cast<std::uint32_t>(zx) * sum : 0u);
      mult[col] = a.mult[oc];
    }
    // interleave: word k of column j goes to dst[k * NR + j]
    auto* dst = reinterpret_cast<std::uint32_t*>(panel + item * Kp * NR);
    const auto* rw = reinterpret_cast<const std::uint32_t*>(rowt);
    for (index_t k0 = 0; k0 < kw; k0 += 16) {
      const index_t k1 = k0 + 16 < kw ? k0 + 16 : kw;
      for (int j = 0; j < NR; ++j)
        for (index_t k = k0; k < k1; ++k) dst[k * NR + j] = rw[j * kw + k];
    }
  });
  p->L = L;
  p->panel = panel;
  p->corr = corr;
  p->mult = mult;
}

// The image the microkernels read (see the top of this file): element c of padded position
// (n, p0, p1, p2) at base[(((n * P0 + p0) * P1 + p1) * P2 + p2) * Cs + c].
template <class A>
struct Q8Source {
  const A* base = nullptr;
  index_t P0 = 1, P1 = 1, P2 = 1, Cs = 0;
  // 1x1 kernels that need their values converted: no image, each work item converts its
  // pixels' rows (q8_pixel_rows) into L1/L2 instead; a copy of all of x would be written and
  // read back through memory (12.8 MB as int16 for 256 channels at 56x56, N = 8)
  bool per_item = false;
};

template <class ISA>
struct q8_source_tag {};  // owner of the padded copy's scratch

// Memory of one run's padded copy: the calling thread's scratch (kept between calls: fresh
// pages cost a fault per 4 KiB, a tenth of a mid-size layer) up to kQ8KeepBytes, beyond that
// an allocation freed when the run ends (a thread would otherwise hold on to the largest
// input it ever saw).
constexpr std::size_t kQ8KeepBytes = std::size_t(32) << 20;

template <class ISA>
struct Q8Buffer {
  void* heap = nullptr;
  Q8Buffer() = default;
  Q8Buffer(const Q8Buffer&) = delete;
  Q8Buffer& operator=(const Q8Buffer&) = delete;
  ~Q8Buffer() { aligned_free(heap); }
  template <class A>
  A* get(index_t n) {
    const std::size_t bytes = static_cast<std::size_t>(n) * sizeof(A);
    if (bytes <= kQ8KeepBytes) return thread_scratch<A, q8_source_tag<ISA>, 1>::get(0, n);
    heap = aligned_bytes(bytes);
    return static_cast<A*>(heap);
  }
};

// The source image of a run, in `mem` when copied. A is uint8_t
// (vnni) or int16_t (madd); KU the K step.
template <class ISA, class A, int KU>
Q8Source<A> q8_source(const QConvArgs& a, index_t cpg, Q8Buffer<ISA>& mem) {
  constexpr bool vnni = std::is_same<A, std::uint8_t>::value;
  const ConvSpec& s = *a.s;
  Q8Source<A> src;
  src.Cs = s.C_in;
  if (vnni && !a.x_signed && cpg % KU == 0 && s.unpadded()) {
    src.base = static_cast<const A*>(a.x);
    src.P0 = s.in[0];
    src.P1 = s.in[1];
    src.P2 = s.in[2];
    return src;
  }
  if (s.k_size() == 1) {
    src.per_item = true;
    return src;
  }
  // the extent each dimension's windows read, from the first pad position on
  index_t P[3];
  for (int d = 0; d < 3; ++d) P[d] = (s.out[d] - 1) * s.stride[d] + (s.k[d] - 1) * s.dil[d] + 1;
  src.P0 = P[0];
  src.P1 = P[1];
  src.P2 = P[2];
  const index_t C = s.C_in, rows = s.N * P[0] * P[1];
  const index_t total = rows * P[2] * C;
  // KU values of slack: the last K step of the last pixel may read past it (weight 0 there)
  A* buf = mem.template get<A>(total + 64);
  std::memset(buf + total, 0, 64 * sizeof(A));
  const auto* x8 = static_cast<const std::uint8_t*>(a.x);
  const bool xs = a.x_signed;
  const std::int32_t x_zp = a.x_zp;
  const std::uint8_t flip = xs ? 0x80u : 0u;
  // the padding's value: the real 0, x_zp (shifted like x under vnni, zero under madd)
  const A pad = vnni ? static_cast<A>(static_cast<std::uint8_t>(x_zp) ^ flip) : A(0);
  const index_t I0 = s.in[0], I1 = s.in[1], I2 = s.in[2], P0 = P[0], P1 = P[1], P2 = P[2];
  const index_t L0 = s.pad_lo[0], L1 = s.pad_lo[1], L2 = s.pad_lo[2];
  // the run of p2 inside the input
  const index_t q0 = L2 < P2 ? L2 : P2, q1 = L2 + I2 < P2 ? L2 + I2 : P2;
  parallel_for(rows, [&](index_t row) {
    const index_t n = row / (P0 * P1), p0 = (row / P1) % P0, p1 = row % P1;
    const index_t i0 = p0 - L0, i1 = p1 - L1;
    A* d = buf + row * P2 * C;
    if (i0 < 0 || i0 >= I0 || i1 < 0 || i1 >= I1 || q1 <= q0) {
      for (index_t i = 0; i < P2 * C; ++i) d[i] = pad;
      return;
    }
    for (index_t i = 0; i < q0 * C; ++i) d[i] = pad;
    for (index_t i = q1 * C; i < P2 * C; ++i) d[i] = pad;
    const std::uint8_t* sp = x8 + (((n * I0 + i0) * I1 + i1) * I2 + (q0 - L2)) * C;
    A* dp = d + q0 * C;
    const index_t cnt = (q1 - q0) * C;
    if (vnni) {
      if (flip)
        for (index_t i = 0; i < cnt; ++i) dp[i] = static_cast<A>(sp[i] ^ 0x80u);
      else
        std::memcpy(dp, sp, static_cast<std::size_t>(cnt));
    } else if (xs) {
      for (index_t i = 0; i < cnt; ++i)
        dp[i] = static_cast<A>(static_cast<std::int8_t>(sp[i]) - x_zp);
    } else {
      for (index_t i = 0; i < cnt; ++i) dp[i] = static_cast<A>(sp[i] - x_zp);
    }
  });
  src.base = buf;
  return src;
}

// Output pixel m of the whole batch as (n, o0, o1, o2), found by division once and then
// counted up pixel by pixel (divisions per pixel cost as much as a short reduction). ISA
// only tags the symbol (kernels/gemm.hpp: each level's translation unit its own copy).
template <class ISA>
struct Q8PixelCounter {
  index_t O0, O1, O2, n, o0, o1, o2;
  Q8PixelCounter(const ConvSpec& s, index_t m)
      : O0(s.out[0]), O1(s.out[1]), O2(s.out[2]) {
    const index_t osz = O0 * O1 * O2, o12 = O1 * O2, r = m % osz;
    n = m / osz;
    o0 = r / o12;
    o1 = (r % o12) / O2;
    o2 = r % O2;
  }
  void next() {
    if (++o2 == O2) {
      o2 = 0;
      if (++o1 == O1) {
        o1 = 0;
        if (++o0 == O0) {
          o0 = 0;
          ++n;
        }
      }
    }
  }
};

// Rows of pixels [m0, m1) of group g for a 1x1 kernel (Q8Source::per_item): row i of dst
// (cpg_pad values) holds pixel m0 + i's input channels as the microkernel's operands (the
// padding's encoded real 0 where the pixel reads padding), the K step's pad values 0.
template <class ISA, class A>
void q8_pixel_rows(const QConvArgs& a, index_t cpg, index_t cpg_pad, index_t g, index_t m0,
                   index_t m1, A* dst) {
  constexpr bool vnni = std::is_same<A, std::uint8_t>::value;
  const ConvSpec& s = *a.s;
  const auto* x8 = static_cast<const std::uint8_t*>(a.x);
  const bool xs = a.x_signed;
  const std::int32_t x_zp = a.x_zp;
  const std::uint8_t flip = xs ? 0x80u : 0u;
  const A pad = vnni ? static_cast<A>(static_cast<std::uint8_t>(x_zp) ^ flip) : A(0);
  const index_t I0 = s.in[0], I1 = s.in[1], I2 = s.in[2], C = s.C_in;
  Q8PixelCounter<ISA> px(s, m0);
  for (index_t m = m0; m < m1; ++m, dst += cpg_pad, px.next()) {
    const index_t n = px.n, i0 = px.o0 * s.stride[0] - s.pad_lo[0],
                  i1 = px.o1 * s.stride[1] - s.pad_lo[1], i2 = px.o2 * s.stride[2] - s.pad_lo[2];
    if (i0 < 0 || i0 >= I0 || i1 < 0 || i1 >= I1 || i2 < 0 || i2 >= I2) {
      for (index_t c = 0; c < cpg; ++c) dst[c] = pad;
    } else {
      const std::uint8_t* sp = x8 + (((n * I0 + i0) * I1 + i1) * I2 + i2) * C + g * cpg;
      if (vnni) {
        for (index_t c = 0; c < cpg; ++c) dst[c] = static_cast<A>(sp[c] ^ flip);
      } else if (xs) {
        for (index_t c = 0; c < cpg; ++c) dst[c] = static_cast<A>(static_cast<std::int8_t>(sp[c]) - x_zp);
      } else {
        for (index_t c = 0; c < cpg; ++c) dst[c] = static_cast<A>(sp[c] - x_zp);
      }
    }
    for (index_t c = cpg; c < cpg_pad; ++c) dst[c] = A(0);
  }
}

}  // namespace kernels
}  // namespace convcore
