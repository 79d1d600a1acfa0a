"""A stand-in for CuPy, for tests on machines without a GPU: arrays are NumPy arrays that report
themselves as CuPy arrays, and RawModule compiles the CUDA source with the host C++ compiler
against ../../emulate.hpp and runs the kernels on the CPU (see tests/cuda/test_cuda_emulated.py).

Only what convcore.cuda uses exists here. Kernel scalar arguments must be NumPy scalars, as they
must be for a real CuPy launch to pass the C type the kernel expects."""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import threading
import types
from pathlib import Path

import numpy as np

_convcore_emulated = True
_EMU_DIR = Path(__file__).resolve().parent.parent.parent
_REPO = _EMU_DIR.parents[2]
CACHE_DIR = Path(os.environ.get("CONVCORE_EMU_CACHE", _REPO / "build" / "cuda-emulation"))

float16, float32, float64 = np.float16, np.float32, np.float64


class _MemoryPointer:
    def __init__(self, ptr: int):
        self.ptr = ptr


class ndarray(np.ndarray):
    """A host array posing as a device array on device `_dev`."""

    _dev = 0

    def __array_finalize__(self, obj):
        self._dev = getattr(obj, "_dev", 0)

    @property
    def data(self):  # CuPy's MemoryPointer, not NumPy's buffer
        return _MemoryPointer(self.__array_interface__["data"][0])

    @property
    def device(self):
        return cuda.Device(self._dev)


def _wrap(a, dev=None):
    out = np.asarray(a).view(ndarray)
    out._dev = cuda._current if dev is None else dev
    return out


def asarray(a, dtype=None):
    if isinstance(a, ndarray) and (dtype is None or a.dtype == dtype):
        return a
    return _wrap(np.array(a, dtype=dtype))


def asnumpy(a):
    return np.array(np.asarray(a))


def ascontiguousarray(a):
    if a.flags.c_contiguous:
        return a
    return _wrap(np.ascontiguousarray(np.asarray(a)), a._dev)


def empty(shape, dtype=np.float64):
    # NaN (integers: an unlikely value): an element a kernel forgets shows up
    dt = np.dtype(dtype)
    return _wrap(np.full(shape, np.nan if dt.kind in "fc" else 77, dt))


def zeros(shape, dtype=np.float64):
    return _wrap(np.zeros(shape, dtype))


class _Device:
    def __init__(self, id=None):
        self.id = cuda._current if id is None else int(id)
        self.compute_capability = "80"

    def __enter__(self):
        self._prev = cuda._current
        cuda._current = self.id
        return self

    def __exit__(self, *exc):
        cuda._current = self._prev

    def __eq__(self, other):
        return isinstance(other, _Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)


def _device_count():
    return 2


def _properties(i):
    return {"name": b"convcore CPU emulation"}


cuda = types.SimpleNamespace(
    Device=_Device, _current=0,
    runtime=types.SimpleNamespace(getDeviceCount=_device_count, getDeviceProperties=_properties),
    get_current_stream=lambda: None)

# --------------------------------------------------------------------------- kernels

_SCALARS = {np.dtype(np.int64): ctypes.c_int64, np.dtype(np.int32): ctypes.c_int32,
            np.dtype(np.uint64): ctypes.c_uint64, np.dtype(np.uint32): ctypes.c_uint32,
            np.dtype(np.float64): ctypes.c_double, np.dtype(np.float32): ctypes.c_float}
_compile_lock = threading.Lock()
launches = []  # (name, grid, block) of every launch, for tests of the launch logic


def _compiler():
    for c in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if c and shutil.which(c):
            return c
    raise RuntimeError("no host C++ compiler for the CUDA emulation")


class _Function:
    def __init__(self, module, index, name):
        self.module, self.index, self.name = module, index, name

    def __call__(self, grid, block, args, shared_mem=0, stream=None):
        grid = tuple(grid) + (1,) * (3 - len(tuple(grid)))
        block = tuple(block) + (1,) * (3 - len(tuple(block)))
        keep, ptrs, sizes = [], [], []
        for i, a in enumerate(args):
            if isinstance(a, ndarray):
                v = ctypes.c_void_p(a.data.ptr)
            elif isinstance(a, np.generic) and a.dtype in _SCALARS:
                v = _SCALARS[a.dtype](a.item())
            else:
                raise TypeError(f"kernel argument {i} of {self.name} is {type(a).__name__}: pass "
                                "a device array or a NumPy scalar of the kernel's C type")
            keep.append(v)
            ptrs.append(ctypes.cast(ctypes.pointer(v), ctypes.c_void_p))
            sizes.append(ctypes.sizeof(v))
        n = len(args)
        fn = getattr(self.module.lib, f"convcore_emu_launch_{self.index}")
        fn.restype = ctypes.c_int
        r = fn((ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block),
               (ctypes.c_void_p * n)(*ptrs), (ctypes.c_longlong * n)(*sizes), ctypes.c_int(n))
        if r == -1:
            raise TypeError(f"{self.name}: wrong number of kernel arguments ({n})")
        if r < -1:
            raise TypeError(f"{self.name}: argument {-r - 2} has the wrong size "
                            f"({sizes[-r - 2]} bytes)")
        launches.append((self.name, grid, block))


class RawModule:
    def __init__(self, code, options=(), name_expressions=(), **kw):
        self.code, self.options, self.names = code, tuple(options), list(name_expressions)
        self._lib = None

    @property
    def lib(self):
        with _compile_lock:
            if self._lib is None:
                self._lib = ctypes.CDLL(str(self._build()))
        return self._lib

    def _build(self) -> Path:
        includes = [o[2:] for o in self.options if o.startswith("-I")]
        shim = (_EMU_DIR / "emulate.hpp").read_text()
        flags = ["-std=c++17", "-O1", "-shared", "-fPIC", "-w"]
        key = hashlib.sha256("\0".join([self.code, shim, *self.options, *self.names, *flags])
                             .encode()).hexdigest()[:20]
        lib = CACHE_DIR / f"emu_{key}.so"
        if lib.exists():
            return lib
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        src = CACHE_DIR / f"emu_{key}.cpp"
        wrappers = "".join(
            f'extern "C" int convcore_emu_launch_{i}(const unsigned* g, const unsigned* b, '
            f"void** a, const long long* s, int n) {{ return convcore_emu::launch(&{name}, g, b, "
            f"a, s, n); }}\n" for i, name in enumerate(self.names))
        src.write_text(f'#include "{_EMU_DIR / "emulate.hpp"}"\n{self.code}\n{wrappers}')
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        cmd = [_compiler(), *flags, *[f"-I{d}" for d in includes], str(src), "-o", str(tmp)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"emulation compile failed:\n{' '.join(cmd)}\n{r.stderr[-4000:]}")
        os.replace(tmp, lib)
        return lib

    def get_function(self, name):
        if name not in self.names:
            raise KeyError(f"{name} is not among the module's name expressions")
        return _Function(self, self.names.index(name), name)
