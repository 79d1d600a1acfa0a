// channel_shuffle, shuffled_grouped_conv, asymmetric_conv2d / fuse_asymmetric,
// squeeze_excitation, conv_matrix, transposed_overlap_count.
#include "bind_util.hpp"

namespace convcore {
namespace py_bind {

namespace {

template <class F>
auto by_dtype(DType t, F&& f) {
  return t == DType::f32 ? f(float{}) : f(double{});
}

py::array channel_shuffle_binding(const py::array& x, index_t groups, bool channels_last) {
  DType t = common_dtype(x, "x", {});
  ShuffleSpec s = make_channel_shuffle_spec(shape_of(x), groups, channels_last);
  return by_dtype(t, [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto xc = contiguous<T>(x, "x");
    py::array_t<T> y(to_ssize(shape_of(x)));
    const T* xp = xc.data();
    T* yp = y.mutable_data();
    {
      NoGil nogil;
      channel_shuffle_forward(s, xp, yp);
    }
    return std::move(y);
  });
}

py::array shuffled_grouped_conv_binding(const py::array& x, const py::array& w,
                                        const py::object& bias, const ConvOptions& opt,
                                        const std::string& algo) {
  DType t = common_dtype(x, "x", {{w, "w"}, {bias, "bias"}});
  Algorithm a = parse_algorithm(algo);
  ConvSpec s = make_shuffled_grouped_conv_spec(shape_of(x), shape_of(w), opt,
                                               optional_length(bias, "bias"));
  return by_dtype(t, [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto xc = contiguous<T>(x, "x");
    auto wc = contiguous<T>(w, "w");
    optional_array<T> bc(bias, "bias");
    py::array_t<T> y(to_ssize(output_shape(s, false)));
    const T *xp = xc.data(), *wp = wc.data(), *bp = bc.data();
    T* yp = y.mutable_data();
    {
      NoGil nogil;
      shuffled_grouped_conv_forward(s, xp, wp, bp, yp, a);
    }
    return std::move(y);
  });
}

py::array fuse_asymmetric_binding(const py::array& sq, const py::array& hor,
                                  const py::array& ver) {
  DType t = common_dtype(sq, "w_square", {{hor, "w_hor"}, {ver, "w_ver"}});
  Shape ss = shape_of(sq);
  index_t k = check_asymmetric_weights(ss, shape_of(hor), shape_of(ver));
  return by_dtype(t, [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto a = contiguous<T>(sq, "w_square");
    auto b = contiguous<T>(hor, "w_hor");
    auto c = contiguous<T>(ver, "w_ver");
    py::array_t<T> W(to_ssize(ss));
    const T *ap = a.data(), *bp = b.data(), *cp = c.data();
    T* wp = W.mutable_data();
    {
      NoGil nogil;
      fuse_asymmetric(ap, bp, cp, wp, ss[0] * ss[1], k);
    }
    return std::move(W);
  });
}

py::array asymmetric_binding(const py::array& x, const py::array& sq, const py::array& hor,
                             const py::array& ver, const py::object& bias, const ConvOptions& opt,
                             const std::string& algo) {
  DType t = common_dtype(x, "x", {{sq, "w_square"}, {hor, "w_hor"}, {ver, "w_ver"}, {bias, "bias"}});
  Algorithm a = parse_algorithm(algo);
  ConvSpec s = make_asymmetric_spec(shape_of(x), shape_of(sq), shape_of(hor), shape_of(ver), opt,
                                    optional_length(bias, "bias"));
  return by_dtype(t, [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto xc = contiguous<T>(x, "x");
    auto sc = contiguous<T>(sq, "w_square");
    auto hc = contiguous<T>(hor, "w_hor");
    auto vc = contiguous<T>(ver, "w_ver");
    optional_array<T> bc(bias, "bias");
    py::array_t<T> y(to_ssize(output_shape(s, false)));
    const T *xp = xc.data(), *sp = sc.data(), *hp = hc.data(), *vp = vc.data(), *bp = bc.data();
    T* yp = y.mutable_data();
    {
      NoGil nogil;
      asymmetric_conv2d_forward(s, xp, sp, hp, vp, bp, yp, a);
    }
    return std::move(y);
  });
}

py::array se_binding(const py::array& x, const py::array& w1, const py::object& b1,
                     const py::array& w2, const py::object& b2, bool channels_last) {
  DType t = common_dtype(x, "x", {{w1, "w1"}, {b1, "b1"}, {w2, "w2"}, {b2, "b2"}});
  SESpec s = make_se_spec(shape_of(x), shape_of(w1), optional_length(b1, "b1"), shape_of(w2),
                          optional_length(b2, "b2"), channels_last);
  return by_dtype(t, [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto xc = contiguous<T>(x, "x");
    auto w1c = contiguous<T>(w1, "w1");
    auto w2c = contiguous<T>(w2, "w2");
    optional_array<T> b1c(b1, "b1"), b2c(b2, "b2");
    py::array_t<T> y(to_ssize(shape_of(x)));
    const T *xp = xc.data(), *w1p = w1c.data(), *w2p = w2c.data(), *b1p = b1c.data(),
            *b2p = b2c.data();
    T* yp = y.mutable_data();
    {
      NoGil nogil;
      squeeze_excitation_forward(s, xp, w1p, b1p, w2p, b2p, yp);
    }
    return std::move(y);
  });
}

// (data, indices, indptr, (rows, cols)) of the conv's CSR matrix.
py::tuple conv_matrix_binding(const Shape& x_shape, const py::array& w, const ConvOptions& opt) {
  DType t = dtype_of(w, "w");
  ConvSpec s = make_conv_spec(x_shape, shape_of(w), opt);
  return by_dtype(t, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    ConvMatrixSize m = conv_matrix_size(s, sizeof(T));
    auto wc = contiguous<T>(w, "w");
    py::array_t<long long> indptr(static_cast<py::ssize_t>(m.rows + 1));
    py::array_t<long long> indices(static_cast<py::ssize_t>(m.nnz));
    py::array_t<T> data(static_cast<py::ssize_t>(m.nnz));
    const T* wp = wc.data();
    long long *ip = indptr.mutable_data(), *jp = indices.mutable_data();
    T* dp = data.mutable_data();
    {
      NoGil nogil;
      conv_matrix_fill(s, wp, ip, jp, dp);
    }
    return py::make_tuple(data, indices, indptr, py::make_tuple(m.rows, m.cols));
  });
}

}  // namespace

CONVCORE_BINDING(variants) {
  m.def("channel_shuffle", &channel_shuffle_binding, py::arg("x"), py::arg("groups"),
        py::arg("channels_last") = false);
  m.def("channel_shuffle_shape",
        [](const Shape& x, index_t groups, bool channels_last) {
          make_channel_shuffle_spec(x, groups, channels_last);
          return x;
        },
        py::arg("x_shape"), py::arg("groups"), py::arg("channels_last") = false);
  m.def("shuffled_grouped_conv", &shuffled_grouped_conv_binding, py::arg("x"), py::arg("w"),
        py::arg("bias"), py::arg("options"), py::arg("algorithm") = "auto");
  m.def("shuffled_grouped_conv_spec",
        [](const Shape& x, const Shape& w, const ConvOptions& o, index_t bias_len) {
          return make_shuffled_grouped_conv_spec(x, w, o, bias_len);
        },
        py::arg("x_shape"), py::arg("w_shape"), py::arg("options"), py::arg("bias_len") = -1);
  m.def("fuse_asymmetric", &fuse_asymmetric_binding, py::arg("w_square"), py::arg("w_hor"),
        py::arg("w_ver"));
  m.def("check_asymmetric_weights", &check_asymmetric_weights, py::arg("w_square_shape"),
        py::arg("w_hor_shape"), py::arg("w_ver_shape"));
  m.def("asymmetric_conv2d", &asymmetric_binding, py::arg("x"), py::arg("w_square"),
        py::arg("w_hor"), py::arg("w_ver"), py::arg("bias"), py::arg("options"),
        py::arg("algorithm") = "auto");
  m.def("asymmetric_spec",
        [](const Shape& x, const Shape& sq, const Shape& hor, const Shape& ver,
           const ConvOptions& o, index_t bias_len) {
          return make_asymmetric_spec(x, sq, hor, ver, o, bias_len);
        },
        py::arg("x_shape"), py::arg("w_square_shape"), py::arg("w_hor_shape"),
        py::arg("w_ver_shape"), py::arg("options"), py::arg("bias_len") = -1);
  m.def("squeeze_excitation", &se_binding, py::arg("x"), py::arg("w1"), py::arg("b1"),
        py::arg("w2"), py::arg("b2"), py::arg("channels_last") = false);
  m.def("squeeze_excitation_spec",
        [](const Shape& x, const Shape& w1, index_t b1, const Shape& w2, index_t b2, bool cl) {
          SESpec s = make_se_spec(x, w1, b1, w2, b2, cl);
          return py::make_tuple(s.N, s.C, s.S, s.R);
        },
        py::arg("x_shape"), py::arg("w1_shape"), py::arg("b1_len"), py::arg("w2_shape"),
        py::arg("b2_len"), py::arg("channels_last") = false);
  m.def("conv_matrix", &conv_matrix_binding, py::arg("x_shape"), py::arg("w"),
        py::arg("options"));
  m.def("conv_matrix_size",
        [](const Shape& x, const Shape& w, const ConvOptions& o, int elem_size) {
          ConvMatrixSize m = conv_matrix_size(make_conv_spec(x, w, o),
                                              static_cast<std::size_t>(elem_size));
          return py::make_tuple(m.rows, m.cols, m.nnz);
        },
        py::arg("x_shape"), py::arg("w_shape"), py::arg("options"), py::arg("elem_size") = 8);
  m.def("transposed_overlap_count",
        [](index_t k, index_t stride, index_t dilation) {
          if (k < 1) fail_value("kernel_size must be >= 1, got ", k);
          if (stride < 1) fail_value("stride must be >= 1, got ", stride);
          if (dilation < 1) fail_value("dilation must be >= 1, got ", dilation);
          // One count per phase, each a loop over the taps: keep the work bounded.
          if (stride > (index_t(1) << 24) || k > (index_t(1) << 24) ||
              stride * k > (index_t(1) << 28))
            fail_value("kernel_size and stride are too large (", k, ", ", stride,
                       "): at most 2**28 tap-phase pairs");
          std::vector<index_t> r(static_cast<std::size_t>(stride));
          for (index_t p = 0; p < stride; ++p) r[p] = transposed_overlap_count(k, stride, dilation, p);
          return r;
        },
        py::arg("kernel_size"), py::arg("stride"), py::arg("dilation") = 1);
}

}  // namespace py_bind
}  // namespace convcore
