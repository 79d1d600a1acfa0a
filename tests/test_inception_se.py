"""inception (Inception modules, ASPP) and squeeze_excitation against the oracle and PyTorch."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convcore as cc
import reference as ref
from conftest import assert_close

DTYPES = [np.float32, np.float64]


# ---- squeeze_excitation ----

def _se(rng, c, r, dtype=np.float64):
    return (rng.standard_normal((r, c)).astype(dtype), rng.standard_normal(r).astype(dtype),
            rng.standard_normal((c, r)).astype(dtype), rng.standard_normal(c).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 8, 5, 6), (3, 16, 7), (1, 4, 3, 4, 5), (0, 8, 3, 3)])
def test_se_oracle(rng, threads, dtype, shape):
    c = shape[1]
    x = rng.standard_normal(shape).astype(dtype)
    x0 = x.copy()
    w1, b1, w2, b2 = _se(rng, c, c // 4, dtype)
    y = cc.squeeze_excitation(x, w1, b1, w2, b2)
    assert y.dtype == dtype and y.flags.c_contiguous and y.shape == x.shape
    assert_close(y, ref.squeeze_excitation(x, w1, b1, w2, b2), c)
    np.testing.assert_array_equal(x, x0)


def test_se_channels_last(rng, threads):
    x = rng.standard_normal((2, 6, 7, 12))
    w1, b1, w2, b2 = _se(rng, 12, 3)
    y = cc.squeeze_excitation(x, w1, b1, w2, b2, channels_last=True)
    want = ref.squeeze_excitation(np.moveaxis(x, -1, 1), w1, b1, w2, b2)
    assert_close(np.moveaxis(y, -1, 1), want, 12)


def test_se_conv_shaped_weights_no_bias_noncontiguous(rng):
    x = rng.standard_normal((2, 8, 10, 12))[:, :, 1::2, ::3]
    w1, _, w2, _ = _se(rng, 8, 2)
    y = cc.squeeze_excitation(x, w1[:, :, None, None], None, np.asfortranarray(w2)[:, :, None, None],
                              None)
    assert_close(y, ref.squeeze_excitation(x, w1, None, w2, None), 8)


def test_se_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, 16, 9, 9)).astype(np.float32)
    w1, b1, w2, b2 = _se(rng, 16, 4, np.float32)
    t = torch.from_numpy
    s = F.adaptive_avg_pool2d(t(x), 1).flatten(1)
    s = torch.sigmoid(F.linear(torch.relu(F.linear(s, t(w1), t(b1))), t(w2), t(b2)))
    want = (t(x) * s[:, :, None, None]).numpy()
    np.testing.assert_allclose(cc.squeeze_excitation(x, w1, b1, w2, b2), want, rtol=1e-5,
                               atol=1e-5)


def test_se_bad_input():
    x = np.zeros((1, 8, 4, 4))
    w1, b1, w2, b2 = np.zeros((2, 8)), np.zeros(2), np.zeros((8, 2)), np.zeros(8)
    with pytest.raises(ValueError, match="w2"):
        cc.squeeze_excitation(x, w1, b1, np.zeros((8, 3)), b2)  # reduced widths disagree
    with pytest.raises(ValueError, match="w1"):
        cc.squeeze_excitation(x, np.zeros((2, 6)), b1, w2, b2)
    with pytest.raises(ValueError, match="w2"):
        cc.squeeze_excitation(x, w1, b1, np.zeros((6, 2)), b2)
    with pytest.raises(ValueError, match="b1"):
        cc.squeeze_excitation(x, w1, np.zeros(3), w2, b2)
    with pytest.raises(ValueError, match="b2"):
        cc.squeeze_excitation(x, w1, b1, w2, np.zeros(3))
    with pytest.raises(ValueError, match="w1"):
        cc.squeeze_excitation(x, np.zeros((2, 8, 3, 3)), b1, w2, b2)
    with pytest.raises(TypeError, match="w1"):
        cc.squeeze_excitation(x, w1.astype(np.float32), b1, w2, b2)
    with pytest.raises(ValueError, match="x"):
        cc.squeeze_excitation(np.zeros((1, 8)), w1, b1, w2, b2)


@given(n=st.integers(0, 2), c=st.integers(1, 6), r=st.integers(1, 3),
       sp=st.lists(st.integers(1, 4), min_size=1, max_size=3))
@settings(max_examples=40, deadline=None)
def test_se_hypothesis(n, c, r, sp):
    g = np.random.default_rng(3)
    x = g.standard_normal((n, c, *sp))
    w1, b1, w2, b2 = _se(g, c, r)
    assert_close(cc.squeeze_excitation(x, w1, b1, w2, b2), ref.squeeze_excitation(x, w1, b1, w2, b2),
                 c)


def test_se_cost():
    c = cc.cost("squeeze_excitation", (2, 64, 8, 8), (4, 64), (4,), (64, 4), (64,))
    assert c.output_shape == (2, 64, 8, 8)
    assert c.params == 64 * 4 * 2 + 4 + 64
    assert c.macs == 2 * (64 * 4 * 2) + 2 * 64 * 64
    with pytest.raises(ValueError, match="w2"):
        cc.cost("squeeze_excitation", (2, 64, 8, 8), (4, 64), None, (64, 8), None)


# ---- inception ----

def _inception_branches(rng, c, dtype=np.float64):
    w = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    return [
        [{"w": w(4, c, 1, 1), "bias": w(4), "activation": "relu"}],
        [{"w": w(3, c, 1, 1), "activation": "relu"},
         {"w": w(5, 3, 3, 3), "bias": w(5), "padding": 1}],
        [{"w": w(2, c, 1, 1)}, {"w": w(3, 2, 5, 5), "padding": "same", "activation": "relu"}],
        [{"w": w(4, c // 2, 3, 3), "padding": 1, "groups": 2}],
    ]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 3])
def test_inception_oracle(rng, threads, dtype, n):
    x = rng.standard_normal((n, 6, 9, 8)).astype(dtype)
    br = _inception_branches(rng, 6, dtype)
    y = cc.inception(x, br)
    assert y.shape == (n, 4 + 5 + 3 + 4, 9, 8) and y.dtype == dtype and y.flags.c_contiguous
    assert_close(y, ref.inception(x, br), 75)


def test_aspp_dilated_branches(rng, threads):
    """DeepLab's ASPP: a 1x1 branch and 3x3 branches with growing dilation, same spatial size."""
    x = rng.standard_normal((2, 4, 20, 20))[:, :, :, ::1]
    w = lambda *s: rng.standard_normal(s)  # noqa: E731
    aspp = [[{"w": w(3, 4, 1, 1), "activation": "relu"}]] + [
        [{"w": w(3, 4, 3, 3), "bias": w(3), "dilation": d, "padding": d, "activation": "relu"}]
        for d in (2, 4, 6)]
    y = cc.inception(x, aspp)
    assert y.shape == (2, 12, 20, 20)
    assert_close(y, ref.inception(x, aspp), 36)


def test_inception_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, 6, 10, 10)).astype(np.float32)
    br = _inception_branches(rng, 6, np.float32)
    t = lambda a: None if a is None else torch.from_numpy(a)  # noqa: E731
    outs = []
    for b in br:
        h = t(x)
        for L in b:
            pad = L.get("padding", 0)
            h = F.conv2d(h, t(L["w"]), t(L.get("bias")), padding=pad, groups=L.get("groups", 1))
            if L.get("activation") == "relu":
                h = torch.relu(h)
        outs.append(h)
    want = torch.cat(outs, 1).numpy()
    np.testing.assert_allclose(cc.inception(x, br), want, rtol=1e-4, atol=1e-4)


def test_inception_identity_branch_and_noncontiguous(rng):
    x = rng.standard_normal((2, 3, 12, 10))[:, :, ::2, :]
    w = rng.standard_normal((2, 3, 3, 3))
    y = cc.inception(x, [[], [{"w": w, "padding": 1}]])
    np.testing.assert_array_equal(y[:, :3], x)
    assert_close(y[:, 3:], ref.conv(x, w, padding=1), 27)


def test_inception_bad_input(rng):
    x = np.zeros((1, 4, 8, 8))
    with pytest.raises(ValueError, match=r"branches\[1\]"):
        cc.inception(x, [[{"w": np.zeros((2, 4, 1, 1))}], [{"w": np.zeros((2, 4, 3, 3))}]])
    with pytest.raises(ValueError, match="branches"):
        cc.inception(x, [])
    with pytest.raises(ValueError, match=r"branches\[0\]\[1\]"):
        cc.inception(x, [[{"w": np.zeros((2, 4, 1, 1))}, {"w": np.zeros((2, 3, 1, 1))}]])
    with pytest.raises(ValueError, match="unknown"):
        cc.inception(x, [[{"w": np.zeros((2, 4, 1, 1)), "strides": 2}]])
    with pytest.raises(ValueError, match="'w'"):
        cc.inception(x, [[{"bias": np.zeros(2)}]])
    with pytest.raises(TypeError, match="branches"):
        cc.inception(x, "conv")
    with pytest.raises(TypeError, match="dtype"):
        cc.inception(x, [[{"w": np.zeros((2, 4, 1, 1), np.float32)}]])


@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(3, 7), k=st.sampled_from([1, 3]),
       nb=st.integers(1, 3), d=st.integers(1, 2))
@settings(max_examples=25, deadline=None)
def test_inception_hypothesis(n, c, h, k, nb, d):
    g = np.random.default_rng(4)
    x = g.standard_normal((n, c, h, h + 1))
    br = [[{"w": g.standard_normal((i + 1, c, k, k)), "padding": (k // 2) * d, "dilation": d}]
          for i in range(nb)]
    assert_close(cc.inception(x, br), ref.inception(x, br), c * k * k)


def test_inception_cost():
    br = [[{"w": (64, 192, 1, 1)}],
          [{"w": (96, 192, 1, 1)}, {"w": (128, 96, 3, 3), "bias": (128,), "padding": 1}]]
    c = cc.cost("inception", (1, 192, 28, 28), br)
    assert c.output_shape == (1, 192, 28, 28)
    assert c.details["branch0"] == 64 * 192 * 784
    assert c.details["branch1"] == 96 * 192 * 784 + 128 * 96 * 9 * 784
    assert c.macs == c.details["branch0"] + c.details["branch1"]
    assert c.params == 64 * 192 + 96 * 192 + 128 * 96 * 9 + 128
    with pytest.raises(ValueError, match="branches"):
        cc.output_shape("inception", (1, 192, 28, 28), [[{"w": (8, 192, 1, 1)}],
                                                        [{"w": (8, 192, 3, 3)}]])
