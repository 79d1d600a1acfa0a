"""channel_shuffle and shuffled_grouped_conv (ShuffleNet)."""
from __future__ import annotations

import math
from typing import Any, Optional

from . import _args, _core, arithmetic
from ._backend import call


def channel_shuffle(x: Any, groups: int, *, channels_last: bool = False) -> Any:
    """ShuffleNet's channel shuffle, ``torch.nn.ChannelShuffle(groups)`` semantics.

    x is ``(N, C, *spatial)`` (any number of spatial dims, including none), or
    ``(N, *spatial, C)`` with ``channels_last=True``. The channels, viewed as
    ``(groups, C // groups)``, are transposed to ``(C // groups, groups)``: input channel
    ``g * (C // groups) + i`` becomes output channel ``i * groups + g``. ``groups`` must divide C
    (ValueError otherwise). Returns a new C-contiguous array of x's shape and dtype.

    >>> import numpy as np, convcore as cc
    >>> cc.channel_shuffle(np.arange(6.0).reshape(1, 6, 1, 1), 2).ravel()
    array([0., 3., 1., 4., 2., 5.])
    """
    (x,) = _args.arrays(x=x)
    return call("channel_shuffle", x, _args._int(groups, "groups"), bool(channels_last))


def shuffled_grouped_conv(x: Any, w: Any, bias: Any = None, *, groups: int, stride: Any = 1,
                          padding: Any = 0, dilation: Any = 1, padding_mode: str = "zeros",
                          activation: Optional[str] = None, algorithm: str = "auto") -> Any:
    """``channel_shuffle(conv(x, w, bias, groups=groups, ...), groups)`` in one pass.

    A ShuffleNet unit's grouped conv followed by its channel shuffle. The shuffle is folded
    into the output write: each (image, group) is convolved into a scratch buffer of one group's
    output and its channels are stored straight at their shuffled positions, so the full
    output is written once and never permuted afterwards. x ``(N, C_in, *spatial)``,
    w ``(C_out, C_in / groups, *kernel)``; ``groups`` must divide C_in and C_out. The other
    parameters are :func:`convcore.conv`'s (``activation`` is applied before the shuffle, which
    commutes with it).

    >>> import numpy as np, convcore as cc
    >>> x = np.ones((1, 4, 3, 3)); w = np.arange(8.0).reshape(4, 2, 1, 1)
    >>> cc.shuffled_grouped_conv(x, w, groups=2)[0, :, 0, 0]   # conv gives 1, 5, 9, 13
    array([ 1.,  9.,  5., 13.])
    """
    x, w, bias = _args.arrays(x=x, w=w, bias=bias)
    nd = _args.spatial_rank(w)
    opts = _args.conv_options(nd, stride=stride, padding=padding, dilation=dilation,
                              groups=groups, padding_mode=padding_mode, activation=activation)
    return call("shuffled_grouped_conv", x, w, bias, opts, _args.algorithm(algorithm))


@arithmetic.register("channel_shuffle")
def _channel_shuffle_cost(x_shape: Any, groups: int, *, channels_last: bool = False
                          ) -> arithmetic.Cost:
    xs = arithmetic._shape(x_shape, "x")
    shp = _core.channel_shuffle_shape(xs, _args._int(groups, "groups"), bool(channels_last))
    return arithmetic.Cost(0, 0, tuple(shp), {"moves": int(math.prod(shp))})


@arithmetic.register("shuffled_grouped_conv")
def _shuffled_cost(x_shape: Any, w_shape: Any, bias_shape: Any = None, *, groups: int,
                   **params: Any) -> arithmetic.Cost:
    c = arithmetic.cost("conv", x_shape, w_shape, bias_shape, groups=groups, **params)
    return arithmetic.Cost(c.macs, c.params, c.output_shape, {"conv": c.macs})
