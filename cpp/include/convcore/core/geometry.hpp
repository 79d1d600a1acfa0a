// Shape arithmetic of one spatial axis of a convolution. The single source of truth: C++
// kernels, CUDA kernels (via NVRTC) and the Python arithmetic helpers all call these.
//
// These functions do no overflow checks (they run in the kernels' inner loops, on the device
// too). They are exact on any ConvSpec that the ops' validation produced (ops/options.hpp:
// make_conv_spec and friends): there in + pad_lo + pad_hi, (k - 1) * dilation + 1 and every
// element count are checked, stride <= the padded extent, so every sum and product below stays
// within that extent. Callers with raw user values validate first (as arithmetic.py does for
// receptive_field_step).
#pragma once
#include "hd.hpp"

namespace convcore {

CONVCORE_HD index_t floor_div(index_t a, index_t b) {  // b > 0
  index_t q = a / b;
  return (q * b > a) ? q - 1 : q;
}

CONVCORE_HD index_t ceil_div(index_t a, index_t b) { return -floor_div(-a, b); }  // b > 0

// Extent of a dilated kernel: (k - 1) * d + 1.
CONVCORE_HD index_t dilated_extent(index_t k, index_t dilation) { return (k - 1) * dilation + 1; }

// Output length of a convolution; <= 0 means the (dilated) kernel does not fit the padded input.
CONVCORE_HD index_t conv_out_size(index_t in, index_t k, index_t stride, index_t dilation,
                                  index_t pad_lo, index_t pad_hi) {
  index_t span = in + pad_lo + pad_hi - dilated_extent(k, dilation);
  return span < 0 ? 0 : span / stride + 1;
}

// Input coordinate read by output position `o` through kernel tap `t` (may fall in the padding).
CONVCORE_HD index_t conv_in_index(index_t o, index_t t, index_t stride, index_t dilation,
                                  index_t pad_lo) {
  return o * stride - pad_lo + t * dilation;
}

// Total padding of "same" (TensorFlow's rule): out = ceil(in / stride), extra pad goes after.
CONVCORE_HD index_t same_pad_total(index_t in, index_t k, index_t stride, index_t dilation) {
  index_t out = ceil_div(in, stride);
  index_t total = (out - 1) * stride + dilated_extent(k, dilation) - in;
  return total > 0 ? total : 0;
}
CONVCORE_HD index_t same_pad_lo(index_t in, index_t k, index_t stride, index_t dilation) {
  return same_pad_total(in, k, stride, dilation) / 2;
}
CONVCORE_HD index_t same_pad_hi(index_t in, index_t k, index_t stride, index_t dilation) {
  index_t t = same_pad_total(in, k, stride, dilation);
  return t - t / 2;
}

// Output length of a transposed convolution (PyTorch's formula).
CONVCORE_HD index_t conv_transpose_out_size(index_t in, index_t k, index_t stride,
                                            index_t dilation, index_t pad, index_t out_pad) {
  return (in - 1) * stride - 2 * pad + dilated_extent(k, dilation) + out_pad;
}

// For a transposed conv (the adjoint of a conv), the output position written by input `i`
// through tap `t`: the same map as conv_in_index read the other way round.
CONVCORE_HD index_t conv_transpose_out_index(index_t i, index_t t, index_t stride,
                                             index_t dilation, index_t pad) {
  return i * stride - pad + t * dilation;
}

// The inverse of conv_in_index: the output position o in [0, out) that reads input position i
// through tap t, or -1 when there is none (i is skipped by the stride, or o falls outside).
// A transposed conv gathers through it: output i of the adjoint sums x[o] w[t] over these o.
CONVCORE_HD index_t conv_out_index(index_t i, index_t t, index_t stride, index_t dilation,
                                   index_t pad_lo, index_t out) {
  index_t q = i + pad_lo - t * dilation;
  if (q < 0 || q % stride != 0) return -1;
  q /= stride;
  return q < out ? q : -1;
}

// Range [lo, hi) of output positions o for which conv_in_index(o, t, ...) lies in [0, in).
// Lets kernels run their inner loop without a bounds test. Always 0 <= lo <= hi <= out, also
// when empty (a tap that only ever reads padding), so callers may index [lo, hi] directly.
CONVCORE_HD void valid_out_range(index_t in, index_t out, index_t t, index_t stride,
                                 index_t dilation, index_t pad_lo, index_t* lo, index_t* hi) {
  index_t off = t * dilation - pad_lo;  // input = o * stride + off
  index_t a = off >= 0 ? 0 : ceil_div(-off, stride);
  index_t b = floor_div(in - 1 - off, stride) + 1;
  if (a < 0) a = 0;
  if (a > out) a = out;
  if (b > out) b = out;
  if (b < a) b = a;
  *lo = a;
  *hi = b;
}

// Sub-pixel form of a transposed conv along one axis (stride s, kernel k, padding p before,
// dilation 1): output o = s q + r (phase r < s) sums x[q + t] w[r + p - s t] over the t whose
// tap lies in [0, k). Over all phases t runs through [lo, hi]: each phase is a stride-1
// correlation of x with a window of hi - lo + 1 taps (zero where a phase has no tap).
CONVCORE_HD void subpixel_window(index_t k, index_t stride, index_t pad, index_t* lo,
                                 index_t* hi) {
  *lo = ceil_div(pad - k + 1, stride);
  *hi = floor_div(stride - 1 + pad, stride);
}

// The kernel tap that window position t (t in [lo, hi]) of phase r reads; outside [0, k) when
// that phase has no tap there.
CONVCORE_HD index_t subpixel_tap(index_t r, index_t t, index_t stride, index_t pad) {
  return r + pad - stride * t;
}

// The input range [*lo, *hi) that output block [a, b) of a convolution reads (b > a); it may
// extend past [0, in) into the padding. A chunked caller (the Dask backend) gathers exactly this
// window for the block, so every block sees the data the whole-array op would.
CONVCORE_HD void conv_block_input(index_t a, index_t b, index_t k, index_t stride,
                                  index_t dilation, index_t pad_lo, index_t* lo, index_t* hi) {
  *lo = conv_in_index(a, 0, stride, dilation, pad_lo);
  *hi = conv_in_index(b - 1, k - 1, stride, dilation, pad_lo) + 1;
}

// The input range [*lo, *hi) (clipped to [0, in)) whose taps reach output block [a, b) of a
// transposed convolution (padding pad_lo before), and the block's local geometry when the
// transposed conv runs on that slice alone: *pad_before outputs cropped at the start, and
// *pad_after cropped (or, when negative, -*pad_after added as output padding) at the end.
// Inputs outside the range write only outside [a, b).
CONVCORE_HD void conv_transpose_block_input(index_t a, index_t b, index_t in, index_t k,
                                            index_t stride, index_t dilation, index_t pad_lo,
                                            index_t* lo, index_t* hi, index_t* pad_before,
                                            index_t* pad_after) {
  const index_t extent = dilated_extent(k, dilation);
  index_t l = floor_div(a + pad_lo - (extent - 1), stride);
  index_t h = floor_div(b - 1 + pad_lo, stride) + 1;
  if (l < 0) l = 0;
  if (h > in) h = in;
  if (h < l) h = l;
  *lo = l;
  *hi = h;
  *pad_before = a + pad_lo - l * stride;
  // the slice's full output is (h - l - 1) * stride + extent long; keep b - a of it
  *pad_after = (h - l - 1) * stride + extent - *pad_before - (b - a);
}

// Receptive field recurrence, one layer: size grows by (k_eff - 1) * jump, jump *= stride.
CONVCORE_HD void receptive_field_step(index_t k, index_t stride, index_t dilation, index_t* size,
                                      index_t* jump, index_t* start, index_t pad_lo) {
  *size += (dilated_extent(k, dilation) - 1) * (*jump);
  *start -= pad_lo * (*jump);
  *jump *= stride;
}

// Channel shuffle (ShuffleNet, torch.nn.ChannelShuffle): channels viewed as (groups, C/groups),
// transposed to (C/groups, groups) and flattened. Input channel c = g * (C/groups) + i lands at
// output channel i * groups + g.
CONVCORE_HD index_t shuffled_channel(index_t c, index_t channels, index_t groups) {
  const index_t per = channels / groups;
  return (c % per) * groups + c / per;
}

// Taps of a transposed conv (kernel k, stride s, dilation d) that reach an output pixel of
// phase p = position mod s in the periodic interior (where every input position exists): the
// taps t in [0, k) with t * d = p (mod s). Uneven counts over the phases are the checkerboard.
// t * dilation mod stride is stepped tap by tap (never formed: any dilation is accepted).
CONVCORE_HD index_t transposed_overlap_count(index_t k, index_t stride, index_t dilation,
                                             index_t phase) {
  const index_t step = dilation % stride;  // dilation >= 1, stride >= 1
  index_t p = phase % stride;
  if (p < 0) p += stride;
  index_t n = 0;
  for (index_t t = 0, r = 0; t < k; ++t) {  // r = t * dilation mod stride
    if (r == p) ++n;
    r = r >= stride - step ? r - (stride - step) : r + step;
  }
  return n;
}

}  // namespace convcore
