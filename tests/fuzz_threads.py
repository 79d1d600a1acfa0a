"""The thread-count half of the differential fuzzing (tests/test_fuzz.py, ``test_fuzz_threads``):
a valid call drawn by tests/fuzz_strategies.py runs with the worker's thread count and again
with ``"threads": n`` threads (1, 3, 5, 7: splits of the work that 2 threads never make), and
the results must be the same bit for bit: every work split of convcore's kernels owns whole
outputs and reduces them in the same order, whatever the number of threads. Run by the
crash-isolating worker of tests/fuzz_ops.py.
"""
from __future__ import annotations

from fuzz_ops import bit_difference

THREADS = (1, 3, 5, 7)


def check_threads(desc, fn, args, kwargs):
    """None when n threads give the default count's result bit for bit, else a message."""
    import convcore as cc

    try:
        expected = fn(*args, **kwargs)
    except Exception:
        return None  # not a call the op takes (tests/test_fuzz.py covers that side)
    before = cc.get_num_threads()
    n = desc["threads"]
    cc.set_num_threads(n)
    try:
        got = fn(*args, **kwargs)
    except BaseException as e:  # noqa: BLE001
        return f"{n} threads: raised {type(e).__name__}: {str(e)[:300]}"
    finally:
        cc.set_num_threads(before)
    return bit_difference(got, expected, f"{n} threads against {before}")
