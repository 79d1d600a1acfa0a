// scipy.ndimage's linear filters, bit for bit: correlate1d (NI_Correlate1D), uniform_filter1d
// (NI_UniformFilter1D) and the N-d correlate (NI_Correlate), on C-contiguous arrays of any of
// SciPy's real dtypes in and out.
//
// As in SciPy, every value is read as a double, combined in double in SciPy's order (the
// kernels of kernels/ndimage_lines.hpp) and written with SciPy's C cast to the output type
// (what x86-64 does for SciPy's `(type)double`). Unlike SciPy, the work is vectorised across
// outputs and threaded, and nothing pads the whole image: each work item
// reads the rows it needs into a small double buffer, extended by the boundary rule there.
//
// Geometry: an axis pass views the array as (outer, n, inner), n the filtered axis. With
// inner == 1 (the last axis) an item converts a segment of one line; otherwise a band of rows
// of a column strip, and the taps are whole rows (the combination runs along the columns).
// Output position x reads extended input x + t - lo for tap t, lo = K / 2 + origin.
#pragma once
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "../core/checked.hpp"
#include "../core/errors.hpp"
#include "../core/padding.hpp"
#include "../core/parallel.hpp"
#include "conv.hpp"
#include "engine.hpp"

namespace convcore {
namespace ndimage {

using kernels::Elem;
using kernels::elem_size;

// n values of type t from p into dst as doubles, and back with SciPy's casts (point: the N-d
// correlate's uint64 rule): the level's vector code (kernels/ndimage_lines.hpp).
inline void load(Elem t, const void* p, index_t n, double* dst) {
  active_kernels().nd.load(t, p, n, dst);
}
inline void store(Elem t, const double* s, index_t n, void* p, bool point = false, index_t = 1) {
  active_kernels().nd.store(t, s, n, p, point);
}
// The float32 path (float32 in and out, computed in float32: ndimage_f32.hpp): no conversion.
inline void load(Elem t, const void* p, index_t n, float* dst) {
  if (t == Elem::f32)
    std::memcpy(dst, p, static_cast<std::size_t>(n) * sizeof(float));
  else  // the certified path's small integers, exact in float
    active_kernels().nd.load_f32(t, p, n, dst);
}
inline void store(Elem, const float* s, index_t n, void* p, bool = false, index_t = 1) {
  std::memcpy(p, s, static_cast<std::size_t>(n) * sizeof(float));
}
// The exact integer path (small-integer input, integer weights: ndimage_int.hpp): int32 sums,
// stored with SciPy's casts; div: the uniform filter's divisor (1: none).
inline void load(Elem t, const void* p, index_t n, std::int32_t* dst) {
  active_kernels().nd.load_i32(t, p, n, dst);
}
inline void store(Elem t, const std::int32_t* s, index_t n, void* p, bool = false, index_t div = 1) {
  active_kernels().nd.store_i32(t, s, n, p, static_cast<std::int32_t>(div));
}
using LincombF64 = void (*)(const double* const*, const double*, index_t, int, index_t, double*);
using LincombF32 = void (*)(const float* const*, const float*, index_t, int, index_t, float*);
inline LincombF64 lincomb_for(double*) { return active_kernels().nd.lincomb; }
inline LincombF32 lincomb_for(float*) { return active_kernels().nd.lincomb_f32; }
using LincombI32 = void (*)(const std::int32_t* const*, const std::int32_t*, index_t, int, index_t,
                            std::int32_t*);
inline LincombI32 lincomb_for(std::int32_t*) { return active_kernels().nd.lincomb_i32; }

// float32 in, float32 out: computed in float32 (SciPy's results up to rounding); every other
// pair of types in double, SciPy's results to the bit.
inline bool float32_path(Elem tin, Elem tout) { return tin == Elem::f32 && tout == Elem::f32; }

// SciPy's filter modes: the coordinate rule (padding.hpp) and, for "constant", the value.
struct Boundary {
  PadMode mode = PadMode::symmetric;
  double cval = 0.0;
};

inline Boundary parse_mode(const std::string& s, double cval) {
  Boundary b;
  b.cval = cval;
  if (s == "reflect" || s == "grid-mirror") b.mode = PadMode::symmetric;   // d c b a | a b c d
  else if (s == "mirror") b.mode = PadMode::reflect;                        // d c b | a b c d
  else if (s == "nearest") b.mode = PadMode::replicate;
  else if (s == "wrap" || s == "grid-wrap") b.mode = PadMode::circular;
  else if (s == "constant" || s == "grid-constant") b.mode = PadMode::zeros;
  else
    fail_value("mode must be 'reflect', 'constant', 'nearest', 'mirror', 'wrap', "
               "'grid-constant', 'grid-mirror' or 'grid-wrap', got '", s, "'");
  return b;
}

// The exact integer path: a bool, 8- or 16-bit integer input, integer weights (the n at w,
// every one counted) and, for mode "constant", an integer cval, with every partial sum of
// the filter bounded by max|value| * sum|weights| < 2^31. Then each of SciPy's double
// operations is exact and its result the exact integer sum (kernels/ndimage_int.hpp).
inline bool int_path(Elem tin, const double* w, index_t n, const Boundary& b) {
  double m;
  switch (tin) {
    case Elem::b1: case Elem::u8: m = 255.0; break;  // bool: any byte value SciPy reads
    case Elem::i8: m = 128.0; break;
    case Elem::u16: m = 65535.0; break;
    case Elem::i16: m = 32768.0; break;
    default: return false;
  }
  if (b.mode == PadMode::zeros) {
    if (!(b.cval == std::floor(b.cval) && std::fabs(b.cval) <= 2147483647.0)) return false;
    m = std::max(m, std::fabs(b.cval));
  }
  double sw = 0.0;
  for (index_t k = 0; k < n; ++k) {
    if (!(w[k] == std::floor(w[k]))) return false;  // NaN and infinities fail too
    sw += std::fabs(w[k]);
  }
  return m * sw <= 2147483647.0;
}

// The certified float32 path (correlate1d_cert): a bool or 8-bit input into an integer
// output with weights not all integers (else int_path), sums bounded by 2^20 and, for mode
// "constant", a cval exact in float32. Returns the error bound e of the float32 result (0:
// not taken).
inline float cert_path(Elem tin, Elem tout, const double* w, index_t K, index_t ntaps,
                       const Boundary& b) {
  double m;
  switch (tin) {
    case Elem::b1: case Elem::u8: m = 255.0; break;
    case Elem::i8: m = 128.0; break;
    default: return 0.0f;
  }
  if (tout == Elem::f32 || tout == Elem::f64) return 0.0f;
  if (b.mode == PadMode::zeros) {
    if (!(std::fabs(b.cval) <= 1048576.0) || static_cast<double>(static_cast<float>(b.cval)) != b.cval)
      return 0.0f;
    m = std::max(m, std::fabs(b.cval));
  }
  double sw = 0.0;
  for (index_t k = 0; k < K; ++k) sw += std::fabs(w[k]);
  if (!(m * sw <= 1048576.0)) return 0.0f;  // NaN and infinite weights fail too
  // |float32 result - SciPy's double| <= (rounding steps + weights' rounding) * 2^-24 * bound:
  // at most 2 roundings per tap (a multiply and an add where there is no FMA), 1 for the
  // weights, and a margin for rounding f -+ e itself and for SciPy's own double roundings
  const double e = static_cast<double>(2 * ntaps + 8) * std::ldexp(m * sw, -24);
  if (!(e < 0.25)) return 0.0f;  // the test needs e well below 1/2 (and is useless near it)
  return static_cast<float>(e) > 0.0f ? static_cast<float>(e) : std::ldexp(1.0f, -126);
}

// Input index of extended coordinate i in [0, n), or -1 where the constant is read.
inline index_t source(index_t i, index_t n, const Boundary& b) { return pad_source_index(i, n, b.mode); }

// dst[j] = extended line value at coordinate i0 + j, j < len, of the line at `line` (n values
// of type t, contiguous).
template <class A>
void load_extended(Elem t, const char* line, index_t n, index_t i0, index_t len,
                   const Boundary& b, A* dst) {
  const index_t es = elem_size(t);
  const index_t a = std::max<index_t>(i0, 0), e = std::min<index_t>(i0 + len, n);
  if (e > a) load(t, line + a * es, e - a, dst + (a - i0));
  for (index_t j = 0; j < len; ++j) {
    const index_t i = i0 + j;
    if (i >= a && i < e) {
      j = e - i0 - 1;  // skip the part loaded above
      continue;
    }
    const index_t s = source(i, n, b);
    if (s < 0)
      dst[j] = static_cast<A>(b.cval);
    else
      load(t, line + s * es, 1, dst + j);
  }
}

struct AxisView {
  index_t outer = 1, n = 1, inner = 1;
};

inline AxisView axis_view(const Shape& shape, int axis) {
  AxisView v;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    if (d < axis) v.outer *= shape[d];
    else if (d == axis) v.n = shape[d];
    else v.inner *= shape[d];
  }
  return v;
}

// The taps of a 1-D correlation in the order NI_Correlate1D adds them (see lincomb in
// ndimage_lines.hpp): tap indices and weights, and the pairing.
struct TapOrder {
  std::vector<index_t> tap;
  std::vector<double> w;
  int pairing = 0;
};

inline TapOrder correlate1d_order(const double* w, index_t K) {
  TapOrder o;
  const index_t s1 = K / 2;
  if (K & 1) {
    // SciPy's test, tolerance included: symmetric, else antisymmetric, else general.
    o.pairing = 1;
    for (index_t i = 1; i <= s1; ++i)
      if (std::fabs(w[s1 + i] - w[s1 - i]) > DBL_EPSILON) { o.pairing = 0; break; }
    if (o.pairing == 0) {
      o.pairing = -1;
      for (index_t i = 1; i <= s1; ++i)
        if (std::fabs(w[s1 + i] + w[s1 - i]) > DBL_EPSILON) { o.pairing = 0; break; }
    }
  }
  if (o.pairing != 0) {
    o.tap.push_back(s1);
    o.w.push_back(w[s1]);
    for (index_t i = 0; i < s1; ++i) {
      o.tap.push_back(i);
      o.tap.push_back(K - 1 - i);
      o.w.push_back(w[i]);
    }
  } else {
    o.tap.push_back(K - 1);
    o.w.push_back(w[K - 1]);
    for (index_t t = 0; t + 1 < K; ++t) {
      o.tap.push_back(t);
      o.w.push_back(w[t]);
    }
  }
  return o;
}

// Work items of a correlate1d pass: line segments (inner == 1) or row bands x column strips.
struct PassPlan {
  AxisView v;
  index_t K = 1, lo = 0;
  index_t seg = 0, nseg = 1;                     // inner == 1
  index_t band = 0, nband = 1, S = 0, nstrip = 1;  // inner > 1
  index_t items() const { return v.inner == 1 ? v.outer * nseg : v.outer * nband * nstrip; }
};

// whole_lines: an item reads its whole line before writing it (in place along the last axis).
inline PassPlan plan_pass(const AxisView& v, index_t K, index_t lo, bool whole_lines) {
  PassPlan p;
  p.v = v;
  p.K = K;
  p.lo = lo;
  if (v.inner == 1) {
    p.seg = whole_lines ? v.n : std::min<index_t>(v.n, 8192);
    p.nseg = (v.n + p.seg - 1) / p.seg;
  } else {
    p.S = std::min<index_t>(v.inner, 256);
    p.nstrip = (v.inner + p.S - 1) / p.S;
    // ~512 KiB of extended rows per item, at least 8 output rows
    const index_t rows = std::max<index_t>(8, 65536 / p.S - (K - 1));
    p.band = std::min(v.n, rows);
    p.nband = (v.n + p.band - 1) / p.band;
  }
  return p;
}

// Uninitialised scratch (every element is written before it is read).
template <class A = double>
using Buffer = std::unique_ptr<A[]>;
template <class A = double>
Buffer<A> buffer(index_t n, const char* what) {
  checked_bytes(n, sizeof(A), what);
  return Buffer<A>(new A[static_cast<std::size_t>(n > 0 ? n : 1)]);
}

// Item `item` of a column-strip pass: fills ext with rows [r0 - lo, r1 + K - 1 - lo) of the
// strip (S wide), calls body(ext, r0, r1, c0, cw, o).
template <class A, class Body>
void strip_item(const PassPlan& p, Elem tin, const char* in, const Boundary& b, index_t item,
                Buffer<A>& ext, Body&& body) {
  const AxisView& v = p.v;
  const index_t st = item % p.nstrip, rest = item / p.nstrip;
  const index_t bd = rest % p.nband, o = rest / p.nband;
  const index_t r0 = bd * p.band, r1 = std::min(v.n, r0 + p.band);
  const index_t c0 = st * p.S, cw = std::min(p.S, v.inner - c0);
  const index_t nrows = r1 - r0 + p.K - 1;
  if (!ext) ext = buffer<A>((p.band + p.K - 1) * p.S, "ndimage row buffer");
  const index_t es = elem_size(tin);
  for (index_t r = 0; r < nrows; ++r) {
    const index_t s = source(r0 + r - p.lo, v.n, b);
    A* dst = ext.get() + r * p.S;
    if (s < 0)
      std::fill(dst, dst + cw, static_cast<A>(b.cval));
    else
      load(tin, in + ((o * v.n + s) * v.inner + c0) * es, cw, dst);
  }
  body(ext.get(), r0, r1, c0, cw, o);
}

// A float32 pass across rows: output row r < nrows combines the rows q[r + tap[i]] (K rows
// apart at most), n columns, into y[r]. Row by row (lincomb over all n columns) while the K
// rows an output reads stay in L1; beyond that, on long rows, every output row would fetch
// them all again from L2, so lincomb_rows computes 4 output rows at once over a few vectors
// of columns (the same results to the bit). Measured on 256^3 float32, one thread, medians of
// 3 interleaved runs against the previous build: along axis 0 (4 KiB strips) a 17-tap
// Gaussian 22.5 -> 17.7 ms, 65 taps 60 -> 48 ms; along axis 1 (1 KiB rows) lincomb_rows took
// 36 ms for 17 taps where lincomb takes 18 ms (in L1), and 67 against 62 ms for 65 taps.
inline bool rows_by_blocks(index_t K, index_t n) {
  return n >= 512 && (K + 3) * n * static_cast<index_t>(sizeof(float)) > 24 * 1024;
}

// p: the caller's scratch for one row's tap pointers (ntaps of them), reused across calls.
inline void combine_rows_f32(const float* const* q, const index_t* tap, const float* w,
                             index_t ntaps, int pairing, index_t K, index_t nrows, index_t n,
                             float* const* y, std::vector<const float*>& p) {
  const kernels::NdimageFns& k = active_kernels().nd;
  if (rows_by_blocks(K, n))
    return k.lincomb_rows_f32(q, tap, w, ntaps, pairing, nrows, n, y);
  p.resize(static_cast<std::size_t>(ntaps));
  for (index_t r = 0; r < nrows; ++r) {
    for (index_t i = 0; i < ntaps; ++i) p[static_cast<std::size_t>(i)] = q[r + tap[i]];
    k.lincomb_f32(p.data(), w, ntaps, pairing, n, y[r]);
  }
}

// The float32 path of correlate1d: no conversions, so nothing is buffered but what the
// boundary needs. Along the last axis a line's interior (outputs whose taps all fall inside
// the line) combines the input line in place straight into the output, and only the K - 1
// outputs at the ends read a small extended copy; in place (in == out) the whole line is
// copied first. Along other axes each output row of a column strip combines input rows in
// place (the constant row where mode "constant" reads beyond the edge): the strip's K rows
// stay in L1/L2 while the next output rows reuse them.
inline void correlate1d_direct_f32(const float* in, float* out, const AxisView& v,
                                   const TapOrder& ord, index_t K, index_t lo, const Boundary& b) {
  const std::vector<float> ow(ord.w.begin(), ord.w.end());
  const index_t nt = static_cast<index_t>(ord.tap.size());
  const auto lincomb = active_kernels().nd.lincomb_f32;
  const float cv = static_cast<float>(b.cval);
  if (v.inner == 1) {
    const index_t n = v.n;
    // interior outputs [xa, xb): taps x + t - lo within [0, n)
    const index_t xa = std::min(lo, n), xb = std::max(xa, n - (K - 1 - lo));
    // in place, and short lines (the three calls per line would cost more than one copy of
    // the line, in L1): the whole extended line is copied first
    const bool inplace = in == out || n <= 2048;
    // lines per item: about 64 KiB of output
    const index_t per = std::max<index_t>(1, std::min<index_t>(v.outer, 16384 / std::max<index_t>(n, 1)));
    const index_t nitems = (v.outer + per - 1) / per;
    parallel_for_dynamic(nitems, [&](index_t item) {
      std::vector<const float*> ptr(static_cast<std::size_t>(nt));
      // the extended line: whole (in place) or the two ends (K - 1 + K - 1 outputs at most)
      const index_t elen = inplace ? n + K - 1 : std::max<index_t>(xa + K - 1, n - xb + K - 1);
      Buffer<float> ext = buffer<float>(elen, "ndimage line buffer");
      auto run = [&](const float* base, index_t len, float* y) {
        for (index_t i = 0; i < nt; ++i) ptr[static_cast<std::size_t>(i)] = base + ord.tap[static_cast<std::size_t>(i)];
        lincomb(ptr.data(), ow.data(), nt, ord.pairing, len, y);
      };
      const index_t l1 = std::min(v.outer, (item + 1) * per);
      for (index_t l = item * per; l < l1; ++l) {
        const float* line = in + l * n;
        float* o = out + l * n;
        if (inplace) {
          load_extended(Elem::f32, reinterpret_cast<const char*>(line), n, -lo, n + K - 1, b, ext.get());
          run(ext.get(), n, o);
          continue;
        }
        if (xb > xa) run(line + xa - lo, xb - xa, o + xa);
        if (xa > 0) {  // outputs [0, xa) read extended [-lo, xa + K - 1 - lo)
          load_extended(Elem::f32, reinterpret_cast<const char*>(line), n, -lo, xa + K - 1, b, ext.get());
          run(ext.get(), xa, o);
        }
        if (xb < n) {  // outputs [xb, n)
          load_extended(Elem::f32, reinterpret_cast<const char*>(line), n, xb - lo, n - xb + K - 1, b, ext.get());
          run(ext.get(), n - xb, o + xb);
        }
      }
    });
    return;
  }
  // Column strips of up to 1024 (the K rows an output row reads stay in L2 while the next
  // rows reuse them; long runs per row for the prefetchers), bands of 256 output rows. The
  // first strip ends where the rows' 64-byte lines begin (when every row starts at the same
  // offset in its line): the other strips' vector loads then never straddle two lines.
  const index_t S = std::min<index_t>(v.inner, 1024);
  index_t head = 0;  // (narrow rows: the split strip would cost more than the split loads)
  if (v.inner >= 1024 && (v.inner * static_cast<index_t>(sizeof(float))) % 64 == 0)
    head = ((64 - reinterpret_cast<std::uintptr_t>(in) % 64) % 64) / static_cast<index_t>(sizeof(float));
  if (head >= v.inner) head = 0;
  const index_t nstrip = (head > 0) + (v.inner - head + S - 1) / S;
  const index_t band = std::min<index_t>(v.n, 256), nband = (v.n + band - 1) / band;
  const std::vector<float> crow(static_cast<std::size_t>(S), cv);
  parallel_for_dynamic(v.outer * nband * nstrip, [&](index_t item) {
    const index_t st = item % nstrip, rest = item / nstrip;
    const index_t bd = rest % nband, o = rest / nband;
    const index_t r0 = bd * band, r1 = std::min(v.n, r0 + band);
    const index_t c0 = head == 0 ? st * S : st == 0 ? 0 : head + (st - 1) * S;
    const index_t cw = head > 0 && st == 0 ? head : std::min(S, v.inner - c0);
    // extended rows r0 - lo .. r1 - lo + K - 2, and the output rows
    std::vector<const float*> src(static_cast<std::size_t>(r1 - r0 + K - 1));
    std::vector<float*> dst(static_cast<std::size_t>(r1 - r0));
    const float* plane = in + o * v.n * v.inner + c0;
    for (std::size_t j = 0; j < src.size(); ++j) {
      const index_t s = source(r0 + static_cast<index_t>(j) - lo, v.n, b);
      src[j] = s < 0 ? crow.data() : plane + s * v.inner;
    }
    for (index_t r = r0; r < r1; ++r) dst[static_cast<std::size_t>(r - r0)] = out + (o * v.n + r) * v.inner + c0;
    std::vector<const float*> taps;
    combine_rows_f32(src.data(), ord.tap.data(), ow.data(), nt, ord.pairing, K, r1 - r0, cw, dst.data(),
                     taps);
  });
}

// correlate1d(in, w, axis) into out (same shape), SciPy's NI_Correlate1D. In place (in == out,
// same type) only along the last axis.
// A: the arithmetic's type (double: SciPy's, to the bit; float: the float32 path).
// A = int32: the exact integer path (int_path), div: the uniform filter's divisor.
template <class A>
void correlate1d_as(const void* in_, Elem tin, void* out_, Elem tout, const Shape& shape,
                    int axis, const double* w, index_t K, const Boundary& b, index_t origin,
                    index_t div = 1) {
  const AxisView v = axis_view(shape, axis);
  if (v.outer * v.n * v.inner == 0) return;
  const index_t lo = K / 2 + origin;
  const TapOrder ord = correlate1d_order(w, K);
  const std::vector<A> ow(ord.w.begin(), ord.w.end());
  const index_t nt = static_cast<index_t>(ord.tap.size());
  const PassPlan p = plan_pass(v, K, lo, in_ == out_);
  const char* in = static_cast<const char*>(in_);
  char* out = static_cast<char*>(out_);
  const index_t ies = elem_size(tin), oes = elem_size(tout);
  const auto lincomb = lincomb_for(static_cast<A*>(nullptr));
  if constexpr (std::is_same<A, float>::value) {
    // float32 into float32 needs no conversion: the taps read the input in place and the
    // combination goes straight into the output (two copies fewer per element)
    return correlate1d_direct_f32(static_cast<const float*>(in_), static_cast<float*>(out_), v,
                                  ord, K, lo, b);
  }
  parallel_for_dynamic(p.items(), [&](index_t item) {
    std::vector<const A*> ptr(static_cast<std::size_t>(nt));
    Buffer<A> ext, y;
    if (v.inner == 1) {
      const index_t line = item / p.nseg, x0 = (item % p.nseg) * p.seg;
      const index_t len = std::min(p.seg, v.n - x0);
      ext = buffer<A>(len + K - 1, "ndimage line buffer");
      y = buffer<A>(len, "ndimage line buffer");
      load_extended(tin, in + line * v.n * ies, v.n, x0 - lo, len + K - 1, b, ext.get());
      for (index_t i = 0; i < nt; ++i) ptr[static_cast<std::size_t>(i)] = ext.get() + ord.tap[static_cast<std::size_t>(i)];
      lincomb(ptr.data(), ow.data(), nt, ord.pairing, len, y.get());
      store(tout, y.get(), len, out + (line * v.n + x0) * oes, false, div);
      return;
    }
    y = buffer<A>(p.S, "ndimage row buffer");
    strip_item(p, tin, in, b, item, ext,
               [&](const A* rows, index_t r0, index_t r1, index_t c0, index_t cw, index_t o) {
                 for (index_t r = r0; r < r1; ++r) {
                   for (index_t i = 0; i < nt; ++i)
                     ptr[static_cast<std::size_t>(i)] =
                         rows + (r - r0 + ord.tap[static_cast<std::size_t>(i)]) * p.S;
                   lincomb(ptr.data(), ow.data(), nt, ord.pairing, cw, y.get());
                   store(tout, y.get(), cw, out + ((o * v.n + r) * v.inner + c0) * oes, false, div);
                 }
               });
  });
}

// correlate1d of an 8-bit image into an integer output (cert_path, error bound e): rows in
// float32 (the input values, exact), the combination in float32 with the float32 kernels
// (twice the lanes of double), and each result certified to truncate as SciPy's double
// does, or recomputed in double (ndimage_engine::certify). SciPy's results to the bit.
// Where most results need the double (flat regions, where the exact result is an integer),
// an item copies its rows to double and runs the double kernels for the next rows, then
// tries float32 again.
inline void correlate1d_cert(const void* in_, Elem tin, void* out_, Elem tout, const Shape& shape,
                             int axis, const double* w, index_t K, const Boundary& b,
                             index_t origin, float e) {
  const AxisView v = axis_view(shape, axis);
  if (v.outer * v.n * v.inner == 0) return;
  const index_t lo = K / 2 + origin;
  const TapOrder ord = correlate1d_order(w, K);
  const std::vector<float> wf(ord.w.begin(), ord.w.end());
  const index_t nt = static_cast<index_t>(ord.tap.size());
  const PassPlan p = plan_pass(v, K, lo, in_ == out_);
  const char* in = static_cast<const char*>(in_);
  char* out = static_cast<char*>(out_);
  const index_t ies = elem_size(tin), oes = elem_size(tout);
  const kernels::NdimageFns& k = active_kernels().nd;
  constexpr index_t kRetry = 64;  // rows in double before float32 is tried again
  // line items: whole segments, several per item (about 16K outputs), so that a switch to
  // double lasts across lines
  const index_t per = v.inner == 1 ? std::max<index_t>(1, 16384 / p.seg) : 1;
  const index_t units = p.items(), nitems = (units + per - 1) / per;
  parallel_for_dynamic(nitems, [&](index_t item) {
    std::vector<const double*> pd(static_cast<std::size_t>(nt));
    std::vector<const float*> pf(static_cast<std::size_t>(nt));
    Buffer<float> ext, yf;
    Buffer<double> extd, yd;
    Buffer<std::int32_t> yi;
    index_t in_double = 0;  // rows left in double
    // the n outputs from rows (nrows x ld floats at base, taps at offsets off[i]) into dst
    auto combine = [&](const float* base, index_t nrows, index_t ld, const index_t* off, index_t n,
                       void* dst, bool& have_double) {
      if (in_double > 0) {
        --in_double;
        if (!have_double) {  // the rows in double: exact copies
          for (index_t i = 0; i < nrows * ld; ++i) extd[i] = static_cast<double>(base[i]);
          have_double = true;
        }
        for (index_t i = 0; i < nt; ++i) pd[static_cast<std::size_t>(i)] = extd.get() + off[i];
        k.lincomb(pd.data(), ord.w.data(), nt, ord.pairing, n, yd.get());
        k.store(tout, yd.get(), n, dst, false);
        return;
      }
      for (index_t i = 0; i < nt; ++i) pf[static_cast<std::size_t>(i)] = base + off[i];
      k.lincomb_f32(pf.data(), wf.data(), nt, ord.pairing, n, yf.get());
      const index_t redone = k.certify(yf.get(), pf.data(), ord.w.data(), nt, ord.pairing, n, e, yi.get());
      k.store_i32(tout, yi.get(), n, dst, 1);
      if (4 * redone > n) in_double = kRetry;  // over a quarter recomputed
    };
    std::vector<index_t> off(static_cast<std::size_t>(nt));
    if (v.inner == 1) {
      const index_t len0 = std::min(p.seg, v.n);
      ext = buffer<float>(len0 + K - 1, "ndimage line buffer");
      extd = buffer<double>(len0 + K - 1, "ndimage line buffer");
      yf = buffer<float>(len0, "ndimage line buffer");
      yd = buffer<double>(len0, "ndimage line buffer");
      yi = buffer<std::int32_t>(len0, "ndimage line buffer");
      for (index_t i = 0; i < nt; ++i) off[static_cast<std::size_t>(i)] = ord.tap[static_cast<std::size_t>(i)];
      for (index_t u = item * per; u < std::min(units, (item + 1) * per); ++u) {
        const index_t line = u / p.nseg, x0 = (u % p.nseg) * p.seg;
        const index_t len = std::min(p.seg, v.n - x0);
        load_extended(tin, in + line * v.n * ies, v.n, x0 - lo, len + K - 1, b, ext.get());
        bool have_double = false;
        combine(ext.get(), 1, len + K - 1, off.data(), len, out + (line * v.n + x0) * oes, have_double);
      }
      return;
    }
    yf = buffer<float>(p.S, "ndimage row buffer");
    yd = buffer<double>(p.S, "ndimage row buffer");
    yi = buffer<std::int32_t>(p.S, "ndimage row buffer");
    strip_item(p, tin, in, b, item, ext,
               [&](const float* rows, index_t r0, index_t r1, index_t c0, index_t cw, index_t o) {
                 const index_t nrows = r1 - r0 + K - 1;
                 if (!extd) extd = buffer<double>((p.band + K - 1) * p.S, "ndimage row buffer");
                 bool have_double = false;
                 for (index_t r = r0; r < r1; ++r) {
                   for (index_t i = 0; i < nt; ++i)
                     off[static_cast<std::size_t>(i)] = (r - r0 + ord.tap[static_cast<std::size_t>(i)]) * p.S;
                   combine(rows, nrows, p.S, off.data(), cw, out + ((o * v.n + r) * v.inner + c0) * oes,
                           have_double);
                 }
               });
  });
}

inline void correlate1d(const void* in, Elem tin, void* out, Elem tout, const Shape& shape,
                        int axis, const double* w, index_t K, const Boundary& b, index_t origin) {
  if (!float32_path(tin, tout) && !int_path(tin, w, K, b)) {
    const float e = cert_path(tin, tout, w, K, correlate1d_order(w, K).tap.size(), b);
    if (e > 0.0f) return correlate1d_cert(in, tin, out, tout, shape, axis, w, K, b, origin, e);
  }
  if (float32_path(tin, tout))
    correlate1d_as<float>(in, tin, out, tout, shape, axis, w, K, b, origin);
  else if (int_path(tin, w, K, b))
    correlate1d_as<std::int32_t>(in, tin, out, tout, shape, axis, w, K, b, origin);
  else
    correlate1d_as<double>(in, tin, out, tout, shape, axis, w, K, b, origin);
}

// One 1-D pass of a fused separable filter (float32): SciPy's tap order, the float weights,
// the window offset lo = K / 2 + origin and the boundary.
struct SepPass {
  TapOrder ord;
  std::vector<float> w;
  index_t K = 1, lo = 0;
  Boundary b;
  index_t nt() const { return static_cast<index_t>(ord.tap.size()); }
  index_t tap(index_t i) const { return ord.tap[static_cast<std::size_t>(i)]; }
};

inline SepPass sep_pass(const double* w, index_t K, const Boundary& b, index_t origin) {
  SepPass p;
  p.ord = correlate1d_order(w, K);
  p.w.assign(p.ord.w.begin(), p.ord.w.end());
  p.K = K;
  p.lo = K / 2 + origin;
  p.b = b;
  return p;
}

// The float32 path's fused separable filter: correlate1d along axis -3 (depth, optional),
// then -2 (pv), then -1 (ph), of float32 in into float32 out (not in place), in one sweep.
// Same roundings as the separate float32 passes (every intermediate is float32 in both).
//
// An item is a band of B output rows of one plane (2-D) or of a slab of consecutive planes
// (3-D). 2-D: each output row is the vertical combination of input rows read in place,
// computed strip by strip (S columns, so the strip's B + Kv - 1 input rows stay in L1 while
// the band's rows reuse them) into a band buffer, which is extended by the horizontal
// boundary rule as the second pass would extend the first's result and combined
// horizontally straight into the output. 3-D: first the depth combination of every input
// row the band's vertical taps read (their plane's rows at the Kd planes around it, read in
// place) into a plane buffer, sized to stay in L2; the Kd input planes of a step are mostly
// the previous step's, so consecutive planes of a slab read the volume from memory about
// once. One read and one write of the image, no scratch arrays, instead of a read and a
// write per pass.
inline void separable_f32(const float* in, float* out, const Shape& shape, const SepPass* pd,
                          const SepPass& pv, const SepPass& ph) {
  const int nd = static_cast<int>(shape.size());
  index_t total = 1;
  for (index_t d : shape) total *= d;
  if (total == 0) return;
  const index_t H = shape[nd - 2], W = shape[nd - 1], D = pd ? shape[nd - 3] : 1;
  const index_t outer = total / (D * H * W);
  const index_t nth = ph.nt(), ntd = pd ? pd->nt() : 0;
  const std::vector<float> crow(static_cast<std::size_t>(W), static_cast<float>(pv.b.cval));
  const std::vector<float> drow(static_cast<std::size_t>(W), static_cast<float>(pd ? pd->b.cval : 0.0));
  const float hc = static_cast<float>(ph.b.cval);
  const auto lincomb = active_kernels().nd.lincomb_f32;
  // 2-D: bands of 32 rows (L1 reuse of the strip); 3-D: as many rows as keep the plane
  // buffer (band + Kv - 1 rows) near 512 KiB, the whole plane where it fits.
  index_t B = std::max<index_t>(1, std::min<index_t>(32, H / 4));
  if (pd) B = std::max<index_t>(8, std::min<index_t>(H, 131072 / W - (pv.K - 1)));
  B = std::min(B, H);
  const index_t S = 256, L = W + ph.K - 1;
  // a first strip up to where the input rows' 64-byte lines begin (see correlate1d_direct_f32;
  // 3-D: the plane buffer's rows are aligned as the allocator aligns them)
  index_t head = 0;
  if (!pd && W >= 1024 && (W * static_cast<index_t>(sizeof(float))) % 64 == 0)
    head = ((64 - reinterpret_cast<std::uintptr_t>(in) % 64) % 64) / static_cast<index_t>(sizeof(float));
  if (head >= W) head = 0;
  const index_t nband = (H + B - 1) / B;
  // slabs of consecutive planes: a few items per thread
  const index_t nt = get_num_threads();
  const index_t nslab = std::min<index_t>(D, std::max<index_t>(1, 4 * nt / std::max<index_t>(1, outer * nband)));
  const index_t slab = (D + nslab - 1) / nslab;
  parallel_for_dynamic(outer * nband * nslab, [&](index_t item) {
    const index_t sl = item % nslab, rest = item / nslab;
    const index_t bd = rest % nband, o = rest / nband;
    const index_t r0 = bd * B, r1 = std::min(H, r0 + B);
    const index_t z0 = sl * slab, z1 = std::min(D, z0 + slab);
    if (z0 >= z1) return;
    Buffer<float> mid = buffer<float>(checked_mul(B, L, "ndimage row buffer"), "ndimage row buffer");
    std::vector<const float*> php(static_cast<std::size_t>(nth)),
        pdp(static_cast<std::size_t>(std::max<index_t>(ntd, 1))), qd(pdp.size());
    // the source row of each extended row r0 - lo .. r1 - lo + Kv - 2 the band's vertical taps
    // read; -1: the constant row
    std::vector<index_t> src(static_cast<std::size_t>(r1 - r0 + pv.K - 1));
    for (std::size_t j = 0; j < src.size(); ++j)
      src[j] = source(r0 + static_cast<index_t>(j) - pv.lo, H, pv.b);
    std::vector<float*> dst(static_cast<std::size_t>(r1 - r0));
    std::vector<const float*> vrow(src.size());
    // 3-D: the distinct source rows, each a row of the plane buffer
    std::vector<index_t> used, slot;
    Buffer<float> plane_buf;
    if (pd) {
      slot.assign(static_cast<std::size_t>(H), -1);
      for (index_t s : src)
        if (s >= 0 && slot[static_cast<std::size_t>(s)] < 0) {
          slot[static_cast<std::size_t>(s)] = static_cast<index_t>(used.size());
          used.push_back(s);
        }
      plane_buf = buffer<float>(checked_mul(std::max<index_t>(1, static_cast<index_t>(used.size())), W,
                                            "ndimage plane buffer"), "ndimage plane buffer");
    }
    std::vector<const float*> rows(src.size()), taps;
    for (index_t z = z0; z < z1; ++z) {
      const float* plane = in + (o * D + z) * H * W;
      if (pd) {
        for (index_t i = 0; i < ntd; ++i) {
          const index_t zs = source(z + pd->tap(i) - pd->lo, D, pd->b);
          pdp[static_cast<std::size_t>(i)] = zs < 0 ? nullptr : in + (o * D + zs) * H * W;
        }
        for (std::size_t k = 0; k < used.size(); ++k) {
          for (index_t i = 0; i < ntd; ++i) {
            const float* pl = pdp[static_cast<std::size_t>(i)];
            qd[static_cast<std::size_t>(i)] = pl ? pl + used[k] * W : drow.data();
          }
          lincomb(qd.data(), pd->w.data(), ntd, pd->ord.pairing, W, plane_buf.get() + static_cast<index_t>(k) * W);
        }
      }
      for (std::size_t j = 0; j < src.size(); ++j) {
        const index_t s = src[j];
        rows[j] = s < 0 ? crow.data()
                        : pd ? plane_buf.get() + slot[static_cast<std::size_t>(s)] * W : plane + s * W;
      }
      for (index_t c0 = 0; c0 < W;) {
        const index_t cw = c0 == 0 && head > 0 ? head : std::min(S, W - c0);
        for (std::size_t j = 0; j < rows.size(); ++j) vrow[j] = rows[j] + c0;
        for (index_t r = r0; r < r1; ++r) dst[static_cast<std::size_t>(r - r0)] = mid.get() + (r - r0) * L + ph.lo + c0;
        combine_rows_f32(vrow.data(), pv.ord.tap.data(), pv.w.data(), pv.nt(), pv.ord.pairing, pv.K,
                         r1 - r0, cw, dst.data(), taps);
        c0 += cw;
      }
      for (index_t r = r0; r < r1; ++r) {
        float* ext = mid.get() + (r - r0) * L;
        const float* m = ext + ph.lo;
        for (index_t j = 0; j < ph.K - 1; ++j) {  // the columns beyond the edges
          const index_t c = j < ph.lo ? j - ph.lo : W + (j - ph.lo);
          const index_t s = source(c, W, ph.b);
          ext[j < ph.lo ? j : W + j] = s < 0 ? hc : m[s];
        }
        for (index_t i = 0; i < nth; ++i) php[static_cast<std::size_t>(i)] = ext + ph.tap(i);
        lincomb(php.data(), ph.w.data(), nth, ph.ord.pairing, W, out + ((o * D + z) * H + r) * W);
      }
    }
  });
}

// uniform_filter1d(in, size, axis) into out, SciPy's NI_UniformFilter1D (in place only along
// the last axis): a running sum along
// each whole line (so an item never splits a line). Last axis: L lines side by side, transposed
// into the buffer so the sums run as vectors; other axes: a column strip, its extended rows
// kept in a ring of size + 1.
inline void uniform_filter1d(const void* in_, Elem tin, void* out_, Elem tout, const Shape& shape,
                             int axis, index_t size, const Boundary& b, index_t origin) {
  if (float32_path(tin, tout)) {
    // size FMAs (size / 2 with the symmetric pairing) per output instead of a running sum in
    // double: no drift along the line, and the vector kernel of the other float32 filters.
    const std::vector<double> w(static_cast<std::size_t>(size), 1.0 / static_cast<double>(size));
    return correlate1d_as<float>(in_, tin, out_, tout, shape, axis, w.data(), size, b, origin);
  }
  if (size <= 32) {
    // integer input: the running sum is exact, so SciPy's result is the exact window sum
    // divided in double by size; up to 32 taps summed in int32 lanes beat a running sum
    // in double (and its transposes along the last axis)
    const std::vector<double> ones(static_cast<std::size_t>(size), 1.0);
    if (int_path(tin, ones.data(), size, b))
      return correlate1d_as<std::int32_t>(in_, tin, out_, tout, shape, axis, ones.data(), size, b,
                                          origin, size);
  }
  const AxisView v = axis_view(shape, axis);
  if (v.outer * v.n * v.inner == 0) return;
  const index_t lo = size / 2 + origin;
  const char* in = static_cast<const char*>(in_);
  char* out = static_cast<char*>(out_);
  const index_t ies = elem_size(tin), oes = elem_size(tout);
  const kernels::NdimageFns& k = active_kernels().nd;
  const index_t len = checked_add(v.n, size - 1, "the extended line");
  const double sz = static_cast<double>(size);
  if (v.inner == 1) {
    constexpr index_t L = 8;
    const index_t nitems = (v.outer + L - 1) / L;
    parallel_for_dynamic(nitems, [&](index_t item) {
      const index_t l0 = item * L, nl = std::min(L, v.outer - l0);
      Buffer<> line = buffer(len, "ndimage line buffer");
      Buffer<> ext = buffer(checked_mul(len, L, "ndimage line buffer"), "ndimage line buffer");
      Buffer<> y = buffer(v.n * L, "ndimage line buffer");
      for (index_t l = 0; l < L; ++l) {
        if (l < nl) load_extended(tin, in + (l0 + l) * v.n * ies, v.n, -lo, len, b, line.get());
        double* e = ext.get() + l;
        for (index_t j = 0; j < len; ++j) e[j * L] = l < nl ? line[j] : 0.0;
      }
      k.running_mean8(ext.get(), size, v.n, y.get());
      for (index_t l = 0; l < nl; ++l) {
        const double* yl = y.get() + l;
        for (index_t j = 0; j < v.n; ++j) line[j] = yl[j * L];
        store(tout, line.get(), v.n, out + (l0 + l) * v.n * oes);
      }
    });
    return;
  }
  const index_t S = std::min<index_t>(v.inner, 256), nstrip = (v.inner + S - 1) / S;
  const index_t slots = size + 1;
  parallel_for_dynamic(v.outer * nstrip, [&](index_t item) {
    const index_t o = item / nstrip, c0 = (item % nstrip) * S, cw = std::min(S, v.inner - c0);
    Buffer<> ring = buffer(checked_mul(slots, S, "ndimage row buffer"), "ndimage row buffer");
    Buffer<> acc = buffer(S, "ndimage row buffer"), y = buffer(S, "ndimage row buffer");
    auto row = [&](index_t e) {  // extended row e (input row e - lo) in its ring slot
      double* dst = ring.get() + (e % slots) * S;
      const index_t s = source(e - lo, v.n, b);
      if (s < 0)
        std::fill(dst, dst + cw, b.cval);
      else
        load(tin, in + ((o * v.n + s) * v.inner + c0) * ies, cw, dst);
      return dst;
    };
    auto put = [&](index_t r) { store(tout, y.get(), cw, out + ((o * v.n + r) * v.inner + c0) * oes); };
    std::fill(acc.get(), acc.get() + cw, 0.0);
    for (index_t e = 0; e < size; ++e) k.accumulate(acc.get(), row(e), cw);
    k.divide(acc.get(), cw, sz, y.get());
    put(0);
    for (index_t r = 1; r < v.n; ++r) {
      const double* add = row(r + size - 1);
      k.running_step(acc.get(), add, ring.get() + ((r - 1) % slots) * S, cw, sz, y.get());
      put(r);
    }
  });
}

// The N-d correlate(in, w) into out, SciPy's NI_Correlate: the taps are the weights with
// |w| > DBL_EPSILON, summed from 0.0 in C order. The kernel is cut into rows along the last
// axis; an item (a band of output rows, one segment of columns) keeps the extended source rows
// its window needs, and each output row is one linear combination of shifted source rows.
template <class A>
void correlate_as(const void* in_, Elem tin, void* out_, Elem tout, const Shape& shape,
                  const double* w, const Shape& kshape, const Boundary& b,
                  const std::vector<index_t>& origins) {
  const int nd = static_cast<int>(shape.size());
  index_t total = 1;
  for (index_t s : shape) total *= s;
  if (total == 0) return;
  const char* in = static_cast<const char*>(in_);
  char* out = static_cast<char*>(out_);
  const index_t ies = elem_size(tin), oes = elem_size(tout);
  const index_t W = shape[nd - 1], kw = kshape[nd - 1];
  const index_t R = total / W;
  std::vector<index_t> lo(static_cast<std::size_t>(nd));
  for (int d = 0; d < nd; ++d) lo[static_cast<std::size_t>(d)] = kshape[d] / 2 + origins[static_cast<std::size_t>(d)];
  // Kernel rows (leading kernel coordinates) with a tap, and the taps in C order.
  index_t KR = 1;
  for (int d = 0; d + 1 < nd; ++d) KR *= kshape[d];
  std::vector<index_t> krow_used;       // kernel row index of each used row
  std::vector<index_t> tap_row, tap_col;  // per tap: index into krow_used, column
  std::vector<A> tw;
  for (index_t kr = 0; kr < KR; ++kr) {
    bool any = false;
    for (index_t j = 0; j < kw; ++j) {
      const double v = w[kr * kw + j];
      if (!(std::fabs(v) > DBL_EPSILON)) continue;
      if (!any) krow_used.push_back(kr);
      any = true;
      tap_row.push_back(static_cast<index_t>(krow_used.size()) - 1);
      tap_col.push_back(j);
      tw.push_back(static_cast<A>(v));
    }
  }
  const index_t ntaps = static_cast<index_t>(tw.size());
  const index_t nrows_used = static_cast<index_t>(krow_used.size());
  if (ntaps == 0) {  // SciPy's sum of no terms
    std::vector<A> zero(static_cast<std::size_t>(std::min<index_t>(total, 65536)), A(0));
    for (index_t i = 0; i < total; i += 65536)
      store(tout, zero.data(), std::min<index_t>(65536, total - i), out + i * oes, true);
    return;
  }
  // the leading coordinates of each used kernel row
  std::vector<index_t> kcoord(static_cast<std::size_t>(nrows_used * std::max(nd - 1, 1)));
  for (index_t u = 0; u < nrows_used; ++u) {
    index_t r = krow_used[static_cast<std::size_t>(u)];
    for (int d = nd - 2; d >= 0; --d) {
      kcoord[static_cast<std::size_t>(u * (nd - 1) + d)] = r % kshape[d];
      r /= kshape[d];
    }
  }
  const index_t seg = std::min<index_t>(W, 4096), nseg = (W + seg - 1) / seg;
  const index_t nt = get_num_threads();
  index_t band = std::max<index_t>(1, R / std::max<index_t>(1, 8 * nt / nseg + 1));
  band = std::min<index_t>(band, 256);
  const index_t nband = (R + band - 1) / band;
  const auto lincomb = lincomb_for(static_cast<A*>(nullptr));
  const index_t elen = seg + kw - 1;
  parallel_for_dynamic(nband * nseg, [&](index_t item) {
    const index_t bi = item / nseg, x0 = (item % nseg) * seg;
    const index_t sw = std::min(seg, W - x0);
    const index_t r0 = bi * band, r1 = std::min(R, r0 + band);
    // slot cache: key = source row (flat leading index), -1 the constant row, -2 empty
    Buffer<A> slots = buffer<A>(checked_mul(nrows_used, elen, "ndimage row buffer"), "ndimage row buffer");
    std::vector<index_t> key(static_cast<std::size_t>(nrows_used), -2);
    std::vector<index_t> need(static_cast<std::size_t>(nrows_used)), at(static_cast<std::size_t>(nrows_used));
    std::vector<char> busy(static_cast<std::size_t>(nrows_used));
    std::vector<const A*> ptr(static_cast<std::size_t>(ntaps));
    Buffer<A> y = buffer<A>(sw, "ndimage line buffer");
    std::vector<index_t> oc(static_cast<std::size_t>(std::max(nd - 1, 1)));
    for (index_t r = r0; r < r1; ++r) {
      index_t rr = r;
      for (int d = nd - 2; d >= 0; --d) {
        oc[static_cast<std::size_t>(d)] = rr % shape[d];
        rr /= shape[d];
      }
      for (index_t u = 0; u < nrows_used; ++u) {
        index_t flat = 0;
        for (int d = 0; d + 1 < nd; ++d) {
          const index_t s = source(oc[static_cast<std::size_t>(d)] + kcoord[static_cast<std::size_t>(u * (nd - 1) + d)] - lo[static_cast<std::size_t>(d)], shape[d], b);
          if (s < 0) { flat = -1; break; }
          flat = flat * shape[d] + s;
        }
        need[static_cast<std::size_t>(u)] = flat;
      }
      std::fill(busy.begin(), busy.end(), 0);
      for (index_t u = 0; u < nrows_used; ++u) {
        at[static_cast<std::size_t>(u)] = -1;
        for (index_t s = 0; s < nrows_used; ++s)
          if (key[static_cast<std::size_t>(s)] == need[static_cast<std::size_t>(u)]) {
            at[static_cast<std::size_t>(u)] = s;
            busy[static_cast<std::size_t>(s)] = 1;
            break;
          }
      }
      for (index_t u = 0; u < nrows_used; ++u) {
        if (at[static_cast<std::size_t>(u)] >= 0) continue;
        index_t s = 0;
        while (busy[static_cast<std::size_t>(s)]) ++s;  // fewer distinct rows needed than slots
        busy[static_cast<std::size_t>(s)] = 1;
        key[static_cast<std::size_t>(s)] = need[static_cast<std::size_t>(u)];
        A* dst = slots.get() + s * elen;
        if (need[static_cast<std::size_t>(u)] < 0)
          std::fill(dst, dst + sw + kw - 1, static_cast<A>(b.cval));
        else
          load_extended(tin, in + need[static_cast<std::size_t>(u)] * W * ies, W, x0 - lo[static_cast<std::size_t>(nd - 1)],
                        sw + kw - 1, b, dst);
        // later rows of this output row asking for the same source share the slot
        for (index_t u2 = u; u2 < nrows_used; ++u2)
          if (at[static_cast<std::size_t>(u2)] < 0 && need[static_cast<std::size_t>(u2)] == need[static_cast<std::size_t>(u)]) at[static_cast<std::size_t>(u2)] = s;
      }
      for (index_t t = 0; t < ntaps; ++t)
        ptr[static_cast<std::size_t>(t)] = slots.get() + at[static_cast<std::size_t>(tap_row[static_cast<std::size_t>(t)])] * elen + tap_col[static_cast<std::size_t>(t)];
      lincomb(ptr.data(), tw.data(), ntaps, 0, sw, y.get());
      store(tout, y.get(), sw, out + (r * W + x0) * oes, true);
    }
  });
}

inline void correlate(const void* in, Elem tin, void* out, Elem tout, const Shape& shape,
                      const double* w, const Shape& kshape, const Boundary& b,
                      const std::vector<index_t>& origins) {
  index_t nw = 1;
  for (index_t k : kshape) nw *= k;
  if (float32_path(tin, tout))
    correlate_as<float>(in, tin, out, tout, shape, w, kshape, b, origins);
  else if (int_path(tin, w, nw, b))
    correlate_as<std::int32_t>(in, tin, out, tout, shape, w, kshape, b, origins);
  else
    correlate_as<double>(in, tin, out, tout, shape, w, kshape, b, origins);
}

// generic_gradient_magnitude's and generic_laplace's NumPy steps on out (n values of type t:
// u8, u16, f32 or f64) and x (the next derivative, same type; unused by ops 3 and 4), as
// NumPy does them in place, threaded: see ndimage_engine::combine.
inline void combine(Elem t, void* out, const void* x, index_t n, int op, const void* lut) {
  const index_t es = elem_size(t), blk = 65536;
  const auto fn = active_kernels().nd.combine;
  parallel_for((n + blk - 1) / blk, [&](index_t i) {
    const index_t a = i * blk, m = std::min(blk, n - a);
    fn(t, static_cast<char*>(out) + a * es, x ? static_cast<const char*>(x) + a * es : nullptr, m,
       op, lut);
  });
}

}  // namespace ndimage
}  // namespace convcore
