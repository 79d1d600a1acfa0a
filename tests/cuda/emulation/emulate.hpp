// Host emulation of the small part of CUDA that convcore's kernels use, so that the shipped .cu
// sources can be compiled by the host C++ compiler and run, unchanged, on the CPU in tests.
//
// Each block runs its threads as cooperative fibers (ucontext) on one OS thread: a thread runs
// until it reaches __syncthreads() or finishes, so after one sweep every live thread waits at
// the same barrier, which is what the barrier guarantees on a GPU. __shared__ becomes a static
// local, shared by the block's fibers; blocks run one after another. Launches follow
// cudaLaunchKernel's convention (an array of pointers to the argument values) and check each
// argument's size against the kernel's parameter, so a Python caller passing the wrong scalar
// type fails here as it would silently misbehave on a GPU.
#pragma once
#include <ucontext.h>

#include <cstddef>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

namespace convcore_emu {

struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack;
  bool done = true;
};

inline ucontext_t scheduler;
inline std::vector<Fiber> fibers;
inline int current = 0;
inline std::function<void()> body;

inline void fiber_entry() {
  body();
  fibers[current].done = true;  // returning resumes `scheduler` through uc_link
}

inline void run(dim3 grid, dim3 block, std::function<void()> kernel_body) {
  body = std::move(kernel_body);
  gridDim = grid;
  blockDim = block;
  const unsigned nt = block.x * block.y * block.z;
  if (fibers.size() < nt) fibers.resize(nt);
  for (auto& f : fibers)
    if (f.stack.empty()) f.stack.resize(256 * 1024);
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        blockIdx = dim3{bx, by, bz};
        for (unsigned i = 0; i < nt; ++i) {
          Fiber& f = fibers[i];
          getcontext(&f.ctx);
          f.ctx.uc_stack.ss_sp = f.stack.data();
          f.ctx.uc_stack.ss_size = f.stack.size();
          f.ctx.uc_link = &scheduler;
          makecontext(&f.ctx, fiber_entry, 0);
          f.done = false;
        }
        for (bool live = true; live;) {
          live = false;
          for (unsigned i = 0; i < nt; ++i) {
            if (fibers[i].done) continue;
            current = static_cast<int>(i);
            threadIdx = dim3{i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
            swapcontext(&scheduler, &fibers[i].ctx);
            live = live || !fibers[i].done;
          }
        }
      }
}

template <class... A, std::size_t... I>
void call_with(void (*k)(A...), void** args, std::index_sequence<I...>) {
  k(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(args[I])...);
}

// 0 on success; -1 wrong argument count; -(2 + i) argument i has the wrong size.
template <class... A>
int launch(void (*k)(A...), const unsigned* grid, const unsigned* block, void** args,
           const long long* sizes, int nargs) {
  if (nargs != static_cast<int>(sizeof...(A))) return -1;
  const std::size_t expect[] = {sizeof(A)...};
  for (int i = 0; i < nargs; ++i)
    if (static_cast<long long>(expect[i]) != sizes[i]) return -(2 + i);
  run(dim3{grid[0], grid[1], grid[2]}, dim3{block[0], block[1], block[2]},
      [&] { call_with(k, args, std::index_sequence_for<A...>{}); });
  return 0;
}

}  // namespace convcore_emu

inline void __syncthreads() {
  swapcontext(&convcore_emu::fibers[convcore_emu::current].ctx, &convcore_emu::scheduler);
}
