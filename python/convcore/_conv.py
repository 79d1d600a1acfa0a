"""conv, conv1d/2d/3d, conv_transpose, conv_transpose1d/2d/3d."""
from __future__ import annotations

from typing import Any, Optional

from . import _args
from ._backend import call


def conv(x: Any, w: Any, bias: Any = None, *, stride: Any = 1, padding: Any = 0,
         dilation: Any = 1, groups: int = 1, padding_mode: str = "zeros", flip: bool = False,
         channels_last: bool = False, activation: Optional[str] = None, algorithm: str = "auto",
         out: Any = None) -> Any:
    """N-d convolution (cross-correlation, as in deep learning) with batch and channels.

    ``torch.nn.functional.conv{1,2,3}d`` semantics. x is ``(N, C_in, *spatial)`` (or
    ``(N, *spatial, C_in)`` with ``channels_last=True``), w is ``(C_out, C_in/groups, *kernel)``,
    the spatial rank (1-3) is ``w.ndim - 2``.

    Parameters: ``stride``, ``dilation`` (int or per-dim tuple); ``padding`` (int, per-dim
    tuple, per-dim ``(before, after)`` pairs, ``"valid"`` or ``"same"`` = TensorFlow's rule
    ``out = ceil(in / stride)`` with the odd pad after); ``padding_mode`` ``"zeros"``,
    ``"reflect"``, ``"replicate"``, ``"circular"`` (PyTorch's limits: reflect pads fewer than
    the input size on each side, circular at most the input size, and no mode but zeros pads an
    empty dimension; anything more is a ValueError); ``flip=True`` rotates the kernel 180 degrees
    (true convolution); ``activation`` one of None, "relu", "relu6", "sigmoid", "tanh", "gelu",
    fused into the kernel; ``out`` a C-contiguous array of the right shape and dtype to write
    into. float32 and float64; x, w and bias must share the dtype (compared by value: an
    unpickled or memory-mapped float32 is float32; an array in non-native byte order, such as
    ``">f4"`` on x86, is converted with one native-order copy, and the result is native order;
    ``out`` must be native order). Every public op treats its arrays this way, never modifies
    them, and raises MemoryError naming the array when a contiguous copy cannot be allocated.
    ``algorithm`` ``"auto"``
    picks per shape (docs/architecture.md has the cost model); ``"im2col"`` (alias ``"gemm"``),
    ``"winograd"`` (F(4x4, 3x3): 3x3 in H and W with stride 1 there, 2-D with any groups or
    k x 3 x 3 3-D with groups 1, any dilation; float32 error 1e-6 to 1e-5 of max|y|, 10-25x
    im2col's), ``"direct"`` (for 1-4 input channels a vectorised stem kernel),
    ``"grouped"`` and ``"reference"`` force one (a ValueError naming it where it does not
    apply). Ctrl-C stops a long call of any op within a few tens of milliseconds
    (KeyboardInterrupt); ``out`` is then partly written.

    >>> import numpy as np, convcore as cc
    >>> cc.conv(np.ones((1, 3, 7, 7), "f4"), np.ones((128, 3, 3, 3), "f4")).shape
    (1, 128, 5, 5)
    >>> cc.conv(np.arange(5.0).reshape(1, 1, 5), np.array([[[1.0, 0.0, -1.0]]]), padding=1)
    array([[[-1., -2., -2., -2.,  3.]]])
    """
    x, w, bias = _args.arrays(x=x, w=w, bias=bias)
    nd = _args.spatial_rank(w)
    opts = _args.conv_options(nd, stride=stride, padding=padding, dilation=dilation,
                              groups=groups, padding_mode=padding_mode, flip=flip,
                              channels_last=channels_last, activation=activation)
    return call("conv", x, w, bias, out, opts, _args.algorithm(algorithm))


def _ranked_conv(nd: int, name: str):
    def f(x: Any, w: Any, bias: Any = None, **kwargs: Any) -> Any:
        w = _args.arrays(w=w)[0]
        _args.spatial_rank(w, expect=nd, op=name)
        return conv(x, w, bias, **kwargs)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"{nd}-D :func:`conv` (w must be {nd + 2}-D); the same keyword arguments.\n\n"
                 f"    >>> import numpy as np, convcore as cc\n"
                 f"    >>> cc.{name}(np.ones((1, 2{', 5' * nd}), 'f4'), "
                 f"np.ones((4, 2{', 3' * nd}), 'f4')).shape\n"
                 f"    (1, 4{', 3' * nd})\n")
    return f


conv1d = _ranked_conv(1, "conv1d")
conv2d = _ranked_conv(2, "conv2d")
conv3d = _ranked_conv(3, "conv3d")


def conv_transpose(x: Any, w: Any, bias: Any = None, *, stride: Any = 1, padding: Any = 0,
                   output_padding: Any = 0, dilation: Any = 1, groups: int = 1,
                   channels_last: bool = False, activation: Optional[str] = None,
                   algorithm: str = "auto", out: Any = None) -> Any:
    """Transposed convolution, the exact adjoint of :func:`conv`.

    ``torch.nn.functional.conv_transpose{1,2,3}d`` semantics: x ``(N, C_in, *spatial)``,
    w ``(C_in, C_out/groups, *kernel)``, output size per dim
    ``(in - 1) * stride - pad_before - pad_after + dilation * (k - 1) + output_padding + 1``.
    ``padding`` may be an int, per-dim ints or per-dim (before, after) pairs;
    ``output_padding`` must be smaller than ``max(stride, dilation)``. ``algorithm``: ``"auto"``,
    ``"im2col"`` (GEMM + col2im), ``"direct"``, ``"reference"``, or ``"winograd"``: the
    sub-pixel form, one forward conv per output phase on the Winograd engine (groups 1,
    dilation 1, a 3-tap window per phase along H and W: kernel 3 at stride 1, kernel 4 at
    stride 2 with padding 1, kernel 5 or 6 at stride 2 with padding 2).

    >>> import numpy as np, convcore as cc
    >>> cc.conv_transpose(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), stride=2).shape
    (1, 1, 5, 5)
    """
    x, w, bias = _args.arrays(x=x, w=w, bias=bias)
    nd = _args.spatial_rank(w)
    opts = _args.conv_options(nd, stride=stride, padding=padding, dilation=dilation,
                              groups=groups, channels_last=channels_last, activation=activation,
                              output_padding=output_padding)
    return call("conv_transpose", x, w, bias, out, opts, _args.algorithm(algorithm))


def _ranked_transpose(nd: int, name: str):
    def f(x: Any, w: Any, bias: Any = None, **kwargs: Any) -> Any:
        w = _args.arrays(w=w)[0]
        _args.spatial_rank(w, expect=nd, op=name)
        return conv_transpose(x, w, bias, **kwargs)

    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"{nd}-D :func:`conv_transpose` (w must be {nd + 2}-D).\n\n"
                 f"    >>> import numpy as np, convcore as cc\n"
                 f"    >>> cc.{name}(np.ones((1, 2{', 3' * nd}), 'f4'), "
                 f"np.ones((2, 4{', 3' * nd}), 'f4')).shape\n"
                 f"    (1, 4{', 5' * nd})\n")
    return f


conv_transpose1d = _ranked_transpose(1, "conv_transpose1d")
conv_transpose2d = _ranked_transpose(2, "conv_transpose2d")
conv_transpose3d = _ranked_transpose(3, "conv_transpose3d")
