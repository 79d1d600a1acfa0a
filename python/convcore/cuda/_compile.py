"""Which CUDA sources exist, which template instances the Python layer can ask for, and the
exact NVRTC options they are compiled with.

Imported without CuPy: tools/check_nvrtc.py and tests/test_nvrtc.py compile every
(source, dtype) module from here with the NVRTC library alone, with these same options and name
expressions, so the CI check cannot drift from what runs on a GPU."""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, Dict, List, Tuple

from .._info import get_include

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"

# C++ spelling of each supported dtype (numpy dtype name -> kernel template argument).
CTYPES = {
    "float16": "convcore::cuda::half_t",
    "float32": "float",
    "float64": "double",
}

# source file -> kernel templates it defines; each is instantiated as <T, transposed>.
SOURCES = {
    "conv_igemm.cu": ("conv_igemm",),
    "conv_direct.cu": ("conv_direct",),
}


def kernel_name(kernel: str, dtype: str, transposed: bool) -> str:
    """The name expression of one instance (also the key get_function looks it up by)."""
    return f"convcore::cuda::{kernel}<{CTYPES[dtype]}, {'true' if transposed else 'false'}>"


def source_of(kernel: str) -> str:
    for src, kernels in SOURCES.items():
        if kernel in kernels:
            return src
    raise KeyError(kernel)


def name_expressions(source: str, dtype: str) -> List[str]:
    """Every instance the Python layer can request from one (source, dtype) module."""
    return [kernel_name(k, dtype, t) for k in SOURCES[source] for t in (False, True)]


def modules() -> List[Tuple[str, str]]:
    """Every (source, dtype) module the Python layer can compile."""
    return [(src, dt) for src in SOURCES for dt in CTYPES]


def compile_options() -> Tuple[str, ...]:
    """NVRTC options of every module (CuPy appends its own -arch for the device)."""
    return ("-std=c++17", f"-I{get_include()}", f"-I{KERNEL_DIR}")


def _fingerprint() -> str:
    # CuPy's on-disk kernel cache keys on the code string and options only, not on the headers
    # it includes: hash them into the code so an edited header is never served stale.
    h = hashlib.sha256()
    core = Path(get_include()) / "convcore" / "core"
    for p in sorted(core.glob("*.hpp")) + sorted(KERNEL_DIR.glob("*.cuh")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def module_code(source: str) -> str:
    """The code string handed to the compiler for one source file."""
    text = (KERNEL_DIR / source).read_text()
    return f"// convcore headers {_fingerprint()}\n{text}"


_lock = threading.Lock()
_modules: Dict[Tuple[str, str], Any] = {}


def get_function(kernel: str, dtype: str, transposed: bool) -> Any:
    """The compiled kernel, compiling its (source, dtype) module on first use.

    One cupy.RawModule per (source, dtype) holds every instance of that file for that dtype;
    CuPy loads it lazily on each device and keeps its own on-disk cache, so a second call (or a
    second process) does not recompile."""
    import cupy

    src = source_of(kernel)
    key = (src, dtype)
    with _lock:
        mod = _modules.get(key)
        if mod is None:
            mod = cupy.RawModule(code=module_code(src), options=compile_options(),
                                 name_expressions=name_expressions(src, dtype))
            _modules[key] = mod
    return mod.get_function(kernel_name(kernel, dtype, transposed))


def compiled_modules() -> List[Tuple[str, str]]:
    """(source, dtype) modules compiled so far in this process."""
    with _lock:
        return sorted(_modules)
