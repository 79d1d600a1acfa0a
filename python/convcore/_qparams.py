"""INT8 helpers around quantized_conv2d, NumPy in and out: quantize, dequantize, choose_qparams.

All arithmetic is float64; rounding is half to even (np.rint), as ONNX QuantizeLinear and
quantized_conv2d's requantisation round. A Dask array in gives a lazy Dask array out
(quantize, dequantize: the same elementwise float64 arithmetic per block), and choose_qparams
reduces a Dask x to its min and max without gathering it."""
from __future__ import annotations

import numbers
from typing import Any, Optional, Tuple

import numpy as np

from . import _args

_RANGES = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}


def _qdtype(dtype: Any) -> np.dtype:
    return _args.dtype_choice(dtype, "dtype", (np.uint8, np.int8))


def _axis(axis: Any, ndim: int) -> Optional[int]:
    if axis is None:
        return None
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an int or None, got {axis!r}")
    a = int(axis)
    if not -ndim <= a < ndim:
        raise ValueError(f"axis {a} is out of range for an array of {ndim} dimensions")
    return a % ndim


def _real_array(x: Any, name: str) -> Any:
    """x as an array (a Dask array stays one, uncomputed), of a real dtype."""
    a = x if _args.is_dask(x) else np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real-valued array, got dtype {a.dtype}")
    return a


def _params(scale: Any, zero_point: Any, ndim: int, axis: Optional[int], size: int,
            lo: Optional[int], hi: Optional[int]) -> Tuple[np.ndarray, np.ndarray]:
    """scale and zero_point as float64 / int64 arrays broadcastable against the data: scalars,
    or (with axis) 1-D arrays of the axis' length reshaped along it."""
    s = _real_array(scale, "scale").astype(np.float64)
    z = np.asarray(zero_point)
    if z.dtype.kind not in "iu" and not (z.dtype.kind == "O" and all(
            isinstance(t, numbers.Integral) and not isinstance(t, (bool, np.bool_))
            for t in z.ravel())):
        raise TypeError(f"zero_point must be an integer or an integer array, got dtype {z.dtype}")
    for name, v in (("scale", s), ("zero_point", z)):
        if axis is None and v.ndim != 0 and v.size != 1:
            raise ValueError(f"{name} must be a scalar without axis (per tensor), got shape "
                             f"{v.shape}; pass axis= for per-channel values")
        if axis is not None and v.ndim > 1:
            raise ValueError(f"{name} must be a scalar or 1-D (one value per index of axis "
                             f"{axis}), got shape {v.shape}")
        if axis is not None and v.size not in (1, size):
            raise ValueError(f"{name} must hold 1 or {size} values (the length of axis {axis}),"
                             f" got {v.size}")
    if not (np.all(np.isfinite(s)) and np.all(s > 0)):
        raise ValueError(f"scale must be positive and finite, got {scale!r}")
    zi = np.array([int(t) for t in z.ravel()], dtype=object)
    if lo is not None and any(not lo <= int(t) <= hi for t in zi):
        raise ValueError(f"zero_point must lie in [{lo}, {hi}] (the range of the dtype), got "
                         f"{zero_point!r}")
    zi = zi.astype(np.int64) if all(-2**62 < int(t) < 2**62 for t in zi) else None
    if zi is None:
        raise ValueError(f"zero_point is out of range, got {zero_point!r}")
    shape = [1] * ndim
    if axis is not None:
        shape[axis] = -1
        s = s.reshape(-1).reshape(shape) if s.size > 1 else s.reshape(())
        zi = zi.reshape(shape) if zi.size > 1 else zi.reshape(())
    else:
        s, zi = s.reshape(()), zi.reshape(())
    return s, zi


def _refuse_nan(v: np.ndarray) -> np.ndarray:
    if np.isnan(v).any():
        raise ValueError("x contains NaN, which has no quantized value")
    return v


def quantize(x: Any, scale: Any, zero_point: Any, dtype: Any = np.uint8, *,
             axis: Optional[int] = None) -> np.ndarray:
    """Quantize real values to 8 bits (ONNX ``QuantizeLinear``):
    ``q = saturate(round_half_to_even(x / scale) + zero_point)``, in float64, saturated to the
    range of ``dtype`` (uint8 or int8; +-inf saturate, NaN is a ValueError: for a Dask ``x``
    a lazy result, which raises it when a block holding NaN is computed).

    ``scale`` (positive) and ``zero_point`` (in the dtype's range) are scalars, or with ``axis``
    one value per index along that axis (per channel; weights: ``axis=0``). Returns a new
    array of ``dtype``; ``x`` is not modified.

    >>> import numpy as np, convcore as cc
    >>> cc.quantize(np.array([-1.0, 0.0, 0.25, 0.75, 100.0]), 0.5, 128)   # 0.5, 1.5: to even
    array([126, 128, 128, 130, 255], dtype=uint8)
    >>> cc.quantize(np.array([[1.0, -1.0], [1.0, -1.0]]), [0.1, 0.5], 0, np.int8, axis=0)
    array([[ 10, -10],
           [  2,  -2]], dtype=int8)
    """
    dt = _qdtype(dtype)
    a = _real_array(x, "x")
    ax = _axis(axis, a.ndim)
    lo, hi = _RANGES[dt]
    s, z = _params(scale, zero_point, a.ndim, ax, a.shape[ax] if ax is not None else 1, lo, hi)
    v = a.astype(np.float64)
    if _args.is_dask(v):
        v = v.map_blocks(_refuse_nan, dtype=np.float64)
    else:
        _refuse_nan(v)
    with np.errstate(over="ignore"):
        q = np.rint(v / s) + z
    return np.clip(q, lo, hi).astype(dt)


def dequantize(q: Any, scale: Any, zero_point: Any, *, axis: Optional[int] = None,
               dtype: Any = np.float32) -> np.ndarray:
    """Real values of 8-bit ``q`` (ONNX ``DequantizeLinear``): ``(q - zero_point) * scale``,
    computed in float64 and returned as ``dtype`` (float32 by default, as ONNX; float64 is
    exact). ``scale`` and ``zero_point`` as in :func:`quantize`; ``q`` is any integer array.

    >>> import numpy as np, convcore as cc
    >>> cc.dequantize(np.array([126, 128, 130, 255], np.uint8), 0.5, 128)
    array([-1. ,  0. ,  1. , 63.5], dtype=float32)
    """
    a = q if _args.is_dask(q) else np.asarray(q)
    if a.dtype.kind not in "iu":
        raise TypeError(f"q must be an integer array, got dtype {a.dtype}")
    out = _args.dtype_choice(dtype, "dtype", (np.float32, np.float64))
    ax = _axis(axis, a.ndim)
    s, z = _params(scale, zero_point, a.ndim, ax, a.shape[ax] if ax is not None else 1, None,
                   None)
    return ((a.astype(np.float64) - z) * s).astype(out)


def choose_qparams(x: Any, dtype: Any = np.uint8, axis: Optional[int] = None,
                   symmetric: bool = False) -> Tuple[Any, Any]:
    """Scale and zero point for quantizing ``x`` to ``dtype`` (uint8 or int8), from its min and
    max, per tensor or (``axis``) per index along an axis: ``(scale, zero_point)``, a float and
    an int, or with ``axis`` a float64 and an int64 array of that axis' length.

    Asymmetric (default; activations): the range [min(x, 0), max(x, 0)] (0 exactly
    representable) maps onto the dtype's full range, ``scale = (max - min) / 255`` and
    ``zero_point = round_half_to_even(qmin - min / scale)``, clamped to the dtype's range.
    Symmetric (weights): ``scale = max|x| / 127`` and zero point 0 (int8; values in
    [-127, 127]) or 128 (uint8). A range of zero gives scale 1.0. float64 throughout; x must be
    finite and non-empty. A Dask ``x`` is reduced to its min and max (and finiteness) in one
    ``dask.compute``, never gathered.

    >>> import numpy as np, convcore as cc
    >>> x = np.array([-1.0, 0.0, 2.0, 3.1])
    >>> s, z = cc.choose_qparams(x)
    >>> round(s, 6), z
    (0.016078, 62)
    >>> cc.quantize(x, s, z)
    array([  0,  62, 186, 255], dtype=uint8)
    >>> w = np.array([[0.5, -0.25], [2.0, 1.0]])
    >>> s, z = cc.choose_qparams(w, np.int8, axis=0, symmetric=True)
    >>> s * 127, z
    (array([0.5, 2. ]), array([0, 0]))
    """
    dt = _qdtype(dtype)
    a = _real_array(x, "x").astype(np.float64)
    if a.size == 0:
        raise ValueError("x is empty: no range to choose a scale from")
    ax = _axis(axis, a.ndim)
    if not isinstance(symmetric, (bool, np.bool_)):
        raise TypeError(f"symmetric must be a bool, got {symmetric!r}")
    red = None if ax is None else tuple(i for i in range(a.ndim) if i != ax)
    lo_hi_ok = (a.min(axis=red), a.max(axis=red), np.isfinite(a).all())
    if _args.is_dask(a):
        import dask

        lo_hi_ok = dask.compute(*lo_hi_ok)
    if not lo_hi_ok[2]:
        raise ValueError("x must be finite (NaN or inf has no range)")
    mn = np.minimum(lo_hi_ok[0], 0.0)
    mx = np.maximum(lo_hi_ok[1], 0.0)
    qmin, qmax = _RANGES[dt]
    if symmetric:
        amax = np.maximum(-mn, mx)
        scale = amax / 127.0
        scale = np.where(scale > 0, scale, 1.0)
        zp = np.full(np.shape(scale), 0 if dt == np.dtype(np.int8) else 128, np.int64)
    else:
        scale = (mx - mn) / float(qmax - qmin)
        scale = np.where(scale > 0, scale, 1.0)
        zp = np.clip(np.rint(qmin - mn / scale), qmin, qmax).astype(np.int64)
    if ax is None:
        return float(scale), int(zp)
    return np.asarray(scale, np.float64), np.asarray(zp, np.int64)
