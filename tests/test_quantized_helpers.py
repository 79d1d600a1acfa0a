"""cc.quantize, cc.dequantize, cc.choose_qparams: the formulas, rounding half to even,
saturation, per-channel axes, round trips with quantized_conv2d, and bad input."""
import numpy as np
import pytest

import convcore as cc
import reference as ref

U8, I8 = np.uint8, np.int8


@pytest.mark.parametrize("dt", [U8, I8])
def test_quantize_formula_ties_and_saturation(rng, dt):
    lo, hi = np.iinfo(dt).min, np.iinfo(dt).max
    zp = 3 if dt == I8 else 130
    k = np.arange(-300, 300)
    x = np.concatenate([(k + 0.5) * 0.25, rng.normal(0, 20, 1000), [np.inf, -np.inf, 1e300]])
    before = x.copy()
    q = cc.quantize(x, 0.25, zp, dt)
    assert q.dtype == dt and q.shape == x.shape
    np.testing.assert_array_equal(x, before)  # input untouched
    with np.errstate(over="ignore", invalid="ignore"):
        want = np.clip(np.rint(x / 0.25) + zp, lo, hi)
    np.testing.assert_array_equal(q, want.astype(dt))
    # ties go to the even neighbour: (k + 0.5) -> the even one of k, k + 1
    ties = q[:600].astype(np.int64) - zp
    inside = (ties + zp > lo) & (ties + zp < hi)
    assert np.all(ties[inside] % 2 == 0)
    assert q[-3] == hi and q[-2] == lo and q[-1] == hi


def test_quantize_per_channel_axis(rng):
    x = rng.normal(0, 1, (2, 5, 3))
    s = np.array([0.01, 0.02, 0.05, 0.1, 0.2])
    z = np.array([-3, 0, 5, 7, -128])
    q = cc.quantize(x, s, z, I8, axis=1)
    want = np.clip(np.rint(x / s[:, None]) + z[:, None], -128, 127)
    np.testing.assert_array_equal(q, want.astype(I8))
    np.testing.assert_array_equal(cc.quantize(x, s, z, I8, axis=-2), q)
    d = cc.dequantize(q, s, z, axis=1, dtype=np.float64)
    np.testing.assert_array_equal(d, (q.astype(np.float64) - z[:, None]) * s[:, None])


@pytest.mark.parametrize("dt", [U8, I8])
@pytest.mark.parametrize("symmetric", [False, True])
def test_choose_qparams_round_trip(rng, dt, symmetric):
    x = rng.normal(0.7, 2.0, (4, 300))
    s, z = cc.choose_qparams(x, dt, symmetric=symmetric)
    assert isinstance(s, float) and isinstance(z, int) and s > 0
    lo, hi = int(np.iinfo(dt).min), int(np.iinfo(dt).max)
    assert lo <= z <= hi
    q = cc.quantize(x, s, z, dt)
    # every value within the range: error at most half a step (plus float64 rounding)
    err = np.abs(cc.dequantize(q, s, z, dtype=np.float64) - x)
    assert err.max() <= s / 2 * (1 + 1e-9)
    # 0 is exact (padding with x_zero_point is the real 0)
    assert cc.quantize(np.zeros(1), s, z, dt)[0] == z
    assert cc.dequantize(np.array([z]), s, z)[0] == 0
    if symmetric:
        assert z == (0 if dt == I8 else 128)
        assert s == pytest.approx(np.abs(x).max() / 127, rel=1e-15)
    else:  # the range maps onto the full dtype range
        assert s == pytest.approx((x.max() - min(x.min(), 0)) / 255, rel=1e-15)
        assert q.min() == lo and q.max() == hi


def test_choose_qparams_per_channel_and_degenerate(rng):
    w = rng.normal(0, 1, (6, 3, 3, 3))
    w[2] = 0.0  # an all-zero channel: scale 1
    w[3] = np.abs(w[3])  # all positive: range starts at 0
    s, z = cc.choose_qparams(w, I8, axis=0, symmetric=True)
    assert s.shape == (6,) and z.shape == (6,) and np.all(z == 0) and s[2] == 1.0
    np.testing.assert_allclose(s[[0, 1, 3, 4, 5]] * 127,
                               np.abs(w).reshape(6, -1).max(axis=1)[[0, 1, 3, 4, 5]], rtol=1e-15)
    s2, z2 = cc.choose_qparams(w, U8, axis=0)
    assert s2[2] == 1.0 and z2[3] == 0 and np.all((z2 >= 0) & (z2 <= 255))
    assert cc.choose_qparams(np.full(4, 5.0)) == (5.0 / 255, 0)
    assert cc.choose_qparams(np.full(4, -5.0), I8) == (5.0 / 255, 127)


def test_helpers_feed_quantized_conv2d(rng):
    # real-valued conv approximated through the helpers and quantized_conv2d
    x = rng.uniform(-1, 3, (1, 8, 10, 10))
    w = rng.normal(0, 0.3, (16, 8, 3, 3))
    xs, xz = cc.choose_qparams(x, U8)
    ws, wz = cc.choose_qparams(w, I8, axis=0, symmetric=True)
    yr = ref.conv(x, w, padding=1)
    ys, yz = cc.choose_qparams(yr, U8)
    qx = cc.quantize(x, xs, xz, U8)
    qw = cc.quantize(w, ws, wz, I8, axis=0)
    qy = cc.quantized_conv2d(qx, xs, xz, qw, ws, wz, ys, yz, padding=1, y_dtype=U8)
    y = cc.dequantize(qy, ys, yz, dtype=np.float64)
    assert np.abs(y - yr).max() < 0.05 * np.abs(yr).max()


def test_bad_input():
    x = np.ones(3)
    with pytest.raises(TypeError, match="dtype"):
        cc.quantize(x, 0.1, 0, np.int16)
    with pytest.raises(ValueError, match="scale"):
        cc.quantize(x, 0.0, 0)
    with pytest.raises(ValueError, match="scale"):
        cc.quantize(x, -1.0, 0)
    with pytest.raises(ValueError, match="zero_point"):
        cc.quantize(x, 0.1, 256)
    with pytest.raises(ValueError, match="zero_point"):
        cc.quantize(x, 0.1, 128, np.int8)
    with pytest.raises(TypeError, match="zero_point"):
        cc.quantize(x, 0.1, 0.5)
    with pytest.raises(ValueError, match="NaN"):
        cc.quantize(np.array([np.nan]), 0.1, 0)
    with pytest.raises(ValueError, match="axis"):
        cc.quantize(x, [0.1, 0.2, 0.3], 0)
    with pytest.raises(ValueError, match="axis"):
        cc.quantize(x, 0.1, 0, axis=1)
    with pytest.raises(ValueError, match="scale"):
        cc.quantize(np.ones((2, 3)), [0.1, 0.2, 0.3], 0, axis=0)
    with pytest.raises(TypeError, match="axis"):
        cc.quantize(x, 0.1, 0, axis=0.5)
    with pytest.raises(TypeError, match="x"):
        cc.quantize(np.array(["a"]), 0.1, 0)
    with pytest.raises(TypeError, match="q"):
        cc.dequantize(np.ones(3), 0.1, 0)
    with pytest.raises(TypeError, match="dtype"):
        cc.dequantize(np.ones(3, U8), 0.1, 0, dtype=np.int32)
    with pytest.raises(ValueError, match="empty"):
        cc.choose_qparams(np.zeros(0))
    with pytest.raises(ValueError, match="finite"):
        cc.choose_qparams(np.array([1.0, np.inf]))
    with pytest.raises(TypeError, match="symmetric"):
        cc.choose_qparams(x, symmetric="yes")
    with pytest.raises(TypeError, match="dtype"):
        cc.choose_qparams(x, np.float32)


def test_dask_arrays_stay_lazy(rng):
    """A Dask x: quantize / dequantize give lazy arrays with x's chunks and the NumPy values;
    choose_qparams reduces it (min, max, finiteness) without gathering it; nothing is
    computed by quantize / dequantize, and a NaN raises when its block is computed."""
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    x = rng.standard_normal((6, 5, 7)) * 3
    xd = da.from_array(x, chunks=(2, 3, 4))
    with dask.config.set(scheduler="sync"):
        for ax in (None, 0, 2):
            s, z = cc.choose_qparams(x, np.int8, axis=ax)
            sd, zd = cc.choose_qparams(xd, np.int8, axis=ax)
            np.testing.assert_array_equal(s, sd)
            np.testing.assert_array_equal(z, zd)
            q = cc.quantize(x, s, z, np.int8, axis=ax)
            qd = cc.quantize(xd, s, z, np.int8, axis=ax)
            assert isinstance(qd, da.Array) and qd.chunks == xd.chunks
            np.testing.assert_array_equal(qd.compute(), q)
            assert qd.dtype == q.dtype
            f = cc.dequantize(da.from_array(q, chunks=3), s, z, axis=ax, dtype=np.float64)
            assert isinstance(f, da.Array)
            np.testing.assert_array_equal(f.compute(), cc.dequantize(q, s, z, axis=ax,
                                                                     dtype=np.float64))
        calls = []

        def boom(b):
            calls.append(1)
            return b

        lazy = xd.map_blocks(boom, dtype=xd.dtype, meta=np.empty((0, 0, 0)))
        cc.dequantize(cc.quantize(lazy, 0.1, 3), 0.1, 3)
        assert not calls
        bad = x.copy()
        bad[3, 2, 1] = np.nan
        qn = cc.quantize(da.from_array(bad, chunks=2), 0.1, 3)
        with pytest.raises(ValueError, match="NaN"):
            qn.compute()
        with pytest.raises(ValueError, match="finite"):
            cc.choose_qparams(da.from_array(bad, chunks=2))
