// deform_conv2d and its geometry.
#include "bind_util.hpp"

namespace convcore {
namespace py_bind {

namespace {

Shape optional_shape(const py::object& a) {
  return a.is_none() ? Shape{} : shape_of(as_array(a, "mask"));
}

// Checks of the binding layer shared by the CPU binding and deform_spec (which the CUDA path
// calls): the algorithm, and a mask given with no dimensions.
Algorithm deform_algorithm(const std::string& algo) {
  Algorithm a = parse_algorithm(algo);
  if (a != Algorithm::automatic && a != Algorithm::reference)
    fail_value("algorithm must be 'auto' or 'reference' for deform_conv2d, got '", algo, "'");
  return a;
}
void deform_check_mask(bool given, const Shape& mask) {
  if (given && mask.empty()) fail_value("mask must have 4 dimensions, got 0");
}

py::array deform_binding(const py::array& x, const py::array& offset, const py::array& w,
                         const py::object& bias, const py::object& mask, const ConvOptions& opt,
                         const std::string& algo) {
  DType t = common_dtype(x, "x", {{offset, "offset"}, {w, "w"}, {bias, "bias"}, {mask, "mask"}});
  Algorithm a = deform_algorithm(algo);
  deform_check_mask(!mask.is_none(), optional_shape(mask));
  DeformSpec s = make_deform_spec(shape_of(x), shape_of(offset), shape_of(w),
                                  optional_shape(mask), optional_length(bias, "bias", " (C_out,)"), opt);
  auto go = [&](auto tag) -> py::array {
    using T = decltype(tag);
    auto xc = contiguous<T>(x, "x");
    auto oc = contiguous<T>(offset, "offset");
    auto wc = contiguous<T>(w, "w");
    optional_array<T> bc(bias, "bias"), mc(mask, "mask");
    auto y = output_array<T>(deform_output_shape(s), py::none(), {});
    const T *xp = xc.data(), *op = oc.data(), *wp = wc.data(), *bp = bc.data(), *mp = mc.data();
    T* yp = y.mutable_data();
    {
      NoGil nogil;
      deform_conv2d_forward(s, xp, op, mp, wp, bp, yp, a);
    }
    return std::move(y);
  };
  return t == DType::f32 ? go(float{}) : go(double{});
}

}  // namespace

CONVCORE_BINDING(deform) {
  m.def("deform_conv2d", &deform_binding, py::arg("x"), py::arg("offset"), py::arg("w"),
        py::arg("bias"), py::arg("mask"), py::arg("options"), py::arg("algorithm") = "auto");
  // The validated geometry, every DeformSpec field (for cost / output_shape, and for the CUDA
  // path, which runs the same checks as the CPU binding through it: mask_given says a mask was
  // passed, algorithm is checked as deform_conv2d checks it).
  m.def("deform_spec",
        [](const Shape& x, const Shape& offset, const Shape& w, const Shape& mask,
           index_t bias_len, const ConvOptions& o, bool mask_given, const std::string& algo) {
          deform_algorithm(algo);
          deform_check_mask(mask_given, mask);
          DeformSpec s = make_deform_spec(x, offset, w, mask, bias_len, o);
          py::dict d;
          d["N"] = s.N;
          d["C_in"] = s.C_in;
          d["C_out"] = s.C_out;
          d["groups"] = s.groups;
          d["offset_groups"] = s.offset_groups;
          d["out_h"] = s.out_h;
          d["out_w"] = s.out_w;
          d["kh"] = s.kh;
          d["kw"] = s.kw;
          d["has_mask"] = s.has_mask;
          d["H"] = s.H;
          d["W"] = s.W;
          d["stride_h"] = s.stride_h;
          d["stride_w"] = s.stride_w;
          d["dil_h"] = s.dil_h;
          d["dil_w"] = s.dil_w;
          d["pad_h"] = s.pad_h;
          d["pad_w"] = s.pad_w;
          d["channels_last"] = s.channels_last;
          d["output_shape"] = py::tuple(py::cast(deform_output_shape(s)));
          return d;
        },
        py::arg("x_shape"), py::arg("offset_shape"), py::arg("w_shape"), py::arg("mask_shape"),
        py::arg("bias_len"), py::arg("options"), py::arg("mask_given") = false,
        py::arg("algorithm") = "auto");
}

}  // namespace py_bind
}  // namespace convcore
