"""Every shipped CUDA source compiles, on machines without a GPU.

- NVRTC (the compiler CuPy uses at run time), loaded with ctypes from the nvidia-cuda-nvrtc-cu12
  wheel of the test extra: each (source, dtype) module with exactly the code, options and name
  expressions convcore.cuda hands to cupy.RawModule. Skipped only when libnvrtc is not found.
- nvcc, when it is on PATH: each source with every instance forced, to PTX.
"""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from convcore.cuda import _compile

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_nvrtc", ROOT / "tools" / "check_nvrtc.py")
check_nvrtc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_nvrtc)


@pytest.fixture(scope="module")
def nvrtc():
    lib = check_nvrtc.load_nvrtc()
    if lib is None:
        pytest.skip("libnvrtc not found (pip install nvidia-cuda-nvrtc-cu12)")
    return lib


def test_every_source_is_listed():
    shipped = {p.name for p in _compile.KERNEL_DIR.glob("*.cu")}
    assert shipped == set(_compile.SOURCES), "a .cu file the Python layer does not know about"


@pytest.mark.parametrize("source,dtype", _compile.modules())
def test_nvrtc_compiles(nvrtc, source, dtype):
    ok, log, lowered, ptx = check_nvrtc.check_module(nvrtc, source, dtype, "compute_80")
    assert ok, log
    assert len(lowered) == len(_compile.name_expressions(source, dtype)) and ptx > 0
    assert all(name.startswith("_Z") for name in lowered)  # the mangled kernel symbols


def test_nvrtc_rejects_a_broken_kernel(nvrtc):
    # The check must be able to fail: a kernel with a type error does not compile.
    code = _compile.module_code("conv_direct.cu") + "\n__global__ void broken() { int* p = 1.5; }\n"
    ok, log, _, _ = nvrtc.compile(code, "broken.cu", list(_compile.compile_options()) +
                                  ["-arch=compute_80"], [])
    assert not ok and "error" in log


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
@pytest.mark.parametrize("source", list(_compile.SOURCES))
def test_nvcc_compiles(tmp_path, source):
    # nvcc has no name expressions: taking each instance's address instantiates it.
    uses = "".join(f"void* convcore_use_{i} = (void*)&{name};\n"
                   for i, name in enumerate(n for dt in _compile.dtypes_of(source)
                                            for n in _compile.name_expressions(source, dt)))
    src = tmp_path / f"all_{source}"
    src.write_text(f"{_compile.module_code(source)}\n{uses}")
    includes = [o for o in _compile.compile_options() if o.startswith("-I")]
    cmd = ["nvcc", "-std=c++17", "--ptx", "-arch=compute_80", *includes, str(src), "-o",
           str(tmp_path / "out.ptx")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
