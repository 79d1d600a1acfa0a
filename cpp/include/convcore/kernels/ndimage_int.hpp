// convcore.ndimage's exact integer arithmetic: a small-integer image (bool, 8- or 16-bit)
// filtered with integer weights. SciPy computes such a filter in double, but every product
// and partial sum is then an integer of magnitude below 2^31 (the op checks the bound from
// the type's range and sum|weights| before choosing this path), so each double operation is
// exact, the order of operations does not matter, and SciPy's result is the exact integer
// sum, which int32 lanes compute exactly: twice the lanes of the double kernels and no
// conversions to double. Sobel, Prewitt, Laplace, integer correlations and uniform_filter
// (a window sum divided in double by the size, as SciPy divides its exact running sum) take it.
//
// lincomb_i32: y[x] = combination over taps of p[t][x] in the layout of ndimage_engine::lincomb
// (pairing 0: one weight per tap; +1 / -1: the centre, then pairs sharing a weight, added /
// subtracted). Weights of 1 and -1 add or subtract without a multiply (uniform_filter's).
// load_i32 / store_i32: the conversions, store_i32 with SciPy's casts of the (exact) double
// value and the optional division.
#pragma once
#include <cstdint>
#include <cstring>

#include "../core/simd.hpp"
#include "ndimage_lincomb.hpp"
#include "ndimage_lines.hpp"

namespace convcore {
namespace kernels {

template <class ISA>
struct ndimage_int_engine {
  static constexpr int kVec = ndimage_lanes<ISA>::value * 2;  // int32 lanes: 16 / 8 / 4
  static constexpr int kAcc = 4;
  static constexpr index_t C = kVec * kAcc;

  template <class T>
  static void load_as(const void* p, index_t n, std::int32_t* dst) {
    const T* s = static_cast<const T*>(p);
    for (index_t i = 0; i < n; ++i) dst[i] = static_cast<std::int32_t>(s[i]);
  }

  // n values of the small integer type t (bool, 8- or 16-bit) from p into dst.
  static void load(Elem t, const void* p, index_t n, std::int32_t* dst) {
    switch (t) {
      case Elem::b1: case Elem::u8: return load_as<std::uint8_t>(p, n, dst);
      case Elem::i8: return load_as<std::int8_t>(p, n, dst);
      case Elem::u16: return load_as<std::uint16_t>(p, n, dst);
      case Elem::i16: return load_as<std::int16_t>(p, n, dst);
      default: return;  // not taken: the op checks the input type
    }
  }

  template <class T>
  static void store_as(const std::int32_t* s, index_t n, void* p) {
    T* d = static_cast<T*>(p);
    for (index_t i = 0; i < n; ++i) d[i] = static_cast<T>(s[i]);
  }

  // n exact values (each SciPy's double result, an integer in int32 range) from s into p as
  // type t with SciPy's casts: integer types take the value modulo their width (the cast
  // through int32 / int64 of an in-range value), floating types the value rounded once.
  // div > 1: SciPy's uniform filter, the value is trunc(double(s) / div) (the double quotient
  // of an exact sum, truncated as SciPy's cast truncates; for float outputs rounded from the
  // double quotient).
  static void store(Elem t, const std::int32_t* s, index_t n, void* p, std::int32_t div) {
    if (div > 1) {
      const double dv = static_cast<double>(div);
      if (t == Elem::f32 || t == Elem::f64) {
        for (index_t i = 0; i < n; ++i) {
          const double q = static_cast<double>(s[i]) / dv;
          if (t == Elem::f32)
            static_cast<float*>(p)[i] = static_cast<float>(q);
          else
            static_cast<double*>(p)[i] = q;
        }
        return;
      }
      std::int32_t q[512];
      const index_t es = elem_size(t);
      for (index_t i0 = 0; i0 < n; i0 += 512) {
        const index_t m = n - i0 < 512 ? n - i0 : 512;
        for (index_t i = 0; i < m; ++i)
          q[i] = static_cast<std::int32_t>(static_cast<double>(s[i0 + i]) / dv);
        store(t, q, m, static_cast<char*>(p) + i0 * es, 1);
      }
      return;
    }
    switch (t) {
      case Elem::b1: case Elem::u8: return store_as<std::uint8_t>(s, n, p);
      case Elem::i8: return store_as<std::int8_t>(s, n, p);
      case Elem::u16: return store_as<std::uint16_t>(s, n, p);
      case Elem::i16: return store_as<std::int16_t>(s, n, p);
      case Elem::u32: return store_as<std::uint32_t>(s, n, p);
      case Elem::i32: std::memcpy(p, s, static_cast<std::size_t>(n) * sizeof(std::int32_t)); return;
      case Elem::u64: return store_as<std::uint64_t>(s, n, p);
      case Elem::i64: return store_as<std::int64_t>(s, n, p);
      case Elem::f32: return store_as<float>(s, n, p);
      case Elem::f64: return store_as<double>(s, n, p);
    }
  }

  static std::int32_t one(const std::int32_t* const* p, const std::int32_t* w, index_t ntaps,
                          int pairing, index_t x) {
    // unsigned arithmetic: the exact sums never overflow (checked bound), and wrapping is
    // defined if a caller ever breaks that
    std::uint32_t acc = static_cast<std::uint32_t>(p[0][x]) * static_cast<std::uint32_t>(w[0]);
    if (pairing == 0) {
      for (index_t t = 1; t < ntaps; ++t)
        acc += static_cast<std::uint32_t>(p[t][x]) * static_cast<std::uint32_t>(w[t]);
    } else {
      for (index_t t = 1, i = 1; t + 1 < ntaps; t += 2, ++i) {
        const std::uint32_t s = pairing > 0 ? static_cast<std::uint32_t>(p[t][x]) + static_cast<std::uint32_t>(p[t + 1][x])
                                            : static_cast<std::uint32_t>(p[t][x]) - static_cast<std::uint32_t>(p[t + 1][x]);
        acc += s * static_cast<std::uint32_t>(w[i]);
      }
    }
    return static_cast<std::int32_t>(acc);
  }

#if (defined(__GNUC__) || defined(__clang__)) && !defined(CONVCORE_NO_VECTOR_EXTENSIONS) && \
    !defined(CONVCORE_SIMD_GENERIC)
  typedef std::uint32_t V __attribute__((vector_size(kVec * 4), aligned(4), may_alias));
  // Locals (accumulators, sums) in the naturally aligned type: V's reduced alignment is for
  // the unaligned loads and stores only. GCC's AddressSanitizer places locals of V at V's
  // alignment but spills them with aligned 512-bit moves, which fault (tests at avx512 under
  // .ci/sanitize).
  typedef std::uint32_t VR __attribute__((vector_size(kVec * 4)));

  // NA vectors of outputs from x
  template <int Pairing, int NA = kAcc>
  static void chunk(const std::int32_t* const* p, const std::int32_t* w, index_t ntaps,
                    index_t x, std::int32_t* y) {
    VR acc[NA];
    const std::uint32_t w0 = static_cast<std::uint32_t>(w[0]);
    for (int v = 0; v < NA; ++v) acc[v] = *reinterpret_cast<const V*>(p[0] + x + v * kVec) * w0;
    if (Pairing == 0) {
      for (index_t t = 1; t < ntaps; ++t) {
        const std::int32_t wt = w[t];
        const std::int32_t* s = p[t] + x;
        if (wt == 1)
          for (int v = 0; v < NA; ++v) acc[v] += *reinterpret_cast<const V*>(s + v * kVec);
        else if (wt == -1)
          for (int v = 0; v < NA; ++v) acc[v] -= *reinterpret_cast<const V*>(s + v * kVec);
        else if (wt != 0)
          for (int v = 0; v < NA; ++v)
            acc[v] += *reinterpret_cast<const V*>(s + v * kVec) * static_cast<std::uint32_t>(wt);
      }
    } else {
      for (index_t t = 1, i = 1; t + 1 < ntaps; t += 2, ++i) {
        const std::int32_t wt = w[i];
        if (wt == 0) continue;
        const std::int32_t* a = p[t] + x;
        const std::int32_t* b = p[t + 1] + x;
        for (int v = 0; v < NA; ++v) {
          const VR l = *reinterpret_cast<const V*>(a + v * kVec);
          const VR r = *reinterpret_cast<const V*>(b + v * kVec);
          const VR s = Pairing > 0 ? l + r : l - r;
          if (wt == 1)
            acc[v] += s;
          else if (wt == -1)
            acc[v] -= s;
          else
            acc[v] += s * static_cast<std::uint32_t>(wt);
        }
      }
    }
    for (int v = 0; v < NA; ++v) *reinterpret_cast<V*>(y + x + v * kVec) = acc[v];
  }
#else
  template <int Pairing, int NA = kAcc>
  static void chunk(const std::int32_t* const* p, const std::int32_t* w, index_t ntaps,
                    index_t x, std::int32_t* y) {
    for (index_t i = 0; i < NA * kVec; ++i) y[x + i] = one(p, w, ntaps, Pairing, x + i);
  }
#endif

  // y[x] = combination over taps of p[t][x], x < n, in the pairing's order (the line driver:
  // ndimage_lincomb.hpp)
  static void lincomb(const std::int32_t* const* p, const std::int32_t* w, index_t ntaps,
                      int pairing, index_t n, std::int32_t* y) {
    lincomb_lines<ndimage_int_engine>(p, w, ntaps, pairing, n, y);
  }
};

}  // namespace kernels
}  // namespace convcore
