"""convcore: every convolution variant, fast, on NumPy (and CuPy) arrays.

>>> import numpy as np, convcore as cc
>>> cc.conv2d(np.ones((1, 3, 7, 7), "f4"), np.ones((128, 3, 3, 3), "f4")).shape
(1, 128, 5, 5)
"""
from ._conv import (conv, conv1d, conv2d, conv3d, conv_transpose, conv_transpose1d,
                    conv_transpose2d, conv_transpose3d)
from ._filter import convolve, convolve2d, correlate, correlate2d
from ._deform import deform_conv2d
from ._depthwise import depthwise_conv2d, depthwise_separable_conv2d, pointwise_conv
from ._separable import KernelFactors, flattened_conv2d, separate_kernel, spatially_separable_conv2d
from ._info import get_cmake_dir, get_include, get_num_threads, info, set_num_threads
from .arithmetic import Cost, ReceptiveField, cost, output_shape, receptive_field
from ._shuffle import channel_shuffle, shuffled_grouped_conv
from ._asymmetric import asymmetric_conv2d, fuse_asymmetric
from ._inception import inception
from ._se import squeeze_excitation
from ._conv_matrix import conv_matrix, transposed_overlap
from ._quantized import quantized_conv2d
from ._plan import (Plan, conv_plan, conv_transpose_plan, depthwise_conv2d_plan,
                    depthwise_separable_conv2d_plan, pointwise_conv_plan)
from ._plan_deform import DeformConvPlan, deform_conv2d_plan
from ._plan_quantized import QuantizedConvPlan, quantized_conv2d_plan
from ._qparams import choose_qparams, dequantize, quantize
from . import kernels

__version__ = "0.1.0"

__all__ = [
    "conv", "conv1d", "conv2d", "conv3d",
    "conv_transpose", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "convolve", "correlate", "convolve2d", "correlate2d",
    "output_shape", "cost", "receptive_field", "Cost", "ReceptiveField",
    "info", "set_num_threads", "get_num_threads", "get_include", "get_cmake_dir",
    "channel_shuffle", "shuffled_grouped_conv",
    "asymmetric_conv2d", "fuse_asymmetric",
    "inception",
    "squeeze_excitation",
    "conv_matrix", "transposed_overlap",
    "kernels",
    "quantized_conv2d", "quantize", "dequantize", "choose_qparams",
    "deform_conv2d",
    "conv_plan", "conv_transpose_plan", "depthwise_conv2d_plan", "pointwise_conv_plan",
    "depthwise_separable_conv2d_plan", "Plan", "quantized_conv2d_plan", "QuantizedConvPlan",
    "deform_conv2d_plan", "DeformConvPlan",
    "depthwise_conv2d", "pointwise_conv", "depthwise_separable_conv2d",
    "spatially_separable_conv2d", "separate_kernel", "KernelFactors", "flattened_conv2d",
]
