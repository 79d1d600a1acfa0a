// The extension module convcore._core. Binding files register themselves (CONVCORE_BINDING).
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>

#include "bind_util.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "convcore's compiled core. Use the functions of the convcore package instead.";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const convcore::type_error& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const convcore::value_error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const convcore::interrupted&) {
      // the signal handler's exception (KeyboardInterrupt) is already set
      if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
    }
  });
  // Each binding file registered itself (CONVCORE_BINDING); bind them in a stable order.
  auto all = convcore::py_bind::binders();
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return std::string(a.first) < b.first; });
  for (auto& b : all) b.second(m);
}
