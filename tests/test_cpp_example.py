"""C++ reuse: examples/cpp builds with find_package(convcore) from get_cmake_dir() and agrees
with Python; the public headers compile warning-free under -Wall -Wextra -Wpedantic."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convcore as cc

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cpp"

needs_cmake = pytest.mark.skipif(
    shutil.which("cmake") is None or shutil.which("ninja") is None
    # Ninja with MSVC needs a Visual Studio developer prompt (cibuildwheel's Windows tests have
    # none): skip there rather than fail to find a compiler.
    or (sys.platform == "win32" and "VCINSTALLDIR" not in os.environ),
    reason="cmake and ninja (and on Windows a VS developer prompt) are needed")


def example_inputs():
    """The data of examples/cpp/main.cpp, rebuilt in NumPy."""
    i = np.arange(3 * 16 * 16)
    x = (((i * 7) % 13 - 6) / 8.0).astype(np.float32).reshape(1, 3, 16, 16)
    j = np.arange(8 * 3 * 3 * 3)
    w = (((j * 5) % 11 - 5) / 16.0).astype(np.float32).reshape(8, 3, 3, 3)
    bias = (0.25 * (np.arange(8) % 3)).astype(np.float32)
    return x, w, bias


@needs_cmake
@pytest.mark.skipif(not EXAMPLE.is_dir(), reason="examples/ is part of the source checkout")
def test_cpp_example_matches_python(tmp_path):
    cmake_dir = cc.get_cmake_dir()
    assert (Path(cmake_dir) / "convcoreConfig.cmake").is_file()
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(EXAMPLE), "-B", str(build), "-G", "Ninja",
                    "-DCMAKE_BUILD_TYPE=Release", f"-Dconvcore_DIR={cmake_dir}"],
                   check=True, capture_output=True, text=True, timeout=300)
    r = subprocess.run(["cmake", "--build", str(build)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    out = subprocess.run([str(build / "conv_example")], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert "output shape: (1, 8, 16, 16)" in out
    assert "plan: same" in out, out  # ConvPlan<float> gives conv_forward's result exactly
    m = re.search(r"checksum: (\S+) (\S+)", out)
    assert m, out
    x, w, bias = example_inputs()
    y = cc.conv2d(x, w, bias, padding=1, activation="relu").astype(np.float64).ravel()
    expected = (y.sum(), ((np.arange(y.size) % 7 + 1) * y).sum())
    np.testing.assert_allclose([float(m.group(1)), float(m.group(2))], expected, rtol=1e-5)
    assert y.sum() > 0  # the ReLU output is not all zeros: the checksum means something


TU = """
#include <convcore/convcore.hpp>
// Instantiate the templates, so their bodies are checked too.
template void convcore::conv_forward<float>(const convcore::ConvSpec&, const float*,
    const float*, const float*, float*, convcore::Algorithm);
template void convcore::conv_forward<double>(const convcore::ConvSpec&, const double*,
    const double*, const double*, double*, convcore::Algorithm);
template class convcore::ConvPlan<float>;
template class convcore::ConvPlan<double>;
template class convcore::PointwisePlan<float>;
template class convcore::SeparablePlan<double>;
int main() { return 0; }
"""

COMPILERS = [c for c in ("g++", "clang++") if shutil.which(c)]


@pytest.mark.skipif(not COMPILERS, reason="no C++ compiler")
@pytest.mark.parametrize("compiler", COMPILERS)
@pytest.mark.parametrize("openmp", [False, True], ids=["serial", "openmp"])
def test_headers_compile_without_warnings(tmp_path, compiler, openmp):
    src = tmp_path / "tu.cpp"
    src.write_text(TU)
    cmd = [compiler, "-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only",
           "-I", cc.get_include(), str(src)]
    if openmp:
        probe = subprocess.run([compiler, "-fopenmp", "-x", "c++", "-fsyntax-only", "-"],
                               input="#include <omp.h>\nint main(){}", capture_output=True,
                               text=True)
        if probe.returncode != 0:
            pytest.skip(f"{compiler} has no OpenMP")
        cmd.insert(1, "-fopenmp")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
