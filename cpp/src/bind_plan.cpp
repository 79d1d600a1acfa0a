// Plans (ops/plan.hpp): convcore.Plan, a thin binding over ConvPlan<float/double>.
//
// The Python functions (python/convcore/_plan.py) normalise the arguments with _args and make
// the plan; calling it takes a fast path for the common case (a C-contiguous, aligned,
// native-order NumPy array of the plan's dtype): no argument normalisation, the spec from the
// plan's per-shape cache, the GIL released around the kernels. Anything else (array-likes,
// other layouts, CuPy or Dask arrays) goes through convcore._plan._call, which converts or
// falls back to the plain op, and calls back here.
#include "bind_util.hpp"

#include <convcore/ops/plan.hpp>

namespace convcore {
namespace py_bind {

namespace {

PlanOp parse_plan_op(const std::string& s) {
  if (s == "conv") return PlanOp::conv;
  if (s == "conv_transpose") return PlanOp::conv_transpose;
  if (s == "depthwise_conv2d") return PlanOp::depthwise;
  fail_value("op must be 'conv', 'conv_transpose' or 'depthwise_conv2d', got '", s, "'");
}

Activation activation_of(const py::object& a) {
  return a.is_none() ? Activation::none : parse_activation(a.cast<std::string>());
}

class Plan {
 public:
  // conv, conv_transpose, depthwise_conv2d. meta: the keywords the plan was made with (for the
  // fallback, repr and pickling), a read-only mapping.
  Plan(const std::string& op, const py::array& w, const py::object& bias, const ConvOptions& o,
       const std::string& algo, py::object meta)
      : meta_(std::move(meta)) {
    set_dtype(common_dtype(w, "w", {{bias, "bias"}}));
    const index_t bl = optional_length(bias, "bias", " (C_out,)");
    const PlanOp pop = parse_plan_op(op);
    const Algorithm a = parse_algorithm(algo);
    make([&](auto tag) -> PlanBase<decltype(tag)>* {
      using T = decltype(tag);
      auto wc = contiguous<T>(w, "w");
      optional_array<T> bc(bias, "bias");
      return new ConvPlan<T>(pop, shape_of(w), wc.data(), bc.data(), o, a, bl);
    });
  }

  static Plan pointwise(const py::array& w, const py::object& bias, index_t groups,
                        bool channels_last, const py::object& act, py::object meta) {
    Plan p(std::move(meta));
    p.set_dtype(common_dtype(w, "w", {{bias, "bias"}}));
    const index_t bl = optional_length(bias, "bias", " (C_out,)");
    const Activation a = activation_of(act);
    p.make([&](auto tag) -> PlanBase<decltype(tag)>* {
      using T = decltype(tag);
      auto wc = contiguous<T>(w, "w");
      optional_array<T> bc(bias, "bias");
      return new PointwisePlan<T>(shape_of(w), wc.data(), bc.data(), groups, channels_last, a,
                                  bl);
    });
    return p;
  }

  static Plan separable(const py::array& wd, const py::array& wp, const py::object& bd,
                        const py::object& bp, const ConvOptions& o, const py::object& mid,
                        py::object meta) {
    Plan p(std::move(meta));
    p.set_dtype(common_dtype(wd, "w_depthwise",
                             {{wp, "w_pointwise"}, {bd, "b_depthwise"}, {bp, "b_pointwise"}}));
    const index_t bdl = optional_length(bd, "b_depthwise", " (C*m,)");
    const index_t bpl = optional_length(bp, "b_pointwise", " (C_out,)");
    const Activation m = activation_of(mid);
    p.make([&](auto tag) -> PlanBase<decltype(tag)>* {
      using T = decltype(tag);
      auto wdc = contiguous<T>(wd, "w_depthwise");
      auto wpc = contiguous<T>(wp, "w_pointwise");
      optional_array<T> bdc(bd, "b_depthwise"), bpc(bp, "b_pointwise");
      return new SeparablePlan<T>(shape_of(wd), wdc.data(), shape_of(wp), wpc.data(), bdc.data(),
                                  bpc.data(), o, m, bdl, bpl);
    });
    return p;
  }

  // The fast path (see the file comment), else _plan._call.
  py::object call(const py::object& x, const py::object& out) const {
    if (py::isinstance<py::array>(x)) {
      const py::array a = py::reinterpret_borrow<py::array>(x);
      const py::dtype d = a.dtype();
      const int need = py::array::c_style | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
      if (d.num() == num_ && (a.flags() & need) == need && d.byteorder() != foreign_order())
        return dt_ == DType::f32 ? run<float>(*f32_, a, out) : run<double>(*f64_, a, out);
    }
    return py::module_::import("convcore._plan").attr("_call")(py::cast(this), x, out);
  }

  // x a NumPy array of any dtype or layout (the slow path converted it): the plan's checks
  // name what is wrong.
  py::object call_array(const py::array& x, const py::object& out) const {
    const DType t = dtype_of(x, "x");
    if (t != dt_)
      fail_type("x has dtype ", dtype_name(x), " but the plan's weights are ", dtype(),
                "; they must match (convcore never casts silently)");
    return dt_ == DType::f32 ? run<float>(*f32_, x, out) : run<double>(*f64_, x, out);
  }

  // The byte-order character of a non-native dtype ('>' on a little-endian machine).
  static char foreign_order() {
    const unsigned short one = 1;
    static const char c = *reinterpret_cast<const unsigned char*>(&one) == 1 ? '>' : '<';
    return c;
  }

  std::string dtype() const { return dt_ == DType::f32 ? "float32" : "float64"; }
  template <class F>
  auto with(F&& f) const {
    return dt_ == DType::f32 ? f(*f32_) : f(*f64_);
  }
  const py::object& meta() const { return meta_; }

  // The arrays the plan was made from (copies, as given): name -> ndarray or None.
  py::dict arrays() const {
    py::dict d;
    with([&](const auto& p) {
      for (auto& a : p.arrays()) {
        using T = typename std::decay_t<decltype(a.values)>::value_type;
        if (!a.present) {
          d[a.name] = py::none();
          continue;
        }
        py::array_t<T> r(to_ssize(a.shape));
        std::copy(a.values.begin(), a.values.end(), r.mutable_data());
        d[a.name] = r;
      }
      return 0;
    });
    return d;
  }

 private:
  explicit Plan(py::object meta) : meta_(std::move(meta)) {}

  void set_dtype(DType t) {
    dt_ = t;
    num_ = dt_ == DType::f32 ? py::dtype::of<float>().num() : py::dtype::of<double>().num();
  }
  template <class F>
  void make(F&& f) {
    if (dt_ == DType::f32)
      f32_.reset(f(float{}));
    else
      f64_.reset(f(double{}));
  }

  template <class T>
  py::object run(const PlanBase<T>& p, const py::array& x, const py::object& out) const {
    auto xc = contiguous<T>(x, "x");
    const Shape xs = shape_of(xc);
    auto y = output_array<T>(p.output_shape(xs), out, {x});
    const T* xp = xc.data();
    T* yp = y.mutable_data();
    {
      NoGil nogil;
      p.run(xp, yp, xs);
    }
    return std::move(y);
  }

  DType dt_ = DType::f32;
  int num_ = 0;  // the NumPy type number of dt_
  std::unique_ptr<PlanBase<float>> f32_;
  std::unique_ptr<PlanBase<double>> f64_;
  py::object meta_;  // a read-only mapping
};

}  // namespace

CONVCORE_BINDING(plan) {
  py::class_<Plan>(m, "Plan",
                   "A layer prepared once and run many times: made by convcore.conv_plan and its "
                   "siblings (see their documentation).")
      .def(py::init<const std::string&, const py::array&, const py::object&, const ConvOptions&,
                    const std::string&, py::object>(),
           py::arg("op"), py::arg("w"), py::arg("bias"), py::arg("options"), py::arg("algorithm"),
           py::arg("meta"))
      .def("__call__", &Plan::call, py::arg("x"), py::arg("out") = py::none(),
           "y = the planned op on x (any batch size; any spatial size the options allow).")
      .def("_call_array", &Plan::call_array, py::arg("x"), py::arg("out"))
      // the rest in Python (convcore/_plan.py): it knows the keywords
      .def("__repr__", [](const py::object& self) {
        return py::module_::import("convcore._plan").attr("_repr")(self);
      })
      .def("__reduce__", [](const py::object& self) {
        return py::module_::import("convcore._plan").attr("_reduce")(self);
      })
      .def_property_readonly("algorithm", [](const py::object& self) {
        return py::module_::import("convcore._plan").attr("_algorithm")(self);
      })
      .def("algorithm_for", [](const py::object& self, const py::object& x) {
        return py::module_::import("convcore._plan").attr("_algorithm_for")(self, x);
      }, py::arg("x"), "The algorithm that runs for x (an array or a shape).")
      .def_property_readonly("op", [](const Plan& p) {
        return p.with([](const auto& c) { return std::string(plan_op_name(c.op())); });
      })
      .def_property_readonly("dtype", [](const Plan& p) { return py::dtype(p.dtype()); })
      .def_property_readonly("ndim", [](const Plan& p) {
        return p.with([](const auto& c) { return c.rank(); });
      })
      .def_property_readonly("in_channels", [](const Plan& p) {
        return p.with([](const auto& c) { return c.in_channels(); });
      })
      .def_property_readonly("weight_shape", [](const Plan& p) {
        return p.with([](const auto& c) { return py::tuple(py::cast(c.arrays()[0].shape)); });
      })
      .def_property_readonly("requested_algorithm", [](const Plan& p) {
        return p.with([](const auto& c) { return std::string(algorithm_name(c.requested_algorithm())); });
      })
      .def_property_readonly("isa", [](const Plan& p) {
        return p.with([](const auto& c) { return std::string(isa_name(c.level())); });
      })
      .def_property_readonly("workspace_bytes", [](const Plan& p) {
        return p.with([](const auto& c) { return c.workspace_bytes(); });
      })
      .def_property_readonly("_meta", &Plan::meta)
      .def_static("_pointwise", &Plan::pointwise, py::arg("w"), py::arg("bias"),
                  py::arg("groups"), py::arg("channels_last"), py::arg("activation"),
                  py::arg("meta"))
      .def_static("_separable", &Plan::separable, py::arg("w_depthwise"),
                  py::arg("w_pointwise"), py::arg("b_depthwise"), py::arg("b_pointwise"),
                  py::arg("options"), py::arg("mid_activation"), py::arg("meta"))
      .def("_arrays", &Plan::arrays)
      .def("_algorithm_for", [](const Plan& p, const Shape& x_shape) {
        return p.with([&](const auto& c) { return std::string(c.algorithm(x_shape)); });
      }, py::arg("x_shape"))
      .def("_output_shape", [](const Plan& p, const Shape& x_shape) {
        return p.with([&](const auto& c) { return py::tuple(py::cast(c.output_shape(x_shape))); });
      }, py::arg("x_shape"))
      .def("_prepare", [](const Plan& p, const Shape& x_shape) {
        p.with([&](const auto& c) {
          NoGil nogil;
          c.prepare(x_shape);
          return 0;
        });
      }, py::arg("x_shape"));
}

}  // namespace py_bind
}  // namespace convcore
