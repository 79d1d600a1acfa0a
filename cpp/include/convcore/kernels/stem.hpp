// Direct conv for few input channels: image stems (ResNet's 7x7 stride 2 over 3 channels,
// MobileNet's 3x3 stride 2, VGG's 3x3). There im2col is a GEMM with a reduction of only
// C_in x taps (147) whose copy of the input costs about as much as its products. Here vector
// lanes run over the output pixels of a row and every (input channel, tap) step is PV vector
// loads of input and CO broadcast weights feeding CO x PV FMAs, all in registers.
//
// Each work item (image, band of output rows) first copies the padded input rows its band
// reads into a per-thread buffer, split in stride column phases (the depthwise planar
// engine's row packer): phase p holds padded columns
// p, p + s, p + 2s, ..., so that output column ow of tap tw reads phase (tw d) % s at
// ow + (tw d) / s and every tap is one contiguous run. Then, per block of CO output channels
// (their weights stay in L1), every output row of the band.
//
// Zero padding, kernel unflipped, groups 1, channels-first, 1-D or 2-D (the ops layer pads,
// flips and transposes beforehand). Workspace: the band buffer, per worker.
#pragma once

#include <vector>

#include "../core/activation.hpp"
#include "../core/checked.hpp"
#include "../core/geometry.hpp"
#include "../core/parallel.hpp"
#include "../core/scratch.hpp"
#include "../core/simd.hpp"
#include "../core/spec.hpp"
#include "depthwise.hpp"

namespace convcore {
namespace kernels {

constexpr index_t kStemMaxChannels = 4;             // input channels (per group: groups 1)
constexpr index_t kStemBandBytes = 96 * 1024;       // band buffer target (L2)
constexpr index_t kStemMaxBandBytes = 16 << 20;     // one output row's inputs at most

// Padded columns of one phase row: the OW outputs plus the taps' reach, whole vectors, and one
// vector of slack for the last partial vector's lanes.
inline index_t stem_row_len(const ConvSpec& s, index_t lanes) {
  const index_t len = s.out[2] + ((s.k[2] - 1) * s.dil[2]) / s.stride[2];
  return (len + lanes - 1) / lanes * lanes + lanes;
}

// Input rows that `rows` consecutive output rows read.
inline index_t stem_band_rows(const ConvSpec& s, index_t rows) {
  return (rows - 1) * s.stride[1] + (s.k[1] - 1) * s.dil[1] + 1;
}

// The shapes the kernel serves (any padding mode, flip or layout: the ops layer turns those
// into zero padding, an unflipped kernel and channels-first), with one output row's input
// rows within kStemMaxBandBytes.
inline bool stem_shape(const ConvSpec& s) {
  if (s.groups != 1 || !s.planar() || s.C_in > kStemMaxChannels || s.C_in < 1 || s.C_out < 8)
    return false;
  // (16 lanes: the widest vector; 8-byte elements)
  const double one = double(s.C_in) * double(stem_band_rows(s, 1)) * double(s.stride[2]) *
                     double(stem_row_len(s, 16)) * 8.0;
  return one <= double(kStemMaxBandBytes);
}

// ... and what stem_engine::run itself takes.
inline bool stem_applicable(const ConvSpec& s) {
  return stem_shape(s) && (s.zero_padding() || s.unpadded()) && !s.flip && !s.channels_last;
}

template <class T, class ISA>
struct stem_engine {
  using V = vec<T, ISA>;
  using Rows = depthwise_planar_engine<T, ISA>;
  static constexpr int L = V::width;
  static constexpr int CO = 4;  // output channels per register block
  static constexpr int PV = 4;  // vectors of output pixels per register block

  struct Band {
    const T* buf;  // [c][row][phase][Lq]
    index_t rows, Lq;
  };

  // Input rows of output rows [oh0, oh0 + nb) of image xn (C x H x W) into b, each row split
  // in its column phases by the depthwise planar engine's row packer (the same layout: phase
  // p of a row at + p Lq; colsrc / inner from its column_tables).
  static void fill(const ConvSpec& s, const T* xn, index_t oh0, index_t nb, index_t Lq,
                   const index_t* colsrc, const index_t* inner, T* b) {
    const index_t H = s.in[1], W = s.in[2], sw = s.stride[2];
    const index_t nr = stem_band_rows(s, nb);
    for (index_t c = 0; c < s.C_in; ++c)
      for (index_t r = 0; r < nr; ++r) {
        const index_t ih = conv_in_index(oh0, r, s.stride[1], 1, s.pad_lo[1]);
        Rows::pack_row(ih >= 0 && ih < H ? xn + (c * H + ih) * W : nullptr, colsrc, inner, sw,
                       s.pad_lo[2], Lq, Lq, b + (c * nr + r) * sw * Lq);
      }
  }

  // Output channels [o, o + NC) of output row oh (band-local row lr), vectors [v0, v0 + NV).
  template <int NC, int NV>
  static void block(const ConvSpec& s, const Band& b, const T* w, const T* bias, index_t o,
                    index_t lr, index_t v0, T* yrow, index_t plane) {
    const index_t kh = s.k[1], kw = s.k[2], sw = s.stride[2], K = s.C_in * kh * kw;
    V acc[NC][NV];
    for (int c = 0; c < NC; ++c) {
      const V bv = V::broadcast(bias ? bias[o + c] : T(0));
      for (int v = 0; v < NV; ++v) acc[c][v] = bv;
    }
    const T* wo = w + o * K;
    for (index_t ci = 0; ci < s.C_in; ++ci)
      for (index_t th = 0; th < kh; ++th) {
        const T* row = b.buf + ((ci * b.rows + lr * s.stride[1] + th * s.dil[1]) * sw) * b.Lq +
                       v0 * L;
        const T* wt = wo + (ci * kh + th) * kw;
        for (index_t tw = 0; tw < kw; ++tw) {
          const index_t off = tw * s.dil[2];
          const T* src = row + (off % sw) * b.Lq + off / sw;
          V xv[NV];
          for (int v = 0; v < NV; ++v) xv[v] = V::load(src + v * L);
          for (int c = 0; c < NC; ++c) {
            const V wv = V::broadcast(wt[c * K + tw]);
            for (int v = 0; v < NV; ++v) acc[c][v] = fma(wv, xv[v], acc[c][v]);
          }
        }
      }
    const index_t OW = s.out[2];
    const Activation act = s.act;
    for (int c = 0; c < NC; ++c)
      for (int v = 0; v < NV; ++v) {
        V r = acc[c][v];
        if (act == Activation::relu || act == Activation::relu6) {
          r = max(r, V::zero());
          if (act == Activation::relu6) r = min(r, V::broadcast(T(6)));
        }
        T* dst = yrow + (o + c) * plane + (v0 + v) * L;
        const index_t n = OW - (v0 + v) * L;
        if (n >= L) {
          r.store(dst);
        } else {
          alignas(64) T t[L];
          r.store(t);
          for (index_t q = 0; q < n; ++q) dst[q] = t[q];
        }
        if (act != Activation::none && act != Activation::relu && act != Activation::relu6)
          for (index_t q = 0; q < (n < L ? n : L); ++q) dst[q] = apply_activation(act, dst[q]);
      }
  }

  template <int NC>
  static void row_vectors(const ConvSpec& s, const Band& b, const T* w, const T* bias,
                          index_t o, index_t lr, T* yrow, index_t plane, index_t nvec) {
    index_t v = 0;
    for (; v + PV <= nvec; v += PV) block<NC, PV>(s, b, w, bias, o, lr, v, yrow, plane);
    switch (nvec - v) {
      case 1: block<NC, 1>(s, b, w, bias, o, lr, v, yrow, plane); break;
      case 2: block<NC, 2>(s, b, w, bias, o, lr, v, yrow, plane); break;
      case 3: block<NC, 3>(s, b, w, bias, o, lr, v, yrow, plane); break;
      default: break;
    }
  }

  static void run(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y) {
    const index_t OH = s.out[1], OW = s.out[2], O = s.C_out, plane = OH * OW;
    if (s.N == 0 || O == 0 || plane == 0) return;
    const index_t Lq = stem_row_len(s, L), sw = s.stride[2], sh = s.stride[1];
    const index_t per_row = s.C_in * sw * Lq * index_t(sizeof(T));
    // output rows per band: the buffer near kStemBandBytes, and some items for every thread
    const index_t reach = stem_band_rows(s, 1);
    index_t nb = kStemBandBytes / per_row > reach ? (kStemBandBytes / per_row - reach) / sh + 1 : 1;
    const index_t want = 4 * index_t(get_num_threads());
    const index_t fair = (s.N * OH + want - 1) / want;
    nb = nb > fair ? fair : nb;
    nb = nb < 1 ? 1 : nb > OH ? OH : nb;
    const index_t bands = (OH + nb - 1) / nb, nvec = (OW + L - 1) / L;
    std::vector<index_t> colsrc, inner;
    Rows::column_tables(s, Lq, colsrc, inner);
    parallel_for_dynamic(checked_mul(s.N, bands, "stem work items"), [&](index_t item) {
      const index_t n = item / bands, oh0 = (item % bands) * nb;
      const index_t rows = OH - oh0 < nb ? OH - oh0 : nb;
      const index_t nr = stem_band_rows(s, rows);
      T* buf = thread_scratch<T, stem_engine, 1>::get(0, s.C_in * nr * sw * Lq);
      fill(s, x + n * s.C_in * s.in[1] * s.in[2], oh0, rows, Lq, colsrc.data(), inner.data(),
           buf);
      const Band b{buf, nr, Lq};
      T* yn = y + n * O * plane;
      for (index_t o = 0; o < O; o += CO) {
        const index_t nc = O - o < CO ? O - o : CO;
        for (index_t r = 0; r < rows; ++r) {
          T* yrow = yn + (oh0 + r) * OW;
          switch (nc) {
            case 4: row_vectors<4>(s, b, w, bias, o, r, yrow, plane, nvec); break;
            case 3: row_vectors<3>(s, b, w, bias, o, r, yrow, plane, nvec); break;
            case 2: row_vectors<2>(s, b, w, bias, o, r, yrow, plane, nvec); break;
            default: row_vectors<1>(s, b, w, bias, o, r, yrow, plane, nvec); break;
          }
        }
      }
    });
  }
};

}  // namespace kernels
}  // namespace convcore
