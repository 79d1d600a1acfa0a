// conv, conv_transpose, convolve/correlate and their geometry.
#include "bind_util.hpp"

namespace convcore {
namespace py_bind {

namespace {

// Per-dim slots of the user's rank (the spec widens to 3 with leading dummies).
Shape user_dims(const ConvSpec& s, const index_t* v) {
  return Shape(v + kMaxSpatial - s.nd, v + kMaxSpatial);
}

template <class T, class Run>
py::array run_op(const ConvSpec& s, bool transposed, const py::object& x, const py::object& w,
                 const py::object& bias, const py::object& out, Run&& run,
                 const char* x_name = "x", const char* w_name = "w") {
  auto xc = contiguous<T>(x, x_name);
  auto wc = contiguous<T>(w, w_name);
  optional_array<T> bc(bias, "bias");
  auto y = output_array<T>(output_shape(s, transposed), out, {x, w, bias});
  const T* xp = xc.data();
  const T* wp = wc.data();
  const T* bp = bc.data();
  T* yp = y.mutable_data();
  {
    NoGil nogil;
    run(s, xp, wp, bp, yp);
  }
  return std::move(y);
}

index_t bias_length(const py::object& bias) { return optional_length(bias, "bias", " (C_out,)"); }

template <bool Transposed>
py::array conv_binding(const py::array& x, const py::array& w, const py::object& bias,
                       const py::object& out, const ConvOptions& opt, const std::string& algo) {
  DType t = common_dtype(x, "x", {{w, "w"}, {bias, "bias"}});
  Algorithm a = parse_algorithm(algo);
  ConvSpec s = Transposed ? make_conv_transpose_spec(shape_of(x), shape_of(w), opt, bias_length(bias))
                          : make_conv_spec(shape_of(x), shape_of(w), opt, bias_length(bias));
  auto go = [&](auto tag) {
    using T = decltype(tag);
    return run_op<T>(s, Transposed, x, w, bias, out,
                     [a](const ConvSpec& sp, const T* xp, const T* wp, const T* bp, T* yp) {
                       if (Transposed)
                         conv_transpose_forward(sp, xp, wp, bp, yp, a);
                       else
                         conv_forward(sp, xp, wp, bp, yp, a);
                     });
  };
  return t == DType::f32 ? go(float{}) : go(double{});
}

py::array filter_binding(const py::array& a, const py::array& k, const std::string& mode,
                         const std::string& boundary, double fillvalue, bool convolve) {
  DType t = common_dtype(a, "a", {{k, "k"}});
  ConvSpec s = make_filter_spec(shape_of(a), shape_of(k), parse_filter_mode(mode),
                                parse_boundary(boundary), fillvalue, convolve);
  auto go = [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array y = run_op<T>(s, false, a, k, py::none(), py::none(),
                            [](const ConvSpec& sp, const T* xp, const T* wp, const T*, T* yp) {
                              filter_forward(sp, xp, wp, yp);
                            },
                            "a", "k");
    Shape shp = user_dims(s, s.out);
    return y.reshape(to_ssize(shp));
  };
  return t == DType::f32 ? go(float{}) : go(double{});
}

}  // namespace

CONVCORE_BINDING(conv) {
  py::class_<ConvOptions>(m, "ConvOptions",
                          "Normalised options of the conv family (built by convcore._args).")
      .def(py::init<>())
      .def_readwrite("stride", &ConvOptions::stride)
      .def_readwrite("dilation", &ConvOptions::dilation)
      .def_readwrite("pad_lo", &ConvOptions::pad_lo)
      .def_readwrite("pad_hi", &ConvOptions::pad_hi)
      .def_readwrite("output_padding", &ConvOptions::output_padding)
      .def_readwrite("pad_same", &ConvOptions::pad_same)
      .def_readwrite("groups", &ConvOptions::groups)
      .def_readwrite("fill", &ConvOptions::fill)
      .def_readwrite("flip", &ConvOptions::flip)
      .def_readwrite("channels_last", &ConvOptions::channels_last)
      .def_property(
          "padding_mode", [](const ConvOptions& o) { return std::string(padding_mode_name(o.pad_mode)); },
          [](ConvOptions& o, const std::string& s) { o.pad_mode = parse_pad_mode(s); })
      .def_property(
          "activation", [](const ConvOptions& o) { return static_cast<int>(o.act); },
          [](ConvOptions& o, const py::object& s) {
            o.act = s.is_none() ? Activation::none : parse_activation(s.cast<std::string>());
          });

  py::class_<ConvSpec>(m, "ConvSpec", "Validated geometry of one convolution.")
      .def_readonly("nd", &ConvSpec::nd)
      .def_readonly("N", &ConvSpec::N)
      .def_readonly("C_in", &ConvSpec::C_in)
      .def_readonly("C_out", &ConvSpec::C_out)
      .def_readonly("groups", &ConvSpec::groups)
      .def_readonly("channels_last", &ConvSpec::channels_last)
      .def_property_readonly("in_size", [](const ConvSpec& s) { return user_dims(s, s.in); })
      .def_property_readonly("out_size", [](const ConvSpec& s) { return user_dims(s, s.out); })
      .def_property_readonly("kernel", [](const ConvSpec& s) { return user_dims(s, s.k); })
      .def_property_readonly("stride", [](const ConvSpec& s) { return user_dims(s, s.stride); })
      .def_property_readonly("dilation", [](const ConvSpec& s) { return user_dims(s, s.dil); })
      .def_property_readonly("pad_lo", [](const ConvSpec& s) { return user_dims(s, s.pad_lo); })
      .def_property_readonly("pad_hi", [](const ConvSpec& s) { return user_dims(s, s.pad_hi); })
      .def_property_readonly("padding_mode", [](const ConvSpec& s) { return std::string(padding_mode_name(s.pad_mode)); })
      // The enum values themselves, for kernels outside this module (the CUDA path).
      .def_property_readonly("padding_mode_id", [](const ConvSpec& s) { return static_cast<int>(s.pad_mode); })
      .def_property_readonly("activation", [](const ConvSpec& s) { return static_cast<int>(s.act); })
      .def_readonly("fill", &ConvSpec::fill)
      .def_readonly("flip", &ConvSpec::flip);

  m.def("conv", &conv_binding<false>, py::arg("x"), py::arg("w"), py::arg("bias"), py::arg("out"),
        py::arg("options"), py::arg("algorithm") = "auto");
  m.def("conv_transpose", &conv_binding<true>, py::arg("x"), py::arg("w"), py::arg("bias"),
        py::arg("out"), py::arg("options"), py::arg("algorithm") = "auto");
  m.def("filter", &filter_binding, py::arg("a"), py::arg("k"), py::arg("mode"),
        py::arg("boundary"), py::arg("fillvalue"), py::arg("convolve"));

  m.def("conv_spec",
        [](const Shape& x, const Shape& w, const ConvOptions& o, index_t bias_len, bool transposed) {
          return transposed ? make_conv_transpose_spec(x, w, o, bias_len)
                            : make_conv_spec(x, w, o, bias_len);
        },
        py::arg("x_shape"), py::arg("w_shape"), py::arg("options"), py::arg("bias_len") = -1,
        py::arg("transposed") = false);
  // what algorithm="auto" runs for a forward conv spec (tests pin the cost model with it)
  m.def("_conv_algorithm",
        [](const ConvSpec& s) { return std::string(algorithm_name(choose_conv_algorithm(s))); },
        py::arg("spec"));
  m.def("_conv_transpose_algorithm",
        [](const ConvSpec& s) {
          return std::string(algorithm_name(choose_conv_transpose_algorithm(s)));
        },
        py::arg("spec"));
  m.def("output_shape",
        [](const ConvSpec& s, bool transposed) { return output_shape(s, transposed); },
        py::arg("spec"), py::arg("transposed") = false);
  m.def("filter_spec",
        [](const Shape& a, const Shape& k, const std::string& mode, const std::string& boundary,
           double fill, bool convolve) {
          return make_filter_spec(a, k, parse_filter_mode(mode), parse_boundary(boundary), fill,
                                  convolve);
        },
        py::arg("a_shape"), py::arg("k_shape"), py::arg("mode"), py::arg("boundary"),
        py::arg("fillvalue"), py::arg("convolve"));

  // The index math itself, for the Python arithmetic helpers (one source of truth).
  m.def("conv_out_size", &conv_out_size, py::arg("size"), py::arg("kernel"), py::arg("stride"),
        py::arg("dilation"), py::arg("pad_lo"), py::arg("pad_hi"));
  // Which input window one output block reads (the Dask backend's halos come from these).
  m.def("conv_block_input",
        [](index_t a, index_t b, index_t k, index_t s, index_t d, index_t pad_lo) {
          if (b <= a) fail_value("the output block [a, b) must not be empty, got [", a, ", ", b, ")");
          index_t lo = 0, hi = 0;
          conv_block_input(a, b, k, s, d, pad_lo, &lo, &hi);
          return py::make_tuple(lo, hi);
        },
        py::arg("a"), py::arg("b"), py::arg("kernel"), py::arg("stride"), py::arg("dilation"),
        py::arg("pad_lo"));
  m.def("conv_transpose_block_input",
        [](index_t a, index_t b, index_t in, index_t k, index_t s, index_t d, index_t pad_lo) {
          if (b <= a) fail_value("the output block [a, b) must not be empty, got [", a, ", ", b, ")");
          index_t lo = 0, hi = 0, pb = 0, pa = 0;
          conv_transpose_block_input(a, b, in, k, s, d, pad_lo, &lo, &hi, &pb, &pa);
          return py::make_tuple(lo, hi, pb, pa);
        },
        py::arg("a"), py::arg("b"), py::arg("size"), py::arg("kernel"), py::arg("stride"),
        py::arg("dilation"), py::arg("pad_lo"));
  m.def("pad_source_range",
        [](index_t lo, index_t hi, index_t n, int mode) {
          if (n < 1) fail_value("size must be positive, got ", n);
          if (mode < 0 || mode > static_cast<int>(PadMode::symmetric))
            fail_value("mode must be a padding_mode_id (0-4), got ", mode);
          std::vector<index_t> v;
          for (index_t i = lo; i < hi; ++i) v.push_back(pad_source_index(i, n, static_cast<PadMode>(mode)));
          return v;
        },
        py::arg("lo"), py::arg("hi"), py::arg("size"), py::arg("mode"));
  m.def("receptive_field_step",
        [](index_t k, index_t s, index_t d, index_t size, index_t jump, index_t start,
           index_t pad_lo) {
          receptive_field_step(k, s, d, &size, &jump, &start, pad_lo);
          return py::make_tuple(size, jump, start);
        },
        py::arg("kernel"), py::arg("stride"), py::arg("dilation"), py::arg("size"), py::arg("jump"),
        py::arg("start"), py::arg("pad_lo"));
}

}  // namespace py_bind
}  // namespace convcore
