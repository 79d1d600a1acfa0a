// Requantisation of an int32 accumulator to 8 bits (ONNX QLinearConv / QNNPACK), written once
// for the CPU kernel (kernels/quantized.hpp) and the CUDA kernel (cuda/kernels/quantized.cu) so
// that both give bit-identical results. Plain double arithmetic (IEEE on the host and on the
// GPU, no fused operations possible), no library calls, so NVRTC compiles it unchanged.
#pragma once
#include "hd.hpp"

namespace convcore {

// The real-valued scale from accumulator units to output units, x_scale * w_scale / y_scale,
// in float64 and in this order.
CONVCORE_HD double requant_multiplier(double x_scale, double w_scale, double y_scale) {
  return x_scale * w_scale / y_scale;
}

// saturate(round_half_to_even(acc * multiplier) + zp) to [lo, hi]. Equals
// std::nearbyint under the default rounding mode; written out so that it needs no <cmath> and
// cannot depend on the rounding mode. |v| is clamped to 2^40 first (far outside any 8-bit
// range, and exact integers below 2^52), which keeps the conversion to integer defined for any
// finite or infinite product.
CONVCORE_HD int requantize(int acc, double multiplier, int zp, int lo, int hi) {
  const double big = 1099511627776.0;  // 2^40
  double v = static_cast<double>(acc) * multiplier;
  if (v > big) v = big;
  if (v < -big) v = -big;
  long long t = static_cast<long long>(v);  // toward zero, exact
  const double f = v - static_cast<double>(t);
  const bool odd = (t & 1) != 0;
  if (f > 0.5 || (f == 0.5 && odd)) ++t;
  if (f < -0.5 || (f == -0.5 && odd)) --t;
  const long long r = t + zp;
  return r < lo ? lo : (r > hi ? hi : static_cast<int>(r));
}

}  // namespace convcore
