// Deformable convolution (DCNv1, and DCNv2 with a mask): every tap of every output pixel reads
// the input at a learned fractional position by bilinear interpolation (core/bilinear.hpp).
//
// Two kernels:
//  * deform_reference: the definition, one output at a time, double accumulation. The oracle
//    the fast kernel is tested against (algorithm="reference").
//  * deform_tiled: the fast one. Per (image, tile of P output pixels, channel chunk):
//      1. for each offset group and tap, the sample of every pixel of the tile is computed ONCE
//         (a corner index and four bilinear weights with the mask folded in) and shared by all
//         channels of the offset group — torchvision recomputes it per channel;
//      2. the channel chunk is sampled into a column tile (cb*kh*kw rows x P pixels), stored
//         already packed in NR-wide column panels, so it never goes through memory in the
//         im2col layout and the matrix product reads it contiguously;
//      3. deform_tile_product multiplies the group's packed weights by that tile and adds the
//         result into the output (register-blocked MR x NR, written for auto-vectorisation).
//    The gathers themselves stay scalar: GCC does not vectorise them, and a hardware gather of
//    8 lanes costs about as much as 8 scalar loads on current x86 cores. What is shared
//    instead: each sample record (corner index + 4 weights, mask folded in) is loaded once for
//    4 channels of its offset group (deform_sample<T, 4>).
//    Gathers read a zero-bordered copy of x (one zero row/column around each plane, plus one
//    extra zero row below it), so the four corners of any sample are read without a bounds
//    test: corners outside the image read 0 exactly as torchvision's per-corner tests, and
//    samples that are 0 (outside, or +-inf) point at an all-zero 2x2 block with zero weights.
//
// Workspace of deform_tiled (freed before returning):
//  * the zero-bordered copy of x, N*C_in*(H+3)*(W+2) elements (about the size of x);
//  * the packed weights, groups*ceil(C_out/groups / MR)*MR*(C_in/groups)*kh*kw elements
//    (about the size of w);
//  * per thread: the column tile, cb*kh*kw*P elements with P <= 128 pixels and cb channels
//    chosen so that cb*kh*kw <= 256 rows (one 64-byte-wide panel of it is 16 KiB and stays in
//    L1 during the product): at most 128 KiB, unless one channel's kh*kw taps alone exceed 256
//    rows (then kh*kw*P elements); plus the sample records kh*kw*P*(8 + 4*sizeof(T)) bytes
//    (27 KiB for 3x3 float). Nothing scales with the image beyond the bordered copy.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

#include "../core/bilinear.hpp"
#include "../core/checked.hpp"
#include "../core/deform_spec.hpp"
#include "../core/geometry.hpp"
#include "../core/parallel.hpp"
#include "../core/simd.hpp"

namespace convcore {

namespace kernels {

// ---------------------------------------------------------------------------------------------
// Reference: the definition. x is channels-first (N, C_in, H, W) contiguous here; offset, mask
// and y follow the spec's layout.
template <class T>
void deform_reference(const DeformSpec& s, const T* x, const T* offset, const T* mask,
                      const T* w, const T* bias, T* y) {
  const index_t kk = s.kk(), cpg = s.cin_per_group(), opg = s.cout_per_group();
  const index_t cpog = s.cin_per_offset_group(), OP = s.out_pixels();
  index_t on, oc_, op_, mn, mc, mp, yn, yc, yp;
  s.strides(2 * s.offset_groups * kk, OP, &on, &oc_, &op_);
  s.strides(s.offset_groups * kk, OP, &mn, &mc, &mp);
  s.strides(s.C_out, OP, &yn, &yc, &yp);
  parallel_for(s.N * s.C_out, [&](index_t item) {
    const index_t n = item / s.C_out, oc = item % s.C_out, g = oc / opg;
    for (index_t oy = 0; oy < s.out_h; ++oy)
      for (index_t ox = 0; ox < s.out_w; ++ox) {
        const index_t p = oy * s.out_w + ox;
        double acc = bias ? static_cast<double>(bias[oc]) : 0.0;
        for (index_t cl = 0; cl < cpg; ++cl) {
          const index_t c = g * cpg + cl, og = c / cpog;
          const T* plane = x + (n * s.C_in + c) * s.in_pixels();
          for (index_t i = 0; i < s.kh; ++i)
            for (index_t j = 0; j < s.kw; ++j) {
              const index_t tap = i * s.kw + j;
              const index_t ch = og * 2 * kk + 2 * tap;
              const T dy = offset[n * on + ch * oc_ + p * op_];
              const T dx = offset[n * on + (ch + 1) * oc_ + p * op_];
              const T sy = deform_coord<T>(oy, i, s.stride_h, s.dil_h, s.pad_h, dy);
              const T sx = deform_coord<T>(ox, j, s.stride_w, s.dil_w, s.pad_w, dx);
              T v = bilinear_value(plane, s.H, s.W, sy, sx);
              if (mask) v = mask[n * mn + (og * kk + tap) * mc + p * mp] * v;
              acc += static_cast<double>(w[(oc * cpg + cl) * kk + tap]) * static_cast<double>(v);
            }
        }
        y[n * yn + oc * yc + p * yp] = static_cast<T>(acc);
      }
  });
}

// ---------------------------------------------------------------------------------------------
// Fast tiled kernel.

#ifndef CONVCORE_DEFORM_PANEL_BYTES
// One NR-wide column panel (K rows) of the tile stays in L1 while the weight panels stream
// past it: K * NR * sizeof(T) <= this, i.e. K <= 256 rows for NR * sizeof(T) = 64 bytes.
#define CONVCORE_DEFORM_PANEL_BYTES (16 * 1024)
#endif
#ifndef CONVCORE_DEFORM_TILE_PIXELS
#define CONVCORE_DEFORM_TILE_PIXELS 128
#endif
constexpr std::size_t kDeformPanelBytes = CONVCORE_DEFORM_PANEL_BYTES;
constexpr long long kDeformTilePixels = CONVCORE_DEFORM_TILE_PIXELS;

template <class T>
struct DeformBlocking {
  static constexpr int MR = 6;                            // output channels per register block
  static constexpr int NR = static_cast<int>(64 / sizeof(T));  // pixels per block: 64 bytes
};

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define CONVCORE_DEFORM_X86 1
#define CONVCORE_DEFORM_INLINE inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define CONVCORE_DEFORM_INLINE __forceinline
#else
#define CONVCORE_DEFORM_INLINE inline
#endif

namespace detail {
// The register block: acc[MR][NR] += a[k][MR] (x) b[k][NR] over k. Fixed trip counts and a
// local accumulator array that the compiler keeps in vector registers; always inlined so that
// it is compiled for the ISA of its caller (see deform_tile_product).
template <class T, int MR, int NR, class ISA>
CONVCORE_DEFORM_INLINE void deform_block(index_t K, const T* a, const T* b, T* out) {
#if defined(__GNUC__)
  // GCC/Clang vector extension: 32-byte vectors (one AVX register, two SSE registers). Left to
  // itself GCC vectorises this nest along k with shuffles, which is slower than scalar code.
  constexpr int L = static_cast<int>(32 / sizeof(T)), NV = NR / L;
  static_assert(NR % L == 0, "NR must be a multiple of the vector length");
  // V (unaligned, may_alias) only for loads and stores through pointers; locals are VR,
  // naturally aligned, so that a spill never gets an aligned move to an under-aligned slot.
  typedef T V __attribute__((vector_size(32), aligned(sizeof(T)), may_alias));
  typedef T VR __attribute__((vector_size(32)));
  VR acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = VR{};
  for (index_t k = 0; k < K; ++k) {
    VR bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = *reinterpret_cast<const V*>(b + k * NR + v * L);
    const T* ak = a + k * MR;
    for (int i = 0; i < MR; ++i) {
      const T ai = ak[i];  // scalar * vector: a broadcast
      for (int v = 0; v < NV; ++v) acc[i][v] += ai * bv[v];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) *reinterpret_cast<V*>(out + i * NR + v * L) = acc[i][v];
#else
  T acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = T(0);
  for (index_t k = 0; k < K; ++k) {
    const T* bk = b + k * NR;
    const T* ak = a + k * MR;
    for (int i = 0; i < MR; ++i) {
      const T ai = ak[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bk[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) out[i * NR + j] = acc[i][j];
#endif
}

template <class T, class ISA>
CONVCORE_DEFORM_INLINE void deform_tile_product_body(index_t M, index_t P, index_t K,
                                                     index_t K_total, index_t k0, const T* wp,
                                                     const T* col, const T* bias, bool first,
                                                     T* y, index_t yc, index_t yp) {
  constexpr int MR = DeformBlocking<T>::MR, NR = DeformBlocking<T>::NR;
  const index_t nob = (M + MR - 1) / MR, npb = (P + NR - 1) / NR;
  alignas(64) T acc[MR * NR];
  for (index_t pb = 0; pb < npb; ++pb) {
    const T* cp = col + pb * K * NR;
    const index_t pn = P - pb * NR < NR ? P - pb * NR : NR;
    for (index_t ob = 0; ob < nob; ++ob) {
      deform_block<T, MR, NR, ISA>(K, wp + (ob * K_total + k0) * MR, cp, acc);
      const index_t mn = M - ob * MR < MR ? M - ob * MR : MR;
      for (index_t i = 0; i < mn; ++i) {
        const index_t o = ob * MR + i;
        T* yo = y + o * yc + pb * NR * yp;
        const T* ai = acc + i * NR;
        if (first) {
          const T b0 = bias ? bias[o] : T(0);
          for (index_t j = 0; j < pn; ++j) yo[j * yp] = b0 + ai[j];
        } else {
          for (index_t j = 0; j < pn; ++j) yo[j * yp] += ai[j];
        }
      }
    }
  }
}

}  // namespace detail

// acc(M x P-tile) = Wpanel x Cpanel, added into y. The one matrix-product routine of the
// deformable kernel (so a packed SIMD GEMM can replace it in one place). Compiled per ISA level
// as part of deform_tiled<T, ISA>, a kernel-table entry (table.hpp): the level's translation
// unit (cpp/src/isa_*.cpp) gives it its vector instructions.
//   wp:   packed weights of the group, [nob][K_total][MR], rows k0..k0+K of each block used;
//   col:  packed column tile, [npb][K][NR];
//   y:    output of this image at pixel p0 and group channel 0; yc / yp its channel / pixel
//         strides; M output channels, P valid pixels; `first` writes bias (or 0) + product,
//         otherwise adds the product.
template <class T, class ISA>
void deform_tile_product(index_t M, index_t P, index_t K, index_t K_total, index_t k0,
                         const T* wp, const T* col, const T* bias, bool first, T* y, index_t yc,
                         index_t yp) {
  detail::deform_tile_product_body<T, ISA>(M, P, K, K_total, k0, wp, col, bias, first, y, yc,
                                           yp);
}

namespace detail {
// Bilinear samples of NC consecutive channels (planes `plane` apart, starting at xc) for every
// tap and pixel of the tile, from the shared records, into rows k0 + u*kk + tap of the packed
// column tile ([P/NR][K][NR]).
template <class T, int NC, int NR>
CONVCORE_DEFORM_INLINE void deform_sample(const T* xc, index_t plane, const index_t* ridx,
                                          const T* rw, index_t kk, index_t P, index_t Wp, T* col,
                                          index_t K, index_t k0) {
  const index_t npb = P / NR;
  for (index_t tap = 0; tap < kk; ++tap) {
    const index_t* ri = ridx + tap * P;
    const T* r0 = rw + (4 * tap) * P;
    const T *r1 = r0 + P, *r2 = r1 + P, *r3 = r2 + P;
    for (index_t pb = 0; pb < npb; ++pb) {
      T* dst = col + (pb * K + k0 + tap) * NR;
      const index_t qb = pb * NR;
      for (int q = 0; q < NR; ++q) {
        const index_t i = ri[qb + q];
        const T w0 = r0[qb + q], w1 = r1[qb + q], w2 = r2[qb + q], w3 = r3[qb + q];
        for (int u = 0; u < NC; ++u) {
          const T* a = xc + u * plane + i;
          dst[u * kk * NR + q] = w0 * a[0] + w1 * a[1] + w2 * a[Wp] + w3 * a[Wp + 1];
        }
      }
    }
  }
}
}  // namespace detail

// Column tile geometry: P pixels (a multiple of NR) and cb channels per chunk of a group.
struct DeformTiles {
  index_t P, cb, nchunks, ntiles;
};

// `threads`: tiles shrink (down to 2*NR pixels) until there are two work items per thread.
template <class T>
DeformTiles deform_tiles(const DeformSpec& s, index_t threads) {
  constexpr index_t NR = DeformBlocking<T>::NR;
  DeformTiles t;
  const index_t OP = s.out_pixels();
  const index_t pmax = kDeformTilePixels;
  t.P = ((OP < pmax ? OP : pmax) + NR - 1) / NR * NR;
  while (t.P > 2 * NR && s.N * ((OP + t.P - 1) / t.P) < 2 * threads) t.P -= NR;
  const index_t cpg = s.cin_per_group();
  index_t cbmax = static_cast<index_t>(kDeformPanelBytes / (sizeof(T) * NR)) / s.kk();
  if (cbmax < 1) cbmax = 1;
  t.nchunks = (cpg + cbmax - 1) / cbmax;
  t.cb = (cpg + t.nchunks - 1) / t.nchunks;  // even chunks
  t.ntiles = (OP + t.P - 1) / t.P;
  return t;
}

// The weights as deform_tile_product reads them: per group and block of MR output channels,
// [K_total][MR], zero rows past the group's last channel. They depend on the groups, channels
// and kernel size only (MR is per type, not per level), so a plan packs them once
// (ops/deform_conv.hpp, DeformConvWeights).
template <class T>
index_t deform_packed_size(const DeformSpec& s) {
  constexpr int MR = DeformBlocking<T>::MR;
  const index_t nob = (s.cout_per_group() + MR - 1) / MR;
  return static_cast<index_t>(
      checked_bytes(checked_mul(s.groups * nob * MR, s.cin_per_group() * s.kk(), "packed w"),
                    sizeof(T), "packed w") / sizeof(T));
}
template <class T>
void deform_pack_weights(const DeformSpec& s, const T* w, T* dst) {
  constexpr int MR = DeformBlocking<T>::MR;
  const index_t opg = s.cout_per_group(), K_total = s.cin_per_group() * s.kk();
  const index_t nob = (opg + MR - 1) / MR, total = deform_packed_size<T>(s);
  for (index_t i = 0; i < total; ++i) dst[i] = T(0);
  parallel_for(s.groups * opg, [&](index_t go) {
    const index_t g = go / opg, o = go % opg;
    const T* src = w + (g * opg + o) * K_total;
    T* d = dst + ((g * nob + o / MR) * K_total) * MR + o % MR;
    for (index_t k = 0; k < K_total; ++k) d[k * MR] = src[k];
  });
}

// x: the input in the spec's layout (N, C, H, W) or (N, H, W, C); y likewise. wpacked: w as
// deform_pack_weights leaves it, or null (packed here, for this call).
template <class T, class ISA = isa::scalar>
void deform_tiled(const DeformSpec& s, const T* x, const T* offset, const T* mask, const T* w,
                  const T* wpacked, const T* bias, T* y) {
  constexpr int MR = DeformBlocking<T>::MR, NR = DeformBlocking<T>::NR;
  const index_t kk = s.kk(), cpg = s.cin_per_group(), opg = s.cout_per_group();
  const index_t cpog = s.cin_per_offset_group(), OP = s.out_pixels();
  const index_t H = s.H, W = s.W, Wp = W + 2, plane = checked_mul(H + 3, Wp, "x plane");
  const index_t zero_block = (H + 1) * Wp;  // rows H+1, H+2: all zero
  const DeformTiles t = deform_tiles<T>(s, get_num_threads());

  // Zero-bordered, channels-first copy of x. Not value-initialised: every element is written
  // once by the parallel loop (row r of every plane, plus the top border row with r == 0 and
  // the two bottom rows with r == H - 1).
  const index_t xpad_n = static_cast<index_t>(
      checked_bytes(checked_mul(s.N * s.C_in, plane, "bordered x"), sizeof(T),
                    "bordered copy of x") / sizeof(T));
  std::unique_ptr<T[]> xpad(new T[static_cast<std::size_t>(xpad_n)]);
  if (H == 0)  // no rows to copy (an empty image with padding): the planes are all border
    for (index_t i = 0; i < xpad_n; ++i) xpad[i] = T(0);
  parallel_for(s.N * H, [&](index_t item) {
    const index_t n = item / H, r = item % H;
    for (index_t c = 0; c < s.C_in; ++c) {
      T* pl = xpad.get() + (n * s.C_in + c) * plane;
      if (r == 0)
        for (index_t q = 0; q < Wp; ++q) pl[q] = T(0);
      if (r == H - 1)
        for (index_t q = (H + 1) * Wp; q < plane; ++q) pl[q] = T(0);
      T* d = pl + (r + 1) * Wp + 1;
      d[-1] = T(0);
      d[W] = T(0);
      if (s.channels_last) {
        const T* src = x + ((n * H + r) * W) * s.C_in + c;
        for (index_t q = 0; q < W; ++q) d[q] = src[q * s.C_in];
      } else {
        const T* src = x + ((n * s.C_in + c) * H + r) * W;
        for (index_t q = 0; q < W; ++q) d[q] = src[q];
      }
    }
  });

  const index_t K_total = cpg * kk, nob = (opg + MR - 1) / MR;
  std::vector<T> wpk;
  if (!wpacked) {
    wpk.resize(static_cast<std::size_t>(deform_packed_size<T>(s)));
    deform_pack_weights(s, w, wpk.data());
    wpacked = wpk.data();
  }

  index_t on, oc_, op_, mn, mc, mp, yn, yc, yp;
  s.strides(2 * s.offset_groups * kk, OP, &on, &oc_, &op_);
  s.strides(s.offset_groups * kk, OP, &mn, &mc, &mp);
  s.strides(s.C_out, OP, &yn, &yc, &yp);

  const index_t items = s.N * t.ntiles;
  index_t nthreads = get_num_threads();
  if (nthreads > items) nthreads = items;
  if (nthreads < 1) nthreads = 1;
  const index_t P = t.P;
  parallel_for(nthreads, [&](index_t tid) {
    std::vector<T> col(static_cast<std::size_t>(t.cb * kk * P));
    std::vector<index_t> ridx(static_cast<std::size_t>(kk * P));
    std::vector<T> rw(static_cast<std::size_t>(4 * kk * P));
    const index_t i0 = items * tid / nthreads, i1 = items * (tid + 1) / nthreads;
    for (index_t item = i0; item < i1; ++item) {
      const index_t n = item / t.ntiles, p0 = (item % t.ntiles) * P;
      const index_t pv = OP - p0 < P ? OP - p0 : P;  // valid pixels of this tile
      index_t cur_og = -1;
      const T* xn = xpad.get() + n * s.C_in * plane;
      for (index_t g = 0; g < s.groups; ++g) {
        for (index_t c0 = 0; c0 < cpg; c0 += t.cb) {
          const index_t cb = cpg - c0 < t.cb ? cpg - c0 : t.cb, K = cb * kk;
          for (index_t cl = 0; cl < cb;) {
            const index_t c = g * cpg + c0 + cl, og = c / cpog;
            if (og != cur_og) {  // samples of this offset group, for every tap and pixel
              cur_og = og;
              for (index_t tap = 0; tap < kk; ++tap) {
                const index_t i = tap / s.kw, j = tap % s.kw;
                const T* offy = offset + n * on + (og * 2 * kk + 2 * tap) * oc_;
                const T* offx = offy + oc_;
                const T* mk = mask ? mask + n * mn + (og * kk + tap) * mc : nullptr;
                index_t* ri = ridx.data() + tap * P;
                T* r0 = rw.data() + (4 * tap) * P;
                T *r1 = r0 + P, *r2 = r1 + P, *r3 = r2 + P;
                for (index_t q = 0; q < P; ++q) {
                  if (q >= pv) {
                    ri[q] = zero_block;
                    r0[q] = r1[q] = r2[q] = r3[q] = T(0);
                    continue;
                  }
                  const index_t p = p0 + q, oy = p / s.out_w, ox = p % s.out_w;
                  const T sy = deform_coord<T>(oy, i, s.stride_h, s.dil_h, s.pad_h, offy[p * op_]);
                  const T sx = deform_coord<T>(ox, j, s.stride_w, s.dil_w, s.pad_w, offx[p * op_]);
                  const BilinearSample<T> b = bilinear_sample(sy, sx, H, W);
                  const T m = mk ? mk[p * mp] : T(1);
                  if (b.inside) {
                    ri[q] = (b.y0 + 1) * Wp + (b.x0 + 1);
                    r0[q] = b.w00 * m;
                    r1[q] = b.w01 * m;
                    r2[q] = b.w10 * m;
                    r3[q] = b.w11 * m;
                  } else {
                    // 0, or NaN for a NaN coordinate; times the mask as torchvision does.
                    const T v = b.is_nan ? (sy + sx) * m : T(0) * m;
                    ri[q] = zero_block;
                    r0[q] = r1[q] = r2[q] = r3[q] = v;
                  }
                }
              }
            }
            // Sample channels c.. (up to 4 of this offset group) into rows cl*kk.. of the
            // packed column tile; the records are loaded once for the 4.
            index_t nc = cb - cl < 4 ? cb - cl : 4;
            if ((og + 1) * cpog - c < nc) nc = (og + 1) * cpog - c;
            const T* xc = xn + c * plane;
            if (nc == 4)
              detail::deform_sample<T, 4, NR>(xc, plane, ridx.data(), rw.data(), kk, P, Wp,
                                              col.data(), K, cl * kk);
            else
              for (index_t u = 0; u < nc; ++u)
                detail::deform_sample<T, 1, NR>(xc + u * plane, plane, ridx.data(), rw.data(),
                                                kk, P, Wp, col.data(), K, (cl + u) * kk);
            cl += nc;
          }
          deform_tile_product<T, ISA>(opg, pv, K, K_total, c0 * kk,
                                 wpacked + g * nob * K_total * MR, col.data(),
                                 bias ? bias + g * opg : nullptr, c0 == 0,
                                 y + n * yn + (g * opg) * yc + p0 * yp, yc, yp);
        }
      }
    }
  });
}

}  // namespace kernels
}  // namespace convcore
