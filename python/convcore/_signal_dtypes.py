"""The dtype contract of convolve / correlate / convolve2d / correlate2d (scipy.signal's).

The result dtype is ``np.result_type(in1, in2)``, as SciPy's direct method gives it. Integer
results are SciPy's: the sum of products in the result's integer type, wrapping around on
overflow. Wrapping is arithmetic modulo 2**bits, and 2**bits divides 2**64, so the exact sum
taken modulo 2**64 (int64 arithmetic) and cast down gives the same bits; this module decides
when the float64 kernels compute that sum exactly."""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

# Every partial sum of integer products below this magnitude is an exact float64 integer.
EXACT = 2.0 ** 53

# Kinds the real kernels serve (through float32/float64), and those only NumPy's own
# arithmetic serves at the precision SciPy computes in (long double, complex long double).
_EXTENDED = {np.dtype(np.longdouble), np.dtype(np.clongdouble)} - {np.dtype(np.float64),
                                                                   np.dtype(np.complex128)}


def check_numeric(a: np.ndarray, name: str) -> None:
    """Booleans, integers, floats and complex numbers; anything else a TypeError."""
    if a.dtype.kind not in "biufc":
        raise TypeError(f"{name} must be an array of numbers (bool, integer, float or complex), "
                        f"got dtype {a.dtype}; SciPy's N-d convolution refuses it too (cast "
                        "object arrays to a numeric dtype first)")


def result_dtype(a: np.ndarray, k: np.ndarray) -> np.dtype:
    """SciPy's result dtype: the NumPy promotion of the two inputs (int8 with uint8 is int16,
    int64 with uint64 is float64, int32 with float32 is float64, ...)."""
    return np.result_type(a.dtype, k.dtype)


def is_extended(dt: np.dtype) -> bool:
    """long double / complex long double where they are wider than float64 / complex128."""
    return dt in _EXTENDED


def real_dtype(dt: np.dtype) -> np.dtype:
    """The real kernel's dtype for a float or complex result: float32 for float16, float32 and
    complex64 (SciPy computes those in single precision too), float64 otherwise."""
    if dt in (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.complex64)):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def as_int64(a: np.ndarray) -> np.ndarray:
    """Integer or bool values as int64 residues modulo 2**64 (uint64 reinterpreted: the same
    residue), for arithmetic that wraps as the result type's would."""
    if a.dtype == np.uint64:
        return a.view(np.int64)
    return a.astype(np.int64, copy=False)


def wrap_int64(v: int) -> int:
    """A Python int as the int64 with the same residue modulo 2**64."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


def magnitude(a: np.ndarray) -> int:
    """max |a| of an int64 array, exactly (a Python int: |INT64_MIN| does not fit int64)."""
    if a.size == 0:
        return 0
    return max(-int(a.min()), int(a.max()))


def abs_sum(a: np.ndarray) -> float:
    """sum |a| of an int64 array: exact (a Python int) while it is below 2**52, else an upper
    bound (the float64 sum widened by its rounding), which is then too large to matter."""
    s = float(np.abs(a.astype(np.float64)).sum())
    if s < 2.0 ** 52:  # no term reaches 2**52 and the int64 sum cannot overflow
        return int(np.abs(a).sum())
    return s * (1.0 + 4.0 * a.size * np.finfo(np.float64).eps)


def int_bound(a: np.ndarray, k: np.ndarray, fill: int) -> Tuple[float, int, int]:
    """(B, max|a|, max|k|): B = max(max|a|, |fill|) * sum|k| bounds every partial sum of an
    integer convolution of a (extended by any boundary, or by fill) with k: each output uses
    each tap of k once, on a value of a or the fill."""
    ma = max(magnitude(a), abs(fill))
    return ma * abs_sum(k), ma, magnitude(k)


def fill_value(v: Any, dt: np.dtype, scipy2d: bool) -> Any:
    """``fillvalue`` as a scalar of the result dtype ``dt``.

    convolve2d / correlate2d (``scipy2d``) follow SciPy: anything ``np.array(v, dt)`` takes
    (a scalar or a one-element array; 1.7 becomes 1 for an integer result), else a ValueError;
    strings are refused (TypeError). convolve / correlate keep convcore's stricter rule: a
    real number, or a complex one when the result is complex."""
    if isinstance(v, (str, bytes)) or (isinstance(v, np.ndarray) and v.dtype.kind in "USO"):
        raise TypeError(f"fillvalue must be a real number (or a complex one for complex input), "
                        f"got {v!r}")
    if not scipy2d:
        from ._args import real

        if dt.kind == "c" and isinstance(v, (complex, np.complexfloating)):
            return dt.type(v)
        if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind == "c" and dt.kind == "c":
            return dt.type(v[()])
        real(v, "fillvalue", "a real number (or a complex one for complex input)")
        if isinstance(v, np.ndarray):
            v = v[()]  # an int stays an int: 2**60 must not round through float
    try:
        f = np.array(v, dtype=dt)
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"could not cast `fillvalue` directly to the output type {dt} "
                         f"({v!r}: {e})") from None
    if f.size == 0:
        raise ValueError("`fillvalue` cannot be an empty array.")
    if f.size != 1:
        raise ValueError(f"`fillvalue` must be scalar or an array with one element, got {f.size}")
    return f.reshape(())[()]
