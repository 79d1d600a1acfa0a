"""quantized_conv2d (ONNX QLinearConv semantics) against the oracle and PyTorch's quantized conv."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convcore as cc
import reference as ref

U8, I8 = np.uint8, np.int8


def _rand(rng, shape, dt):
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max + 1, size=shape).astype(dt)


@pytest.mark.parametrize("xdt,wdt,ydt", [(U8, I8, U8), (U8, U8, U8), (I8, I8, I8), (I8, U8, U8),
                                         (U8, I8, I8)])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2),
                                dict(groups=2, padding=(1, 0)), dict(groups=4, stride=(1, 2))])
def test_matches_oracle(rng, threads, xdt, wdt, ydt, per_channel, kw):
    g = kw.get("groups", 1)
    x = _rand(rng, (2, 4, 9, 8), xdt)
    w = _rand(rng, (8, 4 // g, 3, 3), wdt)
    b = rng.integers(-5000, 5000, 8).astype(np.int32)
    xs, ys = 0.02, 0.03 * np.sqrt((4 // g) / 4)  # outputs spread over the whole range
    xz = int(rng.integers(*((-20, 20) if xdt == I8 else (100, 150))))
    yz = int(rng.integers(*((-10, 10) if ydt == I8 else (120, 130))))
    if per_channel:
        ws = rng.uniform(0.001, 0.01, 8)
        wz = rng.integers(-3, 3, 8) + (0 if wdt == I8 else 128)
    else:
        ws, wz = 0.004, (0 if wdt == I8 else 128)
    y = cc.quantized_conv2d(x, xs, xz, w, ws, wz, ys, yz, b, y_dtype=ydt, **kw)
    want = ref.quantized_conv2d(x, xs, xz, w, ws, wz, ys, yz, b, y_signed=ydt == I8, **kw)
    assert y.dtype == ydt and y.flags.c_contiguous
    np.testing.assert_array_equal(y, want)
    # saturation is exercised: some outputs at the ends of the range
    assert y.min() == np.iinfo(ydt).min or y.max() == np.iinfo(ydt).max


def test_round_half_to_even_and_saturation():
    # acc = sum of 1 * w over one tap; multiplier 0.5 -> exact ties k + 0.5
    x = np.ones((1, 1, 1, 1), U8)
    w = np.arange(-7, 8, dtype=I8).reshape(15, 1, 1, 1)
    y = cc.quantized_conv2d(x, 1.0, 0, w, 0.5, 0, 1.0, 0, y_dtype=I8)
    np.testing.assert_array_equal(y.ravel(), np.rint(np.arange(-7, 8) * 0.5).astype(I8))
    np.testing.assert_array_equal(y.ravel()[:4], [-4, -3, -2, -2])  # -3.5 -> -4, -2.5 -> -2
    big = cc.quantized_conv2d(np.full((1, 1, 1, 1), 255, U8), 1.0, 0,
                              np.array([127, -127], I8).reshape(2, 1, 1, 1), 1.0, 0, 1.0, 0,
                              np.array([0, 200], np.int32))
    np.testing.assert_array_equal(big.ravel(), [255, 0])
    assert big.dtype == U8


def test_y_dtype_from_zero_point_and_padding_is_real_zero():
    x = np.full((1, 1, 2, 2), 50, U8)  # x_zp = 50: every input is the real value 0
    w = np.ones((1, 1, 3, 3), I8)
    y = cc.quantized_conv2d(x, 0.1, 50, w, 1.0, 0, 1.0, np.int8(-3), padding=1)
    assert y.dtype == I8
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 2), -3, I8))


def test_channels_last_and_noncontiguous(rng):
    x = _rand(rng, (2, 3, 12, 10), U8)[:, :, ::2, :]
    w = _rand(rng, (5, 3, 3, 3), I8)
    args = (0.05, 128, w, 0.01, 0, 0.2, 128)
    want = cc.quantized_conv2d(np.ascontiguousarray(x), *args, padding=1)
    np.testing.assert_array_equal(cc.quantized_conv2d(x, *args, padding=1), want)
    yl = cc.quantized_conv2d(np.moveaxis(x, 1, -1), *args, padding=1, channels_last=True)
    np.testing.assert_array_equal(np.moveaxis(yl, -1, 1), want)
    np.testing.assert_array_equal(want, ref.quantized_conv2d(x, 0.05, 128, w, 0.01, 0, 0.2, 128,
                                                             padding=1))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_torch_quantized_conv(rng):
    torch = pytest.importorskip("torch")
    qF = pytest.importorskip("torch.ao.nn.quantized.functional")
    x = _rand(rng, (2, 8, 12, 12), U8)
    w = rng.integers(-60, 60, (16, 8, 3, 3)).astype(I8)
    b = rng.integers(-2000, 2000, 16).astype(np.int32)
    xs, xz, ws, ys, yz = 0.05, 120, 0.01, 0.4, 110
    qx = torch._make_per_tensor_quantized_tensor(torch.from_numpy(x), xs, xz)
    qw = torch._make_per_tensor_quantized_tensor(torch.from_numpy(w), ws, 0)
    bias = torch.from_numpy(b.astype(np.float64) * xs * ws).float()
    try:
        qy = qF.conv2d(qx, qw, bias, stride=1, padding=1, scale=ys, zero_point=yz,
                       dtype=torch.quint8)
    except RuntimeError as e:  # no quantized engine for this CPU
        pytest.skip(str(e))
    want = qy.int_repr().numpy()
    y = cc.quantized_conv2d(x, xs, xz, w, ws, 0, ys, yz, b, padding=1)
    # PyTorch requantises in float32, so a value next to a rounding tie may differ by one step.
    diff = np.abs(y.astype(np.int32) - want.astype(np.int32))
    assert diff.max() <= 1 and np.mean(diff > 0) < 0.01


def test_bad_input(rng):
    x = np.zeros((1, 2, 5, 5), U8)
    w = np.zeros((3, 2, 3, 3), I8)
    ok = (0.1, 0, w, 0.1, 0, 0.1, 0)
    with pytest.raises(TypeError, match="x"):
        cc.quantized_conv2d(x.astype(np.float32), *ok)
    with pytest.raises(TypeError, match="w"):
        cc.quantized_conv2d(x, 0.1, 0, w.astype(np.int16), 0.1, 0, 0.1, 0)
    with pytest.raises(TypeError, match="bias"):
        cc.quantized_conv2d(x, *ok, np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="bias"):
        cc.quantized_conv2d(x, *ok, np.zeros(4, np.int32))
    with pytest.raises(ValueError, match="x_scale"):
        cc.quantized_conv2d(x, 0.0, 0, w, 0.1, 0, 0.1, 0)
    with pytest.raises(ValueError, match="y_scale"):
        cc.quantized_conv2d(x, 0.1, 0, w, 0.1, 0, float("inf"), 0)
    with pytest.raises(ValueError, match="w_scale"):
        cc.quantized_conv2d(x, 0.1, 0, w, [0.1, 0.2], 0, 0.1, 0)
    with pytest.raises(ValueError, match="y_scale"):
        cc.quantized_conv2d(x, 1e300, 0, w, 1e300, 0, 1e-300, 0)
    with pytest.raises(ValueError, match="w_scale"):
        cc.quantized_conv2d(x, 0.1, 0, w, [0.1, -0.2, 0.1], 0, 0.1, 0)
    with pytest.raises(ValueError, match="w_zero_point"):
        cc.quantized_conv2d(x, 0.1, 0, w, 0.1, [0, 1], 0.1, 0)
    with pytest.raises(ValueError, match="x_zero_point"):
        cc.quantized_conv2d(x, 0.1, 256, w, 0.1, 0, 0.1, 0)
    with pytest.raises(ValueError, match="w_zero_point"):
        cc.quantized_conv2d(x, 0.1, 0, w, 0.1, 200, 0.1, 0)
    with pytest.raises(ValueError, match="y_zero_point"):
        cc.quantized_conv2d(x, 0.1, 0, w, 0.1, 0, 0.1, 200, y_dtype=I8)
    with pytest.raises(TypeError, match="y_dtype"):
        cc.quantized_conv2d(x, *ok, y_dtype=np.float32)
    with pytest.raises(TypeError, match="x_zero_point"):
        cc.quantized_conv2d(x, 0.1, 0.5, w, 0.1, 0, 0.1, 0)
    with pytest.raises(ValueError, match="channels"):
        cc.quantized_conv2d(np.zeros((1, 3, 5, 5), U8), *ok)
    with pytest.raises(ValueError, match="quantized_conv2d"):
        cc.quantized_conv2d(np.zeros((1, 2, 5), U8), 0.1, 0, np.zeros((3, 2, 3), I8), 0.1, 0,
                            0.1, 0)


@given(n=st.integers(0, 2), c=st.integers(1, 3), o=st.integers(1, 3), h=st.integers(1, 6),
       k=st.integers(1, 3), s=st.integers(1, 2), p=st.integers(0, 2), sx=st.booleans(),
       sw=st.booleans())
@settings(max_examples=40, deadline=None)
def test_hypothesis(n, c, o, h, k, s, p, sx, sw):
    if h + 2 * p < k:
        return
    r = np.random.default_rng(6)
    x = _rand(r, (n, c, h, h + 1), I8 if sx else U8)
    w = _rand(r, (o, c, k, k), I8 if sw else U8)
    xz = 3 if sx else 130
    wz = [-2] * o if sw else list(range(120, 120 + o))
    ws = list(np.linspace(0.002, 0.01, o))
    y = cc.quantized_conv2d(x, 0.03, xz, w, ws, wz, 0.2, 7, stride=s, padding=p, y_dtype=I8)
    np.testing.assert_array_equal(
        y, ref.quantized_conv2d(x, 0.03, xz, w, ws, wz, 0.2, 7, y_signed=True, stride=s, padding=p))


def test_cost():
    c = cc.cost("quantized_conv2d", (1, 3, 7, 7), 0.1, 0, (128, 3, 3, 3), 0.1, 0, 0.1, 0)
    assert c.macs == 86400 and c.output_shape == (1, 128, 5, 5)
    assert c.details["requantize"] == 128 * 25
