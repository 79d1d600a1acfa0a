"""The CUDA backend: convcore's ops on CuPy arrays, as CuPy raw kernels.

convcore._backend.call routes here whenever an argument is a cupy.ndarray, with the same
arguments as the op's convcore._core binding; the result is a CuPy array on the inputs' device,
computed on its current stream. The kernels (kernels/*.cu) are CUDA C++ that #include the
C++ core's index math (convcore/core/*.hpp) and are compiled at run time by NVRTC through
cupy.RawModule, one module per (source, dtype), cached in memory and by CuPy on disk.

Importing this package does not import CuPy (tools/check_nvrtc.py uses _compile alone);
`call` does, on first use.

Ops: conv, conv_transpose, filter (convolve / correlate), channel_shuffle,
shuffled_grouped_conv, squeeze_excitation, asymmetric_conv2d, fuse_asymmetric, depthwise_conv2d
(once the core has it), deform_conv2d, quantized_conv, and pointwise_conv,
depthwise_separable_conv2d, spatially_separable_conv2d, flattened_conv2d (compositions of the
conv kernels). Kernels: conv_igemm (tiled implicit
GEMM), conv_direct (one thread per output: single-channel filtering, any geometry),
conv_depthwise (groups == C_in), the small kernels of variants.cu, deform_igemm (deform.cu) and
quantized_conv (quantized.cu). Other ops reuse them through convcore.cuda._ops.launch with a spec from
the C++ core.
"""
from __future__ import annotations

from typing import Any

from ._compile import (CTYPES, KERNEL_DIR, SOURCES, compile_options, kernel_name, module_code,
                       modules, name_expressions)

__all__ = ["call", "compile_options", "name_expressions", "modules", "module_code",
           "kernel_name", "KERNEL_DIR", "SOURCES", "CTYPES", "device_info"]


def call(op: str, *args: Any, **kwargs: Any) -> Any:
    """Run convcore op `op` on CuPy arrays (arguments as convcore._core.<op> takes them)."""
    from . import _ops

    return _ops.call(op, *args, **kwargs)


def device_info() -> dict:
    """The current device's name and compute capability, and whether the kernels compile."""
    from . import _ops

    return _ops.device_info()
