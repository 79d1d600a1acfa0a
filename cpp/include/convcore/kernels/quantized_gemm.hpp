// The INT8 GEMM engine: a quantized conv as Y[m, o] = sum_k X[m, k] W[k, o] per group, over
// the flattened output pixels m of the whole batch (channels-last x and y), with the weights
// packed into NR-wide panels and their corrections computed once per call
// (quantized_pack.hpp), im2col rows packed per block of pixels, an MR x NR int32 microkernel
// over the whole reduction, and requantisation fused into the store (quantized_micro.hpp).
// A 1x1 stride-1 unpadded conv of uint8 x under VNNI reads its rows straight from x (a GEMM
// without im2col). q8_engine<ISA> is the table entry of each level.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "../core/cpu.hpp"
#include "../core/parallel.hpp"
#include "../core/scratch.hpp"
#include "quantized_args.hpp"
#include "quantized_depthwise.hpp"
#include "quantized_micro.hpp"
#include "quantized_pack.hpp"

namespace convcore {
namespace kernels {

template <class ISA>
struct q8_panel_tag {};  // owner of the packed weights' scratch of a level

// Pixels per work item: the packed rows (MB x Kp) are reused by every column panel.
constexpr index_t kQ8Block = 96;

template <class K>
void q8_gemm_run(const QConvArgs& a) {
  using A = typename K::A;
  using B = typename K::B;
  constexpr bool vnni = std::is_same<A, std::uint8_t>::value;
  const ConvSpec& s = *a.s;
  const Q8Layout L = q8_layout<typename K::isa>(s, K::MR, K::NR, K::KU);
  const index_t cols = s.groups * L.nob * L.NR;
  // The packed weights live in the calling thread's scratch (64-byte aligned, kept between
  // calls): fresh pages would cost a page fault per 4 KiB on every call, as much as packing.
  B* panel = thread_scratch<B, q8_panel_tag<typename K::isa>, 1>::get(
      0, q8_panel_elems<typename K::isa>(s, L));
  std::vector<std::uint32_t> corr(static_cast<std::size_t>(cols));
  std::vector<double> mult(static_cast<std::size_t>(cols));
  q8_pack_weights<typename K::isa, B, K::NR, K::KU>(a, L, panel, corr.data(), mult.data());

  const index_t M = s.N * s.out_size();
  const bool direct = vnni && !a.x_signed && L.taps == 1 && L.cpg % K::KU == 0 && s.unpadded() &&
                      s.stride[0] == 1 && s.stride[1] == 1 && s.stride[2] == 1 &&
                      s.out[0] == s.in[0] && s.out[1] == s.in[1] && s.out[2] == s.in[2];
  const index_t nmb = (M + kQ8Block - 1) / kQ8Block;
  // Too few pixel blocks for the threads: split the column panels too (rows packed per split)
  const index_t want = 2 * static_cast<index_t>(get_num_threads());
  index_t nocc = 1;
  if (s.groups * nmb < want) {
    nocc = (want + s.groups * nmb - 1) / (s.groups * nmb);
    if (nocc > L.nob) nocc = L.nob;
  }
  const Q8Out q = q8_out<typename K::isa>(a);
  const auto* x8 = static_cast<const std::uint8_t*>(a.x);
  auto* y8 = static_cast<std::uint8_t*>(a.y);
  // Long reductions run in K blocks of K::KC (the weight sub-panel, NR x KC, stays in L1 across
  // the item's pixels); the int32 tiles of the column panel are kept between blocks.
  const index_t kc = L.Kp <= 2 * K::KC ? L.Kp : K::KC;
  const index_t nsub = (kQ8Block + K::MR - 1) / K::MR;
  parallel_for(s.groups * nmb * nocc, [&](index_t item) {
    const index_t occ = item % nocc, mb = (item / nocc) % nmb, g = item / (nocc * nmb);
    const index_t m0 = mb * kQ8Block, m1 = m0 + kQ8Block < M ? m0 + kQ8Block : M;
    const index_t ob0 = occ * L.nob / nocc, ob1 = (occ + 1) * L.nob / nocc;
    A* rows = nullptr;
    if (!direct) {
      rows = thread_scratch<A, K, 1>::get(0, kQ8Block * L.Kp);
      q8_pack_rows<typename K::isa>(a, L, g, m0, m1, rows);
    }
    // the int32 tiles of one column panel (kept between K blocks): 96 x NR
    std::int32_t* tiles = thread_scratch<std::int32_t, K, 1>::get(0, nsub * K::MR * K::NR);
    alignas(64) std::uint8_t bytes[K::NR];
    for (index_t ob = ob0; ob < ob1; ++ob) {
      const index_t col = (g * L.nob + ob) * L.NR;
      const index_t oc0 = g * L.opg + ob * L.NR;
      const index_t nvalid = L.opg - ob * L.NR < L.NR ? L.opg - ob * L.NR : L.NR;
      for (index_t k0 = 0; k0 < L.Kp; k0 += kc) {
        const index_t k1 = k0 + kc < L.Kp ? k0 + kc : L.Kp;
        const bool first = k0 == 0, last = k1 == L.Kp;
        const B* bp = panel + (g * L.nob + ob) * L.Kp * L.NR + k0 * L.NR;
        for (index_t mm = m0; mm < m1; mm += K::MR) {
          const index_t mr = m1 - mm < K::MR ? m1 - mm : K::MR;
          const A* r[K::MR];
          for (int i = 0; i < K::MR; ++i) {
            const index_t ii = i < mr ? i : mr - 1;  // rows past the end repeat the last one
            r[i] = (direct ? reinterpret_cast<const A*>(x8 + (mm + ii) * s.C_in + g * L.cpg)
                           : rows + (mm - m0 + ii) * L.Kp) + k0;
          }
          std::int32_t* tile = tiles + (mm - m0) / K::MR * (K::MR * K::NR);
          K::micro(r, bp, (k1 - k0) / K::KU, tile, !first);
          if (!last) continue;
          for (index_t i = 0; i < mr; ++i) {
            std::uint8_t* out = y8 + (mm + i) * s.C_out + oc0;
            if (nvalid == L.NR) {
              K::store_row(tile + i * K::NR, corr.data() + col, mult.data() + col, q, out);
            } else {
              K::store_row(tile + i * K::NR, corr.data() + col, mult.data() + col, q, bytes);
              std::memcpy(out, bytes, static_cast<std::size_t>(nvalid));
            }
          }
        }
      }
    }
  });
}

// The table entry of a level: the primary template is the scalar one (no GEMM engine).
template <class ISA>
struct q8_engine {
  static const char* path(const QConvArgs*) { return "scalar_direct"; }
  static constexpr QuantFns fns() { return {nullptr, nullptr, &path}; }
};

#if defined(CONVCORE_SIMD_AVX2)
template <class ISA>
struct q8_traits_avx2 : q8_madd_avx2<ISA> {
  using isa = ISA;
};
template <>
struct q8_engine<isa::avx2> {
  static void gemm(const QConvArgs& a) { q8_gemm_run<q8_traits_avx2<isa::avx2>>(a); }
  static void depthwise(const QConvArgs& a) { q8_depthwise_run<q8_dw_avx2<isa::avx2>>(a); }
  static const char* path(const QConvArgs* a) {
    return a && q8_depthwise_applicable(*a->s) ? "avx2_depthwise" : "avx2_madd";
  }
  static constexpr QuantFns fns() { return {&gemm, &depthwise, &path}; }
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
  static bool use_vnni(const QConvArgs* a) {
    return cpu_features().avx512_vnni && int8_engine() != Int8Engine::no_vnni &&
           (!a || q8_vnni_weights<isa::avx512>(*a));
  }
  static void gemm(const QConvArgs& a) {
    if (use_vnni(&a))
      q8_gemm_run<q8_traits_vnni<isa::avx512>>(a);
    else
      q8_gemm_run<q8_traits_madd512<isa::avx512>>(a);
  }
  static void depthwise(const QConvArgs& a) { q8_depthwise_run<q8_dw_avx512<isa::avx512>>(a); }
  static const char* path(const QConvArgs* a) {
    if (a && q8_depthwise_applicable(*a->s)) return "avx512bw_depthwise";
    return use_vnni(a) ? "avx512_vnni" : "avx512bw_madd";
  }
  static constexpr QuantFns fns() { return {&gemm, &depthwise, &path}; }
};
#endif

}  // namespace kernels
}  // namespace convcore
