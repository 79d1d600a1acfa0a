// The INT8 engine's microkernels and its fused requantising store, per ISA.
//
// A microkernel computes an MR x NR int32 tile (added to the tile in c when `more`: the
// reduction runs in blocks of KC): MR output pixels (rows of packed x, one
// 32-bit broadcast of KU values per K step) times NR output channels (one packed weight panel,
// NR x KU values per K step), over the whole reduction. Each traits struct below names its
// operand types, tile and K step; quantized_gemm.hpp runs them.
//
// The store adds the per-channel correction (modulo 2^32), converts to float64, multiplies by
// the channel's multiplier (one IEEE multiplication, as core/requantize.hpp), rounds to nearest
// even (roundscale / round_pd under the default rounding: the same integer as requantize()'s
// written-out rounding), clamps to [lo - zp, hi - zp] (exact: integers in float64) and adds zp.
// So every value equals requantize(acc, multiplier, zp, lo, hi) bit for bit.
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

// Per-store constants of one output: the clamp bounds in zero-point-free units.
struct Q8Out {
  double lo, hi;  // y_lo - y_zp, y_hi - y_zp
  std::int32_t zp;
  bool y_signed;
};

template <class ISA>
Q8Out q8_out(const QConvArgs& a) {
  return {static_cast<double>(a.y_lo - a.y_zp), static_cast<double>(a.y_hi - a.y_zp), a.y_zp,
          a.y_signed};
}

#if defined(CONVCORE_SIMD_AVX2)
// 8 accumulators (+ corrections) to 8 requantised bytes at p.
template <class ISA>
inline void q8_store8_avx2(__m256i acc, const double* mult, const Q8Out& q, std::uint8_t* p) {
  const __m256d lo = _mm256_set1_pd(q.lo), hi = _mm256_set1_pd(q.hi);
  __m256d a = _mm256_cvtepi32_pd(_mm256_castsi256_si128(acc));
  __m256d b = _mm256_cvtepi32_pd(_mm256_extracti128_si256(acc, 1));
  a = _mm256_round_pd(_mm256_mul_pd(a, _mm256_loadu_pd(mult)),
                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  b = _mm256_round_pd(_mm256_mul_pd(b, _mm256_loadu_pd(mult + 4)),
                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  a = _mm256_min_pd(_mm256_max_pd(a, lo), hi);
  b = _mm256_min_pd(_mm256_max_pd(b, lo), hi);
  const __m128i zp = _mm_set1_epi32(q.zp);
  const __m128i ia = _mm_add_epi32(_mm256_cvtpd_epi32(a), zp);
  const __m128i ib = _mm_add_epi32(_mm256_cvtpd_epi32(b), zp);
  // values lie in [lo, hi] of the 8-bit type: the saturating packs below are exact
  const __m128i w16 = _mm_packs_epi32(ia, ib);
  const __m128i b8 = q.y_signed ? _mm_packs_epi16(w16, w16) : _mm_packus_epi16(w16, w16);
  _mm_storel_epi64(reinterpret_cast<__m128i*>(p), b8);
}

// AVX2: int16 operands, vpmaddwd; 6 pixels x 16 channels (12 accumulators).
template <class ISA>
struct q8_madd_avx2 {
  using A = std::int16_t;
  using B = std::int16_t;
  static constexpr int MR = 6, NR = 16, KU = 2, KC = 384;
  static const char* name() { return "avx2_madd"; }

  static void micro(const A* const* r, const B* b, index_t ksteps, std::int32_t* c, bool more) {
    // named accumulators, not an array: GCC keeps these in registers (an array of vectors
    // was shuffled through the stack every iteration)
#define CONVCORE_Q8_LOAD(i)                                                                   \
  __m256i c##i##0 = more ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i * NR))   \
                         : _mm256_setzero_si256();                                            \
  __m256i c##i##1 = more ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i * NR + 8)) \
                         : _mm256_setzero_si256();                                            \
  const A* r##i = r[i];
    CONVCORE_Q8_LOAD(0) CONVCORE_Q8_LOAD(1) CONVCORE_Q8_LOAD(2)
    CONVCORE_Q8_LOAD(3) CONVCORE_Q8_LOAD(4) CONVCORE_Q8_LOAD(5)
#undef CONVCORE_Q8_LOAD
    for (index_t k = 0; k < ksteps; ++k, b += NR * KU) {
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
      const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16));
#define CONVCORE_Q8_ROW(i)                                                  \
  {                                                                         \
    std::int32_t pair;                                                      \
    std::memcpy(&pair, r##i + 2 * k, 4);                                    \
    const __m256i av = _mm256_set1_epi32(pair);                             \
    c##i##0 = _mm256_add_epi32(c##i##0, _mm256_madd_epi16(av, b0));         \
    c##i##1 = _mm256_add_epi32(c##i##1, _mm256_madd_epi16(av, b1));         \
  }
      CONVCORE_Q8_ROW(0) CONVCORE_Q8_ROW(1) CONVCORE_Q8_ROW(2)
      CONVCORE_Q8_ROW(3) CONVCORE_Q8_ROW(4) CONVCORE_Q8_ROW(5)
#undef CONVCORE_Q8_ROW
    }
#define CONVCORE_Q8_STORE(i)                                                      \
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * NR), c##i##0);           \
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * NR + 8), c##i##1);
    CONVCORE_Q8_STORE(0) CONVCORE_Q8_STORE(1) CONVCORE_Q8_STORE(2)
    CONVCORE_Q8_STORE(3) CONVCORE_Q8_STORE(4) CONVCORE_Q8_STORE(5)
#undef CONVCORE_Q8_STORE
  }

  // Row of NR accumulators to NR bytes.
  static void store_row(const std::int32_t* c, const std::uint32_t* corr, const double* mult,
                        const Q8Out& q, std::uint8_t* out) {
    for (int h = 0; h < NR; h += 8) {
      const __m256i acc =
          _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + h)),
                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr + h)));
      q8_store8_avx2<ISA>(acc, mult + h, q, out + h);
    }
  }
};
#endif

#if defined(CONVCORE_SIMD_AVX512)
// The 8 x 32 AVX-512 microkernel body: KU values per 32-bit broadcast, CONVCORE_Q8_OP the
// multiply-accumulate (vpmaddwd + vpaddd, or vpdpbusd). Named accumulators, not an array: GCC
// keeps these 16 in registers (an array of vectors went through the stack every iteration).
#define CONVCORE_Q8_MICRO512(KUB)                                                         \
  CONVCORE_Q8_L(0) CONVCORE_Q8_L(1) CONVCORE_Q8_L(2) CONVCORE_Q8_L(3)                     \
  CONVCORE_Q8_L(4) CONVCORE_Q8_L(5) CONVCORE_Q8_L(6) CONVCORE_Q8_L(7)                     \
  for (index_t k = 0; k < ksteps; ++k, b += NR * KU) {                                    \
    const __m512i b0 = _mm512_loadu_si512(b);                                             \
    const __m512i b1 = _mm512_loadu_si512(b + 64 / sizeof(*b));                           \
    CONVCORE_Q8_R(0, KUB) CONVCORE_Q8_R(1, KUB) CONVCORE_Q8_R(2, KUB) CONVCORE_Q8_R(3, KUB) \
    CONVCORE_Q8_R(4, KUB) CONVCORE_Q8_R(5, KUB) CONVCORE_Q8_R(6, KUB) CONVCORE_Q8_R(7, KUB) \
  }                                                                                       \
  CONVCORE_Q8_S(0) CONVCORE_Q8_S(1) CONVCORE_Q8_S(2) CONVCORE_Q8_S(3)                     \
  CONVCORE_Q8_S(4) CONVCORE_Q8_S(5) CONVCORE_Q8_S(6) CONVCORE_Q8_S(7)
#define CONVCORE_Q8_L(i)                                                          \
  __m512i c##i##0 = more ? _mm512_loadu_si512(c + i * NR) : _mm512_setzero_si512(); \
  __m512i c##i##1 = more ? _mm512_loadu_si512(c + i * NR + 16) : _mm512_setzero_si512(); \
  const A* r##i = r[i];
#define CONVCORE_Q8_R(i, KUB)                      \
  {                                                \
    std::int32_t quad;                             \
    std::memcpy(&quad, r##i + KUB * k, 4);         \
    const __m512i av = _mm512_set1_epi32(quad);    \
    CONVCORE_Q8_OP(c##i##0, av, b0);               \
    CONVCORE_Q8_OP(c##i##1, av, b1);               \
  }
#define CONVCORE_Q8_S(i)                   \
  _mm512_storeu_si512(c + i * NR, c##i##0); \
  _mm512_storeu_si512(c + i * NR + 16, c##i##1);

template <class ISA>
inline void q8_store_row512(const std::int32_t* c, const std::uint32_t* corr, const double* mult,
                            const Q8Out& q, std::uint8_t* out, int NR) {
  const __m512d lo = _mm512_set1_pd(q.lo), hi = _mm512_set1_pd(q.hi);
  const __m512i zp = _mm512_set1_epi32(q.zp);
  for (int h = 0; h < NR; h += 16) {
    const __m512i acc = _mm512_add_epi32(_mm512_loadu_si512(c + h), _mm512_loadu_si512(corr + h));
    __m512d a = _mm512_cvtepi32_pd(_mm512_castsi512_si256(acc));
    __m512d b = _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(acc, 1));
    a = _mm512_roundscale_pd(_mm512_mul_pd(a, _mm512_loadu_pd(mult + h)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    b = _mm512_roundscale_pd(_mm512_mul_pd(b, _mm512_loadu_pd(mult + h + 8)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    a = _mm512_min_pd(_mm512_max_pd(a, lo), hi);
    b = _mm512_min_pd(_mm512_max_pd(b, lo), hi);
    const __m512i v = _mm512_add_epi32(
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtpd_epi32(a)), _mm512_cvtpd_epi32(b), 1),
        zp);
    // in [lo, hi] of the 8-bit type: truncation to the low byte is exact for int8 and uint8
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + h), _mm512_cvtepi32_epi8(v));
  }
  (void)q.y_signed;
}

// AVX-512BW: int16 operands, vpmaddwd; 8 pixels x 32 channels (16 accumulators).
template <class ISA>
struct q8_madd_avx512 {
  using A = std::int16_t;
  using B = std::int16_t;
  static constexpr int MR = 8, NR = 32, KU = 2, KC = 256;
  static const char* name() { return "avx512bw_madd"; }

  static void micro(const A* const* r, const B* b, index_t ksteps, std::int32_t* c, bool more) {
#define CONVCORE_Q8_OP(acc, av, bv) acc = _mm512_add_epi32(acc, _mm512_madd_epi16(av, bv))
    CONVCORE_Q8_MICRO512(2)
#undef CONVCORE_Q8_OP
  }

  static void store_row(const std::int32_t* c, const std::uint32_t* corr, const double* mult,
                        const Q8Out& q, std::uint8_t* out) {
    q8_store_row512<ISA>(c, corr, mult, q, out, NR);
  }
};

// AVX-512 VNNI: uint8 x int8 with vpdpbusd (4 products per lane, no saturation: the
// non-"s" form wraps); 8 pixels x 32 channels.
template <class ISA>
CONVCORE_TARGET_VNNI void q8_micro_vnni(const std::uint8_t* const* r, const std::int8_t* b,
                                        index_t ksteps, std::int32_t* c, bool more) {
  constexpr int NR = 32, KU = 4;
  using A = std::uint8_t;
#define CONVCORE_Q8_OP(acc, av, bv) acc = _mm512_dpbusd_epi32(acc, av, bv)
  CONVCORE_Q8_MICRO512(4)
#undef CONVCORE_Q8_OP
}

template <class ISA>
struct q8_vnni_avx512 {
  using A = std::uint8_t;
  using B = std::int8_t;
  static constexpr int MR = 8, NR = 32, KU = 4, KC = 512;
  static const char* name() { return "avx512_vnni"; }
  static void micro(const A* const* r, const B* b, index_t ksteps, std::int32_t* c, bool more) {
    q8_micro_vnni<ISA>(r, b, ksteps, c, more);
  }
  static void store_row(const std::int32_t* c, const std::uint32_t* corr, const double* mult,
                        const Q8Out& q, std::uint8_t* out) {
    q8_store_row512<ISA>(c, corr, mult, q, out, NR);
  }
};
#endif

}  // namespace kernels
}  // namespace convcore
