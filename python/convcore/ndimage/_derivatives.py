"""Derivative filters: sobel, prewitt, laplace, their Gaussian versions and the generic
gradient magnitude / Laplace drivers, composed as scipy.ndimage composes them."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import _support as S
from ._correlate import correlate, correlate1d
from ._smooth import gaussian_filter


def _edge(input: Any, axis: int, output: Any, mode: Any, cval: float,
          smooth: list) -> np.ndarray:
    """A central difference along ``axis``, then ``smooth`` along every other axis, each pass
    stored in the output dtype (sobel and prewitt)."""
    input = S.as_input(input)
    axis = S.axis_index(axis, input.ndim)
    output = S.get_output(output, input)
    modes = S.normalize_sequence(mode, input.ndim)
    steps = [(axis, lambda src, dst: correlate1d(src, [-1, 0, 1], axis, dst, modes[axis], cval,
                                                 0), ([-1.0, 0.0, 1.0], modes[axis], cval, 0))]
    steps += [(a, lambda src, dst, a=a: correlate1d(src, smooth, a, dst, modes[a], cval, 0),
               (smooth, modes[a], cval, 0))
              for a in range(input.ndim) if a != axis]
    return S.passes(input, output, steps)


def sobel(input: Any, axis: int = -1, output: Any = None, mode: Any = "reflect",
          cval: float = 0.0) -> np.ndarray:
    """Sobel derivative along ``axis``, as ``scipy.ndimage.sobel``: [-1, 0, 1] along the
    axis, [1, 2, 1] along each other axis, as 1-D passes.

    >>> import numpy as np
    >>> from convcore import ndimage
    >>> ndimage.sobel(np.array([[0.0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]]), axis=1)
    array([[0., 4., 4., 0.],
           [0., 4., 4., 0.],
           [0., 4., 4., 0.]])
    """
    return _edge(input, axis, output, mode, cval, [1, 2, 1])


def prewitt(input: Any, axis: int = -1, output: Any = None, mode: Any = "reflect",
            cval: float = 0.0) -> np.ndarray:
    """Prewitt derivative along ``axis``, as ``scipy.ndimage.prewitt``: [-1, 0, 1] along the
    axis, [1, 1, 1] along each other axis, as 1-D passes.

    >>> import numpy as np
    >>> from convcore import ndimage
    >>> ndimage.prewitt(np.array([[0.0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]]), axis=1)
    array([[0., 3., 3., 0.],
           [0., 3., 3., 0.],
           [0., 3., 3., 0.]])
    """
    return _edge(input, axis, output, mode, cval, [1, 1, 1])


def generic_laplace(input: Any, derivative2: Callable[..., Any], output: Any = None,
                    mode: Any = "reflect", cval: float = 0.0, extra_arguments: tuple = (),
                    extra_keywords: Any = None, *, axes: Any = None) -> np.ndarray:
    """Sum over ``axes`` of ``derivative2(input, axis, output, mode, cval, *extra_arguments,
    **extra_keywords)``, as ``scipy.ndimage.generic_laplace`` (the first term written into
    ``output``, the others added in the output dtype).

    >>> import numpy as np
    >>> from convcore import ndimage
    >>> d2 = lambda a, axis, out, mode, cval: ndimage.correlate1d(a, [1, -2, 1], axis, out,
    ...                                                           mode, cval)
    >>> ndimage.generic_laplace(np.array([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]), d2,
    ...                         mode="constant")
    array([[ 0.,  1.,  0.],
           [ 1., -4.,  1.],
           [ 0.,  1.,  0.]])
    """
    if extra_keywords is None:
        extra_keywords = {}
    input = S.as_input(input)
    output = S.get_output(output, input, zeros=True)
    axes = S.check_axes(axes, input.ndim)
    if not axes:
        output[...] = input[...]
        return output
    modes = S.normalize_sequence(mode, len(axes))
    derivative2(input, axes[0], output, modes[0], cval, *extra_arguments, **extra_keywords)
    for i in range(1, len(axes)):
        tmp = derivative2(input, axes[i], output.dtype, modes[i], cval, *extra_arguments,
                          **extra_keywords)
        if not S.combine(output, tmp, 0):
            output += tmp
    return output


def laplace(input: Any, output: Any = None, mode: Any = "reflect", cval: float = 0.0, *,
            axes: Any = None) -> np.ndarray:
    """Laplace filter from second differences [1, -2, 1] along each axis, as
    ``scipy.ndimage.laplace``.

    >>> import numpy as np
    >>> from convcore import ndimage
    >>> ndimage.laplace(np.array([[0, 0, 0], [0, 4, 0], [0, 0, 0]]), mode="constant")
    array([[  0,   4,   0],
           [  4, -16,   4],
           [  0,   4,   0]])
    """
    a = S.as_input(input)
    if axes is None and isinstance(mode, str) and a.ndim >= 1 and a.dtype == np.float32 and \
            _dtype_of(output) == np.float32 and not (isinstance(output, np.ndarray) and
                                                     np.shares_memory(a, output)):
        # float32 into float32 (computed in float32, so the order of the sums is free): every
        # second difference reads the input, so their sum is one N-d correlation with the
        # cross kernel, in every mode: one pass instead of ndim passes and ndim - 1 sums.
        # Not when the output is the input: SciPy's later differences then read the first
        # one's result from it, which the generic path below reproduces
        k = np.zeros((3,) * a.ndim)
        for ax in range(a.ndim):
            for j in (0, 2):
                k[(1,) * ax + (j,) + (1,) * (a.ndim - ax - 1)] = 1.0
        k[(1,) * a.ndim] = -2.0 * a.ndim
        return correlate(a, k, output, mode, cval)

    def d2(a: Any, axis: int, out: Any, m: Any, c: float) -> np.ndarray:
        return correlate1d(a, [1, -2, 1], axis, out, m, c, 0)
    return generic_laplace(input, d2, output, mode, cval, axes=axes)


def _dtype_of(output: Any) -> Any:
    """The dtype ``output`` asks for (None: the input's, here float32), or None if unclear."""
    if output is None:
        return np.dtype(np.float32)
    if isinstance(output, np.ndarray):
        return output.dtype
    try:
        return np.dtype(output)
    except TypeError:
        return None


def gaussian_laplace(input: Any, sigma: Any, output: Any = None, mode: Any = "reflect",
                     cval: float = 0.0, *, axes: Any = None, **kwargs: Any) -> np.ndarray:
    """Laplacian of Gaussian, as ``scipy.ndimage.gaussian_laplace``: per axis a Gaussian
    filter with order 2 along that axis (keywords such as ``truncate`` and ``radius`` go to
    :func:`gaussian_filter`).

    >>> import numpy as np
    >>> from convcore import ndimage
    >>> a = np.zeros((5, 5)); a[2, 2] = 1
    >>> float(ndimage.gaussian_laplace(a, sigma=1)[2, 2].round(6))
    -0.318312
    """
    input = S.as_input(input)

    def d2(a: Any, axis: int, out: Any, m: Any, c: float, sig: Any, **kw: Any) -> np.ndarray:
        order = [0] * a.ndim
        order[axis] = 2
        return gaussian_filter(a, sig, order, out, m, c, **kw)

    axes = S.check_axes(axes, input.ndim)
    sigma = S.normalize_sequence(sigma, len(axes))
    if len(axes) < input.ndim:  # no smoothing along the axes not filtered
        full = [0] * input.ndim
        for s, ax in zip(sigma, axes):
            full[ax] = s
        sigma = full
    return generic_laplace(input, d2, output, mode, cval, extra_arguments=(sigma,),
                           extra_keywords=kwargs, axes=axes)


def generic_gradient_magnitude(input: Any, derivative: Callable[..., Any], output: Any = None,
                               mode: Any = "reflect", cval: float = 0.0,
                               extra_arguments: tuple = (), extra_keywords: Any = None, *,
                               axes: Any = None) -> np.ndarray:
    """sqrt of the sum over ``axes`` of ``derivative(input, axis, ...)**2``, as
    ``scipy.ndimage.generic_gradient_magnitude`` (squares and sums in the output dtype).

    >>> import numpy as np
    >>> from convcore import ndimage
    >>> a = np.array([[0.0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]])
    >>> ndimage.generic_gradient_magnitude(a, ndimage.sobel)
    array([[0., 4., 4., 0.],
           [0., 4., 4., 0.],
           [0., 4., 4., 0.]])
    """
    if extra_keywords is None:
        extra_keywords = {}
    input = S.as_input(input)
    output = S.get_output(output, input, zeros=True)
    axes = S.check_axes(axes, input.ndim)
    if not axes:
        output[...] = input[...]
        return output
    modes = S.normalize_sequence(mode, len(axes))
    derivative(input, axes[0], output, modes[0], cval, *extra_arguments, **extra_keywords)
    # SciPy squares output here; the compiled steps square it together with the next
    # derivative (one sweep instead of three NumPy passes), which only an in-place call
    # (output is input: the next derivative reads the squares) could see
    deferred = S.combine_ok(output) and not np.shares_memory(input, output)
    if not deferred:
        np.multiply(output, output, output)
    rooted = False
    for i in range(1, len(axes)):
        tmp = derivative(input, axes[i], output.dtype, modes[i], cval, *extra_arguments,
                         **extra_keywords)
        last = i == len(axes) - 1
        if S.combine(output, tmp, 1 if deferred else 2, root=last):
            rooted = last
        else:
            if deferred:
                np.multiply(output, output, output)
            np.multiply(tmp, tmp, tmp)
            output += tmp
        deferred = False
    if not rooted and not S.combine(output, None, 3 if deferred else 4, root=True):
        # unsafe casting: integer outputs take the square root as SciPy does
        np.sqrt(output, output, casting="unsafe")
    return output


def gaussian_gradient_magnitude(input: Any, sigma: Any, output: Any = None,
                                mode: Any = "reflect", cval: float = 0.0, *, axes: Any = None,
                                **kwargs: Any) -> np.ndarray:
    """Gradient magnitude from Gaussian first derivatives, as
    ``scipy.ndimage.gaussian_gradient_magnitude``.

    >>> import numpy as np
    >>> from convcore import ndimage
    >>> a = np.zeros((5, 5)); a[:, 3:] = 1
    >>> ndimage.gaussian_gradient_magnitude(a, sigma=1)[2].round(4)
    array([0.0133, 0.1218, 0.3638, 0.3632, 0.108 ])
    """
    input = S.as_input(input)

    def d1(a: Any, axis: int, out: Any, m: Any, c: float, sig: Any, **kw: Any) -> np.ndarray:
        order = [0] * a.ndim
        order[axis] = 1
        return gaussian_filter(a, sig, order, out, m, c, **kw)

    return generic_gradient_magnitude(input, d1, output, mode, cval, extra_arguments=(sigma,),
                                      extra_keywords=kwargs, axes=axes)
