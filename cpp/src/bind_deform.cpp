// deform_conv2d and its geometry.
#include <atomic>
#include <memory>
#include <mutex>

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

// A deform_conv2d plan's weights (ops/deform_conv.hpp, DeformConvWeights): copied when made,
// packed on the first run (the group count comes from x) under a lock, then read by any number
// of concurrent runs. python/convcore/_plan_deform.py wraps it.
class DeformWeights {
 public:
  DeformWeights(const py::array& w, const py::object& bias, const ConvOptions& opt,
                const std::string& algo)
      : opt_(opt), algo_(deform_algorithm(algo)) {
    dt_ = common_dtype(w, "w", {{bias, "bias"}});
    const index_t bl = optional_length(bias, "bias", " (C_out,)");
    if (bl >= 0 && w.ndim() == 4 && bl != w.shape(0))
      fail_value("bias must have C_out = ", w.shape(0), " values, got ", bl);
    auto make = [&](auto tag, auto& dst) {
      using T = decltype(tag);
      auto wc = contiguous<T>(w, "w");
      optional_array<T> bc(bias, "bias");
      dst = std::make_unique<DeformConvWeights<T>>(
          deform_conv2d_weights<T>(shape_of(w), wc.data(), bc.data(), bl));
    };
    if (dt_ == DType::f32)
      make(float{}, f32_);
    else
      make(double{}, f64_);
  }

  py::object run(const py::array& x, const py::array& offset, const py::object& mask,
                 const py::object& out) const {
    DType t = common_dtype(x, "x", {{offset, "offset"}, {mask, "mask"}});
    if (t != dt_)
      fail_type("x has dtype ", dtype_name(x), " but the plan's weights are ",
                dt_ == DType::f32 ? "float32" : "float64",
                "; they must match (convcore never casts silently)");
    deform_check_mask(!mask.is_none(), optional_shape(mask));
    return dt_ == DType::f32 ? go<float>(*f32_, x, offset, mask, out)
                             : go<double>(*f64_, x, offset, mask, out);
  }

  // Under the lock: a first run may be packing.
  std::size_t bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return f32_ ? f32_->bytes() : f64_->bytes();
  }
  index_t packed_groups() const {
    std::lock_guard<std::mutex> lock(mu_);
    return f32_ ? f32_->groups : f64_->groups;
  }

 private:
  template <class T>
  py::object go(DeformConvWeights<T>& p, const py::array& x, const py::array& offset,
                const py::object& mask, const py::object& out) const {
    DeformSpec s = make_deform_spec(shape_of(x), shape_of(offset), p.w_shape,
                                    optional_shape(mask), p.bias_len, opt_);
    auto xc = contiguous<T>(x, "x");
    auto oc = contiguous<T>(offset, "offset");
    optional_array<T> mc(mask, "mask");
    auto y = output_array<T>(deform_output_shape(s), out, {x, offset, mask});
    const T *xp = xc.data(), *op = oc.data(), *mp = mc.data();
    T* yp = y.mutable_data();
    {
      NoGil nogil;
      if (!packed_.load(std::memory_order_acquire) && algo_ != Algorithm::reference) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!packed_.load(std::memory_order_relaxed)) {
          deform_conv2d_pack(&p, s.groups);
          packed_.store(true, std::memory_order_release);
        }
      }
      deform_conv2d_run(p, s, xp, op, mp, yp, algo_);
    }
    return std::move(y);
  }

  ConvOptions opt_;
  Algorithm algo_;
  DType dt_ = DType::f32;
  // mutable: packed once, on the first run; read-only after packed_ is set
  std::unique_ptr<DeformConvWeights<float>> f32_;
  std::unique_ptr<DeformConvWeights<double>> f64_;
  mutable std::mutex mu_;
  mutable std::atomic<bool> packed_{false};
};

}  // namespace

CONVCORE_BINDING(deform) {
  py::class_<DeformWeights>(m, "_DeformWeights")
      .def(py::init<const py::array&, const py::object&, const ConvOptions&, const std::string&>(),
           py::arg("w"), py::arg("bias"), py::arg("options"), py::arg("algorithm"))
      .def("run", &DeformWeights::run, py::arg("x"), py::arg("offset"), py::arg("mask"),
           py::arg("out"))
      .def_property_readonly("nbytes", &DeformWeights::bytes)
      .def_property_readonly("packed_groups", &DeformWeights::packed_groups);
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
