"""How many OpenMP threads one block task gets: the process's convcore thread count
(``convcore.set_num_threads``, all cores by default) shared among the tasks the scheduler runs
at once in this process, and never more shares than the op has blocks.

Without this a Dask run oversubscribes: the threaded scheduler runs one task per core and each
convcore call starts a team of one thread per core (2 x 2 threads on 2 cores, spinning against
each other). The count is set for the task's own thread only (``_core._set_thread_num_threads``),
so the process-wide setting, and ops the user runs on other threads, are untouched."""
from __future__ import annotations

import os
import sys
import threading
import weakref
from typing import Any, Callable

from .. import _core


def _distributed_worker() -> Any:
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError, AttributeError):
        return None


def concurrency() -> int:
    """Tasks the running scheduler executes at once in this process (1 when unknown to be
    more: the main thread runs the synchronous scheduler and plain calls)."""
    worker = _distributed_worker()
    if worker is not None:
        return max(1, int(getattr(getattr(worker, "state", worker), "nthreads", 1)))
    if threading.current_thread() is threading.main_thread():
        return 1
    import dask

    n = _own_pool_size()
    if n:
        return max(1, int(n))
    if dask.config.get("scheduler", None) in ("sync", "synchronous", "single-threaded"):
        return 1
    n = dask.config.get("num_workers", None)
    if not n:
        from dask.system import CPU_COUNT

        n = CPU_COUNT
    return max(1, int(n))


def _own_pool_size() -> Any:
    """The size of the thread pool (the threaded scheduler's) this thread works for, or None.
    ``num_workers`` given to ``compute`` reaches only the pool, not the configuration.
    CPython starts a pool's worker with a weak reference to the pool as its first argument;
    the pool adds the thread to its own set only after starting it, so a task can run before
    that set holds its thread."""
    from concurrent.futures import ThreadPoolExecutor

    me = threading.current_thread()
    args = getattr(me, "_args", ())
    pool = args[0]() if args and isinstance(args[0], weakref.ref) else None
    if isinstance(pool, ThreadPoolExecutor):
        return getattr(pool, "_max_workers", None)
    return None


def task_threads(n_blocks: int) -> int:
    """The thread count for one of an op's ``n_blocks`` block tasks run here and now. In a
    ``distributed`` worker the nanny's ``OMP_NUM_THREADS`` (1 by default) caps it too."""
    total = int(_core._process_num_threads())
    share = max(1, total // max(1, min(concurrency(), n_blocks)))
    if _distributed_worker() is not None:
        cap = os.environ.get("OMP_NUM_THREADS", "")
        if cap.isdigit() and int(cap) > 0:
            share = min(share, int(cap))
    return share


def run_with_share(n_blocks: int, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` with this thread's convcore thread count set to its share."""
    previous = _core._set_thread_num_threads(task_threads(n_blocks))
    try:
        return fn(*args)
    finally:
        _core._set_thread_num_threads(previous)
