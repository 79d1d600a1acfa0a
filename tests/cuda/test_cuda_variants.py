"""The variant ops on CuPy arrays (channel_shuffle, shuffled_grouped_conv, squeeze_excitation,
asymmetric_conv2d / fuse_asymmetric, the depthwise kernel behind conv(groups=C) and
depthwise_conv2d) against the NumPy oracle, the CPU path, and PyTorch on the GPU.

Runs on the GPU and on the CPU emulation of tests/cuda/emulation, through test_cuda_ops' `cp`
fixture. Shapes are tiny on purpose: the emulation runs each GPU thread on the CPU.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convcore as cc
import reference as ref
from test_cuda_ops import check, cp, from_cl, is_gpu, rnd, to_cl, _torch_cuda  # noqa: F401

DTYPES = [np.float64, np.float32, np.float16]
CTYPE = {np.float16: "convcore::cuda::half_t", np.float32: "float", np.float64: "double"}


def launched(cp):
    """Names of the kernels launched so far (the emulation records them; None on a GPU)."""
    return None if is_gpu(cp) else [name for name, _, _ in cp.launches]


# ------------------------------------------------------------------------ channel_shuffle

SHUFFLE_CASES = [((2, 6, 3, 4), 2), ((2, 6, 3, 4), 3), ((3, 8), 4), ((1, 6, 2, 3, 2), 6),
                 ((1, 5, 3), 1), ((0, 4, 2, 2), 2)]


@pytest.mark.parametrize("shape,groups", SHUFFLE_CASES)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_channel_shuffle(cp, shape, groups, channels_last, dtype):
    x = rnd(shape, dtype, 31)
    if channels_last:
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    y = cc.channel_shuffle(cp.asarray(x), groups, channels_last=channels_last)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.flags.c_contiguous
    # A copy: bit-exact, in every dtype.
    np.testing.assert_array_equal(cp.asnumpy(y), ref.channel_shuffle(x, groups, channels_last))


def test_channel_shuffle_noncontiguous_and_inverse(cp):
    x = rnd((2, 12, 6, 5), np.float32, 32)
    xg = cp.asarray(x)[:, :, ::2, 1:]
    y = cc.channel_shuffle(xg, 3)
    np.testing.assert_array_equal(cp.asnumpy(y), ref.channel_shuffle(x[:, :, ::2, 1:], 3))
    back = cc.channel_shuffle(y, 4)  # shuffling by C/g undoes a shuffle by g
    np.testing.assert_array_equal(cp.asnumpy(back), x[:, :, ::2, 1:])


def test_channel_shuffle_errors(cp):
    x = cp.asarray(rnd((1, 6, 2, 2), np.float32))
    with pytest.raises(ValueError, match="groups"):
        cc.channel_shuffle(x, 4)
    with pytest.raises(ValueError, match="groups"):
        cc.channel_shuffle(x, 0)
    with pytest.raises(TypeError, match="x must be a float16, float32 or float64"):
        cc.channel_shuffle(x.astype(np.int32), 2)


# ------------------------------------------------------------------------ shuffled_grouped_conv

SHUFFLED_CASES = {
    "groups3": ((2, 6, 5, 5), (9, 2, 3, 3), 3, dict(padding=1), True),
    "strided": ((1, 4, 7, 6), (6, 2, 3, 2), 2,
                dict(stride=(2, 1), dilation=(1, 2), padding=((1, 0), (2, 1))), False),
    "depthwise": ((1, 4, 5, 5), (8, 1, 3, 3), 4, dict(padding=1, padding_mode="reflect"), True),
    "multi-tile": ((1, 4, 3, 3), (132, 2, 1, 1), 2, {}, True),
    "1d": ((2, 4, 9), (6, 2, 3), 2, dict(padding=2, dilation=2), True),
    "3d": ((1, 4, 3, 4, 3), (4, 2, 2, 2, 2), 2, dict(padding=1), False),
    "groups1": ((1, 3, 4, 4), (5, 3, 3, 3), 1, dict(padding=1), True),
}


def shuffled_case(cp, name, dtype, algorithm, activation=None):
    xs, ws, g, kw, with_bias = SHUFFLED_CASES[name]
    x, w = rnd(xs, dtype, 33), rnd(ws, dtype, 34)
    b = rnd((ws[0],), dtype, 35) if with_bias else None
    y = cc.shuffled_grouped_conv(cp.asarray(x), cp.asarray(w), None if b is None else cp.asarray(b),
                                 groups=g, algorithm=algorithm, activation=activation, **kw)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.flags.c_contiguous
    expect = ref.shuffled_grouped_conv(x, w, b, groups=g, **kw)
    check(cp.asnumpy(y), ref.activate(expect, activation), dtype, int(np.prod(ws[1:])))


@pytest.mark.parametrize("algorithm", ["auto", "direct", "implicit_gemm"])
@pytest.mark.parametrize("name", list(SHUFFLED_CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shuffled_grouped_conv(cp, name, dtype, algorithm):
    shuffled_case(cp, name, dtype, algorithm)


@pytest.mark.parametrize("name", ["groups3", "depthwise", "multi-tile"])
@pytest.mark.parametrize("algorithm", ["auto", "direct", "implicit_gemm"])
def test_shuffled_grouped_conv_float16_relu(cp, name, algorithm):
    shuffled_case(cp, name, np.float16, algorithm, activation="relu")


def test_shuffled_grouped_conv_matches_cpu_and_kernel(cp):
    x, w = rnd((2, 8, 6, 6), np.float64, 36), rnd((12, 2, 3, 3), np.float64, 37)
    kw = dict(groups=4, stride=2, padding=1, padding_mode="circular")
    before = len(cp.launches) if not is_gpu(cp) else 0
    y = cc.shuffled_grouped_conv(cp.asarray(x), cp.asarray(w), **kw)
    np.testing.assert_allclose(cp.asnumpy(y), cc.shuffled_grouped_conv(x, w, **kw),
                               rtol=1e-12, atol=1e-12)
    names = launched(cp)
    if names is not None:  # the shuffle is the conv's store: one launch, no copy kernel
        assert len(names) - before == 1 and "channel_shuffle" not in names[before]


def test_shuffled_grouped_conv_errors(cp):
    x = cp.asarray(rnd((1, 4, 5, 5), np.float32))
    w = cp.asarray(rnd((6, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="groups"):
        cc.shuffled_grouped_conv(x, w, groups=3)
    with pytest.raises(TypeError, match="w"):
        cc.shuffled_grouped_conv(x, w.astype(np.float64), groups=2)
    with pytest.raises(ValueError, match="channels_last"):
        from convcore import _args, _backend

        opts = _args.conv_options(2, groups=2, channels_last=True)
        _backend.call("shuffled_grouped_conv", x, w, None, opts, "auto")


# ------------------------------------------------------------------------ squeeze_excitation

SE_CASES = {
    "2d-bias": ((2, 8, 3, 4), 2, True, True),
    "2d-nobias": ((2, 6, 3, 3), 3, False, False),
    "pool>256": ((1, 3, 20, 20), 1, True, False),
    "1d": ((3, 4, 5), 2, False, True),
    "3d": ((1, 4, 2, 3, 2), 2, True, True),
    "1x1": ((2, 5, 1, 1), 5, True, True),
}


def se_case(cp, name, dtype, channels_last=False, conv_weights=False):
    xs, r, with_b1, with_b2 = SE_CASES[name]
    C = xs[1]
    x = rnd(xs, dtype, 41)
    w1, w2 = rnd((r, C), dtype, 42) * 0.5, rnd((C, r), dtype, 43) * 0.5
    w1, w2 = w1.astype(dtype), w2.astype(dtype)
    b1 = rnd((r,), dtype, 44) if with_b1 else None
    b2 = rnd((C,), dtype, 45) if with_b2 else None
    g = (lambda a: None if a is None else cp.asarray(a))
    w1g, w2g = g(w1), g(w2)
    if conv_weights:  # the 1x1 conv layer's weight: trailing 1s
        w1g, w2g = g(w1.reshape(r, C, 1, 1)), g(w2.reshape(C, r, 1, 1))
    xin = to_cl(x) if channels_last else x
    y = cc.squeeze_excitation(cp.asarray(xin), w1g, g(b1), w2g, g(b2), channels_last=channels_last)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.flags.c_contiguous
    got = cp.asnumpy(y)
    if channels_last:
        got = from_cl(got)
    check(got, ref.squeeze_excitation(x, w1, b1, w2, b2), dtype, int(np.prod(xs[2:])) + C)


@pytest.mark.parametrize("name", list(SE_CASES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_squeeze_excitation(cp, name, dtype):
    se_case(cp, name, dtype)


@pytest.mark.parametrize("name", ["2d-bias", "1d", "3d"])
def test_squeeze_excitation_channels_last(cp, name):
    se_case(cp, name, np.float64, channels_last=True)


def test_squeeze_excitation_conv_weights_and_cpu(cp):
    se_case(cp, "2d-bias", np.float32, conv_weights=True)
    x, w1, w2 = rnd((2, 4, 3, 5), np.float64, 46), rnd((2, 4), np.float64, 47), \
        rnd((4, 2), np.float64, 48)
    b2 = rnd((4,), np.float64, 49)
    y = cc.squeeze_excitation(cp.asarray(x)[:, :, :, ::-1], cp.asarray(w1), None,
                              cp.asarray(w2), cp.asarray(b2))
    np.testing.assert_allclose(cp.asnumpy(y),
                               cc.squeeze_excitation(x[:, :, :, ::-1], w1, None, w2, b2),
                               rtol=1e-12, atol=1e-12)


def test_squeeze_excitation_empty_batch(cp):
    y = cc.squeeze_excitation(cp.asarray(np.zeros((0, 4, 2, 2))), cp.asarray(np.ones((2, 4))),
                              None, cp.asarray(np.ones((4, 2))), None)
    assert y.shape == (0, 4, 2, 2)


def test_squeeze_excitation_errors(cp):
    x = cp.asarray(rnd((1, 4, 2, 2), np.float32))
    w1, w2 = cp.asarray(rnd((2, 4), np.float32)), cp.asarray(rnd((4, 2), np.float32))
    with pytest.raises(ValueError, match="w2"):
        cc.squeeze_excitation(x, w1, None, cp.asarray(rnd((4, 3), np.float32)), None)
    with pytest.raises(ValueError, match="w1"):
        cc.squeeze_excitation(x, cp.asarray(rnd((2, 5), np.float32)), None, w2, None)
    with pytest.raises(ValueError, match="b1"):
        cc.squeeze_excitation(x, w1, cp.asarray(np.zeros((2, 1), np.float32)), w2, None)
    with pytest.raises(ValueError, match="b2"):
        cc.squeeze_excitation(x, w1, None, w2, cp.asarray(np.zeros(3, np.float32)))
    with pytest.raises(TypeError, match="w2"):
        cc.squeeze_excitation(x, w1, None, w2.astype(np.float64), None)


# ------------------------------------------------------------------------ asymmetric_conv2d

ASYM_CASES = {
    "k3-pad1": ((2, 3, 6, 7), 4, 3, dict(padding=1), True),
    "k3-strided": ((1, 2, 7, 6), 3, 3, dict(stride=2, dilation=(1, 2), padding=(1, 2)), False),
    "k5-groups": ((1, 4, 7, 7), 6, 5, dict(padding=2, groups=2), True),
    "k1": ((1, 3, 4, 4), 2, 1, {}, True),
    "valid": ((1, 2, 6, 5), 3, 3, {}, False),
}


def asym_case(cp, name, dtype, algorithm="auto", channels_last=False):
    xs, cout, k, kw, with_bias = ASYM_CASES[name]
    cpg = xs[1] // kw.get("groups", 1)
    x = rnd(xs, dtype, 51)
    sq, hor, ver = (rnd((cout, cpg, k, k), dtype, 52), rnd((cout, cpg, 1, k), dtype, 53),
                    rnd((cout, cpg, k, 1), dtype, 54))
    b = rnd((cout,), dtype, 55) if with_bias else None
    xin = to_cl(x) if channels_last else x
    y = cc.asymmetric_conv2d(cp.asarray(xin), cp.asarray(sq), cp.asarray(hor), cp.asarray(ver),
                             None if b is None else cp.asarray(b), algorithm=algorithm,
                             channels_last=channels_last, **kw)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.flags.c_contiguous
    got = cp.asnumpy(y)
    if channels_last:
        got = from_cl(got)
    check(got, ref.asymmetric_conv2d(x, sq, hor, ver, b, **kw), dtype, cpg * k * k + 2 * cpg * k)


@pytest.mark.parametrize("algorithm", ["auto", "direct", "implicit_gemm"])
@pytest.mark.parametrize("name", list(ASYM_CASES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_asymmetric_conv2d(cp, name, dtype, algorithm):
    asym_case(cp, name, dtype, algorithm)


@pytest.mark.parametrize("name", ["k3-pad1", "k5-groups"])
def test_asymmetric_conv2d_channels_last(cp, name):
    asym_case(cp, name, np.float64, channels_last=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fuse_asymmetric_bit_exact_with_cpu(cp, dtype):
    sq, hor, ver = rnd((3, 2, 5, 5), dtype, 56), rnd((3, 2, 1, 5), dtype, 57), \
        rnd((3, 2, 5, 1), dtype, 58)
    W = cc.fuse_asymmetric(cp.asarray(sq), cp.asarray(hor), cp.asarray(ver))
    assert isinstance(W, cp.ndarray) and W.dtype == dtype
    np.testing.assert_array_equal(cp.asnumpy(W), cc.fuse_asymmetric(sq, hor, ver))


def test_asymmetric_errors(cp):
    x = cp.asarray(rnd((1, 2, 5, 5), np.float32))
    sq = cp.asarray(rnd((3, 2, 3, 3), np.float32))
    hor, ver = cp.asarray(rnd((3, 2, 1, 3), np.float32)), cp.asarray(rnd((3, 2, 3, 1), np.float32))
    with pytest.raises(ValueError, match="w_square"):
        cc.asymmetric_conv2d(x, cp.asarray(rnd((3, 2, 2, 2), np.float32)), hor, ver)
    with pytest.raises(ValueError, match="w_ver"):
        cc.asymmetric_conv2d(x, sq, hor, hor)
    with pytest.raises(ValueError, match="w_hor"):
        cc.fuse_asymmetric(sq, ver, ver)
    with pytest.raises(TypeError, match="w_hor"):
        cc.asymmetric_conv2d(x, sq, hor.astype(np.float64), ver)
    with pytest.raises(ValueError, match="bias"):
        cc.asymmetric_conv2d(x, sq, hor, ver, cp.asarray(np.zeros(2, np.float32)))


# ------------------------------------------------------------------------ depthwise

DEPTHWISE_CASES = {
    "m1": ((2, 3, 7, 8), 1, dict(padding=1), True),
    "m2-strided": ((1, 2, 9, 8), 2, dict(stride=2, dilation=(2, 1), padding=((2, 1), (0, 1))),
                   True),
    "m3-same": ((2, 2, 5, 6), 3, dict(padding="same"), False),
    "reflect": ((1, 3, 6, 7), 1, dict(padding=2, padding_mode="reflect"), True),
    "replicate": ((1, 2, 5, 5), 2, dict(padding=(1, 2), padding_mode="replicate"), False),
    "circular": ((1, 2, 5, 6), 1, dict(padding=2, padding_mode="circular"), True),
    "flip-gelu": ((1, 3, 6, 6), 1, dict(flip=True, activation="gelu", padding=1), True),
    "kernel>input": ((1, 2, 2, 2), 1, dict(padding=2), False),
    "valid-interior": ((1, 2, 8, 9), 1, {}, True),
    "1d": ((2, 3, 11), 2, dict(stride=2, padding=3, dilation=2), True),
    "3d": ((1, 2, 4, 5, 4), 1, dict(padding=1, stride=(1, 2, 1)), True),
    "single-channel-wide": ((1, 1, 5, 5), 12, dict(padding=1), True),
    "empty-batch": ((0, 2, 4, 4), 1, {}, True),
}


def depthwise_case(cp, name, dtype, channels_last=False):
    xs, m, kw, with_bias = DEPTHWISE_CASES[name]
    C, nd = xs[1], len(xs) - 2
    ks = {1: (4,), 2: (3, 3), 3: (3, 2, 3)}[nd]
    x, w = rnd(xs, dtype, 61), rnd((C * m, 1) + ks, dtype, 62)
    b = rnd((C * m,), dtype, 63) if with_bias else None
    xin = to_cl(x) if channels_last else x
    before = 0 if is_gpu(cp) else len(cp.launches)
    y = cc.conv(cp.asarray(xin), cp.asarray(w), None if b is None else cp.asarray(b), groups=C,
                channels_last=channels_last, **kw)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.flags.c_contiguous
    names = launched(cp)
    if names is not None and y.size:  # "auto" picks the dedicated kernel for groups == C_in
        assert names[before:] == [f"convcore::cuda::conv_depthwise<{CTYPE[dtype]}>"]
    got = cp.asnumpy(y)
    if channels_last:
        got = from_cl(got)
    check(got, ref.conv(x, w, b, groups=C, **kw), dtype, int(np.prod(ks)))


@pytest.mark.parametrize("name", list(DEPTHWISE_CASES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_kernel(cp, name, dtype):
    depthwise_case(cp, name, dtype)


@pytest.mark.parametrize("name", ["m1", "m2-strided", "reflect", "circular", "1d", "3d"])
def test_depthwise_kernel_channels_last(cp, name):
    depthwise_case(cp, name, np.float64, channels_last=True)


def test_depthwise_kernel_noncontiguous_matches_cpu(cp):
    x, w = rnd((2, 4, 9, 12), np.float64, 64), rnd((8, 1, 3, 3), np.float64, 65)
    kw = dict(groups=4, stride=(1, 2), padding=1, padding_mode="replicate")
    xg = cp.asarray(x)[:, :, 1:, ::2]
    np.testing.assert_allclose(cp.asnumpy(cc.conv(xg, cp.asarray(w), **kw)),
                               cc.conv(x[:, :, 1:, ::2], w, **kw), rtol=1e-12, atol=1e-12)


@given(n=st.integers(0, 2), c=st.integers(1, 3), m=st.integers(1, 3), h=st.integers(1, 6),
       w=st.integers(1, 6), kh=st.integers(1, 4), kw=st.integers(1, 4), s=st.integers(1, 3),
       d=st.integers(1, 2), p=st.integers(0, 3),
       mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
       cl=st.booleans())
@settings(max_examples=40, deadline=None)
def test_depthwise_kernel_hypothesis(cp, n, c, m, h, w, kh, kw, s, d, p, mode, cl):
    """Random depthwise geometries, including kernels larger than the input with padding,
    stride larger than the kernel, 1x1 images and empty batches."""
    if h + 2 * p < d * (kh - 1) + 1 or w + 2 * p < d * (kw - 1) + 1:
        return
    r = np.random.default_rng(n + 7 * c + 31 * m)
    x, wt = r.standard_normal((n, c, h, w)), r.standard_normal((c * m, 1, kh, kw))
    kwargs = dict(groups=c, stride=s, dilation=d, padding=p, padding_mode=mode)
    if not ref.padding_reaches(mode, (h, w), [(p, p)] * 2):
        # reflect needs padding < input size, circular <= (PyTorch's rules): the core refuses it
        with pytest.raises(ValueError, match="padding_mode"):
            cc.conv(cp.asarray(x), cp.asarray(wt), **kwargs)
        return
    y = cc.conv(cp.asarray(to_cl(x) if cl else x), cp.asarray(wt), channels_last=cl, **kwargs)
    got = from_cl(cp.asnumpy(y)) if cl else cp.asnumpy(y)
    check(got, ref.conv(x, wt, **kwargs), np.float64, kh * kw)


@given(n=st.integers(0, 2), g=st.integers(1, 3), cpg=st.integers(1, 2), opg=st.integers(1, 3),
       h=st.integers(1, 5), k=st.integers(1, 3), s=st.integers(1, 2), p=st.integers(0, 2),
       algorithm=st.sampled_from(["auto", "direct", "implicit_gemm"]))
@settings(max_examples=30, deadline=None)
def test_shuffled_grouped_conv_hypothesis(cp, n, g, cpg, opg, h, k, s, p, algorithm):
    if h + 2 * p < k:
        return
    r = np.random.default_rng(n + 5 * g + 17 * opg)
    x, w = r.standard_normal((n, g * cpg, h, h + 1)), r.standard_normal((g * opg, cpg, k, k))
    y = cc.shuffled_grouped_conv(cp.asarray(x), cp.asarray(w), groups=g, stride=s, padding=p,
                                 algorithm=algorithm)
    check(cp.asnumpy(y), ref.shuffled_grouped_conv(x, w, groups=g, stride=s, padding=p),
          np.float64, cpg * k * k)


def _has_depthwise_op():
    return hasattr(cc._core, "depthwise_spec") and hasattr(cc, "depthwise_conv2d")


@pytest.mark.skipif(not _has_depthwise_op(), reason="depthwise_conv2d is not in this build yet")
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_conv2d_op(cp, dtype, channels_last):
    x, w, b = rnd((2, 3, 6, 7), dtype, 66), rnd((6, 1, 3, 3), dtype, 67), rnd((6,), dtype, 68)
    kw = dict(stride=2, padding=1, dilation=1)
    xin = to_cl(x) if channels_last else x
    y = cc.depthwise_conv2d(cp.asarray(xin), cp.asarray(w), cp.asarray(b), activation="relu",
                            channels_last=channels_last, **kw)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype
    got = cp.asnumpy(y)
    if channels_last:
        got = from_cl(got)
    check(got, ref.activate(ref.conv(x, w, b, groups=3, **kw), "relu"), dtype, 9)
    with pytest.raises(ValueError, match="w"):
        cc.depthwise_conv2d(cp.asarray(x), cp.asarray(rnd((5, 1, 3, 3), dtype)))


def test_depthwise_conv2d_entry(cp):
    """The CUDA backend takes depthwise_conv2d with the CPU binding's arguments
    (x, w, bias, options); without the C++ op in the core it says so."""
    from convcore import _args, _backend

    x, w = rnd((1, 2, 5, 5), np.float64, 69), rnd((4, 1, 3, 3), np.float64, 70)
    opts = _args.conv_options(2, padding=1)
    if not _has_depthwise_op():
        with pytest.raises(NotImplementedError, match="depthwise_conv2d"):
            _backend.call("depthwise_conv2d", cp.asarray(x), cp.asarray(w), None, opts)
        return
    y = _backend.call("depthwise_conv2d", cp.asarray(x), cp.asarray(w), None, opts)
    check(cp.asnumpy(y), ref.conv(x, w, groups=2, padding=1), np.float64, 9)


# ------------------------------------------------------------------------ against PyTorch

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_torch_variants(cp, dtype):
    torch = _torch_cuda(cp)
    F = torch.nn.functional
    t = torch.from_dlpack
    x = cp.asarray(rnd((4, 32, 19, 19), dtype, 71))
    # depthwise (multiplier 2), the dedicated kernel
    wd = cp.asarray(rnd((64, 1, 3, 3), dtype, 72))
    y = cc.conv2d(x, wd, stride=2, padding=1, groups=32)
    check(cp.asnumpy(y), F.conv2d(t(x), t(wd), stride=2, padding=1, groups=32)
          .double().cpu().numpy(), dtype, 9)
    # shuffled grouped conv
    wg = cp.asarray(rnd((48, 8, 3, 3), dtype, 73))
    y = cc.shuffled_grouped_conv(x, wg, groups=4, padding=1)
    e = torch.nn.ChannelShuffle(4)(F.conv2d(t(x), t(wg), padding=1, groups=4))
    check(cp.asnumpy(y), e.double().cpu().numpy(), dtype, 72)
    np.testing.assert_array_equal(cp.asnumpy(cc.channel_shuffle(x, 8)),
                                  torch.nn.ChannelShuffle(8)(t(x)).cpu().numpy())
    # squeeze-excitation
    w1, w2 = cp.asarray(rnd((8, 32), dtype, 74)), cp.asarray(rnd((32, 8), dtype, 75))
    b1, b2 = cp.asarray(rnd((8,), dtype, 76)), cp.asarray(rnd((32,), dtype, 77))
    y = cc.squeeze_excitation(x, w1, b1, w2, b2)
    tx = t(x)
    s = torch.sigmoid(F.linear(torch.relu(F.linear(tx.mean((2, 3)), t(w1), t(b1))), t(w2), t(b2)))
    check(cp.asnumpy(y), (tx * s[:, :, None, None]).double().cpu().numpy(), dtype, 19 * 19 + 32)


# ------------------------------------------------------------------------ inception

@pytest.mark.parametrize("N", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inception(cp, N, dtype):
    """inception composes conv per layer, so on CuPy input every layer runs on the device and
    the last layer of each branch writes its channel slice in place."""
    x = rnd((N, 4, 5, 5), dtype, 81)
    branches = [
        [{"w": rnd((3, 4, 1, 1), dtype, 82), "bias": rnd((3,), dtype, 83)}],
        [{"w": rnd((2, 4, 1, 1), dtype, 84), "activation": "relu"},
         {"w": rnd((4, 2, 3, 3), dtype, 85), "padding": 1}],
        [{"w": rnd((4, 2, 3, 3), dtype, 86), "padding": 2, "dilation": 2, "groups": 2}],
        [{"w": rnd((4, 1, 3, 3), dtype, 87), "padding": 1, "groups": 4}],
    ]
    dev = [[{k: (cp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in layer.items()}
            for layer in br] for br in branches]
    y = cc.inception(cp.asarray(x), dev)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.shape == (N, 15, 5, 5)
    check(cp.asnumpy(y), ref.inception(x, branches), dtype, 36)


# ------------------------------------------------------------------------ devices, mixing

def test_variants_devices_and_mixing(cp):
    x, w = rnd((1, 4, 5, 5), np.float64, 91), rnd((6, 2, 3, 3), np.float64, 92)
    w1, w2 = rnd((2, 4), np.float64, 93), rnd((4, 2), np.float64, 94)
    sq, hor, ver = rnd((3, 4, 3, 3), np.float64, 95), rnd((3, 4, 1, 3), np.float64, 96), \
        rnd((3, 4, 3, 1), np.float64, 97)
    with pytest.raises(TypeError, match="CuPy"):
        cc.squeeze_excitation(x, cp.asarray(w1), None, cp.asarray(w2), None)
    with pytest.raises(TypeError, match="CuPy"):
        cc.shuffled_grouped_conv(cp.asarray(x), w, groups=2)
    with pytest.raises(TypeError, match="CuPy"):
        cc.fuse_asymmetric(cp.asarray(sq), hor, cp.asarray(ver))
    if cp.cuda.runtime.getDeviceCount() < 2:
        return
    with cp.cuda.Device(1):
        x1, w1d, w2d = cp.asarray(x), cp.asarray(w1), cp.asarray(w2)
        sq1, hor1, ver1, wg1 = cp.asarray(sq), cp.asarray(hor), cp.asarray(ver), cp.asarray(w)
    with cp.cuda.Device(0):
        w0 = cp.asarray(w)
        assert cc.channel_shuffle(x1, 2).device.id == 1
        assert cc.squeeze_excitation(x1, w1d, None, w2d, None).device.id == 1
        y = cc.shuffled_grouped_conv(x1, wg1, groups=2, padding=1)
        assert y.device.id == 1
        check(cp.asnumpy(y), ref.shuffled_grouped_conv(x, w, groups=2, padding=1), np.float64, 18)
        y = cc.asymmetric_conv2d(x1, sq1, hor1, ver1, padding=1)
        assert y.device.id == 1
        check(cp.asnumpy(y), ref.asymmetric_conv2d(x, sq, hor, ver, padding=1), np.float64, 60)
        with pytest.raises(ValueError, match="device"):
            cc.shuffled_grouped_conv(x1, w0, groups=2)
        with pytest.raises(ValueError, match="device"):
            cc.squeeze_excitation(x1, cp.asarray(w1), None, w2d, None)
