"""convolve / correlate / convolve2d / correlate2d: scipy.signal's single-array filters.

Every dtype SciPy takes, with SciPy's result dtype (:mod:`._signal_dtypes`), any rank; the
compiled kernels (float32 / float64, 1-3 dims) run wherever they give SciPy's values, and
NumPy's own arithmetic (:mod:`._signal_direct`) elsewhere."""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from . import _args
from . import _signal_direct as direct
from . import _signal_dtypes as dtypes
from ._backend import call

_MODES = ("full", "same", "valid")
_METHODS = ("auto", "direct", "fft")
# SciPy's boundary names and aliases -> the C++ op's three
_BOUNDARIES = {"fill": "fill", "pad": "fill", "wrap": "wrap", "circular": "wrap",
               "symm": "symm", "symmetric": "symm"}
# Separable passes round their factors (to 8 eps of max|k|): an integer result is recovered by
# rounding when the float64 error bound 64 (K + 8) K eps max|a| max|k| stays below 1/4.
_SEPARABLE_EXACT = 2.0 ** 45


def _mode(mode: Any) -> str:
    if not (isinstance(mode, str) and mode in _MODES):
        raise ValueError("mode must be 'full', 'same' or 'valid' (scipy.signal's acceptable mode "
                         f"flags), got {mode!r}")
    return mode


def _boundary(boundary: Any) -> str:
    b = _BOUNDARIES.get(boundary) if isinstance(boundary, str) else None
    if b is None:
        raise ValueError("boundary must be 'fill' (or 'pad'), 'wrap' (or 'circular') or 'symm' "
                         f"(or 'symmetric'), got {boundary!r}")
    return b


def _method(method: Any) -> None:
    if not (isinstance(method, str) and method in _METHODS):
        raise ValueError(f"method must be 'auto', 'direct' or 'fft', got {method!r}")


def _reverse_conj(k: np.ndarray) -> np.ndarray:
    r = k[(slice(None, None, -1),) * k.ndim]
    return np.conj(r) if r.dtype.kind == "c" else r


def _valid_swap(mode: str, s1: Tuple[int, ...], s2: Tuple[int, ...]) -> bool:
    """SciPy's rule: in "valid" mode the second input may be the larger one in every dim (the
    inputs swap); neither being at least as large as the other is an error."""
    if mode != "valid" or not s1:
        return False
    ok1 = all(x >= y for x, y in zip(s1, s2))
    ok2 = all(y >= x for x, y in zip(s1, s2))
    if not (ok1 or ok2):
        raise ValueError("For 'valid' mode, one must be at least as large as the other in every "
                         f"dimension, got shapes {s1} and {s2}")
    return not ok1


# ----------------------------------------------------------------------------- routes

def _int_route(a64: np.ndarray, k64: np.ndarray, mode: str, boundary: str, fill: int) -> str:
    """How an integer convolution runs: on the float64 kernels when every float64 sum they
    form is provably an exact integer (checked on these values), else in int64 NumPy."""
    if a64.ndim > 3:
        return "int64-numpy"
    uses_fill = boundary == "fill" and mode != "valid"
    bound, ma, mk = dtypes.int_bound(a64, k64, fill if uses_fill else 0)
    if bound >= dtypes.EXACT:
        return "int64-numpy"
    plan = _core_plan(a64, k64, mode, boundary, float(fill))
    if plan in ("direct2d", "direct3d"):
        return "float64-exact"  # products and partial sums are integers below 2**53
    if plan == "separable" and ma * mk * k64.size * (k64.size + 8) < _SEPARABLE_EXACT:
        return "float64-rounded"
    return "int64-numpy"


def _core_plan(a: np.ndarray, kc: np.ndarray, mode: str, boundary: str, fill: float) -> str:
    from . import _core

    kf = np.ascontiguousarray(kc, dtype=np.float64)
    return _core._filter_plan(np.empty(a.shape, np.float64), kf, mode, boundary, fill, True)


def _route(a: np.ndarray, kc: np.ndarray, mode: str, boundary: str, fill: Any,
           rt: np.dtype) -> str:
    if rt.kind in "biu":
        return _int_route(dtypes.as_int64(a), dtypes.as_int64(kc), mode, boundary,
                          dtypes.wrap_int64(int(fill)))
    if dtypes.is_extended(rt) or a.ndim > 3:
        return f"{rt}-numpy"
    if rt.kind == "c":
        return f"{rt}-as-{dtypes.real_dtype(rt)}-pairs"
    return f"{dtypes.real_dtype(rt)}-kernel"


# ----------------------------------------------------------------------------- compute

def _real(a: np.ndarray, kc: np.ndarray, mode: str, boundary: str, fill: float) -> np.ndarray:
    """Convolution of two same-dtype float32/float64 arrays on the compiled kernels (1-3 dims),
    in NumPy beyond."""
    if a.ndim > 3:
        return direct.convolve(a, kc, mode, boundary, fill, a.dtype)
    return call("filter", a, kc, mode, boundary, fill, True)


def _complex(a: np.ndarray, kc: np.ndarray, mode: str, boundary: str, fill: Any,
             rt: np.dtype) -> np.ndarray:
    """(ar + i ai) * (kr + i ki) as real convolutions: ar*kr - ai*ki and ar*ki + ai*kr, the
    fill split the same way; a part that is all zero (a real operand) is skipped."""
    r = dtypes.real_dtype(rt)
    fr, fi = float(np.real(fill)), float(np.imag(fill))
    uses_fill = boundary == "fill" and mode != "valid"

    def parts(x: np.ndarray, f_imag: float) -> Tuple[np.ndarray, Any]:
        if x.dtype.kind == "c":
            return np.ascontiguousarray(x.real, r), np.ascontiguousarray(x.imag, r)
        xr = x.astype(r, copy=False)
        return xr, (np.zeros_like(xr) if f_imag != 0.0 else None)

    ar, ai = parts(a, fi if uses_fill else 0.0)
    kr, ki = parts(kc, 0.0)
    yr = _real(ar, kr, mode, boundary, fr)
    yi = _real(ar, ki, mode, boundary, fr) if ki is not None else np.zeros_like(yr)
    if ai is not None:
        if ki is not None:
            yr -= _real(ai, ki, mode, boundary, fi)
        yi += _real(ai, kr, mode, boundary, fi)
    y = np.empty(yr.shape, rt)
    y.real = yr
    y.imag = yi
    return y


def _integer(a: np.ndarray, kc: np.ndarray, mode: str, boundary: str, fill: Any,
             rt: np.dtype, route: str) -> np.ndarray:
    a64, k64 = dtypes.as_int64(a), dtypes.as_int64(kc)
    f = dtypes.wrap_int64(int(fill))
    if route == "int64-numpy":
        y64 = direct.convolve(a64, k64, mode, boundary, f, np.dtype(np.int64))
    else:
        y = _real(a64.astype(np.float64), k64.astype(np.float64), mode, boundary, float(f))
        if route == "float64-rounded":
            np.rint(y, out=y)
        y64 = y.astype(np.int64)
    if rt.kind == "b":
        return y64 != 0
    if rt == np.uint64:
        return y64.view(np.uint64)
    return y64.astype(rt)  # truncation: the residue modulo 2**bits, as SciPy's wrap-around


def _convolve(a: np.ndarray, kc: np.ndarray, mode: str, boundary: str, fill: Any,
              rt: np.dtype) -> np.ndarray:
    """The N-d convolution of a with kc in SciPy's result dtype rt ("valid": a the larger)."""
    route = _route(a, kc, mode, boundary, fill, rt)
    if rt.kind in "biu":
        return _integer(a, kc, mode, boundary, fill, rt, route)
    if route.endswith("-numpy"):
        return direct.convolve(a, kc, mode, boundary, fill, rt)
    if rt.kind == "c":
        return _complex(a, kc, mode, boundary, fill, rt)
    r = dtypes.real_dtype(rt)
    y = _real(a.astype(r, copy=False), kc.astype(r, copy=False), mode, boundary, float(fill))
    return y.astype(rt, copy=False)


# ----------------------------------------------------------------------------- front end

def _prepare(a: Any, k: Any, names: Tuple[str, str], mode: Any, boundary: Any
             ) -> Tuple[np.ndarray, np.ndarray, str, str]:
    a, k = _args.arrays(**{names[0]: a, names[1]: k})
    mode, boundary = _mode(mode), _boundary(boundary)
    if not _args.is_cupy(a):
        dtypes.check_numeric(a, names[0])
        dtypes.check_numeric(k, names[1])
    return a, k, mode, boundary


def _empty(a: np.ndarray, k: np.ndarray, names: Tuple[str, str], mode: str,
           rt: np.dtype) -> np.ndarray:
    """SciPy's one consistent empty case: "same" with an empty first input is an empty result
    of its shape; every other empty input is an error."""
    if mode == "same" and a.size == 0 and k.size != 0:
        return np.empty(a.shape, rt)
    name, x = (names[0], a) if a.size == 0 else (names[1], k)
    raise ValueError(f"{name} must not be empty, got shape {x.shape} (mode={mode!r})")


def _nd(a: Any, k: Any, mode: Any, method: Any, boundary: Any, fillvalue: Any,
        correlate: bool) -> Any:
    if isinstance(method, str) and method in _BOUNDARIES:
        # convcore's earlier order (a, k, mode, boundary, fillvalue): a boundary named where
        # SciPy's method goes, and then possibly the fill value where boundary goes
        if not isinstance(boundary, str):
            boundary, fillvalue = method, boundary
        else:
            boundary = method
        method = "auto"
    _method(method)
    names = ("a", "k")
    a, k, mode, boundary = _prepare(a, k, names, mode, boundary)
    if _args.is_cupy(a):
        return call("filter", a, k, mode, boundary, _args.real(fillvalue, "fillvalue"),
                    not correlate)
    if a.ndim == 0 and k.ndim == 0 and not _args.is_dask(a):
        dtypes.fill_value(fillvalue, dtypes.result_dtype(a, k), False)
        return a * (np.conj(k) if correlate and k.dtype.kind == "c" else k)
    if a.ndim != k.ndim:
        raise ValueError(f"k must have as many dimensions as a ({a.ndim}), got {k.ndim}: "
                         "a and k should have the same dimensionality")
    if _args.is_dask(a):
        return _dask(a, k, names, mode, boundary, fillvalue, correlate)
    rt = dtypes.result_dtype(a, k)
    fill = dtypes.fill_value(fillvalue, rt, False)
    if a.size == 0 or k.size == 0:
        return _empty(a, k, names, mode, rt)
    kc = _reverse_conj(k) if correlate else k
    if _valid_swap(mode, a.shape, k.shape):
        a, kc = kc, a  # convolution commutes; "valid" reads nothing outside either
    return _convolve(a, kc, mode, boundary, fill, rt)


def _two_d(in1: Any, in2: Any, mode: Any, boundary: Any, fillvalue: Any,
           correlate: bool) -> Any:
    name = "correlate2d" if correlate else "convolve2d"
    names = ("in1", "in2")
    a, k, mode, boundary = _prepare(in1, in2, names, mode, boundary)
    if not a.ndim == k.ndim == 2:
        raise ValueError(f"{name} inputs must both be 2-D arrays, got {a.ndim}-D and {k.ndim}-D")
    if _args.is_cupy(a):
        even = any(n % 2 == 0 for n in k.shape)
        if correlate and mode == "same" and even:
            raise TypeError("correlate2d(mode='same') with an even-sized in2 runs on NumPy "
                            "arrays only (cupy.asnumpy)")
        return call("filter", a, k, mode, boundary, _args.real(fillvalue, "fillvalue"),
                    not correlate)
    if _args.is_dask(a):
        if correlate and mode == "same" and any(n % 2 == 0 for n in k.shape):
            raise TypeError("correlate2d(mode='same') with an even-sized in2 runs on NumPy "
                            "arrays only: pass in1 computed, or use cc.correlate (centred at "
                            "(in2.shape - 1) // 2) on the Dask array")
        return _dask(a, k, names, mode, boundary, fillvalue, correlate, scipy2d=True)
    rt = dtypes.result_dtype(a, k)
    fill = dtypes.fill_value(fillvalue, rt, True)
    if a.size == 0 or k.size == 0:
        return _empty(a, k, names, mode, rt)
    swapped = _valid_swap(mode, a.shape, k.shape)
    if swapped:
        a, k = k, a
    if not correlate:
        return _convolve(a, k, mode, boundary, fill, rt)
    kc = _reverse_conj(k)
    if mode == "same" and any(n % 2 == 0 for n in k.shape):
        # correlate2d centres "same" at K // 2 of the full output (the N-d functions at
        # (K - 1) // 2): extend in1 explicitly for that window, then take the valid part
        widths = direct.pad_widths(a.shape, k.shape, "same", [n // 2 for n in k.shape])
        a = direct.extend(a.astype(rt, copy=False), widths, boundary, fill)
        mode = "valid"
    y = _convolve(a, kc, mode, boundary, fill, rt)
    return np.ascontiguousarray(y[::-1, ::-1]) if swapped else y


def _dask(a: Any, k: np.ndarray, names: Tuple[str, str], mode: str, boundary: str,
          fillvalue: Any, correlate: bool, scipy2d: bool = False) -> Any:
    """A Dask ``a``: the lazy result of the in-memory call, dtype rules included. ``a`` is cast
    (lazily) to the result dtype first, so that each block's window, padded with the fill
    value cast as the in-memory call casts it, runs the in-memory op in that dtype. Ranks
    1-3 (the core's filter geometry); the callers have checked that the ranks match."""
    rt = dtypes.result_dtype(a, k)
    fill = dtypes.fill_value(fillvalue, rt, scipy2d)
    if a.size == 0 or k.size == 0:
        # SciPy's empty cases, as in memory: _empty raises for all but "same" with an empty
        # a, whose result is a itself in the result dtype (lazy, nothing to compute)
        _empty(a, k, names, mode, rt)
        return a.astype(rt)
    if not 1 <= a.ndim <= 3:
        raise ValueError(f"a Dask a must have 1 to 3 dimensions, got {a.ndim}")
    a = a.astype(rt, copy=False)
    if _valid_swap(mode, a.shape, k.shape):
        # k is the larger input: every output reads all of a, one task of the in-memory call
        fn = _PUBLIC[scipy2d, correlate]
        shape = tuple(m - n + 1 for m, n in zip(k.shape, a.shape))
        return a.rechunk(-1).map_blocks(fn, k, "valid", chunks=tuple((m,) for m in shape),
                                        dtype=rt, meta=a._meta)
    return call("filter", a, k, mode, boundary, fill, not correlate)


def block_filter(window: Any, k: Any, convolve: bool) -> Any:
    """The in-memory "valid" convolution (or correlation) of one Dask block's gathered window,
    with this module's dtype rules (the Dask backend's per-block call)."""
    return _nd(window, k, "valid", "auto", "fill", 0, not convolve)


def convolve(a: Any, k: Any, mode: str = "full", method: str = "auto", boundary: str = "fill",
             fillvalue: Any = 0) -> Any:
    """N-dimensional convolution, as ``scipy.signal.convolve(a, k, mode, method)``.

    ``mode`` "full" | "same" (centred on ``a``) | "valid" (in "valid" mode either input may be
    the larger one in every dimension, as in SciPy; neither is a ValueError). ``method``
    "auto" | "direct" | "fft" is accepted for SciPy's signature and checked, not used: the
    result is always that of SciPy's direct method (no FFT round-off on integers).

    convcore's extension: ``boundary`` "fill" (with ``fillvalue``) | "wrap" | "symm" extends
    ``a`` as ``scipy.signal.convolve2d`` does, in every rank (SciPy's aliases "pad",
    "circular", "symmetric" too). The earlier order ``convolve(a, k, mode, boundary)`` still
    works: a boundary name where ``method`` stands is read as ``boundary``.

    Dtypes, as SciPy: the result dtype is ``np.result_type(a, k)``.
    - Integers (and bool): exact, wrapping around on overflow as SciPy's integer loops do
      (uint8 250 + 10 is 4). They run on the float64 kernels when every sum those form is
      provably an exact integer (``max|a| * sum|k| < 2**53``, checked on the values) and in
      int64 NumPy arithmetic otherwise. A bool result is True where a product is.
    - float32 and float64 run on the compiled kernels (float16 on the float32 ones, rounded
      to float16); long double in NumPy, at its precision.
    - complex64 / complex128 as 2 to 4 real convolutions on the float32 / float64 kernels.
    - 0-d inputs give ``a * k``; other ranks must match. 1-3 dims run on the compiled kernels,
      4 and more in NumPy. Object and string arrays are a TypeError.

    1-D and 2-D float inputs run a register-blocked sliding-window kernel, threaded over row
    bands; a 2-D kernel that is the outer product of two 1-D kernels (Sobel, Gaussian, box;
    detected to within 8 machine epsilons of ``max|k|``) runs as a vertical and a horizontal
    1-D pass, ``kh + kw`` instead of ``kh * kw`` multiplications per output.

    >>> import numpy as np, convcore as cc
    >>> cc.convolve(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]))
    array([0. , 1. , 2.5, 4. , 1.5])
    >>> cc.convolve(np.array([200, 100], np.uint8), np.array([1, 1], np.uint8))
    array([200,  44, 100], dtype=uint8)
    >>> cc.convolve(np.array([1 + 1j, 2 + 1j, 3 + 1j]), np.array([1 + 1j, 2 + 1j]))
    array([0.+2.j, 2.+6.j, 5.+8.j, 5.+5.j])
    """
    return _nd(a, k, mode, method, boundary, fillvalue, False)


def correlate(a: Any, k: Any, mode: str = "full", method: str = "auto", boundary: str = "fill",
              fillvalue: Any = 0) -> Any:
    """N-dimensional cross-correlation, as ``scipy.signal.correlate(a, k, mode, method)``:
    ``convolve(a, k reversed and conjugated)``, with :func:`convolve`'s modes, boundaries and
    dtype rules (for complex ``k`` the conjugate is taken, as SciPy; 0-d inputs give
    ``a * conj(k)``).

    >>> import numpy as np, convcore as cc
    >>> cc.correlate(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]), mode="same")
    array([2. , 3.5, 3. ])
    >>> cc.correlate(np.array([1, 2, 3]), np.array([4, 5]), mode="same")
    array([ 5, 14, 23])
    >>> cc.correlate(np.array([1j]), np.array([2j]))
    array([2.+0.j])
    """
    return _nd(a, k, mode, method, boundary, fillvalue, True)


def convolve2d(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill",
               fillvalue: Any = 0) -> Any:
    """2-D convolution, as ``scipy.signal.convolve2d`` (same signature, dtypes and errors).

    ``mode`` and the "valid" swap as :func:`convolve`; ``boundary`` "fill" (or "pad") |
    "wrap" (or "circular") | "symm" (or "symmetric"). ``fillvalue`` is cast to the result
    dtype as SciPy does (a one-element array will do; 1.7 fills an integer result with 1; a
    value the result dtype cannot hold, such as a complex one for a real result, is a
    ValueError). Both inputs must be 2-D (ValueError). Dtypes as :func:`convolve`.

    >>> import numpy as np, convcore as cc
    >>> cc.convolve2d(np.array([[1, 2], [3, 4]]), np.array([[1, 1]]), boundary="wrap")
    array([[3, 3, 3],
           [7, 7, 7]])
    """
    return _two_d(in1, in2, mode, boundary, fillvalue, False)


def correlate2d(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill",
                fillvalue: Any = 0) -> Any:
    """2-D cross-correlation, as ``scipy.signal.correlate2d`` (same signature and dtypes).

    SciPy's two differences from the N-d :func:`correlate` are kept: "same" is centred at
    ``in2.shape // 2`` of the full output (the N-d functions at ``(in2.shape - 1) // 2``: the
    two differ by one sample along an even-sized axis), and when "valid" swaps the inputs
    the output is reversed but not conjugated.

    >>> import numpy as np, convcore as cc
    >>> a = np.arange(12.0).reshape(3, 4)
    >>> cc.correlate2d(a, np.ones((2, 2)), mode="same")
    array([[10., 14., 18., 10.],
           [26., 30., 34., 18.],
           [17., 19., 21., 11.]])
    """
    return _two_d(in1, in2, mode, boundary, fillvalue, True)


# (2-D names, correlate) -> the public function, for a Dask call that runs one in-memory call
_PUBLIC = {(False, False): convolve, (False, True): correlate,
           (True, False): convolve2d, (True, True): correlate2d}
