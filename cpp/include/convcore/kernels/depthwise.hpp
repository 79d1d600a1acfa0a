// Depthwise 2-D convolution:
//   y[n, c*m + j, oh, ow] = sum over taps of x[n, c, ih, iw] * w[c*m + j, th, tw].
// Three kernels, chosen by ops/depthwise.hpp (depthwise_forward):
//
// - Channels-last x (depthwise_nhwc): channels are innermost in x and y, so the inner loop is a
//   contiguous multiply-add over channels (vectorised for m == 1) whatever the stride or
//   dilation; padding is read in place through per-tap index tables built from
//   pad_source_index (the same map kernels::pad_planes uses).
// - Channels-first x, the planar engine (depthwise_planar_engine), per channel plane:
//   * small planes (the packed input plane within kDepthwiseFlatMaxBytes, L1-sized: every
//     MobileNetV2 layer from 56x56 down) take the "flat" form: the padded plane is packed into a
//     per-thread L1 buffer split in stride x stride phase planes, after which every tap reads one
//     contiguous run of the flattened plane, so vectors run across rows (rows of 7 or 14 fill
//     them as well as long rows) with 8 accumulator vectors in registers over all taps; work
//     items are runs of whole planes, and tiny calls stay on the calling thread;
//   * large planes go row by row over bands of padded rows (the "rows" form).
//   Measured (Zen 4 VM, f32, 1 thread, N=1): flat beats the previous rows / channels-last band
//   paths by 1.5-2x at 7x7..28x28 and is on par with PyTorch 2.13 or faster there.
// - Channels-first x with large planes of short rows (depthwise_bands): rows gathered
//   channels-last, the channels-last kernel, then a transpose back.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "../core/activation.hpp"
#include "../core/checked.hpp"
#include "../core/geometry.hpp"
#include "../core/padding.hpp"
#include "../core/parallel.hpp"
#include "../core/scratch.hpp"
#include "../core/simd.hpp"
#include "../core/spec.hpp"

#ifndef CONVCORE_OMP_SIMD
#if defined(_OPENMP)
#define CONVCORE_OMP_SIMD _Pragma("omp simd")
#else
#define CONVCORE_OMP_SIMD
#endif
#endif

namespace convcore {
namespace kernels {

// Per-work-item buffer, left uninitialised: every element used is written before it is read.
template <class T>
std::unique_ptr<T[]> scratch(index_t n) {
  return std::unique_ptr<T[]>(new T[static_cast<std::size_t>(n > 0 ? n : 1)]);
}

// Input row/column read by each (output position, tap) of one axis: -1 where the padding reads
// a zero. Sizes out*k: the only workspace of the kernel (a few KiB for real layers).
struct DepthwiseTables {
  std::vector<index_t> rows, cols;  // rows[oh * kh + th], cols[ow * kw + tw]
};

// The 2-D spec's axes live in slots 1 (height) and 2 (width).
inline DepthwiseTables depthwise_tables(const ConvSpec& s) {
  DepthwiseTables t;
  t.rows.resize(static_cast<std::size_t>(s.out[1] * s.k[1]));
  t.cols.resize(static_cast<std::size_t>(s.out[2] * s.k[2]));
  for (index_t o = 0; o < s.out[1]; ++o)
    for (index_t k = 0; k < s.k[1]; ++k)
      t.rows[o * s.k[1] + k] = pad_source_index(
          conv_in_index(o, k, s.stride[1], s.dil[1], s.pad_lo[1]), s.in[1], s.pad_mode);
  for (index_t o = 0; o < s.out[2]; ++o)
    for (index_t k = 0; k < s.k[2]; ++k)
      t.cols[o * s.k[2] + k] = pad_source_index(
          conv_in_index(o, k, s.stride[2], s.dil[2], s.pad_lo[2]), s.in[2], s.pad_mode);
  return t;
}

// w (C*m, 1, kh, kw) -> (kh*kw, C*m): one contiguous weight vector per tap.
template <class T>
void depthwise_pack_weights(const ConvSpec& s, const T* w, T* wt) {
  const index_t ks = s.k[1] * s.k[2];
  for (index_t oc = 0; oc < s.C_out; ++oc)
    for (index_t t = 0; t < ks; ++t) wt[t * s.C_out + oc] = w[oc * ks + t];
}

// `nrows` output rows into `out` ((nrows, OW, C*m)), with bias and s.act applied in the store.
// rows[r * kh + th] is the row of `xn` ((rows, W, C), channels-last) that output row r reads
// through tap th (-1: zero padding); cols as in DepthwiseTables. Callers pass the image itself
// with a slice of the tables, or a gathered band of input rows with a band-local row table.
namespace detail {
// Channels [c0, c0 + CB) of one output pixel (m == 1), accumulated over every tap in a local
// block the compiler keeps in vector registers (CB a compile-time constant), stored once.
template <class T, index_t CB, bool Tail, class ISA>
inline void dw_pixel_block(const index_t* rows, const index_t* cols, index_t kh, index_t kw,
                           const T* xn, index_t WC, index_t C, index_t c0, index_t nc, const T* wt,
                           const T* bias, Activation act, T* out) {
  T a[CB];
  const index_t n = Tail ? nc : CB;
  for (index_t j = 0; j < n; ++j) a[j] = bias ? bias[c0 + j] : T(0);
  for (index_t th = 0; th < kh; ++th) {
    const index_t ih = rows[th];
    if (ih < 0) continue;
    const T* xr = xn + ih * WC + c0;
    for (index_t tw = 0; tw < kw; ++tw) {
      const index_t iw = cols[tw];
      if (iw < 0) continue;
      const T* __restrict xp = xr + iw * C;
      const T* __restrict wp = wt + (th * kw + tw) * C + c0;
      CONVCORE_OMP_SIMD
      for (index_t j = 0; j < n; ++j) a[j] += xp[j] * wp[j];
    }
  }
  if (act == Activation::none) {
    for (index_t j = 0; j < n; ++j) out[j] = a[j];
  } else {
    for (index_t j = 0; j < n; ++j) out[j] = apply_activation(act, a[j]);
  }
}
}  // namespace detail

// `nrows` output rows into `out` ((nrows, OW, C*m)), with bias and s.act applied in the store.
// rows[r * kh + th] is the row of `xn` ((rows, W, C), channels-last) that output row r reads
// through tap th (-1: zero padding); cols as in DepthwiseTables. Callers pass the image itself
// with a slice of the tables, or a gathered band of input rows with a band-local row table.
template <class T, class ISA = isa::scalar>
void depthwise_rows(const ConvSpec& s, const index_t* rows, const index_t* cols, const T* xn,
                    const T* wt, const T* bias, index_t nrows, T* out) {
  const index_t C = s.C_in, Cm = s.C_out, m = Cm / C;
  const index_t W = s.in[2], OW = s.out[2], kh = s.k[1], kw = s.k[2];
  constexpr index_t CB = 128 / sizeof(T);  // 32 floats / 16 doubles per register block
  for (index_t oh = 0; oh < nrows; ++oh) {
    T* yrow = out + oh * OW * Cm;
    const index_t* rr = rows + oh * kh;
    for (index_t ow = 0; ow < OW; ++ow) {
      const index_t* cr = cols + ow * kw;
      T* acc = yrow + ow * Cm;
      if (m == 1) {
        index_t c0 = 0;
        for (; c0 + CB <= C; c0 += CB)
          detail::dw_pixel_block<T, CB, false, ISA>(rr, cr, kh, kw, xn, W * C, C, c0, CB, wt, bias,
                                               s.act, acc + c0);
        if (c0 < C)
          detail::dw_pixel_block<T, CB, true, ISA>(rr, cr, kh, kw, xn, W * C, C, c0, C - c0, wt, bias,
                                              s.act, acc + c0);
        continue;
      }
      // Depth multiplier > 1: output channel c*m + j reads input channel c.
      for (index_t oc = 0; oc < Cm; ++oc) acc[oc] = bias ? bias[oc] : T(0);
      for (index_t th = 0; th < kh; ++th) {
        const index_t ih = rr[th];
        if (ih < 0) continue;
        const T* xr = xn + ih * W * C;
        for (index_t tw = 0; tw < kw; ++tw) {
          const index_t iw = cr[tw];
          if (iw < 0) continue;
          const T* __restrict xp = xr + iw * C;
          const T* __restrict wp = wt + (th * kw + tw) * Cm;
          for (index_t c = 0; c < C; ++c) {
            const T xv = xp[c];
            for (index_t j = 0; j < m; ++j) acc[c * m + j] += xv * wp[c * m + j];
          }
        }
      }
      if (s.act != Activation::none)
        for (index_t oc = 0; oc < Cm; ++oc) acc[oc] = apply_activation(s.act, acc[oc]);
    }
  }
}

// Output rows per work item so that an item writes about `target` bytes: at least one row, at
// most all `rows`.
inline index_t band_rows(index_t rows, index_t row_bytes, index_t target) {
  index_t r = row_bytes > 0 ? target / row_bytes : 1;
  if (r < 1) r = 1;
  return r > rows ? rows : r;
}

// Rows per work item of the channels-last kernels: about 64 KiB of output.
inline index_t depthwise_band_rows(const ConvSpec& s, index_t elem) {
  return band_rows(s.out[1], s.out[2] * s.C_out * elem, 65536);
}

// Whole op on channels-last buffers: x (N, H, W, C), wt packed by depthwise_pack_weights,
// y (N, OH, OW, C*m). Work items are (image, band of output rows).
template <class T, class ISA = isa::scalar>
void depthwise_nhwc(const ConvSpec& s, const T* x, const T* wt, const T* bias, T* y) {
  const DepthwiseTables tb = depthwise_tables(s);
  const index_t OH = s.out[1], rb = depthwise_band_rows(s, sizeof(T));
  const index_t nrb = (OH + rb - 1) / rb;
  const index_t xsz = s.in[1] * s.in[2] * s.C_in, ysz = OH * s.out[2] * s.C_out;
  parallel_for(s.N * nrb, [&](index_t item) {
    const index_t n = item / nrb, r0 = (item % nrb) * rb;
    const index_t r1 = r0 + rb < OH ? r0 + rb : OH;
    depthwise_rows<T, ISA>(s, tb.rows.data() + r0 * s.k[1], tb.cols.data(), x + n * xsz, wt, bias, r1 - r0,
                   y + n * ysz + r0 * s.out[2] * s.C_out);
  });
}

// dst[j * ldd + i] = src[i * lds + j] for i < R, j < Cc, in 16 x 16 tiles so that both the
// strided reads and the strided writes stay within a few cache lines per tile.
template <class T>
inline void transpose_tiled(const T* src, index_t lds, T* dst, index_t ldd, index_t R, index_t Cc) {
  constexpr index_t B = 16;
  for (index_t i0 = 0; i0 < R; i0 += B) {
    const index_t i1 = i0 + B < R ? i0 + B : R;
    for (index_t j0 = 0; j0 < Cc; j0 += B) {
      const index_t j1 = j0 + B < Cc ? j0 + B : Cc;
      for (index_t i = i0; i < i1; ++i)
        for (index_t j = j0; j < j1; ++j) dst[j * ldd + i] = src[i * lds + j];
    }
  }
}

// Gathers the input rows that output rows [r0, r0 + nrows) read from a channels-first image
// xn (C, H, W) into `band` as channels-last rows (slots, W, C), and writes the band-local row
// table (nrows * kh entries, -1 kept) into `local`. Returns the number of slots used (at most
// nrows * kh; (nrows - 1) * stride + (kh - 1) * dilation + 1 without wrap-around padding).
// `slot_of` is scratch of H entries, all -1 on entry and on return.
template <class T>
index_t depthwise_gather_rows(const ConvSpec& s, const DepthwiseTables& tb, const T* xn,
                              index_t r0, index_t nrows, index_t* slot_of, index_t* local,
                              T* band) {
  const index_t C = s.C_in, H = s.in[1], W = s.in[2], kh = s.k[1];
  index_t used = 0;
  for (index_t i = 0; i < nrows * kh; ++i) {
    const index_t ih = tb.rows[r0 * kh + i];
    if (ih < 0) {
      local[i] = -1;
      continue;
    }
    if (slot_of[ih] < 0) {
      slot_of[ih] = used;
      transpose_tiled(xn + ih * W, H * W, band + used * W * C, C, C, W);
      ++used;
    }
    local[i] = slot_of[ih];
  }
  for (index_t i = 0; i < nrows * kh; ++i)
    if (local[i] >= 0) slot_of[tb.rows[r0 * kh + i]] = -1;
  return used;
}

// Channels-first depthwise for inputs with few channels, where a channels-last vector over C
// would be mostly empty: work items are (image, output channel, band of rows); every tap adds
// a scaled input row to the output row over the columns that lie inside the input (a
// contiguous loop for stride 1), and the padded columns at the row ends through the tables.
template <class T>
void depthwise_planar(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y) {
  const DepthwiseTables tb = depthwise_tables(s);
  const index_t OH = s.out[1], OW = s.out[2], kh = s.k[1], kw = s.k[2];
  const index_t H = s.in[1], W = s.in[2], C = s.C_in, Cm = s.C_out, m = Cm / C;
  const index_t sw = s.stride[2], dw = s.dil[2], pw = s.pad_lo[2];
  // about 16 KiB of output per item
  const index_t rb = band_rows(OH, OW * static_cast<index_t>(sizeof(T)), 16384);
  const index_t nrb = (OH + rb - 1) / rb;
  parallel_for(s.N * Cm * nrb, [&](index_t item) {
    const index_t plane = item / nrb, r0 = (item % nrb) * rb;
    const index_t r1 = r0 + rb < OH ? r0 + rb : OH;
    const index_t n = plane / Cm, oc = plane % Cm, c = oc / m;
    const T* xp = x + (n * C + c) * H * W;
    const T* wp = w + oc * kh * kw;
    T* yp = y + plane * OH * OW;
    const T b = bias ? bias[oc] : T(0);
    for (index_t oh = r0; oh < r1; ++oh) {
      T* __restrict yr = yp + oh * OW;
      for (index_t j = 0; j < OW; ++j) yr[j] = b;
      for (index_t th = 0; th < kh; ++th) {
        const index_t ih = tb.rows[oh * kh + th];
        if (ih < 0) continue;
        const T* __restrict xr = xp + ih * W;
        for (index_t tw = 0; tw < kw; ++tw) {
          const T wv = wp[th * kw + tw];
          index_t lo, hi;
          valid_out_range(W, OW, tw, sw, dw, pw, &lo, &hi);
          if (hi > lo) {
            const T* xi = xr + conv_in_index(lo, tw, sw, dw, pw);
            if (sw == 1) {
              CONVCORE_OMP_SIMD
              for (index_t j = 0; j < hi - lo; ++j) yr[lo + j] += wv * xi[j];
            } else {
              for (index_t j = 0; j < hi - lo; ++j) yr[lo + j] += wv * xi[j * sw];
            }
          } else {
            lo = hi = 0;
          }
          for (index_t j = 0; j < lo; ++j) {
            const index_t iw = tb.cols[j * kw + tw];
            if (iw >= 0) yr[j] += wv * xr[iw];
          }
          for (index_t j = hi; j < OW; ++j) {
            const index_t iw = tb.cols[j * kw + tw];
            if (iw >= 0) yr[j] += wv * xr[iw];
          }
        }
      }
      if (s.act != Activation::none)
        for (index_t j = 0; j < OW; ++j) yr[j] = apply_activation(s.act, yr[j]);
    }
  });
}

// Channels-first x and y, weights packed by depthwise_pack_weights: per band of output rows,
// gather the input rows it reads as channels-last rows, run the channels-last kernel into a
// channels-last band and transpose that into y. Neither x nor y is copied whole.
template <class T, class ISA = isa::scalar>
void depthwise_bands(const ConvSpec& s, const T* x, const T* wt, const T* bias, T* y) {
  const DepthwiseTables tb = depthwise_tables(s);
  const index_t OH = s.out[1], OW = s.out[2], Cm = s.C_out, kh = s.k[1];
  const index_t H = s.in[1], W = s.in[2], C = s.C_in, P = OH * OW;
  const index_t rb = depthwise_band_rows(s, sizeof(T));
  const index_t nrb = (OH + rb - 1) / rb;
  checked_bytes(checked_mul(rb * kh, W * C, "input band"), sizeof(T), "input band");
  parallel_for(s.N * nrb, [&](index_t item) {
    const index_t n = item / nrb, r0 = (item % nrb) * rb;
    const index_t r1 = r0 + rb < OH ? r0 + rb : OH;
    const index_t np = (r1 - r0) * OW;
    std::vector<index_t> slot_of(static_cast<std::size_t>(H), -1);
    std::vector<index_t> local(static_cast<std::size_t>((r1 - r0) * kh));
    auto xin = scratch<T>((r1 - r0) * kh * W * C);
    depthwise_gather_rows(s, tb, x + n * C * H * W, r0, r1 - r0, slot_of.data(), local.data(),
                          xin.get());
    auto band = scratch<T>(np * Cm);
    depthwise_rows<T, ISA>(s, local.data(), tb.cols.data(), xin.get(), wt, bias, r1 - r0,
                           band.get());
    T* yn = y + n * Cm * P + r0 * OW;
    transpose_tiled(band.get(), Cm, yn, P, np, Cm);
  });
}

// Bytes of a channel's padded input plane split in phase planes, as the flat planar kernel
// packs it (depthwise_planar_engine::run_flat).
inline index_t depthwise_flat_bytes(const ConvSpec& s, index_t elem) {
  const index_t Lp = s.out[2] + ((s.k[2] - 1) * s.dil[2]) / s.stride[2];
  const index_t Rp = s.out[1] + ((s.k[1] - 1) * s.dil[1]) / s.stride[1];
  return s.stride[1] * s.stride[2] * Rp * Lp * elem;
}

// Planes whose packed input fits in L1 (32 KiB) take the flat kernel: measured on the
// MobileNetV2 layers (Zen 4, f32, 1 thread), it beats the row kernel from 7x7 to 56x56 stride 1
// (0.96x..0.66x the time); at 112x112 the two tie and the packed plane no longer fits in L1.
constexpr index_t kDepthwiseFlatMaxBytes = 32768;
inline bool depthwise_flat_fits(const ConvSpec& s, index_t elem) {
  return depthwise_flat_bytes(s, elem) <= kDepthwiseFlatMaxBytes;
}

// Below this much estimated work (in lane multiply-adds, plus kDepthwisePlaneCost per plane
// for packing and writing it out; about 2 us on the reference VM) the flat kernel runs on the
// calling thread: waking a team costs a visible share of such a call. Measured from Python,
// 2 threads, calls in blocks interleaved with PyTorch's as the benchmark runs them: 2^16
// instead of 2^20 made 192@28 stride 2 1.6-1.9x faster, 64@28, 32@56 stride 2 and 96@14
// 1.3-1.5x, 160@7 even (the team is still awake from the call before).
constexpr index_t kDepthwiseSerialWork = index_t(1) << 16;
constexpr index_t kDepthwisePlaneCost = 2500;

// Vector level of the planar kernel: AVX-512 keeps 256-bit vectors, as filter2d.hpp measured
// on Zen 4 (512-bit operations split in two; wider border chunks for the same FMA rate).
template <class ISA>
struct depthwise_vec_isa {
  using type = ISA;
};
#if defined(CONVCORE_SIMD_AVX2)
template <>
struct depthwise_vec_isa<isa::avx512> {
  using type = isa::avx2;
};
#endif

// Channels-first depthwise of one ISA level. Small planes: run_flat (see its comment). Large
// planes, vectorised along output rows: work items are (image, output channel, band of output
// rows). Each item first copies the input rows its band reads into a padded band buffer
// (every padding mode resolved through pad_source_index, so the inner loop has no bounds),
// with the columns of each row split into `stride` phases (phase p holds padded columns
// p, p + sw, p + 2 sw, ...): a tap then reads a contiguous run of one phase whatever the
// stride. Per chunk of NV vectors of outputs the accumulators stay in registers over all
// kh x kw taps: one load and one FMA per tap and vector.
template <class T, class ISA>
struct depthwise_planar_engine {
  using VI = typename depthwise_vec_isa<ISA>::type;
  using V = vec<T, VI>;
  static constexpr index_t L = V::width;
  static constexpr int NV = 8;  // 8 FMA chains in flight (two FMA pipes, latency 4)
  static constexpr index_t CH = NV * L;
  static constexpr int NF = 8;  // vectors per flat chunk: 8 FMA chains in flight

  template <int NA>
  static void chunk(const T* band, index_t RW, index_t Lp, const index_t* toff, index_t kh,
                    index_t kw, index_t rstep, const T* wp, T b, T* out) {
    V acc[NA];
    for (int v = 0; v < NA; ++v) acc[v] = V::broadcast(b);
    for (index_t th = 0; th < kh; ++th) {
      const T* r = band + th * rstep * RW;
      for (index_t tw = 0; tw < kw; ++tw) {
        const V wv = V::broadcast(wp[th * kw + tw]);
        const T* src = r + toff[tw];
        for (int v = 0; v < NA; ++v) acc[v] = fma(wv, V::load(src + v * L), acc[v]);
      }
    }
    (void)Lp;
    for (int v = 0; v < NA; ++v) acc[v].store(out + v * L);
  }

  // chunk<nv> for a run-time nv in 1..NA: the remainder of a row needs up to NV vectors (a
  // fixed ladder of cases once stopped at 7 and left the last vector of 57..63-wide tails
  // unwritten).
  template <int NA>
  static void tail_chunk(index_t nv, const T* band, index_t RW, index_t Lp, const index_t* toff,
                         index_t kh, index_t kw, index_t rstep, const T* wp, T b, T* out) {
    if constexpr (NA > 1) {
      if (nv < NA) {
        tail_chunk<NA - 1>(nv, band, RW, Lp, toff, kh, kw, rstep, wp, b, out);
        return;
      }
    }
    chunk<NA>(band, RW, Lp, toff, kh, kw, rstep, wp, b, out);
  }

  // Per-thread buffers that outlive the call (no page faults per call): 0 the packed input,
  // 1 the flat accumulators.
  static T* buf(int slot, index_t n) {
    return thread_scratch<T, depthwise_planar_engine, 2>::get(slot, n);
  }

  // Column sources of the padded columns that the outputs read, split in sw phases of Lp
  // entries (phase p, entry j: padded column p + sw*j; -1 reads a zero), and per phase the
  // entries [lo, hi) that read input columns in place (inner[2p], inner[2p+1]).
  static void column_tables(const ConvSpec& s, index_t Lp, std::vector<index_t>& colsrc,
                            std::vector<index_t>& inner) {
    const index_t W = s.in[2], OW = s.out[2], kw = s.k[2];
    const index_t sw = s.stride[2], dw = s.dil[2], pw = s.pad_lo[2];
    const index_t Wp = (OW - 1) * sw + (kw - 1) * dw + 1;
    colsrc.assign(static_cast<std::size_t>(sw * Lp), -1);
    for (index_t p = 0; p < sw; ++p)
      for (index_t j = 0; j < Lp; ++j) {
        const index_t col = p + sw * j;
        colsrc[p * Lp + j] = col < Wp ? pad_source_index(col - pw, W, s.pad_mode) : -1;
      }
    inner.assign(static_cast<std::size_t>(2 * sw), 0);
    for (index_t p = 0; p < sw; ++p) {
      index_t lo = 0, hi = 0;
      while (lo < Lp && (p + sw * lo - pw < 0 || colsrc[p * Lp + lo] != p + sw * lo - pw)) ++lo;
      hi = lo;
      while (hi < Lp && p + sw * hi < Wp && p + sw * hi - pw < W && p + sw * hi - pw >= 0) ++hi;
      inner[2 * p] = lo;
      inner[2 * p + 1] = hi;
    }
  }

  // One input row xr (nullptr: a padding row of zeros) into its sw column phases, phase p at
  // dst + p * pstride, Lp entries each.
  static void pack_row(const T* xr, const index_t* colsrc, const index_t* inner, index_t sw,
                       index_t pw, index_t Lp, index_t pstride, T* dst) {
    for (index_t p = 0; p < sw; ++p) {
      T* __restrict dp = dst + p * pstride;
      if (!xr) {
        for (index_t k = 0; k < Lp; ++k) dp[k] = T(0);
        continue;
      }
      const index_t* cs = colsrc + p * Lp;
      const index_t lo = inner[2 * p], hi = inner[2 * p + 1];
      for (index_t j = 0; j < lo; ++j) dp[j] = cs[j] >= 0 ? xr[cs[j]] : T(0);
      for (index_t j = hi > lo ? hi : lo; j < Lp; ++j) dp[j] = cs[j] >= 0 ? xr[cs[j]] : T(0);
    }
    if (xr) interior_copy(xr, inner, sw, pw, pstride, dst);
  }

  // The entries [lo, hi) of every phase (inner[2p], inner[2p+1]), which read input columns in
  // place: padded column p + sw*j is input column p + sw*j - pw. At stride 2 the two phases'
  // runs usually interleave into one run of the input row, split in one pass (deinterleave).
  static void interior_copy(const T* xr, const index_t* inner, index_t sw, index_t pw,
                            index_t pstride, T* dst) {
    if (sw == 2) {
      const index_t lo0 = inner[0], n0 = inner[1] - lo0, lo1 = inner[2], n1 = inner[3] - lo1;
      const index_t st0 = -pw + 2 * lo0, st1 = 1 - pw + 2 * lo1;
      // e: the phase whose run starts first; o: the other, one input column later.
      const bool first0 = st0 < st1;
      const index_t ne = first0 ? n0 : n1, no = first0 ? n1 : n0;
      if (no > 0 && (first0 ? st1 - st0 : st0 - st1) == 1 && (ne == no || ne == no + 1)) {
        T* de = first0 ? dst + lo0 : dst + pstride + lo1;
        T* dO = first0 ? dst + pstride + lo1 : dst + lo0;
        const T* src = xr + (first0 ? st0 : st1);
        deinterleave(src, no, de, dO);
        if (ne > no) de[no] = src[2 * no];
        return;
      }
    }
    for (index_t p = 0; p < sw; ++p) {
      const index_t lo = inner[2 * p], hi = inner[2 * p + 1];
      if (hi > lo) strided_copy(xr + (p - pw) + sw * lo, sw, hi - lo, dst + p * pstride + lo);
    }
  }

  // e[j] = src[2j], o[j] = src[2j + 1] for j < n: shuffles of two loads per 8 floats (AVX2),
  // 4 floats or 2 doubles (SSE2) of each, the last group overlapping the one before.
  static void deinterleave(const T* __restrict src, index_t n, T* __restrict e,
                           T* __restrict o) {
#if defined(CONVCORE_SIMD_AVX2)
    // AVX2 and AVX-512 levels: 8 floats of each per step (two 256-bit loads, an in-lane
    // shuffle and a 64-bit lane permute per output).
    if (std::is_same<T, float>::value && n >= 8 &&
        (std::is_same<ISA, isa::avx2>::value || std::is_same<ISA, isa::avx512>::value)) {
      const float* sf = reinterpret_cast<const float*>(src);
      float* ef = reinterpret_cast<float*>(e);
      float* of = reinterpret_cast<float*>(o);
      for (index_t j = 0;; j += 8) {
        if (j + 8 > n) j = n - 8;
        const __m256 a = _mm256_loadu_ps(sf + 2 * j), b = _mm256_loadu_ps(sf + 2 * j + 8);
        const __m256d ev = _mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88));
        const __m256d od = _mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD));
        _mm256_storeu_ps(ef + j, _mm256_castpd_ps(_mm256_permute4x64_pd(ev, 0xD8)));
        _mm256_storeu_ps(of + j, _mm256_castpd_ps(_mm256_permute4x64_pd(od, 0xD8)));
        if (j + 8 >= n) return;
      }
    }
#endif
#if defined(CONVCORE_SIMD_SSE2)
    if (std::is_same<T, float>::value && n >= 4) {
      const float* sf = reinterpret_cast<const float*>(src);
      float* ef = reinterpret_cast<float*>(e);
      float* of = reinterpret_cast<float*>(o);
      for (index_t j = 0;; j += 4) {
        if (j + 4 > n) j = n - 4;
        const __m128 a = _mm_loadu_ps(sf + 2 * j), b = _mm_loadu_ps(sf + 2 * j + 4);
        _mm_storeu_ps(ef + j, _mm_shuffle_ps(a, b, 0x88));
        _mm_storeu_ps(of + j, _mm_shuffle_ps(a, b, 0xDD));
        if (j + 4 >= n) return;
      }
    }
    if (std::is_same<T, double>::value && n >= 2) {
      const double* sd = reinterpret_cast<const double*>(src);
      double* ed = reinterpret_cast<double*>(e);
      double* od = reinterpret_cast<double*>(o);
      for (index_t j = 0;; j += 2) {
        if (j + 2 > n) j = n - 2;
        const __m128d a = _mm_loadu_pd(sd + 2 * j), b = _mm_loadu_pd(sd + 2 * j + 2);
        _mm_storeu_pd(ed + j, _mm_unpacklo_pd(a, b));
        _mm_storeu_pd(od + j, _mm_unpackhi_pd(a, b));
        if (j + 2 >= n) return;
      }
    }
#endif
    for (index_t j = 0; j < n; ++j) {
      e[j] = src[2 * j];
      o[j] = src[2 * j + 1];
    }
  }

  // dst[0, n) = src[0, n) for short runs (rows of 7 or 14), without a scalar tail: whole
  // vectors with the last one overlapping, or, under one vector, two overlapping 4-float /
  // 2-double ones (a run-time length loop would become a call to memcpy per row).
  static void copy_run(const T* __restrict src, T* __restrict dst, index_t n) {
    if (n >= L) {
      // Straight-line code up to 4 vectors: compilers turn a copy loop into a call to memmove.
      if (n > 4 * L) {
        for (index_t j = 0; j + L < n; j += L) {
          V::load(src + j).store(dst + j);
#if defined(__GNUC__)
          __asm__ volatile("" : "+r"(j));  // an opaque index: no memmove call for this loop
#endif
        }
      } else if (n > 2 * L) {
        V::load(src).store(dst);
        V::load(src + L).store(dst + L);
        V::load(src + n - 2 * L).store(dst + n - 2 * L);
      } else {
        V::load(src).store(dst);
      }
      V::load(src + n - L).store(dst + n - L);
      return;
    }
    using H = vec<T, isa::scalar>;  // 16 bytes where the baseline has SSE2 or NEON
    constexpr index_t HL = H::width;
    if (HL < L && n >= HL) {
      H::load(src).store(dst);
      H::load(src + n - HL).store(dst + n - HL);
      return;
    }
    if (n > 0) dst[0] = src[0];
    if (n > 1) dst[1] = src[1];
    if (n > 2) dst[2] = src[2];
    for (index_t j = 3; j < n; ++j) dst[j] = src[j];
  }

  // dst[j] = src[sw * j] for j < n: copy_run for sw 1; for sw 2 (the deinterleave of every
  // stride-2 row) SSE shuffles of two loads per 4 floats / 2 doubles where the baseline has
  // SSE2, the last group loaded one element early and taking the odd lanes, so that nothing
  // past src[2 * (n - 1)] is read.
  static void strided_copy(const T* __restrict src, index_t sw, index_t n, T* __restrict dst) {
    if (sw == 1) {
      copy_run(src, dst, n);
      return;
    }
    index_t j = 0;
#if defined(CONVCORE_SIMD_SSE2)
    if (sw == 2) {
      if (std::is_same<T, float>::value && n > 4) {
        const float* sf = reinterpret_cast<const float*>(src);
        float* df = reinterpret_cast<float*>(dst);
        for (; j + 4 < n; j += 4)
          _mm_storeu_ps(df + j, _mm_shuffle_ps(_mm_loadu_ps(sf + 2 * j),
                                               _mm_loadu_ps(sf + 2 * j + 4), 0x88));
        const float* e = sf + 2 * n - 9;
        _mm_storeu_ps(df + n - 4, _mm_shuffle_ps(_mm_loadu_ps(e), _mm_loadu_ps(e + 4), 0xDD));
        return;
      }
      if (std::is_same<T, double>::value && n > 2) {
        const double* sd = reinterpret_cast<const double*>(src);
        double* dd = reinterpret_cast<double*>(dst);
        for (; j + 2 < n; j += 2)
          _mm_storeu_pd(dd + j, _mm_unpacklo_pd(_mm_loadu_pd(sd + 2 * j),
                                                _mm_loadu_pd(sd + 2 * j + 2)));
        const double* e = sd + 2 * n - 5;
        _mm_storeu_pd(dd + n - 2, _mm_unpackhi_pd(_mm_loadu_pd(e), _mm_loadu_pd(e + 2)));
        return;
      }
    }
#endif
    for (; j < n; ++j) dst[j] = src[sw * j];
  }

  // NA vectors of flat outputs, accumulated over the nt taps (flat offsets toff) in registers.
  template <int NA>
  static void flat_chunk(const T* src, const index_t* toff, index_t nt, const T* wp, T b,
                         T* out) {
    V acc[NA];
    for (int v = 0; v < NA; ++v) acc[v] = V::broadcast(b);
    for (index_t t = 0; t < nt; ++t) {
      const V wv = V::broadcast(wp[t]);
      const T* p = src + toff[t];
      for (int v = 0; v < NA; ++v) acc[v] = fma(wv, V::load(p + v * L), acc[v]);
    }
    for (int v = 0; v < NA; ++v) acc[v].store(out + v * L);
  }

  // What flat_planes needs, passed by value: its fields are then locals that no store can
  // alias (the vector stores of intrinsics may alias anything, and values read through a
  // captured reference would be reloaded after each one).
  struct FlatArgs {
    const T *x, *w, *bias;
    T* y;
    const index_t *colsrc, *inner, *rowsrc, *toff;
    index_t C, Cm, m, HW, W, OH, OW, sh, sw, pw, Rp, Lp, PS, bsz, nvec, nt;
    Activation act;
    bool zeros;
    std::uint64_t call;  // distinct per run_flat call (see flat_planes)
  };

  // Planes [q0, q1) of run_flat (plane = image * Cm + output channel).
  static void flat_planes(const FlatArgs g, index_t q0, index_t q1) {
    T* band = buf(0, g.bsz);
    T* acc = buf(1, g.nvec * L);
    // Zero padding: the padded entries are the same zeros for every plane, so they are
    // cleared once per thread and call (the first item a thread runs) and each plane copies
    // only its rows' interior runs (only the entries that no plane writes: whole padding
    // rows, the columns outside each phase's interior run, and the slack after the phase
    // planes). Per item, the two short clears per row were 8% of a 144@56 layer.
    static thread_local std::uint64_t cleared_call = 0;
    static thread_local const T* cleared_band = nullptr;
    if (cleared_call != g.call || cleared_band != band) {
      clear_padding(g, band);
      cleared_call = g.call;
      cleared_band = band;
    }
    flat_items(g, band, acc, q0, q1);
  }

  static void clear_padding(const FlatArgs& g, T* band) {
    if (g.zeros) {
      for (index_t a = 0; a < g.sh; ++a)
        for (index_t i = 0; i < g.Rp; ++i) {
          const bool pad_row = g.rowsrc[a * g.Rp + i] < 0;
          for (index_t p = 0; p < g.sw; ++p) {
            T* dp = band + (a * g.sw + p) * g.PS + i * g.Lp;
            const index_t lo = pad_row ? g.Lp : g.inner[2 * p];
            const index_t hi = pad_row ? g.Lp : g.inner[2 * p + 1];
            for (index_t j = 0; j < lo; ++j) dp[j] = T(0);
            for (index_t j = hi > lo ? hi : lo; j < g.Lp; ++j) dp[j] = T(0);
          }
        }
    }
    for (index_t k = g.sh * g.sw * g.PS; k < g.bsz; ++k) band[k] = T(0);
  }

  static void flat_items(const FlatArgs& g, T* band, T* acc, index_t q0, index_t q1) {
    index_t n = q0 / g.Cm, oc = q0 % g.Cm;
    for (index_t plane = q0; plane < q1; ++plane) {
      const T* xp = g.x + (n * g.C + oc / g.m) * g.HW;
      for (index_t a = 0; a < g.sh; ++a)
        for (index_t i = 0; i < g.Rp; ++i) {
          const index_t ih = g.rowsrc[a * g.Rp + i];
          T* dst = band + (a * g.sw) * g.PS + i * g.Lp;
          if (!g.zeros) {
            pack_row(ih >= 0 ? xp + ih * g.W : nullptr, g.colsrc, g.inner, g.sw, g.pw, g.Lp,
                     g.PS, dst);
            continue;
          }
          if (ih >= 0) interior_copy(xp + ih * g.W, g.inner, g.sw, g.pw, g.PS, dst);
        }
      const T* wp = g.w + oc * g.nt;
      const T b = g.bias ? g.bias[oc] : T(0);
      const index_t nvec = g.nvec, nt = g.nt;
      const index_t* toff = g.toff;
      index_t v = 0;
      for (; v + NF <= nvec; v += NF) flat_chunk<NF>(band + v * L, toff, nt, wp, b, acc + v * L);
      switch (nvec - v) {
        case 0: break;
        case 1: flat_chunk<1>(band + v * L, toff, nt, wp, b, acc + v * L); break;
        case 2: flat_chunk<2>(band + v * L, toff, nt, wp, b, acc + v * L); break;
        case 3: flat_chunk<3>(band + v * L, toff, nt, wp, b, acc + v * L); break;
        case 4: flat_chunk<4>(band + v * L, toff, nt, wp, b, acc + v * L); break;
        case 5: flat_chunk<5>(band + v * L, toff, nt, wp, b, acc + v * L); break;
        case 6: flat_chunk<6>(band + v * L, toff, nt, wp, b, acc + v * L); break;
        default: flat_chunk<7>(band + v * L, toff, nt, wp, b, acc + v * L); break;
      }
      T* yp = g.y + plane * g.OH * g.OW;
      if (g.act != Activation::none) {
        for (index_t oh = 0; oh < g.OH; ++oh)
          for (index_t j = 0; j < g.OW; ++j)
            yp[oh * g.OW + j] = apply_activation(g.act, acc[oh * g.Lp + j]);
      } else {
        for (index_t oh = 0; oh < g.OH; ++oh) copy_run(acc + oh * g.Lp, yp + oh * g.OW, g.OW);
      }
      if (++oc == g.Cm) {
        oc = 0;
        ++n;
      }
    }
  }

  // Small planes: the whole padded input plane of a channel, split in sh x sw phase planes
  // (row phase a, column phase b holds padded rows a + sh*i, columns b + sw*j; Rp rows of Lp
  // entries each), so that every tap reads one contiguous run of the flattened phase plane:
  // output (oh, ow) at flat q = oh*Lp + ow reads phase plane ((th*dh)%sh, (tw*dw)%sw) at
  // q + ((th*dh)/sh)*Lp + (tw*dw)/sw. Vectors then run over the whole plane, across rows, and
  // only the qmax columns per row past OW are wasted lanes; rows of 7 or 14 outputs fill
  // vectors as well as long rows do. Work items are runs of whole planes.
  static void run_flat(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y) {
    const index_t OH = s.out[1], OW = s.out[2], kh = s.k[1], kw = s.k[2], nt = kh * kw;
    const index_t H = s.in[1], W = s.in[2], C = s.C_in, Cm = s.C_out, m = Cm / C;
    const index_t sh = s.stride[1], sw = s.stride[2], dh = s.dil[1], dw = s.dil[2];
    const index_t ph = s.pad_lo[1], pw = s.pad_lo[2];
    const index_t Lp = OW + ((kw - 1) * dw) / sw, Rp = OH + ((kh - 1) * dh) / sh;
    const index_t PS = Rp * Lp, NQ = (OH - 1) * Lp + OW, nvec = (NQ + L - 1) / L;
    const index_t Hp = (OH - 1) * sh + (kh - 1) * dh + 1;
    std::vector<index_t> colsrc, inner;
    column_tables(s, Lp, colsrc, inner);
    std::vector<index_t> rowsrc(static_cast<std::size_t>(sh * Rp));
    for (index_t a = 0; a < sh; ++a)
      for (index_t i = 0; i < Rp; ++i) {
        const index_t r = a + sh * i;
        rowsrc[a * Rp + i] = r < Hp ? pad_source_index(r - ph, H, s.pad_mode) : -1;
      }
    std::vector<index_t> toff(static_cast<std::size_t>(nt));
    for (index_t th = 0; th < kh; ++th)
      for (index_t tw = 0; tw < kw; ++tw)
        toff[th * kw + tw] = (((th * dh) % sh) * sw + (tw * dw) % sw) * PS +
                             ((th * dh) / sh) * Lp + (tw * dw) / sw;
    // The last vector may read up to L - 1 entries past the phase planes (garbage lanes only).
    const index_t bsz = sh * sw * PS + L;
    const index_t planes = s.N * Cm;
    // Planes per work item: about 8 KiB of output.
    const index_t pp = band_rows(planes, OH * OW * static_cast<index_t>(sizeof(T)), 8192);
    const index_t items = (planes + pp - 1) / pp;
    static std::atomic<std::uint64_t> calls{0};
    FlatArgs g{x, w, bias, y, colsrc.data(), inner.data(), rowsrc.data(), toff.data(),
               C, Cm, m, H * W, W, OH, OW, sh, sw, pw, Rp, Lp, PS, bsz, nvec, nt, s.act,
               s.pad_mode == PadMode::zeros, ++calls};
    auto body = [&](index_t item) {
      const index_t q0 = item * pp;
      flat_planes(g, q0, q0 + pp < planes ? q0 + pp : planes);
    };
    if (planes * (nvec * L * nt + kDepthwisePlaneCost) < kDepthwiseSerialWork) {
      for (index_t i = 0; i < items; ++i) body(i);
    } else {
      // Equal items, but dynamic: a thread woken late or preempted (a shared machine) leaves
      // its items to the others instead of holding up the call.
      parallel_for_dynamic(items, body);
    }
  }

  static void run(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y) {
    if (depthwise_flat_fits(s, sizeof(T))) {
      run_flat(s, x, w, bias, y);
      return;
    }
    const index_t OH = s.out[1], OW = s.out[2], kh = s.k[1], kw = s.k[2];
    const index_t H = s.in[1], W = s.in[2], C = s.C_in, Cm = s.C_out, m = Cm / C;
    const index_t sh = s.stride[1], sw = s.stride[2], dh = s.dil[1], dw = s.dil[2];
    const index_t ph = s.pad_lo[1], pw = s.pad_lo[2];
    // Padded columns the outputs read, split in sw phases of Lp entries; each phase row is
    // long enough for whole vectors past the last output (zeros there).
    const index_t OWr = (OW + L - 1) / L * L;
    const index_t qmax = ((kw - 1) * dw) / sw;
    const index_t Lp = OWr + qmax;
    const index_t RW = sw * Lp;
    std::vector<index_t> colsrc, inner;
    column_tables(s, Lp, colsrc, inner);
    std::vector<index_t> toff(static_cast<std::size_t>(kw));
    for (index_t tw = 0; tw < kw; ++tw) toff[tw] = ((tw * dw) % sw) * Lp + (tw * dw) / sw;
    // Rows per item: about 16 KiB of output; the band buffer is (rb-1)*sh + (kh-1)*dh + 1 rows.
    const index_t rb = band_rows(OH, OW * static_cast<index_t>(sizeof(T)), 16384);
    const index_t nrb = (OH + rb - 1) / rb;
    parallel_for(s.N * Cm * nrb, [&](index_t item) {
      const index_t plane = item / nrb, r0 = (item % nrb) * rb;
      const index_t r1 = r0 + rb < OH ? r0 + rb : OH;
      const index_t n = plane / Cm, oc = plane % Cm, c = oc / m;
      const T* xp = x + (n * C + c) * H * W;
      const T* wp = w + oc * kh * kw;
      T* yp = y + plane * OH * OW;
      const T b = bias ? bias[oc] : T(0);
      const index_t npr = (r1 - 1 - r0) * sh + (kh - 1) * dh + 1;
      T* const band = buf(0, npr * RW);
      for (index_t i = 0; i < npr; ++i) {
        T* __restrict dst = band + i * RW;
        const index_t ih = pad_source_index(r0 * sh + i - ph, H, s.pad_mode);
        pack_row(ih >= 0 ? xp + ih * W : nullptr, colsrc.data(), inner.data(), sw, pw, Lp, Lp,
                 dst);
      }
      T tail[CH];
      for (index_t oh = r0; oh < r1; ++oh) {
        const T* brow = band + (oh - r0) * sh * RW;
        T* yr = yp + oh * OW;
        index_t ow = 0;
        for (; ow + CH <= OW; ow += CH)
          chunk<NV>(brow + ow, RW, Lp, toff.data(), kh, kw, dh, wp, b, yr + ow);
        // The rest (under CH outputs) as one chunk of as many vectors as needed, so that
        // several accumulator chains still hide the FMA latency.
        const index_t rem = OW - ow, nv = (rem + L - 1) / L;
        if (rem > 0) {
          T* dst = rem == nv * L ? yr + ow : tail;
          tail_chunk<NV>(nv, brow + ow, RW, Lp, toff.data(), kh, kw, dh, wp, b, dst);
          if (dst == tail)
            for (index_t j = 0; j < rem; ++j) yr[ow + j] = tail[j];
        }
        if (s.act != Activation::none)
          for (index_t j = 0; j < OW; ++j) yr[j] = apply_activation(s.act, yr[j]);
      }
    });
  }
};

// Below this many input channels a channels-first input takes depthwise_planar.
constexpr index_t kDepthwisePlanarMaxChannels = 16;

// Channels-first input: the planar kernel (flat for small planes, rows for large ones). The
// channels-last band path (depthwise_bands) is left for large planes of short output rows,
// where the row kernel's vectors would be mostly empty.
inline bool depthwise_planar_wins(const ConvSpec& s, index_t elem) {
  return s.C_in < kDepthwisePlanarMaxChannels || depthwise_flat_fits(s, elem) ||
         s.out[2] >= 16 || (s.out[2] >= 12 && s.stride[2] == 1);
}

}  // namespace kernels
}  // namespace convcore
