"""convcore.ndimage's filters on a chunked Dask array, lazily (as dask-image's ndfilters do for
SciPy's, without its faults): the same call, a Dask array in, a lazy Dask array out, equal to
the in-memory result.

Output block j of an axis is input chunk j. Its task gathers the chunk with ``reach`` more
inputs on each side (the most any output reads along that axis, summed over the passes the
filter makes along it) and runs the in-memory filter on that window, then keeps the block's own
outputs. At a true edge of the array the window stops at the edge, so the filter applies its
mode there exactly as on the whole array; inside, the halo covers everything an output reads,
so the window's own edges (where the filter would extend the window, not the array) touch only
outputs that are cut away. Integer images, whose passes round after each pass, are exact too:
an output reads the previous pass only within that pass's reach. A "wrap" axis gathers its
halo from the opposite edge (the core's periodic map); a reach as long as the axis, or an axis
whose filter is unknown, runs whole.

``generic_gradient_magnitude`` and ``generic_laplace`` call a user function whose reach nothing
tells: they run on the whole array as one block (lazy still, but not chunked).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .. import _args
from . import _graph, _plan

WRAP = ("wrap", "grid-wrap")


def _axis_modes(mode: Any, axes: Sequence[int], ndim: int) -> Dict[int, Any]:
    """The mode each axis is filtered with (a string: every axis; a sequence: one per filtered
    axis, or one per axis)."""
    if isinstance(mode, str):
        return {a: mode for a in range(ndim)}
    seq = list(mode)
    if len(seq) == len(axes):
        return dict(zip(axes, seq))
    return dict(enumerate(seq))


def _gaussian_radius(kw: Dict[str, Any], sigma: Any) -> int:
    """At least the largest radius of the Gaussian passes: SciPy's int(truncate * sigma + 0.5)
    for the largest sigma, or the largest ``radius`` given (per axis, either may apply)."""
    sig = max((float(s) for s in np.atleast_1d(sigma)), default=0.0)
    radii = [int(r) for r in np.atleast_1d(np.asarray(kw.get("radius"), dtype=object))
             if r is not None]
    return max([int(float(kw.get("truncate", 4.0)) * sig + 0.5)] + radii)


def _reach(name: str, kw: Dict[str, Any], ndim: int) -> Optional[List[int]]:
    """How far (at most) an output of filter ``name`` reads along each axis, over all its
    passes along that axis; None where a user function decides. ``kw``: the call's
    arguments by name, already accepted by the in-memory filter."""
    from ..ndimage import _support as S

    r = [0] * ndim
    if name in ("correlate1d", "convolve1d", "uniform_filter1d", "gaussian_filter1d"):
        if name == "uniform_filter1d":
            k = int(kw["size"])
        elif name == "gaussian_filter1d":
            k = 2 * _gaussian_radius(kw, kw["sigma"]) + 1
        else:
            k = np.asarray(kw["weights"]).size
        r[S.axis_index(kw.get("axis", -1), ndim)] = k // 2 + abs(int(kw.get("origin", 0))) + 1
        return r
    if name.startswith("generic_"):
        return None
    axes = S.check_axes(kw.get("axes"), ndim)
    if name in ("correlate", "convolve"):
        shape = [n for n in np.shape(kw["weights"]) if n > 0]
        if len(axes) == ndim and len(shape) == ndim:
            shape = [shape[a] for a in axes]
        # (origins apply to the axes or, with every axis, to the dimensions: the largest)
        o = max(abs(int(v)) for v in S.normalize_sequence(kw.get("origin", 0), len(axes)))
        for a, n in zip(axes, shape):
            r[a] = n // 2 + o + 1
        return r
    if name == "uniform_filter":
        sizes = S.normalize_sequence(kw.get("size", 3), len(axes))
        origins = S.normalize_sequence(kw.get("origin", 0), len(axes))
        for a, n, o in zip(axes, sizes, origins):
            r[a] = int(n) // 2 + abs(int(o)) + 1
        return r
    if name in ("sobel", "prewitt"):
        return [1] * ndim
    if name == "laplace":
        return [1 if a in axes else 0 for a in range(ndim)]
    # gaussian_filter, gaussian_laplace, gaussian_gradient_magnitude: a Gaussian pass per axis
    # (the two derivatives smooth along every axis), at most the largest radius
    extra = dict(kw.get("kwargs", {}), **kw)
    reach = _gaussian_radius(extra, kw["sigma"]) + 1
    return [reach] * ndim if name != "gaussian_filter" else \
        [reach if a in axes else 0 for a in range(ndim)]


def _axis_plan(n: int, chunks: Sequence[int], reach: int, wrap: bool) -> List[_plan.Block]:
    """Blocks of one axis: output block j is chunk j, read with ``reach`` inputs each side
    (``extra``: where the block's outputs start in its window, and how many)."""
    if reach == 0:
        return [_plan.Block(b.start, b.size, b.pieces, extra=(0, b.size))
                for b in _plan.pass_through(chunks)]
    if len(chunks) == 1 or reach >= n:  # (without wrap, the window would be the axis)
        return [_plan.Block(0, n, _plan._pieces(0, n, chunks), extra=(0, n))]
    blocks = []
    start = 0
    for size in map(int, chunks):
        lo, hi = start - reach, start + size + reach
        if wrap:
            pieces = _plan._mapped_pieces(lo, hi, n, "circular", chunks)
        else:
            lo, hi = max(lo, 0), min(hi, n)
            pieces = _plan._pieces(lo, hi, chunks)
        blocks.append(_plan.Block(start, size, pieces, extra=(start - lo, size)))
        start += size
    return blocks


class _NdimageBlock:
    """One block: the in-memory filter ``name`` on the window (arrays among the arguments come
    as the graph's constants), cut to the block's own outputs."""

    def __init__(self, name: str, kw: Dict[str, Any], const_names: Sequence[str],
                 var_kw: Optional[str]):
        self.name, self.kw, self.const_names, self.var_kw = name, kw, tuple(const_names), var_kw

    def __call__(self, window: Any, pads: tuple, extras: tuple, *consts: Any) -> Any:
        from .. import ndimage

        kw = dict(self.kw, input=window)
        kw.update(zip(self.const_names, consts))
        more = kw.pop(self.var_kw, {}) if self.var_kw else {}
        y = getattr(ndimage, self.name)(**kw, **more)
        if not extras:  # 0-d
            return y
        return y[tuple(slice(e[0], e[0] + e[1]) for e in extras)]


def filter(fn: Callable[..., Any], x: Any, args: tuple, kwargs: Dict[str, Any]) -> Any:
    """``fn(x, *args, **kwargs)`` (a convcore.ndimage filter) on the Dask array ``x``, lazily.
    The arguments are checked now, by running ``fn`` on a one-element array of x's dtype,
    which also gives the result's dtype."""
    import inspect

    from dask.base import tokenize

    from ._ops import _meta

    name = fn.__name__
    _graph.require_known_chunks(x, "input")
    if _graph.array_module(x._meta) is not np:
        raise TypeError("convcore.ndimage runs on NumPy-backed Dask arrays; for CuPy-backed ones "
                        "use cupyx.scipy.ndimage per block")
    output = kwargs.get("output")
    if output is not None and not isinstance(output, (type, np.dtype, str)):
        raise TypeError("output must be None or a dtype for a Dask input (the result is lazy: "
                        "store it with .store() or .to_zarr())")
    sig = inspect.signature(fn)
    bound = sig.bind(x, *args, **kwargs)
    kw = dict(bound.arguments)
    del kw["input"]
    for k, v in kw.items():
        if _args.is_dask(v):
            raise TypeError(f"{k} is a Dask array: only the input may be chunked (compute "
                            f"{k} first)")
    var_kw = next((p.name for p in sig.parameters.values()
                   if p.kind is inspect.Parameter.VAR_KEYWORD), None)
    probe = fn(np.zeros((1,) * x.ndim, x.dtype), *args, **kwargs)
    meta = _meta(x, x.ndim, probe.dtype)
    reach = _reach(name, kw, x.ndim) if x.ndim and 0 not in x.shape else None
    modes: Dict[int, Any] = {}
    if reach is None:
        reach = list(x.shape)  # every axis whole
    else:
        from ..ndimage import _support as S

        if kw.get("axes") is not None:
            axes = list(S.check_axes(kw["axes"], x.ndim))
        elif "axis" in kw:
            axes = [S.axis_index(kw["axis"], x.ndim)]
        else:
            axes = list(range(x.ndim))
        modes = _axis_modes(kw.get("mode", "reflect"), axes, x.ndim)
    plans = [_axis_plan(n, c, r, modes.get(a) in WRAP)
             for a, (n, c, r) in enumerate(zip(x.shape, x.chunks, reach))]
    consts = [k for k, v in kw.items() if isinstance(v, np.ndarray)]
    static = {k: v for k, v in kw.items() if k not in consts}
    block = _NdimageBlock(name, static, consts, var_kw)
    token = tokenize(x.name, name, kw)
    y = _graph.build(f"convcore-ndimage-{name}-{token}", x, plans, block, meta,
                     consts=[kw[k] for k in consts])
    # an axis that ran whole is cut back into the image's chunks
    return y if y.chunks == x.chunks else y.rechunk(x.chunks)
