// The INT8 depthwise engine (groups = C_in = C_out, 1-D or 2-D): channels-last, vectorised
// across channels, CB channels per block (32 on AVX-512, 16 on AVX2).
//
//   acc[c] = bias[c] - x_zp * sum_t w'[c, t] + sum_t x[p_t, c] * w'[c, t],  w' = w - w_zp[c]
// over all taps t (modulo 2^32, like the direct kernel). A tap in the padding reads a row of
// x_zp values, so it adds x_zp * w' - x_zp * w' = 0, exactly the real 0 padding; the first two
// terms are one int32 per channel (corr), computed when packing. x (as int16, [-128, 255]) and
// w' (int16, [-255, 255]) go through vpmaddwd two taps at a time: x of taps t and t + 1
// interleaved as int16 pairs (vpunpck{l,h}wd) times the pair (w'[c, t], w'[c, t + 1]); a pair
// sum is at most 2 * 255^2 in magnitude: no saturation. The unpacks interleave within 128-bit
// lanes, so the two accumulators hold the block's channels in the order `perm` below (the
// packed weights and corrections follow it), put back in order before the store, which is the
// GEMM engine's fused requantisation (quantized_micro.hpp). An odd last tap pairs with the
// padding row and weight 0. Channels past the last whole block: AVX-512 masks the loads and
// stores; AVX2 runs them through the scalar loop below (the same integers, requantize()).
#pragma once
#include <cstdint>
#include <cstring>

#include "../core/parallel.hpp"
#include "../core/requantize.hpp"
#include "../core/scratch.hpp"
#include "quantized_args.hpp"
#include "quantized_micro.hpp"
#include "quantized_pack.hpp"

namespace convcore {
namespace kernels {

// True for the specs the depthwise engine runs.
inline bool q8_depthwise_applicable(const ConvSpec& s) {
  return s.groups == s.C_in && s.C_out == s.C_in && s.groups > 1 && s.planar();
}

// Lane j of accumulator h (0: the vpunpcklwd one, 1: vpunpckhwd) of a block holds channel
// perm(j, h) of it: 128-bit lane j / 4 holds channels 8 * (j / 4) + 4 * h + j % 4.
inline constexpr int q8_dw_perm(int j, int h) { return 8 * (j / 4) + 4 * h + j % 4; }

// Packed layout: per block b of CB channels and pair q of taps, the two accumulators' weight
// vectors (CB / 2 lanes of two int16 each); then corr (per block, in accumulator order), then
// mult (in channel order).
template <class V>
struct q8_dw_layout {
  index_t nblk, npairs;
  std::size_t wbytes, cbytes, mbytes;
  explicit q8_dw_layout(const ConvSpec& s) {
    nblk = (s.C_in + V::CB - 1) / V::CB;
    npairs = (s.k_size() + 1) / 2;
    wbytes = q8_align64(static_cast<std::size_t>(nblk * npairs * V::CB * 2) * 2);
    cbytes = q8_align64(static_cast<std::size_t>(nblk * V::CB) * 4);
    mbytes = q8_align64(static_cast<std::size_t>(nblk * V::CB) * 8);
  }
};

template <class V>
std::size_t q8_depthwise_bytes(const QConvArgs& a) {
  const q8_dw_layout<V> D(*a.s);
  return D.wbytes + D.cbytes + D.mbytes;
}

template <class V>
void q8_depthwise_run(const QConvArgs& a, const Q8Packed& p);

template <class V>
void q8_depthwise_pack(const QConvArgs& a, void* mem, Q8Packed* p) {
  constexpr int CB = V::CB, H = CB / 2;
  const ConvSpec& s = *a.s;
  const q8_dw_layout<V> D(s);
  const index_t C = s.C_in, taps = s.k_size();
  auto* bytes = static_cast<unsigned char*>(mem);
  auto* wp = reinterpret_cast<std::int16_t*>(bytes);
  auto* corr = reinterpret_cast<std::uint32_t*>(bytes + D.wbytes);
  auto* mult = reinterpret_cast<double*>(bytes + D.wbytes + D.cbytes);
  const auto* w8 = static_cast<const std::uint8_t*>(a.w);
  const bool ws = a.w_signed;
  // w'[c, t], 0 past the channels and taps
  auto wv = [&](index_t c, index_t t) -> std::int32_t {
    if (c >= C || t >= taps) return 0;
    const std::uint8_t raw = w8[c * taps + t];
    return (ws ? static_cast<std::int32_t>(static_cast<std::int8_t>(raw)) : raw) - a.w_zp[c];
  };
  for (index_t b = 0; b < D.nblk; ++b) {
    for (index_t q = 0; q < D.npairs; ++q)
      for (int h = 0; h < 2; ++h)
        for (int j = 0; j < H; ++j) {
          const index_t c = b * CB + q8_dw_perm(j, h);
          std::int16_t* d = wp + ((b * D.npairs + q) * 2 + h) * CB + 2 * j;
          d[0] = static_cast<std::int16_t>(wv(c, 2 * q));
          d[1] = static_cast<std::int16_t>(wv(c, 2 * q + 1));
        }
    for (int h = 0; h < 2; ++h)
      for (int j = 0; j < H; ++j) {
        const index_t c = b * CB + q8_dw_perm(j, h);
        std::uint32_t sum = 0;
        for (index_t t = 0; t < taps; ++t) sum += static_cast<std::uint32_t>(wv(c, t));
        corr[b * CB + h * H + j] =
            c < C ? static_cast<std::uint32_t>(a.bias ? a.bias[c] : 0) -
                        static_cast<std::uint32_t>(a.x_zp) * sum
                  : 0u;
      }
  }
  for (index_t c = 0; c < D.nblk * CB; ++c) mult[c] = c < C ? a.mult[c] : 0.0;
  p->panel = wp;
  p->corr = corr;
  p->mult = mult;
  p->run = &q8_depthwise_run<V>;
  p->path = V::name();
}

template <class ISA>
struct q8_dw_tag {};  // owner of the depthwise engine's scratch

template <class V>
void q8_depthwise_run(const QConvArgs& a, const Q8Packed& p) {
  using ISA = typename V::isa;
  constexpr int CB = V::CB;
  const ConvSpec& s = *a.s;
  const q8_dw_layout<V> D(s);
  const index_t C = s.C_in, taps = s.k[1] * s.k[2], K2 = s.k[2];
  const index_t OH = s.out[1], OW = s.out[2], IH = s.in[1], IW = s.in[2];
  const index_t full = V::masked ? D.nblk : C / CB;  // blocks run by the vector code
  // the padding row: x_zp's byte for every channel, with a block of slack
  std::uint8_t* padrow = thread_scratch<std::uint8_t, q8_dw_tag<ISA>, 1>::get(0, C + CB);
  std::memset(padrow, static_cast<std::uint8_t>(a.x_zp), static_cast<std::size_t>(C + CB));
  const auto* x8 = static_cast<const std::uint8_t*>(a.x);
  auto* y8 = static_cast<std::uint8_t*>(a.y);
  const auto* wp = static_cast<const std::int16_t*>(p.panel);
  Q8Store base{};
  base.ldy = 0;
  base.hi = static_cast<double>(a.y_hi - a.y_zp);
  base.lo = a.y_lo - a.y_zp;
  base.zp = a.y_zp;
  base.y_signed = a.y_signed;
  base.mr = 1;
  const index_t K1 = s.k[1], S1 = s.stride[1], S2 = s.stride[2], D1 = s.dil[1], D2 = s.dil[2];
  const index_t P1 = s.pad_lo[1], P2 = s.pad_lo[2];
  // the output columns whose windows lie inside the input: [ow_lo, ow_hi)
  index_t ow_lo = 0, ow_hi = 0;
  {
    ow_lo = P2 > 0 ? (P2 + S2 - 1) / S2 : 0;
    const index_t last = IW - 1 - (K2 - 1) * D2 + P2;  // ow * S2 <= last
    ow_hi = last >= 0 ? last / S2 + 1 : 0;
    if (ow_hi > OW) ow_hi = OW;
    if (ow_lo > ow_hi) ow_lo = ow_hi;
  }
  const bool xs = a.x_signed;
  parallel_for(s.N * OH, [&](index_t item) {
    const index_t n = item / OH, oh = item % OH;
    // per tap (rounded up to pairs): the input pixel, or the padding row
    const std::uint8_t** tp =
        thread_scratch<const std::uint8_t*, q8_dw_tag<ISA>, 1>::get(0, 2 * D.npairs);
    for (index_t t = taps; t < 2 * D.npairs; ++t) tp[t] = padrow;
    // the input row of each kernel row (null: padding)
    const std::uint8_t* rows[64];
    const std::uint8_t** rowp = K1 <= 64 ? rows
        : thread_scratch<const std::uint8_t*, q8_dw_tag<ISA>, 2>::get(0, K1);
    bool rows_inside = true;
    for (index_t t1 = 0; t1 < K1; ++t1) {
      const index_t ih = oh * S1 - P1 + t1 * D1;
      rowp[t1] = ih >= 0 && ih < IH ? x8 + (n * IH + ih) * IW * C : nullptr;
      rows_inside = rows_inside && rowp[t1];
    }
    Q8Store st = base;
    for (index_t ow = 0; ow < OW; ++ow) {
      const index_t iw0 = ow * S2 - P2;
      if (rows_inside && ow >= ow_lo && ow < ow_hi) {
        for (index_t t1 = 0, t = 0; t1 < K1; ++t1)
          for (index_t t2 = 0; t2 < K2; ++t2, ++t) tp[t] = rowp[t1] + (iw0 + t2 * D2) * C;
      } else {
        for (index_t t1 = 0, t = 0; t1 < K1; ++t1)
          for (index_t t2 = 0; t2 < K2; ++t2, ++t) {
            const index_t iw = iw0 + t2 * D2;
            tp[t] = rowp[t1] && iw >= 0 && iw < IW ? rowp[t1] + iw * C : padrow;
          }
      }
      std::uint8_t* yp = y8 + ((n * OH + oh) * OW + ow) * C;
      for (index_t b = 0; b < full; ++b) {
        const index_t c0 = b * CB;
        st.corr = p.corr + c0;
        st.mult = p.mult + c0;
        st.y = yp + c0;
        st.nvalid = static_cast<int>(C - c0 < CB ? C - c0 : CB);
        if (xs)
          V::template block<true>(tp, c0, D.npairs, wp + b * D.npairs * 2 * CB, st);
        else
          V::template block<false>(tp, c0, D.npairs, wp + b * D.npairs * 2 * CB, st);
      }
      for (index_t c = full * CB; c < C; ++c) {  // AVX2's tail: scalar, the same integers
        const index_t b = c / CB, r = c % CB;
        const int h = static_cast<int>((r % 8) / 4), j = static_cast<int>((r / 8) * 4 + r % 4);
        std::uint32_t acc = p.corr[b * CB + h * (CB / 2) + j];  // inverse of q8_dw_perm
        for (index_t t = 0; t < taps; ++t) {
          const std::uint8_t raw = tp[t][c];  // the padding row holds x_zp
          const std::int32_t xv = xs ? static_cast<std::int32_t>(static_cast<std::int8_t>(raw)) : raw;
          const std::int16_t wv = wp[((b * D.npairs + t / 2) * 2 + h) * CB + 2 * j + (t % 2)];
          acc += static_cast<std::uint32_t>(xv * wv);
        }
        yp[c] = static_cast<std::uint8_t>(
            requantize(static_cast<std::int32_t>(acc), p.mult[c], a.y_zp, a.y_lo, a.y_hi));
      }
    }
  });
}

#if defined(CONVCORE_SIMD_AVX2)
template <class ISA>
struct q8_dw_avx2 {
  using isa = ISA;
  static constexpr int CB = 16;
  static constexpr bool masked = false;
  static const char* name() { return "avx2_depthwise"; }
  template <bool XS>
  static __m256i load(const std::uint8_t* p) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return XS ? _mm256_cvtepi8_epi16(b) : _mm256_cvtepu8_epi16(b);
  }
  // One pixel's block of 16 channels from c0: taps in pairs, then the fused store.
  template <bool XS>
  static void block(const std::uint8_t* const* tp, index_t c0, index_t npairs, const std::int16_t* w, const Q8Store& st) {
    __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(st.corr));
    __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(st.corr + 8));
    for (index_t q = 0; q < npairs; ++q, w += 2 * CB) {
      const __m256i xa = load<XS>(tp[2 * q] + c0), xb = load<XS>(tp[2 * q + 1] + c0);
      lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb),
                                                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w))));
      hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb),
                                                  _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + CB))));
    }
    // lo holds channels 0-3, 8-11; hi 4-7, 12-15
    q8_store8_avx2<ISA>(_mm256_permute2x128_si256(lo, hi, 0x20), st.mult, st, st.y, 8);
    q8_store8_avx2<ISA>(_mm256_permute2x128_si256(lo, hi, 0x31), st.mult + 8, st, st.y + 8, 8);
  }
};
#endif

#if defined(CONVCORE_SIMD_AVX512)
template <class ISA>
struct q8_dw_avx512 {
  using isa = ISA;
  static constexpr int CB = 32;
  static constexpr bool masked = true;
  static const char* name() { return "avx512bw_depthwise"; }
  template <bool XS>
  static void block(const std::uint8_t* const* tp, index_t c0, index_t npairs, const std::int16_t* w, const Q8Store& st) {
    // a partial block (the last one) loads only its channels (the padding row has slack)
    const __mmask32 m = st.nvalid >= 32 ? __mmask32(0xFFFFFFFFu)
                                        : static_cast<__mmask32>((1u << st.nvalid) - 1u);
    __m512i lo = _mm512_loadu_si512(st.corr), hi = _mm512_loadu_si512(st.corr + 16);
    for (index_t q = 0; q < npairs; ++q, w += 2 * CB) {
      const std::uint8_t *pa = tp[2 * q] + c0, *pb = tp[2 * q + 1] + c0;
      __m256i ba, bb;
      if (st.nvalid >= 32) {
        ba = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pa));
        bb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pb));
      } else {
        ba = _mm256_maskz_loadu_epi8(m, pa);
        bb = _mm256_maskz_loadu_epi8(m, pb);
      }
      const __m512i xa = XS ? _mm512_cvtepi8_epi16(ba) : _mm512_cvtepu8_epi16(ba);
      const __m512i xb = XS ? _mm512_cvtepi8_epi16(bb) : _mm512_cvtepu8_epi16(bb);
      lo = _mm512_add_epi32(lo, _mm512_madd_epi16(_mm512_unpacklo_epi16(xa, xb),
                                                  _mm512_loadu_si512(w)));
      hi = _mm512_add_epi32(hi, _mm512_madd_epi16(_mm512_unpackhi_epi16(xa, xb),
                                                  _mm512_loadu_si512(w + CB)));
    }
    // lo holds channels 0-3, 8-11, 16-19, 24-27 (128-bit lanes); hi 4-7, 12-15, ...
    const __m512i i0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i i1 =
        _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    const __mmask16 m0 = static_cast<__mmask16>(m), m1 = static_cast<__mmask16>(m >> 16);
    q8_store16_avx512<ISA>(_mm512_permutex2var_epi32(lo, i0, hi), st.mult, st, st.y, m0);
    if (m1) q8_store16_avx512<ISA>(_mm512_permutex2var_epi32(lo, i1, hi), st.mult + 16, st, st.y + 16, m1);
  }
};
#endif

}  // namespace kernels
}  // namespace convcore
