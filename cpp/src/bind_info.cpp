// Build and run-time facts, threading.
#include "bind_util.hpp"

namespace convcore {
namespace py_bind {

CONVCORE_BINDING(info) {
  m.def("build_info", [] {
    py::dict d;
    d["version"] = CONVCORE_VERSION;
    d["openmp"] = has_openmp();
    d["max_threads"] = max_threads();
#if defined(__clang__)
    d["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    d["compiler"] = std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
    d["compiler"] = std::string("msvc ") + std::to_string(_MSC_VER);
#else
    d["compiler"] = "unknown";
#endif
    return d;
  });
  // (a Python int of any size: one beyond 64 bits gets the same message as any n out of range)
  m.def("set_num_threads", [](const py::int_& n) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(n.ptr(), &overflow);
    const std::string text = py::str(n);
    if (overflow < 0 || (!overflow && v < 0))
      fail_value("n must be >= 0 (0 means all cores), got ", text);
    if (overflow > 0 || v > max_num_threads())
      fail_value("n must be at most ", max_num_threads(), " (4 times the ", max_threads(),
                 " cores, and at least 32), got ", text);
    set_num_threads(static_cast<int>(v));
  });
  m.def("get_num_threads", [] { return get_num_threads(); });
  // The calling thread's own count (0: the process-wide one) for the ops it runs next; returns
  // the previous one (convcore.dask gives each task thread its share of the cores).
  m.def(
      "_set_thread_num_threads",
      [](int n) { return set_thread_num_threads(n); },
      py::arg("n"));
  m.def("_process_num_threads", [] {
    const int n = thread_setting().load();
    return n > 0 ? n : max_threads();
  });
}

}  // namespace py_bind
}  // namespace convcore
