"""Shared machinery of the dense shape sweeps (tests/test_sweeps_*.py).

A sweep runs many shapes inside one test function (thousands of pytest items would cost more
than the convs), compares every result with the float64 NumPy oracle (tests/reference.py) and
reports *all* failing shapes at the end, not just the first one, so that a failure pattern
(every width = 7 mod 8, say) is visible at once.

Data are float32 values (also used, exactly, for the float64 runs), drawn from a generator
seeded by the shape, so one oracle result serves both dtypes and every ISA level: the oracle
results are cached per (name, key) for the whole session.
"""
from __future__ import annotations

import zlib

import numpy as np

import convcore as cc
import reference as ref
from conftest import tolerance
from convcore import _args, _core

# Vector lanes per ISA level (core/simd.hpp): vec<float/double, ISA>::width.
LANES = {"scalar": {np.float32: 4, np.float64: 2},
         "avx2": {np.float32: 8, np.float64: 4},
         "avx512": {np.float32: 16, np.float64: 8},
         "neon": {np.float32: 4, np.float64: 2}}

DTYPES = [np.float32, np.float64]


def lanes(isa, dtype):
    return LANES[isa][np.dtype(dtype).type]


def data(key, *shapes, scale=1.0):
    """Deterministic float32-valued float64 arrays of the given shapes, seeded by `key`."""
    seed = zlib.crc32(repr((key, shapes)).encode())
    r = np.random.default_rng(seed)
    return [(scale * r.standard_normal(s)).astype(np.float32).astype(np.float64) for s in shapes]


_ORACLE = {}


def oracle(key, fn):
    """fn() computed once per key for the session (float64 reference results)."""
    if key not in _ORACLE:
        _ORACLE[key] = fn()
    return _ORACLE[key]


def current_isa():
    return _core.simd_info()["level"]


class Sweep:
    """Collects the failures of a sweep; `done()` asserts there were none and lists them."""

    def __init__(self, what):
        self.what = what
        self.fails = []
        self.count = 0
        self.worst = 0.0

    def check(self, label, actual, expected, red, dtype):
        self.count += 1
        actual = np.asarray(actual)
        if actual.shape != expected.shape:
            self.fails.append(f"{label}: shape {actual.shape} != {expected.shape}")
            return False
        if actual.dtype != np.dtype(dtype):
            self.fails.append(f"{label}: dtype {actual.dtype} != {np.dtype(dtype)}")
            return False
        if expected.size == 0:
            return True
        tol = tolerance(dtype, red)
        scale = max(1.0, float(np.max(np.abs(expected))))
        diff = np.abs(actual.astype(np.float64) - expected)
        err = float(np.max(diff)) if np.all(np.isfinite(diff)) else float("inf")
        if not err <= tol * scale:
            bad = np.argwhere(~(diff <= tol * scale))
            where = [tuple(int(v) for v in b) for b in bad[:4]]
            self.fails.append(f"{label}: max abs err {err:.3g} > {tol * scale:.3g}, "
                              f"{len(bad)} bad elements, first at {where}")
            return False
        return True

    def call(self, label, fn, expected, red, dtype):
        try:
            y = fn()
        except Exception as e:  # noqa: BLE001 - a raise on a valid shape is a failure too
            self.count += 1
            self.fails.append(f"{label}: raised {type(e).__name__}: {e}")
            return
        self.check(label, y, expected, red, dtype)

    def done(self):
        assert self.count > 0, "empty sweep"
        if self.fails:
            head = "\n  ".join(self.fails[:30])
            more = f"\n  ... and {len(self.fails) - 30} more" if len(self.fails) > 30 else ""
            raise AssertionError(f"{self.what} [isa={current_isa()}]: {len(self.fails)} of "
                                 f"{self.count} shapes wrong:\n  {head}{more}")


def cast(dtype, *arrays):
    return [None if a is None else np.ascontiguousarray(a, dtype) for a in arrays]


def to_cl(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def from_cl(a):
    return np.moveaxis(a, -1, 1)


def plan(xs, ws, **kw):
    """The kernel algorithm=\"auto\" runs for a conv of these shapes and options."""
    return _core._conv_algorithm(_core.conv_spec(xs, ws, _args.conv_options(len(ws) - 2, **kw)))


def sweep_conv(sw, tag, xs, ws, algo, dtypes=DTYPES, cl=False, bias=True, **kw):
    """One conv spec at every dtype (channels_last with cl) against the oracle."""
    key = (tag, xs, ws, tuple(sorted((k, repr(v)) for k, v in kw.items())))
    x, w, b = data(key, xs, ws, (ws[0],))
    if not bias:
        b = None
    want = oracle(key + (bias,), lambda: ref.conv(x, w, b, **kw))
    red = int(np.prod(ws[1:]))
    for dt in dtypes:
        xd, wd, bd = cast(dt, x, w, b)
        label = f"conv x={xs} w={ws} {kw} algorithm={algo!r} cl={cl} {np.dtype(dt).name}"
        if cl:
            xc = to_cl(xd)
            fn = lambda: np.ascontiguousarray(from_cl(
                cc.conv(xc, wd, bd, algorithm=algo, channels_last=True, **kw)))
        else:
            fn = lambda: cc.conv(xd, wd, bd, algorithm=algo, **kw)
        sw.call(label, fn, want, red, dt)


def sweep_conv_transpose(sw, tag, xs, ws, algo, dtypes=DTYPES, **kw):
    """One conv_transpose spec at every dtype against the oracle."""
    key = (tag, xs, ws, tuple(sorted((k, repr(v)) for k, v in kw.items())))
    groups = kw.get("groups", 1)
    x, w, b = data(key, xs, ws, (ws[1] * groups,))
    want = oracle(key, lambda: ref.conv_transpose(x, w, b, **kw))
    red = ws[0] // groups * int(np.prod(ws[2:]))
    for dt in dtypes:
        xd, wd, bd = cast(dt, x, w, b)
        label = f"conv_transpose x={xs} w={ws} {kw} algorithm={algo!r} {np.dtype(dt).name}"
        sw.call(label, lambda: cc.conv_transpose(xd, wd, bd, algorithm=algo, **kw), want, red,
                dt)
