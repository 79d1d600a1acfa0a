// convolve / correlate internals exposed for tests: which path filter_forward takes.
#include "bind_util.hpp"

namespace convcore {
namespace py_bind {

namespace {

std::string filter_plan_binding(const py::array& a, const py::array& k, const std::string& mode,
                                const std::string& boundary, double fillvalue, bool convolve) {
  DType t = common_dtype(a, "a", {{k, "k"}});
  ConvSpec s = make_filter_spec(shape_of(a), shape_of(k), parse_filter_mode(mode),
                                parse_boundary(boundary), fillvalue, convolve);
  auto go = [&](auto tag) {
    using T = decltype(tag);
    auto kc = contiguous<T>(k, "k");
    std::vector<T> store;
    return std::string(filter_path_name(filter_plan(s, filter_correlation_kernel(s, kc.data(), store))));
  };
  return t == DType::f32 ? go(float{}) : go(double{});
}

}  // namespace

CONVCORE_BINDING(filter) {
  m.def("_filter_plan", &filter_plan_binding, py::arg("a"), py::arg("k"), py::arg("mode"),
        py::arg("boundary"), py::arg("fillvalue"), py::arg("convolve"),
        "The path convolve/correlate take for these arguments: 'separable', 'direct2d' or "
        "'general' (private, for tests).");
}

}  // namespace py_bind
}  // namespace convcore
