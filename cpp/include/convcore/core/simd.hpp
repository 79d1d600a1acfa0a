// A small SIMD vector type, one implementation per instruction set, selected by an ISA tag.
//
//   vec<float, isa::avx2> a = vec<float, isa::avx2>::load(p);   // 8 lanes
//   c = fma(a, b, c);                                            // c + a * b
//
// Kernels are templates over the tag, so each ISA's instantiation has its own symbol: a kernel
// compiled with -mavx2 in one translation unit can never be merged by the linker with the
// scalar one from another (see docs/architecture.md, "Runtime ISA dispatch").
//
// Each specialisation exists only when the compiler targets its ISA (__AVX2__ and __FMA__ or
// MSVC's /arch:AVX2; __AVX512F__; __ARM_NEON on AArch64). The scalar one is plain C++ over a
// small array (no compiler vector extensions), compiles anywhere, and is what the compiler's
// own auto-vectoriser sees on the baseline target. isa::native is the best tag the current
// compiler flags allow: header-only users get that, with no dispatch.
#pragma once
#include <type_traits>

#include "cpu.hpp"
#include "hd.hpp"

#if defined(__AVX2__) && (defined(__FMA__) || defined(_MSC_VER))
#define CONVCORE_SIMD_AVX2 1
#endif
#if defined(CONVCORE_SIMD_AVX2) && defined(__AVX512F__) && defined(__AVX512BW__) && \
    defined(__AVX512DQ__) && defined(__AVX512VL__)
#define CONVCORE_SIMD_AVX512 1
#endif
#if (defined(__ARM_NEON) || defined(__ARM_NEON__)) && (defined(__aarch64__) || defined(_M_ARM64))
#define CONVCORE_SIMD_NEON 1
#endif

#if defined(CONVCORE_SIMD_AVX2) || defined(CONVCORE_SIMD_AVX512)
#include <immintrin.h>
#endif
#if defined(CONVCORE_SIMD_NEON)
#include <arm_neon.h>
#endif

namespace convcore {
namespace isa {
struct scalar { static constexpr IsaLevel level = IsaLevel::scalar; };
struct avx2 { static constexpr IsaLevel level = IsaLevel::avx2; };
struct avx512 { static constexpr IsaLevel level = IsaLevel::avx512; };
struct neon { static constexpr IsaLevel level = IsaLevel::neon; };

#if defined(CONVCORE_SIMD_AVX512)
using native = avx512;
#elif defined(CONVCORE_SIMD_AVX2)
using native = avx2;
#elif defined(CONVCORE_SIMD_NEON)
using native = neon;
#else
using native = scalar;
#endif
}  // namespace isa

template <class T, class ISA>
struct vec;

// Portable fallback: 4 lanes of plain scalars. Loops of constant trip count, so compilers
// unroll them and auto-vectorise for the baseline target (SSE2 on x86-64).
template <class T>
struct vec<T, isa::scalar> {
  static constexpr int width = 4;
  T v[4];
  static vec load(const T* p) {
    vec r;
    for (int i = 0; i < 4; ++i) r.v[i] = p[i];
    return r;
  }
  static vec broadcast(T a) {
    vec r;
    for (int i = 0; i < 4; ++i) r.v[i] = a;
    return r;
  }
  static vec zero() { return broadcast(T(0)); }
  void store(T* p) const {
    for (int i = 0; i < 4; ++i) p[i] = v[i];
  }
  friend vec operator+(vec a, vec b) {
    for (int i = 0; i < 4; ++i) a.v[i] += b.v[i];
    return a;
  }
  friend vec operator*(vec a, vec b) {
    for (int i = 0; i < 4; ++i) a.v[i] *= b.v[i];
    return a;
  }
  // c + a * b (two roundings: a software fma would be far slower without the instruction)
  friend vec fma(vec a, vec b, vec c) {
    for (int i = 0; i < 4; ++i) c.v[i] += a.v[i] * b.v[i];
    return c;
  }
  friend vec max(vec a, vec b) {
    for (int i = 0; i < 4; ++i) a.v[i] = a.v[i] < b.v[i] ? b.v[i] : a.v[i];
    return a;
  }
  friend vec min(vec a, vec b) {
    for (int i = 0; i < 4; ++i) a.v[i] = b.v[i] < a.v[i] ? b.v[i] : a.v[i];
    return a;
  }
};

// The scalar level is the platform's baseline: on x86-64 that includes SSE2 (every x86-64 CPU
// has it; MSVC x64 defines no __SSE2__ but always targets it), so the 4-lane float and 2-lane
// double vectors use it there. Elsewhere, plain C++.
// Define CONVCORE_SIMD_GENERIC to test the plain C++ path on x86.
#if (defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)) && \
    !defined(CONVCORE_SIMD_GENERIC)
#define CONVCORE_SIMD_SSE2 1
#include <emmintrin.h>
template <>
struct vec<float, isa::scalar> {
  static constexpr int width = 4;
  __m128 v;
  static vec load(const float* p) { return {_mm_loadu_ps(p)}; }
  static vec broadcast(float a) { return {_mm_set1_ps(a)}; }
  static vec zero() { return {_mm_setzero_ps()}; }
  void store(float* p) const { _mm_storeu_ps(p, v); }
  friend vec operator+(vec a, vec b) { return {_mm_add_ps(a.v, b.v)}; }
  friend vec operator*(vec a, vec b) { return {_mm_mul_ps(a.v, b.v)}; }
  friend vec fma(vec a, vec b, vec c) { return {_mm_add_ps(c.v, _mm_mul_ps(a.v, b.v))}; }
  friend vec max(vec a, vec b) { return {_mm_max_ps(b.v, a.v)}; }
  friend vec min(vec a, vec b) { return {_mm_min_ps(b.v, a.v)}; }
};
template <>
struct vec<double, isa::scalar> {
  static constexpr int width = 2;
  __m128d v;
  static vec load(const double* p) { return {_mm_loadu_pd(p)}; }
  static vec broadcast(double a) { return {_mm_set1_pd(a)}; }
  static vec zero() { return {_mm_setzero_pd()}; }
  void store(double* p) const { _mm_storeu_pd(p, v); }
  friend vec operator+(vec a, vec b) { return {_mm_add_pd(a.v, b.v)}; }
  friend vec operator*(vec a, vec b) { return {_mm_mul_pd(a.v, b.v)}; }
  friend vec fma(vec a, vec b, vec c) { return {_mm_add_pd(c.v, _mm_mul_pd(a.v, b.v))}; }
  friend vec max(vec a, vec b) { return {_mm_max_pd(b.v, a.v)}; }
  friend vec min(vec a, vec b) { return {_mm_min_pd(b.v, a.v)}; }
};
#endif

#if defined(CONVCORE_SIMD_AVX2)
template <>
struct vec<float, isa::avx2> {
  static constexpr int width = 8;
  __m256 v;
  static vec load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static vec broadcast(float a) { return {_mm256_set1_ps(a)}; }
  static vec zero() { return {_mm256_setzero_ps()}; }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  friend vec operator+(vec a, vec b) { return {_mm256_add_ps(a.v, b.v)}; }
  friend vec operator*(vec a, vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
  friend vec fma(vec a, vec b, vec c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
  // max(x, y) returns y when either is NaN; the order keeps a NaN in `a` as PyTorch's relu does
  friend vec max(vec a, vec b) { return {_mm256_max_ps(b.v, a.v)}; }
  friend vec min(vec a, vec b) { return {_mm256_min_ps(b.v, a.v)}; }
};
template <>
struct vec<double, isa::avx2> {
  static constexpr int width = 4;
  __m256d v;
  static vec load(const double* p) { return {_mm256_loadu_pd(p)}; }
  static vec broadcast(double a) { return {_mm256_set1_pd(a)}; }
  static vec zero() { return {_mm256_setzero_pd()}; }
  void store(double* p) const { _mm256_storeu_pd(p, v); }
  friend vec operator+(vec a, vec b) { return {_mm256_add_pd(a.v, b.v)}; }
  friend vec operator*(vec a, vec b) { return {_mm256_mul_pd(a.v, b.v)}; }
  friend vec fma(vec a, vec b, vec c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
  friend vec max(vec a, vec b) { return {_mm256_max_pd(b.v, a.v)}; }
  friend vec min(vec a, vec b) { return {_mm256_min_pd(b.v, a.v)}; }
};
#endif

#if defined(CONVCORE_SIMD_AVX512)
template <>
struct vec<float, isa::avx512> {
  static constexpr int width = 16;
  __m512 v;
  static vec load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static vec broadcast(float a) { return {_mm512_set1_ps(a)}; }
  static vec zero() { return {_mm512_setzero_ps()}; }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  friend vec operator+(vec a, vec b) { return {_mm512_add_ps(a.v, b.v)}; }
  friend vec operator*(vec a, vec b) { return {_mm512_mul_ps(a.v, b.v)}; }
  friend vec fma(vec a, vec b, vec c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  friend vec max(vec a, vec b) { return {_mm512_max_ps(b.v, a.v)}; }
  friend vec min(vec a, vec b) { return {_mm512_min_ps(b.v, a.v)}; }
};
template <>
struct vec<double, isa::avx512> {
  static constexpr int width = 8;
  __m512d v;
  static vec load(const double* p) { return {_mm512_loadu_pd(p)}; }
  static vec broadcast(double a) { return {_mm512_set1_pd(a)}; }
  static vec zero() { return {_mm512_setzero_pd()}; }
  void store(double* p) const { _mm512_storeu_pd(p, v); }
  friend vec operator+(vec a, vec b) { return {_mm512_add_pd(a.v, b.v)}; }
  friend vec operator*(vec a, vec b) { return {_mm512_mul_pd(a.v, b.v)}; }
  friend vec fma(vec a, vec b, vec c) { return {_mm512_fmadd_pd(a.v, b.v, c.v)}; }
  friend vec max(vec a, vec b) { return {_mm512_max_pd(b.v, a.v)}; }
  friend vec min(vec a, vec b) { return {_mm512_min_pd(b.v, a.v)}; }
};
#endif

#if defined(CONVCORE_SIMD_NEON)
template <>
struct vec<float, isa::neon> {
  static constexpr int width = 4;
  float32x4_t v;
  static vec load(const float* p) { return {vld1q_f32(p)}; }
  static vec broadcast(float a) { return {vdupq_n_f32(a)}; }
  static vec zero() { return {vdupq_n_f32(0.0f)}; }
  void store(float* p) const { vst1q_f32(p, v); }
  friend vec operator+(vec a, vec b) { return {vaddq_f32(a.v, b.v)}; }
  friend vec operator*(vec a, vec b) { return {vmulq_f32(a.v, b.v)}; }
  friend vec fma(vec a, vec b, vec c) { return {vfmaq_f32(c.v, a.v, b.v)}; }
  friend vec max(vec a, vec b) { return {vmaxq_f32(a.v, b.v)}; }
  friend vec min(vec a, vec b) { return {vminq_f32(a.v, b.v)}; }
};
template <>
struct vec<double, isa::neon> {
  static constexpr int width = 2;
  float64x2_t v;
  static vec load(const double* p) { return {vld1q_f64(p)}; }
  static vec broadcast(double a) { return {vdupq_n_f64(a)}; }
  static vec zero() { return {vdupq_n_f64(0.0)}; }
  void store(double* p) const { vst1q_f64(p, v); }
  friend vec operator+(vec a, vec b) { return {vaddq_f64(a.v, b.v)}; }
  friend vec operator*(vec a, vec b) { return {vmulq_f64(a.v, b.v)}; }
  friend vec fma(vec a, vec b, vec c) { return {vfmaq_f64(c.v, a.v, b.v)}; }
  friend vec max(vec a, vec b) { return {vmaxq_f64(a.v, b.v)}; }
  friend vec min(vec a, vec b) { return {vminq_f64(a.v, b.v)}; }
};
#endif

// Asks for the cache line at p ahead of a read that the hardware prefetchers would not foresee
// (short runs far apart); nothing where the compiler offers no hint.
inline void prefetch(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p);
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
  _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0);
#else
  (void)p;
#endif
}

// dst[j * ds + i] = src[i * ss + j] for i, j < vec<T, ISA>::width: a square block turned
// over in registers, for kernels that must regroup strided rows into lanes (loads and stores
// of whole vectors instead of one scalar load and store per element).
template <class T, class ISA>
inline void transpose_block(const T* src, index_t ss, T* dst, index_t ds) {
  constexpr int W = vec<T, ISA>::width;
  for (int i = 0; i < W; ++i)
    for (int j = 0; j < W; ++j) dst[j * ds + i] = src[i * ss + j];
}

#if defined(CONVCORE_SIMD_AVX2)
template <>
inline void transpose_block<float, isa::avx2>(const float* src, index_t ss, float* dst,
                                              index_t ds) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ss);
  for (int i = 0; i < 8; i += 2) {  // pairs of rows interleaved: (0 1 0 1 | 4 5 4 5) ...
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4)  // four rows per 128-bit lane
    for (int h = 0; h < 2; ++h) {
      r[i + h] = _mm256_shuffle_ps(t[i + h], t[i + 2 + h], 0x44);
      r[i + 2 + h] = _mm256_shuffle_ps(t[i + h], t[i + 2 + h], 0xEE);
    }
  // r[0..3] hold columns 0 4, 2 6, 1 5, 3 7 of rows 0-3 (lane halves); r[4..7] of rows 4-7
  const int col[4] = {0, 2, 1, 3};
  for (int q = 0; q < 4; ++q) {
    _mm256_storeu_ps(dst + col[q] * ds, _mm256_permute2f128_ps(r[q], r[4 + q], 0x20));
    _mm256_storeu_ps(dst + (col[q] + 4) * ds, _mm256_permute2f128_ps(r[q], r[4 + q], 0x31));
  }
}
#endif

#if defined(CONVCORE_SIMD_AVX512)
template <>
inline void transpose_block<float, isa::avx512>(const float* src, index_t ss, float* dst,
                                                index_t ds) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ss);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4)
    for (int h = 0; h < 2; ++h) {
      r[i + h] = _mm512_shuffle_ps(t[i + h], t[i + 2 + h], 0x44);
      r[i + 2 + h] = _mm512_shuffle_ps(t[i + h], t[i + 2 + h], 0xEE);
    }
  // Within each 128-bit lane L (columns 4L..4L+3), r[4b + q] holds column 4L + col[q] of rows
  // 4b..4b+3. Two 128-bit lane shuffles gather the four row blocks of each column.
  for (int q = 0; q < 4; ++q) {
    const __m512 a0 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88);  // lanes 0 2 of rows 0-7
    const __m512 a1 = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xDD);  // lanes 1 3
    const __m512 b0 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88);
    const __m512 b1 = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xDD);
    t[q] = _mm512_shuffle_f32x4(a0, b0, 0x88);       // lane 0
    t[4 + q] = _mm512_shuffle_f32x4(a1, b1, 0x88);   // lane 1
    t[8 + q] = _mm512_shuffle_f32x4(a0, b0, 0xDD);   // lane 2
    t[12 + q] = _mm512_shuffle_f32x4(a1, b1, 0xDD);  // lane 3
  }
  const int col[4] = {0, 2, 1, 3};
  for (int L = 0; L < 4; ++L)
    for (int q = 0; q < 4; ++q) _mm512_storeu_ps(dst + (4 * L + col[q]) * ds, t[4 * L + q]);
}
#endif

// d[j][i] = s[i][j] for i, j < 4, rows given by pointer: regroups four 4-value runs that lie
// anywhere (a tile row of four Winograd tiles, one tile of four channels) into four runs of
// lanes. Four vector loads, eight shuffles and four stores instead of 16 scalar loads and
// stores; plain C++ where the platform has no 4-lane (float) or 2-lane (double) vectors.
template <class T, class ISA>
inline void transpose4(const T* const s[4], T* const d[4]) {
#if defined(CONVCORE_SIMD_SSE2)
  if constexpr (std::is_same<T, float>::value) {
    __m128 r0 = _mm_loadu_ps(s[0]), r1 = _mm_loadu_ps(s[1]), r2 = _mm_loadu_ps(s[2]),
           r3 = _mm_loadu_ps(s[3]);
    const __m128 t0 = _mm_unpacklo_ps(r0, r1), t1 = _mm_unpackhi_ps(r0, r1);
    const __m128 t2 = _mm_unpacklo_ps(r2, r3), t3 = _mm_unpackhi_ps(r2, r3);
    _mm_storeu_ps(d[0], _mm_movelh_ps(t0, t2));
    _mm_storeu_ps(d[1], _mm_movehl_ps(t2, t0));
    _mm_storeu_ps(d[2], _mm_movelh_ps(t1, t3));
    _mm_storeu_ps(d[3], _mm_movehl_ps(t3, t1));
    return;
  } else if constexpr (std::is_same<T, double>::value) {
    for (int h = 0; h < 4; h += 2)  // 2 x 2 blocks: rows i, i + 1 by columns h, h + 1
      for (int i = 0; i < 4; i += 2) {
        const __m128d a = _mm_loadu_pd(s[i] + h), b = _mm_loadu_pd(s[i + 1] + h);
        _mm_storeu_pd(d[h] + i, _mm_unpacklo_pd(a, b));
        _mm_storeu_pd(d[h + 1] + i, _mm_unpackhi_pd(a, b));
      }
    return;
  }
#endif
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) d[j][i] = s[i][j];
}

// Levels this translation unit can instantiate kernels for (bit mask over IsaLevel).
constexpr unsigned compiled_isa_mask() {
  return (1u << static_cast<int>(IsaLevel::scalar))
#if defined(CONVCORE_SIMD_AVX2)
         | (1u << static_cast<int>(IsaLevel::avx2))
#endif
#if defined(CONVCORE_SIMD_AVX512)
         | (1u << static_cast<int>(IsaLevel::avx512))
#endif
#if defined(CONVCORE_SIMD_NEON)
         | (1u << static_cast<int>(IsaLevel::neon))
#endif
      ;
}

}  // namespace convcore
