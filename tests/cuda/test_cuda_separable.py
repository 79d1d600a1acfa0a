"""pointwise_conv, depthwise_separable_conv2d, spatially_separable_conv2d and flattened_conv2d on
CuPy arrays, against the NumPy oracle, the CPU op (same values, same errors) and PyTorch on the
GPU.

Runs on the GPU and on the CPU emulation of tests/cuda/emulation, through test_cuda_ops' `cp`
fixture. Shapes are tiny on purpose: the emulation runs each GPU thread on the CPU. The ops are
compositions of the conv kernels with device intermediates in the input dtype, so for float16 the
oracle rounds its intermediates to float16 too (`staged`).
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


def g(cp, a):
    return None if a is None else cp.asarray(a)


def launches_since(cp, before):
    """Kernels launched since `before` launches (the emulation records them; None on a GPU)."""
    return None if is_gpu(cp) else [name for name, _, _ in cp.launches[before:]]


def n_launches(cp):
    return 0 if is_gpu(cp) else len(cp.launches)


def short(name):
    """conv_igemm<float, false> -> conv_igemm."""
    return name.split("<")[0].split("::")[-1]


def rounded(a, dtype):
    """What a device intermediate of `dtype` holds: float16 rounds, float32/64 are compared as
    exact (the oracle's float64 stands in for them)."""
    return a.astype(np.float16).astype(np.float64) if np.dtype(dtype) == np.float16 else a


def check_staged(actual, expected, dtype, reduction):
    """check(), with one more float16 rounding allowed for an intermediate whose float32
    accumulation may round the other way than the float64 oracle."""
    if np.dtype(dtype) != np.float16:
        return check(actual, expected, dtype, reduction)
    a = np.asarray(actual).astype(np.float64)
    assert a.shape == expected.shape, (a.shape, expected.shape)
    if a.size == 0:
        return
    tol = max(1.0, float(np.max(np.abs(expected)))) * (2 * 2.0**-10 + 2e-6 * reduction)
    err = float(np.max(np.abs(a - expected)))
    assert err <= tol, f"max abs error {err:.3g} > {tol:.3g}"


def same_error(cp, fn, args, kwargs=None, match=None):
    """fn raises on CuPy input exactly as on NumPy input: same type; for the core's ValueErrors
    the same message (one validation), otherwise both messages name `match`."""
    kwargs = kwargs or {}
    with pytest.raises((ValueError, TypeError)) as cpu:
        fn(*args, **kwargs)
    with pytest.raises((ValueError, TypeError)) as gpu:
        fn(*[g(cp, a) if isinstance(a, np.ndarray) else a for a in args], **kwargs)
    assert type(gpu.value) is type(cpu.value), (gpu.value, cpu.value)
    if match is None:
        assert str(gpu.value) == str(cpu.value)
    else:
        assert match in str(cpu.value) and match in str(gpu.value), (cpu.value, gpu.value)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def axis_kw(kw, axis):
    """The per-axis pass of a separable op (stride, padding, dilation kept along `axis` only),
    for the staged oracle."""
    s, d = _pair(kw.get("stride", 1)), _pair(kw.get("dilation", 1))
    p = kw.get("padding", 0)
    if not isinstance(p, str):
        p = [v if isinstance(v, (tuple, list)) else (v, v) for v in _pair(p)]
        p = (tuple(p[0]), (0, 0)) if axis == 0 else ((0, 0), tuple(p[1]))
    keep = (lambda v: (v[0], 1)) if axis == 0 else (lambda v: (1, v[1]))
    return dict(stride=keep(s), dilation=keep(d), padding=p,
                padding_mode=kw.get("padding_mode", "zeros"))


# ------------------------------------------------------------------------ pointwise_conv

# x shape, w shape, groups, bias, activation, expected kernel
PW_CASES = {
    "2d": ((2, 5, 3, 4), (7, 5), 1, True, None, "conv_direct"),
    "2d-groups-4d-w": ((2, 6, 3, 3), (12, 3, 1, 1), 2, True, "relu", "conv_direct"),
    "wide": ((2, 16, 3, 3), (70, 16), 1, True, "gelu", "conv_igemm"),
    "many-pixels": ((2, 3, 9, 8), (10, 3), 1, False, "relu6", "conv_igemm"),
    "one-channel-per-group": ((1, 4, 5, 2), (8, 1), 4, False, "sigmoid", "conv_depthwise"),
    "0d": ((5, 6), (9, 6), 1, True, "tanh", "conv_igemm"),
    "1d": ((2, 3, 7), (4, 3, 1), 1, False, "relu6", "conv_direct"),
    "3d": ((1, 4, 2, 3, 2), (20, 2, 1, 1, 1), 2, True, None, "conv_igemm"),
    "empty-batch": ((0, 4, 3, 3), (5, 4), 1, True, None, None),
    "empty-spatial": ((2, 4, 0, 3), (5, 4), 1, True, None, None),
}


def pointwise_case(cp, name, dtype, channels_last=False):
    xs, ws, groups, with_bias, act, kernel = PW_CASES[name]
    x, w = rnd(xs, dtype, 1), rnd(ws, dtype, 2)
    b = rnd((ws[0],), dtype, 3) if with_bias else None
    xin = np.ascontiguousarray(to_cl(x)) if channels_last else x
    before = n_launches(cp)
    y = cc.pointwise_conv(cp.asarray(xin), cp.asarray(w), g(cp, b), groups=groups,
                          channels_last=channels_last, activation=act)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.flags.c_contiguous
    names = launches_since(cp, before)
    if names is not None:  # one launch, no copies; the kernel "auto" picks for this shape
        assert [short(n) for n in names] == ([kernel] if kernel else [])
    got = from_cl(cp.asnumpy(y)) if channels_last else cp.asnumpy(y)
    check(got, ref.pointwise_conv(x, w, b, groups=groups, activation=act), dtype,
          ws[1] + 1)


@pytest.mark.parametrize("name", list(PW_CASES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_pointwise(cp, name, dtype):
    pointwise_case(cp, name, dtype)


@pytest.mark.parametrize("name", ["2d", "2d-groups-4d-w", "wide", "0d", "1d", "3d",
                                  "one-channel-per-group", "empty-spatial"])
@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_pointwise_channels_last(cp, name, dtype):
    pointwise_case(cp, name, dtype, channels_last=True)


@pytest.mark.parametrize("channels_last", [False, True])
def test_pointwise_matches_cpu_noncontiguous(cp, channels_last):
    x, w, b = rnd((2, 6, 7, 10), np.float64, 4), rnd((8, 3), np.float64, 5), \
        rnd((8,), np.float64, 6)
    if channels_last:  # a strided view of channels-last data
        xcl = np.ascontiguousarray(to_cl(x))
        xs, xg = xcl[:, 1:, ::2], cp.asarray(xcl)[:, 1:, ::2]
    else:
        xs, xg = x[:, :, ::2, 1::3], cp.asarray(x)[:, :, ::2, 1::3]
    assert not xg.flags.c_contiguous
    wf = np.asfortranarray(w)
    kw = dict(groups=2, channels_last=channels_last, activation="relu")
    before = cp.asnumpy(xg).copy()
    y = cc.pointwise_conv(xg, cp.asarray(wf), cp.asarray(b), **kw)
    np.testing.assert_allclose(cp.asnumpy(y), cc.pointwise_conv(xs, wf, b, **kw), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_array_equal(cp.asnumpy(xg), before)  # inputs are never modified


def test_pointwise_errors_as_cpu(cp):
    x, w, b = rnd((1, 4, 5, 5), np.float32, 7), rnd((6, 4), np.float32, 8), \
        rnd((6,), np.float32, 9)
    f = cc.pointwise_conv
    same_error(cp, f, (x, np.ones((6, 4, 3, 3), np.float32)))    # not 1x1
    same_error(cp, f, (x, np.ones((6, 3), np.float32)))           # channel mismatch
    same_error(cp, f, (x, np.ones((5, 2), np.float32)), dict(groups=2))
    same_error(cp, f, (x, w), dict(groups=0))
    same_error(cp, f, (x, w, b[:2]))
    same_error(cp, f, (x, w[:, :, None]))                         # wrong trailing rank
    same_error(cp, f, (x[0, 0, 0], w))                            # x rank
    same_error(cp, f, (x, w), dict(activation="elu"))
    same_error(cp, f, (x, w, b.astype(np.float64)), match="bias")
    same_error(cp, f, (x, w.astype(np.float64)), match="w")
    same_error(cp, f, (x, w, b.reshape(6, 1)))
    same_error(cp, f, (x.astype(np.int32), w.astype(np.int32)), match="x must be a float")


@given(n=st.integers(0, 2), cpg=st.integers(1, 3), opg=st.integers(1, 10), grp=st.integers(1, 3),
       sp=st.lists(st.integers(1, 4), max_size=3), cl=st.booleans())
@settings(max_examples=25, deadline=None)
def test_pointwise_hypothesis(cp, n, cpg, opg, grp, sp, cl):
    r = np.random.default_rng(n + 3 * cpg + 11 * opg + 37 * grp)
    x, w = r.standard_normal((n, cpg * grp) + tuple(sp)), r.standard_normal((opg * grp, cpg))
    y = cc.pointwise_conv(cp.asarray(np.ascontiguousarray(to_cl(x)) if cl else x), cp.asarray(w),
                          groups=grp, channels_last=cl)
    got = from_cl(cp.asnumpy(y)) if cl else cp.asnumpy(y)
    check(got, ref.pointwise_conv(x, w, groups=grp), np.float64, cpg)


# ------------------------------------------------------------------------ depthwise separable

# x shape, multiplier, C_out, options, biases
DWS_CASES = {
    "plain": ((2, 3, 6, 7), 1, 5, {}, (True, True)),
    "strided-pad": ((1, 4, 7, 8), 2, 6, dict(stride=2, padding=1), (True, False)),
    "same-dilated": ((2, 2, 6, 5), 3, 4, dict(padding="same", dilation=2), (False, True)),
    "reflect-acts": ((1, 3, 6, 7), 1, 4, dict(padding=2, padding_mode="reflect",
                                              mid_activation="relu6", activation="relu"),
                     (True, True)),
    "circular-pairs": ((1, 2, 5, 6), 2, 3, dict(stride=(1, 2), padding=((1, 0), (2, 1)),
                                                 padding_mode="circular",
                                                 activation="sigmoid"), (False, True)),
    "replicate-tanh": ((1, 2, 5, 5), 1, 70, dict(padding=(1, 2), padding_mode="replicate",
                                                  mid_activation="tanh", activation="gelu"),
                       (True, True)),
    "kernel>input": ((1, 2, 2, 2), 1, 3, dict(padding=2), (True, False)),
    "empty-batch": ((0, 2, 4, 4), 1, 3, dict(padding=1, padding_mode="reflect"), (True, True)),
}


def dws_case(cp, name, dtype, channels_last=False, four_d_pointwise=False):
    xs, m, cout, kw, (with_bd, with_bp) = DWS_CASES[name]
    C = xs[1]
    x, wd, wp = rnd(xs, dtype, 11), rnd((C * m, 1, 3, 3), dtype, 12), rnd((cout, C * m), dtype, 13)
    bd = rnd((C * m,), dtype, 14) if with_bd else None
    bp = rnd((cout,), dtype, 15) if with_bp else None
    xin = np.ascontiguousarray(to_cl(x)) if channels_last else x
    wpin = wp.reshape(cout, C * m, 1, 1) if four_d_pointwise else wp
    before = n_launches(cp)
    y = cc.depthwise_separable_conv2d(cp.asarray(xin), cp.asarray(wd), cp.asarray(wpin),
                                      g(cp, bd), g(cp, bp), channels_last=channels_last, **kw)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.flags.c_contiguous
    names = launches_since(cp, before)
    if names is not None and y.size:  # the depthwise kernel, then one pointwise launch
        assert len(names) == 2 and short(names[0]) == "conv_depthwise", names
    got = from_cl(cp.asnumpy(y)) if channels_last else cp.asnumpy(y)
    conv_kw = {k: v for k, v in kw.items() if k not in ("mid_activation", "activation")}
    mid = ref.depthwise_conv2d(x, wd, bd, activation=kw.get("mid_activation"), **conv_kw)
    expect = ref.pointwise_conv(rounded(mid, dtype), wp, bp, activation=kw.get("activation"))
    check_staged(got, expect, dtype, 9 + C * m)
    if np.dtype(dtype) != np.float16:  # and the oracle of the whole op
        check(got, ref.depthwise_separable_conv2d(x, wd, wp, bd, bp, **kw), dtype, 9 * C * m)


@pytest.mark.parametrize("name", list(DWS_CASES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_separable(cp, name, dtype):
    dws_case(cp, name, dtype)


@pytest.mark.parametrize("name", ["plain", "strided-pad", "reflect-acts", "circular-pairs",
                                  "replicate-tanh"])
@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_depthwise_separable_channels_last(cp, name, dtype):
    dws_case(cp, name, dtype, channels_last=True, four_d_pointwise=name == "plain")


@pytest.mark.parametrize("channels_last", [False, True])
def test_depthwise_separable_matches_cpu_noncontiguous(cp, channels_last):
    x = rnd((2, 3, 9, 12), np.float64, 16)
    wd, wp = rnd((6, 1, 3, 3), np.float64, 17), rnd((5, 6, 1, 1), np.float64, 18)
    bd, bp = rnd((6,), np.float64, 19), rnd((5,), np.float64, 20)
    kw = dict(stride=(2, 1), padding=1, dilation=(1, 2), padding_mode="reflect",
              mid_activation="relu", activation="tanh", channels_last=channels_last)
    xs = np.ascontiguousarray(to_cl(x)) if channels_last else x
    xs = xs[:, 1:, ::2] if channels_last else xs[:, :, 1:, ::2]
    xg = cp.asarray(np.ascontiguousarray(to_cl(x)) if channels_last else x)
    xg = xg[:, 1:, ::2] if channels_last else xg[:, :, 1:, ::2]
    assert not xg.flags.c_contiguous
    y = cc.depthwise_separable_conv2d(xg, cp.asarray(wd), cp.asarray(wp), cp.asarray(bd),
                                      cp.asarray(bp), **kw)
    np.testing.assert_allclose(cp.asnumpy(y),
                               cc.depthwise_separable_conv2d(xs, wd, wp, bd, bp, **kw),
                               rtol=1e-12, atol=1e-12)


def test_depthwise_separable_errors_as_cpu(cp):
    x = rnd((1, 4, 6, 6), np.float32, 21)
    wd, wp = rnd((4, 1, 3, 3), np.float32, 22), rnd((5, 4), np.float32, 23)
    bd, bp = rnd((4,), np.float32, 24), rnd((5,), np.float32, 25)
    f = cc.depthwise_separable_conv2d
    same_error(cp, f, (x, np.ones((4, 2, 3, 3), "f4"), wp))
    same_error(cp, f, (x, np.ones((6, 1, 3, 3), "f4"), wp))
    same_error(cp, f, (x, wd, np.ones((5, 3), "f4")))
    same_error(cp, f, (x, wd, np.ones((5, 4, 3, 3), "f4")))
    same_error(cp, f, (x, wd, wp, bd[:2], bp))
    same_error(cp, f, (x, wd, wp, bd, bp[:2]))
    same_error(cp, f, (x, wd, wp, bd, bp.reshape(5, 1)))
    same_error(cp, f, (x, wd, wp), dict(mid_activation="elu"))
    same_error(cp, f, (x, wd, wp), dict(activation="elu"))
    same_error(cp, f, (x, wd, wp), dict(stride=0))
    same_error(cp, f, (x[0], wd, wp))
    same_error(cp, f, (x, wd, wp.astype(np.float64)), match="w_pointwise")
    same_error(cp, f, (x, wd, wp, bd.astype(np.float64)), match="b_depthwise")


@given(n=st.integers(0, 2), c=st.integers(1, 3), m=st.integers(1, 2), h=st.integers(3, 6),
       w=st.integers(3, 6), co=st.integers(1, 9), s=st.integers(1, 2), p=st.integers(0, 2),
       mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]), cl=st.booleans())
@settings(max_examples=25, deadline=None)
def test_depthwise_separable_hypothesis(cp, n, c, m, h, w, co, s, p, mode, cl):
    r = np.random.default_rng(n + 7 * c + 31 * h + 101 * w + 3 * co)
    x = r.standard_normal((n, c, h, w))
    wd, wp = r.standard_normal((c * m, 1, 3, 3)), r.standard_normal((co, c * m))
    bd, bp = r.standard_normal(c * m), r.standard_normal(co)
    kw = dict(stride=s, padding=p, padding_mode=mode)
    y = cc.depthwise_separable_conv2d(cp.asarray(np.ascontiguousarray(to_cl(x)) if cl else x),
                                      cp.asarray(wd), cp.asarray(wp), cp.asarray(bd),
                                      cp.asarray(bp), mid_activation="tanh", channels_last=cl,
                                      **kw)
    got = from_cl(cp.asnumpy(y)) if cl else cp.asnumpy(y)
    check(got, ref.depthwise_separable_conv2d(x, wd, wp, bd, bp, mid_activation="tanh", **kw),
          np.float64, 9 * c * m)


# ------------------------------------------------------------------------ spatially separable

# x shape, C_mid, C_out, kh, kw, options, bias
SS_CASES = {
    "plain": ((2, 3, 6, 7), 4, 5, 3, 3, {}, True),
    "strided-pad": ((1, 2, 9, 8), 3, 4, 3, 2, dict(stride=(2, 1), padding=(1, 2)), False),
    "same-dilated": ((2, 2, 6, 5), 2, 3, 3, 3, dict(padding="same", dilation=(1, 2)), True),
    "reflect-pairs": ((1, 2, 7, 6), 3, 3, 3, 3, dict(stride=2, padding=((0, 2), (1, 1)),
                                                     padding_mode="reflect"), True),
    "groups-circular": ((1, 4, 5, 6), 6, 8, 3, 3, dict(groups=2, padding=1,
                                                       padding_mode="circular"), True),
    "groups-replicate": ((1, 4, 5, 5), 4, 4, 2, 3, dict(groups=4, dilation=2, padding=2,
                                                        padding_mode="replicate"), False),
    "valid-wide": ((1, 2, 5, 5), 3, 70, 3, 3, dict(padding="valid"), True),
    "empty-batch": ((0, 2, 4, 4), 2, 3, 3, 3, dict(padding=1, padding_mode="reflect"), True),
}


def ss_case(cp, name, dtype, channels_last=False):
    xs, cmid, cout, kh, kwid, kw, with_bias = SS_CASES[name]
    grp = kw.get("groups", 1)
    x = rnd(xs, dtype, 31)
    wc = rnd((cmid, xs[1] // grp, kh, 1), dtype, 32)
    wr = rnd((cout, cmid // grp, 1, kwid), dtype, 33)
    b = rnd((cout,), dtype, 34) if with_bias else None
    xin = np.ascontiguousarray(to_cl(x)) if channels_last else x
    before = n_launches(cp)
    y = cc.spatially_separable_conv2d(cp.asarray(xin), cp.asarray(wc), cp.asarray(wr), g(cp, b),
                                      channels_last=channels_last, **kw)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.flags.c_contiguous
    names = launches_since(cp, before)
    if names is not None and y.size:  # the column conv, then the row conv: two launches
        assert len(names) == 2, names
    got = from_cl(cp.asnumpy(y)) if channels_last else cp.asnumpy(y)
    mid = ref.conv(x, wc, None, groups=grp, **axis_kw(kw, 0))
    expect = ref.conv(rounded(mid, dtype), wr, b, groups=grp, **axis_kw(kw, 1))
    red = kh * xs[1] // grp + kwid * cmid // grp
    check_staged(got, expect, dtype, red)
    if np.dtype(dtype) != np.float16:
        check(got, ref.spatially_separable_conv2d(x, wc, wr, b, **kw), dtype,
              kh * kwid * xs[1] * cmid // grp)


@pytest.mark.parametrize("name", list(SS_CASES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_spatially_separable(cp, name, dtype):
    ss_case(cp, name, dtype)


@pytest.mark.parametrize("name", ["plain", "strided-pad", "reflect-pairs", "groups-circular"])
@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_spatially_separable_channels_last(cp, name, dtype):
    ss_case(cp, name, dtype, channels_last=True)


def test_spatially_separable_matches_cpu_noncontiguous(cp):
    x = rnd((2, 4, 9, 12), np.float64, 35)
    wc, wr, b = rnd((6, 2, 3, 1), np.float64, 36), rnd((4, 3, 1, 3), np.float64, 37), \
        rnd((4,), np.float64, 38)
    kw = dict(groups=2, stride=(1, 2), padding=1, padding_mode="replicate")
    xg = cp.asarray(x)[:, :, ::2, 1:]
    assert not xg.flags.c_contiguous
    y = cc.spatially_separable_conv2d(xg, cp.asarray(np.asfortranarray(wc)), cp.asarray(wr),
                                      cp.asarray(b), **kw)
    np.testing.assert_allclose(cp.asnumpy(y),
                               cc.spatially_separable_conv2d(x[:, :, ::2, 1:], wc, wr, b, **kw),
                               rtol=1e-12, atol=1e-12)


def test_spatially_separable_errors_as_cpu(cp):
    x = np.ones((1, 2, 6, 6))
    f = cc.spatially_separable_conv2d
    wc, wr = np.ones((2, 2, 3, 1)), np.ones((2, 2, 1, 3))
    same_error(cp, f, (x, np.ones((2, 2, 3, 3)), wr))
    same_error(cp, f, (x, wc, np.ones((2, 2, 3, 1))))
    same_error(cp, f, (x, np.ones((2, 3, 3, 1)), wr))
    same_error(cp, f, (x, wc, np.ones((2, 3, 1, 3))))
    same_error(cp, f, (x, wc, wr, np.ones(3)))
    same_error(cp, f, (x, np.ones((2, 2, 9, 1)), wr))
    same_error(cp, f, (x, wc, wr), dict(groups=3))
    same_error(cp, f, (x, wc, wr), dict(dilation=0))
    same_error(cp, f, (x[0], wc, wr))
    same_error(cp, f, (x, wc, wr.astype(np.float32)), match="w_row")
    same_error(cp, f, (x, wc, wr, np.ones((2, 1))))


@given(n=st.integers(0, 2), c=st.integers(1, 3), cm=st.integers(1, 3), co=st.integers(1, 4),
       h=st.integers(1, 6), w=st.integers(1, 6), kh=st.integers(1, 3), kw=st.integers(1, 3),
       s=st.integers(1, 2), d=st.integers(1, 2), p=st.integers(0, 2),
       mode=st.sampled_from(["zeros", "replicate", "circular"]), cl=st.booleans())
@settings(max_examples=25, deadline=None)
def test_spatially_separable_hypothesis(cp, n, c, cm, co, h, w, kh, kw, s, d, p, mode, cl):
    if h + 2 * p < d * (kh - 1) + 1 or w + 2 * p < d * (kw - 1) + 1:
        return
    r = np.random.default_rng(n + 3 * c + 7 * cm + 13 * co + 29 * h + 31 * w)
    x = r.standard_normal((n, c, h, w))
    wc, wr = r.standard_normal((cm, c, kh, 1)), r.standard_normal((co, cm, 1, kw))
    opts = dict(stride=s, dilation=d, padding=p, padding_mode=mode)
    if not ref.padding_reaches(mode, (h, w), [(p, p)] * 2):
        with pytest.raises(ValueError, match="padding_mode='circular'"):  # PyTorch's rule
            cc.spatially_separable_conv2d(cp.asarray(x), cp.asarray(wc), cp.asarray(wr), **opts)
        return
    y = cc.spatially_separable_conv2d(cp.asarray(np.ascontiguousarray(to_cl(x)) if cl else x),
                                      cp.asarray(wc), cp.asarray(wr), channels_last=cl, **opts)
    got = from_cl(cp.asnumpy(y)) if cl else cp.asnumpy(y)
    check(got, ref.spatially_separable_conv2d(x, wc, wr, **opts), np.float64, kh * kw * c * cm)


# ------------------------------------------------------------------------ flattened

# x shape, C_out, kh, kw, options, bias
FLAT_CASES = {
    "plain": ((2, 3, 6, 7), 4, 3, 3, {}, True),
    "strided-pad": ((1, 5, 8, 9), 7, 3, 4, dict(stride=2, padding=1), True),
    "same-dilated": ((2, 2, 6, 5), 3, 3, 2, dict(padding="same", dilation=(2, 1)), False),
    "reflect-pairs": ((1, 3, 7, 6), 5, 3, 3, dict(stride=(1, 2), padding=((2, 0), (1, 2)),
                                                  padding_mode="reflect"), True),
    "circular": ((1, 2, 5, 6), 70, 2, 3, dict(padding=2, padding_mode="circular"), True),
    "replicate": ((1, 4, 4, 5), 2, 3, 1, dict(padding=1, padding_mode="replicate"), False),
    "empty-batch": ((0, 2, 4, 4), 3, 3, 3, dict(padding=1, padding_mode="reflect"), True),
}


def flat_case(cp, name, dtype):
    xs, cout, kh, kwid, kw, with_bias = FLAT_CASES[name]
    x = rnd(xs, dtype, 41)
    wc, wv, wh = rnd((cout, xs[1]), dtype, 42), rnd((cout, kh), dtype, 43), \
        rnd((cout, kwid), dtype, 44)
    b = rnd((cout,), dtype, 45) if with_bias else None
    before = n_launches(cp)
    y = cc.flattened_conv2d(cp.asarray(x), cp.asarray(wc), cp.asarray(wv), cp.asarray(wh),
                            g(cp, b), **kw)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.flags.c_contiguous
    names = launches_since(cp, before)
    if names is not None and y.size:  # channel, vertical, horizontal: three launches
        assert len(names) == 3 and [short(n) for n in names[1:]] == ["conv_depthwise"] * 2, names
    got = cp.asnumpy(y)
    a = rounded(ref.pointwise_conv(x, wc), dtype)
    v = rounded(ref.depthwise_conv2d(a, wv[:, None, :, None], **axis_kw(kw, 0)), dtype)
    expect = ref.depthwise_conv2d(v, wh[:, None, None, :], b, **axis_kw(kw, 1))
    check_staged(got, expect, dtype, xs[1] + kh + kwid)
    if np.dtype(dtype) != np.float16:
        check(got, ref.conv(x, ref.flattened_weight(wc, wv, wh), b, **kw), dtype,
              xs[1] * kh * kwid)


@pytest.mark.parametrize("name", list(FLAT_CASES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_flattened(cp, name, dtype):
    flat_case(cp, name, dtype)


def test_flattened_matches_cpu_noncontiguous(cp):
    x = rnd((2, 3, 9, 12), np.float64, 46)
    wc, wv, wh, b = rnd((4, 3), np.float64, 47), rnd((4, 3), np.float64, 48), \
        rnd((4, 2), np.float64, 49), rnd((4,), np.float64, 50)
    kw = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), padding_mode="reflect")
    xg = cp.asarray(x)[:, :, 1:, ::2]
    assert not xg.flags.c_contiguous
    y = cc.flattened_conv2d(xg, cp.asarray(wc.T.copy().T), cp.asarray(wv[:, ::-1]),
                            cp.asarray(wh), cp.asarray(b), **kw)
    np.testing.assert_allclose(cp.asnumpy(y),
                               cc.flattened_conv2d(x[:, :, 1:, ::2], wc, wv[:, ::-1], wh, b, **kw),
                               rtol=1e-12, atol=1e-12)


def test_flattened_errors_as_cpu(cp):
    x = np.ones((1, 3, 6, 6))
    wc, wv, wh, b = rnd((4, 3), np.float64, 51), rnd((4, 3), np.float64, 52), \
        rnd((4, 3), np.float64, 53), rnd((4,), np.float64, 54)
    f = cc.flattened_conv2d
    same_error(cp, f, (x, wc, wv[:3], wh))
    same_error(cp, f, (x, wc, wv, wh[:2]))
    same_error(cp, f, (x, wc[:, :2], wv, wh))
    same_error(cp, f, (x, wc[:, :, None, None], wv, wh))
    same_error(cp, f, (x, wc, wv[:, None], wh))
    same_error(cp, f, (x, wc, wv, wh, b[:2]))
    same_error(cp, f, (x, wc, wv, wh, b[:, None]))
    same_error(cp, f, (x, wc, rnd((4, 9), np.float64), wh))  # kernel larger than the input
    same_error(cp, f, (x, wc, wv, wh), dict(stride=(1, 0)))
    same_error(cp, f, (x[0], wc, wv, wh))
    same_error(cp, f, (x, wc, wv, wh.astype(np.float32)), match="w_horizontal")
    # channels_last is not an option of the op; through the backend the core refuses it
    from convcore import _args, _backend

    opts = _args.conv_options(2, channels_last=True)
    with pytest.raises(ValueError, match="channels_last"):
        _backend.call("flattened_conv2d", cp.asarray(x), cp.asarray(wc), cp.asarray(wv),
                      cp.asarray(wh), None, opts)


@given(cin=st.integers(1, 4), cout=st.integers(1, 9), kh=st.integers(1, 3), kw=st.integers(1, 3),
       h=st.integers(3, 6), w=st.integers(3, 6), s=st.integers(1, 2), p=st.integers(0, 2),
       mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
@settings(max_examples=20, deadline=None)
def test_flattened_hypothesis(cp, cin, cout, kh, kw, h, w, s, p, mode):
    if mode == "reflect" and p >= min(h, w):
        return
    r = np.random.default_rng(cin + 5 * cout + 25 * kh + 125 * kw)
    x = r.standard_normal((1, cin, h, w))
    wc, wv, wh = r.standard_normal((cout, cin)), r.standard_normal((cout, kh)), \
        r.standard_normal((cout, kw))
    y = cc.flattened_conv2d(cp.asarray(x), cp.asarray(wc), cp.asarray(wv), cp.asarray(wh),
                            stride=s, padding=p, padding_mode=mode)
    check(cp.asnumpy(y), ref.conv(x, ref.flattened_weight(wc, wv, wh), None, s, p,
                                  padding_mode=mode), np.float64, cin * kh * kw)


# ------------------------------------------------------------------------ every op: edges

def test_empty_spatial_with_padding_mode_is_an_error(cp):
    """An empty H with a non-zero padding mode and a non-empty output would read its padding
    from nothing: a ValueError (an empty batch gives an empty result, as on the CPU)."""
    x = cp.asarray(np.zeros((1, 2, 0, 5)))
    with pytest.raises(ValueError, match="padding_mode"):
        cc.spatially_separable_conv2d(x, cp.asarray(np.ones((2, 2, 3, 1))),
                                      cp.asarray(np.ones((2, 2, 1, 3))), padding=2,
                                      padding_mode="replicate")
    with pytest.raises(ValueError, match="padding_mode"):
        cc.depthwise_separable_conv2d(x, cp.asarray(np.ones((2, 1, 3, 3))),
                                      cp.asarray(np.ones((3, 2))), padding=2,
                                      padding_mode="circular")
    with pytest.raises(ValueError, match="padding_mode"):
        cc.flattened_conv2d(x, cp.asarray(np.ones((3, 2))), cp.asarray(np.ones((3, 3))),
                            cp.asarray(np.ones((3, 3))), padding=2, padding_mode="replicate")


def test_ops_entry_with_cpu_binding_arguments(cp):
    """The CUDA backend takes each op with the CPU binding's arguments."""
    from convcore import _args, _backend

    x = rnd((1, 2, 5, 5), np.float64, 61)
    y = _backend.call("pointwise_conv", cp.asarray(x), cp.asarray(np.eye(2)), None, 1, False,
                      None)
    check(cp.asnumpy(y), x, np.float64, 2)
    opts = _args.conv_options(2, padding=1)
    wd, wp = rnd((2, 1, 3, 3), np.float64, 62), rnd((3, 2), np.float64, 63)
    y = _backend.call("depthwise_separable_conv2d", cp.asarray(x), cp.asarray(wd), cp.asarray(wp),
                      None, None, opts, "relu")
    check(cp.asnumpy(y), ref.depthwise_separable_conv2d(x, wd, wp, padding=1,
                                                        mid_activation="relu"), np.float64, 18)


def test_devices_and_mixing(cp):
    x = rnd((1, 4, 5, 5), np.float64, 71)
    wd, wp = rnd((4, 1, 3, 3), np.float64, 72), rnd((3, 4), np.float64, 73)
    wc, wr = rnd((2, 4, 3, 1), np.float64, 74), rnd((3, 2, 1, 3), np.float64, 75)
    fc, fv, fh = rnd((3, 4), np.float64, 76), rnd((3, 3), np.float64, 77), \
        rnd((3, 3), np.float64, 78)
    xg = cp.asarray(x)
    with pytest.raises(TypeError, match="CuPy"):
        cc.pointwise_conv(xg, wp)
    with pytest.raises(TypeError, match="CuPy"):
        cc.pointwise_conv(x, cp.asarray(wp))
    with pytest.raises(TypeError, match="CuPy"):
        cc.depthwise_separable_conv2d(xg, cp.asarray(wd), wp)
    with pytest.raises(TypeError, match="CuPy"):
        cc.depthwise_separable_conv2d(xg, cp.asarray(wd), cp.asarray(wp), None, np.ones(3))
    with pytest.raises(TypeError, match="CuPy"):
        cc.spatially_separable_conv2d(x, cp.asarray(wc), cp.asarray(wr))
    with pytest.raises(TypeError, match="CuPy"):
        cc.flattened_conv2d(xg, cp.asarray(fc), fv, cp.asarray(fh))
    if cp.cuda.runtime.getDeviceCount() < 2:
        return
    with cp.cuda.Device(1):
        x1, wd1, wp1, wc1, wr1 = (cp.asarray(a) for a in (x, wd, wp, wc, wr))
        fc1, fv1, fh1 = cp.asarray(fc), cp.asarray(fv), cp.asarray(fh)
    with cp.cuda.Device(0):
        wp0 = cp.asarray(wp)
        y = cc.pointwise_conv(x1, wp1)
        assert y.device.id == 1
        check(cp.asnumpy(y), ref.pointwise_conv(x, wp), np.float64, 4)
        y = cc.depthwise_separable_conv2d(x1, wd1, wp1, padding=1)
        assert y.device.id == 1
        check(cp.asnumpy(y), ref.depthwise_separable_conv2d(x, wd, wp, padding=1), np.float64,
              36)
        y = cc.spatially_separable_conv2d(x1, wc1, wr1, padding=1)
        assert y.device.id == 1
        check(cp.asnumpy(y), ref.spatially_separable_conv2d(x, wc, wr, padding=1), np.float64,
              72)
        y = cc.flattened_conv2d(x1, fc1, fv1, fh1, padding=1)
        assert y.device.id == 1
        check(cp.asnumpy(y), ref.conv(x, ref.flattened_weight(fc, fv, fh), padding=1),
              np.float64, 36)
        with pytest.raises(ValueError, match="device"):
            cc.pointwise_conv(x1, wp0)
        with pytest.raises(ValueError, match="device"):
            cc.depthwise_separable_conv2d(x1, wd1, wp0)


# ------------------------------------------------------------------------ against PyTorch

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_torch(cp, dtype):
    torch = _torch_cuda(cp)
    F = torch.nn.functional
    t = torch.from_dlpack
    x = cp.asarray(rnd((4, 32, 19, 19), dtype, 81))
    wp, bp = cp.asarray(rnd((48, 16), dtype, 82)), cp.asarray(rnd((48,), dtype, 83))
    y = cc.pointwise_conv(x, wp, bp, groups=2, activation="relu")
    e = torch.relu(F.conv2d(t(x), t(wp)[:, :, None, None], t(bp), groups=2))
    check(cp.asnumpy(y), e.double().cpu().numpy(), dtype, 16)
    wd, bd = cp.asarray(rnd((64, 1, 3, 3), dtype, 84)), cp.asarray(rnd((64,), dtype, 85))
    wq = cp.asarray(rnd((40, 64), dtype, 86))
    y = cc.depthwise_separable_conv2d(x, wd, wq, bd, None, stride=2, padding=1,
                                      mid_activation="relu6")
    e = F.conv2d(F.relu6(F.conv2d(t(x), t(wd), t(bd), stride=2, padding=1, groups=32)),
                 t(wq)[:, :, None, None])
    check(cp.asnumpy(y), e.double().cpu().numpy(), dtype, 9 * 64)
    wc, wr = cp.asarray(rnd((24, 32, 3, 1), dtype, 87)), cp.asarray(rnd((16, 24, 1, 3), dtype, 88))
    y = cc.spatially_separable_conv2d(x, wc, wr, padding=1)
    e = F.conv2d(F.conv2d(t(x), t(wc), padding=(1, 0)), t(wr), padding=(0, 1))
    check(cp.asnumpy(y), e.double().cpu().numpy(), dtype, 3 * 32 * 24)
    fc, fv, fh = (cp.asarray(rnd(s, dtype, 89 + i)) for i, s in
                  enumerate([(16, 32), (16, 3), (16, 3)]))
    y = cc.flattened_conv2d(x, fc, fv, fh, padding=1)
    W = t(fc)[:, :, None, None] * t(fv)[:, None, :, None] * t(fh)[:, None, None, :]
    check(cp.asnumpy(y), F.conv2d(t(x), W, padding=1).double().cpu().numpy(), dtype, 9 * 32)
