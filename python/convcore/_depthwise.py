"""depthwise_conv2d, pointwise_conv and the fused depthwise_separable_conv2d (MobileNet's block),
with their cost models."""
from __future__ import annotations

import math
from typing import Any, Optional

from . import _args, _core, arithmetic
from ._backend import call
from .arithmetic import Cost


def depthwise_conv2d(x: Any, w: Any, bias: Any = None, *, stride: Any = 1, padding: Any = 0,
                     dilation: Any = 1, padding_mode: str = "zeros", channels_last: bool = False,
                     activation: Optional[str] = None) -> Any:
    """Depthwise 2-D convolution: every input channel convolved with its own ``m`` filters.

    Equals ``conv(x, w, bias, groups=C)`` (``torch.nn.functional.conv2d(..., groups=C)``) with
    x ``(N, C, H, W)`` (``(N, H, W, C)`` with ``channels_last``) and w ``(C*m, 1, kh, kw)``,
    ``m >= 1`` the depth multiplier; output channel ``c*m + j`` is input channel ``c`` filtered
    by ``w[c*m + j]``. Runs its own channels-last kernel (channels innermost, vectorised) with
    bias and ``activation`` fused into the store; ``padding_mode`` is read in place.
    ``stride``, ``padding``, ``dilation`` as in :func:`conv`.

    >>> import numpy as np, convcore as cc
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> cc.depthwise_conv2d(x, np.ones((2, 1, 3, 3)), stride=1)[0, :, 0]
    array([[45., 54.],
           [45., 54.]])
    """
    x, w, bias = _args.arrays(x=x, w=w, bias=bias)
    opts = _args.conv_options(2, stride=stride, padding=padding, dilation=dilation,
                              padding_mode=padding_mode, channels_last=channels_last,
                              activation=activation)
    return call("depthwise_conv2d", x, w, bias, opts)


def pointwise_conv(x: Any, w: Any, bias: Any = None, *, groups: int = 1,
                   channels_last: bool = False, activation: Optional[str] = None) -> Any:
    """Pointwise (1x1) convolution: a matrix product over channels at every pixel.

    x ``(N, C_in, *spatial)`` with any number of spatial dims (``(N, *spatial, C_in)`` with
    ``channels_last``); w ``(C_out, C_in/groups)`` or the same with trailing 1s
    (``(C_out, C_in/groups, 1, 1)`` as PyTorch stores it). ``groups > 1`` is the grouped
    pointwise conv of ShuffleNet. A kernel larger than 1 is a ValueError naming ``w``.

    >>> import numpy as np, convcore as cc
    >>> x = np.arange(8.0).reshape(1, 2, 2, 2)
    >>> cc.pointwise_conv(x, np.array([[1.0, 1.0], [1.0, -1.0]]))[0, :, 0]
    array([[ 4.,  6.],
           [-4., -4.]])
    """
    x, w, bias = _args.arrays(x=x, w=w, bias=bias)
    return call("pointwise_conv", x, w, bias, _args._int(groups, "groups"), bool(channels_last),
                _args.activation(activation))


def depthwise_separable_conv2d(x: Any, w_depthwise: Any, w_pointwise: Any,
                               b_depthwise: Any = None, b_pointwise: Any = None, *,
                               stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                               padding_mode: str = "zeros", mid_activation: Optional[str] = None,
                               activation: Optional[str] = None,
                               channels_last: bool = False) -> Any:
    """Fused depthwise-separable convolution (MobileNet): ``act(pointwise_conv(mid_act(
    depthwise_conv2d(x, w_depthwise, b_depthwise)), w_pointwise, b_pointwise))``.

    w_depthwise ``(C*m, 1, kh, kw)``; w_pointwise ``(C_out, C*m)`` or ``(C_out, C*m, 1, 1)``.
    The two stages run band by band of output rows: the depthwise result of one band (about
    128 KiB, at least one output row) is multiplied by the pointwise weights at once, so the
    ``(N, C*m, H_out, W_out)`` intermediate is never held in memory whole.

    >>> import numpy as np, convcore as cc
    >>> y = cc.depthwise_separable_conv2d(np.ones((1, 3, 7, 7), "f4"), np.ones((3, 1, 3, 3), "f4"),
    ...                                   np.ones((128, 3), "f4"))
    >>> y.shape, float(y[0, 0, 0, 0])
    ((1, 128, 5, 5), 27.0)
    """
    x, wd, wp, bd, bp = _args.arrays(x=x, w_depthwise=w_depthwise, w_pointwise=w_pointwise,
                                     b_depthwise=b_depthwise, b_pointwise=b_pointwise)
    opts = _args.conv_options(2, stride=stride, padding=padding, dilation=dilation,
                              padding_mode=padding_mode, channels_last=channels_last,
                              activation=activation)
    return call("depthwise_separable_conv2d", x, wd, wp, bd, bp, opts,
                _args.activation(mid_activation, "mid_activation"))


# ----------------------------------------------------------------------------- cost models

def _dw_macs(spec: Any) -> int:
    # Each output takes kh*kw products (one input channel per filter).
    return int(spec.N * spec.C_out * math.prod(spec.out_size) * math.prod(spec.kernel))


@arithmetic.register("depthwise_conv2d")
def _depthwise_cost(x_shape: Any, w_shape: Any, bias_shape: Any = None, **params: Any) -> Cost:
    xs, ws = arithmetic._shape(x_shape, "x"), arithmetic._shape(w_shape, "w")
    bl = arithmetic._bias_length(bias_shape)
    s = _core.depthwise_spec(xs, ws, _args.conv_options(2, **params), bl)
    return Cost(_dw_macs(s), math.prod(ws) + max(bl, 0), tuple(_core.output_shape(s, False)))


@arithmetic.register("pointwise_conv")
def _pointwise_cost(x_shape: Any, w_shape: Any, bias_shape: Any = None, *, groups: int = 1,
                    channels_last: bool = False, activation: Optional[str] = None) -> Cost:
    xs, ws = arithmetic._shape(x_shape, "x"), arithmetic._shape(w_shape, "w")
    bl = arithmetic._bias_length(bias_shape)
    _args.activation(activation)
    i = _core.pointwise_spec(xs, ws, _args._int(groups, "groups"), bool(channels_last), bl)
    macs = i["N"] * i["C_out"] * i["pixels"] * (i["C_in"] // i["groups"])
    return Cost(int(macs), math.prod(ws) + max(bl, 0), tuple(i["output_shape"]))


@arithmetic.register("depthwise_separable_conv2d")
def _dw_separable_cost(x_shape: Any, wd_shape: Any, wp_shape: Any, bd_shape: Any = None,
                       bp_shape: Any = None, *, mid_activation: Optional[str] = None,
                       **params: Any) -> Cost:
    xs = arithmetic._shape(x_shape, "x")
    wd, wp = arithmetic._shape(wd_shape, "w_depthwise"), arithmetic._shape(wp_shape, "w_pointwise")
    bd, bp = arithmetic._bias_length(bd_shape), arithmetic._bias_length(bp_shape)
    _args.activation(mid_activation, "mid_activation")
    dw, c_out, shape = _core.depthwise_separable_spec(xs, wd, wp, _args.conv_options(2, **params),
                                                      bd, bp)
    m_dw = _dw_macs(dw)
    m_pw = int(dw.N * math.prod(dw.out_size) * dw.C_out * c_out)
    return Cost(m_dw + m_pw, math.prod(wd) + math.prod(wp) + max(bd, 0) + max(bp, 0), tuple(shape),
                {"depthwise": m_dw, "pointwise": m_pw})
