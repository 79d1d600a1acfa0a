"""Robustness of the Python API against unusual but valid inputs and against bad arguments
(a user bug report): dtypes compared by value, byte order, None and non-array arguments,
non-numeric and huge numbers, degenerate kernels, thread counts, failed allocations, and
inputs never modified."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import convcore as cc

RNG = np.random.default_rng(20240607)


def _f(*shape, dtype="f4"):
    return RNG.standard_normal(shape).astype(dtype)


# ----------------------------------------------------------------------------- the public ops
# name -> (function, positional arrays, keyword arrays, other keyword arguments)

def _ops():
    x4 = _f(2, 4, 6, 6)
    q_x = RNG.integers(0, 256, (1, 2, 5, 5)).astype(np.uint8)
    q_w = RNG.integers(-128, 128, (3, 2, 3, 3)).astype(np.int8)
    return {
        "conv": (cc.conv, [x4, _f(3, 4, 3, 3), _f(3)], {}, {"padding": 1}),
        "conv1d": (cc.conv1d, [_f(2, 3, 9), _f(4, 3, 3)], {}, {}),
        "conv2d": (cc.conv2d, [x4, _f(4, 2, 3, 3)], {}, {"groups": 2}),
        "conv3d": (cc.conv3d, [_f(1, 2, 4, 4, 4), _f(2, 2, 3, 3, 3)], {}, {}),
        "conv_transpose": (cc.conv_transpose, [x4, _f(4, 2, 3, 3), _f(2)], {}, {"stride": 2}),
        "conv_transpose1d": (cc.conv_transpose1d, [_f(1, 2, 5), _f(2, 3, 3)], {}, {}),
        "conv_transpose2d": (cc.conv_transpose2d, [x4, _f(4, 2, 3, 3)], {}, {}),
        "conv_transpose3d": (cc.conv_transpose3d, [_f(1, 2, 3, 3, 3), _f(2, 2, 2, 2, 2)], {}, {}),
        "convolve": (cc.convolve, [_f(7, 8), _f(3, 3)], {}, {"mode": "same"}),
        "correlate": (cc.correlate, [_f(9), _f(4)], {}, {}),
        "deform_conv2d": (cc.deform_conv2d, [x4, _f(2, 18, 4, 4), _f(3, 4, 3, 3), _f(3)],
                          {"mask": _f(2, 9, 4, 4)}, {}),
        "depthwise_conv2d": (cc.depthwise_conv2d, [x4, _f(8, 1, 3, 3), _f(8)], {}, {}),
        "pointwise_conv": (cc.pointwise_conv, [x4, _f(5, 4), _f(5)], {}, {}),
        "depthwise_separable_conv2d": (cc.depthwise_separable_conv2d,
                                       [x4, _f(4, 1, 3, 3), _f(6, 4), _f(4), _f(6)], {}, {}),
        "spatially_separable_conv2d": (cc.spatially_separable_conv2d,
                                       [x4, _f(5, 4, 3, 1), _f(3, 5, 1, 3), _f(3)], {}, {}),
        "flattened_conv2d": (cc.flattened_conv2d, [x4, _f(3, 4), _f(3, 3), _f(3, 3), _f(3)],
                             {}, {}),
        "separate_kernel": (cc.separate_kernel, [_f(5, 5)], {}, {}),
        "channel_shuffle": (cc.channel_shuffle, [x4], {}, {"groups": 2}),
        "shuffled_grouped_conv": (cc.shuffled_grouped_conv, [x4, _f(4, 2, 3, 3), _f(4)], {},
                                  {"groups": 2}),
        "fuse_asymmetric": (cc.fuse_asymmetric, [_f(3, 4, 3, 3), _f(3, 4, 1, 3), _f(3, 4, 3, 1)],
                            {}, {}),
        "asymmetric_conv2d": (cc.asymmetric_conv2d,
                              [x4, _f(3, 4, 3, 3), _f(3, 4, 1, 3), _f(3, 4, 3, 1), _f(3)], {},
                              {"padding": 1}),
        "squeeze_excitation": (cc.squeeze_excitation, [x4, _f(2, 4), _f(2), _f(4, 2), _f(4)],
                               {}, {}),
        "conv_matrix": (lambda w, **k: cc.conv_matrix((2, 5, 5), w, **k).toarray(),
                        [_f(3, 2, 3, 3)], {}, {"padding": 1}),
        "inception": (lambda x, w1, w2: cc.inception(x, [[], [{"w": w1}], [{"w": w2,
                                                                         "padding": 1}]]),
                      [x4, _f(2, 4, 1, 1), _f(3, 4, 3, 3)], {}, {}),
        "quantized_conv2d": (lambda x, w, b: cc.quantized_conv2d(x, 0.05, 120, w, 0.02, 0, 0.5,
                                                                 np.uint8(7), b),
                             [q_x, q_w, RNG.integers(-500, 500, 3).astype(np.int32)], {}, {}),
    }


OPS = _ops()


def _call(name, convert=lambda a: a):
    fn, args, kwargs, other = OPS[name]
    return fn(*[convert(a) for a in args], **{k: convert(v) for k, v in kwargs.items()}, **other)


def _as_arrays(result):
    if isinstance(result, list):  # separate_kernel's KernelFactors
        return [a for pair in result for a in pair]
    return [result]


def _pickled(a, tmp_path):
    return pickle.loads(pickle.dumps(a))


def _frombuffer(a, tmp_path):  # read-only, with a dtype parsed anew from its string
    return np.frombuffer(a.tobytes(), dtype=np.dtype(a.dtype.str)).reshape(a.shape)


def _memmap(a, tmp_path):
    path = tmp_path / f"m{RNG.integers(1 << 60)}.bin"
    m = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
    m[...] = a
    m.flush()
    del m
    return np.memmap(path, dtype=np.dtype(a.dtype.str), mode="r", shape=a.shape)


def _new_dtype(a, tmp_path):
    return a.astype(np.dtype(a.dtype.str[1:]).newbyteorder("="))


def _big_endian(a, tmp_path):
    return a.astype(a.dtype.newbyteorder(">"))


def _little_endian(a, tmp_path):
    return a.astype(a.dtype.newbyteorder("<"))


def _swapped_strided(a, tmp_path):  # non-native and non-contiguous at once
    b = np.empty(a.shape + (2,), a.dtype.newbyteorder("S"))
    b[..., 0] = a
    return b[..., 0]


CONVERSIONS = [_pickled, _frombuffer, _memmap, _new_dtype, _big_endian, _little_endian,
               _swapped_strided]


# ----------------------------------------------------------------------------- 1, 2: dtypes

@pytest.mark.parametrize("convert", CONVERSIONS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("name", sorted(OPS))
def test_dtypes_compared_by_value(name, convert, tmp_path):
    want = _as_arrays(_call(name))
    got = _as_arrays(_call(name, lambda a: convert(a, tmp_path)))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.dtype.isnative, (g.dtype, w.dtype)
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dt", ["f4", "f8"])
def test_big_endian_result_is_native_and_equal(dt):
    x, w = _f(1, 3, 8, 8, dtype=dt), _f(4, 3, 3, 3, dtype=dt)
    y = cc.conv2d(x.astype(">" + dt), w.astype(">" + dt))
    assert y.dtype == np.dtype(dt) and y.dtype.isnative
    np.testing.assert_array_equal(y, cc.conv2d(x, w))
    # mixed byte orders of one dtype are one dtype
    np.testing.assert_array_equal(cc.conv2d(x.astype(">" + dt), w), y)


def test_out_dtype_by_value():
    x, w = _f(1, 2, 5, 5), _f(3, 2, 3, 3)
    out = pickle.loads(pickle.dumps(np.zeros((1, 3, 3, 3), "f4")))
    y = cc.conv(x, w, out=out)
    assert y is out or np.shares_memory(y, out)
    np.testing.assert_array_equal(out, cc.conv(x, w))
    out2 = np.zeros((1, 3, 3, 3), np.dtype("f4").newbyteorder("="))
    cc.conv(x, w, out=out2)
    np.testing.assert_array_equal(out2, out)


def test_out_in_other_byte_order_is_refused():
    # `out` is written in place, so it is never converted: a non-native one is a TypeError
    x, w = _f(1, 2, 5, 5), _f(3, 2, 3, 3)
    with pytest.raises(TypeError, match="out must have dtype float32 in native byte order"):
        cc.conv(x, w, out=np.zeros((1, 3, 3, 3), np.dtype("f4").newbyteorder("S")))


def test_quantized_dtype_by_value_message_not_contradictory():
    x = pickle.loads(pickle.dumps(np.full((1, 1, 3, 3), 130, np.uint8)))
    w = np.full((1, 1, 3, 3), 2, np.int8)
    assert cc.quantized_conv2d(x, 0.5, 128, w, 0.25, 0, 0.1, np.uint8(10))[0, 0, 0, 0] == 55
    with pytest.raises(TypeError, match="x must be a uint8 or int8 array, got dtype int16"):
        cc.quantized_conv2d(x.astype(np.int16), 0.5, 128, w, 0.25, 0, 0.1, 10)
    with pytest.raises(TypeError, match="bias must be an int32 array"):
        cc.quantized_conv2d(x, 0.5, 128, w, 0.25, 0, 0.1, 10, np.zeros(1, np.int64))
    b = np.array([3], ">i4")  # an int32 bias in the other byte order is an int32 bias
    np.testing.assert_array_equal(
        cc.quantized_conv2d(x, 0.5, 128, w, 0.25, 0, 0.1, 10, b),
        cc.quantized_conv2d(x, 0.5, 128, w, 0.25, 0, 0.1, 10, b.astype(np.int32)))


def test_float_dtypes_still_refused():
    w = _f(3, 2, 3, 3)
    for dt in (np.float16, np.int64, np.int32, bool, np.complex64, object):
        with pytest.raises(TypeError, match="x must be a float32 or float64 array"):
            cc.conv(np.ones((1, 2, 5, 5), dt), w)
    for dt in ("U3", "M8[s]"):
        with pytest.raises(TypeError, match="x must be an array of numbers"):
            cc.conv(np.ones((1, 2, 5, 5)).astype(dt), w)


# ----------------------------------------------------------------------------- 3: inception

@pytest.mark.parametrize("dt", [bool, np.int64, np.int8, np.float16, np.complex128])
def test_inception_pass_through_checks_dtype(dt):
    with pytest.raises(TypeError, match="x must be a float32 or float64 array"):
        cc.inception(np.ones((1, 2, 3, 3), dt), [[]])


def test_inception_pass_through_big_endian():
    x = _f(1, 2, 3, 3)
    y = cc.inception(x.astype(">f4"), [[], [{"w": _f(1, 2, 1, 1)}]])
    assert y.dtype == np.float32 and y.dtype.isnative
    np.testing.assert_array_equal(y[:, :2], x)


# ----------------------------------------------------------------------------- 4: None

def _required_arrays():
    """(op name, index of the positional array or keyword name, parameter name)."""
    names = {
        "conv": ["x", "w"], "conv1d": ["x", "w"], "conv2d": ["x", "w"], "conv3d": ["x", "w"],
        "conv_transpose": ["x", "w"], "conv_transpose1d": ["x", "w"],
        "conv_transpose2d": ["x", "w"], "conv_transpose3d": ["x", "w"],
        "convolve": ["a", "k"], "correlate": ["a", "k"],
        "deform_conv2d": ["x", "offset", "w"], "depthwise_conv2d": ["x", "w"],
        "pointwise_conv": ["x", "w"],
        "depthwise_separable_conv2d": ["x", "w_depthwise", "w_pointwise"],
        "spatially_separable_conv2d": ["x", "w_col", "w_row"],
        "flattened_conv2d": ["x", "w_channel", "w_vertical", "w_horizontal"],
        "channel_shuffle": ["x"], "shuffled_grouped_conv": ["x", "w"],
        "fuse_asymmetric": ["w_square", "w_hor", "w_ver"],
        "asymmetric_conv2d": ["x", "w_square", "w_hor", "w_ver"],
        "squeeze_excitation": ["x", "w1", None, "w2"],
        "quantized_conv2d": ["x", "w"],
    }
    return [(op, i, n) for op, ns in names.items() for i, n in enumerate(ns) if n]


@pytest.mark.parametrize("bad", [None, object(), "abc", {"a": 1}], ids=repr)
@pytest.mark.parametrize("op,index,param", _required_arrays())
def test_required_array_none_or_junk(op, index, param, bad):
    fn, args, kwargs, other = OPS[op]
    args = list(args)
    args[index] = bad
    with pytest.raises(TypeError, match=rf"\b{param}\b"):
        fn(*args, **kwargs, **other)


@pytest.mark.parametrize("bad", [None, object()], ids=repr)
def test_conv_matrix_and_inception_none(bad):
    with pytest.raises(TypeError, match=r"\bw\b"):
        cc.conv_matrix((1, 5, 5), bad)
    with pytest.raises(TypeError, match="input_shape"):
        cc.conv_matrix(None, np.ones((1, 1, 3, 3)))
    with pytest.raises(TypeError, match=r"\bx\b"):
        cc.inception(bad, [[]])


def test_inception_layer_w_none():
    with pytest.raises(TypeError, match=r"branches\[1\]\[0\]: w must be an array, got None"):
        cc.inception(_f(1, 2, 3, 3), [[], [{"w": None}]])


@pytest.mark.parametrize("op,param", [("conv", "bias"), ("deform_conv2d", "mask"),
                                      ("squeeze_excitation", "b1")])
def test_optional_array_junk(op, param):
    fn, args, kwargs, other = OPS[op]
    args, kwargs = list(args), dict(kwargs)
    if param in kwargs:
        kwargs[param] = object()
    else:
        args[{"conv": 2, "squeeze_excitation": 2}[op]] = object()
    with pytest.raises(TypeError, match=rf"\b{param}\b"):
        fn(*args, **kwargs, **other)


def test_ragged_array_like_names_parameter():
    with pytest.raises(ValueError, match=r"^w must be an array"):
        cc.conv(np.ones((1, 1, 3)), [[[1.0, 2.0]], [[1.0]]])


# ----------------------------------------------------------------------------- 5: numbers

@pytest.mark.parametrize("fill", ["1", b"1", None, 1j, [1.0], True])
def test_fillvalue_must_be_a_number(fill):
    for f in (cc.correlate, cc.convolve):
        with pytest.raises(TypeError, match="fillvalue must be a real number"):
            f(np.ones(3), np.ones(2), fillvalue=fill)


@pytest.mark.parametrize("fill", [2, 2.0, np.float32(2), np.int64(2), np.uint8(2),
                                  np.array(2.0)], ids=repr)
def test_fillvalue_numpy_scalars(fill):
    y = cc.correlate(np.ones(3), np.ones(2), fillvalue=fill)
    np.testing.assert_array_equal(y, cc.correlate(np.ones(3), np.ones(2), fillvalue=2.0))


@pytest.mark.parametrize("tol", [np.float32(1e-3), np.float64(1e-3), np.int64(1), 1, 1e-3,
                                 np.array(1e-3)], ids=repr)
def test_separate_kernel_tol_numpy_scalars(tol):
    f = cc.separate_kernel(np.outer([1.0, 2, 1], [1.0, 0, -1]), tol=tol)
    assert len(f) == 1


@pytest.mark.parametrize("tol", ["1e-3", None, True, 1j])
def test_separate_kernel_tol_type(tol):
    with pytest.raises(TypeError, match="tol must be a non-negative number"):
        cc.separate_kernel(np.eye(3), tol=tol)


@pytest.mark.parametrize("tol", [float("nan"), np.float32("nan"), -1e-3])
def test_separate_kernel_tol_nan_negative(tol):
    with pytest.raises(ValueError, match="tol must be a non-negative number"):
        cc.separate_kernel(np.eye(3), tol=tol)


def test_numpy_integers_everywhere():
    x, w = _f(1, 4, 8, 8), _f(4, 2, 3, 3)
    want = cc.conv(x, w, stride=2, padding=1, dilation=1, groups=2)
    got = cc.conv(x, w, stride=np.int64(2), padding=(np.uint8(1), np.int32(1)),
                  dilation=np.array(1), groups=np.int16(2))
    np.testing.assert_array_equal(got, want)
    assert len(cc.separate_kernel(np.eye(3), rank=np.int64(2))) == 2
    assert cc.kernels.gaussian(np.float32(1.0), np.int64(5)).shape == (5, 5)
    np.testing.assert_array_equal(cc.transposed_overlap(np.array(3), np.int64(2)),
                                  cc.transposed_overlap(3, 2))
    np.testing.assert_array_equal(cc.transposed_overlap(np.array([3, 4]), 2),
                                  cc.transposed_overlap((3, 4), 2))
    y = cc.quantized_conv2d(np.full((1, 1, 3, 3), 130, np.uint8), np.float32(0.5), np.int64(128),
                            np.full((1, 1, 3, 3), 2, np.int8), np.float16(0.25), np.uint8(0),
                            np.float64(0.1), np.uint8(10))
    assert y[0, 0, 0, 0] == 55


@pytest.mark.parametrize("bad", ["2", 2.0, None, True, np.bool_(True), np.array([2, 2]) * 1.0])
def test_int_parameters_refuse_non_ints(bad):
    with pytest.raises(TypeError, match="groups"):
        cc.conv(_f(1, 4, 5, 5), _f(4, 2, 3, 3), groups=bad)


# ----------------------------------------------------------------------------- 6: kernels

def test_gaussian_tiny_sigma_is_a_delta():
    for size, centre in ((8, (slice(3, 5),) * 2), (7, (3, 3)), (None, (0, 0))):
        for sigma in (0.01, 1e-200, 5e-324):
            k = cc.kernels.gaussian(sigma, size)
            assert np.isfinite(k).all() and k.sum() == pytest.approx(1.0)
            assert k[centre] == pytest.approx(0.25 if size == 8 else 1.0)


def test_gaussian_unchanged_for_ordinary_sigma():
    for sigma, size in ((1.0, None), (0.7, 6), (3.0, 11)):
        n = 2 * int(4.0 * sigma + 0.5) + 1 if size is None else size
        r = np.arange(n) - (n - 1) / 2.0
        g = np.exp(-0.5 * (r / sigma) ** 2)
        g /= g.sum()
        np.testing.assert_allclose(cc.kernels.gaussian(sigma, size), np.outer(g, g), rtol=1e-14,
                                   atol=1e-300)


def test_gaussian_huge_sizes():
    with pytest.raises(ValueError, match="sigma is too large"):
        cc.kernels.gaussian(1e200)
    with pytest.raises(ValueError, match="size must be at most"):
        cc.kernels.gaussian(1.0, 2 ** 40)
    with pytest.raises(ValueError, match="size must be at most"):
        cc.kernels.box(2 ** 62)
    with pytest.raises(ValueError, match="size must be at most"):
        cc.kernels.identity(2 ** 100)


def test_separate_kernel_near_float_max():
    k = np.full((2, 2), 1e308)
    f = cc.separate_kernel(k)
    assert len(f) == 1
    col, row = f[0]
    assert np.isfinite(col).all() and np.isfinite(row).all()
    np.testing.assert_allclose(np.outer(col, row), k, rtol=1e-12)
    assert f.residual == pytest.approx(0.0, abs=1e296)
    k32 = np.array([[3e38, -3e38], [1e38, 2e38]], np.float32)
    f32 = cc.separate_kernel(k32)
    assert all(np.isfinite(c).all() and np.isfinite(r).all() for c, r in f32)
    np.testing.assert_allclose(f32.reconstruct(), k32, rtol=1e-5)


def test_separate_kernel_small_values_unchanged():
    k = np.outer([1e-300, 2e-300], [1.0, -1.0])
    (col, row), = cc.separate_kernel(k)
    np.testing.assert_allclose(np.outer(col, row), k, rtol=1e-12)


# ----------------------------------------------------------------------------- 7: huge ints

X4, W4 = _f(1, 2, 9, 9), _f(2, 2, 3, 3)


@pytest.mark.parametrize("param", ["stride", "dilation", "padding", "groups"])
@pytest.mark.parametrize("v", [2 ** 63, 2 ** 64, -2 ** 63 - 1, 10 ** 30, np.uint64(2 ** 64 - 1)],
                         ids=str)
def test_conv_ints_beyond_int64(param, v):
    with pytest.raises(ValueError, match=param):
        cc.conv(X4, W4, **{param: v})
    if param != "groups":
        with pytest.raises(ValueError, match=param):
            cc.conv(X4, W4, **{param: (1, v)})


def test_huge_ints_elsewhere():
    with pytest.raises(ValueError, match="output_padding"):
        cc.conv_transpose(X4, W4, output_padding=2 ** 64)
    with pytest.raises(ValueError, match="groups"):
        cc.channel_shuffle(X4, 2 ** 64)
    with pytest.raises(ValueError, match="groups"):
        cc.pointwise_conv(X4, _f(2, 2), groups=2 ** 64)
    with pytest.raises(ValueError, match="rank"):
        cc.separate_kernel(np.eye(3), rank=2 ** 64)
    with pytest.raises(ValueError, match="stride"):
        cc.transposed_overlap(3, 2 ** 64)
    with pytest.raises(ValueError, match="kernel_size"):
        cc.transposed_overlap((3, 2 ** 70), 2)
    with pytest.raises(ValueError, match="n must be"):
        cc.set_num_threads(2 ** 64)


@pytest.mark.parametrize("zp", [np.uint64(2 ** 64 - 1), 2 ** 64, -2 ** 63 - 1, 2 ** 63,
                                np.array([2 ** 64])], ids=str)
def test_quantized_zero_points_beyond_int64(zp):
    x, w = np.full((1, 1, 3, 3), 130, np.uint8), np.full((1, 1, 3, 3), 2, np.int8)
    with pytest.raises(ValueError, match="x_zero_point"):
        cc.quantized_conv2d(x, 0.5, zp, w, 0.25, 0, 0.1, 10)
    with pytest.raises(ValueError, match="w_zero_point"):
        cc.quantized_conv2d(x, 0.5, 128, w, 0.25, zp, 0.1, 10)
    with pytest.raises(ValueError, match="y_zero_point"):
        cc.quantized_conv2d(x, 0.5, 128, w, 0.25, 0, 0.1, zp, y_dtype=np.uint8)


def test_quantized_scales_beyond_float():
    x, w = np.full((1, 1, 3, 3), 130, np.uint8), np.full((1, 1, 3, 3), 2, np.int8)
    with pytest.raises(ValueError, match="x_scale"):
        cc.quantized_conv2d(x, 10 ** 400, 128, w, 0.25, 0, 0.1, 10)
    with pytest.raises(TypeError, match="y_scale"):
        cc.quantized_conv2d(x, 0.5, 128, w, 0.25, 0, "0.1", 10)
    with pytest.raises(TypeError, match="x_scale"):
        cc.quantized_conv2d(x, None, 128, w, 0.25, 0, 0.1, 10)


def test_huge_dilation_is_a_value_error():
    # fits in int64, but the dilated kernel extent overflows: never numpy's "negative dimensions"
    with pytest.raises(ValueError) as e:
        cc.conv(X4, W4, dilation=2 ** 62 + 1)
    assert "negative dimensions" not in str(e.value)


def test_transposed_overlap_zero_d_arrays():
    np.testing.assert_array_equal(cc.transposed_overlap(np.array(3), 2), [2, 1])
    np.testing.assert_array_equal(cc.transposed_overlap(3, np.array(2), np.array(1)), [2, 1])
    with pytest.raises(TypeError, match="kernel_size"):
        cc.transposed_overlap(np.array(3.0), 2)


# ----------------------------------------------------------------------------- 8: threads

def test_set_num_threads_bounded():
    before = cc.get_num_threads()
    cores = cc.info()["max_threads"]
    bound = max(4 * cores, 32)
    try:
        with pytest.raises(ValueError, match=f"at most {bound}"):
            cc.set_num_threads(bound + 1)
        with pytest.raises(ValueError, match="at most"):
            cc.set_num_threads(1000 + bound)  # the bug report's 1000
        assert cc.get_num_threads() == before
        cc.set_num_threads(np.int64(bound))
        assert cc.get_num_threads() == bound
        with pytest.raises(ValueError, match=">= 0"):
            cc.set_num_threads(-1)
        with pytest.raises(TypeError):
            cc.set_num_threads(2.0)
    finally:
        cc.set_num_threads(0)


# ----------------------------------------------------------------------------- 9: MemoryError

_MEMORY_SCRIPT = r"""
import json, resource, sys
import numpy as np
import convcore as cc
from numpy.lib.stride_tricks import as_strided

cc.set_num_threads(1)
cc.conv2d(np.ones((1, 1, 4, 4), "f4"), np.ones((1, 1, 3, 3), "f4"))  # warm up, threads made
with open("/proc/self/status") as f:
    vm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
limit = vm + (1 << 30)
resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))

def huge(shape, dtype="f4"):  # one element, seen as >= 64 GiB; its copy cannot fit
    return as_strided(np.ones(1, dtype), shape, (0,) * len(shape))

B = 2 ** 17
cases = {
    "conv2d x": lambda: cc.conv2d(huge((B, B, 1, 1)), np.ones((1, B, 1, 1), "f4")),
    "conv2d w": lambda: cc.conv2d(np.ones((1, B, 1, 1), "f4"), huge((B, B, 1, 1))),
    "conv_transpose2d x": lambda: cc.conv_transpose2d(huge((1, B, B, 1)), np.ones((B, 1, 1, 1), "f4"), stride=(1, 1)),
    "depthwise_conv2d": lambda: cc.depthwise_conv2d(huge((1, 1024, 4096, 4096)),
                                                    np.ones((1024, 1, 1, 1), "f4"), stride=4096),
    "quantized_conv2d": lambda: cc.quantized_conv2d(huge((2 ** 18, 2 ** 18, 1, 1), "u1"), 1.0, 0,
                                                    np.ones((1, 2 ** 18, 1, 1), "i1"), 1.0, 0, 1.0, 0),
    "shuffled_grouped_conv": lambda: cc.shuffled_grouped_conv(huge((B, B, 1, 1)),
                                                              np.ones((2, B // 2, 1, 1), "f4"), groups=2),
    "spatially_separable_conv2d": lambda: cc.spatially_separable_conv2d(
        huge((B, B, 1, 1)), np.ones((1, B, 1, 1), "f4"), np.ones((1, 1, 1, 1), "f4")),
    "convolve k": lambda: cc.convolve(np.ones((2, 2), "f4"), huge((B, B))),
    "correlate k": lambda: cc.correlate(np.ones((2, 2), "f4"), huge((B, B))),
    "conv_matrix w": lambda: cc.conv_matrix((1, 1), huge((1, 1, 2 ** 34)), padding=2 ** 34 - 1,
                                            stride=2 ** 34),
    "pointwise_conv": lambda: cc.pointwise_conv(huge((B, B, 1, 1)), np.ones((1, B), "f4")),
    "channel_shuffle": lambda: cc.channel_shuffle(huge((B, B, 1, 1)), 2),
}
small_x, small_w = np.ones((1, 1, 4, 4), "f4"), np.ones((1, 1, 3, 3), "f4")
out = {}
for name, fn in cases.items():
    try:
        fn()
        r = "no error"
    except MemoryError as e:
        r = "MemoryError: " + str(e)
    except Exception as e:
        r = type(e).__name__ + ": " + str(e)
    ok = float(cc.conv2d(small_x, small_w)[0, 0, 0, 0]) == 9.0  # the process goes on working
    out[name] = [r, ok]
print(json.dumps(out))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux")
def test_failed_contiguous_copy_is_memory_error():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    pkg = os.path.dirname(os.path.dirname(cc.__file__))
    env["PYTHONPATH"] = pkg + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(_MEMORY_SCRIPT)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, (p.returncode, p.stderr[-3000:])
    res = json.loads(p.stdout.strip().splitlines()[-1])
    for name, (r, ok) in res.items():
        assert r.startswith("MemoryError"), (name, r)
        assert ok, name
    # the parameter is named
    assert res["conv2d x"][0].startswith("MemoryError: x: ")
    assert res["conv2d w"][0].startswith("MemoryError: w: ")
    assert res["convolve k"][0].startswith("MemoryError: k: ")


# ----------------------------------------------------------------------------- inputs unchanged

@pytest.mark.parametrize("name", sorted(OPS))
def test_inputs_not_modified(name):
    fn, args, kwargs, other = OPS[name]
    before = [a.copy() for a in args] + [v.copy() for v in kwargs.values()]
    flags = [a.flags.writeable for a in args] + [v.flags.writeable for v in kwargs.values()]
    for convert in (lambda a: a, lambda a: a.astype(a.dtype.newbyteorder("S")),
                    lambda a: np.asfortranarray(a)):
        _call(name, convert)
    after = list(args) + list(kwargs.values())
    for b, a, f in zip(before, after, flags):
        np.testing.assert_array_equal(a, b)
        assert a.flags.writeable == f


def test_arithmetic_helpers_name_bad_arguments():
    with pytest.raises(TypeError, match="layers"):
        cc.receptive_field(None)
    with pytest.raises(TypeError, match="layers"):
        cc.receptive_field(3)
    with pytest.raises(TypeError, match="fillvalue"):
        cc.cost("correlate", (5, 5), (3, 3), fillvalue="1")
    assert cc.cost("correlate", (5, 5), (3, 3), fillvalue=np.float32(1)).macs == 7 * 7 * 9


def test_empty_algorithm_name_refused():
    x, w = np.ones((1, 1, 5)), np.ones((1, 1, 3))
    with pytest.raises(ValueError, match="algorithm"):
        cc.conv(x, w, algorithm="")
