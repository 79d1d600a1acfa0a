"""inception: parallel conv branches concatenated on channels (Inception, ASPP)."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Sequence

import numpy as np

from . import _args, arithmetic
from ._conv import conv

_LAYER_KEYS = {"w", "bias", "stride", "padding", "dilation", "groups", "activation",
               "padding_mode"}


def _layers(branches: Any) -> List[List[Dict[str, Any]]]:
    if isinstance(branches, (str, bytes, dict)) or not isinstance(branches, Sequence):
        raise TypeError("branches must be a list of branches, each a list of layer dicts")
    if len(branches) == 0:
        raise ValueError("branches must hold at least one branch")
    out = []
    for bi, br in enumerate(branches):
        if isinstance(br, dict):
            br = [br]
        if isinstance(br, (str, bytes)) or not isinstance(br, Sequence):
            raise TypeError(f"branches[{bi}] must be a list of layer dicts, got {type(br).__name__}")
        layers = []
        for li, layer in enumerate(br):
            if not isinstance(layer, dict):
                raise TypeError(f"branches[{bi}][{li}] must be a dict with at least 'w', got "
                                f"{type(layer).__name__}")
            if "w" not in layer:
                raise ValueError(f"branches[{bi}][{li}] has no 'w'")
            extra = set(layer) - _LAYER_KEYS
            if extra:
                raise ValueError(f"branches[{bi}][{li}] has unknown keys {sorted(extra)}; "
                                 f"allowed: {sorted(_LAYER_KEYS)}")
            layers.append(layer)
        out.append(layers)
    return out


def _params(layer: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in layer.items() if k not in ("w", "bias")}


def _branch_shapes(x_shape: Sequence[int], branches: List[List[Dict[str, Any]]],
                   shape_of: Any) -> List[tuple]:
    """Output shape of every branch (validated layer by layer), and the common spatial size."""
    shapes = []
    for bi, br in enumerate(branches):
        s = tuple(x_shape)
        for li, layer in enumerate(br):
            if layer["w"] is None:
                raise TypeError(f"branches[{bi}][{li}]: w must be an array, got None")
            try:
                s = arithmetic.output_shape("conv", s, shape_of(layer["w"]),
                                            shape_of(layer.get("bias")), **_params(layer))
            except (ValueError, TypeError) as e:
                raise type(e)(f"branches[{bi}][{li}]: {e}") from None
        shapes.append(s)
    for bi, s in enumerate(shapes):
        if s[2:] != shapes[0][2:]:
            raise ValueError(f"branches must all give the same spatial size to be concatenated: "
                             f"branches[0] gives {shapes[0][2:]} but branches[{bi}] gives {s[2:]}")
    return shapes


def _shape_of(a: Any) -> Any:
    if a is None:
        return None
    return tuple(np.shape(a)) if not hasattr(a, "shape") else tuple(a.shape)


def inception(x: Any, branches: Any) -> Any:
    """Parallel branches of conv layers on the same input, concatenated on the channel axis.

    ``branches`` is a list of branches; a branch is a list of layers run in order (an empty
    list passes x through unchanged); a layer is a dict with ``w`` and optionally ``bias``,
    ``stride``, ``padding``, ``dilation``, ``groups``, ``activation``, ``padding_mode`` - the
    arguments of :func:`convcore.conv`. x is ``(N, C, *spatial)``. Every branch must reach the
    same spatial size (ValueError naming the branches otherwise); the output is
    ``(N, sum of the branches' channels, *spatial)``, branch 0 first. Each branch's last layer
    writes straight into its channel slice of the output (conv's ``out=``, per image when
    N > 1), so nothing is concatenated afterwards. Covers Inception modules (1x1, 1x1 -> 3x3,
    1x1 -> 5x5) and ASPP (parallel 3x3 convs with dilations 6, 12, 18 and matching padding).

    >>> import numpy as np, convcore as cc
    >>> x = np.ones((1, 8, 16, 16), "f4")
    >>> aspp = [[{"w": np.ones((4, 8, 1, 1), "f4")}]] + [
    ...     [{"w": np.ones((4, 8, 3, 3), "f4"), "dilation": d, "padding": d, "activation": "relu"}]
    ...     for d in (2, 4, 6)]
    >>> cc.inception(x, aspp).shape
    (1, 16, 16, 16)
    """
    (x,) = _args.arrays(x=x)
    if _args.is_cupy(x):
        xp: Any = __import__("cupy")
    else:
        xp = np
    if x.ndim < 3:
        raise ValueError(f"x must have 3, 4 or 5 dimensions (N, C, *spatial), got {x.ndim}")
    # A branch with no layers copies x as it is, so x's dtype is checked here and not only by
    # conv (by value: kind and size; non-native byte order was converted by _args.arrays).
    sizes = (2, 4, 8) if xp is not np else (4, 8)
    if x.dtype.kind != "f" or x.dtype.itemsize not in sizes:
        allowed = "float16, float32 or float64 (CuPy)" if xp is not np else "float32 or float64"
        raise TypeError(f"x must be a {allowed} array, got dtype {x.dtype}")
    layers = _layers(branches)
    shapes = _branch_shapes(x.shape, layers, _shape_of)
    if _args.is_dask(x):
        # lazily: each layer a blocked conv with its own halo, the branches concatenated
        import dask.array as da

        outs = []
        for br in layers:
            h = x
            for layer in br:
                h = conv(h, layer["w"], layer.get("bias"), **_params(layer))
            outs.append(h)
        return da.concatenate(outs, axis=1)
    total = sum(s[1] for s in shapes)
    N = x.shape[0]
    out = xp.empty((N, total) + tuple(shapes[0][2:]), dtype=x.dtype)
    c0 = 0
    for br, s in zip(layers, shapes):
        c1 = c0 + s[1]
        if not br:
            out[:, c0:c1] = x
            c0 = c1
            continue
        h = x
        for layer in br[:-1]:
            h = conv(h, layer["w"], layer.get("bias"), **_params(layer))
        last = br[-1]
        if N == 1 or c1 - c0 == total:
            conv(h, last["w"], last.get("bias"), out=out[:, c0:c1], **_params(last))
        else:
            # A channel slice of a batch is strided across images; one image's slice is
            # contiguous, so the last layer runs per image.
            for n in range(N):
                conv(h[n:n + 1], last["w"], last.get("bias"), out=out[n:n + 1, c0:c1],
                     **_params(last))
        c0 = c1
    return out


@arithmetic.register("inception")
def _inception_cost(x_shape: Any, branches: Any) -> arithmetic.Cost:
    """``branches`` with shapes (or arrays) as the layers' ``w`` and ``bias``."""
    xs = tuple(arithmetic._shape(x_shape, "x"))
    layers = _layers(branches)

    def shape_of(a: Any) -> Any:
        return None if a is None else tuple(arithmetic._shape(a, "w"))

    shapes = _branch_shapes(xs, layers, shape_of)
    macs = params = 0
    details = {}
    for bi, br in enumerate(layers):
        s, bm = xs, 0
        for layer in br:
            c = arithmetic.cost("conv", s, shape_of(layer["w"]), shape_of(layer.get("bias")),
                                **_params(layer))
            bm += c.macs
            params += c.params
            s = c.output_shape
        details[f"branch{bi}"] = int(bm)
        macs += bm
    return arithmetic.Cost(int(macs), int(params),
                           (xs[0], int(sum(s[1] for s in shapes))) + tuple(shapes[0][2:]), details)
