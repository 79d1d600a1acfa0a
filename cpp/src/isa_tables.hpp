// The per-ISA kernel tables of the extension, one function per translation unit isa_<level>.cpp
// (each compiled with its own -m flags; CMake defines CONVCORE_TU_<LEVEL> for the ones built).
// Only this declaration is shared: the TUs include nothing but the kernel headers, and call
// nothing outside their own ISA-tagged templates on their hot paths.
#pragma once
#include <convcore/kernels/table.hpp>

namespace convcore {
namespace isa_tables {
const kernels::KernelTable* scalar();
const kernels::KernelTable* avx2();
const kernels::KernelTable* avx512();
const kernels::KernelTable* neon();
}  // namespace isa_tables
}  // namespace convcore
