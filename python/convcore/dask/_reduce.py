"""squeeze_excitation on a Dask x: a global pool, so not a halo. A reduction pass gives the
per-image channel means (float64, as the core accumulates), the excitation runs once per batch
chunk on those (N, C) values, and the scaling is an elementwise product block by block."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import _graph
from ._ops import _probe, layout


def _excite(z: Any, w1: Any, b1: Any, w2: Any, b2: Any, dtype: Any) -> Any:
    """The core's excitation on pooled z (n, C), in float64: sigmoid(w2 relu(w1 z + b1) + b2)."""
    xp = _graph.array_module(z)
    w1 = w1.reshape(w1.shape[0], -1).astype(np.float64)
    w2 = w2.reshape(w2.shape[0], -1).astype(np.float64)
    h = z @ w1.T
    if b1 is not None:
        h = h + b1.astype(np.float64)
    h = xp.maximum(h, 0)
    a = h @ w2.T
    if b2 is not None:
        a = a + b2.astype(np.float64)
    return (1.0 / (1.0 + xp.exp(-a))).astype(dtype)


def squeeze_excitation(x: Any, w1: Any, b1: Any, w2: Any, b2: Any,
                       channels_last: bool = False) -> Any:
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    probe = _probe("squeeze_excitation", [x, w1, b1, w2, b2, channels_last])
    lay = layout(x.ndim, channels_last)
    size = int(np.prod([x.shape[a] for a in lay.spatial]))
    z = x.astype(np.float64).sum(axis=tuple(lay.spatial)) * (1.0 / size if size else 0.0)
    z = z.rechunk({1: -1})
    name = "convcore-excite-" + tokenize(z.name, w1, b1, w2, b2)
    dsk: dict = {}
    keys = []
    for i, c in enumerate((w1, b1, w2, b2)):
        dsk[(name + "-const", i)] = c
        keys.append((name + "-const", i))
    for i in range(len(z.chunks[0])):
        dsk[(name, i, 0)] = (_excite, (z.name, i, 0), *keys, probe.dtype)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[z])
    s = da.Array(graph, name, chunks=z.chunks, meta=z._meta.astype(probe.dtype))
    shape = [1] * x.ndim
    shape[lay.batch], shape[lay.channel] = x.shape[0], x.shape[lay.channel]
    s = s.reshape(tuple(shape))
    return (x * s).astype(probe.dtype, copy=False)
