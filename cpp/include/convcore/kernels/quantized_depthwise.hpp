// The INT8 depthwise engine (groups = C_in = C_out, 1-D or 2-D): channels-last, vectorised
// across channels, W channels per vector (16 on AVX-512, 8 on AVX2).
//
// Per output pixel and block of W channels, over the taps inside the input:
//   acc[c] += (x[c] - x_zp) * (w[c, t] - w_zp[c])
// with x widened to int32 lanes and w - w_zp held as int32 lanes whose upper 16 bits are 0:
// vpmaddwd then multiplies the low halves ((x - x_zp) and (w - w_zp), both in [-255, 255], as
// int16) and adds hi * hi = (0 or -1) * 0 = 0, so each lane gets the exact product. Taps in
// the padding are skipped (they add (x_zp - x_zp) * w = 0). The store is the GEMM engine's
// fused requantisation (quantized_micro.hpp); the channels past the last whole vector run
// the scalar requantize(), which those stores equal bit for bit.
#pragma once
#include <cstdint>
#include <vector>

#include "../core/parallel.hpp"
#include "../core/requantize.hpp"
#include "quantized_args.hpp"
#include "quantized_micro.hpp"

namespace convcore {
namespace kernels {

// True for the specs the depthwise engine runs.
inline bool q8_depthwise_applicable(const ConvSpec& s) {
  return s.groups == s.C_in && s.C_out == s.C_in && s.groups > 1 && s.planar();
}

template <class V>
void q8_depthwise_run(const QConvArgs& a) {
  constexpr int W = V::W;
  const ConvSpec& s = *a.s;
  const index_t C = s.C_in, taps = s.k[1] * s.k[2], Cv = C / W * W;
  std::vector<std::int32_t> wt(static_cast<std::size_t>(taps * C));
  std::vector<std::uint32_t> corr(static_cast<std::size_t>(C));
  std::vector<double> mult(static_cast<std::size_t>(C));
  const auto* w8 = static_cast<const std::uint8_t*>(a.w);
  for (index_t c = 0; c < C; ++c) {
    for (index_t t = 0; t < taps; ++t) {
      const std::uint8_t raw = w8[c * taps + t];
      const std::int32_t v = (a.w_signed ? static_cast<std::int32_t>(static_cast<std::int8_t>(raw))
                                         : static_cast<std::int32_t>(raw)) - a.w_zp[c];
      // the int16 value in the low half, zeros above (see the top of this file)
      wt[t * C + c] = static_cast<std::int32_t>(static_cast<std::uint16_t>(v));
    }
    corr[c] = static_cast<std::uint32_t>(a.bias ? a.bias[c] : 0);
    mult[c] = a.mult[c];
  }
  const Q8Out q = q8_out<typename V::isa>(a);
  const auto* x8 = static_cast<const std::uint8_t*>(a.x);
  auto* y8 = static_cast<std::uint8_t*>(a.y);
  const index_t OH = s.out[1], OW = s.out[2], IH = s.in[1], IW = s.in[2];
  parallel_for(s.N * OH, [&](index_t item) {
    const index_t n = item / OH, oh = item % OH;
    const bool xs = a.x_signed;
    const std::int32_t xzp = a.x_zp;
    const std::int32_t* wp = wt.data();
    for (index_t ow = 0; ow < OW; ++ow) {
      // the taps inside the input, as (input pixel offset, tap index)
      index_t off[64], tix[64];
      index_t nt = 0;
      bool small = taps <= 64;
      std::vector<index_t> offv, tixv;
      if (!small) {
        offv.resize(static_cast<std::size_t>(taps));
        tixv.resize(static_cast<std::size_t>(taps));
      }
      index_t* o_ = small ? off : offv.data();
      index_t* t_ = small ? tix : tixv.data();
      for (index_t t1 = 0; t1 < s.k[1]; ++t1) {
        const index_t ih = oh * s.stride[1] - s.pad_lo[1] + t1 * s.dil[1];
        if (ih < 0 || ih >= IH) continue;
        for (index_t t2 = 0; t2 < s.k[2]; ++t2) {
          const index_t iw = ow * s.stride[2] - s.pad_lo[2] + t2 * s.dil[2];
          if (iw < 0 || iw >= IW) continue;
          o_[nt] = ((n * IH + ih) * IW + iw) * C;
          t_[nt] = (t1 * s.k[2] + t2) * C;
          ++nt;
        }
      }
      std::uint8_t* yp = y8 + ((n * OH + oh) * OW + ow) * C;
      for (index_t c0 = 0; c0 < Cv; c0 += W)
        V::block(x8 + c0, wp + c0, o_, t_, nt, xs, xzp, corr.data() + c0, mult.data() + c0, q,
                 yp + c0);
      for (index_t c = Cv; c < C; ++c) {  // the tail: scalar, the same integers and rounding
        std::uint32_t acc = corr[c];
        for (index_t i = 0; i < nt; ++i) {
          const std::uint8_t raw = x8[o_[i] + c];
          const std::int32_t xv =
              (xs ? static_cast<std::int32_t>(static_cast<std::int8_t>(raw)) : raw) - xzp;
          acc += static_cast<std::uint32_t>(xv * static_cast<std::int16_t>(wp[t_[i] + c]));
        }
        const int r = requantize(static_cast<std::int32_t>(acc), mult[c], a.y_zp, a.y_lo, a.y_hi);
        yp[c] = static_cast<std::uint8_t>(r);
      }
    }
  });
}

#if defined(CONVCORE_SIMD_AVX2)
template <class ISA>
struct q8_dw_avx2 {
  using isa = ISA;
  static constexpr int W = 8;
  static void block(const std::uint8_t* x, const std::int32_t* w, const index_t* off,
                    const index_t* tix, index_t nt, bool xs, std::int32_t xzp,
                    const std::uint32_t* corr, const double* mult, const Q8Out& q,
                    std::uint8_t* y) {
    const __m256i zp = _mm256_set1_epi32(xzp);
    __m256i acc = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr));
    for (index_t i = 0; i < nt; ++i) {
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x + off[i]));
      const __m256i xv = _mm256_sub_epi32(xs ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b), zp);
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + tix[i]));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xv, wv));
    }
    q8_store8_avx2<ISA>(acc, mult, q, y);
  }
};
#endif

#if defined(CONVCORE_SIMD_AVX512)
template <class ISA>
struct q8_dw_avx512 {
  using isa = ISA;
  static constexpr int W = 16;
  static void block(const std::uint8_t* x, const std::int32_t* w, const index_t* off,
                    const index_t* tix, index_t nt, bool xs, std::int32_t xzp,
                    const std::uint32_t* corr, const double* mult, const Q8Out& q,
                    std::uint8_t* y) {
    const __m512i zp = _mm512_set1_epi32(xzp);
    __m512i acc = _mm512_setzero_si512();
    for (index_t i = 0; i < nt; ++i) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + off[i]));
      const __m512i xv = _mm512_sub_epi32(xs ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b), zp);
      acc = _mm512_add_epi32(acc, _mm512_madd_epi16(xv, _mm512_loadu_si512(w + tix[i])));
    }
    alignas(64) std::int32_t tile[16];
    _mm512_store_si512(tile, acc);
    q8_store_row512<ISA>(tile, corr, mult, q, y, 16);
  }
};
#endif

}  // namespace kernels
}  // namespace convcore
