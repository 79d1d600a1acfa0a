// The INT8 engine's interface: one quantized conv as plain data (QConvArgs), the per-ISA entry
// points in the kernel table (QuantFns), and the process-wide engine override of the tests.
#pragma once
#include <atomic>
#include <cstdint>

#include "../core/spec.hpp"

namespace convcore {
namespace kernels {

// One quantized conv (ops/quantized_conv.hpp has the semantics), channels-last: x is
// (N, *in, C_in), y (N, *out, C_out); w as given, (C_out, C_in/groups, *k). 8-bit values are
// passed as raw bytes with their signedness; w_zp, bias (or null) and mult hold C_out values.
struct QConvArgs {
  const ConvSpec* s = nullptr;
  const void* x = nullptr;
  bool x_signed = false;
  std::int32_t x_zp = 0;
  const void* w = nullptr;
  bool w_signed = false;
  const std::int32_t* w_zp = nullptr;
  const std::int32_t* bias = nullptr;
  const double* mult = nullptr;
  void* y = nullptr;
  bool y_signed = false;
  std::int32_t y_zp = 0, y_lo = 0, y_hi = 255;
};

struct QuantFns {
  // The GEMM engine (kernels/quantized_gemm.hpp); null at levels without one, where the op
  // runs the direct kernel (kernels/quantized.hpp).
  void (*gemm)(const QConvArgs&);
  // The depthwise engine (kernels/quantized_depthwise.hpp: q8_depthwise_applicable specs);
  // null where the level has none.
  void (*depthwise)(const QConvArgs&);
  // Name of the GEMM kernels `gemm` runs for these arguments (null: for the common case,
  // weight zero points that need no per-pixel correction), for info() and the tests.
  const char* (*path)(const QConvArgs*);
};

// Which engine quantized_conv runs (tests and benchmarks compare them; results are identical):
// automatic (the GEMM engine where it applies, else direct), direct (the scalar direct kernel
// everywhere), no_vnni (automatic, but AVX-512 without VNNI's vpdpbusd).
enum class Int8Engine : int { automatic = 0, direct = 1, no_vnni = 2 };

inline std::atomic<int>& int8_engine_setting() {
  static std::atomic<int> e{0};
  return e;
}

inline Int8Engine int8_engine() {
  return static_cast<Int8Engine>(int8_engine_setting().load(std::memory_order_relaxed));
}

}  // namespace kernels
}  // namespace convcore
