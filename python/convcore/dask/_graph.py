"""The Dask graph of a blocked op: one task per output block, which gathers the block's window
(pieces of the input chunks it overlaps: its halo, and at the true edges its padding) into one
array and runs the in-memory op on it.

The weights and other whole arrays are put into the graph once, under their own keys, and every
task refers to those keys (so a distributed scheduler ships them to a worker once, not with
every task)."""
from __future__ import annotations

import operator
import sys
from itertools import product
from typing import Any, Callable, Dict, List, Optional, Sequence

from ._plan import Block


def array_module(a: Any) -> Any:
    """numpy, cupy (or the module an array type comes from) for array ``a``."""
    return sys.modules[type(a).__module__.split(".")[0]]


def _leaves(nested: Any, depth: int, ndim: int, at: tuple, out: list) -> None:
    if depth == ndim:
        out.append((at, nested))
        return
    pos = 0
    for e in nested:
        _leaves(e, depth + 1, ndim, at + (pos,), out)
        first = e
        for _ in range(depth + 1, ndim):
            first = first[0]
        pos += first.shape[depth]


def assemble(nested: Any, ndim: int, pads: Optional[Sequence[Sequence[int]]] = None,
             fill: float = 0.0) -> Any:
    """One array from the nested lists of pieces (np.block's layout), with ``pads`` positions
    of ``fill`` around it when given. A single piece without padding is returned as it is."""
    leaves: List[Any] = []
    _leaves(nested, 0, ndim, (), leaves)
    if len(leaves) == 1 and not (pads and any(p for pr in pads for p in pr)):
        return leaves[0][1]
    ref = leaves[-1]
    shape = tuple(ref[0][d] + ref[1].shape[d] for d in range(ndim))
    before = tuple(pr[0] for pr in pads) if pads else (0,) * ndim
    if pads:
        shape = tuple(s + pr[0] + pr[1] for s, pr in zip(shape, pads))
    a0 = leaves[0][1]
    out = array_module(a0).empty(shape, dtype=a0.dtype)
    if pads:
        out[...] = fill
    for at, a in leaves:
        out[tuple(slice(b + o, b + o + n) for b, o, n in zip(before, at, a.shape))] = a
    return out


def _task(fn: Callable, nested: Any, ndim: int, pads: tuple, extras: tuple, fill: Any,
          *rest: Any) -> Any:
    window = assemble(nested, ndim, pads if fill is not None else None,
                      0.0 if fill is None else fill)
    return fn(window, pads, extras, *rest)


def _piece_key(name: str, chunk_index: tuple, p_slices: tuple) -> Any:
    return (operator.getitem, (name,) + chunk_index, p_slices)


def _nested(name: str, blocks: Sequence[Block], axis: int, chunk_index: tuple,
            slices: tuple) -> Any:
    if axis == len(blocks):
        return _piece_key(name, chunk_index, slices)
    return [_nested(name, blocks, axis + 1, chunk_index + (p.chunk,),
                    slices + ((slice(p.hi - 1, p.lo - 1 if p.lo else None, -1) if p.rev
                               else slice(p.lo, p.hi)),))
            for p in blocks[axis].pieces]


def build(name: str, x: Any, plans: Sequence[Sequence[Block]], fn: Callable, meta: Any,
          consts: Sequence[Any] = (), aligned: Sequence[Any] = (),
          aligned_axes: Optional[Sequence[int]] = None, fill: Any = None) -> Any:
    """A dask array whose block ``idx`` is ``fn(window, pads, extras, *consts, *aligned_blocks)``.

    ``plans[axis]`` lists the output blocks of each axis of ``x``; ``window`` is the block's
    gathered input (padded with ``fill`` by the assembly when ``fill`` is not None, else the
    pads are left to ``fn``); ``pads``/``extras`` the blocks' per-axis values. ``aligned``
    arrays are chunked as the output (their axis ``aligned_axes`` one chunk) and passed
    block by block."""
    from dask.highlevelgraph import HighLevelGraph
    import dask.array as da

    dsk: Dict[Any, Any] = {}
    const_keys = []
    for i, c in enumerate(consts):
        key = (f"{name}-const", i)
        dsk[key] = c
        const_keys.append(key)
    ndim = len(plans)
    for idx in product(*(range(len(p)) for p in plans)):
        blocks = [plans[a][j] for a, j in enumerate(idx)]
        nested = _nested(x.name, blocks, 0, (), ())
        al_keys = []
        for arr in aligned:
            al_keys.append((arr.name,) + tuple(0 if aligned_axes and a in aligned_axes else j
                                               for a, j in enumerate(idx)))
        dsk[(name,) + idx] = (_task, fn, nested, ndim, tuple(b.pad for b in blocks),
                              tuple(b.extra for b in blocks), fill, *const_keys, *al_keys)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x, *aligned])
    chunks = tuple(tuple(b.size for b in p) for p in plans)
    return da.Array(graph, name, chunks=chunks, meta=meta)
