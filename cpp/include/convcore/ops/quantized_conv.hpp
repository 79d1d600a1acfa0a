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
// Pack once, run many times: quantized_conv_pack(s, w, bias, q) prepares everything that
// depends on the weights (the engine's packed panels, the per-channel bias and zero-point
// corrections and requantisation multipliers) into a QuantizedConvWeights; quantized_conv_run(
// pw, s, x, y) runs it on any x of the same channels and geometry (N and the spatial size may
// vary). quantized_conv_forward is the two in one call, the packed form in thread scratch.
//
// Workspace: GEMM engine: the packed weights (at most 4x w + 64 Ki elements, 2x that for the
// int16 kernels), one padded channels-last copy of x (int16 for the int16 kernels; none for
// unpadded uint8 x under VNNI), channels-last copies of x and y when channels-first. Direct:
// w minus its zero point as int16 (the size of w), channels-first copies when channels_last.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "../kernels/layout.hpp"
#include "../core/scratch.hpp"
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

struct q8_ops_tag {};  // owner of the packed weights' scratch of a single call

// The kernel arguments of q's conv: the weight side (for packing) and the y side.
inline kernels::QConvArgs q8_args(const ConvSpec& s, const QuantParams& q, const void* w,
                                  const std::int32_t* wzp, const std::int32_t* bias,
                                  const double* mult) {
  kernels::QConvArgs a;
  a.s = &s;
  a.x_signed = q.x_signed;
  a.x_zp = q.x_zp;
  a.w = w;
  a.w_signed = q.w_signed;
  a.w_zp = wzp;
  a.bias = bias;
  a.mult = mult;
  a.y_signed = q.y_signed;
  a.y_zp = q.y_zp;
  a.y_lo = q.y_signed ? -128 : 0;
  a.y_hi = q.y_signed ? 127 : 255;
  return a;
}
}  // namespace detail

// A quantized conv's weights prepared once (quantized_conv_pack) for any number of
// quantized_conv_run calls: the INT8 engine's packed panels with the per-channel corrections
// (bias and zero-point terms) and requantisation multipliers, or, where the direct kernel runs,
// w - w_zp, the bias and the multipliers. Made by the active level's kernels, and run by the
// same kernels even if the active level changes afterwards. Owns its memory: the caller's w
// and bias may change or go away after packing. Immutable; runs may overlap in threads.
struct QuantizedConvWeights {
  ConvSpec spec;               // the spec packed for (run takes any N and spatial size)
  QuantParams q;
  kernels::Q8Packed packed;    // packed.run null: the direct kernel (wq, bias, mult)
  std::shared_ptr<void> mem;   // packed's storage, when owned
  std::vector<std::int16_t> wq;
  std::vector<std::int32_t> bias;
  bool has_bias = false;
  std::vector<double> mult;
  std::size_t packed_bytes = 0;  // packed's storage (owned or not)
  // The memory this form holds.
  std::size_t bytes() const {
    return (mem ? packed_bytes : 0) + wq.size() * sizeof(std::int16_t) +
           bias.size() * sizeof(std::int32_t) + mult.size() * sizeof(double);
  }
  // The kernels that run ("avx512_vnni", "avx2_madd", "avx512bw_depthwise", "scalar_direct"...).
  const char* path() const { return packed.run ? packed.path : "scalar_direct"; }
};

namespace detail {
// Fills pw for (s, w, bias, q). own: the packed form in memory pw keeps; else in the calling
// thread's scratch (a single call: valid until the thread's next pack).
template <class TW>
void quantized_conv_prepare(const ConvSpec& s, const TW* w, const std::int32_t* bias,
                            const QuantParams& q, bool own, QuantizedConvWeights* pw) {
  QuantizedConvWeights& p = *pw;
  p.spec = s;
  p.q = q;
  p.mult.resize(static_cast<std::size_t>(s.C_out));
  for (index_t o = 0; o < s.C_out; ++o)
    p.mult[o] = requant_multiplier(q.x_scale, q.w_scale.size() == 1 ? q.w_scale[0] : q.w_scale[o],
                                   q.y_scale);
  const kernels::QuantFns& qf = active_kernels().q8;
  if (kernels::int8_engine() != kernels::Int8Engine::direct) {
    std::vector<std::int32_t> wzp(static_cast<std::size_t>(s.C_out));
    for (index_t o = 0; o < s.C_out; ++o) wzp[o] = q.w_zp.size() == 1 ? q.w_zp[0] : q.w_zp[o];
    const kernels::QConvArgs a = q8_args(s, q, w, wzp.data(), bias, p.mult.data());
    kernels::Q8Kind kind = kernels::Q8Kind::gemm;
    std::size_t bytes = 0;
    if (kernels::q8_depthwise_applicable(s)) {
      kind = kernels::Q8Kind::depthwise;
      bytes = qf.packed_bytes(a, kind);
    } else if (q8_gemm_preferred(s)) {
      bytes = qf.packed_bytes(a, kind);
    }
    if (bytes > 0) {
      void* mem;
      if (own) {
        checked_bytes(static_cast<index_t>(bytes), 1, "packed INT8 weights");
        mem = aligned_bytes(bytes);
        p.mem.reset(mem, [](void* m) { aligned_free(m); });
      } else {
        mem = thread_scratch<unsigned char, q8_ops_tag, 1>::get(0, static_cast<index_t>(bytes));
      }
      qf.pack(a, kind, mem, &p.packed);
      p.packed_bytes = bytes;
      return;
    }
  }
  const index_t per_filter = s.cin_per_group() * s.k_size();
  p.wq = workspace<std::int16_t>(s.C_out * per_filter, "w - w_zp");
  for (index_t o = 0; o < s.C_out; ++o) {
    const std::int32_t zp = q.w_zp.size() == 1 ? q.w_zp[0] : q.w_zp[o];
    for (index_t i = 0; i < per_filter; ++i)
      p.wq[o * per_filter + i] =
          static_cast<std::int16_t>(static_cast<std::int32_t>(w[o * per_filter + i]) - zp);
  }
  p.has_bias = bias != nullptr;
  if (bias) p.bias.assign(bias, bias + s.C_out);
}

// The packed form holds the weights' channels, groups and taps (Q8Layout) and nothing of the
// geometry, which each run takes from its own spec. So stride, dilation and padding are not
// compared: specs from the same options differ there with the input size (a stride or
// dilation the spec clamps where it is inert, "same" padding with a stride).
inline void check_packed_spec(const ConvSpec& p, const ConvSpec& s) {
  bool same = p.nd == s.nd && p.C_in == s.C_in && p.C_out == s.C_out && p.groups == s.groups;
  for (int d = 0; d < kMaxSpatial; ++d) same = same && p.k[d] == s.k[d];
  if (!same || kernels::q8_depthwise_applicable(p) != kernels::q8_depthwise_applicable(s))
    fail_value("the spec does not match the packed weights' (channels, groups and kernel must "
               "be the same)");
}
}  // namespace detail

// Packs w (C_out, C_in/groups, *k; TW uint8_t or int8_t as q.w_signed says), the int32 bias
// (C_out values, or null) and q's multipliers for the active level's INT8 kernels; s and q as
// make_quantized_conv_spec validated them.
//
//   QuantizedConvWeights pw = quantized_conv_pack(s, w, bias, q);
//   quantized_conv_run(pw, s, x, y);   // as quantized_conv_forward(s, x, w, bias, q, y)
template <class TW>
QuantizedConvWeights quantized_conv_pack(const ConvSpec& s, const TW* w, const std::int32_t* bias,
                                         const QuantParams& q) {
  QuantizedConvWeights p;
  detail::quantized_conv_prepare(s, w, bias, q, true, &p);
  return p;
}

// The conv of x with packed weights: what quantized_conv_forward(s, x, w, bias, q, y) gives, bit
// for bit. s may differ from the packing spec in N and the spatial sizes (and the layout) only;
// TX and TY must be what p.q says (x_signed, y_signed).
template <class TX, class TY>
void quantized_conv_run(const QuantizedConvWeights& p, const ConvSpec& s, const TX* x, TY* y) {
  detail::check_packed_spec(p.spec, s);
  const QuantParams& q = p.q;
  const index_t out_elems = s.N * s.C_out * s.out_size();
  if (out_elems == 0) return;
  if (p.packed.run) {
    std::vector<TX> xt;
    std::vector<TY> yt;
    if (!s.channels_last) {
      xt = detail::workspace<TX>(s.N * s.C_in * s.in_size(), "channels-last copy of x");
      kernels::to_channels_last(x, xt.data(), s.N, s.C_in, s.in_size());
      x = xt.data();
      yt = detail::workspace<TY>(out_elems, "channels-last output");
    }
    kernels::QConvArgs a = detail::q8_args(s, q, nullptr, nullptr, nullptr, nullptr);
    a.x = x;
    a.y = s.channels_last ? static_cast<void*>(y) : static_cast<void*>(yt.data());
    p.packed.run(a, p.packed);
    if (!s.channels_last) kernels::to_channels_first(yt.data(), y, s.N, s.out_size(), s.C_out);
    return;
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
  kernels::conv_quantized(s, x, q.x_zp, p.wq.data(), p.has_bias ? p.bias.data() : nullptr,
                          p.mult.data(), q.y_zp, lo, hi, yc);
  if (s.channels_last) kernels::to_channels_last(yc, y, s.N, s.C_out, s.out_size());
}

// Which INT8 kernels quantized_conv runs for this spec and these weight zero points (the
// names of kernels/quantized_gemm.hpp, or "scalar_direct").
inline const char* quantized_conv_path(const ConvSpec& s, bool w_signed,
                                       const std::vector<std::int32_t>& w_zp) {
  const kernels::QuantFns& qf = active_kernels().q8;
  std::vector<std::int32_t> zp(static_cast<std::size_t>(s.C_out));
  for (index_t o = 0; o < s.C_out; ++o) zp[o] = w_zp.size() == 1 ? w_zp[0] : w_zp[o];
  kernels::QConvArgs a;
  a.s = &s;
  a.w_signed = w_signed;
  a.w_zp = zp.data();
  const bool dw = kernels::q8_depthwise_applicable(s);
  if (kernels::int8_engine() == kernels::Int8Engine::direct ||
      (!dw && !detail::q8_gemm_preferred(s)) ||
      qf.packed_bytes(a, dw ? kernels::Q8Kind::depthwise : kernels::Q8Kind::gemm) == 0)
    return "scalar_direct";
  return qf.path(&a);
}

// quantized_conv: pack (into the calling thread's scratch) and run.
template <class TX, class TW, class TY>
void quantized_conv_forward(const ConvSpec& s, const TX* x, const TW* w, const std::int32_t* bias,
                            const QuantParams& q, TY* y) {
  if (s.N * s.C_out * s.out_size() == 0) return;
  QuantizedConvWeights p;
  detail::quantized_conv_prepare(s, w, bias, q, false, &p);
  quantized_conv_run(p, s, x, y);
}

}  // namespace convcore
