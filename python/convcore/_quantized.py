"""quantized_conv2d: ONNX QLinearConv on uint8/int8 tensors."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _args, arithmetic
from ._backend import call


def _y_signed(y_zero_point: Any, x: Any, y_dtype: Any) -> bool:
    if y_dtype is None:
        dt = getattr(y_zero_point, "dtype", None)
        if dt is None or np.dtype(dt) not in (np.dtype(np.int8), np.dtype(np.uint8)):
            # x's dtype; when that is not 8-bit either, the core names x in its TypeError
            return np.dtype(x.dtype) == np.dtype(np.int8)
    else:
        dt = y_dtype
    return _args.dtype_choice(dt, "y_dtype", (np.uint8, np.int8)) == np.dtype(np.int8)


def quantized_conv2d(x: Any, x_scale: Any, x_zero_point: Any, w: Any, w_scale: Any,
                     w_zero_point: Any, y_scale: Any, y_zero_point: Any, bias: Any = None, *,
                     stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1,
                     channels_last: bool = False, y_dtype: Any = None) -> Any:
    """8-bit quantized 2-D convolution with ONNX ``QLinearConv`` semantics (arguments in its
    input order: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B).

    ``x`` (N, C_in, H, W) and ``w`` (C_out, C_in/groups, kh, kw) are uint8 or int8 (each its
    own); ``x_scale``, ``y_scale`` positive scalars; ``w_scale`` and ``w_zero_point`` a scalar
    (per tensor) or C_out values (per output channel); ``bias`` int32 (C_out,), already in the
    accumulator's scale ``x_scale * w_scale``. In int32 arithmetic
    ``acc = bias + sum (x - x_zero_point) * (w - w_zero_point)``; then
    ``y = saturate(round_half_to_even(acc * x_scale * w_scale / y_scale) + y_zero_point)`` with
    the multiplier computed in float64. Zero padding pads with the real value 0 (the quantized
    ``x_zero_point``). y is uint8 or int8: ``y_dtype`` if given, else the dtype of
    ``y_zero_point`` when it is a NumPy int8/uint8 value, else x's dtype. The geometry keywords
    are :func:`convcore.conv`'s (zero padding only); ``channels_last`` as there, and the faster
    layout: the INT8 engines (AVX2, AVX-512 VNNI; ``cc.info()["simd"]["int8"]`` names the one
    that runs) work channels-last, so channels-first x and y are transposed around them.
    Results are the same bytes at every SIMD level. CuPy ``x``, ``w`` (and ``bias``) run on
    the GPU with bit-identical results. :func:`convcore.choose_qparams`,
    :func:`convcore.quantize` and :func:`convcore.dequantize` make the arguments from real
    data.

    >>> import numpy as np, convcore as cc
    >>> x = np.full((1, 1, 3, 3), 130, np.uint8)            # real value (130 - 128) * 0.5 = 1
    >>> w = np.full((1, 1, 3, 3), 2, np.int8)                # real value 2 * 0.25 = 0.5
    >>> cc.quantized_conv2d(x, 0.5, 128, w, 0.25, 0, 0.1, np.uint8(10))   # 9 * 0.5 / 0.1 + 10
    array([[[[55]]]], dtype=uint8)
    """
    x, w, bias = _args.arrays(x=x, w=w, bias=bias)
    _args.spatial_rank(w, expect=2, op="quantized_conv2d")
    signed = _y_signed(y_zero_point, x, y_dtype)
    opts = _args.conv_options(2, stride=stride, padding=padding, dilation=dilation,
                              groups=groups, channels_last=channels_last)
    return call("quantized_conv", x, _args.quant_scalar(x_scale, "x_scale", "float"),
                _args.quant_scalar(x_zero_point, "x_zero_point", "int"), w,
                _args.quant_values(w_scale, "w_scale", "float"),
                _args.quant_values(w_zero_point, "w_zero_point", "int"),
                _args.quant_scalar(y_scale, "y_scale", "float"),
                _args.quant_scalar(y_zero_point, "y_zero_point", "int"), signed, bias, opts)


def _quantized_conv2d_packed(x_shape: Any, x_dtype: Any, x_scale: Any, x_zero_point: Any, w: Any,
                             w_scale: Any, w_zero_point: Any, y_scale: Any, y_zero_point: Any,
                             bias: Any = None, *, stride: Any = 1, padding: Any = 0,
                             dilation: Any = 1, groups: int = 1, channels_last: bool = False,
                             y_dtype: Any = None) -> Any:
    """Private: quantized_conv2d's weights packed once (the C++ quantized_conv_pack), for x of
    ``x_shape``'s channels and ``x_dtype`` (uint8 / int8); ``.run(x)`` is
    ``quantized_conv2d(x, ...)`` bit for bit, for any N and spatial size; ``.path`` names the
    kernels. For the benchmarks and tests (and a plan layer); arguments as quantized_conv2d.

    >>> import numpy as np, convcore as cc
    >>> from convcore._quantized import _quantized_conv2d_packed
    >>> w = np.full((1, 1, 3, 3), 2, np.int8)
    >>> p = _quantized_conv2d_packed((1, 1, 3, 3), np.uint8, 0.5, 128, w, 0.25, 0, 0.1, np.uint8(10))
    >>> p.run(np.full((1, 1, 3, 3), 130, np.uint8))
    array([[[[55]]]], dtype=uint8)
    """
    w, bias = _args.arrays(w=w, bias=bias)
    _args.spatial_rank(w, expect=2, op="quantized_conv2d")
    xdt = _args.dtype_choice(x_dtype, "x_dtype", (np.uint8, np.int8))
    signed = _y_signed(y_zero_point, np.empty(0, xdt), y_dtype)
    opts = _args.conv_options(2, stride=stride, padding=padding, dilation=dilation,
                              groups=groups, channels_last=channels_last)
    from . import _core
    return _core._quantized_conv_pack(
        [int(v) for v in x_shape], xdt == np.dtype(np.int8),
        _args.quant_scalar(x_scale, "x_scale", "float"),
        _args.quant_scalar(x_zero_point, "x_zero_point", "int"), w,
        _args.quant_values(w_scale, "w_scale", "float"),
        _args.quant_values(w_zero_point, "w_zero_point", "int"),
        _args.quant_scalar(y_scale, "y_scale", "float"),
        _args.quant_scalar(y_zero_point, "y_zero_point", "int"), signed, bias, opts)


@arithmetic.register("quantized_conv2d")
def _quantized_cost(x_shape: Any, x_scale: Any, x_zero_point: Any, w_shape: Any, w_scale: Any,
                    w_zero_point: Any, y_scale: Any, y_zero_point: Any, bias_shape: Any = None,
                    *, y_dtype: Any = None, **params: Any) -> arithmetic.Cost:
    """The conv's integer multiply-accumulates; details: one requantisation per output."""
    c = arithmetic.cost("conv2d", x_shape, w_shape, bias_shape, **params)
    return arithmetic.Cost(c.macs, c.params, c.output_shape,
                           {"int8_macs": c.macs, "requantize": int(math.prod(c.output_shape))})
