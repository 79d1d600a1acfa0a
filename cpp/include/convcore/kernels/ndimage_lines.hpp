// The arithmetic of convcore.ndimage (ops/ndimage.hpp): linear combinations of double rows,
// done in exactly the operation order of scipy.ndimage's C loops so that every result, integer
// casts included, is bit for bit SciPy's.
//
// SciPy computes each output in double, one multiply and one add per tap (its wheels are built
// without FMA), in a fixed order. Vectorising across outputs keeps each output's own sequence
// of operations, so the result is unchanged; contracting a multiply and an add into an FMA
// would not (it rounds once instead of twice: an integer image's truncated result then differs
// by one where the exact value is an integer, as in every flat region). Hence fp-contract off
// for this file, whatever the translation unit's flags.
//
// lincomb: y[x] = combination over taps of p[t][x], x < n, in one of three orders (SciPy's
// NI_Correlate1D symmetric / antisymmetric / general loops, and NI_Correlate's sum):
//   pairing  0: acc = p[0][x] * w[0]; acc += p[t][x] * w[t] for t = 1 .. ntaps-1
//   pairing +1: acc = p[0][x] * w[0]; acc += (p[2i+1][x] + p[2i+2][x]) * w[i+1]
//   pairing -1: as +1 with p[2i+1][x] - p[2i+2][x]
// accumulate / divide / running_step: NI_UniformFilter1D's running sum, one sum per column.
// load / store: the conversions between the arrays' types and double, at the level's width.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../core/simd.hpp"
#include "ndimage_lincomb.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off", "no-math-errno")
#endif

namespace convcore {
namespace kernels {

#if defined(__clang__)
#define CONVCORE_NO_CONTRACT _Pragma("clang fp contract(off)")
#else
#define CONVCORE_NO_CONTRACT
#endif

// SciPy's real element types (bool is read and written as its byte, as SciPy's npy_bool).
enum class Elem : int { b1, u8, i8, u16, i16, u32, i32, u64, i64, f32, f64 };

inline index_t elem_size(Elem t) {
  switch (t) {
    case Elem::b1: case Elem::u8: case Elem::i8: return 1;
    case Elem::u16: case Elem::i16: return 2;
    case Elem::u32: case Elem::i32: case Elem::f32: return 4;
    default: return 8;
  }
}

// x86-64's truncating conversions (cvttsd2si): out of range or NaN gives the "integer
// indefinite" value, the lowest of the type. Narrower integer types go through int32, uint32
// through int64; that is what SciPy's `(type)value` produces in its wheels, wrap-arounds
// included. uint64 has no such instruction and SciPy's two loops were compiled differently:
// values at or above 2^63 are shifted down by 2^63 (top bit set after) in both, and the N-d
// correlate's loop also shifts values below -2^63 up (measured against SciPy 1.17's wheels).
static inline std::int32_t cvt_i32(double v) {
  return (v > -2147483649.0 && v < 2147483648.0) ? static_cast<std::int32_t>(v) : INT32_MIN;
}
static inline std::int64_t cvt_i64(double v) {
  return (v >= -9223372036854775808.0 && v < 9223372036854775808.0) ? static_cast<std::int64_t>(v)
                                                                     : INT64_MIN;
}
constexpr double kTwo63 = 9223372036854775808.0;
constexpr std::uint64_t kTop = std::uint64_t(1) << 63;
static inline std::uint64_t cvt_u64_line(double v) {
  if (v >= kTwo63) return static_cast<std::uint64_t>(cvt_i64(v - kTwo63)) ^ kTop;
  return static_cast<std::uint64_t>(cvt_i64(v));
}
static inline std::uint64_t cvt_u64_point(double v) {
  if (v < -kTwo63) return static_cast<std::uint64_t>(cvt_i64(v + kTwo63)) ^ kTop;
  return cvt_u64_line(v);
}

// Doubles per vector: the level's native width. The kernel is bound by multiply and add
// throughput, which 512-bit vectors double on Xeons with two 512-bit FMA units (not measured
// separately from the other changes of the same commit; Zen 4 splits them, see filter2d.hpp).
template <class ISA>
struct ndimage_lanes {
  static constexpr int value = 4;
};
template <>
struct ndimage_lanes<isa::avx512> {
  static constexpr int value = 8;
};

#if (defined(__GNUC__) || defined(__clang__)) && !defined(CONVCORE_NO_VECTOR_EXTENSIONS) && \
    !defined(CONVCORE_SIMD_GENERIC)
// n lanes of float, int32 and double (the certified path's vectors; see ndimage_engine)
template <int N>
struct cert_vectors;
template <>
struct cert_vectors<2> {
  typedef float F __attribute__((vector_size(8)));
  typedef std::int32_t I __attribute__((vector_size(8)));
  typedef double D __attribute__((vector_size(16)));
};
template <>
struct cert_vectors<4> {
  typedef float F __attribute__((vector_size(16)));
  typedef std::int32_t I __attribute__((vector_size(16)));
  typedef double D __attribute__((vector_size(32)));
};
template <>
struct cert_vectors<8> {
  typedef float F __attribute__((vector_size(32)));
  typedef std::int32_t I __attribute__((vector_size(32)));
  typedef double D __attribute__((vector_size(64)));
};
template <>
struct cert_vectors<16> {
  typedef float F __attribute__((vector_size(64)));
  typedef std::int32_t I __attribute__((vector_size(64)));
};
#endif

template <class ISA>
struct ndimage_engine {
  // 8 accumulators: enough independent add chains to hide the add latency.
  static constexpr int kVec = ndimage_lanes<ISA>::value;
  static constexpr int kAcc = 8;
  static constexpr index_t C = kVec * kAcc;

  template <class T>
  static void load_as(const void* p, index_t n, double* dst) {
    const T* s = static_cast<const T*>(p);
    for (index_t i = 0; i < n; ++i) dst[i] = static_cast<double>(s[i]);
  }

  // n values of type t from p into dst, as doubles.
  static void load(Elem t, const void* p, index_t n, double* dst) {
    switch (t) {
      case Elem::b1: case Elem::u8: return load_as<std::uint8_t>(p, n, dst);
      case Elem::i8: return load_as<std::int8_t>(p, n, dst);
      case Elem::u16: return load_as<std::uint16_t>(p, n, dst);
      case Elem::i16: return load_as<std::int16_t>(p, n, dst);
      case Elem::u32: return load_as<std::uint32_t>(p, n, dst);
      case Elem::i32: return load_as<std::int32_t>(p, n, dst);
      case Elem::u64: return load_as<std::uint64_t>(p, n, dst);
      case Elem::i64: return load_as<std::int64_t>(p, n, dst);
      case Elem::f32: return load_as<float>(p, n, dst);
      case Elem::f64: std::memcpy(dst, p, static_cast<std::size_t>(n) * sizeof(double)); return;
    }
  }

  template <class T, class F>
  static void store_as(const double* s, index_t n, void* p, F cvt) {
    T* d = static_cast<T*>(p);
    for (index_t i = 0; i < n; ++i) d[i] = static_cast<T>(cvt(s[i]));
  }

  // n doubles from s into p as type t, with SciPy's casts (point: the N-d correlate's uint64).
  static void store(Elem t, const double* s, index_t n, void* p, bool point = false) {
    switch (t) {
      case Elem::b1: case Elem::u8: return store_as<std::uint8_t>(s, n, p, cvt_i32);
      case Elem::i8: return store_as<std::int8_t>(s, n, p, cvt_i32);
      case Elem::u16: return store_as<std::uint16_t>(s, n, p, cvt_i32);
      case Elem::i16: return store_as<std::int16_t>(s, n, p, cvt_i32);
      case Elem::u32: return store_as<std::uint32_t>(s, n, p, cvt_i64);
      case Elem::i32: return store_as<std::int32_t>(s, n, p, cvt_i32);
      case Elem::u64:
        return point ? store_as<std::uint64_t>(s, n, p, cvt_u64_point)
                     : store_as<std::uint64_t>(s, n, p, cvt_u64_line);
      case Elem::i64: return store_as<std::int64_t>(s, n, p, cvt_i64);
      case Elem::f32: return store_as<float>(s, n, p, [](double v) { return static_cast<float>(v); });
      case Elem::f64: std::memcpy(p, s, static_cast<std::size_t>(n) * sizeof(double)); return;
    }
  }

  // One output: the same operations as a lane of the vector chunk.
  static double one(const double* const* p, const double* w, index_t ntaps, int pairing,
                    index_t x) {
    CONVCORE_NO_CONTRACT
    double acc = p[0][x] * w[0];
    if (pairing == 0) {
      for (index_t t = 1; t < ntaps; ++t) acc += p[t][x] * w[t];
    } else if (pairing > 0) {
      for (index_t t = 1, i = 1; t + 1 < ntaps; t += 2, ++i) acc += (p[t][x] + p[t + 1][x]) * w[i];
    } else {
      for (index_t t = 1, i = 1; t + 1 < ntaps; t += 2, ++i) acc += (p[t][x] - p[t + 1][x]) * w[i];
    }
    return acc;
  }

#if (defined(__GNUC__) || defined(__clang__)) && !defined(CONVCORE_NO_VECTOR_EXTENSIONS) && \
    !defined(CONVCORE_SIMD_GENERIC)
  typedef double V __attribute__((vector_size(kVec * 8), aligned(8), may_alias));
  // Locals (accumulators, sums) in the naturally aligned type: V's reduced alignment is for
  // the unaligned loads and stores only. GCC's AddressSanitizer places locals of V at V's
  // alignment but spills them with aligned 512-bit moves, which fault (tests at avx512 under
  // .ci/sanitize).
  typedef double VR __attribute__((vector_size(kVec * 8)));
  // plain vector types for the certified path (memcpy for the unaligned accesses): GCC's
  // __builtin_convertvector takes neither aligned / may_alias variants nor vector_size
  // typedefs that depend on a template parameter
  using VF = typename cert_vectors<kVec>::F;
  using VI = typename cert_vectors<kVec>::I;
  using VD = typename cert_vectors<kVec>::D;
  // the certified path's decisions: float32 vectors as wide as the double ones in bytes
  using VF2 = typename cert_vectors<2 * kVec>::F;
  using VI2 = typename cert_vectors<2 * kVec>::I;

  // NA vectors of outputs from x: NA = kAcc in the body, 1 in the tail
  template <int Pairing, int NA = kAcc>
  static void chunk(const double* const* p, const double* w, index_t ntaps, index_t x,
                    double* y) {
    CONVCORE_NO_CONTRACT
    VR acc[NA];
    {
      const double* s = p[0] + x;
      for (int v = 0; v < NA; ++v) acc[v] = *reinterpret_cast<const V*>(s + v * kVec) * w[0];
    }
    if (Pairing == 0) {
      for (index_t t = 1; t < ntaps; ++t) {
        const double wt = w[t];
        const double* s = p[t] + x;
        for (int v = 0; v < NA; ++v) {
          VR prod = *reinterpret_cast<const V*>(s + v * kVec) * wt;
          acc[v] += prod;
        }
      }
    } else {
      for (index_t t = 1, i = 1; t + 1 < ntaps; t += 2, ++i) {
        const double wt = w[i];
        const double* a = p[t] + x;
        const double* b = p[t + 1] + x;
        for (int v = 0; v < NA; ++v) {
          VR l = *reinterpret_cast<const V*>(a + v * kVec);
          VR r = *reinterpret_cast<const V*>(b + v * kVec);
          VR s = Pairing > 0 ? l + r : l - r;
          acc[v] += s * wt;
        }
      }
    }
    for (int v = 0; v < NA; ++v) *reinterpret_cast<V*>(y + x + v * kVec) = acc[v];
  }
#else
  template <int Pairing, int NA = kAcc>
  static void chunk(const double* const* p, const double* w, index_t ntaps, index_t x,
                    double* y) {
    for (index_t i = 0; i < NA * kVec; ++i) y[x + i] = one(p, w, ntaps, Pairing, x + i);
  }
#endif

  // y[x] = combination over taps of p[t][x], x < n, in the pairing's order (the line driver:
  // ndimage_lincomb.hpp)
  static void lincomb(const double* const* p, const double* w, index_t ntaps, int pairing,
                      index_t n, double* y) {
    lincomb_lines<ndimage_engine>(p, w, ntaps, pairing, n, y);
  }

  // NI_UniformFilter1D's running sum, one independent sum per column c < width:
  // acc = 0 + row_0 + ... + row_{size-1} (accumulate, in order), y_0 = acc / size (divide),
  // then per output acc += add - sub, y = acc / size (running_step).
  // The same over `nout` outputs at once: rows (nout + size - 1 of them, `width` used columns)
  // at rows + r * ld, outputs at y + o * ld; acc: width doubles.
  static void running_mean(const double* rows, index_t ld, index_t width, index_t size,
                           index_t nout, double* acc, double* y) {
    const double sz = static_cast<double>(size);
    for (index_t c = 0; c < width; ++c) acc[c] = 0.0;
    for (index_t r = 0; r < size; ++r) accumulate(acc, rows + r * ld, width);
    divide(acc, width, sz, y);
    for (index_t o = 1; o < nout; ++o)
      running_step(acc, rows + (o + size - 1) * ld, rows + (o - 1) * ld, width, sz, y + o * ld);
  }
  // running_mean over 8 lines side by side (row r at ext + 8 r, outputs at y + 8 o): the
  // last-axis layout, with the 8 sums held in registers.
  static void running_mean8(const double* ext, index_t size, index_t nout, double* y) {
    CONVCORE_NO_CONTRACT
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const double sz = static_cast<double>(size);
    for (index_t r = 0; r < size; ++r)
      for (int c = 0; c < 8; ++c) acc[c] += ext[8 * r + c];
    for (int c = 0; c < 8; ++c) y[c] = acc[c] / sz;
    for (index_t o = 1; o < nout; ++o) {
      const double* add = ext + 8 * (o + size - 1);
      const double* sub = ext + 8 * (o - 1);
      for (int c = 0; c < 8; ++c) {
        acc[c] += add[c] - sub[c];
        y[8 * o + c] = acc[c] / sz;
      }
    }
  }
  // n values of type t (bool, 8- or 16-bit integers, float32) from p into dst as floats (the
  // certified path's rows: exact).
  static void load_f32(Elem t, const void* p, index_t n, float* dst) {
    switch (t) {
      case Elem::b1: case Elem::u8: return load_float<std::uint8_t>(p, n, dst);
      case Elem::i8: return load_float<std::int8_t>(p, n, dst);
      case Elem::u16: return load_float<std::uint16_t>(p, n, dst);
      case Elem::i16: return load_float<std::int16_t>(p, n, dst);
      case Elem::f32: std::memcpy(dst, p, static_cast<std::size_t>(n) * sizeof(float)); return;
      default: return;  // not taken: the op checks the input type
    }
  }
  template <class T>
  static void load_float(const void* p, index_t n, float* dst) {
    const T* s = static_cast<const T*>(p);
    for (index_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
  }

  // The certified path (8-bit images, integer outputs, non-integer weights: ops/ndimage.hpp):
  // f holds the n results computed in float32 from the float rows p (the input values,
  // exact) with the float weights, within e of SciPy's double result D. Where no integer
  // lies within [f - e, f + e], D truncates as f does: y = trunc(f). Elsewhere (a flat
  // region's exact integer, say) D itself decides: those outputs are recomputed kVec at a
  // time in double, SciPy's order, from the same rows (w: the double weights), and
  // truncated. y: the exact int32 results (SciPy's cast of D before the narrowing). Returns
  // how many outputs were recomputed.
  //
  // The test: k = nearest integer to f (f + 1.5 * 2^23 - 1.5 * 2^23, exact for |f| < 2^22,
  // which the op's bound on the sums ensures), then |f - k| > e (f - k exact). Groups of
  // four vectors are tested together; only a group with a failure is looked at vector by
  // vector.
  static index_t certify(const float* f, const float* const* p, const double* w, index_t ntaps,
                         int pairing, index_t n, float e, std::int32_t* y) {
    CONVCORE_NO_CONTRACT
    index_t x = 0, redone = 0;
    constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
#if (defined(__GNUC__) || defined(__clang__)) && !defined(CONVCORE_NO_VECTOR_EXTENSIONS) && \
    !defined(CONVCORE_SIMD_GENERIC)
    constexpr int kF = 2 * kVec;  // floats per vector
    auto redo = [&](index_t at) {
      redone += kF;
      for (index_t h = at; h < at + kF; h += kVec) {
        if (pairing == 0)
          exact_f32<0>(p, w, ntaps, h, y);
        else if (pairing > 0)
          exact_f32<1>(p, w, ntaps, h, y);
        else
          exact_f32<-1>(p, w, ntaps, h, y);
      }
    };
    for (; x + 4 * kF <= n; x += 4 * kF) {
      VI2 bad[4];
      for (int j = 0; j < 4; ++j) {
        VF2 v;
        std::memcpy(&v, f + x + j * kF, sizeof(v));
        const VF2 k = (v + kMagic) - kMagic;
        const VF2 r = v - k;
        bad[j] = (r <= e) & (r >= -e);
        const VI2 t = __builtin_convertvector(v, VI2);
        std::memcpy(y + x + j * kF, &t, sizeof(t));
      }
      const VI2 any = bad[0] | bad[1] | bad[2] | bad[3];
      std::uint64_t m[kF / 2];
      std::memcpy(m, &any, sizeof(m));
      std::uint64_t a = 0;
      for (int i = 0; i < kF / 2; ++i) a |= m[i];
      if (a == 0) continue;
      for (int j = 0; j < 4; ++j) {
        std::memcpy(m, &bad[j], sizeof(m));
        a = 0;
        for (int i = 0; i < kF / 2; ++i) a |= m[i];
        if (a != 0) redo(x + j * kF);
      }
    }
#endif
    for (; x < n; ++x) {
      const float v = f[x], k = (v + kMagic) - kMagic, r = v - k;
      if (!(r <= e && r >= -e)) {
        y[x] = static_cast<std::int32_t>(v);
        continue;
      }
      ++redone;
      double acc = static_cast<double>(p[0][x]) * w[0];
      if (pairing == 0) {
        for (index_t t = 1; t < ntaps; ++t) acc += static_cast<double>(p[t][x]) * w[t];
      } else {
        for (index_t t = 1, i = 1; t + 1 < ntaps; t += 2, ++i) {
          const double a = p[t][x], b = p[t + 1][x];
          acc += (pairing > 0 ? a + b : a - b) * w[i];
        }
      }
      y[x] = cvt_i32(acc);
    }
    return redone;
  }

#if (defined(__GNUC__) || defined(__clang__)) && !defined(CONVCORE_NO_VECTOR_EXTENSIONS) && \
    !defined(CONVCORE_SIMD_GENERIC)
  // kVec outputs from x in double, SciPy's order (lincomb's operations), from float rows
  // (exact values): truncated into y
  template <int Pairing>
  static void exact_f32(const float* const* p, const double* w, index_t ntaps, index_t x,
                        std::int32_t* y) {
    CONVCORE_NO_CONTRACT
    VF f;
    std::memcpy(&f, p[0] + x, sizeof(f));
    VD acc = __builtin_convertvector(f, VD) * w[0];
    if (Pairing == 0) {
      for (index_t t = 1; t < ntaps; ++t) {
        std::memcpy(&f, p[t] + x, sizeof(f));
        acc += __builtin_convertvector(f, VD) * w[t];
      }
    } else {
      for (index_t t = 1, i = 1; t + 1 < ntaps; t += 2, ++i) {
        VF g;
        std::memcpy(&f, p[t] + x, sizeof(f));
        std::memcpy(&g, p[t + 1] + x, sizeof(g));
        const VD a = __builtin_convertvector(f, VD), b = __builtin_convertvector(g, VD);
        acc += (Pairing > 0 ? a + b : a - b) * w[i];
      }
    }
    for (int i = 0; i < kVec; ++i) y[x + i] = cvt_i32(acc[i]);
  }
#endif

  // NumPy's in-place steps of generic_gradient_magnitude and generic_laplace in the output's
  // type t (u8, u16: wrapping around; f32, f64: IEEE, no contraction), on n values of o and
  // x: op 0: o += x; 1: o = o * o + x * x; 2: o += x * x; 3: o = o * o; 4: none (x unused
  // by 3 and 4). Then, with lut, o = sqrt(o): for floats the correctly rounded root (lut
  // only says to take it), for u8 / u16 lut[o], the table of NumPy's own square root of each
  // value cast back (NumPy takes it in float16 / float32, then casts).
  template <class T, class W>
  static void combine_as(T* o, const T* x, index_t n, int op, const T* lut) {
    CONVCORE_NO_CONTRACT
    for (index_t i = 0; i < n; ++i) {
      const W a = static_cast<W>(o[i]);
      W r = a;
      if (op == 0) r = static_cast<W>(a + static_cast<W>(x[i]));
      else if (op == 1) r = static_cast<W>(static_cast<W>(a * a) + static_cast<W>(static_cast<W>(x[i]) * static_cast<W>(x[i])));
      else if (op == 2) r = static_cast<W>(a + static_cast<W>(static_cast<W>(x[i]) * static_cast<W>(x[i])));
      else if (op == 3) r = static_cast<W>(a * a);
      o[i] = static_cast<T>(r);
    }
    if (!lut) return;
    if constexpr (std::is_floating_point<T>::value) {
      for (index_t i = 0; i < n; ++i) o[i] = std::sqrt(o[i]);
    } else {
      for (index_t i = 0; i < n; ++i) o[i] = lut[o[i]];
    }
  }
  static void combine(Elem t, void* o, const void* x, index_t n, int op, const void* lut) {
    switch (t) {
      case Elem::u8:
        return combine_as<std::uint8_t, std::uint32_t>(static_cast<std::uint8_t*>(o), static_cast<const std::uint8_t*>(x), n, op,
                                                       static_cast<const std::uint8_t*>(lut));
      case Elem::u16:
        return combine_as<std::uint16_t, std::uint32_t>(static_cast<std::uint16_t*>(o), static_cast<const std::uint16_t*>(x), n, op,
                                                        static_cast<const std::uint16_t*>(lut));
      case Elem::f32:
        return combine_as<float, float>(static_cast<float*>(o), static_cast<const float*>(x), n, op,
                                        static_cast<const float*>(lut));
      case Elem::f64:
        return combine_as<double, double>(static_cast<double*>(o), static_cast<const double*>(x), n, op,
                                          static_cast<const double*>(lut));
      default: return;  // not taken: the op checks the type
    }
  }

  static void accumulate(double* acc, const double* row, index_t width) {
    for (index_t c = 0; c < width; ++c) acc[c] += row[c];
  }
  static void divide(const double* acc, index_t width, double size, double* y) {
    for (index_t c = 0; c < width; ++c) y[c] = acc[c] / size;
  }
  static void running_step(double* acc, const double* add, const double* sub, index_t width,
                           double size, double* y) {
    for (index_t c = 0; c < width; ++c) {
      acc[c] += add[c] - sub[c];
      y[c] = acc[c] / size;
    }
  }
};

#undef CONVCORE_NO_CONTRACT

}  // namespace kernels
}  // namespace convcore

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
