// Threading. OpenMP when the compiler has it, a plain loop otherwise. The thread count is a
// process-wide setting (set_num_threads); ops never nest parallel regions, so calls from
// several Python threads each run their own team and the user caps the total.
#pragma once
#include <atomic>
#include <chrono>
#include <exception>

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

// A count for the calling thread only (0: none), set by ThreadCountScope: a host that runs
// several ops at once on its own threads (a Dask worker's task threads) gives each op its share
// of the cores without touching the process-wide setting the other threads read.
inline int& thread_local_setting() {
  thread_local int n = 0;
  return n;
}

inline int get_num_threads() {
  const int t = thread_local_setting();
  if (t > 0) return t;
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

// n threads for the ops the calling thread runs from now on (0: the process-wide count),
// clamped as set_num_threads clamps; returns the thread's previous count.
inline int set_thread_num_threads(int n) {
  const int previous = thread_local_setting();
  const int hi = max_num_threads();
  thread_local_setting() = n > 0 ? (n < hi ? n : hi) : 0;
  return previous;
}

inline bool has_openmp() {
#if defined(_OPENMP)
  return true;
#else
  return false;
#endif
}

// Interrupts. A host that can be interrupted (the Python extension: Ctrl-C) opens an
// InterruptScope around an op on the calling thread with a poll function (true: stop). The
// op's parallel loops then call it from that thread between work items, first 20 ms into the
// call and every 20 ms after; once it says stop, every thread skips its remaining items and
// the loop throws `interrupted` after its region has ended (the output is then partly written;
// workspace is freed as the exception unwinds). Without a scope (header-only users, nested
// loops) a loop costs one thread-local test more.
struct interrupted : std::exception {
  const char* what() const noexcept override { return "convcore: interrupted"; }
};

struct InterruptState {
  bool (*poll)() = nullptr;
  std::chrono::steady_clock::time_point next{};
};

inline InterruptState& interrupt_state() {
  thread_local InterruptState s;
  return s;
}

class InterruptScope {
 public:
  explicit InterruptScope(bool (*poll)()) : saved_(interrupt_state()) {
    interrupt_state().poll = poll;
    interrupt_state().next = std::chrono::steady_clock::now() + period();
  }
  ~InterruptScope() { interrupt_state() = saved_; }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  static constexpr std::chrono::milliseconds period() { return std::chrono::milliseconds(20); }

 private:
  InterruptState saved_;
};

namespace detail {
// The calling thread's poll, when due: true once the host asks to stop.
inline bool poll_interrupt(InterruptState& st) {
  const auto now = std::chrono::steady_clock::now();
  if (now < st.next) return false;
  st.next = now + InterruptScope::period();
  return st.poll();
}

template <class F>
void parallel_loop(index_t n, F& fn, bool dynamic) {
  int nt = 1;
  bool nested = false;
#if defined(_OPENMP)
  nested = omp_in_parallel() != 0;
  nt = get_num_threads();
  if (n <= 1 || nested) nt = 1;
  if (nt > n) nt = static_cast<int>(n);
#endif
  InterruptState& st = interrupt_state();  // the calling thread's: thread 0 of the team
  const bool polls = st.poll && !nested;
  std::atomic<bool> stop{false}, failed{false};
  // An exception must not leave an OpenMP region (that ends the process): the first one an
  // item throws (a workspace that cannot be allocated: std::bad_alloc) stops the loop like an
  // interrupt and is rethrown once the region has ended.
  std::exception_ptr error;
  auto item = [&](index_t i, bool caller) {
    if (stop.load(std::memory_order_relaxed)) return;
    try {
      if (polls && caller && poll_interrupt(st)) {
        stop.store(true, std::memory_order_relaxed);
        return;
      }
      fn(i);
    } catch (...) {
      if (!failed.exchange(true)) error = std::current_exception();
      stop.store(true, std::memory_order_relaxed);
    }
  };
#if defined(_OPENMP)
  if (nt > 1) {
    if (dynamic) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
      for (index_t i = 0; i < n; ++i) item(i, omp_get_thread_num() == 0);
    } else {
#pragma omp parallel for schedule(static) num_threads(nt)
      for (index_t i = 0; i < n; ++i) item(i, omp_get_thread_num() == 0);
    }
  } else
#endif
  {
    (void)dynamic;
    (void)nt;
    for (index_t i = 0; i < n && !stop.load(std::memory_order_relaxed); ++i) item(i, true);
  }
  if (error) std::rethrow_exception(error);
  if (stop.load()) throw interrupted();
}
}  // namespace detail

// fn(i) for i in [0, n); iterations must be independent. Static schedule: equal work items.
template <class F>
void parallel_for(index_t n, F&& fn) {
  detail::parallel_loop(n, fn, false);
}

// Dynamic schedule for work items of uneven cost.
template <class F>
void parallel_for_dynamic(index_t n, F&& fn) {
  detail::parallel_loop(n, fn, true);
}

}  // namespace convcore
