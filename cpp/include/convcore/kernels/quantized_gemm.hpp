// The INT8 GEMM engine: a quantized conv as Y[m, o] = sum_k X[m, k] W[k, o] per group, over
// the flattened output pixels m of the whole batch (channels-last x and y), with the weights
// packed once into NR-wide panels with their corrections (quantized_pack.hpp), X read by the
// microkernels straight from the source image (x itself, or one padded copy: an implicit GEMM,
// no im2col), an MR x NR int32 microkernel over the whole reduction, and the requantisation
// fused into its store (quantized_micro.hpp). q8_engine<ISA> is the table entry of each level.
#pragma once
#include <cstdint>
#include <cstring>

#include "../core/cpu.hpp"
#include "../core/parallel.hpp"
#include "../core/scratch.hpp"
#include "quantized_args.hpp"
#include "quantized_depthwise.hpp"
#include "quantized_micro.hpp"
#include "quantized_pack.hpp"

namespace convcore {
namespace kernels {

// Pixels per work item at most: the rows (MB pixels x all taps, in the source image) stay in
// L1/L2 while every column panel of the item passes over them.
constexpr index_t kQ8Block = 96;

template <class K>
std::size_t q8_gemm_bytes(const QConvArgs& a) {
  const Q8Layout L = q8_layout<typename K::isa>(*a.s, K::MR, K::NR, K::KU);
  return q8_panel_bytes<typename K::isa, typename K::B>(*a.s, L);
}

template <class K>
void q8_gemm_run(const QConvArgs& a, const Q8Packed& p);

template <class K>
void q8_gemm_pack(const QConvArgs& a, void* mem, Q8Packed* p) {
  const Q8Layout L = q8_layout<typename K::isa>(*a.s, K::MR, K::NR, K::KU);
  q8_pack_weights<typename K::isa, typename K::B, K::NR, K::KU>(a, L, mem, p);
  p->run = &q8_gemm_run<K>;
  p->path = K::name();
}

template <class K>
void q8_gemm_run(const QConvArgs& a, const Q8Packed& p) {
  using A = typename K::A;
  using B = typename K::B;
  using ISA = typename K::isa;
  const ConvSpec& s = *a.s;
  const Q8Layout& L = p.L;
  Q8Buffer<ISA> mem;
  const Q8Source<A> src = q8_source<ISA, A, K::KU>(a, L.cpg, mem);
  // tap offsets in the source image, in the packed weights' tap order (w's (t0, t1, t2))
  index_t* toff = thread_scratch<index_t, q8_source_tag<ISA>, 2>::get(0, L.taps);
  for (index_t t0 = 0, t = 0; t0 < s.k[0]; ++t0)
    for (index_t t1 = 0; t1 < s.k[1]; ++t1)
      for (index_t t2 = 0; t2 < s.k[2]; ++t2, ++t)
        toff[t] = ((t0 * s.dil[0] * src.P1 + t1 * s.dil[1]) * src.P2 + t2 * s.dil[2]) * src.Cs;

  const index_t M = s.N * s.out_size();
  const index_t nmb = (M + kQ8Block - 1) / kQ8Block;
  // blocks of equal size (a multiple of MR): no short last block left to one thread
  index_t mb_size = (M + nmb - 1) / nmb;
  mb_size = (mb_size + K::MR - 1) / K::MR * K::MR;
  // Too few pixel blocks for the threads: split the column panels too. Items are taken
  // dynamically (a few per thread): on a shared machine a thread that is descheduled for a
  // while does not hold up the whole call with its fixed half.
  const index_t want = 4 * static_cast<index_t>(get_num_threads());
  index_t nocc = 1;
  if (s.groups * nmb < want) {
    nocc = (want + s.groups * nmb - 1) / (s.groups * nmb);
    if (nocc > L.nob) nocc = L.nob;
  }
  Q8Store base{};
  base.ldy = s.C_out;
  base.hi = static_cast<double>(a.y_hi - a.y_zp);
  base.lo = a.y_lo - a.y_zp;
  base.zp = a.y_zp;
  base.y_signed = a.y_signed;
  auto* y8 = static_cast<std::uint8_t*>(a.y);
  const B* panel = static_cast<const B*>(p.panel);
  const index_t kpt = L.cpg_pad / K::KU;
  parallel_for_dynamic(s.groups * nmb * nocc, [&](index_t item) {
    const index_t occ = item % nocc, mb = (item / nocc) % nmb, g = item / (nocc * nmb);
    const index_t m0 = mb * mb_size, m1 = m0 + mb_size < M ? m0 + mb_size : M;
    if (m0 >= m1) return;
    const index_t ob0 = occ * L.nob / nocc, ob1 = (occ + 1) * L.nob / nocc;
    // each pixel's row: its window's first position in the source image, plus the group
    index_t* roff = thread_scratch<index_t, K, 1>::get(0, m1 - m0);
    const A* xbase = src.base;
    if (src.per_item) {
      A* rows = thread_scratch<A, K, 1>::get(0, (m1 - m0) * L.cpg_pad);
      q8_pixel_rows<ISA>(a, L.cpg, L.cpg_pad, g, m0, m1, rows);
      for (index_t m = m0; m < m1; ++m) roff[m - m0] = (m - m0) * L.cpg_pad;
      xbase = rows;
    } else {
      Q8PixelCounter<ISA> px(s, m0);
      const index_t st0 = s.stride[0], st1 = s.stride[1], st2 = s.stride[2];
      for (index_t m = m0; m < m1; ++m, px.next())
        roff[m - m0] = (((px.n * src.P0 + px.o0 * st0) * src.P1 + px.o1 * st1) * src.P2 +
                        px.o2 * st2) * src.Cs + g * L.cpg;
    }
    Q8Store st = base;
    for (index_t ob = ob0; ob < ob1; ++ob) {
      const index_t col = (g * L.nob + ob) * L.NR;
      const index_t nvalid = L.opg - ob * L.NR < L.NR ? L.opg - ob * L.NR : L.NR;
      st.corr = p.corr + col;
      st.mult = p.mult + col;
      st.nvalid = static_cast<int>(nvalid);
      const B* bp = panel + (g * L.nob + ob) * L.Kp * L.NR;
      const index_t oc0 = g * L.opg + ob * L.NR;
      for (index_t mm = m0; mm < m1; mm += K::MR) {
        const index_t mr = m1 - mm < K::MR ? m1 - mm : K::MR;
        const A* r[K::MR];
        for (int i = 0; i < K::MR; ++i)  // rows past the end repeat the last one
          r[i] = xbase + roff[mm - m0 + (i < mr ? i : mr - 1)];
        st.y = y8 + mm * s.C_out + oc0;
        st.mr = static_cast<int>(mr);
        K::tile(r, toff, L.taps, kpt, bp, st);
      }
    }
  });
}

// The table entry of a level: the primary template is the scalar one (no engine).
template <class ISA>
struct q8_engine {
  static std::size_t bytes(const QConvArgs&, Q8Kind) { return 0; }
  static void pack(const QConvArgs&, Q8Kind, void*, Q8Packed*) {}
  static const char* path(const QConvArgs*) { return "scalar_direct"; }
  static constexpr QuantFns fns() { return {&bytes, &pack, &path}; }
};

#if defined(CONVCORE_SIMD_AVX2)
template <class ISA>
struct q8_traits_avx2 : q8_madd_avx2<ISA> {
  using isa = ISA;
};
template <>
struct q8_engine<isa::avx2> {
  using G = q8_traits_avx2<isa::avx2>;
  using D = q8_dw_madd<isa::avx2>;
  static std::size_t bytes(const QConvArgs& a, Q8Kind k) {
    return k == Q8Kind::depthwise ? q8_depthwise_bytes<D>(a) : q8_gemm_bytes<G>(a);
  }
  static void pack(const QConvArgs& a, Q8Kind k, void* mem, Q8Packed* p) {
    if (k == Q8Kind::depthwise)
      q8_depthwise_pack<D>(a, mem, p);
    else
      q8_gemm_pack<G>(a, mem, p);
  }
  static const char* path(const QConvArgs* a) {
    return a && q8_depthwise_applicable(*a->s) ? D::name() : G::name();
  }
  static constexpr QuantFns fns() { return {&bytes, &pack, &path}; }
};
#endif

#if defined(CONVCORE_SIMD_AVX512)
template <class ISA>
struct q8_traits_vnni : q8_vnni_avx512<ISA> {
  using isa = ISA;
};
template <class ISA>
struct q8_traits_madd512 : q8_madd_avx512<ISA> {
  using isa = ISA;
};
template <>
struct q8_engine<isa::avx512> {
  using V = q8_traits_vnni<isa::avx512>;
  using M = q8_traits_madd512<isa::avx512>;
  using DV = q8_dw_vnni<isa::avx512>;
  using DM = q8_dw_madd<isa::avx512>;
  static bool use_vnni(const QConvArgs* a) {
    return cpu_features().avx512_vnni && int8_engine() != Int8Engine::no_vnni &&
           (!a || q8_vnni_weights<isa::avx512>(*a));
  }
  static std::size_t bytes(const QConvArgs& a, Q8Kind k) {
    if (k == Q8Kind::depthwise)
      return use_vnni(&a) ? q8_depthwise_bytes<DV>(a) : q8_depthwise_bytes<DM>(a);
    return use_vnni(&a) ? q8_gemm_bytes<V>(a) : q8_gemm_bytes<M>(a);
  }
  static void pack(const QConvArgs& a, Q8Kind k, void* mem, Q8Packed* p) {
    const bool v = use_vnni(&a);
    if (k == Q8Kind::depthwise) {
      if (v)
        q8_depthwise_pack<DV>(a, mem, p);
      else
        q8_depthwise_pack<DM>(a, mem, p);
    } else if (v) {
      q8_gemm_pack<V>(a, mem, p);
    } else {
      q8_gemm_pack<M>(a, mem, p);
    }
  }
  static const char* path(const QConvArgs* a) {
    if (a && q8_depthwise_applicable(*a->s)) return use_vnni(a) ? DV::name() : DM::name();
    return use_vnni(a) ? V::name() : M::name();
  }
  static constexpr QuantFns fns() { return {&bytes, &pack, &path}; }
};
#endif

}  // namespace kernels
}  // namespace convcore
