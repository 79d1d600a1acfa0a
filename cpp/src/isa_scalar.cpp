// Baseline kernels (no extra -m flags). Linked before the other ISA units: where an inline
// function without an ISA tag is emitted by several units, the linker keeps the first copy,
// which must be one every CPU can run (docs/architecture.md, "Runtime ISA dispatch").
// On AArch64 this unit also holds the NEON kernels (NEON is part of the baseline there).
#include "isa_tables.hpp"

namespace convcore {
namespace isa_tables {
const kernels::KernelTable* scalar() { return kernels::kernel_table_for<isa::scalar>(); }
#if defined(CONVCORE_SIMD_NEON)
const kernels::KernelTable* neon() { return kernels::kernel_table_for<isa::neon>(); }
#endif
}  // namespace isa_tables
}  // namespace convcore
