"""deform_conv2d against the NumPy oracle (tests/reference.py), conv2d, hand-computed border
values and, where installed, torchvision.ops.deform_conv2d."""
import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convcore as cc
import convcore._deform
from conftest import assert_close
import reference as ref

ALGOS = ["auto", "reference"]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out(H, W, kh, kw, stride, padding, dilation):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    return ((H + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1,
            (W + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1)


def make_case(rng, N=2, C=4, H=7, W=6, Co=6, k=(3, 3), groups=1, og=1, stride=1, padding=1,
              dilation=1, mask=False, spread=2.5, dtype=np.float64):
    kh, kw = k
    Ho, Wo = _out(H, W, kh, kw, stride, padding, dilation)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((Co, C // groups, kh, kw)).astype(dtype)
    b = rng.standard_normal(Co).astype(dtype)
    off = rng.uniform(-spread, spread, (N, 2 * og * kh * kw, Ho, Wo)).astype(dtype)
    m = rng.uniform(0, 1, (N, og * kh * kw, Ho, Wo)).astype(dtype) if mask else None
    kw_ = dict(stride=stride, padding=padding, dilation=dilation)
    return x, off, w, b, m, kw_


def oracle(x, off, w, b, m, kw_):
    return ref.deform_conv2d(x, off, w, b, stride=_pair(kw_["stride"]),
                             padding=_pair(kw_["padding"]), dilation=_pair(kw_["dilation"]),
                             mask=m)


# ------------------------------------------------------------------------------ oracle
@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups,og", [(1, 1), (2, 1), (1, 2), (2, 4), (4, 2)])
@pytest.mark.parametrize("mask", [False, True])
def test_matches_oracle(rng, algorithm, dtype, groups, og, mask):
    x, off, w, b, m, kw_ = make_case(rng, C=8, Co=4, groups=groups, og=og, mask=mask,
                                     dtype=dtype)
    y = cc.deform_conv2d(x, off, w, b, mask=m, algorithm=algorithm, **kw_)
    assert y.dtype == dtype and y.flags.c_contiguous
    assert_close(y, oracle(x, off, w, b, m, kw_), reduction=w[0].size * 4)


@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("stride,padding,dilation,k", [
    (1, 0, 1, (3, 3)), (2, 1, 1, (3, 3)), ((1, 2), (2, 0), (2, 1), (3, 2)), (3, 2, 2, (2, 3)),
    (1, 0, 1, (1, 1)), (2, (1, 3), 1, (5, 4))])
def test_geometry_vs_oracle(rng, algorithm, stride, padding, dilation, k):
    x, off, w, b, m, kw_ = make_case(rng, H=9, W=8, k=k, stride=stride, padding=padding,
                                     dilation=dilation, mask=True)
    y = cc.deform_conv2d(x, off, w, b, mask=m, algorithm=algorithm, **kw_)
    assert_close(y, oracle(x, off, w, b, m, kw_), reduction=w[0].size * 4)


def test_fast_kernel_vs_reference_large(rng):
    # Several pixel tiles with a partial last one, several channel chunks per group (5x5
    # taps), output channels per group not a multiple of the register block.
    # Also offset groups of 6 channels, so 4-channel sampling blocks meet group boundaries.
    configs = [dict(C=64, Co=14, k=(5, 5), groups=2, og=4, padding=2),
               dict(C=36, Co=13, k=(3, 3), groups=1, og=6, padding=1),
               dict(C=30, Co=10, k=(3, 3), groups=2, og=5, padding=1, channels_last=True)]
    for dtype, cfg in [(d, c) for d in (np.float32, np.float64) for c in configs]:
        cfg = dict(cfg)
        cl = cfg.pop("channels_last", False)
        x, off, w, b, m, kw_ = make_case(rng, N=2, H=13, W=14, mask=True, dtype=dtype, **cfg)
        if cl:
            t = (0, 2, 3, 1)
            y = cc.deform_conv2d(x.transpose(t), off.transpose(t), w, b, mask=m.transpose(t),
                                 channels_last=True, **kw_)
            assert_close(y.transpose(0, 3, 1, 2), oracle(x, off, w, b, m, kw_),
                         reduction=w[0].size * 4)
        fast = cc.deform_conv2d(x, off, w, b, mask=m, **kw_)
        slow = cc.deform_conv2d(x, off, w, b, mask=m, algorithm="reference", **kw_)
        assert_close(fast, slow.astype(np.float64), reduction=w[0].size * 4)
        if dtype == np.float64 and x.shape[1] < 64:  # the NumPy oracle is slow
            assert_close(slow, oracle(x, off, w, b, m, kw_), reduction=w[0].size * 4)


def test_kernel_larger_than_a_column_panel(rng):
    # 17x17 = 289 taps: one channel alone exceeds the 256-row column panel target.
    x, off, w, b, m, kw_ = make_case(rng, N=1, C=3, H=18, W=19, Co=4, k=(17, 17), og=3,
                                     padding=3, mask=True, dtype=np.float32)
    fast = cc.deform_conv2d(x, off, w, b, mask=m, **kw_)
    slow = cc.deform_conv2d(x, off, w, b, mask=m, algorithm="reference", **kw_)
    assert_close(fast, slow.astype(np.float64), reduction=w[0].size * 4)


# ------------------------------------------------------------------------------ conv2d identities
@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 0, 1, 1), (1, 1, 1, 1), (2, 1, 1, 2), ((2, 1), (0, 2), (1, 2), 4), (3, 3, 3, 1)])
def test_zero_offsets_equal_conv2d(rng, algorithm, stride, padding, dilation, groups):
    # Small integers: every partial sum is exact in any order, so equality is exact.
    x = rng.integers(-4, 5, (2, 8, 9, 10)).astype(np.float32)
    w = rng.integers(-3, 4, (8, 8 // groups, 3, 3)).astype(np.float32)
    b = rng.integers(-3, 4, 8).astype(np.float32)
    Ho, Wo = _out(9, 10, 3, 3, stride, padding, dilation)
    off = np.zeros((2, 18, Ho, Wo), np.float32)
    kw_ = dict(stride=stride, padding=padding, dilation=dilation)
    y = cc.deform_conv2d(x, off, w, b, algorithm=algorithm, **kw_)
    np.testing.assert_array_equal(y, cc.conv2d(x, w, b, groups=groups, **kw_))
    # random data: equal within rounding
    xr = rng.standard_normal(x.shape)
    wr = rng.standard_normal(w.shape)
    assert_close(cc.deform_conv2d(xr, off.astype(np.float64), wr, algorithm=algorithm, **kw_),
                 ref.deform_conv2d(xr, off, wr, stride=_pair(stride), padding=_pair(padding),
                                   dilation=_pair(dilation)), reduction=wr[0].size)
    assert_close(cc.deform_conv2d(xr, off.astype(np.float64), wr, **kw_),
                 cc.conv2d(xr, wr, groups=groups, **kw_), reduction=wr[0].size)


@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("dy,dx", [(1, 0), (0, -2), (-1, 3), (2, 2)])
def test_integer_offsets_equal_shifted_conv(rng, algorithm, dy, dx):
    x = rng.integers(-4, 5, (1, 3, 8, 9)).astype(np.float64)
    w = rng.integers(-3, 4, (5, 3, 3, 3)).astype(np.float64)
    off = np.zeros((1, 18, 8, 9))
    off[:, 0::2], off[:, 1::2] = dy, dx
    y = cc.deform_conv2d(x, off, w, padding=1, algorithm=algorithm)
    # output (oy, ox) tap (i, j) reads x[oy - 1 + i + dy, ox - 1 + j + dx]: a plain conv on x
    # zero-padded by P, cropped at the shifted origin
    P = 4
    full = cc.conv2d(np.pad(x, [(0, 0), (0, 0), (P, P), (P, P)]), w)
    r0, c0 = P - 1 + dy, P - 1 + dx
    np.testing.assert_array_equal(y, full[..., r0:r0 + 8, c0:c0 + 9])


@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("shift", [100.0, -100.0, 7.0, -7.0, np.inf, -np.inf, 1e30])
def test_all_taps_outside_give_bias(rng, algorithm, shift):
    x, off, w, b, m, kw_ = make_case(rng, H=5, W=5, mask=True)
    for axis in (0, 1):
        o = np.zeros_like(off)
        o[:, axis::2] = shift
        y = cc.deform_conv2d(x, o, w, b, mask=m, algorithm=algorithm, **kw_)
        np.testing.assert_array_equal(y, np.broadcast_to(b[None, :, None, None], y.shape))


# ------------------------------------------------------------------------------ borders
def _sample(img, ys, xs, algorithm="auto"):
    """Sample single-channel img at the positions (ys[p], xs[p]) through a 1x1 deform conv
    whose output pixel p (a 1 x P row of outputs with stride 1 on a 1-row... ) reads its own
    position: output (0, q) samples (0 + dy, q + dx)."""
    img = np.asarray(img, np.float64)
    H, W = img.shape
    P = len(ys)
    # one output row of width P needs an input row at least P wide: pad W with zeros on the
    # right (columns >= W stay outside the original image and are zero anyway... so instead
    # embed the image in a canvas and shift the offsets accordingly is not allowed: the border
    # is the point). Use P <= W and a 1x1 kernel over the first row.
    assert P <= W
    x = img[None, None]
    off = np.zeros((1, 2, H, W))
    for q, (yy, xx) in enumerate(zip(ys, xs)):
        off[0, 0, 0, q] = yy - 0
        off[0, 1, 0, q] = xx - q
    y = cc.deform_conv2d(x, off, np.ones((1, 1, 1, 1)), algorithm=algorithm)
    return y[0, 0, 0, :P]


@pytest.mark.parametrize("algorithm", ALGOS)
def test_border_rule_pinned(algorithm):
    # torchvision's rule: zero outside (-1, H) x (-1, W); inside, bilinear with zero corners.
    img = np.arange(1.0, 21.0).reshape(4, 5)   # H=4, W=5, img[r, c] = 5r + c + 1
    H, W = img.shape
    cases = [
        ((-0.25, 0.0), 0.75 * img[0, 0]),       # between -1 and 0: fades linearly
        ((-0.5, 2.0), 0.5 * img[0, 2]),
        ((-1.0, 2.0), 0.0),                     # exactly -1: zero
        ((2.0, -0.75), 0.25 * img[2, 0]),
        ((-0.5, -0.5), 0.25 * img[0, 0]),       # corner: only (0, 0) is inside
        ((H - 0.5, 1.0), 0.5 * img[H - 1, 1]),  # between H-1 and H
        ((float(H), 1.0), 0.0),                 # exactly H: zero
        ((1.0, W - 0.25), 0.25 * img[1, W - 1]),
        ((H - 0.5, W - 0.5), 0.25 * img[H - 1, W - 1]),
        ((1.5, 2.5), 0.25 * (img[1, 2] + img[1, 3] + img[2, 2] + img[2, 3])),
        ((-1.5, 2.0), 0.0),
        ((0.0, W + 0.25), 0.0),
        ((H - 1.0, W - 1.0), img[H - 1, W - 1]),
        ((-0.999999, 0.0), img[0, 0] * (1 - 0.999999)),
    ]
    # five samples per call (output row width W = 5)
    for start in range(0, len(cases), W):
        chunk = cases[start:start + W]
        got = _sample(img, [c[0][0] for c in chunk], [c[0][1] for c in chunk], algorithm)
        want = np.array([c[1] for c in chunk])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ref.bilinear_zero(img, np.array([c[0][0] for c in chunk]),
                                                     np.array([c[0][1] for c in chunk])),
                                   want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("algorithm", ALGOS)
def test_nan_and_inf_offsets(rng, algorithm):
    x, off, w, b, m, kw_ = make_case(rng, N=1, H=6, W=6, mask=True)
    off = off.copy()
    off[0, 0, 1, 2] = np.nan            # tap 0, dy NaN at output (1, 2)
    off[0, 5, 3, 3] = np.nan            # tap 2, dx NaN at output (3, 3)
    off[0, 6, 4, 4] = np.nan            # tap 3, dy NaN, but dx +inf: outside, so 0
    off[0, 7, 4, 4] = np.inf
    off[0, 8, 0, 0] = -np.inf
    off[0, 9, 5, 5] = np.inf
    y = cc.deform_conv2d(x, off, w, b, mask=m, algorithm=algorithm, **kw_)
    want = oracle(x, off, w, b, m, kw_)
    nan = np.isnan(want)
    assert nan[0, :, 1, 2].all() and nan[0, :, 3, 3].all() and nan.sum() == 2 * w.shape[0]
    np.testing.assert_array_equal(np.isnan(y), nan)
    assert_close(np.where(nan, 0, y), np.where(nan, 0, want), reduction=w[0].size * 4)


def test_nan_input_outside_is_not_read(rng):
    # Samples outside the image must not touch x at all: x full of NaN next to zero samples.
    x = np.full((1, 1, 4, 4), np.nan)
    off = np.full((1, 2, 4, 4), 50.0)
    y = cc.deform_conv2d(x, off, np.ones((1, 1, 1, 1)), np.array([2.0]))
    np.testing.assert_array_equal(y, 2.0)


# ------------------------------------------------------------------------------ layouts, threads
@pytest.mark.parametrize("threads", [1, 2])
def test_threads(rng, threads):
    x, off, w, b, m, kw_ = make_case(rng, N=3, C=8, H=17, W=15, Co=9, og=2, mask=True,
                                     dtype=np.float32)
    old = cc.get_num_threads()
    try:
        cc.set_num_threads(1)
        y1 = cc.deform_conv2d(x, off, w, b, mask=m, **kw_)
        cc.set_num_threads(threads)
        yt = cc.deform_conv2d(x, off, w, b, mask=m, **kw_)
        yr = cc.deform_conv2d(x, off, w, b, mask=m, algorithm="reference", **kw_)
    finally:
        cc.set_num_threads(old)
    np.testing.assert_array_equal(y1, yt)  # tiles do not depend on the thread count
    assert_close(yt, oracle(x, off, w, b, m, kw_), reduction=w[0].size * 4)
    assert_close(yr, oracle(x, off, w, b, m, kw_), reduction=w[0].size * 4)


@pytest.mark.parametrize("algorithm", ALGOS)
def test_channels_last(rng, algorithm):
    x, off, w, b, m, kw_ = make_case(rng, C=6, Co=6, groups=3, og=2, stride=2, mask=True)
    want = cc.deform_conv2d(x, off, w, b, mask=m, algorithm=algorithm, **kw_)
    t = (0, 2, 3, 1)
    y = cc.deform_conv2d(x.transpose(t), off.transpose(t), w, b, mask=m.transpose(t),
                         channels_last=True, algorithm=algorithm, **kw_)
    assert y.shape == want.transpose(t).shape and y.flags.c_contiguous
    assert_close(y, want.transpose(t), reduction=w[0].size * 4)
    # a C-contiguous NHWC array (not just a view)
    y2 = cc.deform_conv2d(np.ascontiguousarray(x.transpose(t)), np.ascontiguousarray(
        off.transpose(t)), w, b, mask=np.ascontiguousarray(m.transpose(t)),
        channels_last=True, **kw_)
    assert_close(y2, want.transpose(t), reduction=w[0].size * 4)


def test_non_contiguous_and_fortran_inputs_unmodified(rng):
    x, off, w, b, m, kw_ = make_case(rng, C=4, Co=4, mask=True)
    want = cc.deform_conv2d(x, off, w, b, mask=m, **kw_)
    xb = np.zeros(x.shape[:3] + (2 * x.shape[3],))
    xb[..., ::2] = x
    xs = xb[..., ::2]
    wf = np.asfortranarray(w)
    of = np.asfortranarray(off)
    mb = np.concatenate([m, m], axis=1)[:, ::2][:, :m.shape[1]]
    mb = np.zeros((m.shape[0], 2 * m.shape[1]) + m.shape[2:])
    mb[:, ::2] = m
    copies = [a.copy() for a in (xs, of, wf, mb)]
    y = cc.deform_conv2d(xs, of, wf, b, mask=mb[:, ::2], **kw_)
    np.testing.assert_array_equal(y, want)
    for a, c in zip((xs, of, wf, mb), copies):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("H,W", [(0, 4), (3, 0), (0, 0)])
def test_empty_image_with_padding_gives_bias(algorithm, H, W):
    # Every sample of an empty image is outside: the output is the bias, never garbage.
    x = np.zeros((2, 2, H, W))
    off = np.full((2, 2 * 9, H + 2, W + 2), 0.5)
    b = np.array([1.5, -2.0, 3.0])
    y = cc.deform_conv2d(x, off, np.ones((3, 2, 3, 3)), b, padding=3, dilation=2,
                         algorithm=algorithm)
    assert y.shape == (2, 3, H + 2, W + 2)
    np.testing.assert_array_equal(y, np.broadcast_to(b[None, :, None, None], y.shape))
    off1 = np.full((2, 2, H + 2, W + 2), -0.25)
    y1 = cc.deform_conv2d(x, off1, np.ones((3, 2, 1, 1)), b, padding=1, algorithm=algorithm)
    np.testing.assert_array_equal(y1, np.broadcast_to(b[None, :, None, None], y1.shape))


def test_empty_batch():
    y = cc.deform_conv2d(np.zeros((0, 2, 5, 5)), np.zeros((0, 18, 5, 5)),
                         np.zeros((3, 2, 3, 3)), padding=1)
    assert y.shape == (0, 3, 5, 5)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 2), cpg=st.integers(1, 3), G=st.integers(1, 2), og=st.integers(1, 2),
       opg=st.integers(1, 7), H=st.integers(1, 7), W=st.integers(1, 7), kh=st.integers(1, 3),
       kw=st.integers(1, 3), stride=st.integers(1, 3), pad=st.integers(0, 2),
       dil=st.integers(1, 2), mask=st.booleans(), seed=st.integers(0, 2**16))
def test_hypothesis_vs_oracle(N, cpg, G, og, opg, H, W, kh, kw, stride, pad, dil, mask, seed):
    C = cpg * G * og
    Ho, Wo = _out(H, W, kh, kw, stride, pad, dil)
    if Ho < 1 or Wo < 1:
        return
    rng = np.random.default_rng(seed)
    x, off, w, b, m, kw_ = make_case(rng, N=N, C=C, H=H, W=W, Co=opg * G, k=(kh, kw),
                                     groups=G, og=og, stride=stride, padding=pad,
                                     dilation=dil, mask=mask, spread=3.0)
    y = cc.deform_conv2d(x, off, w, b, mask=m, **kw_)
    assert_close(y, oracle(x, off, w, b, m, kw_), reduction=w[0].size * 4)


# ------------------------------------------------------------------------------ bad input
def _good():
    return (np.zeros((1, 4, 6, 6)), np.zeros((1, 36, 4, 4)), np.zeros((6, 2, 3, 3)))


@pytest.mark.parametrize("change,match", [
    (lambda a: dict(offset=np.zeros((1, 17, 4, 4))), "offset"),
    (lambda a: dict(offset=np.zeros((1, 18, 5, 4))), "offset"),
    (lambda a: dict(offset=np.zeros((1, 54, 4, 4))), "offset"),       # 3 offset groups, C=4
    (lambda a: dict(offset=np.zeros((2, 36, 4, 4))), "offset"),
    (lambda a: dict(offset=np.zeros((36, 4, 4))), "offset"),
    (lambda a: dict(mask=np.zeros((1, 9, 4, 4))), "mask"),            # 2 offset groups -> 18
    (lambda a: dict(mask=np.zeros((1, 18, 4, 3))), "mask"),
    (lambda a: dict(mask=np.zeros((2, 18, 4, 4))), "mask"),
    (lambda a: dict(mask=np.zeros((18, 4, 4))), "mask"),
    (lambda a: dict(w=np.zeros((6, 3, 3, 3))), "groups"),             # 4 % 3
    (lambda a: dict(w=np.zeros((5, 1, 3, 3)), offset=np.zeros((1, 36, 4, 4))), "groups"),
    (lambda a: dict(w=np.zeros((6, 2, 3))), "w"),
    (lambda a: dict(x=np.zeros((4, 6, 6))), "x"),
    (lambda a: dict(bias=np.zeros(5)), "bias"),
    (lambda a: dict(stride=0), "stride"),
    (lambda a: dict(dilation=-1), "dilation"),
    (lambda a: dict(padding=-1), "padding"),
    (lambda a: dict(x=np.zeros((1, 4, 2, 2))), "kernel"),
])
def test_bad_input(change, match):
    x, off, w = _good()
    args = dict(x=x, offset=off, w=w, bias=None, mask=None)
    args.update(change(args))
    kwargs = {k: args.pop(k) for k in ("stride", "dilation", "padding") if k in args}
    with pytest.raises(ValueError, match=match):
        cc.deform_conv2d(args["x"], args["offset"], args["w"], args["bias"], mask=args["mask"],
                         **kwargs)


def test_bad_dtype():
    x, off, w = _good()
    with pytest.raises(TypeError, match="offset"):
        cc.deform_conv2d(x, off.astype(np.float32), w)
    with pytest.raises(TypeError, match="mask"):
        cc.deform_conv2d(x, off, w, mask=np.zeros((1, 18, 4, 4), np.float32))
    with pytest.raises(TypeError, match="x"):
        cc.deform_conv2d(x.astype(np.int32), off, w)
    with pytest.raises(ValueError, match="algorithm"):
        cc.deform_conv2d(x, off, w, algorithm="winograd")


# ------------------------------------------------------------------------------ cost, docs
def test_cost():
    c = cc.cost("deform_conv2d", (2, 64, 56, 56), (2, 18, 56, 56), (128, 32, 3, 3), (128,),
                padding=1, mask=(2, 9, 56, 56))
    assert c.output_shape == (2, 128, 56, 56)
    assert c.macs == 2 * 56 * 56 * 128 * 32 * 9
    samples = 2 * 56 * 56 * 9 * 64
    assert c.details["samples"] == samples
    assert c.details["sample_loads"] == 4 * samples
    assert c.details["sample_macs"] == 5 * samples
    assert c.details["total_macs"] == c.macs + 5 * samples
    assert c.params == 128 * 32 * 9 + 128
    assert cc.output_shape("deform_conv2d", (1, 3, 9, 9), (1, 18, 5, 5), (4, 3, 3, 3),
                           stride=2, padding=1) == (1, 4, 5, 5)
    with pytest.raises(ValueError, match="offset"):
        cc.cost("deform_conv2d", (1, 3, 9, 9), (1, 18, 9, 9), (4, 3, 3, 3))


def test_docstring_examples():
    assert doctest.testmod(convcore._deform).failed == 0


# ------------------------------------------------------------------------------ torchvision
@pytest.fixture
def tv_deform():
    pytest.importorskip("torchvision")
    import torch
    from torchvision.ops import deform_conv2d

    def run(x, off, w, b=None, mask=None, stride=1, padding=0, dilation=1):
        t = lambda a: None if a is None else torch.from_numpy(np.ascontiguousarray(a))
        with torch.no_grad():
            y = deform_conv2d(t(x), t(off), t(w), t(b), stride=stride, padding=padding,
                              dilation=dilation, mask=t(mask))
        return y.numpy()

    return run


TV_CASES = [
    # groups, og, stride, padding, dilation, k, mask
    (1, 1, 1, 1, 1, (3, 3), False),
    (1, 1, 1, 1, 1, (3, 3), True),
    (2, 1, 2, 1, 1, (3, 3), True),
    (1, 2, 1, (2, 1), (2, 1), (3, 2), True),
    (4, 2, (2, 3), 0, 2, (2, 3), False),
    (2, 4, 1, 2, 1, (5, 5), True),
    (1, 8, 3, 1, 1, (1, 1), True),
]


@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups,og,stride,padding,dilation,k,mask", TV_CASES)
def test_vs_torchvision(rng, tv_deform, algorithm, dtype, groups, og, stride, padding,
                        dilation, k, mask):
    x, off, w, b, m, kw_ = make_case(rng, N=2, C=8, H=11, W=10, Co=8, k=k, groups=groups,
                                     og=og, stride=stride, padding=padding, dilation=dilation,
                                     mask=mask, spread=3.0, dtype=dtype)
    y = cc.deform_conv2d(x, off, w, b, mask=m, algorithm=algorithm, **kw_)
    assert_close(y, tv_deform(x, off, w, b, m, **kw_).astype(np.float64),
                 reduction=w[0].size * 4)


def test_vs_torchvision_large(rng, tv_deform):
    # several tiles and channel chunks of the fast kernel
    x, off, w, b, m, kw_ = make_case(rng, N=2, C=64, H=20, W=19, Co=32, k=(3, 3), og=2,
                                     padding=1, mask=True, spread=2.0, dtype=np.float32)
    y = cc.deform_conv2d(x, off, w, b, mask=m, **kw_)
    assert_close(y, tv_deform(x, off, w, b, m, **kw_).astype(np.float64),
                 reduction=w[0].size * 4)


@pytest.mark.parametrize("algorithm", ALGOS)
def test_border_rule_vs_torchvision(tv_deform, algorithm):
    # offsets on a grid of quarter pixels around and beyond every border
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, 5, 6))
    w = rng.standard_normal((3, 2, 3, 3))
    vals = np.arange(-8, 9) / 4.0   # -2 .. 2 in quarters: hits -1, -0.25, H-1+0.5, H, ...
    for padding in (0, 1, 2):
        Ho, Wo = _out(5, 6, 3, 3, 1, padding, 1)
        o = rng.choice(vals, size=(1, 18, Ho, Wo))
        y = cc.deform_conv2d(x, o, w, padding=padding, algorithm=algorithm)
        np.testing.assert_allclose(y, tv_deform(x, o, w, padding=padding), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_inf_vs_torchvision(rng, tv_deform, algorithm, dtype):
    # torchvision gives NaN for a NaN dy, 0 for a NaN next to an infinite (outside) other
    # coordinate, 0 for +-inf. (A NaN dx makes torchvision 0.29's CPU kernel read far out of
    # bounds and crash — undefined behaviour — so that case is compared with the oracle only,
    # in test_nan_and_inf_offsets.)
    x, off, w, b, m, kw_ = make_case(rng, N=1, H=6, W=6, mask=True, dtype=dtype)
    off = off.copy()
    off[0, 0, 1, 2] = np.nan
    off[0, 6, 4, 4], off[0, 7, 4, 4] = np.nan, np.inf
    off[0, 8, 0, 0] = -np.inf
    off[0, 11, 2, 2] = np.inf
    want = tv_deform(x, off, w, b, m, **kw_)
    y = cc.deform_conv2d(x, off, w, b, mask=m, algorithm=algorithm, **kw_)
    assert np.isnan(want).sum() == w.shape[0]
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    fin = ~np.isnan(want)
    assert_close(np.where(fin, y, 0), np.where(fin, want, 0).astype(np.float64),
                 reduction=w[0].size * 4)


# ------------------------------------------------------------------------------ CUDA reuse
def test_bilinear_header_compiles_under_nvrtc():
    # core/bilinear.hpp is meant for the CUDA path unchanged: it must compile under NVRTC (no
    # standard-library headers), for float and double.
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("check_nvrtc", root / "tools" / "check_nvrtc.py")
    check_nvrtc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_nvrtc)
    lib = check_nvrtc.load_nvrtc()
    if lib is None:
        pytest.skip("libnvrtc not found (pip install nvidia-cuda-nvrtc-cu12)")
    from convcore.cuda import _compile

    code = """#include <convcore/core/bilinear.hpp>
template <class T>
__device__ T sample(const T* x, T dy, T dx) {
  convcore::BilinearSample<T> s = convcore::bilinear_sample(
      convcore::deform_coord<T>(1, 2, 1, 1, 1, dy), convcore::deform_coord<T>(0, 1, 2, 1, 0, dx),
      4, 5);
  return convcore::bilinear_value(x, 4, 5, dy, dx) + s.w00 + s.w11;
}
extern "C" __global__ void k32(const float* x, float* y) { y[0] = sample(x, y[1], y[2]); }
extern "C" __global__ void k64(const double* x, double* y) { y[0] = sample(x, y[1], y[2]); }
"""
    ok, log, _, ptx = lib.compile(code, "bilinear.cu",
                                  list(_compile.compile_options()) + ["-arch=compute_80"], [])
    assert ok, log
    assert ptx > 0
