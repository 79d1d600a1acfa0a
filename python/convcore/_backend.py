"""Routes a call to the compiled CPU core, for CuPy arrays to the CUDA backend, and for Dask
arrays to the Dask backend (which runs the op block by block through this same function).

The backends expose the same functions with the same arguments (those of convcore._core), so
the public API is written once. convcore.cuda is imported only when a CuPy array arrives,
convcore.dask (and Dask) only when a Dask array does."""
from __future__ import annotations

from typing import Any

from . import _core
from ._args import is_cupy, is_dask


def call(op: str, *args: Any, **kwargs: Any) -> Any:
    if any(is_dask(a) for a in args):
        from . import dask

        return dask.call(op, *args, **kwargs)
    if any(is_cupy(a) for a in args) or any(is_cupy(a) for a in kwargs.values()):
        from . import cuda

        return cuda.call(op, *args, **kwargs)
    return getattr(_core, op)(*args, **kwargs)
