"""Classic image-processing kernels as float64 2-D arrays.

Every kernel is meant for **correlation** (the deep-learning convention of :func:`convcore.conv`
and :func:`convcore.correlate`, and of ``scipy.ndimage.correlate`` / ``cv2.filter2D``): the tap
``k[i, j]`` multiplies the input at offset ``(i - ci, j - cj)`` from the output pixel, where
``(ci, cj) = ((kh - 1) // 2, (kw - 1) // 2)`` is the centre. Axis 0 is rows (y, downwards),
axis 1 is columns (x, rightwards).

Derivative kernels (:func:`sobel`, :func:`scharr`, :func:`prewitt`) follow ``scipy.ndimage``:
``sobel(axis=0)`` differentiates along axis 0 (rows) and smooths along axis 1, with a positive
response where values grow with the row index, so ``correlate(a, sobel(axis))`` equals
``scipy.ndimage.sobel(a, axis)`` away from the border (and ``scharr(axis=1)`` equals OpenCV's
``cv2.Scharr(a, cv2.CV_64F, 1, 0)``, the x derivative). Kernels are unnormalised, as in SciPy
and OpenCV; smoothing kernels (:func:`box`, :func:`blur`, :func:`gaussian`) sum to 1.

>>> import numpy as np, convcore as cc
>>> cc.kernels.sobel(axis=0)
array([[-1., -2., -1.],
       [ 0.,  0.,  0.],
       [ 1.,  2.,  1.]])
>>> ramp = np.tile(np.arange(5.0)[:, None], (1, 5))    # grows by 1 per row
>>> cc.correlate(ramp, cc.kernels.sobel(axis=0), mode="valid")
array([[8., 8., 8.],
       [8., 8., 8.],
       [8., 8., 8.]])
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["identity", "box", "blur", "gaussian", "sharpen", "emboss", "outline", "laplacian",
           "sobel", "scharr", "prewitt"]


# Largest kernel side: a size x size float64 kernel of 2**20 is already 8 TiB, and NumPy's own
# error for larger ones ("array is too big", "Maximum allowed size exceeded") names nothing.
MAX_SIZE = 2 ** 20


def _size(size: object, name: str = "size") -> int:
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {size!r}")
    if size < 1:
        raise ValueError(f"{name} must be >= 1, got {size}")
    if size > MAX_SIZE:
        raise ValueError(f"{name} must be at most {MAX_SIZE} (a {name} x {name} float64 kernel), "
                         f"got {size}")
    return int(size)


def _axis(axis: object) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be 0 or 1 (or -2, -1), got {axis!r}")
    if axis not in (0, 1, -1, -2):
        raise ValueError(f"axis must be 0 (rows) or 1 (columns) (or -2, -1), got {axis}")
    return int(axis) % 2


def _derivative(smooth: list, axis: object) -> np.ndarray:
    d = np.array([-1.0, 0.0, 1.0])
    s = np.asarray(smooth, np.float64)
    return np.outer(d, s) if _axis(axis) == 0 else np.outer(s, d)


def identity(size: int = 3) -> np.ndarray:
    """A ``size x size`` kernel with a single 1 at the centre ``((size - 1) // 2,) * 2``:
    correlation with it returns the input unchanged.

    >>> import convcore as cc
    >>> cc.kernels.identity()
    array([[0., 0., 0.],
           [0., 1., 0.],
           [0., 0., 0.]])
    """
    n = _size(size)
    k = np.zeros((n, n))
    k[(n - 1) // 2, (n - 1) // 2] = 1.0
    return k


def box(size: int = 3) -> np.ndarray:
    """Mean filter: ``size x size`` ones divided by ``size**2`` (``cv2.blur``'s kernel).

    >>> import convcore as cc
    >>> float(cc.kernels.box(5).sum())
    1.0
    """
    n = _size(size)
    return np.full((n, n), 1.0 / (n * n))


def blur() -> np.ndarray:
    """The 3x3 binomial blur ``[1, 2, 1]^T [1, 2, 1] / 16`` (a small Gaussian; sums to 1).

    >>> import convcore as cc
    >>> cc.kernels.blur() * 16
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    b = np.array([1.0, 2.0, 1.0])
    return np.outer(b, b) / 16.0


def gaussian(sigma: float = 1.0, size: "int | None" = None) -> np.ndarray:
    """Normalised 2-D Gaussian ``exp(-(i^2 + j^2) / (2 sigma^2))`` sampled at integer offsets
    from the centre, summing to 1.

    ``size`` defaults to ``2 * round(4 * sigma) + 1``, the window of
    ``scipy.ndimage.gaussian_filter`` (``truncate=4``), so correlating with
    ``gaussian(sigma)`` equals ``gaussian_filter(a, sigma)`` away from the border. An even
    ``size`` centres the kernel half a pixel off, at ``(size - 1) / 2``. The weights are
    computed relative to the centre tap, so a tiny ``sigma`` gives its limit, a delta at the
    centre (split evenly over the 2x2 centre taps for an even ``size``), never NaN. ``size``
    (given or default) is at most ``MAX_SIZE`` (2**20): a larger one is a ValueError naming
    ``size``, or ``sigma`` when it comes from the default.

    >>> import convcore as cc
    >>> k = cc.kernels.gaussian(1.0)
    >>> k.shape, round(float(k.sum()), 12), bool(k[4, 4] == k.max())
    ((9, 9), 1.0, True)
    """
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real):
        raise TypeError(f"sigma must be a positive number, got {sigma!r}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
    sigma = float(sigma)
    if size is None:
        half = 4.0 * sigma + 0.5
        if half > (MAX_SIZE - 1) // 2:
            raise ValueError(f"sigma is too large for the default size 2 * round(4 * sigma) + 1 "
                             f"(at most {MAX_SIZE}), got {sigma!r}; pass a smaller sigma or a "
                             f"size")
        n = 2 * int(half) + 1
    else:
        n = _size(size)
    r = np.arange(n) - (n - 1) / 2.0
    # exp(-(r^2 - r_min^2) / (2 sigma^2)): 1 at the taps nearest the centre, so the sum is >= 1
    # and a sigma too small for exp(-r^2 / (2 sigma^2)) (all zeros, then 0/0) gives the delta.
    # Divided by sigma twice: sigma**2 may underflow to 0 where sigma does not.
    d = r * r - np.min(r * r)
    with np.errstate(over="ignore"):
        g = np.exp(-0.5 * ((d / sigma) / sigma))
    g /= g.sum()
    return np.outer(g, g)


def sharpen() -> np.ndarray:
    """``[[0, -1, 0], [-1, 5, -1], [0, -1, 0]]``: identity minus the 4-neighbour Laplacian.

    >>> import convcore as cc
    >>> float(cc.kernels.sharpen().sum())
    1.0
    """
    return np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]])


def emboss() -> np.ndarray:
    """``[[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]``: relief lit from the top left (sums to 1).

    >>> import convcore as cc
    >>> cc.kernels.emboss()[0]
    array([-2., -1.,  0.])
    """
    return np.array([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])


def outline() -> np.ndarray:
    """``[[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]``: the 8-neighbour edge detector (sums to 0).

    >>> import convcore as cc
    >>> float(cc.kernels.outline().sum())
    0.0
    """
    return np.array([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]])


def laplacian() -> np.ndarray:
    """The 4-neighbour Laplacian ``[[0, 1, 0], [1, -4, 1], [0, 1, 0]]``, as
    ``scipy.ndimage.laplace`` and ``cv2.Laplacian(ksize=1)``.

    >>> import convcore as cc
    >>> cc.kernels.laplacian()[1]
    array([ 1., -4.,  1.])
    """
    return np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def sobel(axis: int = 0) -> np.ndarray:
    """Sobel derivative along ``axis`` (0: rows/y, 1: columns/x): ``[-1, 0, 1]`` along it,
    ``[1, 2, 1]`` across it; ``scipy.ndimage.sobel(a, axis)`` as a correlation kernel.

    >>> import convcore as cc
    >>> cc.kernels.sobel(axis=1)
    array([[-1.,  0.,  1.],
           [-2.,  0.,  2.],
           [-1.,  0.,  1.]])
    """
    return _derivative([1.0, 2.0, 1.0], axis)


def scharr(axis: int = 0) -> np.ndarray:
    """Scharr derivative along ``axis``: ``[-1, 0, 1]`` along it, ``[3, 10, 3]`` across it
    (OpenCV's ``cv2.Scharr``; ``axis=1`` is its ``dx=1``).

    >>> import convcore as cc
    >>> cc.kernels.scharr(axis=0)[2]
    array([ 3., 10.,  3.])
    """
    return _derivative([3.0, 10.0, 3.0], axis)


def prewitt(axis: int = 0) -> np.ndarray:
    """Prewitt derivative along ``axis``: ``[-1, 0, 1]`` along it, ``[1, 1, 1]`` across it
    (``scipy.ndimage.prewitt(a, axis)``).

    >>> import convcore as cc
    >>> cc.kernels.prewitt(axis=1)[0]
    array([-1.,  0.,  1.])
    """
    return _derivative([1.0, 1.0, 1.0], axis)
