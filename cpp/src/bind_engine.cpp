// Runtime ISA dispatch of the extension, and private hooks for the engine's tests.
//
// At import the best kernel table the CPU supports is installed (or CONVCORE_ISA's choice,
// if it names a lower level that is usable); _set_isa switches it for tests. The tables come
// from the per-ISA translation units isa_<level>.cpp.
#include <cstring>

#include "bind_util.hpp"
#include "isa_tables.hpp"

namespace convcore {
namespace py_bind {

namespace {

unsigned built_isa_mask() {
  unsigned m = isa_bit(IsaLevel::scalar);
#if defined(CONVCORE_TU_AVX2)
  m |= isa_bit(IsaLevel::avx2);
#endif
#if defined(CONVCORE_TU_AVX512)
  m |= isa_bit(IsaLevel::avx512);
#endif
#if defined(CONVCORE_SIMD_NEON)
  m |= isa_bit(IsaLevel::neon);  // built by isa_scalar.cpp: NEON is baseline on AArch64
#endif
  return m;
}

const kernels::KernelTable* built_table(IsaLevel l) {
  switch (l) {
    case IsaLevel::scalar: return isa_tables::scalar();
#if defined(CONVCORE_TU_AVX2)
    case IsaLevel::avx2: return isa_tables::avx2();
#endif
#if defined(CONVCORE_TU_AVX512)
    case IsaLevel::avx512: return isa_tables::avx512();
#endif
#if defined(CONVCORE_SIMD_NEON)
    case IsaLevel::neon: return isa_tables::neon();
#endif
    default: return nullptr;
  }
}

std::string& isa_note() {
  static std::string n;
  return n;
}

py::list level_list(bool (*keep)(IsaLevel)) {
  py::list l;
  for (IsaLevel v : {IsaLevel::scalar, IsaLevel::neon, IsaLevel::avx2, IsaLevel::avx512})
    if (keep(v)) l.append(isa_name(v));
  return l;
}

template <class T>
py::array gemm_run(const py::object& a, const py::object& b, const py::object& c,
                   const py::object& bias_m, const py::object& bias_n, Activation act,
                   bool trans_a, bool trans_b) {
  auto ac = contiguous<T>(a, "a");
  auto bc = contiguous<T>(b, "b");
  if (ac.ndim() != 2) fail_value("a must be 2-D");
  if (bc.ndim() != 2) fail_value("b must be 2-D");
  kernels::GemmArgs<T> g;
  g.M = trans_a ? ac.shape(1) : ac.shape(0);
  g.K = trans_a ? ac.shape(0) : ac.shape(1);
  const index_t kb = trans_b ? bc.shape(1) : bc.shape(0);
  g.N = trans_b ? bc.shape(0) : bc.shape(1);
  if (kb != g.K) fail_value("inner dimensions differ: ", g.K, " and ", kb);
  g.a = ac.data();
  g.rsa = trans_a ? 1 : g.K;
  g.csa = trans_a ? g.M : 1;
  g.b = bc.data();
  g.rsb = trans_b ? 1 : g.N;
  g.csb = trans_b ? g.K : 1;
  py::array_t<T> y({static_cast<py::ssize_t>(g.M), static_cast<py::ssize_t>(g.N)});
  if (!c.is_none()) {
    auto cc = contiguous<T>(c, "c");
    if (cc.ndim() != 2 || cc.shape(0) != g.M || cc.shape(1) != g.N) fail_value("c must be (M, N)");
    std::memcpy(y.mutable_data(), cc.data(), sizeof(T) * static_cast<std::size_t>(g.M * g.N));
    g.accumulate = true;
  }
  optional_array<T> bm(bias_m, "bias_m"), bn(bias_n, "bias_n");
  if (bm.present && bm.arr.size() != g.M) fail_value("bias_m must have M elements");
  if (bn.present && bn.arr.size() != g.N) fail_value("bias_n must have N elements");
  g.bias_m = bm.data();
  g.bias_n = bn.data();
  g.act = act;
  g.c = y.mutable_data();
  g.ldc = g.N;
  {
    NoGil nogil;
    active_kernels().fns(static_cast<T*>(nullptr)).gemm(g);
  }
  return std::move(y);
}

}  // namespace

CONVCORE_BINDING(engine) {
  IsaChoice c = choose_isa_from_env(built_isa_mask());
  set_kernel_table(built_table(c.level));
  isa_note() = c.note;

  m.def("simd_info", [] {
    py::dict d;
    d["level"] = isa_name(active_kernels().level);
    d["supported"] = level_list([](IsaLevel l) { return isa_usable(l, built_isa_mask()); });
    d["compiled"] = level_list([](IsaLevel l) { return (built_isa_mask() & isa_bit(l)) != 0; });
    d["note"] = isa_note();
    // the INT8 engine's kernels at this level, for weights of zero point 0 (int8) or 128
    // (uint8); other zero points run "avx512bw_madd" where this says "avx512_vnni"
    d["int8"] = active_kernels().q8.path(nullptr);
    return d;
  });
  m.def(
      "_set_isa",
      [](const std::string& name) {
        IsaLevel l;
        if (!parse_isa(name, &l)) fail_value("level must be one of scalar, neon, avx2, avx512, got '", name, "'");
        if (!isa_usable(l, built_isa_mask()))
          fail_value("level '", name, "' is not supported by this CPU or build");
        set_kernel_table(built_table(l));
        isa_note() = "";
      },
      py::arg("level"));
  m.def(
      "_gemm",
      [](const py::array& a, const py::array& b, const py::object& c, const py::object& bias_m,
         const py::object& bias_n, const py::object& activation, bool trans_a, bool trans_b) {
        DType t = common_dtype(a, "a", {{b, "b"}, {c, "c"}, {bias_m, "bias_m"}, {bias_n, "bias_n"}});
        Activation act =
            activation.is_none() ? Activation::none : parse_activation(activation.cast<std::string>());
        return t == DType::f32 ? gemm_run<float>(a, b, c, bias_m, bias_n, act, trans_a, trans_b)
                               : gemm_run<double>(a, b, c, bias_m, bias_n, act, trans_a, trans_b);
      },
      py::arg("a"), py::arg("b"), py::arg("c") = py::none(), py::arg("bias_m") = py::none(),
      py::arg("bias_n") = py::none(), py::arg("activation") = py::none(),
      py::arg("trans_a") = false, py::arg("trans_b") = false);
}

}  // namespace py_bind
}  // namespace convcore
