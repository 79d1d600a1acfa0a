// AVX-512 (F, BW, DQ, VL) kernels: compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl
// -mfma (MSVC /arch:AVX512), run only after the CPU check in bind_engine.cpp.
#include "isa_tables.hpp"

#if !defined(CONVCORE_SIMD_AVX512)
#error "isa_avx512.cpp must be compiled with AVX-512 enabled"
#endif

namespace convcore {
namespace isa_tables {
const kernels::KernelTable* avx512() { return kernels::kernel_table_for<isa::avx512>(); }
}  // namespace isa_tables
}  // namespace convcore
