"""channel_shuffle and shuffled_grouped_conv against the oracle and PyTorch."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convcore as cc
import reference as ref
from conftest import assert_close

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,groups", [
    ((2, 6, 5, 4), 2), ((2, 6, 5, 4), 3), ((1, 12, 3), 4), ((3, 8, 2, 3, 2), 8),
    ((2, 4), 2), ((2, 5, 3, 3), 1), ((0, 4, 3, 3), 2),
])
def test_channel_shuffle_oracle(rng, threads, dtype, shape, groups):
    x = rng.standard_normal(shape).astype(dtype)
    x0 = x.copy()
    y = cc.channel_shuffle(x, groups)
    assert y.dtype == dtype and y.flags.c_contiguous and y.shape == x.shape
    np.testing.assert_array_equal(y, ref.channel_shuffle(x, groups))
    np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("groups", [2, 3, 6])
def test_channel_shuffle_channels_last(rng, threads, groups):
    x = rng.standard_normal((2, 5, 7, 6))
    y = cc.channel_shuffle(x, groups, channels_last=True)
    np.testing.assert_array_equal(y, ref.channel_shuffle(x, groups, channels_last=True))
    # the same permutation as channels-first
    xf = np.ascontiguousarray(np.moveaxis(x, -1, 1))
    np.testing.assert_array_equal(np.moveaxis(y, -1, 1), cc.channel_shuffle(xf, groups))


def test_channel_shuffle_noncontiguous(rng):
    x = rng.standard_normal((2, 8, 6, 10))[:, :, ::2, 1::3]
    np.testing.assert_array_equal(cc.channel_shuffle(x, 4), ref.channel_shuffle(x, 4))
    xf = np.asfortranarray(rng.standard_normal((3, 6, 4, 5)))
    np.testing.assert_array_equal(cc.channel_shuffle(xf, 3), ref.channel_shuffle(xf, 3))


def test_channel_shuffle_inverse(rng):
    x = rng.standard_normal((1, 12, 3, 3))
    # shuffling with g then with C/g restores the order
    np.testing.assert_array_equal(cc.channel_shuffle(cc.channel_shuffle(x, 3), 4), x)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_channel_shuffle_torch(rng, groups):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 8, 5, 6)).astype(np.float32)
    want = torch.nn.ChannelShuffle(groups)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(cc.channel_shuffle(x, groups), want)
    want2 = torch.nn.functional.channel_shuffle(torch.from_numpy(x), groups).numpy()
    np.testing.assert_array_equal(cc.channel_shuffle(x, groups), want2)


def test_channel_shuffle_bad_input():
    x = np.zeros((1, 6, 2, 2))
    with pytest.raises(ValueError, match="groups"):
        cc.channel_shuffle(x, 4)
    with pytest.raises(ValueError, match="groups"):
        cc.channel_shuffle(x, 0)
    with pytest.raises(TypeError, match="groups"):
        cc.channel_shuffle(x, 2.0)
    with pytest.raises(ValueError, match="x"):
        cc.channel_shuffle(np.zeros(6), 2)
    with pytest.raises(TypeError, match="x"):
        cc.channel_shuffle(x.astype(np.int32), 2)
    with pytest.raises(ValueError, match="groups"):
        cc.channel_shuffle(np.zeros((1, 2, 2, 6)), 4, channels_last=True)


@given(n=st.integers(0, 2), per=st.integers(1, 4), g=st.integers(1, 4),
       sp=st.lists(st.integers(1, 4), min_size=0, max_size=3), cl=st.booleans())
@settings(max_examples=40, deadline=None)
def test_channel_shuffle_hypothesis(n, per, g, sp, cl):
    x = np.random.default_rng(0).standard_normal((n, *sp, per * g) if cl else (n, per * g, *sp))
    np.testing.assert_array_equal(cc.channel_shuffle(x, g, channels_last=cl),
                                  ref.channel_shuffle(x, g, channels_last=cl))


# ---- shuffled_grouped_conv ----

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("groups,stride,padding,dilation", [
    (2, 1, 1, 1), (3, 2, 0, 1), (4, 1, "same", 2), (1, 1, 0, 1), (6, 2, (1, 2), 1),
])
def test_shuffled_grouped_conv_oracle(rng, threads, dtype, nd, groups, stride, padding, dilation):
    sp = {1: (11,), 2: (7, 8), 3: (5, 4, 6)}[nd]
    if isinstance(padding, tuple):
        padding = (padding * 3)[:nd]
    x = rng.standard_normal((2, 12) + sp).astype(dtype)
    w = rng.standard_normal((12, 12 // groups) + (3,) * nd).astype(dtype)
    b = rng.standard_normal(12).astype(dtype)
    y = cc.shuffled_grouped_conv(x, w, b, groups=groups, stride=stride, padding=padding,
                                 dilation=dilation)
    want = ref.shuffled_grouped_conv(x, w, b, groups=groups, stride=stride, padding=padding,
                                     dilation=dilation)
    assert y.dtype == dtype and y.flags.c_contiguous
    assert_close(y, want, 12 // groups * 3 ** nd)


def test_shuffled_equals_shuffle_of_conv(rng):
    x = rng.standard_normal((3, 8, 9, 9))
    w = rng.standard_normal((16, 2, 3, 3))
    b = rng.standard_normal(16)
    for mode in ("zeros", "reflect", "replicate", "circular"):
        y = cc.shuffled_grouped_conv(x, w, b, groups=4, padding=1, padding_mode=mode,
                                     activation="relu")
        want = cc.channel_shuffle(cc.conv(x, w, b, groups=4, padding=1, padding_mode=mode,
                                          activation="relu"), 4)
        np.testing.assert_allclose(y, want, rtol=1e-13, atol=1e-13)
        assert_close(y, ref.channel_shuffle(ref.conv(x, w, b, padding=1, groups=4,
                                                     padding_mode=mode, activation="relu"), 4), 18)


def test_shuffled_grouped_conv_noncontiguous(rng):
    x = rng.standard_normal((2, 6, 10, 12))[:, :, ::2, ::2]
    w = np.asfortranarray(rng.standard_normal((6, 2, 3, 3)))
    x0 = x.copy()
    y = cc.shuffled_grouped_conv(x, w, groups=3, padding=1)
    assert_close(y, ref.shuffled_grouped_conv(x, w, groups=3, padding=1), 18)
    np.testing.assert_array_equal(x, x0)


def test_shuffled_grouped_conv_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, 8, 12, 12)).astype(np.float32)
    w = rng.standard_normal((16, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    want = F.channel_shuffle(F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                      stride=2, padding=1, groups=4), 4).numpy()
    y = cc.shuffled_grouped_conv(x, w, b, groups=4, stride=2, padding=1)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)


def test_shuffled_grouped_conv_empty_batch():
    y = cc.shuffled_grouped_conv(np.zeros((0, 4, 5, 5)), np.zeros((4, 2, 3, 3)), groups=2)
    assert y.shape == (0, 4, 3, 3)


def test_shuffled_grouped_conv_bad_input():
    x = np.zeros((1, 6, 5, 5))
    with pytest.raises(ValueError, match="groups"):
        cc.shuffled_grouped_conv(x, np.zeros((5, 2, 3, 3)), groups=3)
    with pytest.raises(ValueError, match="channels"):
        cc.shuffled_grouped_conv(x, np.zeros((6, 3, 3, 3)), groups=3)
    with pytest.raises(TypeError, match="w"):
        cc.shuffled_grouped_conv(x, np.zeros((6, 2, 3, 3), np.float32), groups=3)
    with pytest.raises(ValueError, match="bias"):
        cc.shuffled_grouped_conv(x, np.zeros((6, 2, 3, 3)), np.zeros(5), groups=3)
    with pytest.raises(TypeError):
        cc.shuffled_grouped_conv(x, np.zeros((6, 2, 3, 3)))  # groups is required


@given(n=st.integers(0, 2), g=st.integers(1, 3), cin=st.integers(1, 2), cout=st.integers(1, 2),
       h=st.integers(1, 6), w=st.integers(1, 6), k=st.integers(1, 3), s=st.integers(1, 3),
       p=st.integers(0, 2))
@settings(max_examples=40, deadline=None)
def test_shuffled_grouped_conv_hypothesis(n, g, cin, cout, h, w, k, s, p):
    if h + 2 * p < k or w + 2 * p < k:
        return
    r = np.random.default_rng(1)
    x = r.standard_normal((n, cin * g, h, w))
    wt = r.standard_normal((cout * g, cin, k, k))
    y = cc.shuffled_grouped_conv(x, wt, groups=g, stride=s, padding=p)
    assert_close(y, ref.shuffled_grouped_conv(x, wt, groups=g, stride=s, padding=p), cin * k * k)


def test_costs():
    c = cc.cost("shuffled_grouped_conv", (1, 8, 6, 6), (16, 2, 3, 3), groups=4, padding=1)
    assert c.macs == 16 * 36 * 2 * 9 and c.params == 16 * 2 * 9
    assert c.output_shape == (1, 16, 6, 6) == cc.output_shape("shuffled_grouped_conv",
                                                              (1, 8, 6, 6), (16, 2, 3, 3),
                                                              groups=4, padding=1)
    c = cc.cost("channel_shuffle", (2, 6, 4, 4), 3)
    assert c.macs == 0 and c.params == 0 and c.output_shape == (2, 6, 4, 4)
    with pytest.raises(ValueError, match="groups"):
        cc.cost("channel_shuffle", (2, 6, 4, 4), 4)


def test_grouped_conv_params():
    # grouped conv params = C_out * (C_in / G) * K * K (the textbook count)
    for g in (1, 2, 4, 8):
        c = cc.cost("conv", (1, 8, 10, 10), (16, 8 // g, 3, 3), groups=g)
        assert c.params == 16 * (8 // g) * 3 * 3
        assert c.macs == 16 * 64 * (8 // g) * 9
