"""deform_conv2d: deformable convolution (DCNv1, DCNv2 with a mask), and its cost model."""
from __future__ import annotations

import math
from typing import Any

from . import _args, _core
from ._backend import call
from .arithmetic import Cost, _shape, register


def _options(stride: Any, padding: Any, dilation: Any, channels_last: bool) -> Any:
    return _args.conv_options(2, stride=stride, padding=padding, dilation=dilation,
                              channels_last=channels_last)


def deform_conv2d(x: Any, offset: Any, w: Any, bias: Any = None, *, stride: Any = 1,
                  padding: Any = 0, dilation: Any = 1, mask: Any = None,
                  channels_last: bool = False, algorithm: str = "auto",
                  max_offset: Any = None) -> Any:
    """Deformable 2-D convolution, ``torchvision.ops.deform_conv2d`` semantics.

    x ``(N, C_in, H, W)``; offset ``(N, 2*offset_groups*kh*kw, H_out, W_out)``; w
    ``(C_out, C_in/groups, kh, kw)``; optional bias ``(C_out,)`` and mask
    ``(N, offset_groups*kh*kw, H_out, W_out)`` (DCNv2 modulation). ``groups = C_in / w.shape[1]``
    and ``offset_groups = offset.shape[1] / (2*kh*kw)`` are deduced from the shapes; input
    channel c uses offset group ``c // (C_in / offset_groups)``. With ``channels_last=True``
    x, offset, mask and the result have their channel axis last (``(N, H, W, C)``).

    Tap ``(i, j)`` of output ``(oy, ox)`` reads x at ``(oy*stride_h - pad_h + i*dilation_h + dy,
    ox*stride_w - pad_w + j*dilation_w + dx)``, where ``(dy, dx)`` is the pair of offset
    channels ``2*(g*kh*kw + i*kw + j)`` and ``+1`` of its offset group g, multiplies the
    bilinear sample by the mask when given, and the products are summed with w as in a
    convolution, plus bias. Borders, as in torchvision's CPU kernel (read and tested here):

    - a sample with ``y <= -1``, ``y >= H``, ``x <= -1`` or ``x >= W`` is 0 (so are +-inf
      offsets); inside that range the four neighbours ``floor`` and ``floor + 1`` are weighted
      bilinearly and neighbours outside the image count as 0, so between -1 and 0 (and between
      H-1 and H) the value fades linearly to 0: at ``y = -0.25`` it is ``0.75 * x[0]``;
    - a NaN offset gives NaN for that sample (unless the other coordinate is already outside,
      then 0), and nothing is read for it. torchvision 0.29 agrees for a NaN ``dy``; for a NaN
      ``dx`` its CPU kernel converts NaN to int (undefined behaviour) and reads far out of
      bounds, which crashes the process (observed: segmentation fault) — here it is NaN;
    - the integer part of the position is exact and the offset is added in the input dtype.

    ``stride``, ``padding`` and ``dilation`` are ints or pairs (``padding`` may also be
    ``(before, after)`` pairs). float32 and float64 (and float16 on CuPy arrays, which run
    on the GPU, see docs/cuda.md); all arrays share the dtype.
    ``algorithm="reference"`` runs the plain definition (slow; for testing).

    ``max_offset``: a bound you give on every ``|dy|`` and ``|dx|`` (checked: an offset
    beyond it is a ValueError, NaN offsets pass). On a Dask x it is what lets the spatial
    chunks stay chunked: each output block then reads its conv halo plus
    ``ceil(max_offset) + 1`` more inputs on each side. Without it an offset may point
    anywhere, so the spatial axes of a Dask x (and offset, mask) are rechunked to one chunk.

    >>> import numpy as np, convcore as cc
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> w = np.ones((1, 1, 1, 1))
    >>> off = np.full((1, 2, 4, 4), 0.5)          # every sample half a pixel down and right
    >>> cc.deform_conv2d(x, off, w)[0, 0, 0]
    array([2.5, 3.5, 4.5, 2.5])
    """
    x, offset, w, bias, mask = _args.arrays(x=x, offset=offset, w=w, bias=bias, mask=mask)
    _args.spatial_rank(w, expect=2, op="deform_conv2d")
    opts = _options(stride, padding, dilation, channels_last)
    algo = _args.algorithm(algorithm)
    if max_offset is None:
        return call("deform_conv2d", x, offset, w, bias, mask, opts, algo)
    bound = _args.real(max_offset, "max_offset")
    if not (bound >= 0 and math.isfinite(bound)):
        raise ValueError(f"max_offset must be a finite number >= 0, got {max_offset!r}")
    if not _args.is_dask(offset):
        check_offset_bound(offset, bound)  # now, also beside a Dask x (a Dask offset: per block)
    if _args.is_dask(x) or _args.is_dask(offset):
        return call("deform_conv2d", x, offset, w, bias, mask, opts, algo, max_offset=bound)
    return call("deform_conv2d", x, offset, w, bias, mask, opts, algo)


def check_offset_bound(offset: Any, bound: float) -> None:
    """ValueError when an offset exceeds the ``max_offset`` the caller gave (NaNs pass)."""
    if getattr(offset, "size", 0):
        mag = abs(offset)
        mag = mag[mag == mag]  # without the NaNs, which would hide an inf from max()
        worst = float(mag.max()) if mag.size else 0.0
        if worst > bound:
            raise ValueError(f"offset has a value of magnitude {worst} beyond max_offset="
                             f"{bound}")


@register("deform_conv2d")
def _deform_cost(x_shape: Any, offset_shape: Any, w_shape: Any, bias_shape: Any = None, *,
                 stride: Any = 1, padding: Any = 0, dilation: Any = 1, mask: Any = None,
                 channels_last: bool = False, algorithm: str = "auto") -> Cost:
    """Cost of deform_conv2d. ``macs``: the convolution's multiply-accumulates,
    ``N*C_out*H_out*W_out*(C_in/groups)*kh*kw``. The sampling is counted in ``details``, per
    output pixel, tap and input channel (``samples = N*H_out*W_out*kh*kw*C_in``):

    - ``sample_loads``: 4 input reads per sample (the bilinear corners);
    - ``sample_macs``: 4 multiply-adds per sample (corner value times corner weight), plus one
      multiplication per sample by the mask when a mask is given;
    - ``weight_flops``: the bilinear weights, computed once per offset group, tap and output
      pixel: 2 subtractions, 2 complements and 4 products (8 operations) each, plus 4 mask
      products with a mask;
    - ``total_macs``: ``macs + sample_macs``, the multiply-adds a direct implementation does.
    """
    xs, os_, ws = _shape(x_shape, "x"), _shape(offset_shape, "offset"), _shape(w_shape, "w")
    ms = _shape(mask, "mask") if mask is not None else []
    bs = _shape(bias_shape, "bias") if bias_shape is not None else None
    if bs is not None and len(bs) != 1:
        raise ValueError(f"bias must be 1-D (C_out,), got shape {tuple(bs)}")
    if len(ws) != 4:
        raise ValueError(f"deform_conv2d expects a 4-D w (C_out, C_in/groups, kh, kw), "
                         f"got {len(ws)}-D")
    d = _core.deform_spec(xs, os_, ws, ms, bs[0] if bs else -1,
                          _options(stride, padding, dilation, channels_last))
    pixels = d["N"] * d["out_h"] * d["out_w"]
    taps = d["kh"] * d["kw"]
    macs = pixels * d["C_out"] * (d["C_in"] // d["groups"]) * taps
    samples = pixels * taps * d["C_in"]
    sample_macs = 4 * samples + (samples if d["has_mask"] else 0)
    weight_flops = pixels * taps * d["offset_groups"] * (8 + (4 if d["has_mask"] else 0))
    nparams = math.prod(ws) + (bs[0] if bs else 0)
    details = {"samples": samples, "sample_loads": 4 * samples, "sample_macs": sample_macs,
               "weight_flops": weight_flops, "total_macs": macs + sample_macs}
    return Cost(int(macs), int(nparams), tuple(d["output_shape"]), details)
