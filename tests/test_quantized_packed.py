"""Weights packed once (ops/quantized_conv.hpp: quantized_conv_pack / quantized_conv_run, the
private convcore._quantized._quantized_conv2d_packed): run(x) equals quantized_conv2d bit for
bit at every INT8 path, for any batch and spatial size, after the active level changes, and
rejects x that does not fit the packed weights."""
import numpy as np
import pytest

import convcore as cc
import reference as ref
from conftest import int8_paths, use_int8_path
from convcore import _core
from convcore._quantized import _quantized_conv2d_packed

U8, I8 = np.uint8, np.int8
LEVELS = list(_core.simd_info()["supported"])
PATHS, HAS_VNNI = int8_paths(scalar=True)


@pytest.fixture(params=PATHS, ids=["-".join(p) for p in PATHS])
def path(request):
    with use_int8_path(*request.param):
        yield request.param


def _rand(rng, shape, dt):
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max + 1, size=shape).astype(dt)


CASES = [  # (x shape NCHW, w shape, kw)
    ((2, 24, 9, 8), (40, 24, 3, 3), dict(padding=1)),
    ((1, 64, 6, 7), (48, 64, 1, 1), dict()),
    ((2, 30, 11, 9), (36, 10, 3, 3), dict(groups=3, stride=2, dilation=(1, 2), padding=(2, 1))),
    ((2, 40, 10, 9), (40, 1, 3, 3), dict(groups=40, padding=1)),
    ((1, 18, 12, 11), (18, 1, 5, 3), dict(groups=18, stride=(2, 1), padding=(2, 0))),
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("xdt,wdt,ydt", [(U8, I8, U8), (I8, U8, I8), (U8, U8, I8), (I8, I8, U8)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_packed_run_equals_the_call(rng, path, threads, case, xdt, wdt, ydt, channels_last):
    xs, ws, kw = CASES[case]
    x = _rand(rng, xs, xdt)
    w = _rand(rng, ws, wdt)
    b = rng.integers(-5000, 5000, ws[0]).astype(np.int32)
    wz = (0 if wdt == I8 else 128) if case % 2 == 0 else rng.integers(
        int(np.iinfo(wdt).min), int(np.iinfo(wdt).max) + 1, ws[0])
    xz, yz = int(np.iinfo(xdt).min) + 17, int(np.iinfo(ydt).max) - 100
    red = ws[1] * ws[2] * ws[3]
    args = (0.02, xz, w, rng.uniform(0.005, 0.01, ws[0]), wz, 0.01 * np.sqrt(red), yz, b)
    opts = dict(kw, channels_last=channels_last, y_dtype=ydt)
    xin = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x
    p = _quantized_conv2d_packed(xin.shape, xdt, *args, **opts)
    want = cc.quantized_conv2d(xin, *args, **opts)
    np.testing.assert_array_equal(p.run(xin), want)
    np.testing.assert_array_equal(p.run(xin), want)  # packed weights are not consumed
    yref = ref.quantized_conv2d(x, *args, y_signed=ydt == I8, **kw)
    np.testing.assert_array_equal(np.moveaxis(want, -1, 1) if channels_last else want, yref)
    # other batch and spatial sizes with the same packed weights
    for shape in ((3,) + xs[1:], (1, xs[1], xs[2] + 5, xs[3] + 3)):
        x2 = _rand(rng, shape, xdt)
        x2in = np.ascontiguousarray(np.moveaxis(x2, 1, -1)) if channels_last else x2
        np.testing.assert_array_equal(p.run(x2in), cc.quantized_conv2d(x2in, *args, **opts))


def test_packed_path_names_the_kernels(rng, path):
    w = _rand(rng, (32, 16, 3, 3), I8)
    p = _quantized_conv2d_packed((1, 16, 8, 8), U8, 0.1, 128, w, 0.01, 0, 0.5, 128, padding=1)
    want = {("scalar", "auto"): "scalar_direct", ("avx2", "auto"): "avx2_madd",
            ("avx512", "auto"): "avx512_vnni" if HAS_VNNI else "avx512bw_madd",
            ("avx512", "no_vnni"): "avx512bw_madd", ("neon", "auto"): "scalar_direct"}[path]
    assert p.path == want
    o = cc._args.conv_options(2, padding=1)
    assert _core._quantized_conv_path([1, 16, 8, 8], list(w.shape), True, [0], o) == want


def test_packed_runs_its_own_kernels_after_a_level_change(rng):
    # packed at the best level, run after switching down (and back): its own kernels run
    x = _rand(rng, (2, 20, 9, 9), U8)
    w = _rand(rng, (24, 20, 3, 3), I8)
    args = (0.02, 128, w, 0.01, 0, 0.3, 128)
    old = _core.simd_info()["level"]
    p = _quantized_conv2d_packed(x.shape, U8, *args, padding=1)
    want = ref.quantized_conv2d(x, *args, padding=1)
    try:
        for level in LEVELS:
            _core._set_isa(level)
            np.testing.assert_array_equal(p.run(x), want)
    finally:
        _core._set_isa(old)


def test_packed_keeps_its_own_copy_of_w_and_bias(rng):
    x = _rand(rng, (1, 8, 6, 6), U8)
    w = _rand(rng, (16, 8, 3, 3), I8)
    b = rng.integers(-99, 99, 16).astype(np.int32)
    args = (0.02, 128, w, 0.01, 0, 0.1, 128, b)
    p = _quantized_conv2d_packed(x.shape, U8, *args)
    want = cc.quantized_conv2d(x, *args)
    w[:] = 0
    b[:] = 0
    np.testing.assert_array_equal(p.run(x), want)


def test_packed_rejects_x_that_does_not_fit(rng):
    w = _rand(rng, (16, 8, 3, 3), I8)
    p = _quantized_conv2d_packed((1, 8, 6, 6), U8, 0.1, 128, w, 0.01, 0, 0.5, 128)
    with pytest.raises(TypeError, match="x must be uint8"):
        p.run(np.zeros((1, 8, 6, 6), I8))
    with pytest.raises(TypeError, match="x must be a uint8 or int8 array"):
        p.run(np.zeros((1, 8, 6, 6), np.float32))
    with pytest.raises(ValueError):
        p.run(np.zeros((1, 9, 6, 6), U8))  # channels
    with pytest.raises(ValueError):
        p.run(np.zeros((1, 8, 2, 6), U8))  # smaller than the kernel, unpadded
    with pytest.raises(TypeError, match="x_dtype"):
        _quantized_conv2d_packed((1, 8, 6, 6), np.float32, 0.1, 128, w, 0.01, 0, 0.5, 128)
    with pytest.raises(ValueError, match="w_scale"):
        _quantized_conv2d_packed((1, 8, 6, 6), U8, 0.1, 128, w, [0.01] * 3, 0, 0.5, 128)
