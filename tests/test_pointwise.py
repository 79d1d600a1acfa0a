"""pointwise_conv (1x1, any spatial rank, groups) against the oracle, conv and PyTorch."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convcore as cc
import reference as ref
from conftest import assert_close

DTYPES = [np.float32, np.float64]


def _data(rng, xs, cout, groups, dtype, bias=True):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((cout, xs[1] // groups)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype) if bias else None
    return x, w, b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spatial", [(), (13,), (5, 7), (3, 4, 5), (300,)])
@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("channels_last", [False, True])
def test_matches_oracle(rng, dtype, spatial, groups, channels_last):
    x, w, b = _data(rng, (2, 8) + spatial, 12, groups, dtype)
    xi = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x
    y = cc.pointwise_conv(xi, w, b, groups=groups, channels_last=channels_last)
    assert y.dtype == dtype and y.flags.c_contiguous
    if channels_last:
        y = np.moveaxis(y, -1, 1)
    assert_close(y, ref.pointwise_conv(x, w, b, groups), 8 // groups)


@pytest.mark.parametrize("cin,cout", [(1, 1), (3, 5), (7, 9), (33, 70), (64, 4)])
def test_odd_sizes_cover_every_block_edge(rng, cin, cout):
    x, w, b = _data(rng, (1, cin, 9, 15), cout, 1, np.float32)
    for act in [None, "relu", "gelu"]:
        y = cc.pointwise_conv(x, w, b, activation=act)
        assert_close(y, ref.pointwise_conv(x, w, b, activation=act), cin)
        ycl = cc.pointwise_conv(np.moveaxis(x, 1, -1), w, b, activation=act, channels_last=True)
        assert_close(np.moveaxis(ycl, -1, 1), ref.pointwise_conv(x, w, b, activation=act), cin)


def test_trailing_ones_and_conv(rng):
    x, w, b = _data(rng, (2, 6, 5, 4), 4, 2, np.float64)
    w4 = w[:, :, None, None]
    y = cc.pointwise_conv(x, w4, b, groups=2)
    assert_close(y, cc.conv(x, w4, b, groups=2), 3)
    assert_close(cc.pointwise_conv(x, w, b, groups=2), y, 3)
    x3 = x[:, :, 0]
    assert_close(cc.pointwise_conv(x3, w[:, :, None], b, groups=2),
                 cc.conv(x3, w[:, :, None], b, groups=2), 3)


def test_non_contiguous_inputs_not_modified(rng):
    x, w, b = _data(rng, (2, 8, 6, 7), 5, 1, np.float32)
    xs = np.asfortranarray(x)[:, :, ::2, 1:]
    ws = np.asfortranarray(w)
    keep = xs.copy()
    y = cc.pointwise_conv(xs, ws, b)
    assert_close(y, ref.pointwise_conv(xs, w, b), 8)
    np.testing.assert_array_equal(xs, keep)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_give_identical_results(rng, threads):
    x, w, b = _data(rng, (3, 16, 20, 21), 24, 2, np.float32)
    cc.set_num_threads(1)
    try:
        y1 = cc.pointwise_conv(x, w, b, groups=2)
        y1c = cc.pointwise_conv(np.moveaxis(x, 1, -1), w, b, groups=2, channels_last=True)
        cc.set_num_threads(threads)
        y2 = cc.pointwise_conv(x, w, b, groups=2)
        y2c = cc.pointwise_conv(np.moveaxis(x, 1, -1), w, b, groups=2, channels_last=True)
    finally:
        cc.set_num_threads(0)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(y1c, y2c)
    assert_close(y2, ref.pointwise_conv(x, w, b, 2), 8)


def test_torch(rng):
    torch = pytest.importorskip("torch")
    x, w, b = _data(rng, (2, 32, 14, 14), 64, 4, np.float32)
    e = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w[:, :, None, None]),
                                   torch.from_numpy(b), groups=4).numpy()
    assert_close(cc.pointwise_conv(x, w, b, groups=4), e.astype(np.float64), 8)


def test_zero_sizes(rng):
    x, w, b = _data(rng, (0, 4, 3, 3), 2, 1, np.float32)
    assert cc.pointwise_conv(x, w, b).shape == (0, 2, 3, 3)
    x, w, b = _data(rng, (2, 4, 0), 2, 1, np.float32)
    assert cc.pointwise_conv(x, w, b).shape == (2, 2, 0)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 2), cpg=st.integers(1, 6), opg=st.integers(1, 6), g=st.integers(1, 3),
       sp=st.lists(st.integers(1, 6), min_size=0, max_size=3), cl=st.booleans())
def test_hypothesis(n, cpg, opg, g, sp, cl):
    rng = np.random.default_rng(n + 10 * cpg + 100 * opg)
    x, w, b = _data(rng, (n, cpg * g) + tuple(sp), opg * g, g, np.float64)
    xi = np.moveaxis(x, 1, -1) if cl else x
    y = cc.pointwise_conv(xi, w, b, groups=g, channels_last=cl)
    if cl:
        y = np.moveaxis(y, -1, 1)
    assert_close(y, ref.pointwise_conv(x, w, b, g), cpg)


def test_bad_input(rng):
    x, w, b = _data(rng, (1, 4, 5, 5), 6, 1, np.float32)
    with pytest.raises(ValueError, match=r"w must be a 1x1 kernel"):
        cc.pointwise_conv(x, np.ones((6, 4, 3, 3), np.float32))
    with pytest.raises(ValueError, match="x has 4 channels but w expects"):
        cc.pointwise_conv(x, np.ones((6, 3), np.float32))
    with pytest.raises(ValueError, match="groups"):
        cc.pointwise_conv(x, np.ones((5, 2), np.float32), groups=2)
    with pytest.raises(ValueError, match="groups"):
        cc.pointwise_conv(x, w, groups=0)
    with pytest.raises(ValueError, match="bias"):
        cc.pointwise_conv(x, w, b[:2])
    with pytest.raises(TypeError, match="bias"):
        cc.pointwise_conv(x, w, b.astype(np.float64))
    with pytest.raises(ValueError, match="w has 1 trailing kernel dimensions"):
        cc.pointwise_conv(x, w[:, :, None])
    with pytest.raises(ValueError, match="x must have 2 to 5"):
        cc.pointwise_conv(x[0, 0, 0], w)


def test_cost():
    c = cc.cost("pointwise_conv", (1, 3, 5, 5), (128, 3, 1, 1))
    assert c.macs == 9600 and c.params == 384 and c.output_shape == (1, 128, 5, 5)
    c = cc.cost("pointwise_conv", (2, 8, 10), (6, 4), (6,), groups=2, channels_last=False)
    assert c.macs == 2 * 6 * 10 * 4 and c.params == 30
    shape = cc.output_shape("pointwise_conv", (1, 4, 4, 8), (3, 8), channels_last=True)
    assert shape == (1, 4, 4, 3)
    with pytest.raises(ValueError, match="w"):
        cc.cost("pointwise_conv", (1, 3, 5, 5), (128, 3, 3, 3))
