// CONVCORE_HD marks index math that must compile for the host, under nvcc and under NVRTC.
// Headers that use it include nothing from the standard library so that NVRTC (which ships no
// libc++ headers) can compile them unchanged.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define CONVCORE_HD __host__ __device__ inline
#else
#define CONVCORE_HD inline
#endif

namespace convcore {
using index_t = long long;  // element counts and offsets; 64-bit everywhere (LLP64 included)
}  // namespace convcore
