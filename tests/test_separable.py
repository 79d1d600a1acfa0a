"""depthwise_separable_conv2d (fused), spatially_separable_conv2d, separate_kernel and
flattened_conv2d: against the oracle, their unfused compositions, conv and PyTorch; costs."""
import doctest

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convcore as cc
import reference as ref
from conftest import assert_close

DTYPES = [np.float32, np.float64]


def _cl(a):
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def _dws(rng, n, c, m, hw, k, cout, dtype):
    x = rng.standard_normal((n, c) + hw).astype(dtype)
    wd = rng.standard_normal((c * m, 1) + k).astype(dtype)
    wp = rng.standard_normal((cout, c * m)).astype(dtype)
    bd = rng.standard_normal(c * m).astype(dtype)
    bp = rng.standard_normal(cout).astype(dtype)
    return x, wd, wp, bd, bp


# ----------------------------------------------------------------------- depthwise separable

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("kw", [
    dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2),
    dict(padding=2, padding_mode="reflect", mid_activation="relu6", activation="relu"),
    dict(stride=(1, 2), padding=((1, 0), (2, 1)), padding_mode="circular", activation="sigmoid"),
])
def test_dws_matches_unfused_and_oracle(rng, dtype, channels_last, kw):
    x, wd, wp, bd, bp = _dws(rng, 2, 5, 2, (17, 13), (3, 3), 7, dtype)
    xi = _cl(x) if channels_last else x
    y = cc.depthwise_separable_conv2d(xi, wd, wp, bd, bp, channels_last=channels_last, **kw)
    assert y.dtype == dtype and y.flags.c_contiguous
    dkw = {k: v for k, v in kw.items() if k not in ("mid_activation", "activation")}
    mid = cc.depthwise_conv2d(xi, wd, bd, activation=kw.get("mid_activation"),
                              channels_last=channels_last, **dkw)
    unfused = cc.pointwise_conv(mid, wp, bp, activation=kw.get("activation"),
                                channels_last=channels_last)
    assert_close(y, unfused.astype(np.float64), 90)
    if channels_last:
        y = np.moveaxis(y, -1, 1)
    e = ref.depthwise_separable_conv2d(
        x, wd, wp, bd, bp, kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1),
        kw.get("padding_mode", "zeros"), kw.get("mid_activation"), kw.get("activation"))
    assert_close(y, e, 90)


def test_dws_many_bands_and_wide_rows(rng):
    # Enough rows for several bands per image (bands are ~128 KiB of the intermediate), and a
    # row wider than one band so a band is a single row.
    for hw, c, m in [((130, 70), 16, 1), ((3, 2100), 8, 2)]:
        x, wd, wp, bd, bp = _dws(rng, 2, c, m, hw, (3, 3), 5, np.float32)
        y = cc.depthwise_separable_conv2d(x, wd, wp, bd, bp, padding=1, mid_activation="relu")
        e = ref.depthwise_separable_conv2d(x, wd, wp, bd, bp, padding=1, mid_activation="relu")
        assert_close(y, e, 9 * c * m)
        ycl = cc.depthwise_separable_conv2d(_cl(x), wd, wp, bd, bp, padding=1,
                                            mid_activation="relu", channels_last=True)
        assert_close(np.moveaxis(ycl, -1, 1), e, 9 * c * m)


@pytest.mark.parametrize("threads", [1, 2])
def test_dws_threads(rng, threads):
    x, wd, wp, bd, bp = _dws(rng, 3, 8, 1, (40, 33), (3, 3), 12, np.float32)
    cc.set_num_threads(1)
    try:
        y1 = cc.depthwise_separable_conv2d(x, wd, wp, bd, bp, stride=2, padding=1)
        cc.set_num_threads(threads)
        y2 = cc.depthwise_separable_conv2d(x, wd, wp, bd, bp, stride=2, padding=1)
    finally:
        cc.set_num_threads(0)
    np.testing.assert_array_equal(y1, y2)
    assert_close(y2, ref.depthwise_separable_conv2d(x, wd, wp, bd, bp, 2, 1), 72)


def test_dws_non_contiguous_and_4d_pointwise(rng):
    x, wd, wp, bd, bp = _dws(rng, 2, 6, 1, (9, 8), (3, 3), 4, np.float64)
    xs = np.asfortranarray(x)[:, ::2]
    wds, bds = wd[::2], bd[::2]
    wps = np.asfortranarray(wp[:, ::2])[:, :, None, None]
    keep = xs.copy()
    y = cc.depthwise_separable_conv2d(xs, wds, wps, bds, bp, padding=1)
    assert_close(y, ref.depthwise_separable_conv2d(xs, wds, wps, bds, bp, padding=1), 27)
    np.testing.assert_array_equal(xs, keep)


def test_dws_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, wd, wp, bd, bp = _dws(rng, 2, 8, 1, (20, 20), (3, 3), 16, np.float32)
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    mid = F.relu6(F.conv2d(t(x), t(wd), t(bd), stride=2, padding=1, groups=8))
    e = F.conv2d(mid, t(wp[:, :, None, None]), t(bp)).numpy().astype(np.float64)
    y = cc.depthwise_separable_conv2d(x, wd, wp, bd, bp, stride=2, padding=1,
                                      mid_activation="relu6")
    assert_close(y, e, 72)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 2), c=st.integers(1, 4), m=st.integers(1, 2), h=st.integers(3, 9),
       w=st.integers(3, 9), co=st.integers(1, 6), s=st.integers(1, 2), p=st.integers(0, 2),
       cl=st.booleans())
def test_dws_hypothesis(n, c, m, h, w, co, s, p, cl):
    rng = np.random.default_rng(n + 7 * c + 31 * h + 101 * w)
    x, wd, wp, bd, bp = _dws(rng, n, c, m, (h, w), (3, 3), co, np.float64)
    y = cc.depthwise_separable_conv2d(_cl(x) if cl else x, wd, wp, bd, bp, stride=s, padding=p,
                                      mid_activation="tanh", channels_last=cl)
    if cl:
        y = np.moveaxis(y, -1, 1)
    assert_close(y, ref.depthwise_separable_conv2d(x, wd, wp, bd, bp, s, p,
                                                   mid_activation="tanh"), 9 * c * m)


def test_dws_bad_input(rng):
    x, wd, wp, bd, bp = _dws(rng, 1, 4, 1, (6, 6), (3, 3), 5, np.float32)
    with pytest.raises(ValueError, match="w_depthwise"):
        cc.depthwise_separable_conv2d(x, np.ones((4, 2, 3, 3), "f4"), wp)
    with pytest.raises(ValueError, match="w_depthwise"):
        cc.depthwise_separable_conv2d(x, np.ones((6, 1, 3, 3), "f4"), wp)
    with pytest.raises(ValueError, match="w_pointwise"):
        cc.depthwise_separable_conv2d(x, wd, np.ones((5, 3), "f4"))
    with pytest.raises(ValueError, match="w_pointwise must be a 1x1 kernel"):
        cc.depthwise_separable_conv2d(x, wd, np.ones((5, 4, 3, 3), "f4"))
    with pytest.raises(ValueError, match="b_depthwise"):
        cc.depthwise_separable_conv2d(x, wd, wp, bd[:2], bp)
    with pytest.raises(ValueError, match="b_pointwise"):
        cc.depthwise_separable_conv2d(x, wd, wp, bd, bp[:2])
    with pytest.raises(TypeError, match="w_pointwise"):
        cc.depthwise_separable_conv2d(x, wd, wp.astype(np.float64))
    with pytest.raises(ValueError, match="mid_activation"):
        cc.depthwise_separable_conv2d(x, wd, wp, mid_activation="elu")


def test_dws_cost_textbook():
    c = cc.cost("depthwise_separable_conv2d", (1, 3, 7, 7), (3, 1, 3, 3), (128, 3, 1, 1))
    assert c.macs == 10275
    assert c.details == {"depthwise": 675, "pointwise": 9600}
    assert cc.cost("conv", (1, 3, 7, 7), (128, 3, 3, 3)).macs == 86400
    assert c.output_shape == (1, 128, 5, 5) and c.params == 27 + 384
    c = cc.cost("depthwise_separable_conv2d", (2, 4, 8, 8), (8, 1, 3, 3), (6, 8), (8,), (6,),
                stride=2, padding=1, channels_last=False)
    assert c.output_shape == (2, 6, 4, 4)
    assert c.macs == 2 * 8 * 16 * 9 + 2 * 16 * 8 * 6
    assert cc.output_shape("depthwise_separable_conv2d", (1, 7, 7, 3), (3, 1, 3, 3), (5, 3),
                           channels_last=True) == (1, 5, 5, 5)


# ----------------------------------------------------------------------- spatially separable

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [
    dict(), dict(stride=(2, 1), padding=(1, 2)), dict(padding="same", dilation=(1, 2)),
    dict(stride=2, padding=((0, 2), (1, 1)), padding_mode="reflect"),
    dict(groups=2, padding=1, padding_mode="circular"), dict(groups=2, dilation=2, padding=2,
                                                               padding_mode="replicate"),
])
def test_spatially_separable_matches_oracle(rng, dtype, kw):
    x = rng.standard_normal((2, 4, 11, 12)).astype(dtype)
    g = kw.get("groups", 1)
    wc = rng.standard_normal((6, 4 // g, 3, 1)).astype(dtype)
    wr = rng.standard_normal((8, 6 // g, 1, 5)).astype(dtype)
    b = rng.standard_normal(8).astype(dtype)
    y = cc.spatially_separable_conv2d(x, wc, wr, b, **kw)
    assert y.dtype == dtype and y.flags.c_contiguous
    e = ref.spatially_separable_conv2d(x, wc, wr, b, kw.get("stride", 1), kw.get("padding", 0),
                                       kw.get("dilation", 1), g, kw.get("padding_mode", "zeros"))
    assert_close(y, e, 60)
    ycl = cc.spatially_separable_conv2d(_cl(x), wc, wr, b, channels_last=True, **kw)
    assert_close(np.moveaxis(ycl, -1, 1), e, 60)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_spatially_separable_equals_outer_product_conv(rng, mode):
    x = rng.standard_normal((1, 1, 9, 10))
    col, row = rng.standard_normal(3), rng.standard_normal(5)
    y = cc.spatially_separable_conv2d(x, col.reshape(1, 1, 3, 1), row.reshape(1, 1, 1, 5),
                                      stride=2, padding=(1, 2), dilation=(2, 1), padding_mode=mode)
    e = cc.conv(x, np.outer(col, row)[None, None], stride=2, padding=(1, 2), dilation=(2, 1),
                padding_mode=mode)
    assert_close(y, e, 15)


def test_spatially_separable_torch_and_threads(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, 6, 16, 15)).astype(np.float32)
    wc = rng.standard_normal((6, 2, 3, 1)).astype(np.float32)
    wr = rng.standard_normal((9, 2, 1, 3)).astype(np.float32)
    b = rng.standard_normal(9).astype(np.float32)
    t = torch.from_numpy
    mid = F.conv2d(t(x), t(wc), stride=(2, 1), padding=(1, 0), groups=3)
    e = F.conv2d(mid, t(wr), t(b), stride=(1, 2), padding=(0, 1), groups=3).numpy()
    ys = []
    try:
        for n in (1, 2):
            cc.set_num_threads(n)
            ys.append(cc.spatially_separable_conv2d(np.asfortranarray(x), wc, wr, b, stride=2,
                                                    padding=1, groups=3))
    finally:
        cc.set_num_threads(0)
    np.testing.assert_array_equal(ys[0], ys[1])
    assert_close(ys[1], e.astype(np.float64), 6)


def test_spatially_separable_bad_input(rng):
    x = np.ones((1, 2, 6, 6))
    with pytest.raises(ValueError, match="w_col"):
        cc.spatially_separable_conv2d(x, np.ones((2, 2, 3, 3)), np.ones((2, 2, 1, 3)))
    with pytest.raises(ValueError, match="w_row"):
        cc.spatially_separable_conv2d(x, np.ones((2, 2, 3, 1)), np.ones((2, 2, 3, 1)))
    with pytest.raises(ValueError, match="w_col"):
        cc.spatially_separable_conv2d(x, np.ones((2, 3, 3, 1)), np.ones((2, 2, 1, 3)))
    with pytest.raises(ValueError, match="w_row"):
        cc.spatially_separable_conv2d(x, np.ones((2, 2, 3, 1)), np.ones((2, 3, 1, 3)))
    with pytest.raises(ValueError, match="bias"):
        cc.spatially_separable_conv2d(x, np.ones((2, 2, 3, 1)), np.ones((2, 2, 1, 3)), np.ones(3))
    with pytest.raises(TypeError, match="w_row"):
        cc.spatially_separable_conv2d(x, np.ones((2, 2, 3, 1)), np.ones((2, 2, 1, 3), "f4"))
    with pytest.raises(ValueError, match="kernel"):
        cc.spatially_separable_conv2d(x, np.ones((2, 2, 9, 1)), np.ones((2, 2, 1, 3)))


def test_spatially_separable_cost_textbook():
    c = cc.cost("spatially_separable_conv2d", (1, 1, 5, 5), (1, 1, 3, 1), (1, 1, 1, 3))
    assert c.macs == 72 and c.details == {"column": 45, "row": 27}
    assert cc.cost("conv", (1, 1, 5, 5), (1, 1, 3, 3)).macs == 81
    assert c.output_shape == (1, 1, 3, 3) and c.params == 6
    c = cc.cost("spatially_separable_conv2d", (1, 4, 8, 8), (6, 2, 3, 1), (4, 3, 1, 3), (4,),
                groups=2, stride=2, padding=1)
    assert c.output_shape == (1, 4, 4, 4)
    assert c.details == {"column": 6 * 4 * 8 * 2 * 3, "row": 4 * 16 * 3 * 3}


# ----------------------------------------------------------------------- separate_kernel

def _gauss(n, sigma):
    g = np.exp(-0.5 * ((np.arange(n) - (n - 1) / 2) / sigma) ** 2)
    return g / g.sum()


@pytest.mark.parametrize("k", [
    np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),            # Sobel x
    np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),            # Sobel y
    np.outer(_gauss(5, 1.2), _gauss(5, 1.2)),                  # Gaussian
    np.ones((3, 4)) / 12,                                      # box
    np.array([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], "f4"),    # Scharr, float32
])
def test_separate_kernel_rank1(k):
    f = cc.separate_kernel(k)
    assert len(f) == 1 and isinstance(f, list) and f.pairs == list(f)
    col, row = f[0]
    assert col.shape == (k.shape[0],) and row.shape == (k.shape[1],)
    assert col.dtype == (np.float32 if k.dtype == np.float32 else np.float64)
    tol = 1e-5 if k.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(np.outer(col, row), k, atol=tol * np.abs(k).max())
    assert f.residual <= tol * np.abs(k).max()
    x = np.random.default_rng(0).standard_normal((1, 1, 9, 9))
    y = cc.spatially_separable_conv2d(x, col.astype(np.float64).reshape(1, 1, -1, 1),
                                      row.astype(np.float64).reshape(1, 1, 1, -1))
    assert_close(y, ref.conv(x, np.asarray(k, np.float64)[None, None]), k.size, dtype=col.dtype)


def test_separate_kernel_full_and_truncated_rank(rng):
    k = rng.standard_normal((5, 4))
    f = cc.separate_kernel(k)
    assert len(f) == 4 and f.residual < 1e-12
    np.testing.assert_allclose(sum(np.outer(c, r) for c, r in f), k, atol=1e-12)
    np.testing.assert_allclose(f.reconstruct(), k, atol=1e-12)
    s = np.linalg.svd(k, compute_uv=False)
    for r in (1, 2, 3):
        fr = cc.separate_kernel(k, rank=r)
        assert len(fr) == r
        approx = sum(np.outer(c, rw) for c, rw in fr)
        assert abs(fr.residual - np.linalg.norm(k - approx)) < 1e-12
        assert abs(fr.residual - np.sqrt(np.sum(s[r:] ** 2))) < 1e-10  # Eckart-Young
    laplacian = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    assert len(cc.separate_kernel(laplacian)) == 2
    assert len(cc.separate_kernel(np.zeros((3, 3)))) == 1


def test_separate_kernel_bad_input():
    with pytest.raises(ValueError, match="k must be a 2-D"):
        cc.separate_kernel(np.ones(3))
    with pytest.raises(ValueError, match="k must be a 2-D"):
        cc.separate_kernel(np.ones((3, 3, 3)))
    with pytest.raises(ValueError, match="rank"):
        cc.separate_kernel(np.ones((3, 3)), rank=4)
    with pytest.raises(ValueError, match="rank"):
        cc.separate_kernel(np.ones((3, 3)), rank=0)
    with pytest.raises(ValueError, match="k must be finite"):
        cc.separate_kernel(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="tol"):
        cc.separate_kernel(np.ones((3, 3)), tol=-1)


# ----------------------------------------------------------------------- flattened

def _flat(rng, cin, cout, kh, kw, dtype):
    return (rng.standard_normal((cout, cin)).astype(dtype),
            rng.standard_normal((cout, kh)).astype(dtype),
            rng.standard_normal((cout, kw)).astype(dtype), rng.standard_normal(cout).astype(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [
    dict(), dict(stride=2, padding=1), dict(padding="same", dilation=(2, 1)),
    dict(stride=(1, 2), padding=((2, 0), (1, 2)), padding_mode="reflect"),
    dict(padding=2, padding_mode="circular"), dict(padding=1, padding_mode="replicate"),
])
def test_flattened_equals_rank1_conv(rng, dtype, kw):
    x = rng.standard_normal((2, 5, 10, 11)).astype(dtype)
    wc, wv, wh, b = _flat(rng, 5, 7, 3, 4, dtype)
    y = cc.flattened_conv2d(x, wc, wv, wh, b, **kw)
    assert y.dtype == dtype and y.flags.c_contiguous
    W = ref.flattened_weight(wc, wv, wh)
    e = ref.conv(x, W, b, kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1),
                 padding_mode=kw.get("padding_mode", "zeros"))
    assert_close(y, e, 60)
    assert_close(cc.conv(x.astype(np.float64), W, b.astype(np.float64), **kw), e, 60)


def test_flattened_threads_noncontiguous(rng):
    x = rng.standard_normal((2, 8, 20, 18)).astype(np.float32)
    wc, wv, wh, b = _flat(rng, 4, 6, 3, 3, np.float32)
    xs = np.asfortranarray(x)[:, ::2]
    keep = xs.copy()
    ys = []
    try:
        for n in (1, 2):
            cc.set_num_threads(n)
            ys.append(cc.flattened_conv2d(xs, wc, wv, wh, b, padding=1))
    finally:
        cc.set_num_threads(0)
    np.testing.assert_array_equal(ys[0], ys[1])
    np.testing.assert_array_equal(xs, keep)
    assert_close(ys[1], ref.conv(xs, ref.flattened_weight(wc, wv, wh), b, padding=1), 36)


def test_flattened_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((1, 3, 12, 12)).astype(np.float32)
    wc, wv, wh, b = _flat(rng, 3, 4, 5, 5, np.float32)
    W = ref.flattened_weight(wc, wv, wh).astype(np.float32)
    e = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(W), torch.from_numpy(b),
                                   padding=2).numpy()
    assert_close(cc.flattened_conv2d(x, wc, wv, wh, b, padding=2), e.astype(np.float64), 75)


@settings(max_examples=25, deadline=None)
@given(cin=st.integers(1, 4), cout=st.integers(1, 4), kh=st.integers(1, 4), kw=st.integers(1, 4),
       h=st.integers(4, 9), w=st.integers(4, 9), s=st.integers(1, 2), p=st.integers(0, 2))
def test_flattened_hypothesis(cin, cout, kh, kw, h, w, s, p):
    rng = np.random.default_rng(cin + 5 * cout + 25 * kh + 125 * kw)
    x = rng.standard_normal((1, cin, h, w))
    wc, wv, wh, b = _flat(rng, cin, cout, kh, kw, np.float64)
    y = cc.flattened_conv2d(x, wc, wv, wh, b, stride=s, padding=p)
    assert_close(y, ref.conv(x, ref.flattened_weight(wc, wv, wh), b, s, p), cin * kh * kw)


def test_flattened_bad_input(rng):
    x = np.ones((1, 3, 6, 6))
    wc, wv, wh, b = _flat(rng, 3, 4, 3, 3, np.float64)
    with pytest.raises(ValueError, match="w_vertical"):
        cc.flattened_conv2d(x, wc, wv[:3], wh)
    with pytest.raises(ValueError, match="w_horizontal"):
        cc.flattened_conv2d(x, wc, wv, wh[:2])
    with pytest.raises(ValueError, match="w_channel"):
        cc.flattened_conv2d(x, wc[:, :2], wv, wh)
    with pytest.raises(ValueError, match="w_channel must be 2-D"):
        cc.flattened_conv2d(x, wc[:, :, None, None], wv, wh)
    with pytest.raises(ValueError, match="w_vertical must be 2-D"):
        cc.flattened_conv2d(x, wc, wv[:, None], wh)
    with pytest.raises(ValueError, match="bias"):
        cc.flattened_conv2d(x, wc, wv, wh, b[:2])
    with pytest.raises(TypeError, match="w_horizontal"):
        cc.flattened_conv2d(x, wc, wv, wh.astype(np.float32))


def test_flattened_cost():
    c = cc.cost("flattened_conv2d", (1, 3, 7, 7), (8, 3), (8, 3), (8, 3))
    assert c.details == {"channel": 8 * 3 * 49, "vertical": 8 * 5 * 7 * 3,
                         "horizontal": 8 * 5 * 5 * 3}
    assert c.macs == sum(c.details.values()) and c.output_shape == (1, 8, 5, 5)
    assert c.params == 8 * 9
    assert cc.output_shape("flattened_conv2d", (1, 3, 7, 7), (8, 3), (8, 3), (8, 3),
                           padding=1) == (1, 8, 7, 7)


def test_docstring_examples():
    import convcore._separable as mod
    assert doctest.testmod(mod).failed == 0
