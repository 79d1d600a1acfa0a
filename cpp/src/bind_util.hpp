// Helpers shared by the binding files: arrays in, views out, errors across the boundary.
// Bindings stay thin: check dtypes, make contiguous views, release the GIL, call the op.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <convcore/convcore.hpp>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace convcore {
namespace py_bind {

namespace py = pybind11;

enum class DType { f32, f64 };

inline Shape shape_of(const py::array& a) {
  return Shape(a.shape(), a.shape() + a.ndim());
}

// True when `a` holds T's values: compared by value (kind and item size), never by identity, so
// dtypes that went through pickle or were built anew (np.dtype("f4").newbyteorder("=")) match,
// and so does the other byte order (">f4" on a little-endian machine): contiguous<T> converts
// that to native order in the one copy it makes anyway.
template <class T>
bool holds(const py::dtype& d) {
  static_assert(std::is_arithmetic<T>::value, "holds<T> is for numeric T");
  const char want = std::is_floating_point<T>::value ? 'f'
                    : std::is_signed<T>::value       ? 'i'
                                                     : 'u';
  return d.kind() == want && d.itemsize() == static_cast<py::ssize_t>(sizeof(T));
}

// The exact native-order dtype T (what `out` must be: written in place, never converted).
template <class T>
bool is_native(const py::dtype& d) {
  return holds<T>(d) && d.equal(py::dtype::of<T>());
}

inline std::string dtype_name(const py::array& a) { return std::string(py::str(a.dtype())); }

// The dtype of a float array, or a TypeError naming the parameter and the supported dtypes.
inline DType dtype_of(const py::array& a, const char* name) {
  const py::dtype d = a.dtype();
  if (holds<float>(d)) return DType::f32;
  if (holds<double>(d)) return DType::f64;
  fail_type(name, " must be a float32 or float64 array, got dtype ", dtype_name(a));
}

// An array argument from Python: an ndarray (the Python layer converts array-likes), else a
// TypeError naming the parameter (None included, where the parameter is required).
inline py::array as_array(const py::object& o, const char* name) {
  if (!py::isinstance<py::array>(o))
    fail_type(name, " must be a NumPy array, got ", std::string(py::str(py::type::of(o).attr("__name__"))));
  return py::reinterpret_borrow<py::array>(o);
}

// The length of an optional 1-D array argument (bias and the like), -1 when it is None; `shape`
// is how the message spells the expected shape (e.g. " (C_out,)").
inline index_t optional_length(const py::object& o, const char* name, const char* shape = "") {
  if (o.is_none()) return -1;
  py::array a = as_array(o, name);
  if (a.ndim() != 1) fail_value(name, " must be 1-D", shape, ", got ", a.ndim(), " dimensions");
  return a.shape(0);
}

// dtype shared by `a` and every other given array (None is skipped); mismatch is a TypeError.
inline DType common_dtype(const py::array& a, const char* an,
                          std::initializer_list<std::pair<py::object, const char*>> others) {
  DType t = dtype_of(a, an);
  for (auto& o : others) {
    if (o.first.is_none()) continue;
    py::array b = as_array(o.first, o.second);
    DType u = dtype_of(b, o.second);
    if (u != t)
      fail_type(o.second, " has dtype ", dtype_name(b), " but ", an, " has ", dtype_name(a),
                "; they must match (convcore never casts silently)");
  }
  return t;
}

template <class T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// A C-contiguous, native-byte-order view of `o` (a copy only when the input is not that already).
// The copy may not fit in memory: that is a MemoryError naming the parameter (array_t::ensure
// would return a null array, and reading through it crashed the interpreter).
template <class T>
carray<T> contiguous(const py::object& o, const char* name = "an input array") {
  try {
    return carray<T>(o);  // throws error_already_set where ensure() would give a null array
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_MemoryError)) throw;
    const std::string why = std::string(py::str(e.value()));
    PyErr_Format(PyExc_MemoryError,
                 "%s: cannot allocate its contiguous native-order copy (%s); pass a C-contiguous "
                 "array or free memory",
                 name, why.c_str());
    throw py::error_already_set();
  }
}

// Optional array argument: a default-constructed array_t is a real (empty) array, not a null
// handle, so "absent" is tracked explicitly.
template <class T>
struct optional_array {
  carray<T> arr;
  bool present = false;
  explicit optional_array(const py::object& o, const char* name = "an optional input array")
      : present(!o.is_none()) {
    if (present) arr = contiguous<T>(o, name);
  }
  const T* data() const { return present ? arr.data() : nullptr; }
};

// An output shape for NumPy. The specs check their sizes; a negative one can only come from an
// overflow they missed, and NumPy's own "negative dimensions are not allowed" names nothing.
inline std::vector<py::ssize_t> to_ssize(const Shape& s) {
  for (auto v : s)
    if (v < 0)
      fail_value("the output size overflows 64-bit integers (got ", v,
                 "); check stride, dilation and padding against the input size");
  return std::vector<py::ssize_t>(s.begin(), s.end());
}

// The bytes [lo, hi) an array's elements lie in. Not [data, data + nbytes): with negative
// strides data() is the highest element, and with steps the elements spread over more than
// nbytes (np.may_share_memory's bounds).
inline std::pair<std::uintptr_t, std::uintptr_t> byte_extent(const py::array& a) {
  auto lo = reinterpret_cast<std::uintptr_t>(a.data()), hi = lo + a.itemsize();
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    const py::ssize_t reach = (a.shape(d) - 1) * a.strides(d);
    if (reach < 0)
      lo -= static_cast<std::uintptr_t>(-reach);
    else
      hi += static_cast<std::uintptr_t>(reach);
  }
  return {lo, hi};
}

inline bool overlaps(const py::array& a, const py::array& b) {
  if (a.size() == 0 || b.size() == 0) return false;
  const auto ea = byte_extent(a), eb = byte_extent(b);
  return ea.first < eb.second && eb.first < ea.second;
}

// The array the op writes into: a fresh one, or the user's `out` after checking it fits exactly.
template <class T>
py::array_t<T> output_array(const Shape& shape, const py::object& out,
                            std::initializer_list<py::object> inputs) {
  std::vector<py::ssize_t> shp = to_ssize(shape);
  if (out.is_none()) return py::array_t<T>(shp);
  if (!py::isinstance<py::array>(out)) fail_type("out must be a NumPy array or None");
  py::array o = py::reinterpret_borrow<py::array>(out);
  if (!is_native<T>(o.dtype()))
    fail_type("out must have dtype ", std::string(py::str(py::dtype::of<T>())),
              " in native byte order (it is written in place), got ", dtype_name(o));
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
  // The user's own array, never a converted copy (the checks above make it the exact type).
  return py::reinterpret_borrow<py::array_t<T>>(o);
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
