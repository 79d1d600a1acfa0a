"""depthwise_conv2d (and conv with groups == C_in, which routes to it under "auto") at every
SIMD level this CPU supports, against the NumPy oracle: the planar channels-first kernel and
the channels-last kernel are kernel-table entries compiled per level (kernels/depthwise.hpp).
"""
import numpy as np
import pytest

import convcore as cc
import reference as ref
from conftest import assert_close

def _cl(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


# Widths from under one vector to several chunks plus a partial vector, strides 1-3, dilation,
# asymmetric kernels, many channels (the planar kernel) and few (both layouts).
CASES = [
    (2, 20, 1, (9, 1), (3, 3), 1, 1, 1),
    (1, 20, 1, (6, 37), (3, 3), 1, 1, 1),
    (1, 18, 2, (11, 45), (3, 3), 2, 1, 1),
    (1, 17, 1, (13, 70), (3, 3), 2, 1, 1),
    (1, 24, 1, (10, 33), (5, 3), 3, 2, (2, 1)),
    (2, 16, 1, (8, 29), (1, 4), 1, (1, 3), (0, 2)),
    (1, 3, 2, (7, 19), (3, 3), 2, 1, 1),
    (1, 32, 1, (7, 7), (3, 3), 1, 1, 1),
    (1, 40, 1, (14, 14), (3, 3), 2, 1, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("n,c,m,hw,k,stride,dilation,padding", CASES)
def test_levels_match_oracle(rng, isa, threads, dtype, channels_last, n, c, m, hw, k, stride,
                             dilation, padding):
    x = rng.standard_normal((n, c) + hw).astype(dtype)
    w = rng.standard_normal((c * m, 1) + k).astype(dtype)
    b = rng.standard_normal(c * m).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    expect = ref.depthwise_conv2d(x, w, b, **kw)
    if channels_last:
        y = np.moveaxis(cc.depthwise_conv2d(_cl(x), w, b, channels_last=True, **kw), -1, 1)
    else:
        y = cc.depthwise_conv2d(x, w, b, **kw)
    assert y.dtype == dtype
    assert_close(y, expect, int(np.prod(k)))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("activation", [None, "relu6"])
def test_levels_padding_modes_and_activation(rng, isa, mode, activation):
    x = rng.standard_normal((1, 20, 9, 23)).astype(np.float32)
    w = rng.standard_normal((20, 1, 3, 3)).astype(np.float32)
    b = 3 * rng.standard_normal(20).astype(np.float32)
    for s in (1, 2):
        y = cc.depthwise_conv2d(x, w, b, stride=s, padding=2, padding_mode=mode,
                                activation=activation)
        expect = ref.depthwise_conv2d(x, w, b, stride=s, padding=2, padding_mode=mode,
                                      activation=activation)
        assert_close(y, expect, 9)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("m", [1, 2])
def test_levels_conv_groups_c_routes_to_depthwise(rng, isa, channels_last, m):
    x = rng.standard_normal((2, 24, 12, 35)).astype(np.float32)
    w = rng.standard_normal((24 * m, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(24 * m).astype(np.float32)
    expect = ref.conv(x, w, b, stride=2, padding=1, groups=24)
    xin = _cl(x) if channels_last else x
    for algo in ("auto", "direct", "im2col"):
        y = cc.conv(xin, w, b, stride=2, padding=1, groups=24, channels_last=channels_last,
                    algorithm=algo)
        if channels_last:
            y = np.moveaxis(y, -1, 1)
        assert_close(y, expect, 9)
    # the depthwise entry point and conv(groups=C, auto) run the same kernel
    yd = cc.depthwise_conv2d(x, w, b, stride=2, padding=1)
    ya = cc.conv(x, w, b, stride=2, padding=1, groups=24)
    np.testing.assert_array_equal(ya, yd)


def test_conv_groups_c_flip_and_fill_not_routed(rng):
    x = rng.standard_normal((1, 6, 8, 9))
    w = rng.standard_normal((6, 1, 3, 3))
    y = cc.conv(x, w, padding=1, groups=6, flip=True)
    assert_close(y, ref.conv(x, w, padding=1, groups=6, flip=True), 9)
    y1 = cc.conv(x[:, :, 0], w[:, :, 0], padding=1, groups=6)
    assert_close(y1, ref.conv(x[:, :, 0], w[:, :, 0], padding=1, groups=6), 3)


# The planar kernel's two forms (kernels/depthwise.hpp): small planes as whole flattened phase
# planes ("flat"), large ones row by row. Output widths around every copy width (under 4, 4-7,
# 8, over 8 elements, f32 and f64), 1x1 planes, many planes over two images (work items of
# several planes), strides 1-3, dilation, every padding mode, and large planes for the rows.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hw", [(1, 1), (3, 2), (5, 7), (7, 7), (9, 8), (6, 15), (14, 14),
                                (11, 17), (28, 28)])
def test_levels_planar_flat_widths(rng, isa, threads, dtype, hw):
    x = rng.standard_normal((2, 40) + hw).astype(dtype)
    w = rng.standard_normal((80, 1, 3, 3)).astype(dtype)
    b = rng.standard_normal(80).astype(dtype)
    for stride, dilation, padding, mode in [(1, 1, 1, "zeros"), (2, 1, 1, "zeros"),
                                            (3, 2, 2, "zeros"), (1, 1, 2, "reflect"),
                                            (2, 2, (2, 3), "circular"), (2, 1, 1, "replicate")]:
        if mode != "zeros" and min(hw) < 3:
            continue
        kw = dict(stride=stride, padding=padding, dilation=dilation)
        if mode != "zeros":
            kw["padding_mode"] = mode
        expect = ref.depthwise_conv2d(x, w, b, **kw)
        assert_close(cc.depthwise_conv2d(x, w, b, **kw), expect, 9)
        xw = x[:, :, :, ::-1]  # non-contiguous
        assert_close(cc.conv2d(xw, w, b, groups=40, **kw), ref.conv(xw, w, b, groups=40, **kw),
                     9)


@pytest.mark.parametrize("shape", [(1, 3, 96, 100), (1, 16, 60, 150)])
@pytest.mark.parametrize("stride", [1, 2])
def test_levels_planar_large_planes(rng, isa, shape, stride):
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((shape[1], 1, 3, 3)).astype(np.float32)
    for act in (None, "relu"):
        y = cc.depthwise_conv2d(x, w, stride=stride, padding=1, activation=act)
        assert_close(y, ref.depthwise_conv2d(x, w, stride=stride, padding=1, activation=act), 9)
