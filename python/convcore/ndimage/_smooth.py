"""uniform_filter(1d) and gaussian_filter(1d): separable smoothing as 1-D passes."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from . import _support as S
from ._correlate import correlate1d


def uniform_filter1d(input: Any, size: int, axis: int = -1, output: Any = None,
                     mode: str = "reflect", cval: float = 0.0, origin: int = 0) -> np.ndarray:
    """Mean over ``size`` neighbours along ``axis``, as ``scipy.ndimage.uniform_filter1d``
    (bit for bit: SciPy's running sum along each line, in double, divided by ``size``; float32
    into float32: ``size`` FMAs of weight 1/size in float32, within a few float32 epsilons).

    >>> from convcore import ndimage
    >>> ndimage.uniform_filter1d([2, 8, 0, 4, 1, 9, 9, 0], size=3)
    array([4, 3, 4, 1, 4, 6, 6, 3])
    """
    input = S.as_input(input)
    axis = S.axis_index(axis, input.ndim)
    size = S.operator.index(size)
    if size < 1:
        raise RuntimeError("incorrect filter size")
    cplx = input.dtype.kind == "c"
    output = S.get_output(output, input, complex_output=cplx)
    origin = S.operator.index(origin)
    if size // 2 + origin < 0 or size // 2 + origin >= size:
        raise ValueError("invalid origin")
    mode = S.check_mode(mode)
    if not cplx:
        return S.uniform1d_into(input, size, axis, output, mode, S.real_cval(cval), origin)
    S.uniform1d_into(input.real, size, axis, output.real, mode, float(np.real(cval)), origin)
    S.uniform1d_into(input.imag, size, axis, output.imag, mode, float(np.imag(cval)), origin)
    return output


def uniform_filter(input: Any, size: Any = 3, output: Any = None, mode: Any = "reflect",
                   cval: float = 0.0, origin: Any = 0, *, axes: Any = None) -> np.ndarray:
    """N-d mean filter, as ``scipy.ndimage.uniform_filter``: one :func:`uniform_filter1d`
    pass per axis (``size``, ``mode`` and ``origin`` a value or one per axis), each pass
    stored in the output dtype as SciPy stores it.

    >>> import numpy as np
    >>> from convcore import ndimage
    >>> ndimage.uniform_filter(np.arange(16.0).reshape(4, 4), size=3)
    array([[ 1.66666667,  2.33333333,  3.33333333,  4.        ],
           [ 4.33333333,  5.        ,  6.        ,  6.66666667],
           [ 8.33333333,  9.        , 10.        , 10.66666667],
           [11.        , 11.66666667, 12.66666667, 13.33333333]])
    """
    input = S.as_input(input)
    output = S.get_output(output, input, complex_output=input.dtype.kind == "c")
    axes = S.check_axes(axes, input.ndim)
    n = len(axes)
    sizes = S.normalize_sequence(size, n)
    origins = S.normalize_sequence(origin, n)
    modes = S.normalize_sequence(mode, n)
    steps = [
        (axes[i], lambda src, dst, a=axes[i], sz=int(sizes[i]), o=origins[i], m=modes[i]:
         uniform_filter1d(src, sz, a, dst, m, cval, o),
         # the float32 path's weights (ops/ndimage.hpp: uniform_filter1d)
         (np.full(int(sizes[i]), 1.0 / int(sizes[i])), modes[i], cval, origins[i]))
        for i in range(n) if sizes[i] > 1]
    return S.passes(input, output, steps)


def _gaussian_kernel1d(sigma: Any, order: int, radius: int) -> np.ndarray:
    """The sampled, normalised Gaussian on [-radius, radius], or its ``order``-th derivative:
    p(x) * phi(x) with the polynomial p from applying d/dx - x / sigma**2 ``order`` times to 1.
    Built with the same NumPy operations as SciPy so the weights (and so the results) agree
    to the bit."""
    if order < 0:
        raise ValueError("order must be non-negative")
    powers = np.arange(order + 1)
    var = sigma * sigma
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / var * x ** 2)
    phi = phi / phi.sum()
    if order == 0:
        return phi
    # coefficients of p in the monomials x**k; the operator as a matrix on them
    coef = np.zeros(order + 1)
    coef[0] = 1
    step = np.diag(powers[1:], 1) + np.diag(np.ones(order) / -var, -1)
    for _ in range(order):
        coef = step.dot(coef)
    return (x[:, None] ** powers).dot(coef) * phi


def gaussian_filter1d(input: Any, sigma: float, axis: int = -1, order: int = 0,
                      output: Any = None, mode: str = "reflect", cval: float = 0.0,
                      truncate: float = 4.0, *, radius: Any = None) -> np.ndarray:
    """1-D Gaussian filter (or its ``order``-th derivative) along ``axis``, as
    ``scipy.ndimage.gaussian_filter1d``: the kernel has ``radius`` (default
    ``int(truncate * sigma + 0.5)``) taps each side and runs as one :func:`correlate1d` pass.

    >>> import numpy as np
    >>> from convcore import ndimage
    >>> ndimage.gaussian_filter1d([1.0, 2.0, 3.0, 4.0, 5.0], 1)
    array([1.42704095, 2.06782203, 3.        , 3.93217797, 4.57295905])
    """
    return correlate1d(input, _gaussian_weights(sigma, order, truncate, radius), axis, output,
                       mode, cval, 0)


def _gaussian_weights(sigma: Any, order: int, truncate: float, radius: Any) -> np.ndarray:
    """gaussian_filter1d's correlation weights, arguments checked as SciPy checks them."""
    sd = float(sigma)
    lw = int(truncate * sd + 0.5)
    if radius is not None:
        lw = radius
    if not isinstance(lw, numbers.Integral) or lw < 0:
        raise ValueError("Radius must be a nonnegative integer.")
    return _gaussian_kernel1d(sigma, order, lw)[::-1]


def gaussian_filter(input: Any, sigma: Any, order: Any = 0, output: Any = None,
                    mode: Any = "reflect", cval: float = 0.0, truncate: float = 4.0, *,
                    radius: Any = None, axes: Any = None) -> np.ndarray:
    """N-d Gaussian filter, as ``scipy.ndimage.gaussian_filter``: one 1-D pass per axis
    (``sigma``, ``order``, ``mode``, ``radius`` a value or one per axis; axes with sigma
    below 1e-15 skipped), never a dense N-d kernel. Each pass is stored in the output dtype
    as SciPy stores it, so integer images round (truncate) after every pass as in SciPy.

    >>> import numpy as np
    >>> from convcore import ndimage
    >>> a = np.arange(50, step=2).reshape((5, 5))
    >>> ndimage.gaussian_filter(a, sigma=1)
    array([[ 4,  6,  8,  9, 11],
           [10, 12, 14, 15, 17],
           [20, 22, 24, 25, 27],
           [29, 31, 33, 34, 36],
           [35, 37, 39, 40, 42]])
    """
    input = S.as_input(input)
    output = S.get_output(output, input)
    axes = S.check_axes(axes, input.ndim)
    n = len(axes)
    orders = S.normalize_sequence(order, n)
    sigmas = S.normalize_sequence(sigma, n)
    modes = S.normalize_sequence(mode, n)
    radii = S.normalize_sequence(radius, n)
    steps = [
        (axes[i], lambda src, dst, a=axes[i], s=sigmas[i], o=orders[i], m=modes[i], r=radii[i]:
         gaussian_filter1d(src, s, a, o, dst, m, cval, truncate, radius=r),
         (_gaussian_weights(sigmas[i], orders[i], truncate, radii[i]), modes[i], cval, 0))
        for i in range(n) if sigmas[i] > 1e-15]
    return S.passes(input, output, steps)
