// convcore.ndimage's three primitives (ops/ndimage.hpp), private: the Python package
// (python/convcore/ndimage) normalises SciPy's arguments and composes the public filters.
// Arrays arrive C-contiguous in native byte order; the output is written in place.
#include <convcore/ops/ndimage.hpp>

#include "bind_util.hpp"

namespace convcore {
namespace py_bind {

namespace {

using ndimage::Elem;

Elem elem_of(const py::array& a, const char* name) {
  const py::dtype d = a.dtype();
  const auto k = d.kind();
  const auto n = d.itemsize();
  if (k == 'b' && n == 1) return Elem::b1;
  if (k == 'u' || k == 'i') {
    const bool u = k == 'u';
    switch (n) {
      case 1: return u ? Elem::u8 : Elem::i8;
      case 2: return u ? Elem::u16 : Elem::i16;
      case 4: return u ? Elem::u32 : Elem::i32;
      case 8: return u ? Elem::u64 : Elem::i64;
      default: break;
    }
  }
  if (k == 'f' && n == 4) return Elem::f32;
  if (k == 'f' && n == 8) return Elem::f64;
  fail_type(name, " must have a boolean, integer, float32 or float64 dtype, got ", dtype_name(a));
}

void check_layout(const py::array& a, const char* name) {
  if (!(a.flags() & py::array::c_style)) fail_value(name, " must be C-contiguous");
  if (!a.dtype().attr("isnative").cast<bool>()) fail_value(name, " must be in native byte order");
}

// input and output checked; input replaced by a copy when it shares memory with output (SciPy
// filters in place, as sobel's later passes do), unless the op can run in place: a pass along
// the last axis (last_axis_pass) with output the very same array.
struct Arrays {
  py::array in, out;
  Elem tin, tout;
  Shape shape;
};

bool same_array(const py::array& a, const py::array& b) {
  return a.data() == b.data() && a.dtype().equal(b.dtype()) && shape_of(a) == shape_of(b);
}

Arrays arrays(const py::array& input, const py::array& output, bool last_axis_pass = false) {
  Arrays r{input, output, elem_of(input, "input"), elem_of(output, "output"), shape_of(input)};
  check_layout(input, "input");
  check_layout(output, "output");
  if (shape_of(output) != r.shape) fail_value("output must have the shape of input");
  if (!output.writeable()) fail_value("output must be writeable");
  if (input.ndim() < 1) fail_value("input must have at least one dimension");
  if (overlaps(input, output) && !(last_axis_pass && same_array(input, output)))
    r.in = py::array::ensure(input.attr("copy")());
  return r;
}

int axis_of(int axis, const py::array& a) {
  const int nd = static_cast<int>(a.ndim());
  if (axis < -nd || axis >= nd) fail_value("axis ", axis, " is out of range for ", nd, " dimensions");
  return axis < 0 ? axis + nd : axis;
}

void check_origin(index_t origin, index_t K) {
  if (origin < -(K / 2) || origin > (K - 1) / 2)
    fail_value("Invalid origin; origin must satisfy -(len(weights) // 2) <= origin <= "
               "(len(weights)-1) // 2");
}

void correlate1d_binding(const py::array& input, const py::array& weights, int axis,
                         const py::array& output, const std::string& mode, double cval,
                         index_t origin) {
  const int ax = axis_of(axis, input);
  Arrays a = arrays(input, output, ax == input.ndim() - 1);
  auto w = contiguous<double>(weights, "weights");
  if (w.ndim() != 1 || w.shape(0) < 1) fail_value("weights must be a non-empty 1-D array");
  const index_t K = w.shape(0);
  check_origin(origin, K);
  const ndimage::Boundary b = ndimage::parse_mode(mode, cval);
  const void* ip = a.in.data();
  void* op = a.out.mutable_data();
  NoGil nogil;
  ndimage::correlate1d(ip, a.tin, op, a.tout, a.shape, ax, w.data(), K, b, origin);
}

void uniform_filter1d_binding(const py::array& input, index_t size, int axis,
                              const py::array& output, const std::string& mode, double cval,
                              index_t origin) {
  const int ax = axis_of(axis, input);
  Arrays a = arrays(input, output, ax == input.ndim() - 1);
  if (size < 1) fail_value("size must be at least 1, got ", size);
  check_origin(origin, size);
  const ndimage::Boundary b = ndimage::parse_mode(mode, cval);
  // the extended line of each item: size - 1 beyond the axis
  checked_add(a.shape[static_cast<std::size_t>(ax)], size, "size");
  const void* ip = a.in.data();
  void* op = a.out.mutable_data();
  NoGil nogil;
  ndimage::uniform_filter1d(ip, a.tin, op, a.tout, a.shape, ax, size, b, origin);
}

void correlate_binding(const py::array& input, const py::array& weights, const py::array& output,
                       const std::string& mode, double cval, const std::vector<index_t>& origins) {
  Arrays a = arrays(input, output);
  auto w = contiguous<double>(weights, "weights");
  if (w.ndim() != input.ndim()) fail_value("weights must have as many dimensions as input");
  if (static_cast<py::ssize_t>(origins.size()) != input.ndim())
    fail_value("origins must have one entry per dimension");
  Shape ks = shape_of(w);
  for (std::size_t d = 0; d < ks.size(); ++d) {
    if (ks[d] < 1) fail_value("weights must not be empty");
    check_origin(origins[d], ks[d]);
  }
  const ndimage::Boundary b = ndimage::parse_mode(mode, cval);
  const void* ip = a.in.data();
  void* op = a.out.mutable_data();
  NoGil nogil;
  ndimage::correlate(ip, a.tin, op, a.tout, a.shape, w.data(), ks, b, origins);
}

// correlate1d along the last two or three axes of float32 input into float32 output, fused
// (weights_d empty: two axes).
void separable_binding(const py::array& input, const py::array& wd, const py::array& wv,
                       const py::array& wh, const py::array& output,
                       const std::vector<std::string>& modes, double cval,
                       const std::vector<index_t>& origins) {
  Arrays a = arrays(input, output);
  if (a.tin != Elem::f32 || a.tout != Elem::f32) fail_type("input and output must be float32");
  auto d = contiguous<double>(wd, "weights"), v = contiguous<double>(wv, "weights"),
       h = contiguous<double>(wh, "weights");
  const bool three = d.size() > 0;
  if (input.ndim() < (three ? 3 : 2))
    fail_value("input must have at least ", three ? 3 : 2, " dimensions");
  if (d.ndim() != 1 || v.ndim() != 1 || v.shape(0) < 1 || h.ndim() != 1 || h.shape(0) < 1)
    fail_value("weights must be non-empty 1-D arrays");
  if (modes.size() != 3 || origins.size() != 3) fail_value("modes and origins must have 3 entries");
  if (three) check_origin(origins[0], d.shape(0));
  check_origin(origins[1], v.shape(0));
  check_origin(origins[2], h.shape(0));
  const ndimage::Boundary bd = ndimage::parse_mode(modes[0], cval), bv = ndimage::parse_mode(modes[1], cval),
                          bh = ndimage::parse_mode(modes[2], cval);
  ndimage::SepPass pd;
  if (three) pd = ndimage::sep_pass(d.data(), d.shape(0), bd, origins[0]);
  const ndimage::SepPass pv = ndimage::sep_pass(v.data(), v.shape(0), bv, origins[1]);
  const ndimage::SepPass ph = ndimage::sep_pass(h.data(), h.shape(0), bh, origins[2]);
  const float* ip = static_cast<const float*>(a.in.data());
  float* op = static_cast<float*>(a.out.mutable_data());
  NoGil nogil;
  ndimage::separable_f32(ip, op, a.shape, three ? &pd : nullptr, pv, ph);
}

// One of generic_gradient_magnitude's / generic_laplace's NumPy steps (ndimage::combine) on
// output, with x the next derivative (None for ops 3 and 4) and lut (None: no square root;
// for floats any array: the root is computed).
void combine_binding(py::array output, const py::object& x, int op, const py::object& lut) {
  const Elem t = elem_of(output, "output");
  if (t != Elem::u8 && t != Elem::u16 && t != Elem::f32 && t != Elem::f64)
    fail_type("output must be uint8, uint16, float32 or float64, got ", dtype_name(output));
  check_layout(output, "output");
  if (!output.writeable()) fail_value("output must be writeable");
  if (op < 0 || op > 4) fail_value("op must be 0 to 4, got ", op);
  py::array xa, la;
  if (op <= 2) {
    xa = py::array::ensure(x);
    if (!xa.ptr() || elem_of(xa, "x") != t || shape_of(xa) != shape_of(output))
      fail_value("x must be an array of output's dtype and shape");
    check_layout(xa, "x");
  }
  if (!lut.is_none()) {
    la = py::array::ensure(lut);
    const index_t want = t == Elem::u8 ? 256 : t == Elem::u16 ? 65536 : -1;
    if (!la.ptr() || (want > 0 && (elem_of(la, "lut") != t || la.ndim() != 1 || la.shape(0) != want)))
      fail_value("lut must be a table of output's dtype over every value");
    check_layout(la, "lut");
  }
  index_t n = 1;
  for (index_t d : shape_of(output)) n *= d;
  void* op_ = output.mutable_data();
  const void* xp = op <= 2 ? xa.data() : nullptr;
  const void* lp = lut.is_none() ? nullptr : la.data();
  NoGil nogil;
  ndimage::combine(t, op_, xp, n, op, lp);
}

}  // namespace

CONVCORE_BINDING(ndimage) {
  m.def("_ndimage_correlate1d", &correlate1d_binding, py::arg("input"), py::arg("weights"),
        py::arg("axis"), py::arg("output"), py::arg("mode"), py::arg("cval"), py::arg("origin"),
        "scipy.ndimage.correlate1d into output (private: convcore.ndimage's primitive).");
  m.def("_ndimage_uniform_filter1d", &uniform_filter1d_binding, py::arg("input"), py::arg("size"),
        py::arg("axis"), py::arg("output"), py::arg("mode"), py::arg("cval"), py::arg("origin"),
        "scipy.ndimage.uniform_filter1d into output (private: convcore.ndimage's primitive).");
  m.def("_ndimage_correlate", &correlate_binding, py::arg("input"), py::arg("weights"),
        py::arg("output"), py::arg("mode"), py::arg("cval"), py::arg("origins"),
        "scipy.ndimage.correlate into output (private: convcore.ndimage's primitive).");
  m.def("_ndimage_combine", &combine_binding, py::arg("output"), py::arg("x"), py::arg("op"),
        py::arg("lut"),
        "a NumPy step of generic_gradient_magnitude / generic_laplace in place (private).");
  m.def("_ndimage_separable", &separable_binding, py::arg("input"), py::arg("weights_d"),
        py::arg("weights_v"), py::arg("weights_h"), py::arg("output"), py::arg("modes"),
        py::arg("cval"), py::arg("origins"),
        "correlate1d along axes -3 (weights_d, optional: empty), -2 and -1, float32, fused "
        "(private: convcore.ndimage's primitive).");
}

}  // namespace py_bind
}  // namespace convcore
