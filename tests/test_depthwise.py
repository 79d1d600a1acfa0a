"""depthwise_conv2d against the NumPy oracle, PyTorch (conv2d with groups=C) and conv."""
import doctest

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convcore as cc
import reference as ref
from conftest import assert_close

DTYPES = [np.float32, np.float64]


def _data(rng, n, c, m, hw, k, dtype, bias=True):
    x = rng.standard_normal((n, c) + hw).astype(dtype)
    w = rng.standard_normal((c * m, 1) + k).astype(dtype)
    b = rng.standard_normal(c * m).astype(dtype) if bias else None
    return x, w, b


def _cl(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 2, 3])
@pytest.mark.parametrize("stride,padding,dilation", [
    (1, 0, 1), (2, 1, 1), (1, 2, 2), (2, "same", 1), ((2, 1), ((0, 2), (1, 0)), (1, 2)),
    (3, "valid", 1), (2, 3, 2),
])
def test_matches_oracle(rng, dtype, m, stride, padding, dilation):
    x, w, b = _data(rng, 2, 5, m, (11, 9), (3, 3), dtype)
    y = cc.depthwise_conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    assert y.dtype == dtype and y.flags.c_contiguous
    assert_close(y, ref.depthwise_conv2d(x, w, b, stride, padding, dilation), 9)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("m", [1, 2])
def test_padding_modes_and_layouts(rng, mode, channels_last, m):
    x, w, b = _data(rng, 2, 3, m, (8, 7), (3, 2), np.float64)
    xi = _cl(x) if channels_last else x
    y = cc.depthwise_conv2d(xi, w, b, padding=2, stride=(1, 2), dilation=(2, 1),
                            padding_mode=mode, channels_last=channels_last)
    if channels_last:
        assert y.flags.c_contiguous
        y = np.moveaxis(y, -1, 1)
    assert_close(y, ref.depthwise_conv2d(x, w, b, (1, 2), 2, (2, 1), mode), 6)


@pytest.mark.parametrize("c", [16, 20, 40])  # >= 16 channels: the channels-last kernel
@pytest.mark.parametrize("m", [1, 2])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
def test_many_channels(rng, c, m, mode):
    x, w, b = _data(rng, 2, c, m, (9, 13), (3, 3), np.float32)
    for kw in [dict(padding=1), dict(stride=2, padding=2, dilation=2),
               dict(padding=((2, 0), (0, 1)))]:
        y = cc.depthwise_conv2d(x, w, b, padding_mode=mode, activation="relu", **kw)
        e = ref.depthwise_conv2d(x, w, b, kw.get("stride", 1), kw["padding"], kw.get("dilation", 1),
                                 mode, "relu")
        assert_close(y, e, 9)
        ycl = cc.depthwise_conv2d(_cl(x), w, b, padding_mode=mode, activation="relu",
                                  channels_last=True, **kw)
        assert_close(np.moveaxis(ycl, -1, 1), e, 9)


@pytest.mark.parametrize("activation", ["relu", "relu6", "sigmoid", "tanh", "gelu"])
def test_fused_activation(rng, activation):
    x, w, b = _data(rng, 1, 4, 1, (6, 6), (3, 3), np.float32)
    x *= 3
    y = cc.depthwise_conv2d(x, w, b, padding=1, activation=activation)
    assert_close(y, ref.depthwise_conv2d(x, w, b, padding=1, activation=activation), 9)


def test_equals_grouped_conv(rng):
    x, w, b = _data(rng, 2, 6, 2, (10, 12), (5, 3), np.float64)
    for kw in [dict(), dict(stride=2, padding=2), dict(padding="same", dilation=2),
               dict(padding=1, padding_mode="reflect")]:
        assert_close(cc.depthwise_conv2d(x, w, b, **kw), cc.conv(x, w, b, groups=6, **kw), 15)


def test_non_contiguous_inputs_not_modified(rng):
    x, w, b = _data(rng, 2, 8, 1, (9, 10), (3, 3), np.float32)
    xs = np.asfortranarray(x)[:, ::2]  # Fortran order and a channel stride
    ws = w[::2]
    bs = b[::2]
    keep = xs.copy(), ws.copy(), bs.copy()
    y = cc.depthwise_conv2d(xs, ws, bs, padding=1)
    assert_close(y, ref.depthwise_conv2d(xs, ws, bs, padding=1), 9)
    for a, k in zip((xs, ws, bs), keep):
        np.testing.assert_array_equal(a, k)
    xcl = np.moveaxis(x, 1, -1)[:, ::-1]  # a non-contiguous channels-last view
    y = cc.depthwise_conv2d(xcl, w, b, channels_last=True)
    assert_close(np.moveaxis(y, -1, 1), ref.depthwise_conv2d(np.moveaxis(xcl, -1, 1), w, b), 9)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_give_identical_results(rng, threads):
    x, w, b = _data(rng, 3, 16, 2, (13, 17), (3, 3), np.float32)
    cc.set_num_threads(1)
    try:
        y1 = cc.depthwise_conv2d(x, w, b, padding=1, stride=2)
        cc.set_num_threads(threads)
        y2 = cc.depthwise_conv2d(x, w, b, padding=1, stride=2)
    finally:
        cc.set_num_threads(0)
    np.testing.assert_array_equal(y1, y2)
    assert_close(y2, ref.depthwise_conv2d(x, w, b, 2, 1), 9)


def test_edge_shapes(rng):
    x, w, b = _data(rng, 0, 3, 1, (5, 5), (3, 3), np.float32)
    assert cc.depthwise_conv2d(x, w, b).shape == (0, 3, 3, 3)
    x, w, b = _data(rng, 1, 2, 1, (1, 1), (3, 3), np.float64)  # kernel larger than the input
    assert_close(cc.depthwise_conv2d(x, w, b, padding=1), ref.depthwise_conv2d(x, w, b, padding=1))
    x, w, b = _data(rng, 1, 2, 2, (7, 7), (1, 1), np.float64)  # stride larger than the kernel
    assert_close(cc.depthwise_conv2d(x, w, b, stride=3), ref.depthwise_conv2d(x, w, b, 3))


class TestTorch:
    @pytest.fixture
    def torch(self):
        return pytest.importorskip("torch")

    @pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
    def test_conv2d_groups(self, rng, torch, mode):
        x, w, b = _data(rng, 2, 8, 2, (12, 10), (3, 3), np.float32)
        F = torch.nn.functional
        xt = torch.from_numpy(x)
        if mode != "zeros":
            xt = F.pad(xt, (1, 1, 1, 1), mode=mode)
            pad = 0
        else:
            pad = 1
        e = F.relu6(F.conv2d(xt, torch.from_numpy(w), torch.from_numpy(b), stride=2, padding=pad,
                             dilation=1, groups=8)).numpy()
        y = cc.depthwise_conv2d(x, w, b, stride=2, padding=1, padding_mode=mode,
                                activation="relu6")
        assert_close(y, e.astype(np.float64), 9)
        ycl = cc.depthwise_conv2d(_cl(x), w, b, stride=2, padding=1, padding_mode=mode,
                                  activation="relu6", channels_last=True)
        assert_close(np.moveaxis(ycl, -1, 1), e.astype(np.float64), 9)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 2), c=st.sampled_from([1, 2, 5, 16, 19, 33]), m=st.integers(1, 3),
       h=st.integers(1, 9),
       wd=st.integers(1, 9), kh=st.integers(1, 4), kw=st.integers(1, 4), s=st.integers(1, 3),
       d=st.integers(1, 2), p=st.integers(0, 3), cl=st.booleans(),
       mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
def test_hypothesis(n, c, m, h, wd, kh, kw, s, d, p, cl, mode):
    rng = np.random.default_rng(n * 1000 + c * 100 + h * 10 + wd)
    x, w, b = _data(rng, n, c, m, (h, wd), (kh, kw), np.float64)
    ok = h + 2 * p >= (kh - 1) * d + 1 and wd + 2 * p >= (kw - 1) * d + 1
    if not ok:
        with pytest.raises(ValueError, match="kernel"):
            cc.depthwise_conv2d(x, w, b, stride=s, padding=p, dilation=d)
        return
    if not ref.padding_reaches(mode, (h, wd), [(p, p)] * 2):
        with pytest.raises(ValueError, match="padding_mode"):
            cc.depthwise_conv2d(x, w, b, stride=s, padding=p, dilation=d, padding_mode=mode)
        return
    y = cc.depthwise_conv2d(_cl(x) if cl else x, w, b, stride=s, padding=p, dilation=d,
                            padding_mode=mode, channels_last=cl)
    if cl:
        y = np.moveaxis(y, -1, 1)
    assert_close(y, ref.depthwise_conv2d(x, w, b, s, p, d, mode), kh * kw)


def test_bad_input(rng):
    x, w, b = _data(rng, 1, 4, 1, (6, 6), (3, 3), np.float32)
    with pytest.raises(ValueError, match=r"w must be 4-D"):
        cc.depthwise_conv2d(x, w[:, 0])
    with pytest.raises(ValueError, match=r"w must have shape \(C\*m, 1, kh, kw\)"):
        cc.depthwise_conv2d(x, np.ones((4, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"w.shape\[0\] must be a positive multiple of the 4"):
        cc.depthwise_conv2d(x, np.ones((6, 1, 3, 3), np.float32))
    with pytest.raises(ValueError, match="bias"):
        cc.depthwise_conv2d(x, w, b[:3])
    with pytest.raises(TypeError, match="w"):
        cc.depthwise_conv2d(x, w.astype(np.float64))
    with pytest.raises(ValueError, match="x must be 4-D"):
        cc.depthwise_conv2d(x[0], w)
    with pytest.raises(ValueError, match="kernel"):
        cc.depthwise_conv2d(x[:, :, :2], w)
    with pytest.raises(ValueError, match="stride"):
        cc.depthwise_conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="activation"):
        cc.depthwise_conv2d(x, w, activation="swish")
    with pytest.raises(ValueError, match="padding_mode"):
        cc.depthwise_conv2d(x, w, padding=1, padding_mode="mirror")


def test_cost_and_output_shape():
    c = cc.cost("depthwise_conv2d", (2, 8, 10, 10), (16, 1, 3, 3), (16,), stride=2, padding=1)
    assert c.output_shape == (2, 16, 5, 5)
    assert c.macs == 2 * 16 * 25 * 9 and c.params == 16 * 9 + 16
    assert cc.output_shape("depthwise_conv2d", (1, 7, 7, 3), (3, 1, 3, 3),
                           channels_last=True) == (1, 5, 5, 3)
    with pytest.raises(ValueError, match="w"):
        cc.cost("depthwise_conv2d", (1, 3, 7, 7), (3, 3, 3, 3))


def test_docstring_examples():
    import convcore._depthwise as mod
    assert doctest.testmod(mod).failed == 0
