// Direct grouped convolution for small per-group channel counts (ResNeXt: 4..128 channels per
// group), 1-D and 2-D, zero padding, kernel unflipped, channels-first or channels-last.
//
// Why not the GEMM engine: per group the GEMM is only (C_out/g) x (C_in/g * k) by pixels, so
// its packing and panel overheads are paid 32 times for small matrices. Here the vector lanes
// run over the output channels of one group (16/32/64 channels = whole vectors) and a row of
// PB output pixels is register-blocked: each (tap, input channel) step is one broadcast of an
// input value per pixel and NV vector loads of weights, feeding PB x NV FMAs.
//
// Layout: weights are packed per (group, block of CB = NV x width output channels) as
// [kh][kw][ci][CB] (zero-filled past C_out/g), so the microkernel streams them linearly. Each
// work item (image, group, band of output rows) copies the input rows its band needs into a
// zero-padded buffer [row][ci][column] (about 128 KiB), so the taps need no bounds tests and
// the broadcasts of one step sit at constant offsets from one pointer; the buffer is wide enough for whole PB tiles, and pixels past the row end are
// computed and dropped.
//
// Workspace, per worker: the packed weights of one group and one band buffer, kept per thread
// for the next call (first touch of fresh pages is slow).
#pragma once

#include <atomic>
#include <type_traits>

#include "../core/activation.hpp"
#include "../core/checked.hpp"
#include "../core/parallel.hpp"
#include "../core/scratch.hpp"
#include "../core/simd.hpp"
#include "../core/spec.hpp"

namespace convcore {
namespace kernels {

// 1-D and 2-D convs (a 1-D conv is 1 x 1 x L), zero padding or none.
inline bool grouped_applicable(const ConvSpec& s) {
  return s.planar() && (s.zero_padding() || s.unpadded()) && !s.flip;
}

template <class T, class ISA>
struct grouped_engine {
  using V = vec<T, ISA>;
  static constexpr int VW = V::width;
  // Register file: 32 vector registers on AVX-512 and NEON, 16 otherwise.
  static constexpr bool kWide = ISA::level == IsaLevel::avx512 || ISA::level == IsaLevel::neon;
  static constexpr int PB1 = kWide ? 14 : 12;  // pixels per tile with one vector of channels
  static constexpr int PB2 = kWide ? 14 : 6;   // ... with two (31 of 32 registers)

  // Per-thread buffers kept between calls. Slot 0: one group's packed weights, 1: band.
  static T* scratch(int slot, index_t n) {
    return thread_scratch<T, grouped_engine, 2>::get(slot, n);
  }

  // PB pixels x NV vectors of output channels. in: the buffer row of the tile's first tap at
  // the tile's first pixel; the buffer is [row][ci][column], so the PB broadcasts of one
  // (tap, channel) step sit at constant offsets p * SW (SW = 0: the runtime stride sw).
  // bw: columns per buffer row; rs: elements between kernel rows; cs: columns between kernel
  // columns; wp: [KH][KW][cpg][NV * VW]; out: [PB][NV * VW].
  template <int PB, int NV, int SW>
  static void tile(const T* in, index_t sw, index_t bw, index_t rs, index_t cs, index_t KH,
                   index_t KW, index_t cpg, const T* wp, const T* bias, T* out) {
    const index_t st = SW ? SW : sw;
    V acc[PB][NV];
    for (int p = 0; p < PB; ++p)
      for (int v = 0; v < NV; ++v) acc[p][v] = V::zero();
    for (index_t kh = 0; kh < KH; ++kh) {
      for (index_t kw = 0; kw < KW; ++kw) {
        const T* ip = in + kh * rs + kw * cs;
        for (index_t ci = 0; ci < cpg; ++ci, ip += bw) {
          V wv[NV];
          for (int v = 0; v < NV; ++v) wv[v] = V::load(wp + v * VW);
          wp += NV * VW;
          for (int p = 0; p < PB; ++p) {
            const V b = V::broadcast(ip[p * st]);
            for (int v = 0; v < NV; ++v) acc[p][v] = fma(b, wv[v], acc[p][v]);
          }
        }
      }
    }
    // The lanes are output channels, so the bias is one vector add per accumulator here
    // rather than a scalar add per element in the (transposing) write-back.
    if (bias) {
      V bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = V::load(bias + v * VW);
      for (int p = 0; p < PB; ++p)
        for (int v = 0; v < NV; ++v) acc[p][v] = acc[p][v] + bv[v];
    }
    for (int p = 0; p < PB; ++p)
      for (int v = 0; v < NV; ++v) acc[p][v].store(out + p * NV * VW + v * VW);
  }

  // Packs group g's weights as [cob][kh][kw][ci][CB] (zero past C_out / groups): a transpose of
  // each block's [CB][cpg x kk] rows, done 8 input channels at a time so that the chunk's part
  // of w (CB x 8 x kk, 9 KiB at 3x3) stays in L1 while the packed rows are written in order.
  template <int CB>
  static void pack_group(const T* w, index_t g, index_t opg, index_t cpg, index_t kk, T* d) {
    const index_t nco = (opg + CB - 1) / CB;
    for (index_t cb = 0; cb < nco; ++cb, d += kk * cpg * CB) {
      const index_t nc = opg - cb * CB < CB ? opg - cb * CB : CB;
      const T* src = w + (g * opg + cb * CB) * cpg * kk;
      for (index_t ci0 = 0; ci0 < cpg; ci0 += 8) {
        const index_t ci1 = ci0 + 8 < cpg ? ci0 + 8 : cpg;
        for (index_t t = 0; t < kk; ++t)
          for (index_t ci = ci0; ci < ci1; ++ci) {
            T* dr = d + (t * cpg + ci) * CB;
            const T* sr = src + ci * kk + t;
            for (index_t c = 0; c < nc; ++c) dr[c] = sr[c * cpg * kk];
            for (index_t c = nc; c < CB; ++c) dr[c] = T(0);
          }
      }
    }
  }

  // Calls get distinct ids, so that a worker can tell whether the group it packed last is
  // this call's (w may have changed in place since the last call).
  static unsigned long long next_call() {
    static std::atomic<unsigned long long> n{0};
    return ++n;
  }

#if defined(CONVCORE_SIMD_AVX512)
  // AVX-512 float write-back of a whole channels-first tile: tmp is [14 pixels][CB channels];
  // each 16 x 16 block is transposed in registers (unpack ps, unpack pd, two 128-bit lane
  // shuffles) and stored as 14-lane masked rows, one per channel.
  static void store_tile_avx512(const float* tmp, int CB, index_t nc, float* yp, index_t ld) {
    const __mmask16 m = static_cast<__mmask16>((1u << 14) - 1);
    for (index_t v0 = 0; v0 < nc; v0 += 16) {
      __m512 r[16], a[16], b[16];
      for (int p = 0; p < 14; ++p) r[p] = _mm512_loadu_ps(tmp + p * CB + v0);
      r[14] = r[15] = _mm512_setzero_ps();
      for (int i = 0; i < 8; ++i) {
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
      }
      for (int i = 0; i < 4; ++i) {
        const __m512d a0 = _mm512_castps_pd(a[4 * i]), a1 = _mm512_castps_pd(a[4 * i + 1]);
        const __m512d a2 = _mm512_castps_pd(a[4 * i + 2]), a3 = _mm512_castps_pd(a[4 * i + 3]);
        b[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        b[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        b[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        b[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
      }
      // b[4i + j], 128-bit lane L: rows 4i..4i+3 of channel 4L + j
      const index_t n = nc - v0 < 16 ? nc - v0 : 16;
      for (int j = 0; j < 4; ++j) {
        const __m512 c0 = _mm512_shuffle_f32x4(b[j], b[4 + j], 0x44);
        const __m512 c1 = _mm512_shuffle_f32x4(b[j], b[4 + j], 0xEE);
        const __m512 d0 = _mm512_shuffle_f32x4(b[8 + j], b[12 + j], 0x44);
        const __m512 d1 = _mm512_shuffle_f32x4(b[8 + j], b[12 + j], 0xEE);
        const __m512 o[4] = {_mm512_shuffle_f32x4(c0, d0, 0x88), _mm512_shuffle_f32x4(c0, d0, 0xDD),
                             _mm512_shuffle_f32x4(c1, d1, 0x88), _mm512_shuffle_f32x4(c1, d1, 0xDD)};
        for (int L = 0; L < 4; ++L)
          if (4 * L + j < n) _mm512_mask_storeu_ps(yp + (v0 + 4 * L + j) * ld, m, o[L]);
      }
    }
  }
#endif

  template <int PB, int NV>
  static void run_nv(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y,
                     const T* pre) {
    constexpr int CB = NV * VW;
    const index_t G = s.groups, cpg = s.cin_per_group(), opg = s.cout_per_group();
    const index_t H = s.in[1], Wd = s.in[2], KH = s.k[1], KW = s.k[2];
    const index_t OH = s.out[1], OW = s.out[2], sh = s.stride[1], sw = s.stride[2];
    const index_t dh = s.dil[1], dw = s.dil[2], pt = s.pad_lo[1], pl = s.pad_lo[2];
    const index_t nco = (opg + CB - 1) / CB, kk = KH * KW;
    const index_t blk = kk * cpg * CB;  // packed weights of one (group, channel block)
    const index_t gw = checked_mul(nco, blk, "packed grouped weights");
    const unsigned long long call = next_call();

    const index_t OWp = (OW + PB - 1) / PB * PB;
    const index_t BW = (OWp - 1) * sw + (KW - 1) * dw + 1;  // buffer columns
    const index_t row_elems = BW * cpg;
    // Band of output rows: buffer about 128 KiB, and enough items to keep every thread busy.
    index_t bh = static_cast<index_t>(131072 / sizeof(T)) / (row_elems * sh);
    if (bh < 1) bh = 1;
    if (bh > OH) bh = OH;
    const index_t want = 4 * static_cast<index_t>(get_num_threads());
    if (s.N * G * ((OH + bh - 1) / bh) < want) {
      index_t nb = (want + s.N * G - 1) / (s.N * G);
      if (nb > OH) nb = OH;
      bh = (OH + nb - 1) / nb;
    }
    const index_t nbands = (OH + bh - 1) / bh;
    const index_t BR = (bh - 1) * sh + (KH - 1) * dh + 1;  // buffer rows
    const bool cl = s.channels_last, plain = s.act == Activation::none;
    const index_t C_in = s.C_in, C_out = s.C_out, HW = H * Wd, OHW = OH * OW;

    parallel_for(s.N * G * nbands, [&](index_t item) {
      const index_t band = item % nbands, g = (item / nbands) % G, n = item / (nbands * G);
      const index_t oh0 = band * bh, oh1 = oh0 + bh < OH ? oh0 + bh : OH;
      const index_t rows = (oh1 - oh0 - 1) * sh + (KH - 1) * dh + 1;
      T* buf = scratch(1, BR * row_elems);
      // Each worker packs the weights of its group itself, just before use (they stay in L2;
      // packed all at once, 64 channels per group went to L3 and back: 4.7 MB at 2048 @14,
      // ~1 of 6 ms), and keeps them for its next item, which is usually the same group's
      // next band (static schedule, band fastest).
      // (A plan packed every group once: pre, read in place.)
      const T* wpk = pre ? pre + g * gw : nullptr;
      if (!wpk) {
        T* buf = scratch(0, gw);
        static thread_local unsigned long long packed_call = 0;
        static thread_local index_t packed_g = -1;
        if (packed_call != call || packed_g != g) {
          pack_group<CB>(w, g, opg, cpg, kk, buf);
          packed_call = call;
          packed_g = g;
        }
        wpk = buf;
      }
      T tmp[PB * CB];
      // fill the band buffer: [row][ci][column], zero-padded. Channels-first input is read one
      // channel at a time, its rows in order: row-major over the band (64 channels apart per
      // row) the reads missed the prefetchers, ~12% of these layers.
      const index_t ih0 = oh0 * sh - pt;
      const index_t r0 = ih0 < 0 ? -ih0 : 0;  // buffer rows inside the image: [r0, r1)
      index_t r1 = H - ih0 < rows ? H - ih0 : rows;
      if (r1 < r0) r1 = r0;
      const index_t c0 = pl < BW ? pl : BW;  // buffer columns inside the image: [c0, c1)
      const index_t c1 = pl + Wd < BW ? pl + Wd : BW;
      for (index_t r = 0; r < rows; ++r) {
        T* br = buf + r * row_elems;
        if (r < r0 || r >= r1) {
          for (index_t e = 0; e < row_elems; ++e) br[e] = T(0);
          continue;
        }
        for (index_t ci = 0; ci < cpg; ++ci) {
          T* bp = br + ci * BW;
          for (index_t c = 0; c < c0; ++c) bp[c] = T(0);
          for (index_t c = c1; c < BW; ++c) bp[c] = T(0);
        }
        if (cl) {
          const T* xr = x + ((n * H + ih0 + r) * Wd) * C_in + g * cpg;
          for (index_t c = c0; c < c1; ++c) {
            const T* xp = xr + (c - pl) * C_in;
            for (index_t ci = 0; ci < cpg; ++ci) br[ci * BW + c] = xp[ci];
          }
        }
      }
      if (!cl)
        for (index_t ci = 0; ci < cpg; ++ci) {
          const T* xc = x + (n * C_in + g * cpg + ci) * HW;
          for (index_t r = r0; r < r1; ++r) {
            const T* xp = xc + (ih0 + r) * Wd;
            T* bp = buf + r * row_elems + ci * BW;
            for (index_t c = c0; c < c1; ++c) bp[c] = xp[c - pl];
          }
        }
      T bb[CB];  // this channel block's bias, zero past C_out / groups
      for (index_t cb = 0; cb < nco; ++cb) {
        const T* wp = wpk + cb * blk;
        const index_t nc = opg - cb * CB < CB ? opg - cb * CB : CB;
        const index_t co0 = g * opg + cb * CB;
        if (bias)
          for (index_t c = 0; c < CB; ++c) bb[c] = c < nc ? bias[co0 + c] : T(0);
        const T* bp = bias ? bb : nullptr;
        for (index_t oh = oh0; oh < oh1; ++oh) {
          const T* brow = buf + (oh - oh0) * sh * row_elems;
          for (index_t ow0 = 0; ow0 < OW; ow0 += PB) {
            const T* ip = brow + ow0 * sw;
            const index_t rs = dh * row_elems;
            if (sw == 1)
              tile<PB, NV, 1>(ip, 1, BW, rs, dw, KH, KW, cpg, wp, bp, tmp);
            else if (sw == 2)
              tile<PB, NV, 2>(ip, 2, BW, rs, dw, KH, KW, cpg, wp, bp, tmp);
            else
              tile<PB, NV, 0>(ip, sw, BW, rs, dw, KH, KW, cpg, wp, bp, tmp);
            const index_t np = OW - ow0 < PB ? OW - ow0 : PB;
            // The write-back is a transpose for channels-first output; with the per-element
            // activation switch it cost 15-30% of these layers, so the common case (no
            // activation, a whole tile) is a loop of constant trip count.
            if (cl) {
              T* yp = y + ((n * OH + oh) * OW + ow0) * C_out + co0;
              for (index_t p = 0; p < np; ++p) {
                const T* t = tmp + p * CB;
                T* d = yp + p * C_out;
                if (plain)
                  for (index_t c = 0; c < nc; ++c) d[c] = t[c];
                else
                  for (index_t c = 0; c < nc; ++c) d[c] = apply_activation(s.act, t[c]);
              }
            } else {
              T* yp = y + (n * C_out + co0) * OHW + oh * OW + ow0;
              if (plain && np == PB) {
#if defined(CONVCORE_SIMD_AVX512)
                if constexpr (ISA::level == IsaLevel::avx512 && std::is_same<T, float>::value &&
                              PB == 14) {
                  store_tile_avx512(tmp, CB, nc, yp, OHW);
                  continue;
                }
#endif
                for (index_t c = 0; c < nc; ++c) {
                  const T* t = tmp + c;
                  T* d = yp + c * OHW;
                  for (int p = 0; p < PB; ++p) d[p] = t[p * CB];
                }
              } else {
                for (index_t c = 0; c < nc; ++c) {
                  const T* t = tmp + c;
                  T* d = yp + c * OHW;
                  for (index_t p = 0; p < np; ++p) d[p] = apply_activation(s.act, t[p * CB]);
                }
              }
            }
          }
        }
      }
    });
  }

  // pre: every group's weights packed by pack() (a plan's), or null: packed on this call.
  static void run(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y,
                  const T* pre = nullptr) {
    if (s.N == 0 || s.C_out == 0 || s.out_size() == 0) return;
    if (s.cout_per_group() > VW)
      run_nv<PB2, 2>(s, x, w, bias, y, pre);
    else
      run_nv<PB1, 1>(s, x, w, bias, y, pre);
  }

  // The packed weights of every group, group after group (run_nv's per-group layout).
  static index_t block_channels(const ConvSpec& s) { return s.cout_per_group() > VW ? 2 * VW : VW; }
  static index_t packed_size(const ConvSpec& s) {
    const index_t CB = block_channels(s), nco = (s.cout_per_group() + CB - 1) / CB;
    return checked_mul(checked_mul(s.groups, nco, "packed grouped weights"),
                       s.k[1] * s.k[2] * s.cin_per_group() * CB, "packed grouped weights");
  }
  static void pack(const ConvSpec& s, const T* w, T* dst) {
    const index_t opg = s.cout_per_group(), cpg = s.cin_per_group(), kk = s.k[1] * s.k[2];
    const index_t gw = packed_size(s) / s.groups;
    parallel_for(s.groups, [&](index_t g) {
      if (block_channels(s) == 2 * VW)
        pack_group<2 * VW>(w, g, opg, cpg, kk, dst + g * gw);
      else
        pack_group<VW>(w, g, opg, cpg, kk, dst + g * gw);
    });
  }
};

}  // namespace kernels
}  // namespace convcore
