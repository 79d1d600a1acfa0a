// Per-thread scratch buffers that outlive a call: 64-byte aligned, grown on demand, freed when
// the thread exits. Kernels keep their packing buffers here because first-touching fresh pages
// costs a page fault per 4 KiB (about 2 us on the reference VM), a visible share of mid-size
// layers if every call allocated anew.
//
// `Owner` is the kernel family that owns the slots (e.g. gemm_engine<T, ISA>): every owner has
// its own buffers, and since owners carry the ISA tag, so does every instantiation of this code
// (the per-ISA translation units never share a symbol; docs/architecture.md).
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>
#include <stdlib.h>  // posix_memalign
#if defined(_MSC_VER)
#include <malloc.h>
#endif

#include "hd.hpp"

namespace convcore {

// 64-byte aligned memory (every packed buffer is read with vector loads), freed by
// aligned_free; throws std::bad_alloc. The one aligned allocator of the headers.
inline void* aligned_bytes(std::size_t bytes) {
  void* q = nullptr;
#if defined(_MSC_VER)
  q = _aligned_malloc(bytes, 64);
#else
  // posix_memalign: std::aligned_alloc is missing before macOS 10.15
  if (posix_memalign(&q, 64, bytes) != 0) q = nullptr;
#endif
  if (!q) throw std::bad_alloc();
  return q;
}
inline void aligned_free(void* p) {
#if defined(_MSC_VER)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

template <class T, class Owner, int Slots>
struct thread_scratch {
  // The buffer of `slot` on the calling thread, with room for at least n elements (n <= 0: 1).
  static T* get(int slot, index_t n) {
    thread_local slot_t s[Slots];
    slot_t& b = s[slot];
    const std::size_t need = static_cast<std::size_t>(n > 0 ? n : 1);
    if (b.n < need) {
      release(b.p);
      b.p = nullptr;
      b.n = 0;
      b.p = static_cast<T*>(acquire(((need * sizeof(T) + 63) / 64) * 64));
      b.n = need;
    }
    return b.p;
  }

 private:
  struct slot_t {
    T* p = nullptr;
    std::size_t n = 0;
    ~slot_t() { release(p); }
  };
  static void* acquire(std::size_t bytes) { return aligned_bytes(bytes); }
  static void release(void* p) { aligned_free(p); }
};

}  // namespace convcore
