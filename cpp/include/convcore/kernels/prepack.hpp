// Weights prepared once, for a plan (ops/plan.hpp): each engine that reorders or transforms
// its weights on every call (packed GEMM panels, Winograd's transformed weights, the grouped
// kernel's blocks, the depthwise kernels' channels-last taps) can take them ready-made instead,
// in the layout it would have built itself. The forms depend on the ISA's register blocking
// (MR, NR, vector width), so a form belongs to the kernel table that prepared it.
#pragma once
#include "../core/spec.hpp"
#include "depthwise.hpp"
#include "grouped.hpp"
#include "im2col.hpp"
#include "winograd.hpp"

namespace convcore {
namespace kernels {

enum class PackForm : int {
  gemm = 0,        // conv_gemm (im2col engine): per group, the weight matrix in MR-row panels
  transpose_gemm,  // conv_transpose_gemm: per group, W_g^T in MR-row panels
  grouped,         // grouped direct kernel: per group, [block][kh][kw][ci][CB]
  winograd_a,      // Winograd: the transformed weights in the packed-A layout
  winograd_b,      // Winograd on few tiles (run_few): the transformed weights as B panels
  subpixel_a,      // a transposed conv's sub-pixel phase conv on Winograd: A form ...
  subpixel_b,      // ... and B form
  depthwise,       // depthwise channels-last kernels: taps x C_out (depthwise_pack_weights)
  count
};

inline const char* pack_form_name(PackForm f) {
  switch (f) {
    case PackForm::gemm: return "gemm";
    case PackForm::transpose_gemm: return "transpose_gemm";
    case PackForm::grouped: return "grouped";
    case PackForm::winograd_a: return "winograd";
    case PackForm::winograd_b: return "winograd_few";
    case PackForm::subpixel_a: return "subpixel";
    case PackForm::subpixel_b: return "subpixel_few";
    case PackForm::depthwise: return "depthwise";
    default: return "?";
  }
}

// Whether a plan should keep a form of `bytes` bytes rather than let the engine make it on
// each call. The GEMM, grouped and depthwise forms are about the size of w: reading them
// instead of w saves the packing. Winograd's are 4x w: a run that read a form larger than the
// last-level cache from memory was slower than transforming w on the fly (AVX-512 VM, 32 MiB
// L3, 1 thread, plain / plan: 512->512 at 7x7 N=1, 36 MiB few-tile form, 0.44-0.46; ResNeXt
// g=32 4096@7, 72 MiB, 0.67; 2048@14 N=8, 18 MiB, 0.93-0.96), so the A forms are kept up to
// the budget run_with's own blocks use. The few-tile (B) forms serve a few tiles per value and
// lose earlier: 0.6-5 MiB 1.14-1.65x, 9 MiB 0.77-0.95x at 256@14 N=1 (where the 9 MiB A form
// gave 1.05-1.12x at N=8); they are kept up to half that budget.
inline bool form_pays(PackForm f, index_t bytes) {
  switch (f) {
    case PackForm::winograd_a:
    case PackForm::subpixel_a: return bytes <= kWinogradCacheBytes;
    case PackForm::winograd_b:
    case PackForm::subpixel_b: return bytes <= kWinogradCacheBytes / 2;
    default: return true;
  }
}

// What a form is made from. spec: the spec the engine will see (for the sub-pixel forms the
// phase conv's, with taps, Y and ks as winograd_engine::run_subpixel takes them); w: the
// weights as that engine reads them (unflipped).
template <class T>
struct PrepareArgs {
  PackForm form = PackForm::gemm;
  const ConvSpec* spec = nullptr;
  const T* w = nullptr;
  const index_t* taps = nullptr;
  index_t Y = 0, ks = 0;
};

template <class T, class ISA>
struct prepack_engine {
  // The form's size in elements (dst null), or the form written to dst.
  static index_t prepare(const PrepareArgs<T>& a, T* dst) {
    const ConvSpec& s = *a.spec;
    using WE = winograd_engine<T, ISA>;
    switch (a.form) {
      case PackForm::gemm:
        if (dst) conv_gemm_engine<T, ISA>::pack(s, a.w, dst);
        return conv_gemm_engine<T, ISA>::packed_size(s);
      case PackForm::transpose_gemm:
        if (dst) conv_transpose_gemm_engine<T, ISA>::pack(s, a.w, dst);
        return conv_transpose_gemm_engine<T, ISA>::packed_size(s);
      case PackForm::grouped:
        if (dst) grouped_engine<T, ISA>::pack(s, a.w, dst);
        return grouped_engine<T, ISA>::packed_size(s);
      case PackForm::winograd_a:
      case PackForm::winograd_b:
        return WE::prepare(s, typename WE::dense_weights{a.w, s.cin_per_group() * s.k[0] * 9},
                           a.form == PackForm::winograd_b, dst);
      case PackForm::subpixel_a:
      case PackForm::subpixel_b:
        return WE::prepare(s, typename WE::subpixel_weights{a.w, a.Y, a.ks, s.k[0], a.taps},
                           a.form == PackForm::subpixel_b, dst);
      case PackForm::depthwise:
        if (dst) depthwise_pack_weights(s, a.w, dst);
        return s.C_out * s.k_size();
      default: return 0;
    }
  }

  // Whether the Winograd engine runs this spec on few tiles (the B forms).
  static bool winograd_few(const ConvSpec& s) { return winograd_engine<T, ISA>::few_form(s); }
};

}  // namespace kernels
}  // namespace convcore
