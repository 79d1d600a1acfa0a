"""Routes a call to the compiled CPU core or, for CuPy arrays, to the CUDA backend.

Both backends expose the same functions with the same arguments (those of convcore._core), so
the public API is written once. convcore.cuda is imported only when a CuPy array arrives."""
from __future__ import annotations

from typing import Any

from . import _core
from ._args import is_cupy


def call(op: str, *args: Any, **kwargs: Any) -> Any:
    if any(is_cupy(a) for a in args) or any(is_cupy(a) for a in kwargs.values()):
        from . import cuda

        return cuda.call(op, *args, **kwargs)
    return getattr(_core, op)(*args, **kwargs)
