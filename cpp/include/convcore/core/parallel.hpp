// Threading. OpenMP when the compiler has it, a plain loop otherwise. The thread count is a
// process-wide setting (set_num_threads); ops never nest parallel regions, so calls from
// several Python threads each run their own team and the user caps the total.
#pragma once
#include <atomic>

#include "hd.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace convcore {

inline std::atomic<int>& thread_setting() {
  static std::atomic<int> n{0};  // 0: all cores
  return n;
}

inline int max_threads() {
#if defined(_OPENMP)
  return omp_get_num_procs();
#else
  return 1;
#endif
}

inline int get_num_threads() {
  int n = thread_setting().load();
  return n > 0 ? n : max_threads();
}

// The largest thread count set_num_threads takes: 4x the cores, and at least 32 (so small
// machines can still oversubscribe, as tests of thread-count independence do). More threads
// only cost memory (a stack each), and an OpenMP runtime that cannot create a thread it was
// asked for ends the process (libgomp: "Thread creation failed"), so the count is bounded.
inline int max_num_threads() {
  const int n = 4 * max_threads();
  return n > 32 ? n : 32;
}

// n threads for every op from now on; 0 (or less): all cores. n above max_num_threads() is
// clamped to it (the Python binding refuses it with a ValueError instead).
inline void set_num_threads(int n) {
  const int hi = max_num_threads();
  thread_setting().store(n > 0 ? (n < hi ? n : hi) : 0);
}

inline bool has_openmp() {
#if defined(_OPENMP)
  return true;
#else
  return false;
#endif
}

// fn(i) for i in [0, n); iterations must be independent. Static schedule: equal work items.
template <class F>
void parallel_for(index_t n, F&& fn) {
#if defined(_OPENMP)
  int nt = get_num_threads();
  if (n > 1 && nt > 1 && !omp_in_parallel()) {
    if (nt > n) nt = static_cast<int>(n);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (index_t i = 0; i < n; ++i) fn(i);
    return;
  }
#endif
  for (index_t i = 0; i < n; ++i) fn(i);
}

// Dynamic schedule for work items of uneven cost.
template <class F>
void parallel_for_dynamic(index_t n, F&& fn) {
#if defined(_OPENMP)
  int nt = get_num_threads();
  if (n > 1 && nt > 1 && !omp_in_parallel()) {
    if (nt > n) nt = static_cast<int>(n);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (index_t i = 0; i < n; ++i) fn(i);
    return;
  }
#endif
  for (index_t i = 0; i < n; ++i) fn(i);
}

}  // namespace convcore
