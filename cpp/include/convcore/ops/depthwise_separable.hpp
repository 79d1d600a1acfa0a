// depthwise_separable_conv2d, fused: y = act(pointwise(mid_act(depthwise(x) + b_dw)) + b_pw),
// computed band by band of output rows so the (N, C*m, OH, OW) intermediate never exists whole.
//
// Workspace: the packed depthwise weights, the depthwise index tables, the GEMM's per-thread
// packed panels (kernels/gemm.hpp), and per work item (one per thread at a time):
//   - a band of the intermediate, B = rows * OW * C*m elements, where
//     rows = max(1, 128 KiB / (OW * C*m * sizeof(T))) capped at OH;
//   - channels-first only: the band's input rows gathered channels-last, at most rows * kh * W * C
//     elements (usually (rows - 1) * stride + (kh - 1) * dilation + 1 rows).
// The pointwise stage is the engine's GEMM reading the band through strides. Neither x nor the
// intermediate is ever copied whole: beyond x and y the op needs O(threads * (B + rows * kh * W
// * C)) memory.
#pragma once
#include <vector>

#include "depthwise.hpp"
#include "pointwise.hpp"

namespace convcore {

struct DepthwiseSeparableSpec {
  ConvSpec dw;           // the depthwise stage (its act is mid_activation)
  index_t C_out = 0;     // output channels of the pointwise stage
  Activation act = Activation::none;
};

inline DepthwiseSeparableSpec make_depthwise_separable_spec(const Shape& x, const Shape& wd,
                                                            const Shape& wp, const ConvOptions& o,
                                                            Activation mid_act, index_t bd_len = -1,
                                                            index_t bp_len = -1) {
  ConvOptions d = o;
  d.act = mid_act;
  DepthwiseSeparableSpec s;
  s.dw = make_depthwise_spec(x, wd, d, bd_len, "w_depthwise", "b_depthwise");
  // The pointwise stage sees a (N, C*m, OH, OW) input: check its weight against that.
  Shape mid{s.dw.N, s.dw.C_out, s.dw.out[1], s.dw.out[2]};
  PointwiseSpec p = make_pointwise_spec(mid, wp, 1, false, o.act, bp_len, "w_pointwise",
                                        "b_pointwise");
  s.C_out = p.C_out;
  s.act = o.act;
  checked_product({s.dw.N, s.C_out, s.dw.out[1], s.dw.out[2]}, "output");
  return s;
}

inline Shape output_shape(const DepthwiseSeparableSpec& s) {
  if (s.dw.channels_last) return {s.dw.N, s.dw.out[1], s.dw.out[2], s.C_out};
  return {s.dw.N, s.C_out, s.dw.out[1], s.dw.out[2]};
}

// Rows of the intermediate per band: about 128 KiB, at least one row.
inline index_t separable_band_rows(const ConvSpec& dw, index_t elem) {
  index_t per_row = dw.out[2] * dw.C_out * elem;
  index_t r = per_row > 0 ? 131072 / per_row : 1;
  if (r < 1) r = 1;
  return r > dw.out[1] ? dw.out[1] : r;
}

namespace detail {
// depthwise_separable_forward with the kernels of kt and the weights a plan prepared: wt_pre
// the depthwise weights packed by depthwise_pack_weights, ap_pre the pointwise weights as the
// channels-first GEMM's A (pointwise_weight_spec(C*m, C_out, 1)'s PackForm::gemm form); null:
// made on the call.
template <class T>
void depthwise_separable_run(const DepthwiseSeparableSpec& s, const T* x, const T* wd,
                             const T* wt_pre, const T* wp, const T* ap_pre, const T* bd,
                             const T* bp, T* y, const kernels::KernelTable& kt) {
  const ConvSpec& d = s.dw;
  const index_t OH = d.out[1], OW = d.out[2], Cm = d.C_out, Co = s.C_out, P = OH * OW;
  const index_t H = d.in[1], W = d.in[2], C = d.C_in, kh = d.k[1];
  if (d.N * Co * P == 0) return;
  std::vector<T> wtv;
  const T* wt = wt_pre;
  if (!wt) {
    wtv = detail::workspace<T>(Cm * d.k_size(), "packed depthwise weights");
    kernels::depthwise_pack_weights(d, wd, wtv.data());
    wt = wtv.data();
  }
  const kernels::DepthwiseTables tb = kernels::depthwise_tables(d);
  const index_t rb = separable_band_rows(d, sizeof(T));
  const index_t nrb = (OH + rb - 1) / rb;
  const index_t band = rb * OW * Cm;
  checked_bytes(band, sizeof(T), "band buffer");
  checked_bytes(checked_mul(rb * kh, W * C, "input band"), sizeof(T), "input band");
  const index_t xsz = d.in[1] * d.in[2] * d.C_in;
  parallel_for(d.N * nrb, [&](index_t item) {
    const index_t n = item / nrb, r0 = (item % nrb) * rb;
    const index_t r1 = r0 + rb < OH ? r0 + rb : OH;
    const index_t np = (r1 - r0) * OW;  // pixels in this band
    auto mid = kernels::scratch<T>(band);
    if (d.channels_last) {
      kernels::depthwise_rows(d, tb.rows.data() + r0 * kh, tb.cols.data(), x + n * xsz, wt,
                              bd, r1 - r0, mid.get());
      // (np x Cm) @ wp^T (Cm x Co): rows of y are pixels.
      pointwise_gemm(np, Co, Cm, mid.get(), Cm, 1, wp, 1, Cm, y + (n * P + r0 * OW) * Co, Co,
                     static_cast<const T*>(nullptr), bp, s.act, static_cast<const T*>(nullptr),
                     &kt);
      return;
    }
    // Channels-first x: gather this band's input rows as channels-last rows (no copy of x).
    std::vector<index_t> slot_of(static_cast<std::size_t>(H), -1);
    std::vector<index_t> local(static_cast<std::size_t>((r1 - r0) * kh));
    auto xin = kernels::scratch<T>((r1 - r0) * kh * W * C);
    kernels::depthwise_gather_rows(d, tb, x + n * xsz, r0, r1 - r0, slot_of.data(), local.data(),
                                   xin.get());
    kernels::depthwise_rows(d, local.data(), tb.cols.data(), xin.get(), wt, bd, r1 - r0,
                            mid.get());
    xin.reset();
    // y[n] (Co x P), columns of this band: wp (Co x Cm) @ mid^T (Cm x np), mid^T by strides.
    pointwise_gemm(Co, np, Cm, wp, Cm, 1, mid.get(), 1, Cm, y + n * Co * P + r0 * OW, P, bp,
                   static_cast<const T*>(nullptr), s.act, ap_pre, &kt);
  });
}
}  // namespace detail

template <class T>
void depthwise_separable_forward(const DepthwiseSeparableSpec& s, const T* x, const T* wd,
                                 const T* wp, const T* bd, const T* bp, T* y) {
  detail::depthwise_separable_run(s, x, wd, static_cast<const T*>(nullptr), wp,
                                  static_cast<const T*>(nullptr), bd, bp, y, active_kernels());
}

}  // namespace convcore
