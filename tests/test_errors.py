"""Bad input: a clear ValueError / TypeError naming the parameter, never a crash."""
import numpy as np
import pytest

import convcore as cc

X = np.zeros((1, 4, 8, 8), np.float32)
W = np.zeros((6, 4, 3, 3), np.float32)


@pytest.mark.parametrize("kwargs,exc,pattern", [
    (dict(x=np.zeros((4, 8, 8), "f4")), ValueError, "x must have 4 dimensions"),
    (dict(w=np.zeros((6, 4, 3, 3, 3, 3), "f4")), ValueError, "w must have 3, 4 or 5"),
    (dict(w=np.zeros((6, 3, 3, 3), "f4")), ValueError, "channels"),
    (dict(w=np.zeros((6, 2, 3, 3), "f4"), groups=3), ValueError, "channels"),
    (dict(w=np.zeros((5, 2, 3, 3), "f4"), groups=2), ValueError, "groups"),
    (dict(groups=0), ValueError, "groups must be >= 1"),
    (dict(groups=-2), ValueError, "groups must be >= 1"),
    (dict(stride=0), ValueError, "stride must be >= 1"),
    (dict(stride=(1, -1)), ValueError, "stride must be >= 1"),
    (dict(dilation=0), ValueError, "dilation must be >= 1"),
    (dict(padding=-1), ValueError, "padding must be >= 0"),
    (dict(padding=((0, -1), (0, 0))), ValueError, "padding must be >= 0"),
    (dict(padding="middle"), ValueError, "padding must be"),
    (dict(padding=(1, 2, 3)), ValueError, "padding must be an int or a tuple of 2"),
    (dict(stride=(1, 2, 3)), ValueError, "stride must be an int or a tuple of 2"),
    (dict(dilation=1.5), TypeError, "dilation must be an int"),
    (dict(stride=True), TypeError, "stride must be an int"),
    (dict(w=np.zeros((6, 4, 9, 9), "f4")), ValueError, "kernel size"),
    (dict(w=np.zeros((6, 4, 5, 5), "f4"), dilation=3), ValueError, "kernel size"),
    (dict(bias=np.zeros(5, "f4")), ValueError, "bias must have shape"),
    (dict(bias=np.zeros((6, 1), "f4")), ValueError, "bias must be 1-D"),
    (dict(padding_mode="mirror"), ValueError, "padding_mode must be one of"),
    (dict(activation="swish"), ValueError, "activation must be"),
    (dict(activation=3), TypeError, "activation must be"),
    (dict(algorithm="magic"), ValueError, "algorithm must be one of"),
    (dict(w=np.zeros((6, 4, 0, 3), "f4")), ValueError, "empty kernel"),
    (dict(w=np.zeros((0, 4, 3, 3), "f4")), ValueError, "output channel"),
])
def test_conv_bad_input(kwargs, exc, pattern):
    x = kwargs.pop("x", X)
    w = kwargs.pop("w", W)
    with pytest.raises(exc, match=pattern):
        cc.conv(x, w, **kwargs)


@pytest.mark.parametrize("dtype", [np.bool_, np.complex64, np.int32, np.int8, np.float16, object])
def test_unsupported_dtypes(dtype):
    x = np.zeros((1, 4, 8, 8), dtype)
    with pytest.raises(TypeError, match="x must be a float32 or float64 array"):
        cc.conv(x, W.astype(dtype))


def test_dtype_mismatch_is_type_error():
    with pytest.raises(TypeError, match="w has dtype float64 but x has float32"):
        cc.conv(X, W.astype(np.float64))
    with pytest.raises(TypeError, match="bias"):
        cc.conv(X, W, np.zeros(6, np.float64))


@pytest.mark.parametrize("out,exc,pattern", [
    (np.zeros((1, 6, 6, 5), np.float32), ValueError, "out must have shape"),
    (np.zeros((1, 6, 6, 6), np.float64), TypeError, "out must have dtype"),
    (np.zeros((1, 6, 6, 12), np.float32)[..., ::2], ValueError, "C-contiguous"),
    ([0.0], TypeError, "out must be a NumPy array"),
])
def test_bad_out(out, exc, pattern):
    with pytest.raises(exc, match=pattern):
        cc.conv(X, W, out=out)


def test_out_read_only_and_aliasing():
    out = np.zeros((1, 6, 6, 6), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writeable"):
        cc.conv(X, W, out=out)
    x = np.zeros((1, 1, 6, 6), np.float32)
    with pytest.raises(ValueError, match="share memory"):
        cc.conv(x, np.zeros((1, 1, 1, 1), np.float32), out=x)


def test_out_aliasing_by_true_extent():
    # A reversed x's data pointer is its highest element: an out just past x's memory shares
    # nothing (refused before: the check took [data, data + nbytes)). A stepped x spans more
    # than nbytes: an out inside that span does share.
    w = np.ones((1, 1, 1, 1), np.float32)
    base = np.arange(72, dtype=np.float32)
    x = base[:36].reshape(1, 1, 6, 6)[..., ::-1, ::-1]
    out = base[36:].reshape(1, 1, 6, 6)
    expected = x.copy()
    assert cc.conv(x, w, out=out) is out
    np.testing.assert_array_equal(out, expected)
    base = np.zeros(144, np.float32)
    x = base[:72:2].reshape(1, 1, 6, 6)
    with pytest.raises(ValueError, match="share memory"):
        cc.conv(x, w, out=base[36:72].reshape(1, 1, 6, 6))


def test_overflowing_sizes_refused_before_allocation():
    # broadcast views have huge shapes but no memory behind them; the output would overflow int64
    x = np.broadcast_to(np.float32(0), (2**20, 4, 8, 8))
    w = np.broadcast_to(np.float32(0), (2**40, 4, 3, 3))
    with pytest.raises(ValueError, match="overflow|too large"):
        cc.conv(x, w)
    with pytest.raises(ValueError, match="overflow|too large|memory"):
        cc.cost("conv", (2**62, 4, 8, 8), (6, 4, 3, 3))


def test_conv_transpose_bad_input():
    x = np.zeros((1, 4, 5, 5), np.float32)
    w = np.zeros((4, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        cc.conv_transpose(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        cc.conv_transpose(x, w, stride=1, output_padding=1)
    with pytest.raises(ValueError, match="w.shape\\[0\\]"):
        cc.conv_transpose(x, np.zeros((3, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="groups"):
        cc.conv_transpose(x, w, groups=3)
    with pytest.raises(ValueError, match="padding"):
        cc.conv_transpose(x, w, padding=5)
    with pytest.raises(ValueError, match="padding='same'"):
        cc.conv_transpose(x, w, padding="same")
    with pytest.raises(ValueError, match="bias"):
        cc.conv_transpose(x, w, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="output_padding must be an int or a tuple of 2"):
        cc.conv_transpose(x, w, output_padding=(1, 1, 1))


def test_threads_argument():
    with pytest.raises(TypeError, match="n must be an int"):
        cc.set_num_threads(1.5)
    with pytest.raises(ValueError, match="n must be >= 0"):
        cc.set_num_threads(-1)
