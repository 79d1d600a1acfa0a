// Helpers shared by the binding files: arrays in, views out, errors across the boundary.
// Bindings stay thin: check dtypes, make contiguous views, release the GIL, call the op.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <convcore/convcore.hpp>
#include <string>
#include <vector>

namespace convcore {
namespace py_bind {

namespace py = pybind11;

enum class DType { f32, f64 };

inline Shape shape_of(const py::array& a) {
  return Shape(a.shape(), a.shape() + a.ndim());
}

// The dtype of a float array, or a TypeError naming the parameter and the supported dtypes.
inline DType dtype_of(const py::array& a, const char* name) {
  if (a.dtype().is(py::dtype::of<float>())) return DType::f32;
  if (a.dtype().is(py::dtype::of<double>())) return DType::f64;
  fail_type(name, " must be a float32 or float64 array, got dtype ",
            std::string(py::str(a.dtype())));
}

// dtype shared by `a` and every other given array (None is skipped); mismatch is a TypeError.
inline DType common_dtype(const py::array& a, const char* an,
                          std::initializer_list<std::pair<py::object, const char*>> others) {
  DType t = dtype_of(a, an);
  for (auto& o : others) {
    if (o.first.is_none()) continue;
    py::array b = o.first.cast<py::array>();
    DType u = dtype_of(b, o.second);
    if (u != t)
      fail_type(o.second, " has dtype ", std::string(py::str(b.dtype())), " but ", an, " has ",
                std::string(py::str(a.dtype())), "; they must match (convcore never casts silently)");
  }
  return t;
}

template <class T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// A C-contiguous view of `o` (a copy only when the input is not C-contiguous already).
template <class T>
carray<T> contiguous(const py::object& o) {
  return carray<T>::ensure(o);
}

// Optional array argument: a default-constructed array_t is a real (empty) array, not a null
// handle, so "absent" is tracked explicitly.
template <class T>
struct optional_array {
  carray<T> arr;
  bool present = false;
  explicit optional_array(const py::object& o) : present(!o.is_none()) {
    if (present) arr = contiguous<T>(o);
  }
  const T* data() const { return present ? arr.data() : nullptr; }
};

inline bool overlaps(const py::array& a, const py::array& b) {
  if (a.nbytes() == 0 || b.nbytes() == 0) return false;
  auto a0 = reinterpret_cast<std::uintptr_t>(a.data()), a1 = a0 + a.nbytes();
  auto b0 = reinterpret_cast<std::uintptr_t>(b.data()), b1 = b0 + b.nbytes();
  return a0 < b1 && b0 < a1;
}

// The array the op writes into: a fresh one, or the user's `out` after checking it fits exactly.
template <class T>
py::array_t<T> output_array(const Shape& shape, const py::object& out,
                            std::initializer_list<py::object> inputs) {
  std::vector<py::ssize_t> shp(shape.begin(), shape.end());
  if (out.is_none()) return py::array_t<T>(shp);
  if (!py::isinstance<py::array>(out)) fail_type("out must be a NumPy array or None");
  py::array o = out.cast<py::array>();
  if (!o.dtype().is(py::dtype::of<T>()))
    fail_type("out must have dtype ", std::string(py::str(py::dtype::of<T>())), ", got ",
              std::string(py::str(o.dtype())));
  if (shape_of(o) != shape) {
    std::string want = "(";
    for (auto v : shape) want += std::to_string(v) + ",";
    fail_value("out must have shape ", want, ")");
  }
  if (!(o.flags() & py::array::c_style)) fail_value("out must be C-contiguous");
  if (!o.writeable()) fail_value("out must be writeable");
  for (auto& in : inputs)
    if (!in.is_none() && py::isinstance<py::array>(in) && overlaps(o, in.cast<py::array>()))
      fail_value("out must not share memory with an input");
  return py::array_t<T>(o);
}

// Self-registration of binding files: a file defines CONVCORE_BINDING(name) { ... } and the module
// init calls every registered function, so adding a binding file touches no other file.
using binder = void (*)(py::module_&);
inline std::vector<std::pair<const char*, binder>>& binders() {
  static std::vector<std::pair<const char*, binder>> v;
  return v;
}
struct register_binder {
  register_binder(const char* name, binder f) { binders().emplace_back(name, f); }
};
#define CONVCORE_BINDING(name)                                                     \
  static void convcore_bind_##name(::convcore::py_bind::py::module_& m);           \
  static ::convcore::py_bind::register_binder convcore_binder_##name(#name,        \
                                                                     &convcore_bind_##name); \
  static void convcore_bind_##name(::convcore::py_bind::py::module_& m)

inline std::vector<py::ssize_t> to_ssize(const Shape& s) {
  return std::vector<py::ssize_t>(s.begin(), s.end());
}

// Ctrl-C during an op: InterruptScope (core/parallel.hpp) calls this from the calling thread
// between work items; PyErr_CheckSignals runs the Python handlers, and the default SIGINT
// handler leaves KeyboardInterrupt set for the exception translator (module.cpp).
inline bool python_signal_pending() {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

// The GIL released for an op that Ctrl-C can stop (replaces py::gil_scoped_release).
struct NoGil {
  InterruptScope interrupts{&python_signal_pending};
  py::gil_scoped_release release;
};

}  // namespace py_bind
}  // namespace convcore
