// quantized_conv: ONNX QLinearConv (and QNNPACK's quantized conv) on 8-bit tensors.
//   acc[n, o, p] = bias[o] + sum_{c, t} (x[n, c, p*s + t*d] - x_zp) * (w[o, c, t] - w_zp[o])
//   y[n, o, p]   = saturate(round_half_even(acc * x_scale * w_scale[o] / y_scale) + y_zp)
// x and w are uint8 or int8 (independently), the bias int32, y uint8 or int8; w_scale and w_zp
// hold one value (per tensor) or C_out values (per output channel). The multiplier is computed
// in float64. Zero padding pads with the real value 0 (the quantized value x_zp).
//
// Engines: the INT8 depthwise engine (kernels/quantized_depthwise.hpp) for depthwise specs, the
// GEMM engine of the active level (kernels/quantized_gemm.hpp; both channels-last,
// so channels-first x and y are transposed around it) where it applies, else the direct kernel
// (kernels/quantized.hpp; channels-first). Both give identical results (exact int32 arithmetic,
// one requantisation: core/requantize.hpp).
//
// Workspace: GEMM engine: the packed weights (at most 4x w + 64 Ki elements), one block
// of im2col rows per thread, channels-last copies of x and y when channels-first. Direct: w
// minus its zero point as int16 (the size of w), channels-first copies when channels_last.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "../kernels/layout.hpp"
#include "../kernels/quantized.hpp"
#include "conv.hpp"

namespace convcore {

struct QuantParams {
  double x_scale = 1.0, y_scale = 1.0;
  std::vector<double> w_scale{1.0};
  std::int32_t x_zp = 0, y_zp = 0;
  std::vector<std::int32_t> w_zp{0};
  bool x_signed = false, w_signed = false, y_signed = false;
};

namespace detail {
inline void check_zp(std::int64_t zp, bool is_signed, const char* name, const char* of) {
  const std::int64_t lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;
  if (zp < lo || zp > hi)
    fail_value(name, " must lie in [", lo, ", ", hi, "] (the range of ", of, "'s dtype ",
               is_signed ? "int8" : "uint8", "), got ", zp);
}
inline void check_scale(double v, const char* name) {
  if (!(std::isfinite(v) && v > 0)) fail_value(name, " must be positive and finite, got ", v);
}
}  // namespace detail

inline ConvSpec make_quantized_conv_spec(const Shape& x, const Shape& w, const ConvOptions& o,
                                         const QuantParams& q, index_t bias_len = -1) {
  if (o.pad_mode != PadMode::zeros || o.fill != 0.0)
    fail_value("padding_mode must be 'zeros' for quantized_conv2d");
  if (o.flip) fail_value("flip is not supported by quantized_conv2d");
  if (o.act != Activation::none) fail_value("activation is not supported by quantized_conv2d");
  ConvSpec s = make_conv_spec(x, w, o, bias_len);
  detail::check_scale(q.x_scale, "x_scale");
  detail::check_scale(q.y_scale, "y_scale");
  const auto nws = static_cast<index_t>(q.w_scale.size());
  const auto nwz = static_cast<index_t>(q.w_zp.size());
  if (nws != 1 && nws != s.C_out)
    fail_value("w_scale must hold 1 value (per tensor) or C_out = ", s.C_out,
               " values (per output channel), got ", nws);
  if (nwz != 1 && nwz != s.C_out)
    fail_value("w_zero_point must hold 1 value (per tensor) or C_out = ", s.C_out,
               " values (per output channel), got ", nwz);
  for (double v : q.w_scale) {
    detail::check_scale(v, "w_scale");
    if (!std::isfinite(q.x_scale * v / q.y_scale))
      fail_value("y_scale (", q.y_scale, ") is too small for x_scale * w_scale (", q.x_scale * v,
                 "): the requantisation multiplier overflows");
  }
  detail::check_zp(q.x_zp, q.x_signed, "x_zero_point", "x");
  detail::check_zp(q.y_zp, q.y_signed, "y_zero_point", "y");
  for (auto v : q.w_zp) detail::check_zp(v, q.w_signed, "w_zero_point", "w");
  return s;
}

namespace detail {
// algorithm "auto" of quantized_conv (docs/architecture.md, "The INT8 engine"): the GEMM
// engine wherever a level has one, except with fewer than 4 output channels per group
// (depthwise and its kin: its 16/32-wide channel panels would be mostly padding), or where
// its packed weights (channels padded to 32 per group, C_in/groups to a multiple of 4) would
// exceed 4x w plus 64 Ki elements; the direct kernel runs those.
inline bool q8_gemm_preferred(const ConvSpec& s) {
  const index_t opg = s.cout_per_group(), cpg = s.cin_per_group();
  if (opg < 4) return false;
  const index_t padded = s.groups * ((opg + 31) / 32 * 32) * ((cpg + 3) / 4 * 4) * s.k_size();
  return padded <= 4 * s.C_out * cpg * s.k_size() + 65536;
}

// The GEMM or depthwise engine on channels-last copies (when x is channels-first) of x and y.
template <class TX, class TW, class TY>
void quantized_conv_engine(void (*engine)(const kernels::QConvArgs&), const ConvSpec& s, const TX* x, const TW* w,
                         const std::int32_t* bias, const QuantParams& q, const double* mult,
                         TY* y) {
  std::vector<std::int32_t> wzp(static_cast<std::size_t>(s.C_out));
  for (index_t o = 0; o < s.C_out; ++o) wzp[o] = q.w_zp.size() == 1 ? q.w_zp[0] : q.w_zp[o];
  std::vector<TX> xt;
  std::vector<TY> yt;
  if (!s.channels_last) {
    xt = workspace<TX>(s.N * s.C_in * s.in_size(), "channels-last copy of x");
    kernels::to_channels_last(x, xt.data(), s.N, s.C_in, s.in_size());
    x = xt.data();
    yt = workspace<TY>(s.N * s.C_out * s.out_size(), "channels-last output");
  }
  kernels::QConvArgs a;
  a.s = &s;
  a.x = x;
  a.x_signed = q.x_signed;
  a.x_zp = q.x_zp;
  a.w = w;
  a.w_signed = q.w_signed;
  a.w_zp = wzp.data();
  a.bias = bias;
  a.mult = mult;
  a.y = s.channels_last ? y : yt.data();
  a.y_signed = q.y_signed;
  a.y_zp = q.y_zp;
  a.y_lo = q.y_signed ? -128 : 0;
  a.y_hi = q.y_signed ? 127 : 255;
  engine(a);
  if (!s.channels_last) kernels::to_channels_first(yt.data(), y, s.N, s.out_size(), s.C_out);
}
}  // namespace detail

// Which INT8 kernels quantized_conv runs for this spec and these weight zero points (the
// names of kernels/quantized_gemm.hpp, or "scalar_direct").
inline const char* quantized_conv_path(const ConvSpec& s, bool w_signed,
                                       const std::vector<std::int32_t>& w_zp) {
  const kernels::QuantFns& qf = active_kernels().q8;
  const bool dw = qf.depthwise && kernels::q8_depthwise_applicable(s);
  if (kernels::int8_engine() == kernels::Int8Engine::direct ||
      (!dw && !(qf.gemm && detail::q8_gemm_preferred(s))))
    return "scalar_direct";
  std::vector<std::int32_t> zp(static_cast<std::size_t>(s.C_out));
  for (index_t o = 0; o < s.C_out; ++o) zp[o] = w_zp.size() == 1 ? w_zp[0] : w_zp[o];
  kernels::QConvArgs a;
  a.s = &s;
  a.w_signed = w_signed;
  a.w_zp = zp.data();
  return qf.path(&a);
}

template <class TX, class TW, class TY>
void quantized_conv_forward(const ConvSpec& s, const TX* x, const TW* w, const std::int32_t* bias,
                            const QuantParams& q, TY* y) {
  const index_t out_elems = s.N * s.C_out * s.out_size();
  if (out_elems == 0) return;
  std::vector<double> mult(static_cast<std::size_t>(s.C_out));
  for (index_t o = 0; o < s.C_out; ++o)
    mult[o] = requant_multiplier(q.x_scale, q.w_scale.size() == 1 ? q.w_scale[0] : q.w_scale[o],
                                 q.y_scale);
  const kernels::QuantFns& qf = active_kernels().q8;
  if (kernels::int8_engine() != kernels::Int8Engine::direct) {
    if (qf.depthwise && kernels::q8_depthwise_applicable(s)) {
      detail::quantized_conv_engine(qf.depthwise, s, x, w, bias, q, mult.data(), y);
      return;
    }
    if (qf.gemm && detail::q8_gemm_preferred(s)) {
      detail::quantized_conv_engine(qf.gemm, s, x, w, bias, q, mult.data(), y);
      return;
    }
  }
  const index_t per_filter = s.cin_per_group() * s.k_size();
  std::vector<std::int16_t> wq = detail::workspace<std::int16_t>(s.C_out * per_filter, "w - w_zp");
  for (index_t o = 0; o < s.C_out; ++o) {
    const std::int32_t zp = q.w_zp.size() == 1 ? q.w_zp[0] : q.w_zp[o];
    for (index_t i = 0; i < per_filter; ++i)
      wq[o * per_filter + i] = static_cast<std::int16_t>(static_cast<std::int32_t>(w[o * per_filter + i]) - zp);
  }
  const std::int32_t lo = q.y_signed ? -128 : 0, hi = q.y_signed ? 127 : 255;
  std::vector<TX> xt;
  std::vector<TY> yt;
  if (s.channels_last) {
    xt = detail::workspace<TX>(s.N * s.C_in * s.in_size(), "channels-first copy of x");
    kernels::to_channels_first(x, xt.data(), s.N, s.in_size(), s.C_in);
    x = xt.data();
    yt = detail::workspace<TY>(out_elems, "channels-first output");
  }
  TY* yc = s.channels_last ? yt.data() : y;
  kernels::conv_quantized(s, x, q.x_zp, wq.data(), bias, mult.data(), q.y_zp, lo, hi, yc);
  if (s.channels_last) kernels::to_channels_last(yc, y, s.N, s.C_out, s.out_size());
}

}  // namespace convcore
