// Quantized direct convolution (ONNX QLinearConv / QNNPACK semantics): 8-bit x and w with zero
// points, int32 accumulation of (x - x_zp) * (w - w_zp) plus an int32 bias, then requantisation
// y = saturate(round_half_even(acc * multiplier[oc]) + y_zp). Padding reads the real value 0,
// i.e. x_zp. Work items are (image, output channel, block of output rows), as conv_direct.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "../core/geometry.hpp"
#include "../core/parallel.hpp"
#include "../core/requantize.hpp"
#include "../core/spec.hpp"

namespace convcore {
namespace kernels {

// x: (N, C_in, *in) of TX; wq: (C_out, C_in/g, *k) already minus its zero point (int16);
// bias: int32 (C_out) or null; mult: per output channel; y: (N, C_out, *out) of TY.
template <class TX, class TY>
void conv_quantized(const ConvSpec& s, const TX* x, std::int32_t x_zp, const std::int16_t* wq,
                    const std::int32_t* bias, const double* mult, std::int32_t y_zp,
                    std::int32_t y_lo, std::int32_t y_hi, TY* y) {
  const index_t cpg = s.cin_per_group(), opg = s.cout_per_group();
  const index_t rows = s.out[0] * s.out[1], OW = s.out[2];
  index_t rb = 4096 / (OW > 0 ? OW : 1);
  if (rb < 1) rb = 1;
  if (rb > rows) rb = rows;
  const index_t nrb = (rows + rb - 1) / rb;
  parallel_for(s.N * s.C_out * nrb, [&](index_t item) {
    const index_t plane = item / nrb, r0 = (item % nrb) * rb;
    const index_t r1 = r0 + rb < rows ? r0 + rb : rows;
    const index_t n = plane / s.C_out, oc = plane % s.C_out, g = oc / opg;
    // Unsigned accumulators: int32 arithmetic that wraps (as the hardware does) instead of
    // overflowing into undefined behaviour; only reachable when C_in/groups * prod(k) > 33025.
    std::vector<std::uint32_t> acc(static_cast<std::size_t>((r1 - r0) * OW),
                                   static_cast<std::uint32_t>(bias ? bias[oc] : 0));
    for (index_t c = 0; c < cpg; ++c) {
      const TX* xp = x + (n * s.C_in + g * cpg + c) * s.in_size();
      const std::int16_t* wp = wq + (oc * cpg + c) * s.k_size();
      for (index_t t0 = 0; t0 < s.k[0]; ++t0)
        for (index_t t1 = 0; t1 < s.k[1]; ++t1)
          for (index_t t2 = 0; t2 < s.k[2]; ++t2) {
            const std::int32_t wv = wp[(t0 * s.k[1] + t1) * s.k[2] + t2];
            if (wv == 0) continue;
            index_t lo2, hi2;
            valid_out_range(s.in[2], OW, t2, s.stride[2], s.dil[2], s.pad_lo[2], &lo2, &hi2);
            if (hi2 <= lo2) continue;
            const index_t ix0 = conv_in_index(lo2, t2, s.stride[2], s.dil[2], s.pad_lo[2]);
            const index_t st = s.stride[2];
            for (index_t r = r0; r < r1; ++r) {
              const index_t o0 = r / s.out[1], o1 = r % s.out[1];
              const index_t i0 = conv_in_index(o0, t0, s.stride[0], s.dil[0], s.pad_lo[0]);
              const index_t i1 = conv_in_index(o1, t1, s.stride[1], s.dil[1], s.pad_lo[1]);
              if (i0 < 0 || i0 >= s.in[0] || i1 < 0 || i1 >= s.in[1]) continue;
              const TX* xr = xp + (i0 * s.in[1] + i1) * s.in[2] + ix0;
              std::uint32_t* ar = acc.data() + (r - r0) * OW + lo2;
              for (index_t j = 0; j < hi2 - lo2; ++j)
                ar[j] += static_cast<std::uint32_t>((static_cast<std::int32_t>(xr[j * st]) - x_zp) * wv);
            }
          }
    }
    TY* yp = y + plane * s.out_size() + r0 * OW;
    const double m = mult[oc];
    for (index_t i = 0; i < (r1 - r0) * OW; ++i)
      yp[i] = static_cast<TY>(
          convcore::requantize(static_cast<std::int32_t>(acc[i]), m, y_zp, y_lo, y_hi));
  });
}

}  // namespace kernels
}  // namespace convcore
