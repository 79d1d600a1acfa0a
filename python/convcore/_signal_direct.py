"""The general path of convolve / correlate: NumPy's own arithmetic in any dtype and rank.

It serves what the compiled kernels do not: ranks above 3, long double (SciPy computes in
it), and integer sums too large for float64 to hold exactly (int64 arithmetic wraps modulo
2**64 like SciPy's integer loops). One multiply-add over the output per kernel tap."""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

_NP_PAD = {"fill": "constant", "wrap": "wrap", "symm": "symmetric"}


def pad_widths(n: Sequence[int], K: Sequence[int], mode: str,
               start: Optional[Sequence[int]] = None) -> List[Tuple[int, int]]:
    """Per-dim (before, after) extension of the input such that the 'valid' convolution of
    the extended input is the ``mode`` output: "full" needs K - 1 on each side; "same" with
    output start s (index into the full output) needs K - 1 - s before and s after."""
    if mode == "valid":
        return [(0, 0)] * len(n)
    if mode == "full":
        return [(k - 1, k - 1) for k in K]
    s = [(k - 1) // 2 for k in K] if start is None else list(start)
    return [(k - 1 - sd, sd) for k, sd in zip(K, s)]


def extend(a: np.ndarray, widths: List[Tuple[int, int]], boundary: str, fill: Any) -> np.ndarray:
    """a extended by ``widths`` as scipy.signal's boundaries do ("wrap" and "symm" repeat as
    often as a wide kernel needs, as NumPy's pad modes of those names)."""
    if not any(lo or hi for lo, hi in widths):
        return a
    if boundary == "fill":
        return np.pad(a, widths, mode="constant", constant_values=fill)
    return np.pad(a, widths, mode=_NP_PAD[boundary])


def valid_convolve(p: np.ndarray, kc: np.ndarray, dt: np.dtype) -> np.ndarray:
    """sum_t kc[t] p[o + K - 1 - t] for every o where all taps lie in p, accumulated in ``dt``
    (p at least as large as kc in every dim)."""
    K = kc.shape
    out_shape = tuple(n - k + 1 for n, k in zip(p.shape, K))
    acc = np.zeros(out_shape, dt)
    p = p.astype(dt, copy=False)
    kr = kc[(slice(None, None, -1),) * kc.ndim].astype(dt, copy=False)
    for j in np.ndindex(*K):
        window = p[tuple(slice(jd, jd + od) for jd, od in zip(j, out_shape))]
        acc += window * kr[j]
    return acc


def convolve(a: np.ndarray, kc: np.ndarray, mode: str, boundary: str, fill: Any,
             dt: np.dtype) -> np.ndarray:
    """The N-d convolution of a with kc in ``dt`` ("same" starts at (K - 1) // 2 of "full",
    scipy.signal.convolve's centring); in "valid" mode a is the larger operand."""
    a = a.astype(dt, copy=False)
    p = extend(a, pad_widths(a.shape, kc.shape, mode), boundary, fill)
    return valid_convolve(p, kc, dt)
