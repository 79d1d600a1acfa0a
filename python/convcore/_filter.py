"""convolve / correlate: single-channel 1-3-D filtering with SciPy's modes and boundaries."""
from __future__ import annotations

from typing import Any

from . import _args
from ._backend import call


def _check(mode: Any, boundary: Any, fillvalue: Any) -> float:
    for name, v in (("mode", mode), ("boundary", boundary)):
        if not isinstance(v, str):
            raise TypeError(f"{name} must be a string, got {v!r}")
    # A number, never a string: float("1") would accept one silently.
    return _args.real(fillvalue, "fillvalue")


def convolve(a: Any, k: Any, mode: str = "full", boundary: str = "fill",
             fillvalue: float = 0) -> Any:
    """True convolution of two 1-3-D arrays, as the N-d ``scipy.signal.convolve``.

    ``mode`` "full" | "same" (centred on ``a``) | "valid"; ``boundary`` "fill" (with
    ``fillvalue``) | "wrap" | "symm", as ``scipy.signal.convolve2d`` but in every dim count.

    1-D and 2-D inputs run a register-blocked sliding-window kernel, threaded over row bands;
    a 2-D kernel that is the outer product of two 1-D kernels (Sobel, Gaussian, box; detected
    to within 8 machine epsilons of ``max|k|``) runs as a vertical and a horizontal 1-D pass,
    ``kh + kw`` instead of ``kh * kw`` multiplications per output. 3-D inputs use the
    general convolution kernel.

    >>> import numpy as np, convcore as cc
    >>> cc.convolve(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]))
    array([0. , 1. , 2.5, 4. , 1.5])
    """
    a, k = _args.arrays(a=a, k=k)
    return call("filter", a, k, mode, boundary, _check(mode, boundary, fillvalue), True)


def correlate(a: Any, k: Any, mode: str = "full", boundary: str = "fill",
              fillvalue: float = 0) -> Any:
    """Cross-correlation of two 1-3-D arrays, as the N-d ``scipy.signal.correlate``
    (``convolve(a, k reversed)``); same modes and boundaries as :func:`convolve`.

    >>> import numpy as np, convcore as cc
    >>> cc.correlate(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]), mode="same")
    array([2. , 3.5, 3. ])
    """
    a, k = _args.arrays(a=a, k=k)
    return call("filter", a, k, mode, boundary, _check(mode, boundary, fillvalue), False)
