"""The Dask backend: every convcore op on a chunked ``dask.array.Array`` x, lazily.

``convcore._backend.call`` routes here when an argument is a Dask array (this package, and Dask
itself, are imported only then). The result is a lazy Dask array equal to the in-memory call;
nothing is computed until the user asks (``.compute()``, ``.store()``, ``.to_zarr()``). Each
output block is one task that gathers exactly the input window it reads (its halo, from the
core's own geometry functions), pads it at the true array edges only, and runs the in-memory op
on it. docs/dask.md explains the geometry and what is rechunked.

>>> import numpy as np, dask.array as da, convcore as cc
>>> x = da.ones((1, 1, 10, 10), chunks=(1, 1, 4, 4), dtype="f4")
>>> y = cc.conv2d(x, np.ones((1, 1, 3, 3), "f4"), padding=1)
>>> y.chunks[2:], float(y[0, 0, 0, 0].compute()), float(y[0, 0, 5, 5].compute())
(((4, 4, 2), (4, 4, 2)), 4.0, 9.0)
"""
from __future__ import annotations

from typing import Any

from ._draw import draw_halos

__all__ = ["call", "draw_halos"]


def call(op: str, *args: Any, **kwargs: Any) -> Any:
    """Run convcore op ``op`` with a Dask x (arguments as convcore._core.<op> takes them)."""
    from .._args import is_dask
    from ._graph import require_known_chunks
    from ._ops import OPS
    from ._reduce import squeeze_excitation

    ops = dict(OPS, squeeze_excitation=squeeze_excitation)
    if op not in ops:
        raise TypeError(f"convcore.{op} does not take Dask arrays")
    if args and is_dask(args[0]):  # x (a for filters)
        require_known_chunks(args[0], "a" if op == "filter" else "x")
    return ops[op](*args, **kwargs)
