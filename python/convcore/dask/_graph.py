"""The Dask graph of a blocked op: one task per output block, which gathers the block's window
(pieces of the input chunks it overlaps: its halo, and at the true edges its padding) into one
array and runs the in-memory op on it.

Halo pieces come from small per-chunk tasks. A block reads whole chunks (its own, or all of a
neighbour smaller than the halo) straight from the chunk's key, and the thin partial pieces
(the strips and corners its neighbours lend it) from a "halo" task of each neighbour, which
copies out of that chunk every partial piece any block needs from it. A chunk is then released
as soon as its own block and its halo task have run, instead of staying in memory until every
neighbour's block has (on a 16 x 16 grid of 4 MB chunks that keeps 103 of the 256 input chunks
alive at once under Dask's static order, against 55 with halo tasks). A chunk whose partial
pieces add up to more than half of it (in 1-D: a chunk shorter than four halos) is sliced in the
block tasks instead: copying its halo would cost about as much as keeping the chunk.

Each block's task is flat: ``(Block runner, chunk/halo keys..., weight keys...)``; the
geometry lives in the runner object (plain data, pickled by value), so Dask converts and
dispatches one small task per block. The weights and other whole arrays are put into the graph
once, under their own keys, and every task refers to those keys (so a distributed scheduler
ships them to a worker once, not with every task)."""
from __future__ import annotations

import sys
from itertools import product
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ._plan import Block
from ._threads import run_with_share

# A chunk lends its partial pieces through a halo task when they add up to at most this
# fraction of it; otherwise the blocks slice the chunk themselves.
HALO_FRACTION = 0.5


def require_known_chunks(a: Any, name: str) -> None:
    """A ValueError for a Dask array whose chunk sizes are unknown (NaN, as after boolean
    indexing): the halo geometry needs them."""
    if any(c != c for cs in a.chunks for c in cs):
        raise ValueError(f"{name} has unknown chunk sizes (as after boolean indexing): call "
                         f"{name}.compute_chunk_sizes() first")


def array_module(a: Any) -> Any:
    """numpy, cupy (or the module an array type comes from) for array ``a``."""
    return sys.modules[type(a).__module__.split(".")[0]]


def _slice(lo: int, hi: int, rev: bool) -> slice:
    return slice(hi - 1, lo - 1 if lo else None, -1) if rev else slice(lo, hi)


class HaloCut:
    """A halo task: copies of the partial pieces ``slices`` of one chunk (contiguous, so that
    the chunk itself can be released)."""

    def __init__(self, slices: Sequence[tuple]):
        self.slices = tuple(slices)

    def __call__(self, chunk: Any) -> tuple:
        return tuple(chunk[s].copy() for s in self.slices)


class BlockTask:
    """One output block: assembles the window from its sources and calls ``fn``.

    ``parts`` lists, per piece of the window, (argument index, element of a halo tuple or
    None, slices into the argument or None, position of the piece in the window). Arguments
    after the first ``n_sources`` are the constant and aligned arrays, passed on to ``fn``."""

    def __init__(self, fn: Callable, n_sources: int, parts: Sequence[tuple],
                 shape: Tuple[int, ...], pads: tuple, extras: tuple, fill: Any, n_blocks: int):
        self.fn, self.n_sources, self.parts = fn, n_sources, tuple(parts)
        self.n_blocks = n_blocks
        self.shape, self.pads, self.extras, self.fill = shape, pads, extras, fill

    def _piece(self, args: tuple, part: tuple) -> Any:
        arg, elem, sl, _ = part
        a = args[arg]
        if elem is not None:
            a = a[elem]
        return a if sl is None else a[sl]

    def window(self, args: tuple) -> Any:
        padded = self.fill is not None and any(p for pr in self.pads for p in pr)
        if len(self.parts) == 1 and not padded:
            return self._piece(args, self.parts[0])
        first = self._piece(args, self.parts[0])
        xp = array_module(first)
        before = tuple(pr[0] for pr in self.pads) if padded else (0,) * len(self.shape)
        shape = tuple(s + pr[0] + pr[1] for s, pr in zip(self.shape, self.pads)) if padded \
            else self.shape
        out = xp.empty(shape, dtype=first.dtype)
        if padded:  # only the padding is filled: the pieces overwrite the rest
            for d, (lo, hi) in enumerate(self.pads):
                idx = [slice(None)] * len(shape)
                if lo:
                    idx[d] = slice(0, lo)
                    out[tuple(idx)] = self.fill
                if hi:
                    idx[d] = slice(shape[d] - hi, shape[d])
                    out[tuple(idx)] = self.fill
        for part in self.parts:
            a = first if part is self.parts[0] else self._piece(args, part)
            out[tuple(slice(b + o, b + o + n) for b, o, n in zip(before, part[3], a.shape))] = a
        return out

    def __call__(self, *args: Any) -> Any:
        window = self.window(args[:self.n_sources])
        # the op runs with this task's share of the cores (no oversubscription)
        return run_with_share(self.n_blocks, self.fn, window, self.pads, self.extras,
                              *args[self.n_sources:])


class PerBlock:
    """A constant that differs along the channel axis: ``items[j]`` for channel block j (a
    grouped op's weight rows of the groups that block holds)."""

    def __init__(self, items: Sequence[Any]):
        self.items = list(items)


def _offsets(chunks: Sequence[int]) -> List[int]:
    out = [0]
    for c in chunks:
        out.append(out[-1] + int(c))
    return out


def build(name: str, x: Any, plans: Sequence[Sequence[Block]], fn: Callable, meta: Any,
          consts: Sequence[Any] = (), aligned: Sequence[Any] = (),
          aligned_axes: Optional[Sequence[int]] = None, fill: Any = None,
          channel_axis: Optional[int] = None) -> Any:
    """A dask array whose block ``idx`` is ``fn(window, pads, extras, *consts, *aligned_blocks)``.

    ``plans[axis]`` lists the output blocks of each axis of ``x``; ``window`` is the block's
    gathered input (padded with ``fill`` by the assembly when ``fill`` is not None, else the
    pads are left to ``fn``); ``pads``/``extras`` the blocks' per-axis values. A ``PerBlock``
    constant passes its item for the block's index along ``channel_axis``. ``aligned``
    arrays are chunked as the output (their axis ``aligned_axes`` one chunk) and passed
    block by block."""
    from dask.highlevelgraph import HighLevelGraph
    import dask.array as da

    dsk: Dict[Any, Any] = {}
    const_keys: List[Any] = []  # a key, or a list of keys by channel block
    for i, c in enumerate(consts):
        if isinstance(c, PerBlock):
            const_keys.append([])
            for j, item in enumerate(c.items):
                dsk[(f"{name}-const", i, j)] = item
                const_keys[-1].append((f"{name}-const", i, j))
        else:
            dsk[(f"{name}-const", i)] = c
            const_keys.append((f"{name}-const", i))
    ndim = len(plans)
    csize = [list(map(int, c)) for c in x.chunks]

    # Every block's pieces: (chunk index, per-axis (lo, hi, rev), position in the window).
    block_pieces: Dict[tuple, list] = {}
    partial: Dict[tuple, Dict[tuple, int]] = {}  # chunk -> {piece slices: index}
    for idx in product(*(range(len(p)) for p in plans)):
        blocks = [plans[a][j] for a, j in enumerate(idx)]
        pos = [_offsets([p.hi - p.lo for p in b.pieces]) for b in blocks]
        pieces = []
        for choice in product(*(range(len(b.pieces)) for b in blocks)):
            ps = [blocks[a].pieces[c] for a, c in enumerate(choice)]
            chunk = tuple(p.chunk for p in ps)
            rng = tuple((p.lo, p.hi, p.rev) for p in ps)
            at = tuple(pos[a][c] for a, c in enumerate(choice))
            pieces.append((chunk, rng, at))
            whole = all(lo == 0 and hi == csize[a][chunk[a]] and not rev
                        for a, (lo, hi, rev) in enumerate(rng))
            if not whole:
                partial.setdefault(chunk, {}).setdefault(rng, len(partial.get(chunk, ())))
        block_pieces[idx] = pieces

    # Chunks that lend their partial pieces through a halo task.
    halo_name = f"{name}-halo"
    halo: Dict[tuple, Dict[tuple, int]] = {}
    for chunk, rngs in partial.items():
        size = 1
        for a, c in enumerate(chunk):
            size *= csize[a][c]
        lent = 0
        for rng in rngs:
            n = 1
            for lo, hi, _ in rng:
                n *= hi - lo
            lent += n
        if lent <= HALO_FRACTION * size:
            halo[chunk] = rngs
            dsk[(halo_name,) + chunk] = (
                HaloCut([tuple(_slice(*r) for r in rng) for rng in rngs]), (x.name,) + chunk)

    for idx, pieces in block_pieces.items():
        blocks = [plans[a][j] for a, j in enumerate(idx)]
        sources: List[Any] = []
        where: Dict[Any, int] = {}
        parts = []
        for chunk, rng, at in pieces:
            whole = all(lo == 0 and hi == csize[a][chunk[a]] and not rev
                        for a, (lo, hi, rev) in enumerate(rng))
            if not whole and chunk in halo:
                key, elem, sl = (halo_name,) + chunk, halo[chunk][rng], None
            else:
                key, elem = (x.name,) + chunk, None
                sl = None if whole else tuple(_slice(*r) for r in rng)
            if key not in where:
                where[key] = len(sources)
                sources.append(key)
            parts.append((where[key], elem, sl, at))
        al_keys = [(arr.name,) + tuple(0 if aligned_axes and a in aligned_axes else j
                                       for a, j in enumerate(idx)) for arr in aligned]
        runner = BlockTask(fn, len(sources), parts, tuple(b.window for b in blocks),
                           tuple(b.pad for b in blocks), tuple(b.extra for b in blocks), fill,
                           len(block_pieces))
        consts_here = [k[idx[channel_axis]] if isinstance(k, list) else k for k in const_keys]
        dsk[(name,) + idx] = (runner, *sources, *consts_here, *al_keys)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x, *aligned])
    chunks = tuple(tuple(b.size for b in p) for p in plans)
    return da.Array(graph, name, chunks=chunks, meta=meta)
