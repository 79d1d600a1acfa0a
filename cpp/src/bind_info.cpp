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
  m.def("set_num_threads", [](int n) {
    if (n < 0) fail_value("n must be >= 0 (0 means all cores), got ", n);
    set_num_threads(n);
  });
  m.def("get_num_threads", [] { return get_num_threads(); });
}

}  // namespace py_bind
}  // namespace convcore
