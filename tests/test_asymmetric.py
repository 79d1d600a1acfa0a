"""asymmetric_conv2d / fuse_asymmetric (ACNet) against the three-branch sum and PyTorch."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convcore as cc
import reference as ref
from conftest import assert_close

DTYPES = [np.float32, np.float64]


def _weights(rng, o, c, k, dtype=np.float64):
    return (rng.standard_normal((o, c, k, k)).astype(dtype),
            rng.standard_normal((o, c, 1, k)).astype(dtype),
            rng.standard_normal((o, c, k, 1)).astype(dtype))


def test_fuse_places_thin_kernels_on_the_centre(rng):
    sq, hor, ver = _weights(rng, 3, 2, 5)
    W = cc.fuse_asymmetric(sq, hor, ver)
    want = sq.copy()
    want[:, :, 2, :] += hor[:, :, 0, :]
    want[:, :, :, 2] += ver[:, :, :, 0]
    np.testing.assert_allclose(W, want, rtol=0, atol=1e-15)
    assert W.flags.c_contiguous and W.shape == sq.shape


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k,stride,padding,dilation,groups", [
    (3, 1, 1, 1, 1), (3, 2, 1, 1, 1), (3, 1, 0, 1, 1), (5, 1, 2, 1, 2), (5, 2, 1, 1, 1),
    (3, 1, "same", 2, 1), (3, (2, 1), (2, 0), (1, 2), 4), (1, 1, 0, 1, 1),
])
def test_asymmetric_equals_three_branches(rng, threads, dtype, k, stride, padding, dilation,
                                          groups):
    x = rng.standard_normal((2, 4, 11, 10)).astype(dtype)
    sq, hor, ver = _weights(rng, 8, 4 // groups, k, dtype)
    b = rng.standard_normal(8).astype(dtype)
    y = cc.asymmetric_conv2d(x, sq, hor, ver, b, stride=stride, padding=padding,
                             dilation=dilation, groups=groups)
    want = ref.asymmetric_conv2d(x, sq, hor, ver, b, stride=stride, padding=padding,
                                 dilation=dilation, groups=groups)
    assert y.dtype == dtype and y.flags.c_contiguous
    assert_close(y, want, 4 // groups * (k * k + 2 * k))
    # and the deploy form: one conv with the fused kernel
    fused = cc.conv(x, cc.fuse_asymmetric(sq, hor, ver), b, stride=stride, padding=padding,
                    dilation=dilation, groups=groups)
    assert_close(y, fused.astype(np.float64), 4 * k * k)


def test_asymmetric_torch_three_convs(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, 3, 12, 12)).astype(np.float32)
    sq, hor, ver = _weights(rng, 6, 3, 3, np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    t = torch.from_numpy
    want = (F.conv2d(t(x), t(sq), t(b), stride=2, padding=1)
            + F.conv2d(t(x), t(hor), stride=2, padding=(0, 1))
            + F.conv2d(t(x), t(ver), stride=2, padding=(1, 0))).numpy()
    y = cc.asymmetric_conv2d(x, sq, hor, ver, b, stride=2, padding=1)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)


def test_asymmetric_channels_last_and_noncontiguous(rng):
    x = rng.standard_normal((2, 3, 16, 14))[:, :, ::2, ::2]
    sq, hor, ver = _weights(rng, 5, 3, 3)
    want = ref.asymmetric_conv2d(x, sq, hor, ver, padding=1)
    assert_close(cc.asymmetric_conv2d(x, sq, hor, ver, padding=1), want, 45)
    xl = np.moveaxis(x, 1, -1)  # non-contiguous channels-last view
    y = cc.asymmetric_conv2d(xl, sq, hor, ver, padding=1, channels_last=True)
    assert y.shape == (2, 8, 7, 5)
    assert_close(np.moveaxis(y, -1, 1), want, 45)


def test_asymmetric_activation_and_padding_mode(rng):
    x = rng.standard_normal((1, 2, 7, 7))
    sq, hor, ver = _weights(rng, 3, 2, 3)
    W = cc.fuse_asymmetric(sq, hor, ver)
    y = cc.asymmetric_conv2d(x, sq, hor, ver, padding=1, padding_mode="reflect", activation="relu")
    assert_close(y, ref.conv(x, W, padding=1, padding_mode="reflect", activation="relu"), 18)


def test_asymmetric_bad_input():
    x = np.zeros((1, 2, 6, 6))
    sq, hor, ver = np.zeros((3, 2, 3, 3)), np.zeros((3, 2, 1, 3)), np.zeros((3, 2, 3, 1))
    with pytest.raises(ValueError, match="w_square"):
        cc.asymmetric_conv2d(x, np.zeros((3, 2, 4, 4)), np.zeros((3, 2, 1, 4)),
                             np.zeros((3, 2, 4, 1)))
    with pytest.raises(ValueError, match="w_square"):
        cc.fuse_asymmetric(np.zeros((3, 2, 3, 5)), hor, ver)
    with pytest.raises(ValueError, match="w_hor"):
        cc.asymmetric_conv2d(x, sq, np.zeros((3, 2, 3, 1)), ver)
    with pytest.raises(ValueError, match="w_ver"):
        cc.fuse_asymmetric(sq, hor, np.zeros((3, 1, 3, 1)))
    with pytest.raises(ValueError, match="channels"):
        cc.asymmetric_conv2d(np.zeros((1, 3, 6, 6)), sq, hor, ver)
    with pytest.raises(TypeError, match="w_ver"):
        cc.asymmetric_conv2d(x, sq, hor, ver.astype(np.float32))
    with pytest.raises(ValueError, match="bias"):
        cc.asymmetric_conv2d(x, sq, hor, ver, np.zeros(4))
    with pytest.raises(ValueError, match="x"):
        cc.asymmetric_conv2d(np.zeros((1, 2, 6)), sq, hor, ver)


@given(n=st.integers(0, 2), c=st.integers(1, 3), o=st.integers(1, 3), h=st.integers(1, 7),
       w=st.integers(1, 7), k=st.sampled_from([1, 3, 5]), s=st.integers(1, 3),
       p=st.integers(0, 3))
@settings(max_examples=40, deadline=None)
def test_asymmetric_hypothesis(n, c, o, h, w, k, s, p):
    if h + 2 * p < k or w + 2 * p < k:
        return
    r = np.random.default_rng(2)
    x = r.standard_normal((n, c, h, w))
    sq, hor, ver = _weights(r, o, c, k)
    assert_close(cc.asymmetric_conv2d(x, sq, hor, ver, stride=s, padding=p),
                 ref.asymmetric_conv2d(x, sq, hor, ver, stride=s, padding=p), c * k * k)


def test_costs():
    c = cc.cost("asymmetric_conv2d", (1, 3, 8, 8), (16, 3, 3, 3), (16, 3, 1, 3), (16, 3, 3, 1),
                (16,), padding=1)
    assert c.output_shape == (1, 16, 8, 8)
    assert c.macs == 16 * 64 * 3 * 9
    assert c.details["three_branches"] == 16 * 64 * 3 * (9 + 3 + 3)
    assert c.params == 16 * 3 * (9 + 3 + 3) + 16
    f = cc.cost("fuse_asymmetric", (16, 3, 3, 3), (16, 3, 1, 3), (16, 3, 3, 1))
    assert f.output_shape == (16, 3, 3, 3) and f.macs == 0
    with pytest.raises(ValueError, match="w_hor"):
        cc.cost("fuse_asymmetric", (16, 3, 3, 3), (16, 3, 1, 2), (16, 3, 3, 1))
