// The INT8 engine's interface: one quantized conv as plain data (QConvArgs), the weights packed
// once for it (Q8Packed), the per-ISA entry points in the kernel table (QuantFns), and the
// process-wide engine override of the tests.
//
// Packing and running are separate so that a caller can pack once and run many times
// (ops/quantized_conv.hpp: quantized_conv_pack / quantized_conv_run); the plain op does both.
// Everything here is plain data and function pointers: the ISA units keep std:: containers out
// of their code (docs/architecture.md, "The ODR hazard"), so the packed form lives in memory
// the caller provides.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "../core/spec.hpp"

namespace convcore {
namespace kernels {

// One quantized conv (ops/quantized_conv.hpp has the semantics), channels-last: x is
// (N, *in, C_in), y (N, *out, C_out); w as given, (C_out, C_in/groups, *k). 8-bit values are
// passed as raw bytes with their signedness; w_zp, bias (or null) and mult hold C_out values.
// Packing reads s, w, w_signed, w_zp, bias, mult, x_signed and x_zp; running reads s (its N
// and spatial sizes may differ from the packing spec's), x and the y fields.
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

// Geometry of the GEMM engine's packed weights: reduction index k = tap * cpg_pad + c, NR-wide
// column panels, KU products per 32-bit lane (quantized_pack.hpp).
struct Q8Layout {
  index_t cpg = 0, opg = 0, taps = 0, cpg_pad = 0, Kp = 0, ksteps = 0, nob = 0;
  int MR = 0, NR = 0, KU = 0;
};

struct Q8Packed;
using Q8RunFn = void (*)(const QConvArgs&, const Q8Packed&);

// Weights packed by one level's kernels, for that level's `run` (which the packed form names,
// so it runs with the kernels that packed it even if the active level changes later). Points
// into memory owned by the caller (thread scratch for a single call, or a buffer kept with the
// packed weights).
struct Q8Packed {
  Q8RunFn run = nullptr;     // null: not packed (the direct kernel runs)
  const char* path = "";     // the kernels' name (info()["simd"]["int8"], the tests)
  Q8Layout L;                // GEMM engine: the panels' geometry
  const void* panel = nullptr;          // GEMM: int8 (vnni) or int16 (madd) panels;
                                        // depthwise: per tap, C int32 lanes of w - w_zp
  const std::uint32_t* corr = nullptr;  // per padded column / channel, added modulo 2^32
  const double* mult = nullptr;         // per padded column / channel
};

// Which kernels to pack for (ops/quantized_conv.hpp chooses).
enum class Q8Kind : int { gemm = 0, depthwise = 1 };

struct QuantFns {
  // Bytes of memory (64-byte aligned) `pack` needs for these arguments and kind; 0 where the
  // level has no engine of that kind (the op runs the direct kernel, kernels/quantized.hpp).
  std::size_t (*packed_bytes)(const QConvArgs&, Q8Kind);
  // Packs w, the bias and the requantisation multipliers into `mem`, filling `out`.
  void (*pack)(const QConvArgs&, Q8Kind, void* mem, Q8Packed* out);
  // Name of the kernels the GEMM engine runs for these arguments (null: for the common case,
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
