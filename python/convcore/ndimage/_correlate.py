"""correlate1d, convolve1d, correlate, convolve: scipy.ndimage's linear filters."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

from . import _support as S


def _complex_parts(func: Callable[..., Any], input: np.ndarray, weights: np.ndarray,
                   output: np.ndarray, cval: Any, **kw: Any) -> np.ndarray:
    """A complex filter as real filters of the real and imaginary parts (SciPy's way, so the
    results match it)."""
    ci, cw = input.dtype.kind == "c", weights.dtype.kind == "c"
    if ci and cw:
        func(input.real, weights.real, output=output.real, cval=np.real(cval), **kw)
        output.real -= func(input.imag, weights.imag, output=None, cval=np.imag(cval), **kw)
        func(input.real, weights.imag, output=output.imag, cval=np.real(cval), **kw)
        output.imag += func(input.imag, weights.real, output=None, cval=np.imag(cval), **kw)
    elif ci:
        func(input.real, weights, output=output.real, cval=np.real(cval), **kw)
        func(input.imag, weights, output=output.imag, cval=np.imag(cval), **kw)
    else:
        if np.iscomplexobj(cval):
            raise ValueError("Cannot provide a complex-valued cval when the input is real.")
        func(input, weights.real, output=output.real, cval=cval, **kw)
        func(input, weights.imag, output=output.imag, cval=cval, **kw)
    return output


def correlate1d(input: Any, weights: Any, axis: int = -1, output: Any = None,
                mode: str = "reflect", cval: float = 0.0, origin: int = 0) -> np.ndarray:
    """1-D correlation along ``axis``, as ``scipy.ndimage.correlate1d`` (same arguments, same
    results bit for bit for every dtype SciPy takes; float32 into float32 is computed in
    float32 with FMA, within a few float32 epsilons: see ``convcore.ndimage``).

    ``output[i] = sum_j weights[j] * input[i + j - len(weights) // 2 - origin]`` along the
    axis, the input extended beyond its edges by ``mode`` ("reflect" (default), "constant"
    with ``cval``, "nearest", "mirror", "wrap" and the grid-* aliases). Computed in double in
    SciPy's order and cast to the output dtype as SciPy casts (integer outputs truncate and
    wrap around).

    >>> import numpy as np
    >>> from convcore import ndimage
    >>> ndimage.correlate1d([2, 8, 0, 4, 1, 9, 9, 0], weights=[1, 3])
    array([ 8, 26,  8, 12,  7, 28, 36,  9])
    """
    input = S.as_input(input)
    weights = np.asarray(weights)
    if input.dtype.kind == "c" or weights.dtype.kind == "c":
        if weights.dtype.kind == "c":
            weights = weights.conj().astype(np.complex128, copy=False)
        output = S.get_output(output, input, complex_output=True)
        return _complex_parts(correlate1d, input, weights, output, cval, axis=axis, mode=mode,
                              origin=origin)
    output = S.get_output(output, input)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    if weights.ndim != 1 or weights.shape[0] < 1:
        raise RuntimeError("no filter weights given")
    axis = S.axis_index(axis, input.ndim)
    origin = S.operator.index(origin)
    if S.invalid_origin(origin, len(weights)):
        raise ValueError("Invalid origin; origin must satisfy -(len(weights) // 2) <= origin "
                         "<= (len(weights)-1) // 2")
    return S.correlate1d_into(input, weights, axis, output, S.check_mode(mode),
                              S.real_cval(cval), origin)


def convolve1d(input: Any, weights: Any, axis: int = -1, output: Any = None,
               mode: str = "reflect", cval: float = 0.0, origin: int = 0) -> np.ndarray:
    """1-D convolution along ``axis``, as ``scipy.ndimage.convolve1d``: :func:`correlate1d`
    with the weights reversed and the origin mirrored.

    >>> from convcore import ndimage
    >>> ndimage.convolve1d([2, 8, 0, 4, 1, 9, 9, 0], weights=[1, 3])
    array([14, 24,  4, 13, 12, 36, 27,  0])
    """
    weights = np.asarray(weights)[::-1]
    origin = -origin
    if not weights.shape[0] & 1:
        origin -= 1
    if weights.dtype.kind == "c":
        weights = weights.conj()  # correlate1d conjugates again
    return correlate1d(input, weights, axis, output, mode, cval, origin)


def _correlate_or_convolve(input: Any, weights: Any, output: Any, mode: Any, cval: Any,
                           origin: Any, convolution: bool, axes: Any) -> np.ndarray:
    input = S.as_input(input)
    weights = np.asarray(weights)
    if input.dtype.kind == "c" or weights.dtype.kind == "c":
        if weights.dtype.kind == "c" and not convolution:
            weights = weights.conj()
        output = S.get_output(output, input, complex_output=True)
        return _complex_parts(_correlate_or_convolve, input, weights, output, cval, mode=mode,
                              origin=origin, convolution=convolution, axes=axes)
    axes = S.check_axes(axes, input.ndim)
    weights = np.asarray(weights, dtype=np.float64)
    if len(axes) < input.ndim:  # unit weights along the axes not filtered
        if weights.ndim != len(axes):
            raise RuntimeError(f"weights.ndim ({weights.ndim}) must match len(axes) "
                               f"({len(axes)})")
        weights = np.expand_dims(weights, tuple(a for a in range(input.ndim) if a not in axes))
    origins = S.normalize_sequence(origin, len(axes))
    if len(axes) < input.ndim:
        full = [0] * input.ndim
        for o, ax in zip(origins, axes):
            full[ax] = o
        origins = full
    wshape = [n for n in weights.shape if n > 0]
    if len(wshape) != input.ndim:
        raise RuntimeError(f"weights.ndim ({len(wshape)}) must match len(axes) ({len(axes)})")
    origins = [S.operator.index(o) for o in origins]
    if convolution:
        weights = weights[(slice(None, None, -1),) * weights.ndim]
        origins = [-o - (0 if n & 1 else 1) for o, n in zip(origins, weights.shape)]
    for o, n in zip(origins, wshape):
        if S.invalid_origin(o, n):
            raise ValueError("Invalid origin; origin must satisfy -(weights.shape[k] // 2) <= "
                             "origin[k] <= (weights.shape[k]-1) // 2")
    weights = np.ascontiguousarray(weights)
    output = S.get_output(output, input)
    if not isinstance(mode, str) and isinstance(mode, Iterable):
        raise RuntimeError("A sequence of modes is not supported")
    mode = S.check_mode(mode)
    if input.ndim == 0:  # a single product, as SciPy computes it
        out0 = np.empty((1,), dtype=output.dtype)
        S.correlate_into(input.reshape(1), weights.reshape(1), out0, mode, S.real_cval(cval), [0])
        output[...] = out0[0]
        return output
    return S.correlate_into(input, weights, output, mode, S.real_cval(cval), origins)


def correlate(input: Any, weights: Any, output: Any = None, mode: str = "reflect",
              cval: float = 0.0, origin: Any = 0, *, axes: Any = None) -> np.ndarray:
    """N-d correlation, as ``scipy.ndimage.correlate`` (same arguments and results, bit for
    bit but float32 into float32, within a few float32 epsilons: see ``convcore.ndimage``): ``output[i] = sum_j weights[j] * input[i + j - shape(weights) // 2 - origin]``,
    weights of magnitude at most 2**-52 left out as SciPy does, in double, cast to the output
    dtype as SciPy casts. ``origin`` a number or one per axis; ``axes`` the axes ``weights``
    spans (the others get a unit weight).

    >>> import numpy as np
    >>> from convcore import ndimage
    >>> a = np.array([[2, 4, 6, 8, 10], [12, 14, 16, 18, 20], [22, 24, 26, 28, 30]])
    >>> ndimage.correlate(a, np.array([[-1, 0], [0, 1]]), mode="nearest")
    array([[ 0,  2,  2,  2,  2],
           [10, 12, 12, 12, 12],
           [10, 12, 12, 12, 12]])
    """
    return _correlate_or_convolve(input, weights, output, mode, cval, origin, False, axes)


def convolve(input: Any, weights: Any, output: Any = None, mode: str = "reflect",
             cval: float = 0.0, origin: Any = 0, *, axes: Any = None) -> np.ndarray:
    """N-d convolution, as ``scipy.ndimage.convolve``: :func:`correlate` with the weights
    reversed along every axis and the origins mirrored.

    >>> import numpy as np
    >>> from convcore import ndimage
    >>> a = np.array([[1, 2, 0, 0], [5, 3, 0, 4], [0, 0, 0, 7], [9, 3, 0, 0]])
    >>> k = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0]])
    >>> ndimage.convolve(a, k, mode="constant", cval=0.0)
    array([[11, 10,  7,  4],
           [10,  3, 11, 11],
           [15, 12, 14,  7],
           [12,  3,  7,  0]])
    """
    return _correlate_or_convolve(input, weights, output, mode, cval, origin, True, axes)
