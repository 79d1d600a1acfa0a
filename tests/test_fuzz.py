"""Differential fuzzing of every public op against the NumPy oracle (tests/reference.py).

Hypothesis (tests/fuzz_strategies.py) draws calls of every op in ``convcore.__all__`` that
computes on arrays, plus the arithmetic helpers and ``convcore.kernels``: shapes (empty and
1-sized axes, kernels larger than the input, long 1-D signals), every keyword inside and outside
its range (2**31 ... 2**64, negatives, floats, strings, None), dtypes (float32/64, big-endian,
ints, bool, complex) and layouts (channels_last, Fortran order, negative strides, broadcast
views, pickled arrays, np.frombuffer). Valid calls must match the oracle; invalid ones must
raise ValueError or TypeError naming the offending argument (MemoryError accepted for huge
outputs); no call may modify its inputs, crash or hang.

``test_fuzz_dask`` runs the valid calls of every op that takes a Dask x a second time with x
as a Dask array in random irregular chunks (tests/fuzz_dask.py): the lazy result must equal the
in-memory one; ``test_fuzz_plan`` runs them through the op's plan, which must give the plain
call's values bit for bit (tests/fuzz_plan.py); ``test_fuzz_threads`` runs them on 1, 3, 5 or 7
threads, which must give the worker's 2-thread result bit for bit (tests/fuzz_threads.py);
``test_fuzz_ndimage`` draws calls of SciPy's filters for convcore.ndimage and scipy.ndimage
alike (tests/fuzz_ndimage.py), and ``test_fuzz_ndimage_dask`` runs them again on the image as a
chunked Dask array against the in-memory result; ``CONVCORE_FUZZ_EXAMPLES // 8`` calls per op
each.

Each call runs in a persistent worker process (tests/fuzz_ops.py), so a segfault or an abort
is a failing example, not a dead test run, and a call taking more than 20 s is a hang. A test
does not stop at its first failure: it runs its whole budget and then fails listing every
distinct failure (op and message, digits ignored), each with the shortest call that showed it as
a JSON line.

Budget: ``CONVCORE_FUZZ_EXAMPLES`` = examples per op (default 200: the whole module in about a
minute on 2 cores, derandomized so CI is deterministic). Set it for a long run, which also
draws a fresh random seed per run (set ``CONVCORE_FUZZ_SEED`` to repeat one)::

    CONVCORE_FUZZ_EXAMPLES=5000 PYTHONPATH=python pytest tests/test_fuzz.py -k fuzz_op

Under the sanitizers (``tools/sanitize-build``; .ci/sanitize runs this module), the workers
run the sanitized extension and, instead of their 6 GiB address-space cap
(``CONVCORE_FUZZ_MEMORY``; ASan reserves terabytes of shadow), ASan's options bound the
allocations (``fuzz_ops.ASAN_WORKER_OPTIONS``), so a huge one is a MemoryError, not a crash;
a sanitizer report kills the worker, a failing example like any crash::

    build/asan/run python -m pytest --capture=sys tests/test_fuzz.py

Regressions: every failure found is kept in tests/data/fuzz_regressions.jsonl (one JSON call
description a line, with a ``note``) and replayed by ``test_fuzz_regression`` on every run. To
add one, paste the JSON line printed by the failing fuzz test into that file (add a ``"note"``
key); ``python tests/fuzz_ops.py --replay 'JSON'`` runs a line in-process with its traceback.
"""
import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from fuzz_dask import DASK_OPS
from fuzz_ndimage import FUNCTIONS as NDIMAGE_FUNCTIONS
from fuzz_ndimage import calls as ndimage_calls
from fuzz_ops import Worker, dumps
from fuzz_plan import PLAN_OPS
from fuzz_strategies import STRATEGIES
from fuzz_threads import THREADS

DEFAULT_EXAMPLES = 200
EXAMPLES = int(os.environ.get("CONVCORE_FUZZ_EXAMPLES", str(DEFAULT_EXAMPLES)))
# the Dask, plan and thread-count variants: valid calls only, each run twice
VARIANT_EXAMPLES = max(1, EXAMPLES // 8)
LONG = EXAMPLES > DEFAULT_EXAMPLES  # a long run draws a fresh seed; CI's runs are derandomized
REGRESSIONS = Path(__file__).parent / "data" / "fuzz_regressions.jsonl"


@pytest.fixture(scope="module")
def worker():
    w = Worker(timeout=float(os.environ.get("CONVCORE_FUZZ_TIMEOUT", "20")))
    w.warm()
    yield w
    w.close()


def _signature(op, msg):
    return op, re.sub(r"\d+", "N", re.sub(r"\(.*?\)|'.*?'|got .*", "", msg))[:120]


def _fuzz(strategy, worker, examples):
    """Run `examples` drawn descriptions; fail listing every distinct failure (op and message,
    digits ignored), each with the shortest description that showed it."""
    failures = {}
    kw = dict(max_examples=examples, deadline=None, database=None, derandomize=not LONG,
              suppress_health_check=list(HealthCheck))

    def run(d):
        msg = worker.run(d)
        if msg:
            line = dumps(d)
            key = _signature(d["op"], msg)
            if key not in failures or len(line) < len(failures[key][1]):
                failures[key] = (msg, line)

    body = given(strategy)(run)
    if LONG and "CONVCORE_FUZZ_SEED" in os.environ:
        body = seed(int(os.environ["CONVCORE_FUZZ_SEED"]))(body)
    settings(**kw)(body)()
    if failures:
        out = [f"{len(failures)} distinct failure(s); paste a line into "
               f"{REGRESSIONS.relative_to(Path.cwd()) if REGRESSIONS.is_relative_to(Path.cwd()) else REGRESSIONS} to keep it:"]
        for msg, line in failures.values():
            out.append(f"- {msg}\n  {line}")
        pytest.fail("\n".join(out), pytrace=False)


@pytest.mark.parametrize("op", sorted(STRATEGIES))
def test_fuzz_op(op, worker):
    _fuzz(STRATEGIES[op], worker, EXAMPLES)


def _valid(op):
    """The op's drawn calls that must succeed, without out= (the variants add their own)."""
    return STRATEGIES[op].filter(lambda d: d.get("expect") == "ok" and
                                 "out" not in d.get("kwargs", {}))


@pytest.mark.parametrize("op", [op for op in DASK_OPS if op in STRATEGIES])
def test_fuzz_dask(op, worker):
    pytest.importorskip("dask.array")
    _fuzz(st.builds(lambda d, s: dict(d, dask=s), _valid(op), st.integers(0, 2**32 - 1)),
          worker, VARIANT_EXAMPLES)


@pytest.mark.parametrize("op", [op for op in PLAN_OPS if op in STRATEGIES])
def test_fuzz_plan(op, worker):
    _fuzz(_valid(op).map(lambda d: dict(d, plan=1)), worker, VARIANT_EXAMPLES)


# (the ops that compute on arrays: those that take a Dask x)
@pytest.mark.parametrize("op", sorted(set(DASK_OPS) & set(STRATEGIES)))
def test_fuzz_threads(op, worker):
    _fuzz(st.builds(lambda d, n: dict(d, threads=n), _valid(op), st.sampled_from(THREADS)),
          worker, VARIANT_EXAMPLES)


@pytest.mark.parametrize("name", NDIMAGE_FUNCTIONS)
def test_fuzz_ndimage(name, worker):
    pytest.importorskip("scipy.ndimage")
    _fuzz(ndimage_calls(name), worker, VARIANT_EXAMPLES)


@pytest.mark.parametrize("name", NDIMAGE_FUNCTIONS)
def test_fuzz_ndimage_dask(name, worker):
    pytest.importorskip("dask.array")
    _fuzz(st.builds(lambda d, s: dict(d, dask=s), ndimage_calls(name), st.integers(0, 2**32 - 1)),
          worker, VARIANT_EXAMPLES)


def _regressions():
    if not REGRESSIONS.exists():
        return []
    out = []
    for i, line in enumerate(REGRESSIONS.read_text().splitlines()):
        if line.strip() and not line.lstrip().startswith("#"):
            d = json.loads(line)
            out.append(pytest.param(d, id=d.get("id", f"line{i + 1}")))
    return out


@pytest.mark.parametrize("desc", _regressions())
def test_fuzz_regression(desc, worker):
    msg = worker.run(desc)
    assert msg is None, f"{desc.get('note', '')}\n{msg}\n{dumps(desc)}"
