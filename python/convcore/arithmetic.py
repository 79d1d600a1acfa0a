"""Arithmetic of convolutions without data: output shapes, costs, receptive fields.

Every op registers one function that maps the shapes it would be called with (and its keyword
parameters) to a :class:`Cost`. The shape math itself comes from the C++ core (the same
functions the kernels use), so these numbers cannot drift from what the ops do."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Iterable
from typing import Any, Callable, Dict, List, Sequence, Tuple

from . import _args, _core

_REGISTRY: Dict[str, Callable[..., "Cost"]] = {}


@dataclass(frozen=True)
class Cost:
    """What one call of an op costs, counted as the textbooks count the direct algorithm.

    ``macs``: multiply-accumulates (multiplications); ``params``: learnable values (weights and
    biases given); ``output_shape``; ``flops`` = 2 * macs; ``details``: per-stage counts for
    composite ops, extra work (e.g. sampling) where an op has it."""

    macs: int
    params: int
    output_shape: Tuple[int, ...]
    details: Dict[str, int] = field(default_factory=dict)

    @property
    def flops(self) -> int:
        return 2 * self.macs


def register(*names: str) -> Callable[[Callable[..., Cost]], Callable[..., Cost]]:
    """Decorator: `fn(*shapes, **params) -> Cost` becomes the cost model of these op names."""

    def deco(fn: Callable[..., Cost]) -> Callable[..., Cost]:
        for n in names:
            _REGISTRY[n] = fn
        return fn

    return deco


def _shape(s: Any, name: str) -> List[int]:
    if s is None:
        return None  # type: ignore[return-value]
    if hasattr(s, "shape") and not isinstance(s, tuple):
        s = s.shape
    try:
        return [_args._int(v, name) for v in s]
    except TypeError:
        raise TypeError(f"{name} must be a shape (a tuple of ints), got {s!r}") from None


def _bias_length(b: Any, name: str = "bias") -> int:
    """Length of a 1-D bias shape, or -1 when there is none (the C++ spec functions' convention)."""
    if b is None:
        return -1
    s = _shape(b, name)
    if len(s) != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(s)}")
    return s[0]


def _conv_macs(s: Any) -> int:
    """Products of a conv spec, as the textbooks count them: every output of the forward conv
    takes C_in/groups * prod(kernel) products (the transposed conv performs the same ones)."""
    return int(s.N * s.C_out * math.prod(s.out_size) * (s.C_in // s.groups) * math.prod(s.kernel))


def cost(op: str, *shapes: Any, **params: Any) -> Cost:
    """The cost of ``op`` called with arrays of these shapes and these keyword parameters.

    Same signature as the op, shapes (or arrays) in place of arrays.

    >>> import convcore as cc
    >>> cc.cost("conv", (1, 3, 7, 7), (128, 3, 3, 3)).macs
    86400
    >>> cc.cost("convolve", (5, 5), (3, 3), mode="valid").macs
    81
    """
    if not isinstance(op, str):
        raise TypeError(f"op must be the name of a convcore function, got {op!r}")
    if op not in _REGISTRY:
        raise ValueError(f"op must be one of {', '.join(sorted(_REGISTRY))}; got {op!r}")
    return _REGISTRY[op](*shapes, **params)


def output_shape(op: str, *shapes: Any, **params: Any) -> Tuple[int, ...]:
    """The shape ``op`` would return for inputs of these shapes.

    >>> import convcore as cc
    >>> cc.output_shape("conv", (1, 3, 7, 7), (128, 3, 3, 3))
    (1, 128, 5, 5)
    >>> cc.output_shape("conv_transpose", (1, 16, 8, 8), (16, 3, 4, 4), stride=2, padding=1)
    (1, 3, 16, 16)
    """
    return cost(op, *shapes, **params).output_shape


def conv_spec(x_shape: Any, w_shape: Any, bias_shape: Any = None, *, transposed: bool = False,
              expect_nd: Any = None, op: str = "conv", **params: Any) -> Any:
    """The validated C++ ConvSpec of a conv-family call (shapes only)."""
    xs, ws, bs = _shape(x_shape, "x"), _shape(w_shape, "w"), _shape(bias_shape, "bias")
    nd = len(ws) - 2
    if expect_nd is not None and nd != expect_nd:
        raise ValueError(f"{op} expects a {expect_nd + 2}-D w, got {len(ws)}-D")
    if not 1 <= nd <= 3:
        raise ValueError(f"w must have 3, 4 or 5 dimensions, got {len(ws)}")
    params.pop("algorithm", None)
    params.pop("out", None)
    if bs is not None and len(bs) != 1:
        raise ValueError(f"bias must be 1-D (C_out,), got shape {tuple(bs)}")
    opts = _args.conv_options(nd, **params)
    return _core.conv_spec(xs, ws, opts, bs[0] if bs else -1, transposed)


def _conv_cost(op: str, expect_nd: Any, transposed: bool) -> Callable[..., Cost]:
    def fn(x_shape: Any, w_shape: Any, bias_shape: Any = None, **params: Any) -> Cost:
        s = conv_spec(x_shape, w_shape, bias_shape, transposed=transposed, expect_nd=expect_nd,
                      op=op, **params)
        ws = _shape(w_shape, "w")
        nparams = math.prod(ws) + max(_bias_length(bias_shape), 0)
        return Cost(_conv_macs(s), int(nparams), tuple(_core.output_shape(s, transposed)))

    return fn


for _nd, _suffix in ((None, ""), (1, "1d"), (2, "2d"), (3, "3d")):
    register("conv" + _suffix)(_conv_cost("conv" + _suffix, _nd, False))
    register("conv_transpose" + _suffix)(_conv_cost("conv_transpose" + _suffix, _nd, True))


def _filter_cost(convolve: bool) -> Callable[..., Cost]:
    def fn(a_shape: Any, k_shape: Any, mode: str = "full", boundary: str = "fill",
           fillvalue: float = 0) -> Cost:
        a, k = _shape(a_shape, "a"), _shape(k_shape, "k")
        s = _core.filter_spec(a, k, mode, boundary, _args.real(fillvalue, "fillvalue"), convolve)
        return Cost(int(math.prod(s.out_size) * math.prod(k)), 0, tuple(s.out_size))

    return fn


register("convolve")(_filter_cost(True))
register("correlate")(_filter_cost(False))


@dataclass(frozen=True)
class ReceptiveField:
    """``size``: input extent seen by one output; ``jump``: input distance between adjacent
    outputs; ``start``: input coordinate of the first input pixel seen by output 0 (negative
    inside the padding). Ints for 1-D layer lists, per-dim tuples otherwise."""

    size: Any
    jump: Any
    start: Any


def _check_receptive_field_step(li: int, k: int, s: int, d: int, size: int, jump: int,
                                start: int, p: int) -> None:
    """Refuse a layer whose step of the recurrence (core/geometry.hpp receptive_field_step, in
    64-bit integers) would overflow: every intermediate it forms, computed here exactly."""

    def fits(*vals: int) -> bool:
        return all(_args.INT64_MIN <= v <= _args.INT64_MAX for v in vals)

    ext = (k - 1) * d + 1
    if not fits(ext, (ext - 1) * jump, size + (ext - 1) * jump):
        name = "dilation" if d > 1 else "kernel"
        raise ValueError(f"layers[{li}]: {name} is too large (kernel {k}, dilation {d}): the "
                         f"receptive field size overflows a 64-bit integer")
    if not fits(p * jump, start - p * jump):
        raise ValueError(f"layers[{li}]: padding is too large ({p}): the receptive field start "
                         f"overflows a 64-bit integer")
    if not fits(jump * s):
        raise ValueError(f"layers[{li}]: stride is too large ({s}): the receptive field jump "
                         f"overflows a 64-bit integer")


def receptive_field(layers: Sequence[Any]) -> ReceptiveField:
    """Receptive field of a stack of conv layers, each ``(kernel, stride, dilation)`` or
    ``(kernel, stride, dilation, padding)`` (ints, or per-dim tuples for N-d).

    >>> import convcore as cc
    >>> cc.receptive_field([(3, 1, 1)] * 3).size
    7
    >>> cc.receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)]).size
    15
    >>> cc.receptive_field([((7, 7), 2, 1, 3), ((3, 3), 2, 1, 1)])
    ReceptiveField(size=(11, 11), jump=(4, 4), start=(-5, -5))
    """
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Iterable):
        raise TypeError(f"layers must be a sequence of (kernel, stride, dilation) layers, got "
                        f"{layers!r}")
    layers = list(layers)
    if not layers:
        raise ValueError("layers must hold at least one (kernel, stride, dilation) layer")
    nd, scalar = 1, True
    for li, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or not 1 <= len(layer) <= 4:
            raise ValueError(f"layers[{li}] must be (kernel, stride, dilation[, padding]), got "
                             f"{layer!r}")
        for v in layer:
            if isinstance(v, (tuple, list)):
                scalar = False
                nd = max(nd, len(v))
    size, jump, start = [1] * nd, [1] * nd, [0] * nd
    for li, layer in enumerate(layers):
        k, s, d, p = (list(layer) + [1, 1, 0][len(layer) - 1:])[:4]
        k, s, d, p = (_args.ntuple(v, nd, f"layers[{li}]") for v in (k, s, d, p))
        for i in range(nd):
            if k[i] < 1 or s[i] < 1 or d[i] < 1 or p[i] < 0:
                raise ValueError(f"layers[{li}] needs kernel, stride, dilation >= 1 and "
                                 f"padding >= 0, got {layer!r}")
            _check_receptive_field_step(li, k[i], s[i], d[i], size[i], jump[i], start[i], p[i])
            size[i], jump[i], start[i] = _core.receptive_field_step(
                k[i], s[i], d[i], size[i], jump[i], start[i], p[i])
    if scalar:
        return ReceptiveField(size[0], jump[0], start[0])
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))
