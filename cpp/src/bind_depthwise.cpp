// depthwise_conv2d, pointwise_conv, depthwise_separable_conv2d, spatially_separable_conv2d,
// flattened_conv2d and their shape functions.
#include "bind_util.hpp"

namespace convcore {
namespace py_bind {

namespace {

Activation activation_of(const py::object& a) {
  return a.is_none() ? Activation::none : parse_activation(a.cast<std::string>());
}

// Contiguous views of every array, a fresh output, the op run without the GIL.
template <class T, std::size_t K, class Run>
py::array run(const Shape& out_shape, const std::array<py::object, K>& in,
              const std::array<const char*, K>& names, Run&& fn) {
  std::array<carray<T>, K> views;
  std::array<const T*, K> ptr{};
  for (std::size_t i = 0; i < K; ++i) {
    if (in[i].is_none()) continue;
    views[i] = contiguous<T>(in[i], names[i]);
    ptr[i] = views[i].data();
  }
  py::array_t<T> y(to_ssize(out_shape));
  T* yp = y.mutable_data();
  {
    NoGil nogil;
    fn(ptr, yp);
  }
  return std::move(y);
}

py::array depthwise_binding(const py::array& x, const py::array& w, const py::object& bias,
                            const ConvOptions& o) {
  DType t = common_dtype(x, "x", {{w, "w"}, {bias, "bias"}});
  ConvSpec s = make_depthwise_spec(shape_of(x), shape_of(w), o, optional_length(bias, "bias"));
  auto go = [&](auto tag) {
    using T = decltype(tag);
    return run<T, 3>(output_shape(s, false), {x, w, bias}, {"x", "w", "bias"}, [&](auto p, T* y) {
      depthwise_forward(s, p[0], p[1], p[2], y);
    });
  };
  return t == DType::f32 ? go(float{}) : go(double{});
}

py::array pointwise_binding(const py::array& x, const py::array& w, const py::object& bias,
                            index_t groups, bool channels_last, const py::object& act) {
  DType t = common_dtype(x, "x", {{w, "w"}, {bias, "bias"}});
  PointwiseSpec s = make_pointwise_spec(shape_of(x), shape_of(w), groups, channels_last,
                                        activation_of(act), optional_length(bias, "bias"));
  auto go = [&](auto tag) {
    using T = decltype(tag);
    return run<T, 3>(output_shape(s), {x, w, bias}, {"x", "w", "bias"}, [&](auto p, T* y) {
      pointwise_forward(s, p[0], p[1], p[2], y);
    });
  };
  return t == DType::f32 ? go(float{}) : go(double{});
}

py::array dw_separable_binding(const py::array& x, const py::array& wd, const py::array& wp,
                               const py::object& bd, const py::object& bp, const ConvOptions& o,
                               const py::object& mid_act) {
  DType t = common_dtype(x, "x", {{wd, "w_depthwise"}, {wp, "w_pointwise"}, {bd, "b_depthwise"},
                                  {bp, "b_pointwise"}});
  DepthwiseSeparableSpec s = make_depthwise_separable_spec(
      shape_of(x), shape_of(wd), shape_of(wp), o, activation_of(mid_act),
      optional_length(bd, "b_depthwise"), optional_length(bp, "b_pointwise"));
  auto go = [&](auto tag) {
    using T = decltype(tag);
    return run<T, 5>(output_shape(s), {x, wd, wp, bd, bp},
                     {"x", "w_depthwise", "w_pointwise", "b_depthwise", "b_pointwise"}, [&](auto p, T* y) {
      depthwise_separable_forward(s, p[0], p[1], p[2], p[3], p[4], y);
    });
  };
  return t == DType::f32 ? go(float{}) : go(double{});
}

py::array spatially_separable_binding(const py::array& x, const py::array& wc,
                                      const py::array& wr, const py::object& bias,
                                      const ConvOptions& o) {
  DType t = common_dtype(x, "x", {{wc, "w_col"}, {wr, "w_row"}, {bias, "bias"}});
  SpatiallySeparableSpec s = make_spatially_separable_spec(shape_of(x), shape_of(wc),
                                                           shape_of(wr), o,
                                                           optional_length(bias, "bias"));
  auto go = [&](auto tag) {
    using T = decltype(tag);
    return run<T, 4>(output_shape(s.row, false), {x, wc, wr, bias}, {"x", "w_col", "w_row", "bias"}, [&](auto p, T* y) {
      spatially_separable_forward(s, p[0], p[1], p[2], p[3], y);
    });
  };
  return t == DType::f32 ? go(float{}) : go(double{});
}

py::array flattened_binding(const py::array& x, const py::array& wc, const py::array& wv,
                            const py::array& wh, const py::object& bias, const ConvOptions& o) {
  DType t = common_dtype(x, "x", {{wc, "w_channel"}, {wv, "w_vertical"}, {wh, "w_horizontal"},
                                  {bias, "bias"}});
  FlattenedSpec s = make_flattened_spec(shape_of(x), shape_of(wc), shape_of(wv), shape_of(wh), o,
                                        optional_length(bias, "bias"));
  auto go = [&](auto tag) {
    using T = decltype(tag);
    return run<T, 5>(output_shape(s.horizontal, false), {x, wc, wv, wh, bias},
                     {"x", "w_channel", "w_vertical", "w_horizontal", "bias"}, [&](auto p, T* y) {
      flattened_forward(s, p[0], p[1], p[2], p[3], p[4], y);
    });
  };
  return t == DType::f32 ? go(float{}) : go(double{});
}

py::dict pointwise_info(const PointwiseSpec& s) {
  py::dict d;
  d["N"] = s.N;
  d["C_in"] = s.C_in;
  d["C_out"] = s.C_out;
  d["groups"] = s.groups;
  d["pixels"] = s.P;
  d["output_shape"] = output_shape(s);
  return d;
}

// A validated pointwise conv as the equivalent 1-D conv over its flattened pixels: x viewed as
// (N, C_in, P) (or (N, P, C_in)), w as (C_out, C_in/groups, 1). The CUDA path launches its conv
// kernels with it. Filled field by field (make_conv_spec would refuse P == 0, which the pointwise
// op allows): every check was made by make_pointwise_spec.
ConvSpec pixels_conv_spec(const PointwiseSpec& p) {
  ConvSpec s;
  s.nd = 1;
  s.N = p.N;
  s.C_in = p.C_in;
  s.C_out = p.C_out;
  s.groups = p.groups;
  s.in[kMaxSpatial - 1] = p.P;
  s.out[kMaxSpatial - 1] = p.P;
  s.channels_last = p.channels_last;
  s.act = p.act;
  return s;
}

}  // namespace

CONVCORE_BINDING(depthwise) {
  m.def("depthwise_conv2d", &depthwise_binding, py::arg("x"), py::arg("w"), py::arg("bias"),
        py::arg("options"));
  m.def("pointwise_conv", &pointwise_binding, py::arg("x"), py::arg("w"), py::arg("bias"),
        py::arg("groups"), py::arg("channels_last"), py::arg("activation"));
  m.def("depthwise_separable_conv2d", &dw_separable_binding, py::arg("x"), py::arg("w_depthwise"),
        py::arg("w_pointwise"), py::arg("b_depthwise"), py::arg("b_pointwise"),
        py::arg("options"), py::arg("mid_activation"));
  m.def("spatially_separable_conv2d", &spatially_separable_binding, py::arg("x"),
        py::arg("w_col"), py::arg("w_row"), py::arg("bias"), py::arg("options"));
  m.def("flattened_conv2d", &flattened_binding, py::arg("x"), py::arg("w_channel"),
        py::arg("w_vertical"), py::arg("w_horizontal"), py::arg("bias"), py::arg("options"));

  // Shape-only validation for the cost models (the same checks as the ops).
  m.def("depthwise_spec",
        [](const Shape& x, const Shape& w, const ConvOptions& o, index_t bias_len) {
          return make_depthwise_spec(x, w, o, bias_len);
        },
        py::arg("x_shape"), py::arg("w_shape"), py::arg("options"), py::arg("bias_len") = -1);
  m.def("pointwise_spec",
        [](const Shape& x, const Shape& w, index_t groups, bool channels_last, index_t bias_len) {
          return pointwise_info(
              make_pointwise_spec(x, w, groups, channels_last, Activation::none, bias_len));
        },
        py::arg("x_shape"), py::arg("w_shape"), py::arg("groups"), py::arg("channels_last"),
        py::arg("bias_len") = -1);
  m.def("depthwise_separable_spec",
        [](const Shape& x, const Shape& wd, const Shape& wp, const ConvOptions& o, index_t bd,
           index_t bp) {
          DepthwiseSeparableSpec s = make_depthwise_separable_spec(x, wd, wp, o, Activation::none,
                                                                   bd, bp);
          return py::make_tuple(s.dw, s.C_out, output_shape(s));
        },
        py::arg("x_shape"), py::arg("wd_shape"), py::arg("wp_shape"), py::arg("options"),
        py::arg("bd_len") = -1, py::arg("bp_len") = -1);
  m.def("spatially_separable_spec",
        [](const Shape& x, const Shape& wc, const Shape& wr, const ConvOptions& o, index_t b) {
          SpatiallySeparableSpec s = make_spatially_separable_spec(x, wc, wr, o, b);
          return py::make_tuple(s.col, s.row);
        },
        py::arg("x_shape"), py::arg("wc_shape"), py::arg("wr_shape"), py::arg("options"),
        py::arg("bias_len") = -1);
  m.def("flattened_spec",
        [](const Shape& x, const Shape& wc, const Shape& wv, const Shape& wh, const ConvOptions& o,
           index_t b) {
          FlattenedSpec s = make_flattened_spec(x, wc, wv, wh, o, b);
          return py::make_tuple(pointwise_info(s.channel), s.vertical, s.horizontal);
        },
        py::arg("x_shape"), py::arg("wc_shape"), py::arg("wv_shape"), py::arg("wh_shape"),
        py::arg("options"), py::arg("bias_len") = -1);

  // The launchable ConvSpecs of the CUDA path (convcore.cuda), validated exactly as the ops.
  m.def("pointwise_conv_spec",
        [](const Shape& x, const Shape& w, index_t groups, bool channels_last,
           const py::object& act, index_t bias_len) {
          return pixels_conv_spec(
              make_pointwise_spec(x, w, groups, channels_last, activation_of(act), bias_len));
        },
        py::arg("x_shape"), py::arg("w_shape"), py::arg("groups"), py::arg("channels_last"),
        py::arg("activation") = py::none(), py::arg("bias_len") = -1);
  // (depthwise stage with mid_activation, pointwise stage over the intermediate's pixels).
  m.def("depthwise_separable_conv_specs",
        [](const Shape& x, const Shape& wd, const Shape& wp, const ConvOptions& o,
           const py::object& mid_act, index_t bd, index_t bp) {
          DepthwiseSeparableSpec s =
              make_depthwise_separable_spec(x, wd, wp, o, activation_of(mid_act), bd, bp);
          const ConvSpec& d = s.dw;
          Shape mid = d.channels_last ? Shape{d.N, d.out[1], d.out[2], d.C_out}
                                      : Shape{d.N, d.C_out, d.out[1], d.out[2]};
          PointwiseSpec p = make_pointwise_spec(mid, wp, 1, d.channels_last, s.act, bp,
                                                "w_pointwise", "b_pointwise");
          return py::make_tuple(d, pixels_conv_spec(p));
        },
        py::arg("x_shape"), py::arg("wd_shape"), py::arg("wp_shape"), py::arg("options"),
        py::arg("mid_activation") = py::none(), py::arg("bd_len") = -1, py::arg("bp_len") = -1);
}

}  // namespace py_bind
}  // namespace convcore
