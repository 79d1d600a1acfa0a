// Which ISA's kernels the ops run: the active kernel table.
//
// Header-only use: the first call picks, among the levels this translation unit's compiler
// flags allow (scalar and isa::native), the best one the CPU supports, honouring CONVCORE_ISA.
// Compile every translation unit that includes convcore with the same SIMD flags (the inline
// functions here differ between flag sets).
//
// The Python extension installs its own choice at import (cpp/src/bind_engine.cpp): tables
// from the per-ISA translation units, the best the CPU supports, or CONVCORE_ISA's.
#pragma once
#include <atomic>

#include "../kernels/table.hpp"

namespace convcore {

inline std::atomic<const kernels::KernelTable*>& kernel_table_slot() {
  static std::atomic<const kernels::KernelTable*> t{nullptr};
  return t;
}

// The table of a level compiled into this translation unit, or null.
inline const kernels::KernelTable* header_kernel_table(IsaLevel l) {
  switch (l) {
    case IsaLevel::scalar: return kernels::kernel_table_for<isa::scalar>();
#if defined(CONVCORE_SIMD_AVX2)
    case IsaLevel::avx2: return kernels::kernel_table_for<isa::avx2>();
#endif
#if defined(CONVCORE_SIMD_AVX512)
    case IsaLevel::avx512: return kernels::kernel_table_for<isa::avx512>();
#endif
#if defined(CONVCORE_SIMD_NEON)
    case IsaLevel::neon: return kernels::kernel_table_for<isa::neon>();
#endif
    default: return nullptr;
  }
}

// Installs a table (null: back to the header default). Not meant to race with running ops.
inline void set_kernel_table(const kernels::KernelTable* t) {
  kernel_table_slot().store(t, std::memory_order_release);
}

inline const kernels::KernelTable& active_kernels() {
  const kernels::KernelTable* t = kernel_table_slot().load(std::memory_order_acquire);
  if (t) return *t;
  static const kernels::KernelTable* dflt =
      header_kernel_table(choose_isa_from_env(compiled_isa_mask()).level);
  return *dflt;
}

}  // namespace convcore
