// quantized_conv (ONNX QLinearConv): 8-bit x and w, int32 bias, 8-bit y.
#include <cstdint>
#include <string>

#include "bind_util.hpp"

namespace convcore {
namespace py_bind {

namespace {

// true for int8, false for uint8; anything else is a TypeError naming the parameter.
bool int8_kind(const py::array& a, const char* name) {
  if (holds<std::int8_t>(a.dtype())) return true;
  if (holds<std::uint8_t>(a.dtype())) return false;
  fail_type(name, " must be a uint8 or int8 array, got dtype ", dtype_name(a));
}

// The length of an int32 bias (ONNX QLinearConv's B), -1 for none; another dtype is a
// TypeError naming bias.
index_t int32_bias_length(const py::object& bias) {
  if (bias.is_none()) return -1;
  py::array b = as_array(bias, "bias");
  if (!holds<std::int32_t>(b.dtype()))
    fail_type("bias must be an int32 array (ONNX QLinearConv's B), got dtype ", dtype_name(b));
  return optional_length(bias, "bias", " (C_out,)");
}

template <class TX, class TW, class TY>
py::array run(const ConvSpec& s, const py::array& x, const py::array& w, const py::object& bias,
              const QuantParams& q) {
  auto xc = contiguous<TX>(x, "x");
  auto wc = contiguous<TW>(w, "w");
  carray<std::int32_t> bc;
  if (!bias.is_none()) bc = contiguous<std::int32_t>(bias, "bias");
  py::array_t<TY> y(to_ssize(output_shape(s, false)));
  const TX* xp = xc.data();
  const TW* wp = wc.data();
  const std::int32_t* bp = bias.is_none() ? nullptr : bc.data();
  TY* yp = y.mutable_data();
  {
    NoGil nogil;
    quantized_conv_forward(s, xp, wp, bp, q, yp);
  }
  return std::move(y);
}

template <class TX, class TW>
py::array run_y(const ConvSpec& s, const py::array& x, const py::array& w, const py::object& bias,
                const QuantParams& q) {
  return q.y_signed ? run<TX, TW, std::int8_t>(s, x, w, bias, q)
                    : run<TX, TW, std::uint8_t>(s, x, w, bias, q);
}

// Weights packed once (ops/quantized_conv.hpp, quantized_conv_pack) with what a run needs to
// validate its x exactly as quantized_conv does.
struct PackedQuantizedConv {
  QuantizedConvWeights pw;
  Shape w_shape;
  ConvOptions opt;
  index_t bias_len = -1;
};

template <class TX, class TY>
py::array run_packed(const PackedQuantizedConv& p, const ConvSpec& s, const py::array& x,
                     const py::object& out) {
  auto xc = contiguous<TX>(x, "x");
  auto y = output_array<TY>(output_shape(s, false), out, {x});
  const TX* xp = xc.data();
  TY* yp = y.mutable_data();
  {
    NoGil nogil;
    quantized_conv_run(p.pw, s, xp, yp);
  }
  return std::move(y);
}

// The parameters and the validated spec of a quantized_conv call, from array facts (shapes,
// whether x / w are int8 rather than uint8, the bias length, -1 for none). Shared by the CPU
// binding and quantized_conv_spec (the CUDA path), so both raise the same errors.
ConvSpec quantized_spec(const Shape& x, bool x_signed, double x_scale, std::int64_t x_zp,
                        const Shape& w, bool w_signed, const std::vector<double>& w_scale,
                        const std::vector<std::int64_t>& w_zp, double y_scale, std::int64_t y_zp,
                        bool y_signed, index_t bias_len, const ConvOptions& opt, QuantParams* qp) {
  QuantParams& q = *qp;
  q.x_signed = x_signed;
  q.w_signed = w_signed;
  q.y_signed = y_signed;
  q.x_scale = x_scale;
  q.y_scale = y_scale;
  q.w_scale = w_scale;
  // Range-check before narrowing, so an out-of-range zero point is reported as given.
  detail::check_zp(x_zp, q.x_signed, "x_zero_point", "x");
  detail::check_zp(y_zp, q.y_signed, "y_zero_point", "y");
  q.x_zp = static_cast<std::int32_t>(x_zp);
  q.y_zp = static_cast<std::int32_t>(y_zp);
  q.w_zp.clear();
  for (auto v : w_zp) {
    detail::check_zp(v, q.w_signed, "w_zero_point", "w");
    q.w_zp.push_back(static_cast<std::int32_t>(v));
  }
  return make_quantized_conv_spec(x, w, opt, q, bias_len);
}

py::array quantized_conv_binding(const py::array& x, double x_scale, std::int64_t x_zp,
                                 const py::array& w, const std::vector<double>& w_scale,
                                 const std::vector<std::int64_t>& w_zp, double y_scale,
                                 std::int64_t y_zp, bool y_signed, const py::object& bias,
                                 const ConvOptions& opt) {
  QuantParams q;
  const bool xs = int8_kind(x, "x"), ws = int8_kind(w, "w");
  const index_t bias_len = int32_bias_length(bias);
  ConvSpec s = quantized_spec(shape_of(x), xs, x_scale, x_zp, shape_of(w), ws, w_scale, w_zp,
                              y_scale, y_zp, y_signed, bias_len, opt, &q);
  if (q.x_signed)
    return q.w_signed ? run_y<std::int8_t, std::int8_t>(s, x, w, bias, q)
                      : run_y<std::int8_t, std::uint8_t>(s, x, w, bias, q);
  return q.w_signed ? run_y<std::uint8_t, std::int8_t>(s, x, w, bias, q)
                    : run_y<std::uint8_t, std::uint8_t>(s, x, w, bias, q);
}

template <class TW>
PackedQuantizedConv pack_as(const ConvSpec& s, const py::array& w, const py::object& bias,
                            const QuantParams& q) {
  auto wc = contiguous<TW>(w, "w");
  carray<std::int32_t> bc;
  if (!bias.is_none()) bc = contiguous<std::int32_t>(bias, "bias");
  const TW* wp = wc.data();
  const std::int32_t* bp = bias.is_none() ? nullptr : bc.data();
  PackedQuantizedConv p;
  {
    NoGil nogil;
    p.pw = quantized_conv_pack(s, wp, bp, q);
  }
  return p;
}

// quantized_conv's arguments but x's: x_shape stands for x (its dtype in x_signed).
PackedQuantizedConv quantized_pack_binding(const Shape& x_shape, bool x_signed, double x_scale,
                                           std::int64_t x_zp, const py::array& w,
                                           const std::vector<double>& w_scale,
                                           const std::vector<std::int64_t>& w_zp, double y_scale,
                                           std::int64_t y_zp, bool y_signed,
                                           const py::object& bias, const ConvOptions& opt) {
  QuantParams q;
  const bool ws = int8_kind(w, "w");
  const index_t bias_len = int32_bias_length(bias);
  ConvSpec s = quantized_spec(x_shape, x_signed, x_scale, x_zp, shape_of(w), ws, w_scale, w_zp,
                              y_scale, y_zp, y_signed, bias_len, opt, &q);
  PackedQuantizedConv p = ws ? pack_as<std::int8_t>(s, w, bias, q) : pack_as<std::uint8_t>(s, w, bias, q);
  p.w_shape = shape_of(w);
  p.opt = opt;
  p.bias_len = bias_len;
  return p;
}

py::array quantized_run_binding(const PackedQuantizedConv& p, const py::array& x,
                                const py::object& out) {
  const QuantParams& q = p.pw.q;
  const bool xs = int8_kind(x, "x");
  if (xs != q.x_signed)
    fail_type("x must be ", q.x_signed ? "int8" : "uint8", " (as when the weights were packed), got ",
              dtype_name(x));
  std::vector<std::int64_t> wzp(q.w_zp.begin(), q.w_zp.end());
  QuantParams q2;
  ConvSpec s = quantized_spec(shape_of(x), xs, q.x_scale, q.x_zp, p.w_shape, q.w_signed, q.w_scale,
                              wzp, q.y_scale, q.y_zp, q.y_signed, p.bias_len, p.opt, &q2);
  if (xs)
    return q.y_signed ? run_packed<std::int8_t, std::int8_t>(p, s, x, out)
                      : run_packed<std::int8_t, std::uint8_t>(p, s, x, out);
  return q.y_signed ? run_packed<std::uint8_t, std::int8_t>(p, s, x, out)
                    : run_packed<std::uint8_t, std::uint8_t>(p, s, x, out);
}

}  // namespace

CONVCORE_BINDING(quantized) {
  // Weights packed once for many runs (ops/quantized_conv.hpp): private, for the benchmarks,
  // the tests and a plan layer; run(x) gives quantized_conv's result for x bit for bit.
  py::class_<PackedQuantizedConv>(m, "_QuantizedConvWeights")
      .def("run", &quantized_run_binding, py::arg("x"), py::arg("out") = py::none())
      .def_property_readonly("path", [](const PackedQuantizedConv& p) { return std::string(p.pw.path()); })
      .def_property_readonly("nbytes", [](const PackedQuantizedConv& p) { return p.pw.bytes(); });
  m.def("_quantized_conv_pack", &quantized_pack_binding, py::arg("x_shape"), py::arg("x_signed"),
        py::arg("x_scale"), py::arg("x_zero_point"), py::arg("w"), py::arg("w_scale"),
        py::arg("w_zero_point"), py::arg("y_scale"), py::arg("y_zero_point"),
        py::arg("y_signed"), py::arg("bias"), py::arg("options"));
  m.def("quantized_conv", &quantized_conv_binding, py::arg("x"), py::arg("x_scale"),
        py::arg("x_zero_point"), py::arg("w"), py::arg("w_scale"), py::arg("w_zero_point"),
        py::arg("y_scale"), py::arg("y_zero_point"), py::arg("y_signed"), py::arg("bias"),
        py::arg("options"));
  // Validation only, for the CUDA path: the ConvSpec, after exactly the checks of
  // quantized_conv (x_signed / w_signed: int8 rather than uint8; bias_len -1: no bias).
  m.def("quantized_conv_spec",
        [](const Shape& x, bool x_signed, double x_scale, std::int64_t x_zp, const Shape& w,
           bool w_signed, const std::vector<double>& w_scale,
           const std::vector<std::int64_t>& w_zp, double y_scale, std::int64_t y_zp,
           bool y_signed, index_t bias_len, const ConvOptions& opt) {
          QuantParams q;
          return quantized_spec(x, x_signed, x_scale, x_zp, w, w_signed, w_scale, w_zp, y_scale,
                                y_zp, y_signed, bias_len, opt, &q);
        },
        py::arg("x_shape"), py::arg("x_signed"), py::arg("x_scale"), py::arg("x_zero_point"),
        py::arg("w_shape"), py::arg("w_signed"), py::arg("w_scale"), py::arg("w_zero_point"),
        py::arg("y_scale"), py::arg("y_zero_point"), py::arg("y_signed"), py::arg("bias_len"),
        py::arg("options"));
  // Tests and benchmarks: the INT8 kernels a call would run ("avx512_vnni", "avx512bw_madd",
  // "avx2_madd", "scalar_direct"), and the process-wide engine override ("auto": the GEMM
  // engine where it applies; "direct": the scalar direct kernel; "no_vnni": AVX-512 without
  // vpdpbusd). Results are identical whichever runs.
  m.def(
      "_quantized_conv_path",
      [](const Shape& x, const Shape& w, bool w_signed, const std::vector<std::int64_t>& w_zp,
         const ConvOptions& opt) {
        QuantParams q;
        ConvSpec s = quantized_spec(x, false, 1.0, 0, w, w_signed, {1.0}, w_zp, 1.0, 0, false, -1,
                                    opt, &q);
        return std::string(quantized_conv_path(s, w_signed, q.w_zp));
      },
      py::arg("x_shape"), py::arg("w_shape"), py::arg("w_signed"), py::arg("w_zero_point"),
      py::arg("options"));
  m.def(
      "_set_int8_engine",
      [](const std::string& name) {
        kernels::Int8Engine e;
        if (name == "auto") e = kernels::Int8Engine::automatic;
        else if (name == "direct") e = kernels::Int8Engine::direct;
        else if (name == "no_vnni") e = kernels::Int8Engine::no_vnni;
        else fail_value("engine must be one of 'auto', 'direct', 'no_vnni', got '", name, "'");
        kernels::int8_engine_setting().store(static_cast<int>(e));
      },
      py::arg("engine"));
}

}  // namespace py_bind
}  // namespace convcore
