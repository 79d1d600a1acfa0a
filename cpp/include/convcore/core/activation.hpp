// Activations fused into the kernels' store step.
#pragma once
#include "hd.hpp"

#if !defined(__CUDACC_RTC__)
#include <cmath>
#endif

namespace convcore {

enum class Activation : int { none = 0, relu = 1, relu6 = 2, sigmoid = 3, tanh = 4, gelu = 5 };

template <class T>
CONVCORE_HD T apply_activation(Activation a, T v) {
#if !defined(__CUDACC_RTC__)
  using std::erf;
  using std::exp;
  using std::tanh;
#endif
  // The compares are written so that NaN falls through unchanged, as in PyTorch.
  switch (a) {
    case Activation::none:
      return v;
    case Activation::relu:
      return v < T(0) ? T(0) : v;
    case Activation::relu6:
      return v < T(0) ? T(0) : (v > T(6) ? T(6) : v);
    case Activation::sigmoid:
      return T(1) / (T(1) + exp(-v));
    case Activation::tanh:
      return tanh(v);
    case Activation::gelu:  // exact (erf) GELU, as torch.nn.functional.gelu's default
      return T(0.5) * v * (T(1) + erf(v * T(0.70710678118654752440)));
  }
  return v;
}

}  // namespace convcore
