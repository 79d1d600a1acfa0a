"""Differential fuzzing of every public op: call descriptions, the checker, the crash-isolating
worker. Used by tests/test_fuzz.py; also a script:

    python tests/fuzz_ops.py --worker            # the worker (stdin/stdout protocol)
    python tests/fuzz_ops.py --replay 'JSON'     # run one description in this process, verbosely

A *call description* is a JSON-able dict::

    {"op": "conv", "args": [...], "kwargs": {...}, "expect": "ok" | "error" | "any",
     "names": ["stride", ...]}

Values are plain JSON except these tagged dicts: ``{"__array__": {"s": shape, "dt": dtype,
"seed": n, "lay": layout, "fill": kind}}`` (the array is rebuilt from the seed; layouts: c, f
(Fortran), neg (negative strides), step (every other element), bcast (np.broadcast_to view),
pickle (pickle round trip), buf (np.frombuffer, read-only), list (nested Python lists)),
``{"__tuple__": [...]}``, ``{"__complex__": [re, im]}``, ``{"__scalar__": [dtype, value]}``.

expect "ok": a valid call, whose result must match the NumPy oracle (tests/reference.py).
expect "error": must raise ValueError or TypeError whose message names one of ``names``.
expect "any": either of the two (MemoryError also accepted, for huge outputs).
In every case the inputs must come back unmodified, and nothing may crash or hang.
"""
from __future__ import annotations

import copy
import json
import math
import os
import pickle
import re
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# ------------------------------------------------------------------------------ descriptions


def A(shape, dt="f8", seed=0, lay="c", fill="n"):
    return {"__array__": {"s": list(shape), "dt": dt, "seed": int(seed), "lay": lay, "fill": fill}}


def T(*v):
    return {"__tuple__": list(v)}


def is_arr(v):
    return isinstance(v, dict) and "__array__" in v


def _values(shape, dt, rng, fill):
    dt = np.dtype(dt)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = (max(info.min, -128), min(info.max, 255)) if fill == "i" else (-5, 6)
        return rng.integers(max(lo, info.min), min(hi, info.max) + 1, size=shape).astype(dt)
    a = rng.standard_normal(shape)
    if fill == "x" and a.size:  # special values
        flat = a.reshape(-1)
        idx = rng.integers(0, flat.size, size=max(1, flat.size // 4))
        flat[idx] = rng.choice([np.nan, np.inf, -np.inf, 1e30, -0.0], size=idx.size)
    elif fill == "o":  # offsets for deform: wide range, fractional
        a = a * 3
    if dt.kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dt)


def make_array(spec):
    shape = tuple(spec["s"])
    rng = np.random.default_rng(spec["seed"])
    lay = spec.get("lay", "c")
    dt = spec["dt"]
    a = np.asarray(_values(shape, dt, rng, spec.get("fill", "n")))
    if lay == "c":  # (np.ascontiguousarray would make a 0-d array 1-D)
        return a.copy(order="C")
    if lay == "f":
        return np.asfortranarray(a) if a.ndim else a.copy()
    if lay == "neg":
        return np.flip(a)
    if lay == "step":
        big = np.repeat(a, 2, axis=-1) if a.ndim else a
        return big[..., ::2] if a.ndim else big
    if lay == "bcast":
        if a.ndim == 0:
            return np.broadcast_to(a, ())
        base = a[..., :1] if a.shape[-1] else a
        return np.broadcast_to(base, shape)
    if lay == "pickle":
        return pickle.loads(pickle.dumps(a))
    if lay == "buf":
        return np.frombuffer(a.tobytes(), dtype=a.dtype).reshape(shape)
    if lay == "list":
        return a.tolist()
    raise ValueError(lay)


def build(v):
    if isinstance(v, dict):
        if "__array__" in v:
            return make_array(v["__array__"])
        if "__tuple__" in v:
            return tuple(build(x) for x in v["__tuple__"])
        if "__complex__" in v:
            return complex(*v["__complex__"])
        if "__scalar__" in v:
            return np.dtype(v["__scalar__"][0]).type(v["__scalar__"][1])
        return {k: build(x) for k, x in v.items()}
    if isinstance(v, list):
        return [build(x) for x in v]
    return v


def dumps(desc):
    return json.dumps(desc, sort_keys=True, separators=(",", ":"))


# ------------------------------------------------------------------------------ the checker

def _snap(obj):
    """Deep snapshot of the user's arguments (arrays copied with their layout facts)."""
    if isinstance(obj, np.ndarray):
        return ("nd", obj.copy(), obj.dtype, obj.shape, obj.strides, obj.flags.writeable)
    if isinstance(obj, dict):
        return {k: _snap(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_snap(v) for v in obj)
    return copy.deepcopy(obj)


def _same(a, b):
    if isinstance(a, tuple) and a and a[0] == "nd":
        return (isinstance(b, tuple) and b and b[0] == "nd" and a[2] == b[2] and a[3] == b[3]
                and a[4] == b[4] and a[5] == b[5] and np.array_equal(a[1], b[1], equal_nan=a[2].kind in "fc"))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:
        return False


class Mismatch(AssertionError):
    pass


def close(actual, expected, reduction=1, dtype=None, what="result"):
    """assert_close of tests/conftest.py, NaN- and inf-aware (they must sit at the same places)."""
    from conftest import assert_close

    if isinstance(actual, np.ndarray) and isinstance(expected, np.ndarray) and \
            actual.shape != expected.shape:
        raise Mismatch(f"{what}: shape {actual.shape}, oracle {expected.shape}")
    actual = np.asarray(actual)
    expected = np.asarray(expected, np.float64)
    dtype = dtype or actual.dtype
    if actual.dtype.kind in "fc":
        a64 = actual.astype(np.float64)
        bad = ~np.isfinite(expected) | ~np.isfinite(a64)
        if bad.any():
            if not np.array_equal(a64[bad], expected[bad], equal_nan=True):
                i = np.argwhere(bad & ~((a64 == expected) | (np.isnan(a64) & np.isnan(expected))))
                raise Mismatch(f"{what}: non-finite values differ from the oracle, e.g. at "
                               f"{tuple(i[0]) if len(i) else '?'}")
            actual = np.where(bad, 0, a64)
            expected = np.where(bad, 0, expected)
    try:
        assert_close(actual, expected, reduction, dtype)
    except AssertionError as e:
        raise Mismatch(f"{what}: {e}") from None


def bit_difference(got, expected, what):
    """None when ``got`` has ``expected``'s dtype, shape and bits (NaNs equal), else a message
    naming the first differing element (the variants of tests/fuzz_*.py)."""
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape or got.dtype != expected.dtype:
        return (f"{what}: {got.dtype}{list(got.shape)}, expected "
                f"{expected.dtype}{list(expected.shape)}")
    same = (got == expected) | ((got != got) & (expected != expected))
    if not np.all(same):
        at = tuple(int(i) for i in np.argwhere(~same)[0]) if got.ndim else ()
        return f"{what}: differs at {at}: {got[at]!r} vs {expected[at]!r}"
    return None


def _word(name, msg):
    return re.search(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", msg) is not None


def resolve(op):
    import importlib

    import convcore as cc

    f = cc
    for part in op.split("."):
        if f is cc and not hasattr(cc, part):  # a subpackage import convcore leaves out (ndimage)
            importlib.import_module("convcore." + part)
        f = getattr(f, part)
    return f


def check(desc):
    """Run one description in this process. None when it behaves, else a failure message."""
    import fuzz_oracles

    op = desc["op"]
    args, kwargs = build(desc["args"]), build(desc.get("kwargs", {}))
    fn = resolve(op)
    if "scipy" in desc:  # convcore.ndimage against scipy.ndimage (tests/fuzz_ndimage.py)
        from fuzz_ndimage import check_scipy

        return check_scipy(desc, fn, args, kwargs, _same, _snap, close)
    if "dask" in desc:  # the same call with a chunked Dask x (tests/fuzz_dask.py)
        from fuzz_dask import check_dask

        return check_dask(desc, fn, args, kwargs, _same, _snap, close)
    if "plan" in desc:  # the same call through the op's plan (tests/fuzz_plan.py)
        from fuzz_plan import check_plan

        return check_plan(desc, fn, args, kwargs, _same, _snap)
    if "threads" in desc:  # the same call on another thread count (tests/fuzz_threads.py)
        from fuzz_threads import check_threads

        return check_threads(desc, fn, args, kwargs)
    user = {k: v for k, v in kwargs.items() if k != "out"}
    before = _snap((args, user))
    exc = result = None
    try:
        result = fn(*args, **kwargs)
    except BaseException as e:  # noqa: BLE001 - the point is to see every kind
        exc = e
    finally:
        if op == "set_num_threads":
            fuzz_oracles.restore_threads()
    if not _same(before, _snap((args, user))):
        return "modified its inputs (an argument differs after the call)"
    expect, names = desc.get("expect", "ok"), desc.get("names", [])
    if exc is not None:
        et = type(exc).__name__
        msg = str(exc)
        algo = desc.get("kwargs", {}).get("algorithm")
        if (expect == "ok" and isinstance(exc, ValueError) and isinstance(algo, str)
                and f"algorithm='{algo}'" in msg):
            return None  # a forced algorithm may refuse a spec it cannot run, naming itself
        if expect == "ok":
            return f"valid call raised {et}: {msg[:300]}"
        if isinstance(exc, MemoryError) and expect == "any":
            return None
        if not isinstance(exc, (ValueError, TypeError)):
            return f"raised {et} (want ValueError/TypeError naming {names}): {msg[:300]}"
        if names and not any(_word(n, msg) for n in names):
            return f"{et} does not name {' or '.join(names)}: {msg[:300]}"
        return None
    if expect == "error":
        shape = getattr(result, "shape", None)
        return f"invalid call accepted (want an error naming {' or '.join(names)}); returned " + \
            (f"array of shape {shape}" if shape is not None else repr(result)[:200])
    try:
        fuzz_oracles.ORACLES[op](args, kwargs, result)
    except Mismatch as e:
        return f"wrong result: {e}"
    except AssertionError as e:
        return f"wrong result: {e}"
    except MemoryError:
        return None  # the oracle cannot materialise it (a padding of 2**31): nothing to compare
    except Exception as e:  # the oracle finds the call impossible, but the op returned
        if expect == "any" and "array is too big" in str(e):
            return None  # NumPy's size limit in the oracle, not an invalid call
        if expect == "any":
            return f"accepted a call the oracle finds invalid ({type(e).__name__}: {str(e)[:200]})"
        return f"oracle error (test bug?) {type(e).__name__}: {e}"
    return None


# ------------------------------------------------------------------------------ the worker

def _send(f, obj):
    data = pickle.dumps(obj)
    f.write(struct.pack("<Q", len(data)) + data)
    f.flush()


EOF = "<eof>"


def _recv(f):
    head = f.read(8)
    if len(head) < 8:
        return EOF
    (n,) = struct.unpack("<Q", head)
    return pickle.loads(f.read(n))


ASAN_WORKER_OPTIONS = ":allocator_may_return_null=1:max_allocation_size_mb=6144:soft_rss_limit_mb=8192"


def worker_main():
    import resource
    import warnings

    warnings.simplefilter("ignore")
    # 0: no address-space cap (the Worker's choice under ASan)
    lim = int(os.environ.get("CONVCORE_FUZZ_MEMORY", str(6 << 30)))
    try:
        if lim > 0:
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    except (ValueError, OSError):
        pass
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, not into the protocol
    proto_in = sys.stdin.buffer
    sys.path.insert(0, str(HERE))  # (the parent put its own convcore first on PYTHONPATH)
    import convcore  # noqa: F401 - import before the first call, so startup is not timed
    import fuzz_oracles  # noqa: F401

    while True:
        desc = _recv(proto_in)
        if desc == EOF:
            return
        try:
            res = check(desc)
        except BaseException as e:  # noqa: BLE001
            res = f"checker error {type(e).__name__}: {e}"
        _send(proto_out, res)


class Worker:
    """A persistent worker process; a crash or a hang is a failure, and the next call restarts it."""

    def __init__(self, timeout=20.0):
        self.timeout = timeout
        self.proc = None
        self.err = None

    def _start(self):
        import tempfile

        self.err = tempfile.TemporaryFile()
        env = dict(os.environ)
        # the worker imports the convcore this process imported (an installed wheel, or a
        # checkout's python/ with its built extension), never another copy
        import convcore

        # (absolute, not resolved: the sanitizer build's package is a folder of symlinks into
        # python/convcore beside its own _core, which resolving would leave behind)
        pkg_root = str(Path(os.path.abspath(convcore.__file__)).parent.parent)
        env["PYTHONPATH"] = os.pathsep.join([pkg_root, str(HERE), env.get("PYTHONPATH", "")])
        env.setdefault("OMP_NUM_THREADS", "2")
        if "libasan" in env.get("LD_PRELOAD", ""):
            # ASan reserves terabytes of shadow address space, so the worker gets no
            # address-space cap; ASan bounds the allocations instead, a huge one returning
            # null (a MemoryError) rather than aborting (later options win over the runner's)
            env["CONVCORE_FUZZ_MEMORY"] = "0"
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ASAN_WORKER_OPTIONS
        self.proc = subprocess.Popen([sys.executable, str(HERE / "fuzz_ops.py"), "--worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, env=env)

    def _stderr_tail(self):
        try:
            self.err.seek(0)
            return self.err.read().decode("utf-8", "replace")[-800:]
        except Exception:
            return ""

    def run(self, desc):
        fresh = self.proc is None or self.proc.poll() is not None
        if fresh:
            self._start()
        try:
            _send(self.proc.stdin, desc)
        except (BrokenPipeError, OSError):
            pass
        fd = self.proc.stdout.fileno()
        t0 = time.monotonic()
        limit = self.timeout + (60 if fresh else 0)  # a fresh worker imports convcore first
        while True:
            left = limit - (time.monotonic() - t0)
            ready, _, _ = select.select([fd], [], [], max(left, 0))
            if ready:
                break
            if time.monotonic() - t0 >= limit:
                self.kill()
                return f"hang: no answer after {self.timeout:.0f} s (worker killed)"
        res = _recv(self.proc.stdout)
        if isinstance(res, str) and res == EOF:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
                return "crash: worker closed its output"
            rc = self.proc.returncode
            how = f"signal {-rc}" if rc < 0 else f"exit status {rc}"
            try:
                import signal

                how = signal.Signals(-rc).name if rc < 0 else how
            except Exception:
                pass
            tail = self._stderr_tail().strip().splitlines()[-6:]
            self.proc = None
            return f"crash: worker died ({how}); stderr: {' | '.join(tail)[-500:]}"
        return res

    def warm(self):
        """Start the worker and wait for its imports (so the first timed call is not charged)."""
        if self.proc is None or self.proc.poll() is not None:
            res = self.run({"op": "get_num_threads", "args": [], "kwargs": {}, "expect": "ok"})
            return res

    def kill(self):
        if self.proc is not None:
            try:
                self.proc.kill()
                self.proc.wait(timeout=10)
            except Exception:
                pass
            self.proc = None

    close = kill


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker_main()
    elif sys.argv[1:2] == ["--replay"]:
        sys.path[:0] = [str(HERE), str(HERE.parent / "python")]
        d = json.loads(sys.argv[2])
        print("check:", check(d) or "passes")
        print("calling", d["op"], "directly:")
        print(resolve(d["op"])(*build(d["args"]), **build(d.get("kwargs", {}))))
    else:
        print(__doc__)
