// The engine's kernels for one ISA, as a table of function pointers.
//
// kernel_table_for<ISA>() is instantiated once per ISA: by the per-ISA translation units of the
// Python extension (cpp/src/isa_*.cpp, each compiled with its own -m flags), or, for header-only
// users, in their own code for the levels their compiler flags allow (ops/engine.hpp). The
// ops call through the active table, so one binary runs the best kernels the CPU has.
#pragma once
#include "../core/simd.hpp"
#include "../core/spec.hpp"
#include "deformable.hpp"
#include "depthwise.hpp"
#include "filter2d.hpp"
#include "gemm.hpp"
#include "grouped.hpp"
#include "im2col.hpp"
#include "ndimage_f32.hpp"
#include "ndimage_int.hpp"
#include "ndimage_lines.hpp"
#include "prepack.hpp"
#include "quantized_gemm.hpp"
#include "stem.hpp"
#include "winograd.hpp"

namespace convcore {
namespace kernels {

// The engines that reorder or transform their weights take them ready-made as a last argument
// (prepared by `prepare`, prepack.hpp: a plan's), or null to prepare them on the call.
template <class T>
struct EngineFns {
  void (*gemm)(const GemmArgs<T>&);
  // zero padding, kernel unflipped, channels-first
  void (*conv_gemm)(const ConvSpec&, const T*, const T*, const T*, T*, const T*);
  // single-channel sliding-window correlation (convolve / correlate): filter2d.hpp
  void (*filter)(const Filter2DGeom&, const T*, const T*, const T*, const T*, T*, T);
  // transposed conv of the spec (x: N x C_out x out, y: N x C_in x in), channels-first
  void (*conv_transpose_gemm)(const ConvSpec&, const T*, const T*, const T*, T*, const T*);
  // 3x3 stride 1 in H and W (winograd_applicable), zero padding, channels-first
  void (*winograd)(const ConvSpec&, const T*, const T*, const T*, T*, const T*);
  // a transposed conv's sub-pixel phase conv (subpixel.hpp): f, x, the transposed conv's w,
  // its tap table, y channels, kernel size, bias, z
  void (*winograd_subpixel)(const ConvSpec&, const T*, const T*, const index_t*, index_t,
                            index_t, const T*, T*, const T*);
  // 1-D/2-D grouped conv, small channel counts per group (grouped_applicable): grouped.hpp
  void (*grouped)(const ConvSpec&, const T*, const T*, const T*, T*, const T*);
  // depthwise (depthwise.hpp): channels-first planes (w as given), and channels-last (w packed
  // by depthwise_pack_weights)
  void (*depthwise_planar)(const ConvSpec&, const T*, const T*, const T*, T*);
  void (*depthwise_nhwc)(const ConvSpec&, const T*, const T*, const T*, T*);
  // channels-first through channels-last bands (w packed)
  void (*depthwise_bands)(const ConvSpec&, const T*, const T*, const T*, T*);
  // deform_conv2d's tiled kernel (deformable.hpp): x, offset, mask, w, packed w (or null),
  // bias, y
  void (*deform)(const DeformSpec&, const T*, const T*, const T*, const T*, const T*, const T*,
                 T*);
  // direct conv over few input channels (stem_applicable): stem.hpp
  void (*stem)(const ConvSpec&, const T*, const T*, const T*, T*);
  // a form of the weights for the engines above (prepack.hpp): size in elements (dst null),
  // or written to dst; and whether the Winograd engine takes its few-tile form for a spec
  index_t (*prepare)(const PrepareArgs<T>&, T*);
  bool (*winograd_few)(const ConvSpec&);
};

// convcore.ndimage's double arithmetic (ndimage_lines.hpp)
struct NdimageFns {
  void (*load)(Elem, const void*, index_t, double*);
  void (*store)(Elem, const double*, index_t, void*, bool);
  void (*lincomb)(const double* const*, const double*, index_t, int, index_t, double*);
  void (*running_mean8)(const double*, index_t, index_t, double*);
  void (*accumulate)(double*, const double*, index_t);
  void (*divide)(const double*, index_t, double, double*);
  void (*running_step)(double*, const double*, const double*, index_t, double, double*);
  // float32 input into float32 output: float32 with FMA (ndimage_f32.hpp)
  void (*lincomb_f32)(const float* const*, const float*, index_t, int, index_t, float*);
  // the same across rows, several output rows at once
  void (*lincomb_rows_f32)(const float* const*, const index_t*, const float*, index_t, int,
                           index_t, index_t, float* const*);
  // small-integer images with integer weights: exact int32 sums (ndimage_int.hpp)
  void (*load_i32)(Elem, const void*, index_t, std::int32_t*);
  void (*store_i32)(Elem, const std::int32_t*, index_t, void*, std::int32_t);
  void (*lincomb_i32)(const std::int32_t* const*, const std::int32_t*, index_t, int, index_t,
                      std::int32_t*);
  // the gradient magnitude's and Laplace's NumPy steps (ndimage_lines.hpp)
  void (*combine)(Elem, void*, const void*, index_t, int, const void*);
  // the certified float32 path of 8-bit images (ndimage_lines.hpp)
  void (*load_f32)(Elem, const void*, index_t, float*);
  index_t (*certify)(const float*, const float* const*, const double*, index_t, int, index_t,
                     float, std::int32_t*);
};

struct KernelTable {
  IsaLevel level;
  EngineFns<float> f32;
  EngineFns<double> f64;
  NdimageFns nd;
  QuantFns q8;  // the INT8 engine (quantized_gemm.hpp)
  const EngineFns<float>& fns(float*) const { return f32; }
  const EngineFns<double>& fns(double*) const { return f64; }
};

// Constant-initialised (function addresses only): nothing of the ISA's code runs before the
// table is chosen.
template <class ISA>
const KernelTable* kernel_table_for() {
  static constexpr KernelTable t{
      ISA::level,
      {&gemm_engine<float, ISA>::gemm, &conv_gemm_engine<float, ISA>::run,
       &filter2d_engine<float, ISA>::run, &conv_transpose_gemm_engine<float, ISA>::run,
       &winograd_engine<float, ISA>::run, &winograd_engine<float, ISA>::run_subpixel,
       &grouped_engine<float, ISA>::run,
       &depthwise_planar_engine<float, ISA>::run, &depthwise_nhwc<float, ISA>,
       &depthwise_bands<float, ISA>, &deform_tiled<float, ISA>, &stem_engine<float, ISA>::run,
       &prepack_engine<float, ISA>::prepare, &prepack_engine<float, ISA>::winograd_few},
      {&gemm_engine<double, ISA>::gemm, &conv_gemm_engine<double, ISA>::run,
       &filter2d_engine<double, ISA>::run, &conv_transpose_gemm_engine<double, ISA>::run,
       &winograd_engine<double, ISA>::run, &winograd_engine<double, ISA>::run_subpixel,
       &grouped_engine<double, ISA>::run,
       &depthwise_planar_engine<double, ISA>::run, &depthwise_nhwc<double, ISA>,
       &depthwise_bands<double, ISA>, &deform_tiled<double, ISA>, &stem_engine<double, ISA>::run,
       &prepack_engine<double, ISA>::prepare, &prepack_engine<double, ISA>::winograd_few},
      {&ndimage_engine<ISA>::load, &ndimage_engine<ISA>::store, &ndimage_engine<ISA>::lincomb, &ndimage_engine<ISA>::running_mean8,
       &ndimage_engine<ISA>::accumulate,
       &ndimage_engine<ISA>::divide, &ndimage_engine<ISA>::running_step,
       &ndimage_f32_engine<ISA>::lincomb, &ndimage_f32_engine<ISA>::lincomb_rows,
       &ndimage_int_engine<ISA>::load,
       &ndimage_int_engine<ISA>::store, &ndimage_int_engine<ISA>::lincomb,
       &ndimage_engine<ISA>::combine, &ndimage_engine<ISA>::load_f32,
       &ndimage_engine<ISA>::certify},
      q8_engine<ISA>::fns()};
  return &t;
}

}  // namespace kernels
}  // namespace convcore
