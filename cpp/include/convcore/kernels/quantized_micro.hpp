// The INT8 engine's microkernels with their fused requantising store, per ISA.
//
// A microkernel computes an MR x NR int32 tile: MR output pixels (row pointers into the source
// image, quantized_pack.hpp; one 32-bit broadcast of KU values per K step) times NR output
// channels (one packed weight panel, NR x KU values per K step), over the whole reduction: per
// tap t, kpt K steps read at row + toff[t]. The accumulators start from the channels'
// corrections (bias and zero-point terms, modulo 2^32) and go straight from the registers to
// the requantised bytes of y: nothing of the tile passes through memory.
//
// The store converts to float64, multiplies by the channel's multiplier (one IEEE
// multiplication, as core/requantize.hpp), rounds to nearest even (an explicit rounding:
// roundscale / round_pd, or the conversion's embedded rounding on AVX-512, never the MXCSR
// mode), clamps and adds the zero point in integers. So every value equals
// requantize(acc, multiplier, zp, lo, hi) bit for bit:
//  - AVX-512: min(v, hi - zp) in float64 before the conversion (a value past 2^31 would
//    convert to INT_MIN), max(v, lo - zp) in int32 after it (INT_MIN, for values below -2^31,
//    is clamped with the rest), then + zp and the low byte of each lane (a value in [lo, hi]
//    of the 8-bit type: truncation is exact).
//  - AVX2: min(v, hi - zp) before the conversion, then the saturating packs: int32 -> int16
//    (INT_MIN -> -32768), + zp with int16 saturation, -> uint8 / int8 with saturation, which
//    is the clamp to [lo, hi] (the type's range: y_lo and y_hi are always its ends).
// Rows past the tile's mr repeat the last row (their results are not stored); columns past
// nvalid are masked off (the panel's padding columns hold weight 0).
#pragma once
#include <cstdint>
#include <cstring>

#include "../core/simd.hpp"
#include "quantized_args.hpp"

#if defined(CONVCORE_SIMD_AVX512) && defined(__GNUC__) && !defined(__AVX512VNNI__)
// Only the VNNI microkernel gets the extension (run only after the CPUID check), not the
// whole AVX-512 unit: the compiler may not put VNNI instructions anywhere else.
#define CONVCORE_TARGET_VNNI __attribute__((target("avx512vnni")))
#else
#define CONVCORE_TARGET_VNNI
#endif

namespace convcore {
namespace kernels {

// Where and how one tile is stored.
struct Q8Store {
  const std::uint32_t* corr;  // the panel's NR corrections
  const double* mult;         // the panel's NR multipliers
  std::uint8_t* y;            // element (row 0, column 0) of the tile in y
  index_t ldy;                // elements between rows of y (C_out)
  int mr, nvalid;             // rows and columns of the tile to store
  double hi;                  // y_hi - y_zp
  std::int32_t lo, zp;        // y_lo - y_zp, y_zp
  bool y_signed;
};

#if defined(CONVCORE_SIMD_AVX2)
// 8 accumulators to 8 requantised bytes (the low half of the result).
template <class ISA>
inline __m128i q8_requant8_avx2(__m256i acc, const double* mult, const Q8Store& st) {
  const __m256d hi = _mm256_set1_pd(st.hi);
  __m256d a = _mm256_cvtepi32_pd(_mm256_castsi256_si128(acc));
  __m256d b = _mm256_cvtepi32_pd(_mm256_extracti128_si256(acc, 1));
  a = _mm256_round_pd(_mm256_mul_pd(a, _mm256_loadu_pd(mult)),
                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  b = _mm256_round_pd(_mm256_mul_pd(b, _mm256_loadu_pd(mult + 4)),
                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  a = _mm256_min_pd(a, hi);
  b = _mm256_min_pd(b, hi);
  // integers in float64 below 2^31 (or below -2^31: INT_MIN): the conversion is exact
  const __m128i w16 = _mm_adds_epi16(_mm_packs_epi32(_mm256_cvtpd_epi32(a), _mm256_cvtpd_epi32(b)),
                                     _mm_set1_epi16(static_cast<std::int16_t>(st.zp)));
  return st.y_signed ? _mm_packs_epi16(w16, w16) : _mm_packus_epi16(w16, w16);
}

// 8 accumulators to 8 requantised bytes at p (n of them).
template <class ISA>
inline void q8_store8_avx2(__m256i acc, const double* mult, const Q8Store& st, std::uint8_t* p,
                           int n) {
  const __m128i b8 = q8_requant8_avx2<ISA>(acc, mult, st);
  if (n >= 8) {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), b8);
  } else if (n > 0) {
    alignas(16) std::uint8_t t[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(t), b8);
    std::memcpy(p, t, static_cast<std::size_t>(n));
  }
}

// AVX2: int16 operands, vpmaddwd; 6 pixels x 16 channels (12 accumulators).
template <class ISA>
struct q8_madd_avx2 {
  using A = std::int16_t;
  using B = std::int16_t;
  static constexpr int MR = 6, NR = 16, KU = 2;
  static const char* name() { return "avx2_madd"; }

  static void tile(const A* const* r, const index_t* toff, index_t taps, index_t kpt,
                   const B* b, const Q8Store& st) {
    // named accumulators, not an array: GCC keeps these in registers (an array of vectors
    // was shuffled through the stack every iteration)
    const __m256i k0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(st.corr));
    const __m256i k1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(st.corr + 8));
#define CONVCORE_Q8_INIT(i) __m256i c##i##0 = k0, c##i##1 = k1;
    CONVCORE_Q8_INIT(0) CONVCORE_Q8_INIT(1) CONVCORE_Q8_INIT(2)
    CONVCORE_Q8_INIT(3) CONVCORE_Q8_INIT(4) CONVCORE_Q8_INIT(5)
#undef CONVCORE_Q8_INIT
    for (index_t t = 0; t < taps; ++t) {
      const index_t o = toff[t];
      const A *p0 = r[0] + o, *p1 = r[1] + o, *p2 = r[2] + o, *p3 = r[3] + o, *p4 = r[4] + o,
              *p5 = r[5] + o;
      for (index_t k = 0; k < kpt; ++k, b += NR * KU) {
        const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
        const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16));
#define CONVCORE_Q8_ROW(i)                                                  \
  {                                                                         \
    std::int32_t pair;                                                      \
    std::memcpy(&pair, p##i + 2 * k, 4);                                    \
    const __m256i av = _mm256_set1_epi32(pair);                             \
    c##i##0 = _mm256_add_epi32(c##i##0, _mm256_madd_epi16(av, b0));         \
    c##i##1 = _mm256_add_epi32(c##i##1, _mm256_madd_epi16(av, b1));         \
  }
        CONVCORE_Q8_ROW(0) CONVCORE_Q8_ROW(1) CONVCORE_Q8_ROW(2)
        CONVCORE_Q8_ROW(3) CONVCORE_Q8_ROW(4) CONVCORE_Q8_ROW(5)
#undef CONVCORE_Q8_ROW
      }
    }
    const int n0 = st.nvalid < 8 ? st.nvalid : 8, n1 = st.nvalid - 8;
#define CONVCORE_Q8_STORE(i)                                                  \
  if (i < st.mr) {                                                            \
    std::uint8_t* yr = st.y + i * st.ldy;                                     \
    q8_store8_avx2<ISA>(c##i##0, st.mult, st, yr, n0);                        \
    q8_store8_avx2<ISA>(c##i##1, st.mult + 8, st, yr + 8, n1);                \
  }
    CONVCORE_Q8_STORE(0) CONVCORE_Q8_STORE(1) CONVCORE_Q8_STORE(2)
    CONVCORE_Q8_STORE(3) CONVCORE_Q8_STORE(4) CONVCORE_Q8_STORE(5)
#undef CONVCORE_Q8_STORE
  }
};
#endif

#if defined(CONVCORE_SIMD_AVX512)
// 16 accumulators to 16 requantised bytes at p, lanes in `mask`.
template <class ISA>
inline void q8_store16_avx512(__m512i acc, const double* mult, const Q8Store& st,
                              std::uint8_t* p, __mmask16 mask) {
  const __m512d hi = _mm512_set1_pd(st.hi);
  __m512d a = _mm512_cvtepi32_pd(_mm512_castsi512_si256(acc));
  __m512d b = _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(acc, 1));
  a = _mm512_min_pd(_mm512_mul_pd(a, _mm512_loadu_pd(mult)), hi);
  b = _mm512_min_pd(_mm512_mul_pd(b, _mm512_loadu_pd(mult + 8)), hi);
  const __m256i ia = _mm512_cvt_roundpd_epi32(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256i ib = _mm512_cvt_roundpd_epi32(b, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(ia), ib, 1);
  v = _mm512_add_epi32(_mm512_max_epi32(v, _mm512_set1_epi32(st.lo)), _mm512_set1_epi32(st.zp));
  _mm512_mask_cvtepi32_storeu_epi8(p, mask, v);
}

// The 8 x 32 AVX-512 tile body: KUB values per 32-bit broadcast, CONVCORE_Q8_OP the
// multiply-accumulate (vpmaddwd + vpaddd, or vpdpbusd). Named accumulators, not an array: GCC
// keeps these 16 in registers (an array of vectors went through the stack every iteration).
#define CONVCORE_Q8_TILE512(KUB)                                                            \
  const __m512i k0 = _mm512_loadu_si512(st.corr), k1 = _mm512_loadu_si512(st.corr + 16);    \
  __m512i c00 = k0, c01 = k1, c10 = k0, c11 = k1, c20 = k0, c21 = k1, c30 = k0, c31 = k1,   \
          c40 = k0, c41 = k1, c50 = k0, c51 = k1, c60 = k0, c61 = k1, c70 = k0, c71 = k1;   \
  for (index_t t = 0; t < taps; ++t) {                                                      \
    const index_t o = toff[t];                                                              \
    const A *p0 = r[0] + o, *p1 = r[1] + o, *p2 = r[2] + o, *p3 = r[3] + o, *p4 = r[4] + o, \
            *p5 = r[5] + o, *p6 = r[6] + o, *p7 = r[7] + o;                                 \
    for (index_t k = 0; k < kpt; ++k, b += 32 * KUB) {                                      \
      const __m512i b0 = _mm512_loadu_si512(b);                                             \
      const __m512i b1 = _mm512_loadu_si512(b + 16 * KUB);                                  \
      CONVCORE_Q8_R(0, KUB) CONVCORE_Q8_R(1, KUB) CONVCORE_Q8_R(2, KUB)                     \
      CONVCORE_Q8_R(3, KUB) CONVCORE_Q8_R(4, KUB) CONVCORE_Q8_R(5, KUB)                     \
      CONVCORE_Q8_R(6, KUB) CONVCORE_Q8_R(7, KUB)                                           \
    }                                                                                       \
  }                                                                                         \
  const __mmask16 m0 = st.nvalid >= 16 ? __mmask16(0xFFFF)                                  \
                                       : static_cast<__mmask16>((1u << st.nvalid) - 1u);    \
  const __mmask16 m1 = st.nvalid >= 32 ? __mmask16(0xFFFF)                                  \
                       : st.nvalid <= 16 ? __mmask16(0)                                     \
                                         : static_cast<__mmask16>((1u << (st.nvalid - 16)) - 1u); \
  CONVCORE_Q8_S(0) CONVCORE_Q8_S(1) CONVCORE_Q8_S(2) CONVCORE_Q8_S(3)                       \
  CONVCORE_Q8_S(4) CONVCORE_Q8_S(5) CONVCORE_Q8_S(6) CONVCORE_Q8_S(7)
#define CONVCORE_Q8_R(i, KUB)                      \
  {                                                \
    std::int32_t quad;                             \
    std::memcpy(&quad, p##i + KUB * k, 4);         \
    const __m512i av = _mm512_set1_epi32(quad);    \
    CONVCORE_Q8_OP(c##i##0, av, b0);               \
    CONVCORE_Q8_OP(c##i##1, av, b1);               \
  }
#define CONVCORE_Q8_S(i)                                                 \
  if (i < st.mr) {                                                       \
    std::uint8_t* yr = st.y + i * st.ldy;                                \
    q8_store16_avx512<ISA>(c##i##0, st.mult, st, yr, m0);                \
    q8_store16_avx512<ISA>(c##i##1, st.mult + 16, st, yr + 16, m1);      \
  }

// AVX-512BW: int16 operands, vpmaddwd; 8 pixels x 32 channels (16 accumulators).
template <class ISA>
struct q8_madd_avx512 {
  using A = std::int16_t;
  using B = std::int16_t;
  static constexpr int MR = 8, NR = 32, KU = 2;
  static const char* name() { return "avx512bw_madd"; }

  static void tile(const A* const* r, const index_t* toff, index_t taps, index_t kpt,
                   const B* b, const Q8Store& st) {
#define CONVCORE_Q8_OP(acc, av, bv) acc = _mm512_add_epi32(acc, _mm512_madd_epi16(av, bv))
    CONVCORE_Q8_TILE512(2)
#undef CONVCORE_Q8_OP
  }
};

// AVX-512 VNNI: uint8 x int8 with vpdpbusd (4 products per lane, no saturation: the
// non-"s" form wraps); 8 pixels x 32 channels.
template <class ISA>
CONVCORE_TARGET_VNNI void q8_tile_vnni(const std::uint8_t* const* r, const index_t* toff,
                                       index_t taps, index_t kpt, const std::int8_t* b,
                                       const Q8Store& st) {
  using A = std::uint8_t;
#define CONVCORE_Q8_OP(acc, av, bv) acc = _mm512_dpbusd_epi32(acc, av, bv)
  CONVCORE_Q8_TILE512(4)
#undef CONVCORE_Q8_OP
}

template <class ISA>
struct q8_vnni_avx512 {
  using A = std::uint8_t;
  using B = std::int8_t;
  static constexpr int MR = 8, NR = 32, KU = 4;
  static const char* name() { return "avx512_vnni"; }
  static void tile(const A* const* r, const index_t* toff, index_t taps, index_t kpt,
                   const B* b, const Q8Store& st) {
    q8_tile_vnni<ISA>(r, toff, taps, kpt, b, st);
  }
};
#undef CONVCORE_Q8_TILE512
#undef CONVCORE_Q8_R
#undef CONVCORE_Q8_S
#endif

}  // namespace kernels
}  // namespace convcore
