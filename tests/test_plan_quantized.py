"""quantized_conv2d_plan (python/convcore/_plan_quantized.py over the packed INT8 weights of
ops/quantized_conv.hpp): plan(x) equals quantized_conv2d(x) bit for bit, and the NumPy oracle,
at every INT8 path and thread count, for both x dtypes from one plan, any batch and spatial
size, from threads sharing one plan; copies, pickling, immutability, errors, out=."""
import pickle
import numpy as np
import pytest

import convcore as cc
import reference as ref
from conftest import assert_immutable, run_in_threads
from test_quantized_packed import CASES, I8, U8, _rand, path  # noqa: F401 (fixture)


def _args(rng, ws, wdt, ydt, per_channel):
    w = _rand(rng, ws, wdt)
    b = rng.integers(-5000, 5000, ws[0]).astype(np.int32)
    wz = rng.integers(int(np.iinfo(wdt).min), int(np.iinfo(wdt).max) + 1, ws[0]) \
        if per_channel else (0 if wdt == I8 else 128)
    red = ws[1] * ws[2] * ws[3]
    return dict(x_scale=0.02, x_zero_point=7, w=w, w_scale=rng.uniform(0.005, 0.01, ws[0]),
                w_zero_point=wz, y_scale=0.01 * np.sqrt(red),
                y_zero_point=int(np.iinfo(ydt).max) - 100, bias=b)


def _layout(x, channels_last):
    return np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("wdt,ydt", [(I8, U8), (U8, I8)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_plan_equals_the_call(rng, path, threads, case, wdt, ydt, channels_last):
    xs, ws, kw = CASES[case]
    a = _args(rng, ws, wdt, ydt, per_channel=case % 2 == 1)
    opts = dict(kw, channels_last=channels_last, y_dtype=ydt)
    plan = cc.quantized_conv2d_plan(**a, **opts)
    for xdt in (U8, I8):  # one plan, both x dtypes (the second packed on first use)
        for shape in (xs, (3,) + xs[1:], (1, xs[1], xs[2] + 5, xs[3] + 3)):
            x = _rand(rng, shape, xdt)
            xin = _layout(x, channels_last)
            want = cc.quantized_conv2d(xin, **a, **opts)
            y = plan(xin)
            assert y.dtype == want.dtype and y.shape == want.shape
            np.testing.assert_array_equal(y, want)
            np.testing.assert_array_equal(plan(xin), want)  # the form is not consumed
        yref = ref.quantized_conv2d(x, a["x_scale"], a["x_zero_point"], a["w"], a["w_scale"],
                                    a["w_zero_point"], a["y_scale"], a["y_zero_point"],
                                    a["bias"], y_signed=ydt == I8, **kw)
        np.testing.assert_array_equal(np.moveaxis(y, -1, 1) if channels_last else y, yref)


def test_full_range_long_reduction(rng, path):
    # x near 255, w near -128 / 127, 1024 channels x 9 taps: what breaks saturating kernels
    x = rng.integers(240, 256, (1, 1024, 5, 5)).astype(U8)
    w = np.where(rng.random((16, 1024, 3, 3)) < 0.5, -128, 127).astype(I8)
    a = dict(x_scale=0.01, x_zero_point=0, w=w, w_scale=0.01, w_zero_point=0, y_scale=600.0,
             y_zero_point=128)
    plan = cc.quantized_conv2d_plan(**a, padding=1)
    np.testing.assert_array_equal(plan(x), ref.quantized_conv2d(x, *a.values(), padding=1))


def test_threads_share_one_plan(rng):
    xs, ws, kw = CASES[0]
    a = _args(rng, ws, I8, U8, per_channel=True)
    kw = dict(kw, y_dtype=U8)
    plan = cc.quantized_conv2d_plan(**a, **kw)
    xs_ = [_rand(rng, xs, U8 if i % 2 else I8) for i in range(8)]
    want = [cc.quantized_conv2d(x, **a, **kw) for x in xs_]

    def work(i):
        for _ in range(5):
            np.testing.assert_array_equal(plan(xs_[i]), want[i])

    run_in_threads(work, 8)


def test_copies_pickle_and_immutability(rng):
    xs, ws, kw = CASES[2]
    a = _args(rng, ws, I8, U8, per_channel=True)
    x = _rand(rng, xs, U8)
    want = cc.quantized_conv2d(x, **a, **kw)
    plan = cc.quantized_conv2d_plan(**a, **kw)
    a["w"][...] = 0  # the caller's arrays do not reach the plan
    a["bias"][...] = 0
    a["w_scale"][...] = 1.0
    a["w_zero_point"][...] = 0
    np.testing.assert_array_equal(plan(x), want)
    back = pickle.loads(pickle.dumps(plan))
    assert type(back) is cc.QuantizedConvPlan
    np.testing.assert_array_equal(back(x), want)
    assert repr(back) == repr(plan)
    assert_immutable(plan)


def test_introspection(rng):
    w = _rand(rng, (32, 16, 3, 3), I8)
    plan = cc.quantized_conv2d_plan(0.1, 100, w, 0.01, 0, 0.5, 100, padding=1,
                                    input_shape=(1, 16, 8, 8))
    p = cc._quantized._quantized_conv2d_packed((1, 16, 8, 8), U8, 0.1, 100, w, 0.01, 0, 0.5,
                                                100, padding=1)
    assert plan.algorithm == p.path == plan.algorithm_for(np.zeros((1, 16, 8, 8), U8))
    held = plan.workspace_bytes
    assert held >= w.nbytes + p.nbytes
    plan(np.zeros((1, 16, 8, 8), I8))  # the int8-x form
    assert plan.workspace_bytes > held
    assert plan.y_dtype_for(U8) == U8 and plan.y_dtype_for(I8) == I8
    r = repr(plan)
    for part in ["quantized_conv2d", "(32, 16, 3, 3)", "padding=1", "algorithm=",
                 "workspace_bytes=", "x uint8", "for x (1, 16, 8, 8)"]:
        assert part in r, r
    # an int8 zero point chooses int8 x by default, as in ONNX
    assert cc.quantized_conv2d_plan(0.1, np.int8(0), w, 0.01, 0, 0.5, 0)._x_dtype == I8


def test_out_and_slow_inputs(rng):
    xs, ws, kw = CASES[1]
    a = _args(rng, ws, I8, U8, per_channel=False)
    plan = cc.quantized_conv2d_plan(**a, **kw)
    x = _rand(rng, xs, U8)
    want = cc.quantized_conv2d(x, **a, **kw)
    out = np.empty_like(want)
    assert plan(x, out=out) is out
    np.testing.assert_array_equal(out, want)
    view = np.zeros(xs[:1] + (2 * xs[1],) + xs[2:], U8)[:, ::2]
    view[...] = x
    np.testing.assert_array_equal(plan(view), want)
    with pytest.raises(ValueError, match="out must have shape"):
        plan(x, out=np.empty((1,), U8))
    with pytest.raises(TypeError, match="out must have dtype"):
        plan(x, out=np.empty_like(want, dtype=I8))


def test_errors_name_the_argument(rng):
    w = _rand(rng, (8, 4, 3, 3), I8)
    plan = cc.quantized_conv2d_plan(0.1, 128, w, 0.01, 0, 0.5, 128)
    with pytest.raises(TypeError, match="x must be a uint8 or int8"):
        plan(np.zeros((1, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match="channel"):
        plan(np.zeros((1, 5, 5, 5), U8))
    with pytest.raises(ValueError):
        plan(np.zeros((4, 5, 5), U8))  # rank
    with pytest.raises(ValueError):
        plan(np.zeros((1, 4, 2, 2), U8))  # smaller than the kernel
    # bad options are refused when the plan is made, naming the option
    with pytest.raises(ValueError, match="groups"):
        cc.quantized_conv2d_plan(0.1, 128, w, 0.01, 0, 0.5, 128, groups=3)
    with pytest.raises(ValueError, match="w_zero_point"):
        cc.quantized_conv2d_plan(0.1, 128, w, 0.01, 300, 0.5, 128)
    with pytest.raises(TypeError, match="x_dtype"):
        cc.quantized_conv2d_plan(0.1, 128, w, 0.01, 0, 0.5, 128, x_dtype=np.float32)
    with pytest.raises(ValueError, match="stride"):
        cc.quantized_conv2d_plan(0.1, 128, w, 0.01, 0, 0.5, 128, stride=0)


def test_dask_input_falls_back(rng):
    da = pytest.importorskip("dask.array")
    xs, ws, kw = CASES[0]
    a = _args(rng, ws, I8, U8, per_channel=False)
    plan = cc.quantized_conv2d_plan(**a, **kw)
    x = _rand(rng, (4,) + xs[1:], U8)
    y = plan(da.from_array(x, chunks=(2,) + xs[1:]))
    np.testing.assert_array_equal(np.asarray(y), plan(x))
