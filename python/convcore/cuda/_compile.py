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

import numpy as np

from .._info import get_include

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"

# C++ spelling of each supported dtype (numpy dtype name -> kernel template argument).
CTYPES = {
    "float16": "convcore::cuda::half_t",
    "float32": "float",
    "float64": "double",
}
# The 8-bit dtypes of the quantized kernels (only the sources in SOURCE_DTYPES use them).
INT_CTYPES = {
    "int8": "signed char",
    "uint8": "unsigned char",
}
_ALL_CTYPES = {**CTYPES, **INT_CTYPES}

# source file -> {kernel template: its instances}; an instance is the template arguments after
# the dtype T (bools spelled "true"/"false"). Every instance listed is compiled, so this is
# exactly the set the Python layer can request (and the NVRTC check compiles).
_T_ONLY = ((),)
_TRANSPOSED = (("false",), ("true",))
SOURCES: Dict[str, Dict[str, Tuple[Tuple[str, ...], ...]]] = {
    "conv_igemm.cu": {"conv_igemm": _TRANSPOSED},
    "conv_direct.cu": {"conv_direct": _TRANSPOSED},
    "conv_depthwise.cu": {"conv_depthwise": _T_ONLY},
    "variants.cu": {"channel_shuffle": _T_ONLY, "se_pool": _T_ONLY, "se_fc": _T_ONLY,
                    "se_scale": _T_ONLY, "fuse_asymmetric": _T_ONLY},
    "deform.cu": {"deform_igemm": _T_ONLY},
    # T is x's type; the instance is (w's type, y's type): every int8/uint8 combination.
    "quantized.cu": {"quantized_conv": tuple((tw, ty) for tw in INT_CTYPES.values()
                                             for ty in INT_CTYPES.values())},
}
# The dtypes (of T) each source is compiled for; CTYPES (the float dtypes) when not listed.
SOURCE_DTYPES: Dict[str, Tuple[str, ...]] = {"quantized.cu": tuple(INT_CTYPES)}


def _spell(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    return str(v)


def kernel_name(kernel: str, dtype: str, *args: Any) -> str:
    """The name expression of one instance (also the key get_function looks it up by):
    kernel_name("conv_igemm", "float32", True) is convcore::cuda::conv_igemm<float, true>."""
    targs = ", ".join([_ALL_CTYPES[dtype]] + [_spell(a) for a in args])
    return f"convcore::cuda::{kernel}<{targs}>"


def source_of(kernel: str) -> str:
    for src, kernels in SOURCES.items():
        if kernel in kernels:
            return src
    raise KeyError(kernel)


def name_expressions(source: str, dtype: str) -> List[str]:
    """Every instance the Python layer can request from one (source, dtype) module."""
    return [kernel_name(k, dtype, *inst) for k, insts in SOURCES[source].items() for inst in insts]


def dtypes_of(source: str) -> Tuple[str, ...]:
    """The dtypes (of the template argument T) one source is compiled for."""
    return SOURCE_DTYPES.get(source, tuple(CTYPES))


def modules() -> List[Tuple[str, str]]:
    """Every (source, dtype) module the Python layer can compile."""
    return [(src, dt) for src in SOURCES for dt in dtypes_of(src)]


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


def get_function(kernel: str, dtype: str, *args: Any) -> Any:
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
    return mod.get_function(kernel_name(kernel, dtype, *args))


def compiled_modules() -> List[Tuple[str, str]]:
    """(source, dtype) modules compiled so far in this process."""
    with _lock:
        return sorted(_modules)
