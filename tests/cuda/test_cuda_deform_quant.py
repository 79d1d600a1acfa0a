"""deform_conv2d and quantized_conv2d on CuPy arrays: against the NumPy oracle
(tests/reference.py), against the CPU op, and (deform_conv2d, on a GPU) against torchvision.

Runs on the GPU and on the CPU emulation of tests/cuda/emulation, through test_cuda_ops' `cp`
fixture. Shapes are tiny on purpose: the emulation runs each GPU thread on the CPU.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convcore as cc
import reference as ref
from test_cuda_ops import check, cp, is_gpu, rnd, _torch_cuda  # noqa: F401

DTYPES = [np.float64, np.float32, np.float16]


def launched(cp):
    """Names of the kernels launched so far (the emulation records them; None on a GPU)."""
    return None if is_gpu(cp) else [name for name, _, _ in cp.launches]


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ------------------------------------------------------------------------ deform_conv2d

# x shape, w shape, offset groups, geometry, mask, bias
DEFORM_CASES = {
    "basic": ((2, 3, 5, 6), (4, 3, 3, 3), 1, dict(padding=1), False, True),
    "mask": ((1, 4, 5, 5), (5, 4, 3, 3), 2, dict(padding=1), True, True),
    "strided-dilated": ((1, 2, 7, 8), (3, 2, 3, 2), 1,
                        dict(stride=(2, 1), dilation=(1, 2), padding=(1, 2)), True, False),
    "groups": ((2, 4, 4, 5), (6, 2, 3, 3), 4, dict(padding=1), True, True),
    "1x1": ((1, 3, 4, 4), (2, 3, 1, 1), 3, {}, False, False),
    "multi-tile": ((1, 2, 9, 9), (70, 2, 2, 2), 1, dict(padding=1), True, True),  # M, P > 64
    # many channels per tap: a thread's rows share one sample (wide), or straddle taps and
    # offset groups (odd)
    "wide": ((1, 32, 4, 4), (4, 32, 3, 3), 2, dict(padding=1), True, True),
    "odd": ((1, 20, 4, 5), (4, 10, 3, 3), 4, dict(padding=(1, 0)), True, False),
}


def deform_data(name, dtype, seed=0):
    xs, ws, og, kw, with_mask, with_bias = DEFORM_CASES[name]
    N, C, H, W = xs
    O, cpg, kh, kwid = ws
    (sh, sw), (ph, pw), (dh, dw) = (pair(kw.get(k, d)) for k, d in
                                    (("stride", 1), ("padding", 0), ("dilation", 1)))
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kwid - 1) - 1) // sw + 1
    g = np.random.default_rng(seed)
    x = rnd(xs, dtype, seed + 1)
    w = rnd(ws, dtype, seed + 2)
    # offsets in [-2, 2]: many samples cross the border and the (-1, 0) fade-out band
    off = g.uniform(-2, 2, (N, 2 * og * kh * kwid, Ho, Wo)).astype(dtype)
    mask = g.uniform(0, 1, (N, og * kh * kwid, Ho, Wo)).astype(dtype) if with_mask else None
    b = rnd((O,), dtype, seed + 3) if with_bias else None
    return x, off, w, b, mask, kw


def deform_oracle(x, off, w, b, mask, kw):
    return ref.deform_conv2d(x, off, w, b, stride=pair(kw.get("stride", 1)),
                             padding=pair(kw.get("padding", 0)),
                             dilation=pair(kw.get("dilation", 1)), mask=mask)


def dev(cp, *arrays):
    return [None if a is None else cp.asarray(a) for a in arrays]


@pytest.mark.parametrize("name", list(DEFORM_CASES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_deform_against_oracle(cp, name, dtype):
    x, off, w, b, mask, kw = deform_data(name, dtype)
    xg, og_, wg, bg, mg = dev(cp, x, off, w, b, mask)
    n0 = len(cp.launches) if not is_gpu(cp) else 0
    y = cc.deform_conv2d(xg, og_, wg, bg, mask=mg, **kw)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.flags.c_contiguous
    if not is_gpu(cp):
        assert launched(cp)[n0:] == ["convcore::cuda::deform_igemm<" + {
            np.float16: "convcore::cuda::half_t", np.float32: "float",
            np.float64: "double"}[dtype] + ">"]
    check(cp.asnumpy(y), deform_oracle(x, off, w, b, mask, kw), dtype, 4 * w[0].size)


@pytest.mark.parametrize("name", ["mask", "groups", "strided-dilated"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_deform_against_cpu(cp, name, dtype):
    x, off, w, b, mask, kw = deform_data(name, dtype, seed=5)
    y = cc.deform_conv2d(*dev(cp, x, off, w, b), mask=None if mask is None else cp.asarray(mask),
                         **kw)
    expect = cc.deform_conv2d(x, off, w, b, mask=mask, **kw)
    check(cp.asnumpy(y), expect.astype(np.float64), dtype, 4 * w[0].size)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_deform_channels_last_and_noncontiguous(cp, dtype):
    x, off, w, b, mask, kw = deform_data("mask", dtype, seed=7)
    expect = deform_oracle(x, off, w, b, mask, kw)
    cl = lambda a: np.ascontiguousarray(np.moveaxis(a, 1, -1))  # noqa: E731
    y = cc.deform_conv2d(*dev(cp, cl(x), cl(off), w, b), mask=cp.asarray(cl(mask)),
                         channels_last=True, **kw)
    assert y.flags.c_contiguous
    check(np.moveaxis(cp.asnumpy(y), -1, 1), expect, dtype, 4 * w[0].size)
    # Non-contiguous views of every input.
    xb = np.zeros(x.shape[:3] + (2 * x.shape[3],), dtype)
    xb[..., ::2] = x
    ob = np.zeros(off.shape[:3] + (2 * off.shape[3],), dtype)
    ob[..., 1::2] = off
    y2 = cc.deform_conv2d(cp.asarray(xb)[..., ::2], cp.asarray(ob)[..., 1::2],
                          cp.asarray(np.asfortranarray(w)), cp.asarray(b),
                          mask=cp.asarray(mask[:, ::-1])[:, ::-1], **kw)
    check(cp.asnumpy(y2), expect, dtype, 4 * w[0].size)


def test_deform_zero_offsets_equal_conv(cp):
    x = rnd((2, 4, 6, 5), np.float64, 11)
    w = rnd((6, 2, 3, 3), np.float64, 12)
    b = rnd((6,), np.float64, 13)
    kw = dict(stride=(1, 2), padding=(2, 1), dilation=(2, 1))
    y = cc.deform_conv2d(cp.asarray(x), cp.zeros((2, 18, 6, 3)), cp.asarray(w), cp.asarray(b),
                         **kw)
    expect = cc.conv2d(cp.asarray(x), cp.asarray(w), cp.asarray(b), groups=2, **kw)
    np.testing.assert_allclose(cp.asnumpy(y), cp.asnumpy(expect), rtol=1e-12, atol=1e-12)


def test_deform_borders_inf_nan(cp):
    # One input pixel, a 1x1 kernel: each output is one sample, read exactly.
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 1, 1))
    b = np.array([0.5])
    off = np.zeros((1, 2, 3, 3))
    off[0, 0, 0, 0] = -0.25                       # y = -0.25: 0.75 * x[0, 0]
    off[0, 1, 0, 1] = np.inf                      # x = +inf: outside, 0
    off[0, 0, 1, 1] = -np.inf
    off[0, 0, 2, 2] = np.nan                      # NaN inside: NaN
    off[0, 0, 2, 0], off[0, 1, 2, 0] = np.nan, -5.0  # NaN but x outside: 0
    off[0, 0, 1, 0] = 1.5                         # y = 2.5: fades with the last row, 0.5 * x[2, 0]
    y = cp.asnumpy(cc.deform_conv2d(cp.asarray(x), cp.asarray(off), cp.asarray(w), cp.asarray(b)))
    cpu = cc.deform_conv2d(x, off, w, b)
    np.testing.assert_array_equal(y, cpu)         # the same functions: the same bits
    assert y[0, 0, 0, 0] == 0.75 * 1 + 0.5 and y[0, 0, 0, 1] == 0.5 and y[0, 0, 1, 1] == 0.5
    assert np.isnan(y[0, 0, 2, 2]) and y[0, 0, 2, 0] == 0.5 and y[0, 0, 1, 0] == 0.5 * 7 + 0.5
    # Everything pushed outside: the bias alone.
    far = cp.asarray(np.full((1, 2, 3, 3), 100.0))
    yb = cc.deform_conv2d(cp.asarray(x), far, cp.asarray(w), cp.asarray(b))
    np.testing.assert_array_equal(cp.asnumpy(yb), np.full((1, 1, 3, 3), 0.5))


def test_deform_empty(cp):
    w = cp.asarray(rnd((3, 2, 3, 3), np.float32))
    y = cc.deform_conv2d(cp.zeros((0, 2, 4, 4), np.float32), cp.zeros((0, 18, 2, 2), np.float32), w)
    assert y.shape == (0, 3, 2, 2)


def test_deform_errors(cp):
    x = cp.asarray(rnd((1, 4, 5, 5), np.float32))
    w = cp.asarray(rnd((2, 4, 3, 3), np.float32))
    off = cp.zeros((1, 18, 3, 3), np.float32)
    # The messages are the CPU binding's (one validation, in the core).
    for bad, args, kw in [
        ("offset must have 2\\*offset_groups", (x, cp.zeros((1, 17, 3, 3), np.float32), w), {}),
        ("offset must have the spatial size", (x, cp.zeros((1, 18, 4, 3), np.float32), w), {}),
        ("mask must have offset_groups", (x, off, w),
         dict(mask=cp.zeros((1, 8, 3, 3), np.float32))),
        ("mask must have 4 dimensions", (x, off, w), dict(mask=cp.zeros((), np.float32))),
        ("groups", (x, off, cp.asarray(rnd((2, 3, 3, 3), np.float32))), {}),
        ("offset_groups", (x, cp.zeros((1, 54, 3, 3), np.float32), w), {}),
        ("algorithm must be 'auto' or 'reference'", (x, off, w), dict(algorithm="direct")),
    ]:
        with pytest.raises(ValueError, match=bad):
            cc.deform_conv2d(*args, **kw)
        a_np = [cp.asnumpy(a) for a in args]
        kw_np = {k: (cp.asnumpy(v) if isinstance(v, cp.ndarray) else v) for k, v in kw.items()}
        with pytest.raises(ValueError, match=bad):
            cc.deform_conv2d(*a_np, **kw_np)
    with pytest.raises(TypeError, match="offset has dtype float64"):
        cc.deform_conv2d(x, off.astype(np.float64), w)
    with pytest.raises(TypeError, match="CuPy"):
        cc.deform_conv2d(x, cp.asnumpy(off), w)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_deform_hypothesis(cp, data):
    # Random small geometries (kernel larger than the input with padding, stride beyond the
    # kernel, 1x1 images, groups and offset groups) against the CPU op, float64.
    d = data.draw
    groups, og = d(st.sampled_from([(1, 1), (1, 2), (2, 1), (2, 2)]))
    C = groups * og * d(st.integers(1, 2))
    O = groups * d(st.integers(1, 3))
    H, W = d(st.integers(1, 5)), d(st.integers(1, 5))
    kh, kw = d(st.integers(1, 3)), d(st.integers(1, 3))
    sh, sw, dh, dw = (d(st.integers(1, 3)) for _ in range(4))
    ph, pw = d(st.integers(0, 2)), d(st.integers(0, 2))
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if Ho < 1 or Wo < 1:
        return
    N = d(st.integers(1, 2))
    seed = d(st.integers(0, 1000))
    g = np.random.default_rng(seed)
    x = g.standard_normal((N, C, H, W))
    w = g.standard_normal((O, C // groups, kh, kw))
    off = g.uniform(-2.5, 2.5, (N, 2 * og * kh * kw, Ho, Wo))
    mask = g.uniform(0, 1, (N, og * kh * kw, Ho, Wo)) if d(st.booleans()) else None
    b = g.standard_normal(O) if d(st.booleans()) else None
    kwargs = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw))
    y = cc.deform_conv2d(*dev(cp, x, off, w, b), mask=None if mask is None else cp.asarray(mask),
                         **kwargs)
    check(cp.asnumpy(y), cc.deform_conv2d(x, off, w, b, mask=mask, **kwargs), np.float64,
          w[0].size)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_deform_against_torchvision(cp, dtype):
    torch = _torch_cuda(cp)
    tv = pytest.importorskip("torchvision")
    x, off, w, b, mask, kw = deform_data("groups", dtype, seed=21)
    t = lambda a: torch.as_tensor(a, device="cuda")  # noqa: E731
    expect = tv.ops.deform_conv2d(t(x), t(off), t(w), t(b), stride=pair(kw.get("stride", 1)),
                                  padding=pair(kw.get("padding", 0)), mask=t(mask))
    y = cc.deform_conv2d(*dev(cp, x, off, w, b), mask=cp.asarray(mask), **kw)
    check(cp.asnumpy(y), expect.double().cpu().numpy(), dtype, 4 * w[0].size)


# ------------------------------------------------------------------------ quantized_conv2d

QUANT_CASES = {
    "basic": ((2, 3, 5, 6), (4, 3, 3, 3), dict(padding=1)),
    "strided-grouped": ((1, 4, 7, 6), (6, 2, 3, 2),
                        dict(stride=(2, 1), dilation=(1, 2), padding=((1, 0), (2, 1)), groups=2)),
    "depthwise": ((1, 3, 5, 5), (6, 1, 3, 3), dict(padding=2, groups=3)),
}
INT8 = [np.uint8, np.int8]


def qdata(xs, ws, xdt, wdt, seed):
    g = np.random.default_rng(seed)
    ix, iw = np.iinfo(xdt), np.iinfo(wdt)
    x = g.integers(ix.min, ix.max + 1, xs).astype(xdt)
    w = g.integers(iw.min, iw.max + 1, ws).astype(wdt)
    b = g.integers(-3000, 3000, ws[0]).astype(np.int32)
    return x, w, b


@pytest.mark.parametrize("name", list(QUANT_CASES))
@pytest.mark.parametrize("xdt", INT8)
@pytest.mark.parametrize("wdt", INT8)
@pytest.mark.parametrize("ydt", INT8)
def test_quantized_bit_exact(cp, name, xdt, wdt, ydt):
    xs, ws, kw = QUANT_CASES[name]
    x, w, b = qdata(xs, ws, xdt, wdt, 3)
    O = ws[0]
    xzp = 3 if xdt == np.int8 else 131
    wzp = np.arange(O) % 5 - (2 if wdt == np.int8 else -1)  # per output channel
    wsc = np.linspace(0.01, 0.03, O)
    yzp = -4 if ydt == np.int8 else 120
    args_cpu = (x, 0.05, xzp, w, wsc, wzp, 0.4, yzp, b)
    args_gpu = (cp.asarray(x), 0.05, xzp, cp.asarray(w), wsc, wzp, 0.4, yzp, cp.asarray(b))
    y = cc.quantized_conv2d(*args_gpu, y_dtype=ydt, **kw)
    assert isinstance(y, cp.ndarray) and y.dtype == ydt and y.flags.c_contiguous
    y = cp.asnumpy(y)
    cpu = cc.quantized_conv2d(*args_cpu, y_dtype=ydt, **kw)
    np.testing.assert_array_equal(y, cpu)
    np.testing.assert_array_equal(
        y, ref.quantized_conv2d(x, 0.05, xzp, w, wsc, wzp, 0.4, yzp, b,
                                y_signed=ydt == np.int8, **kw))
    # per-tensor scale and zero point, no bias
    y1 = cp.asnumpy(cc.quantized_conv2d(cp.asarray(x), 0.05, xzp, cp.asarray(w), 0.02, 1, 0.4,
                                        yzp, y_dtype=ydt, **kw))
    np.testing.assert_array_equal(y1, cc.quantized_conv2d(x, 0.05, xzp, w, 0.02, 1, 0.4, yzp,
                                                          y_dtype=ydt, **kw))


def test_quantized_rounding_and_saturation(cp):
    # acc * 0.5 with odd acc lands exactly on .5: half to even, both signs; and both rails.
    x = np.array([[[[1, 3, 5, 7, 9, 11, 0, 255]]]], np.uint8)
    w = np.ones((2, 1, 1, 1), np.int8)
    w[1] = -1
    y = cp.asnumpy(cc.quantized_conv2d(cp.asarray(x), 1.0, 0, cp.asarray(w), 0.5, 0, 1.0,
                                       np.int8(0)))
    np.testing.assert_array_equal(y[0, 0, 0], [0, 2, 2, 4, 4, 6, 0, 127])
    np.testing.assert_array_equal(y[0, 1, 0], [0, -2, -2, -4, -4, -6, 0, -128])
    np.testing.assert_array_equal(y, cc.quantized_conv2d(x, 1.0, 0, w, 0.5, 0, 1.0, np.int8(0)))


def test_quantized_channels_last_noncontiguous(cp):
    x, w, b = qdata((2, 4, 5, 6), (3, 4, 3, 3), np.uint8, np.int8, 9)
    kw = dict(padding=1, stride=(1, 2))
    expect = cc.quantized_conv2d(x, 0.1, 128, w, [0.01, 0.02, 0.03], 0, 0.5, np.uint8(100), b,
                                 **kw)
    xcl = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    y = cc.quantized_conv2d(cp.asarray(xcl), 0.1, 128, cp.asarray(w), [0.01, 0.02, 0.03], 0, 0.5,
                            np.uint8(100), cp.asarray(b), channels_last=True, **kw)
    assert y.flags.c_contiguous
    np.testing.assert_array_equal(np.moveaxis(cp.asnumpy(y), -1, 1), expect)
    xb = np.zeros(x.shape[:3] + (12,), np.uint8)
    xb[..., 1::2] = x
    y2 = cc.quantized_conv2d(cp.asarray(xb)[..., 1::2], 0.1, 128,
                             cp.asarray(np.asfortranarray(w)), [0.01, 0.02, 0.03], 0, 0.5,
                             np.uint8(100), cp.asarray(b), **kw)
    np.testing.assert_array_equal(cp.asnumpy(y2), expect)


def test_quantized_errors(cp):
    x = cp.asarray(np.zeros((1, 2, 4, 4), np.uint8))
    w = cp.asarray(np.zeros((3, 2, 3, 3), np.int8))
    for exc, bad, args, kw in [
        (ValueError, "x_zero_point must lie in \\[0, 255\\]", (x, 1.0, 300, w, 1.0, 0, 1.0, 0), {}),
        (ValueError, "w_zero_point must lie", (x, 1.0, 0, w, 1.0, 200, 1.0, 0), {}),
        (ValueError, "w_scale must hold 1 value", (x, 1.0, 0, w, [1.0, 2.0], 0, 1.0, 0), {}),
        (ValueError, "y_scale must be positive", (x, 1.0, 0, w, 1.0, 0, 0.0, 0), {}),
        (ValueError, "groups", (x, 1.0, 0, w, 1.0, 0, 1.0, 0), dict(groups=2)),
        (TypeError, "x must be a uint8 or int8 array", (x.astype(np.float32), 1.0, 0, w, 1.0, 0,
                                                        1.0, 0), {}),
        (TypeError, "bias must be an int32 array",
         (x, 1.0, 0, w, 1.0, 0, 1.0, 0, x[0, 0, 0, :3]), {}),
    ]:
        with pytest.raises(exc, match=bad):
            cc.quantized_conv2d(*args, **kw)
        a_np = [cp.asnumpy(a) if isinstance(a, cp.ndarray) else a for a in args]
        with pytest.raises(exc, match=bad):
            cc.quantized_conv2d(*a_np, **kw)
    with pytest.raises(TypeError, match="CuPy"):
        cc.quantized_conv2d(x, 1.0, 0, cp.asnumpy(w), 1.0, 0, 1.0, 0)


def test_quantized_empty(cp):
    y = cc.quantized_conv2d(cp.asarray(np.zeros((0, 2, 4, 4), np.int8)), 1.0, 0,
                            cp.asarray(np.zeros((3, 2, 3, 3), np.int8)), 1.0, 0, 1.0, 0)
    assert y.shape == (0, 3, 2, 2) and y.dtype == np.int8


def test_devices(cp):
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two CUDA devices")
    x, off, w, b, mask, kw = deform_data("mask", np.float64)
    qx, qw, qb = qdata((1, 2, 4, 4), (3, 2, 3, 3), np.uint8, np.int8, 4)
    with cp.cuda.Device(1):
        x1, off1, w1, b1, m1 = dev(cp, x, off, w, b, mask)
        qx1, qw1, qb1 = dev(cp, qx, qw, qb)
    with cp.cuda.Device(0):
        w0, qw0 = cp.asarray(w), cp.asarray(qw)
        y = cc.deform_conv2d(x1, off1, w1, b1, mask=m1, **kw)  # runs on the inputs' device
        q = cc.quantized_conv2d(qx1, 0.1, 3, qw1, 0.02, 0, 0.3, np.uint8(7), qb1)
    assert y.device.id == 1 and q.device.id == 1
    check(cp.asnumpy(y), deform_oracle(x, off, w, b, mask, kw), np.float64, 4 * w[0].size)
    np.testing.assert_array_equal(cp.asnumpy(q), cc.quantized_conv2d(qx, 0.1, 3, qw, 0.02, 0, 0.3,
                                                                     np.uint8(7), qb))
    with pytest.raises(ValueError, match="device"):
        cc.deform_conv2d(x1, off1, w0, b1, mask=m1, **kw)
    with pytest.raises(ValueError, match="device"):
        cc.quantized_conv2d(qx1, 0.1, 3, qw0, 0.02, 0, 0.3, np.uint8(7))
