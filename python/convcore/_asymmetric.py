"""asymmetric_conv2d and fuse_asymmetric (ACNet)."""
from __future__ import annotations

import math
from typing import Any, Optional

from . import _args, _core, arithmetic
from ._backend import call


def fuse_asymmetric(w_square: Any, w_hor: Any, w_ver: Any) -> Any:
    """The single k x k kernel equivalent to ACNet's three centred branches.

    ``w_square`` ``(C_out, C_in/groups, k, k)`` with k odd, ``w_hor`` ``(C_out, C_in/groups, 1, k)``,
    ``w_ver`` ``(C_out, C_in/groups, k, 1)``. Returns ``W = w_square`` with ``w_hor`` added to
    its middle row ``k // 2`` and ``w_ver`` to its middle column ``k // 2``: by linearity,
    ``conv(x, W, padding=p) == conv(x, w_square, padding=p) + conv(x, w_hor, padding=(p - k//2,
    p)) + conv(x, w_ver, padding=(p, p - k//2))`` (a negative padding crops), for any stride and
    dilation (scale the ``k // 2`` by the dilation). Computed in C++.

    >>> import numpy as np, convcore as cc
    >>> W = cc.fuse_asymmetric(np.zeros((1, 1, 3, 3)), np.ones((1, 1, 1, 3)), np.ones((1, 1, 3, 1)))
    >>> W[0, 0]
    array([[0., 1., 0.],
           [1., 2., 1.],
           [0., 1., 0.]])
    """
    w_square, w_hor, w_ver = _args.arrays(w_square=w_square, w_hor=w_hor, w_ver=w_ver)
    return call("fuse_asymmetric", w_square, w_hor, w_ver)


def asymmetric_conv2d(x: Any, w_square: Any, w_hor: Any, w_ver: Any, bias: Any = None, *,
                      stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                      padding_mode: str = "zeros", channels_last: bool = False,
                      activation: Optional[str] = None, algorithm: str = "auto") -> Any:
    """ACNet's asymmetric convolution block: ``conv(k x k) + conv(1 x k) + conv(k x 1)``, centred.

    Runs in the deploy-time form: the three kernels are fused (:func:`fuse_asymmetric`, in C++)
    and one conv runs with ``w_square``'s geometry, so the result is
    ``conv(x, fuse_asymmetric(w_square, w_hor, w_ver), bias, stride=..., padding=...)``. The
    ``1 x k`` branch sees the same padding horizontally and ``k // 2`` less vertically (the
    ``k x 1`` branch the other way round), which is what "centred" means. The keyword
    parameters are :func:`convcore.conv`'s.

    >>> import numpy as np, convcore as cc
    >>> x = np.ones((1, 1, 3, 3))
    >>> y = cc.asymmetric_conv2d(x, np.zeros((1, 1, 3, 3)), np.ones((1, 1, 1, 3)),
    ...                          np.ones((1, 1, 3, 1)), padding=1)
    >>> y[0, 0]
    array([[4., 5., 4.],
           [5., 6., 5.],
           [4., 5., 4.]])
    """
    x, w_square, w_hor, w_ver, bias = _args.arrays(x=x, w_square=w_square, w_hor=w_hor,
                                                   w_ver=w_ver, bias=bias)
    opts = _args.conv_options(2, stride=stride, padding=padding, dilation=dilation,
                              groups=groups, padding_mode=padding_mode,
                              channels_last=channels_last, activation=activation)
    return call("asymmetric_conv2d", x, w_square, w_hor, w_ver, bias, opts,
                _args.algorithm(algorithm))


@arithmetic.register("fuse_asymmetric")
def _fuse_cost(sq_shape: Any, hor_shape: Any, ver_shape: Any) -> arithmetic.Cost:
    sq, hor, ver = (arithmetic._shape(s, n) for s, n in
                    ((sq_shape, "w_square"), (hor_shape, "w_hor"), (ver_shape, "w_ver")))
    _core.check_asymmetric_weights(sq, hor, ver)
    return arithmetic.Cost(0, int(math.prod(sq) + math.prod(hor) + math.prod(ver)), tuple(sq))


@arithmetic.register("asymmetric_conv2d")
def _asymmetric_cost(x_shape: Any, sq_shape: Any, hor_shape: Any, ver_shape: Any,
                     bias_shape: Any = None, **params: Any) -> arithmetic.Cost:
    """macs: the fused (deploy) conv the op runs; details: the three training-time branches."""
    sq, hor, ver = (arithmetic._shape(s, n) for s, n in
                    ((sq_shape, "w_square"), (hor_shape, "w_hor"), (ver_shape, "w_ver")))
    _core.check_asymmetric_weights(sq, hor, ver)
    c = arithmetic.cost("conv2d", x_shape, sq, bias_shape, **params)
    k = sq[2]
    per_tap = c.macs // (k * k)
    params_n = c.params + math.prod(hor) + math.prod(ver)
    return arithmetic.Cost(c.macs, int(params_n), c.output_shape,
                           {"fused": c.macs, "square": c.macs, "horizontal": per_tap * k,
                            "vertical": per_tap * k, "three_branches": per_tap * (k * k + 2 * k)})
