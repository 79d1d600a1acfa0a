// AVX2 + FMA kernels: compiled with -mavx2 -mfma (MSVC /arch:AVX2), run only after the CPU
// check in bind_engine.cpp.
#include "isa_tables.hpp"

#if !defined(CONVCORE_SIMD_AVX2)
#error "isa_avx2.cpp must be compiled with AVX2 and FMA enabled"
#endif

namespace convcore {
namespace isa_tables {
const kernels::KernelTable* avx2() { return kernels::kernel_table_for<isa::avx2>(); }
}  // namespace isa_tables
}  // namespace convcore
