// Pieces every convcore CUDA kernel shares: the float16 storage type, the accumulator type of
// each dtype, fast division by run-time constants, and the spec parameters every conv kernel
// takes. The index math itself comes from the C++ core headers (CONVCORE_HD functions), so a
// CUDA kernel and a CPU kernel cannot disagree on which input a tap reads.
//
// Compiled by NVRTC at run time (convcore.cuda._compile), by nvcc in CI, and by the host C++
// compiler in the CPU emulation tests; the device-only intrinsics below therefore have portable
// fallbacks for a host compile.
#pragma once
#include <convcore/core/activation.hpp>
#include <convcore/core/geometry.hpp>
#include <convcore/core/padding.hpp>
#include <convcore/core/spec.hpp>

namespace convcore {
namespace cuda {

// IEEE binary16, bit-compatible with CuPy's float16 arrays. Our own type rather than
// cuda_fp16.h's __half: the kernels then need no toolkit header, which NVRTC (from the PyPI
// wheel) may not find.
struct half_t {
  unsigned short bits;
};

#if defined(__CUDA_ARCH__)
__device__ inline float half_to_float(unsigned short h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}
__device__ inline unsigned short float_to_half(float f) {
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}
#else
// Bit-exact software conversions (round to nearest even, subnormals, inf and NaN), used when the
// kernels are compiled for the host.
inline float half_to_float(unsigned short h) {
  unsigned sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, bits;
  if (e == 0) {
    float v = static_cast<float>(m) * (1.0f / 16777216.0f);  // m * 2^-24, exact
    return sign ? -v : v;
  }
  if (e == 31)
    bits = sign | 0x7f800000u | (m << 13);
  else
    bits = sign | ((e + 112u) << 23) | (m << 13);
  float f;
  __builtin_memcpy(&f, &bits, sizeof f);
  return f;
}
inline unsigned short float_to_half(float f) {
  unsigned x;
  __builtin_memcpy(&x, &f, sizeof x);
  unsigned sign = (x >> 16) & 0x8000u, e = (x >> 23) & 0xffu, m = x & 0x7fffffu;
  if (e == 0xff) return static_cast<unsigned short>(sign | 0x7c00u | (m ? 0x200u : 0u));
  int E = static_cast<int>(e) - 112;  // half's biased exponent
  if (E >= 31) return static_cast<unsigned short>(sign | 0x7c00u);
  unsigned h, rest, half_ulp;
  if (E <= 0) {  // subnormal (or zero) half: value / 2^-24 = (m | 1 << 23) >> (14 - E)
    if (E < -10) return static_cast<unsigned short>(sign);
    unsigned mm = m | 0x800000u, shift = static_cast<unsigned>(14 - E);
    h = mm >> shift;
    rest = mm & ((1u << shift) - 1u);
    half_ulp = 1u << (shift - 1u);
  } else {
    h = (static_cast<unsigned>(E) << 10) | (m >> 13);
    rest = m & 0x1fffu;
    half_ulp = 0x1000u;
  }
  if (rest > half_ulp || (rest == half_ulp && (h & 1u))) ++h;  // a carry may reach inf: correct
  return static_cast<unsigned short>(sign | h);
}
#endif

// Loads convert to the accumulator type, stores convert back: float16 accumulates in float32.
template <class T>
struct Num {
  using acc = T;
  __device__ static acc load(const T* p) { return *p; }
  __device__ static T from(acc v) { return v; }
};
template <>
struct Num<half_t> {
  using acc = float;
  __device__ static float load(const half_t* p) { return half_to_float(p->bits); }
  __device__ static half_t from(float v) { return half_t{float_to_half(v)}; }
};

// n / d for n < 2^31 by one multiply and shift (Granlund-Montgomery with m = ceil(2^(31+l)/d),
// l = ceil(log2 d)): the inner loops split a reduction index into (channel, tap) per element,
// and a hardware 32-bit division costs ~20 instructions.
struct FastDiv {
  unsigned d;
  unsigned shift;
  unsigned long long mul;
  __device__ explicit FastDiv(unsigned divisor) : d(divisor) {
    unsigned l = 0;
    while ((1ull << l) < d) ++l;
    shift = 31u + l;
    mul = ((1ull << shift) + d - 1u) / d;
  }
  __device__ unsigned div(unsigned n) const {
    return static_cast<unsigned>((static_cast<unsigned long long>(n) * mul) >> shift);
  }
};

// The spec every conv kernel receives, one scalar per field, in this order (convcore.cuda._ops
// builds the matching tuple: spec_args). Spatial arrays are widened to 3 slots as in ConvSpec.
#define CONVCORE_CUDA_SPEC_PARAMS                                                               \
  long long N, long long C_in, long long C_out, long long groups, long long in0, long long in1, \
      long long in2, long long k0, long long k1, long long k2, long long out0, long long out1,  \
      long long out2, long long st0, long long st1, long long st2, long long dl0, long long dl1, \
      long long dl2, long long pl0, long long pl1, long long pl2, int pad_mode, double fill,     \
      int flip, int channels_last, int act
#define CONVCORE_CUDA_SPEC_ARGS                                                               \
  N, C_in, C_out, groups, in0, in1, in2, k0, k1, k2, out0, out1, out2, st0, st1, st2, dl0, dl1, \
      dl2, pl0, pl1, pl2, pad_mode, fill, flip, channels_last, act

__device__ inline ConvSpec make_spec(CONVCORE_CUDA_SPEC_PARAMS) {
  ConvSpec s;
  s.N = N;
  s.C_in = C_in;
  s.C_out = C_out;
  s.groups = groups;
  const long long in[3] = {in0, in1, in2}, k[3] = {k0, k1, k2}, out[3] = {out0, out1, out2};
  const long long st[3] = {st0, st1, st2}, dl[3] = {dl0, dl1, dl2}, pl[3] = {pl0, pl1, pl2};
  for (int d = 0; d < kMaxSpatial; ++d) {
    s.in[d] = in[d];
    s.k[d] = k[d];
    s.out[d] = out[d];
    s.stride[d] = st[d];
    s.dil[d] = dl[d];
    s.pad_lo[d] = pl[d];
    s.pad_hi[d] = 0;  // implied by out; no kernel reads it
  }
  s.pad_mode = static_cast<PadMode>(pad_mode);
  s.fill = fill;
  s.flip = flip != 0;
  s.channels_last = channels_last != 0;
  s.act = static_cast<Activation>(act);
  return s;
}

// Offset of (n, channel c, spatial offset sp) in a tensor with C channels and `size` positions.
__device__ inline index_t tensor_offset(bool channels_last, index_t n, index_t c, index_t sp,
                                        index_t C, index_t size) {
  return channels_last ? (n * size + sp) * C + c : (n * C + c) * size + sp;
}

}  // namespace cuda
}  // namespace convcore
