"""Build and run-time facts, threads, and where the C++ headers are."""
from __future__ import annotations

import importlib.util
import numbers
from pathlib import Path
from typing import Any, Dict

import numpy as np

from . import _core

_HERE = Path(__file__).resolve().parent


def info() -> Dict[str, Any]:
    """Build and run-time facts: version, SIMD level, OpenMP, threads, CUDA availability.

    >>> import convcore as cc
    >>> sorted(k for k in cc.info() if k in ("version", "openmp", "threads"))
    ['openmp', 'threads', 'version']
    """
    d = dict(_core.build_info())
    d["threads"] = _core.get_num_threads()
    d["simd"] = dict(_core.simd_info())  # level chosen at import, levels this CPU supports
    d["include"] = get_include()
    d["cupy_installed"] = importlib.util.find_spec("cupy") is not None
    if d["cupy_installed"]:
        d.update(_cuda_info())
    return d


def _cuda_info() -> Dict[str, Any]:
    # CuPy is imported here, on request, never by `import convcore`.
    try:
        import cupy

        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # no driver, or a CuPy built for another CUDA: no usable device
        count = 0
    if count == 0:
        return {"cuda_devices": 0}
    from .cuda import device_info

    return {"cuda_devices": count, **device_info()}


def set_num_threads(n: int) -> None:
    """Threads used by every op from now on (0: all cores). Process-wide.

    ``n`` is an int from 0 to ``max(32, 4 * cores)`` (cores: ``cc.info()["max_threads"]``);
    more is a ValueError naming the bound: extra threads only cost memory, and an OpenMP
    runtime that cannot create the threads it was asked for ends the process.

    >>> import convcore as cc
    >>> cc.set_num_threads(1); cc.get_num_threads()
    1
    >>> cc.set_num_threads(0)
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an int, got {n!r}")
    _core.set_num_threads(int(n))  # the core refuses n < 0 and n above its bound, naming it


def get_num_threads() -> int:
    """Threads the ops use.

    >>> import convcore as cc
    >>> cc.get_num_threads() >= 1
    True
    """
    return int(_core.get_num_threads())


def get_include() -> str:
    """Directory holding ``convcore/convcore.hpp``, for ``-I`` (header-only: link nothing).

    >>> import os, convcore as cc
    >>> os.path.exists(os.path.join(cc.get_include(), "convcore", "convcore.hpp"))
    True
    """
    installed = _HERE / "include"
    if (installed / "convcore" / "convcore.hpp").exists():
        return str(installed)
    source_tree = _HERE.parent.parent / "cpp" / "include"  # running from a checkout
    return str(source_tree)


def get_cmake_dir() -> str:
    """Directory of ``convcoreConfig.cmake``, for ``find_package(convcore CONFIG)``
    (pass it as ``-Dconvcore_DIR=...``).

    >>> import os, convcore as cc
    >>> os.path.isfile(os.path.join(cc.get_cmake_dir(), "convcoreConfig.cmake"))
    True
    """
    installed = _HERE / "cmake"
    if (installed / "convcoreConfig.cmake").exists():
        return str(installed)
    return str(_HERE.parent.parent / "cmake" / "source-tree")  # running from a checkout
