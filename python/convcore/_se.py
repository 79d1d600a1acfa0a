"""squeeze_excitation (SENet)."""
from __future__ import annotations

import math
from typing import Any

from . import _args, _core, arithmetic
from ._backend import call


def squeeze_excitation(x: Any, w1: Any, b1: Any = None, w2: Any = None, b2: Any = None, *,
                       channels_last: bool = False) -> Any:
    """Squeeze-and-excitation (Hu et al. 2018): channel attention, in one C++ call.

    ``z = mean(x over space)`` per image and channel; ``s = sigmoid(w2 @ relu(w1 @ z + b1) + b2)``;
    returns ``x * s`` broadcast over space. x is ``(N, C, *spatial)`` with 1-3 spatial dims (or
    ``(N, *spatial, C)`` with ``channels_last=True``); ``w1`` is ``(C/r, C)`` and ``w2``
    ``(C, C/r)`` (a Linear layer's weight) - or the same with trailing 1s, as the weight of the
    equivalent 1x1 conv layer ``(C/r, C, 1, 1)``; ``b1`` ``(C/r,)``, ``b2`` ``(C,)``, either may be
    None. The reduced widths of ``w1`` and ``w2`` must agree (ValueError naming ``w2``).

    >>> import numpy as np, convcore as cc
    >>> x = np.ones((1, 4, 2, 2)); w1 = np.zeros((2, 4)); w2 = np.zeros((4, 2))
    >>> cc.squeeze_excitation(x, w1, None, w2, None)[0, :, 0, 0]     # sigmoid(0) = 0.5
    array([0.5, 0.5, 0.5, 0.5])
    """
    if w2 is None:
        raise TypeError("squeeze_excitation needs w2 (C, C/r)")
    x, w1, b1, w2, b2 = _args.arrays(x=x, w1=w1, b1=b1, w2=w2, b2=b2)
    return call("squeeze_excitation", x, w1, b1, w2, b2, bool(channels_last))


@arithmetic.register("squeeze_excitation")
def _se_cost(x_shape: Any, w1_shape: Any, b1_shape: Any = None, w2_shape: Any = None,
             b2_shape: Any = None, *, channels_last: bool = False) -> arithmetic.Cost:
    """macs: the two FC layers plus the channel scaling (one product per element); the pooling
    sums are counted in details (additions, not multiplications)."""
    xs = arithmetic._shape(x_shape, "x")
    w1 = arithmetic._shape(w1_shape, "w1")
    w2 = arithmetic._shape(w2_shape, "w2")
    b1 = arithmetic._shape(b1_shape, "b1")
    b2 = arithmetic._shape(b2_shape, "b2")
    if w2 is None:
        raise TypeError("squeeze_excitation needs w2 (C, C/r)")
    for b, n in ((b1, "b1"), (b2, "b2")):
        if b is not None and len(b) != 1:
            raise ValueError(f"{n} must be 1-D, got shape {tuple(b)}")
    N, C, S, R = _core.squeeze_excitation_spec(xs, w1, b1[0] if b1 else -1, w2,
                                               b2[0] if b2 else -1, bool(channels_last))
    fc = N * (C * R + R * C)
    scale = N * C * S
    params = C * R * 2 + (R if b1 else 0) + (C if b2 else 0)
    return arithmetic.Cost(int(fc + scale), int(params), tuple(xs),
                           {"fc": int(fc), "scale": int(scale), "pool_adds": int(N * C * S)})
