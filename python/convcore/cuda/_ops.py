"""The conv family on CuPy arrays: argument checks that concern arrays (dtype, device, `out`),
geometry from the C++ core, and kernel launches on the current stream of the inputs' device.

Nothing here synchronises with the host or copies between host and device: the spec travels as
kernel arguments, outputs are allocated with cupy.empty, and a launch returns at once.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cupy
import numpy as np

from .. import _core
from . import _compile

DTYPES = tuple(_compile.CTYPES)
_THREADS = 256
_TILE = 64  # conv_igemm's block tile along both M and P (kGemmBM, kGemmBN)
_MAX_GRID_YZ = 65535
_MAX_K = 2**31 - 1  # conv_igemm splits the reduction index in 32 bits (FastDiv)
_DIRECT_MAX_M = 8  # below this many output channels per group the GEMM tile is mostly idle
_ALGORITHMS = ("auto", "direct", "reference", "implicit_gemm", "im2col", "gemm")


# ----------------------------------------------------------------------------- array checks

def _dtype_name(a: Any) -> str:
    return np.dtype(a.dtype).name


def check_arrays(first: Tuple[Any, str], *others: Tuple[Any, str]) -> str:
    """The common dtype of the named CuPy arrays (None skipped); TypeError on an unsupported or
    mixed dtype, ValueError when they live on different devices."""
    a, an = first
    dt = _dtype_name(a)
    if dt not in DTYPES:
        raise TypeError(f"{an} must be a float16, float32 or float64 array, got dtype {dt}")
    dev = a.device.id
    for b, bn in others:
        if b is None:
            continue
        if not isinstance(b, cupy.ndarray):
            raise TypeError(f"{bn} must be a CuPy array like {an}, got {type(b).__name__}")
        if _dtype_name(b) != dt:
            raise TypeError(f"{bn} has dtype {_dtype_name(b)} but {an} has {dt}; they must match "
                            "(convcore never casts silently)")
        if b.device.id != dev:
            raise ValueError(f"{bn} is on CUDA device {b.device.id} but {an} is on device {dev}; "
                             "move them to one device first")
    return dt


def _span(a: Any) -> Tuple[int, int]:
    return a.data.ptr, a.data.ptr + a.nbytes


def output_array(shape: Sequence[int], dtype: str, out: Any, device: int,
                 inputs: Sequence[Any]) -> Any:
    """A fresh C-contiguous output, or the user's `out` once it is checked to fit exactly."""
    shape = tuple(int(v) for v in shape)
    if out is None:
        return cupy.empty(shape, dtype)
    if not isinstance(out, cupy.ndarray):
        raise TypeError(f"out must be a CuPy array or None (the inputs are CuPy arrays), got "
                        f"{type(out).__name__}")
    if _dtype_name(out) != dtype:
        raise TypeError(f"out must have dtype {dtype}, got {_dtype_name(out)}")
    if tuple(out.shape) != shape:
        raise ValueError(f"out must have shape {shape}, got {tuple(out.shape)}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if out.device.id != device:
        raise ValueError(f"out is on CUDA device {out.device.id} but the inputs are on {device}")
    if out.nbytes:
        lo, hi = _span(out)
        for a in inputs:
            if a is not None and a.nbytes:
                alo, ahi = _span(a)
                if lo < ahi and alo < hi:
                    raise ValueError("out must not share memory with an input")
    return out


def bias_length(bias: Any) -> int:
    if bias is None:
        return -1
    if bias.ndim != 1:
        raise ValueError(f"bias must be 1-D (C_out,), got {bias.ndim} dimensions")
    return int(bias.shape[0])


# ----------------------------------------------------------------------------- launching

def _widen(v: Sequence[int], nd: int, fill: int) -> List[int]:
    return [fill] * (3 - nd) + [int(t) for t in v]


def spec_args(spec: Any) -> Tuple[Any, ...]:
    """The spec as the scalars of CONVCORE_CUDA_SPEC_PARAMS (kernels/common.cuh), in order and
    with the C types spelled out, so CuPy passes exactly what the kernel reads."""
    nd = spec.nd
    i64 = np.int64
    vals = [spec.N, spec.C_in, spec.C_out, spec.groups]
    vals += _widen(spec.in_size, nd, 1) + _widen(spec.kernel, nd, 1) + _widen(spec.out_size, nd, 1)
    vals += _widen(spec.stride, nd, 1) + _widen(spec.dilation, nd, 1) + _widen(spec.pad_lo, nd, 0)
    return tuple(i64(v) for v in vals) + (
        np.int32(spec.padding_mode_id), np.float64(spec.fill), np.int32(bool(spec.flip)),
        np.int32(bool(spec.channels_last)), np.int32(spec.activation))


def choose_kernel(spec: Any, transposed: bool, algorithm: str) -> str:
    """conv_igemm or conv_direct for this geometry (see docs/cuda.md)."""
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(repr(a) for a in _ALGORITHMS)} "
                         f"on CUDA, got {algorithm!r}")
    if algorithm in ("direct", "reference"):
        return "conv_direct"
    cpg, opg = spec.C_in // spec.groups, spec.C_out // spec.groups
    if algorithm == "auto" and not transposed and cpg == 1:
        return "conv_depthwise"  # groups == C_in: one input channel per output, no GEMM to tile
    M = cpg if transposed else opg
    K = (opg if transposed else cpg) * int(np.prod(spec.kernel))
    fits = (K <= _MAX_K and spec.groups <= _MAX_GRID_YZ and -(-M // _TILE) <= _MAX_GRID_YZ)
    if not fits:
        return "conv_direct"  # a geometry the GEMM's grid or 32-bit reduction index cannot hold
    if algorithm == "auto" and M <= _DIRECT_MAX_M:
        return "conv_direct"
    return "conv_igemm"


def launch(spec: Any, x: Any, w: Any, bias: Any, y: Any, *, transposed: bool = False,
           algorithm: str = "auto", out_shuffle: int = 0) -> None:
    """Run a validated spec (from _core.conv_spec / filter_spec) on C-contiguous CuPy arrays of
    one dtype in the spec's layout, writing y, on the current stream. For other ops built on
    these kernels (depthwise, pointwise, ...): build the spec with the core, then call this.
    out_shuffle = g > 0 stores output channel c at the core's shuffled_channel(c, C_out, g)
    (channel_shuffle folded into the write)."""
    kernel = choose_kernel(spec, transposed, algorithm)
    if y.size == 0:
        return
    dtype = _dtype_name(x)
    cpg, opg = spec.C_in // spec.groups, spec.C_out // spec.groups
    ysize = int(np.prod(spec.in_size if transposed else spec.out_size))
    has_bias = bias is not None
    args = (x, w, bias if has_bias else y, y, np.int32(has_bias),
            np.int32(out_shuffle)) + spec_args(spec)
    flags = () if kernel == "conv_depthwise" else (transposed,)
    fn = _compile.get_function(kernel, dtype, *flags)
    if kernel == "conv_igemm":
        M = cpg if transposed else opg
        P = spec.N * ysize
        grid = (-(-P // _TILE), -(-M // _TILE), spec.groups)
    else:
        total = int(y.size)
        grid = (min(-(-total // _THREADS), 1 << 20), 1, 1)
    fn(tuple(int(g) for g in grid), (_THREADS, 1, 1), args)


# ----------------------------------------------------------------------------- the ops

def _conv_family(transposed: bool, x: Any, w: Any, bias: Any, out: Any, options: Any,
                 algorithm: str) -> Any:
    if not isinstance(x, cupy.ndarray):
        raise TypeError(f"x must be a CuPy array like the other inputs, got {type(x).__name__}")
    dtype = check_arrays((x, "x"), (w, "w"), (bias, "bias"))
    # The core refuses a padding mode that would pad an empty dimension; an empty batch gives an
    # empty result (launch returns before any kernel), as on the CPU.
    spec = _core.conv_spec(tuple(x.shape), tuple(w.shape), options, bias_length(bias), transposed)
    device = x.device.id
    with cupy.cuda.Device(device):
        y = output_array(_core.output_shape(spec, transposed), dtype, out, device, (x, w, bias))
        xc, wc = cupy.ascontiguousarray(x), cupy.ascontiguousarray(w)
        bc = None if bias is None else cupy.ascontiguousarray(bias)
        launch(spec, xc, wc, bc, y, transposed=transposed, algorithm=algorithm)
    return y


def conv(x: Any, w: Any, bias: Any, out: Any, options: Any, algorithm: str = "auto") -> Any:
    """convcore._core.conv on CuPy arrays."""
    return _conv_family(False, x, w, bias, out, options, algorithm)


def conv_transpose(x: Any, w: Any, bias: Any, out: Any, options: Any,
                   algorithm: str = "auto") -> Any:
    """convcore._core.conv_transpose on CuPy arrays."""
    return _conv_family(True, x, w, bias, out, options, algorithm)


def filter(a: Any, k: Any, mode: str, boundary: str, fillvalue: float,
           convolve: bool) -> Any:
    """convcore._core.filter (convolve / correlate) on CuPy arrays."""
    if not isinstance(a, cupy.ndarray):
        raise TypeError(f"a must be a CuPy array like k, got {type(a).__name__}")
    dtype = check_arrays((a, "a"), (k, "k"))
    spec = _core.filter_spec(tuple(a.shape), tuple(k.shape), mode, boundary, float(fillvalue),
                             bool(convolve))
    device = a.device.id
    with cupy.cuda.Device(device):
        y = cupy.empty(tuple(spec.out_size), dtype)
        launch(spec, cupy.ascontiguousarray(a), cupy.ascontiguousarray(k), None, y)
    return y


# ----------------------------------------------------------------------------- variant ops

def _launch_1d(kernel: str, dtype: str, total: int, args: Tuple[Any, ...]) -> None:
    """A grid-stride kernel of variants.cu over `total` elements."""
    if total == 0:
        return
    grid = (min(-(-total // _THREADS), 1 << 20), 1, 1)
    _compile.get_function(kernel, dtype)(grid, (_THREADS, 1, 1), args)


def _acc_dtype(dtype: str) -> str:
    return "float32" if dtype == "float16" else dtype


def _vector_length(b: Any, name: str) -> int:
    if b is None:
        return -1
    if b.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got {b.ndim} dimensions")
    return int(b.shape[0])


def _require_cupy(a: Any, name: str) -> None:
    if not isinstance(a, cupy.ndarray):
        raise TypeError(f"{name} must be a CuPy array like the other inputs, got "
                        f"{type(a).__name__}")


def _layout(shape: Sequence[int], channels_last: bool) -> Tuple[int, int, int]:
    """(N, C, S) of an (N, C, *spatial) or (N, *spatial, C) shape the core has validated."""
    c_axis = len(shape) - 1 if channels_last else 1
    S = int(np.prod([v for d, v in enumerate(shape) if d not in (0, c_axis)]))
    return int(shape[0]), int(shape[c_axis]), S


def _run_conv_spec(spec: Any, x: Any, w: Any, bias: Any, algorithm: str,
                   out_shuffle: int = 0) -> Any:
    """A conv from a validated spec on CuPy arrays of one dtype and device."""
    # (An empty dimension that a padding mode would pad is refused by the core's spec.)
    y = cupy.empty(tuple(int(v) for v in _core.output_shape(spec, False)), _dtype_name(x))
    bc = None if bias is None else cupy.ascontiguousarray(bias)
    launch(spec, cupy.ascontiguousarray(x), cupy.ascontiguousarray(w), bc, y,
           algorithm=algorithm, out_shuffle=out_shuffle)
    return y


def channel_shuffle(x: Any, groups: int, channels_last: bool = False) -> Any:
    """convcore._core.channel_shuffle on a CuPy array: one index-mapped copy."""
    _require_cupy(x, "x")
    dtype = check_arrays((x, "x"))
    _core.channel_shuffle_shape(tuple(x.shape), int(groups), bool(channels_last))  # validates
    N, C, S = _layout(x.shape, bool(channels_last))
    with cupy.cuda.Device(x.device.id):
        y = cupy.empty(tuple(x.shape), dtype)
        i64 = np.int64
        _launch_1d("channel_shuffle", dtype, N * C * S,
                   (cupy.ascontiguousarray(x), y, i64(N), i64(C), i64(S), i64(groups),
                    np.int32(bool(channels_last))))
    return y


def shuffled_grouped_conv(x: Any, w: Any, bias: Any, options: Any,
                          algorithm: str = "auto") -> Any:
    """convcore._core.shuffled_grouped_conv on CuPy arrays: the conv kernels with the channel
    shuffle folded into their store (out_shuffle)."""
    _require_cupy(x, "x")
    check_arrays((x, "x"), (w, "w"), (bias, "bias"))
    spec = _core.shuffled_grouped_conv_spec(tuple(x.shape), tuple(w.shape), options,
                                            bias_length(bias))
    with cupy.cuda.Device(x.device.id):
        return _run_conv_spec(spec, x, w, bias, algorithm,
                              out_shuffle=spec.groups if spec.groups > 1 else 0)


def _fuse(sq: Any, hor: Any, ver: Any, k: int) -> Any:
    dtype = _dtype_name(sq)
    W = cupy.empty(tuple(sq.shape), dtype)
    filters = int(sq.shape[0]) * int(sq.shape[1])
    _launch_1d("fuse_asymmetric", dtype, filters * k * k,
               (cupy.ascontiguousarray(sq), cupy.ascontiguousarray(hor),
                cupy.ascontiguousarray(ver), W, np.int64(filters), np.int64(k)))
    return W


def fuse_asymmetric(w_square: Any, w_hor: Any, w_ver: Any) -> Any:
    """convcore._core.fuse_asymmetric on CuPy arrays (a device kernel; nothing leaves it)."""
    _require_cupy(w_square, "w_square")
    check_arrays((w_square, "w_square"), (w_hor, "w_hor"), (w_ver, "w_ver"))
    k = _core.check_asymmetric_weights(tuple(w_square.shape), tuple(w_hor.shape),
                                       tuple(w_ver.shape))
    with cupy.cuda.Device(w_square.device.id):
        return _fuse(w_square, w_hor, w_ver, int(k))


def asymmetric_conv2d(x: Any, w_square: Any, w_hor: Any, w_ver: Any, bias: Any, options: Any,
                      algorithm: str = "auto") -> Any:
    """convcore._core.asymmetric_conv2d on CuPy arrays: the fused kernel built on the device,
    then one conv."""
    _require_cupy(x, "x")
    check_arrays((x, "x"), (w_square, "w_square"), (w_hor, "w_hor"), (w_ver, "w_ver"),
                 (bias, "bias"))
    spec = _core.asymmetric_spec(tuple(x.shape), tuple(w_square.shape), tuple(w_hor.shape),
                                 tuple(w_ver.shape), options, bias_length(bias))
    with cupy.cuda.Device(x.device.id):
        W = _fuse(w_square, w_hor, w_ver, int(w_square.shape[2]))
        return _run_conv_spec(spec, x, W, bias, algorithm)


def squeeze_excitation(x: Any, w1: Any, b1: Any, w2: Any, b2: Any,
                       channels_last: bool = False) -> Any:
    """convcore._core.squeeze_excitation on CuPy arrays: pool, FC + ReLU, FC + sigmoid and the
    channel scaling as four launches; the (N, C) and (N, C/r) intermediates stay on the device
    in the accumulator type (float32 for float16)."""
    _require_cupy(x, "x")
    dtype = check_arrays((x, "x"), (w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))
    N, C, S, R = (int(v) for v in _core.squeeze_excitation_spec(
        tuple(x.shape), tuple(w1.shape), _vector_length(b1, "b1"), tuple(w2.shape),
        _vector_length(b2, "b2"), bool(channels_last)))
    i64, cl = np.int64, np.int32(bool(channels_last))
    with cupy.cuda.Device(x.device.id):
        y = cupy.empty(tuple(x.shape), dtype)
        if N * C == 0:
            return y
        acc = _acc_dtype(dtype)
        z, s = cupy.empty((N, C), acc), cupy.empty((N, C), acc)
        h = cupy.empty((N, R), acc)
        xc = cupy.ascontiguousarray(x)
        w1c, w2c = cupy.ascontiguousarray(w1), cupy.ascontiguousarray(w2)
        b1c = None if b1 is None else cupy.ascontiguousarray(b1)
        b2c = None if b2 is None else cupy.ascontiguousarray(b2)
        pool = _compile.get_function("se_pool", dtype)
        pool((min(N * C, 1 << 16), 1, 1), (_THREADS, 1, 1),
             (xc, z, i64(N), i64(C), i64(S), cl))
        _launch_1d("se_fc", dtype, N * R, (z, w1c, w1c if b1c is None else b1c, h,
                                           np.int32(b1c is not None), i64(N), i64(C), i64(R),
                                           np.int32(0)))
        _launch_1d("se_fc", dtype, N * C, (h, w2c, w2c if b2c is None else b2c, s,
                                           np.int32(b2c is not None), i64(N), i64(R), i64(C),
                                           np.int32(1)))
        _launch_1d("se_scale", dtype, N * C * S, (xc, s, y, i64(N), i64(C), i64(S), cl))
    return y


def depthwise_conv2d(x: Any, w: Any, bias: Any, options: Any) -> Any:
    """convcore._core.depthwise_conv2d on CuPy arrays (the same arguments): the conv_depthwise
    kernel on the core's depthwise spec (groups = C)."""
    spec_of = getattr(_core, "depthwise_spec", None)
    if spec_of is None:  # the C++ op (and its validation) is not in this build of the core
        raise NotImplementedError("depthwise_conv2d is not in this build of convcore._core; "
                                  "use conv(x, w, groups=C)")
    _require_cupy(x, "x")
    check_arrays((x, "x"), (w, "w"), (bias, "bias"))
    spec = spec_of(tuple(x.shape), tuple(w.shape), options, bias_length(bias))
    with cupy.cuda.Device(x.device.id):
        return _run_conv_spec(spec, x, w, bias, "auto")


# ----------------------------------------------------------------------------- separable family
# pointwise_conv, depthwise_separable_conv2d, spatially_separable_conv2d and flattened_conv2d are
# compositions of the conv kernels, each stage on a spec from the C++ core (the CPU binding's
# validation). Intermediates are device arrays of the input dtype; every launch is queued on the
# current stream, so nothing waits for the host.

def _pixels_view(a: Any, N: int, C: int, P: int, channels_last: bool) -> Any:
    """A C-contiguous (N, C, *spatial) / (N, *spatial, C) array as the (N, C, P) / (N, P, C)
    view a pointwise_conv_spec describes (a reshape of contiguous memory: no copy)."""
    return a.reshape((N, P, C) if channels_last else (N, C, P))


def _run_pointwise(spec: Any, x: Any, w: Any, bias: Any) -> Any:
    """A pointwise conv from _core.pointwise_conv_spec / depthwise_separable_conv_specs (the 1-D
    conv over the flattened pixels) on CuPy arrays of one dtype and device: one launch."""
    cl = bool(spec.channels_last)
    P = int(spec.in_size[0])
    shape = list(x.shape)
    shape[-1 if cl else 1] = spec.C_out
    y = cupy.empty(tuple(int(v) for v in shape), _dtype_name(x))
    wc = cupy.ascontiguousarray(w).reshape((spec.C_out, spec.C_in // spec.groups, 1))
    bc = None if bias is None else cupy.ascontiguousarray(bias)
    launch(spec, _pixels_view(cupy.ascontiguousarray(x), spec.N, spec.C_in, P, cl), wc, bc,
           _pixels_view(y, spec.N, spec.C_out, P, cl))
    return y


def pointwise_conv(x: Any, w: Any, bias: Any, groups: int, channels_last: bool,
                   activation: Optional[str]) -> Any:
    """convcore._core.pointwise_conv on CuPy arrays (the same arguments), any spatial rank: the
    conv kernels on the equivalent 1-D conv over the flattened pixels."""
    _require_cupy(x, "x")
    check_arrays((x, "x"), (w, "w"), (bias, "bias"))
    spec = _core.pointwise_conv_spec(tuple(x.shape), tuple(w.shape), int(groups),
                                     bool(channels_last), activation, _vector_length(bias, "bias"))
    with cupy.cuda.Device(x.device.id):
        return _run_pointwise(spec, x, w, bias)


def depthwise_separable_conv2d(x: Any, w_depthwise: Any, w_pointwise: Any, b_depthwise: Any,
                               b_pointwise: Any, options: Any,
                               mid_activation: Optional[str]) -> Any:
    """convcore._core.depthwise_separable_conv2d on CuPy arrays (the same arguments): the
    conv_depthwise kernel (b_depthwise and mid_activation fused into its store) into a device
    intermediate (N, C*m, OH, OW) in x's layout, then the pointwise conv on it (b_pointwise and
    activation fused). Two launches."""
    _require_cupy(x, "x")
    check_arrays((x, "x"), (w_depthwise, "w_depthwise"), (w_pointwise, "w_pointwise"),
                 (b_depthwise, "b_depthwise"), (b_pointwise, "b_pointwise"))
    dw, pw = _core.depthwise_separable_conv_specs(
        tuple(x.shape), tuple(w_depthwise.shape), tuple(w_pointwise.shape), options,
        mid_activation, _vector_length(b_depthwise, "b_depthwise"),
        _vector_length(b_pointwise, "b_pointwise"))
    with cupy.cuda.Device(x.device.id):
        mid = _run_conv_spec(dw, x, w_depthwise, b_depthwise, "auto")
        return _run_pointwise(pw, mid, w_pointwise, b_pointwise)


def spatially_separable_conv2d(x: Any, w_col: Any, w_row: Any, bias: Any, options: Any) -> Any:
    """convcore._core.spatially_separable_conv2d on CuPy arrays (the same arguments): the column
    conv into a device intermediate (N, C_mid, OH, W) in x's layout, then the row conv with the
    bias. Two launches, on the core's two per-axis specs."""
    _require_cupy(x, "x")
    check_arrays((x, "x"), (w_col, "w_col"), (w_row, "w_row"), (bias, "bias"))
    col, row = _core.spatially_separable_spec(tuple(x.shape), tuple(w_col.shape),
                                              tuple(w_row.shape), options,
                                              _vector_length(bias, "bias"))
    with cupy.cuda.Device(x.device.id):
        mid = _run_conv_spec(col, x, w_col, None, "auto")
        return _run_conv_spec(row, mid, w_row, bias, "auto")


def flattened_conv2d(x: Any, w_channel: Any, w_vertical: Any, w_horizontal: Any, bias: Any,
                     options: Any) -> Any:
    """convcore._core.flattened_conv2d on CuPy arrays (the same arguments): the pointwise conv
    over channels, then the vertical and the horizontal filters as depthwise convs (kh x 1 and
    1 x kw views of w_vertical / w_horizontal) on the core's flattened_spec, the bias with the
    last. Three launches; two device intermediates, (N, C_out, H, W) and (N, C_out, OH, W)."""
    _require_cupy(x, "x")
    check_arrays((x, "x"), (w_channel, "w_channel"), (w_vertical, "w_vertical"),
                 (w_horizontal, "w_horizontal"), (bias, "bias"))
    _, vertical, horizontal = _core.flattened_spec(
        tuple(x.shape), tuple(w_channel.shape), tuple(w_vertical.shape),
        tuple(w_horizontal.shape), options, _vector_length(bias, "bias"))
    channel = _core.pointwise_conv_spec(tuple(x.shape), tuple(w_channel.shape), 1, False)
    Co = int(channel.C_out)
    with cupy.cuda.Device(x.device.id):
        a = _run_pointwise(channel, x, w_channel, None)
        wv = cupy.ascontiguousarray(w_vertical).reshape((Co, 1, int(w_vertical.shape[1]), 1))
        wh = cupy.ascontiguousarray(w_horizontal).reshape((Co, 1, 1, int(w_horizontal.shape[1])))
        b = _run_conv_spec(vertical, a, wv, None, "auto")
        return _run_conv_spec(horizontal, b, wh, bias, "auto")


# ----------------------------------------------------------------------------- deformable

def _deform_args(d: dict) -> Tuple[Any, ...]:
    """The DeformSpec dict of _core.deform_spec as the scalars of CONVCORE_CUDA_DEFORM_PARAMS
    (kernels/deform.cu), in order and with their C types."""
    names = ("N", "C_in", "C_out", "groups", "offset_groups", "H", "W", "kh", "kw", "out_h",
             "out_w", "stride_h", "stride_w", "dil_h", "dil_w", "pad_h", "pad_w")
    return tuple(np.int64(d[k]) for k in names) + (np.int32(bool(d["has_mask"])),
                                                  np.int32(bool(d["channels_last"])))


def deform_conv2d(x: Any, offset: Any, w: Any, bias: Any, mask: Any, options: Any,
                  algorithm: str = "auto") -> Any:
    """convcore._core.deform_conv2d on CuPy arrays (the same arguments): the deform_igemm
    kernel on the spec that _core.deform_spec validates exactly as the CPU binding does."""
    _require_cupy(x, "x")
    dtype = check_arrays((x, "x"), (offset, "offset"), (w, "w"), (bias, "bias"), (mask, "mask"))
    d = _core.deform_spec(tuple(x.shape), tuple(offset.shape), tuple(w.shape),
                          () if mask is None else tuple(mask.shape), bias_length(bias), options,
                          mask is not None, algorithm)
    cpg, kk = d["C_in"] // d["groups"], d["kh"] * d["kw"]
    M = d["C_out"] // d["groups"]
    if cpg * kk > _MAX_K or d["groups"] > _MAX_GRID_YZ or -(-M // _TILE) > _MAX_GRID_YZ:
        raise ValueError("deform_conv2d on CUDA needs C_in/groups*kh*kw < 2**31, groups <= 65535 "
                         "and C_out/groups <= 64*65535")
    with cupy.cuda.Device(x.device.id):
        y = cupy.empty(tuple(int(v) for v in d["output_shape"]), dtype)
        if y.size == 0:
            return y
        xc, oc, wc = (cupy.ascontiguousarray(a) for a in (x, offset, w))
        mc = xc if mask is None else cupy.ascontiguousarray(mask)
        bc = y if bias is None else cupy.ascontiguousarray(bias)
        P = d["N"] * d["out_h"] * d["out_w"]
        grid = (-(-P // _TILE), -(-M // _TILE), d["groups"])
        fn = _compile.get_function("deform_igemm", dtype)
        fn(tuple(int(g) for g in grid), (_THREADS, 1, 1),
           (xc, oc, mc, wc, bc, y, np.int32(bias is not None)) + _deform_args(d))
    return y


# ----------------------------------------------------------------------------- quantized

_INT8 = ("int8", "uint8")


def _int8_kind(a: Any, name: str) -> bool:
    """True for int8, False for uint8 (the array fact the core's spec takes as x_signed /
    w_signed); TypeError otherwise, worded as the CPU binding's."""
    dt = _dtype_name(a)
    if dt not in _INT8:
        raise TypeError(f"{name} must be a uint8 or int8 array, got dtype {dt}")
    return dt == "int8"


def quantized_conv(x: Any, x_scale: float, x_zero_point: int, w: Any, w_scale: Sequence[float],
                   w_zero_point: Sequence[int], y_scale: float, y_zero_point: int,
                   y_signed: bool, bias: Any, options: Any) -> Any:
    """convcore._core.quantized_conv on CuPy arrays (the same arguments), bit-identical to the
    CPU op: the quantized_conv kernel on the spec of _core.quantized_conv_spec (the CPU
    binding's validation). The scales and zero points arrive as host values; the per-channel
    ones (w_scale, w_zero_point) are copied to the device as C_out-long (or 1-long) arrays,
    the op's only host-to-device copy."""
    _require_cupy(x, "x")
    _require_cupy(w, "w")
    x_signed, w_signed = _int8_kind(x, "x"), _int8_kind(w, "w")
    dev = x.device.id
    for a, name in ((w, "w"), (bias, "bias")):
        if a is not None and a.device.id != dev:
            raise ValueError(f"{name} is on CUDA device {a.device.id} but x is on device {dev}; "
                             "move them to one device first")
    bias_len = -1
    if bias is not None:
        _require_cupy(bias, "bias")
        if _dtype_name(bias) != "int32":
            raise TypeError("bias must be an int32 array (ONNX QLinearConv's B), got dtype "
                            f"{_dtype_name(bias)}")
        bias_len = bias_length(bias)
    ws, wz = [float(v) for v in w_scale], [int(v) for v in w_zero_point]
    spec = _core.quantized_conv_spec(tuple(x.shape), x_signed, float(x_scale), int(x_zero_point),
                                     tuple(w.shape), w_signed, ws, wz, float(y_scale),
                                     int(y_zero_point), bool(y_signed), bias_len, options)
    ydt = "int8" if y_signed else "uint8"
    with cupy.cuda.Device(dev):
        y = cupy.empty(tuple(int(v) for v in _core.output_shape(spec, False)), ydt)
        if y.size == 0:
            return y
        ws_d = cupy.asarray(np.asarray(ws, np.float64))
        wz_d = cupy.asarray(np.asarray(wz, np.int32))
        bc = wz_d if bias is None else cupy.ascontiguousarray(bias)
        lo, hi = (-128, 127) if y_signed else (0, 255)
        i32 = np.int32
        args = (cupy.ascontiguousarray(x), cupy.ascontiguousarray(w), bc, ws_d, wz_d, y,
                i32(bias is not None), i32(len(ws) > 1), i32(len(wz) > 1), np.float64(x_scale),
                np.float64(y_scale), i32(x_zero_point), i32(y_zero_point), i32(lo), i32(hi))
        _compile.get_function("quantized_conv", _dtype_name(x), _compile.INT_CTYPES[
            _dtype_name(w)], _compile.INT_CTYPES[ydt])(
            (min(-(-int(y.size) // _THREADS), 1 << 20), 1, 1), (_THREADS, 1, 1),
            args + spec_args(spec))
    return y


OPS: Dict[str, Callable[..., Any]] = {
    "conv": conv, "conv_transpose": conv_transpose, "filter": filter,
    "channel_shuffle": channel_shuffle, "shuffled_grouped_conv": shuffled_grouped_conv,
    "fuse_asymmetric": fuse_asymmetric, "asymmetric_conv2d": asymmetric_conv2d,
    "squeeze_excitation": squeeze_excitation, "depthwise_conv2d": depthwise_conv2d,
    "deform_conv2d": deform_conv2d, "quantized_conv": quantized_conv,
    "pointwise_conv": pointwise_conv, "depthwise_separable_conv2d": depthwise_separable_conv2d,
    "spatially_separable_conv2d": spatially_separable_conv2d,
    "flattened_conv2d": flattened_conv2d}


def call(op: str, *args: Any, **kwargs: Any) -> Any:
    fn = OPS.get(op)
    if fn is None:
        raise NotImplementedError(f"{op} has no CUDA implementation yet; pass NumPy arrays "
                                  "(cupy.asnumpy) to run it on the CPU")
    return fn(*args, **kwargs)


def device_info() -> dict:
    """The current CUDA device and whether every kernel module compiles for it."""
    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    name = props["name"]
    d = {"cuda_device": name.decode() if isinstance(name, bytes) else str(name),
         "cuda_compute_capability": str(dev.compute_capability)}
    try:
        for src, dt in _compile.modules():
            for kernel, instances in _compile.SOURCES[src].items():
                _compile.get_function(kernel, dt, *instances[0])
        d["cuda_kernels"] = "compiled"
    except Exception as e:  # a compile error is a fact to report here, not to raise
        d["cuda_kernels"] = f"failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return d
