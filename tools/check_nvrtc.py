#!/usr/bin/env python
"""Compile every shipped CUDA source with NVRTC on the CPU, as convcore.cuda does on a GPU.

Each (source, dtype) module is compiled with exactly the code string, options and name
expressions convcore.cuda._compile hands to cupy.RawModule, plus an -arch for PTX (CuPy adds the
device's own). No GPU and no CuPy needed: libnvrtc is loaded with ctypes from the
nvidia-cuda-nvrtc-cu12 wheel (the test extra installs it), from $CUDA_PATH, or from the
library path.

    python tools/check_nvrtc.py [--arch compute_80]      # exit status 1 on any failure
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import glob
import os
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent


def _candidates() -> List[str]:
    found: List[str] = []
    try:  # the PyPI wheel: nvidia/cuda_nvrtc/{lib,bin}
        import nvidia.cuda_nvrtc as pkg  # type: ignore[import-not-found]

        for base in list(pkg.__path__):
            found += sorted(glob.glob(os.path.join(base, "lib", "libnvrtc.so*")))
            found += sorted(glob.glob(os.path.join(base, "bin", "nvrtc64_*.dll")))
    except ImportError:
        pass
    for env in ("CUDA_PATH", "CUDA_HOME"):
        root = os.environ.get(env)
        if root:
            found += sorted(glob.glob(os.path.join(root, "lib64", "libnvrtc.so*")))
            found += sorted(glob.glob(os.path.join(root, "bin", "nvrtc64_*.dll")))
    found += sorted(glob.glob("/usr/local/cuda/lib64/libnvrtc.so*"))
    lib = ctypes.util.find_library("nvrtc")
    if lib:
        found.append(lib)
    # The builtins library is a dependency, not NVRTC itself.
    return [f for f in found if "builtins" not in os.path.basename(f)]


class NVRTC:
    """The few NVRTC entry points the check needs, through ctypes."""

    def __init__(self, path: str):
        # libnvrtc dlopens its builtins library by name; make the wheel's copy findable first.
        for b in sorted(glob.glob(os.path.join(os.path.dirname(path), "libnvrtc-builtins.so*"))):
            if ".alt." not in b:
                ctypes.CDLL(b, mode=ctypes.RTLD_GLOBAL)
        self.path = path
        self.lib = ctypes.CDLL(path)
        L = self.lib
        P = ctypes.c_void_p
        L.nvrtcGetErrorString.restype = ctypes.c_char_p
        L.nvrtcCreateProgram.argtypes = [ctypes.POINTER(P), ctypes.c_char_p, ctypes.c_char_p,
                                         ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        L.nvrtcAddNameExpression.argtypes = [P, ctypes.c_char_p]
        L.nvrtcCompileProgram.argtypes = [P, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
        L.nvrtcGetProgramLogSize.argtypes = [P, ctypes.POINTER(ctypes.c_size_t)]
        L.nvrtcGetProgramLog.argtypes = [P, ctypes.c_char_p]
        L.nvrtcGetPTXSize.argtypes = [P, ctypes.POINTER(ctypes.c_size_t)]
        L.nvrtcGetLoweredName.argtypes = [P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
        L.nvrtcDestroyProgram.argtypes = [ctypes.POINTER(P)]

    def version(self) -> Tuple[int, int]:
        a, b = ctypes.c_int(), ctypes.c_int()
        self.lib.nvrtcVersion(ctypes.byref(a), ctypes.byref(b))
        return a.value, b.value

    def _ok(self, r: int, what: str) -> None:
        if r != 0:
            raise RuntimeError(f"{what}: {self.lib.nvrtcGetErrorString(r).decode()}")

    def compile(self, code: str, name: str, options: Sequence[str],
                name_expressions: Sequence[str]) -> Tuple[bool, str, List[str], int]:
        """(ok, log, lowered names, PTX size) of one program."""
        L = self.lib
        prog = ctypes.c_void_p()
        self._ok(L.nvrtcCreateProgram(ctypes.byref(prog), code.encode(), name.encode(), 0, None,
                                      None), "nvrtcCreateProgram")
        try:
            for e in name_expressions:
                self._ok(L.nvrtcAddNameExpression(prog, e.encode()), f"nvrtcAddNameExpression({e})")
            opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
            r = L.nvrtcCompileProgram(prog, len(options), opts)
            size = ctypes.c_size_t()
            L.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
            buf = ctypes.create_string_buffer(size.value + 1)
            L.nvrtcGetProgramLog(prog, buf)
            log = buf.value.decode(errors="replace").strip()
            if r != 0:
                return False, f"{L.nvrtcGetErrorString(r).decode()}\n{log}", [], 0
            lowered = []
            for e in name_expressions:
                out = ctypes.c_char_p()
                self._ok(L.nvrtcGetLoweredName(prog, e.encode(), ctypes.byref(out)),
                         f"nvrtcGetLoweredName({e})")
                lowered.append(out.value.decode())
            ptx = ctypes.c_size_t()
            self._ok(L.nvrtcGetPTXSize(prog, ctypes.byref(ptx)), "nvrtcGetPTXSize")
            return True, log, lowered, int(ptx.value)
        finally:
            L.nvrtcDestroyProgram(ctypes.byref(prog))


def load_nvrtc() -> Optional[NVRTC]:
    """NVRTC from the first candidate that loads, or None when there is none."""
    for path in _candidates():
        try:
            return NVRTC(path)
        except OSError:
            continue
    return None


def check_module(nvrtc: NVRTC, source: str, dtype: str, arch: str = "compute_80"):
    """Compile one (source, dtype) module as CuPy would; returns (ok, log, lowered, ptx_bytes)."""
    from convcore.cuda import _compile

    options = list(_compile.compile_options()) + [f"-arch={arch}"]
    return nvrtc.compile(_compile.module_code(source), source, options,
                         _compile.name_expressions(source, dtype))


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="compute_80", help="virtual architecture for the PTX")
    args = ap.parse_args(argv)
    nvrtc = load_nvrtc()
    if nvrtc is None:
        print("libnvrtc not found: pip install nvidia-cuda-nvrtc-cu12", file=sys.stderr)
        return 2
    from convcore.cuda import _compile

    print(f"NVRTC {'.'.join(map(str, nvrtc.version()))} from {nvrtc.path}")
    failed = 0
    for source, dtype in _compile.modules():
        ok, log, lowered, ptx = check_module(nvrtc, source, dtype, args.arch)
        status = f"ok ({len(lowered)} kernels, {ptx} bytes of PTX)" if ok else "FAILED"
        print(f"{source:<16} {dtype:<8} {status}")
        if log:
            print("  " + log.replace("\n", "\n  "))
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    # As a script from a checkout, its python/ holds convcore. Only here: the tests load this
    # file as a module, and a python/ without _core put on their sys.path was inherited by every
    # process they spawned (Dask's LocalCluster workers then imported it and died: CI hung).
    if str(ROOT / "python") not in sys.path and (ROOT / "python" / "convcore").is_dir():
        sys.path.insert(0, str(ROOT / "python"))
    sys.exit(main())
