"""The INT8 GEMM engine (kernels/quantized_gemm.hpp) at every SIMD level this CPU supports:
0 LSB from the NumPy oracle and from the scalar direct kernel, over full-range data, every
geometry option, both layouts, int8/uint8 for x, w, y, and sizes across the engine's
thresholds (panel widths 16/32, K steps 2/4, K blocks, 6/8-pixel tiles, 96-pixel blocks)."""
import numpy as np
import pytest

import convcore as cc
import reference as ref
from conftest import int8_paths, use_int8_path
from convcore import _core

U8, I8 = np.uint8, np.int8
# (level, engine override): every INT8 path this machine can run
PATHS, HAS_VNNI = int8_paths(scalar=True)
EXPECT = {("scalar", "auto"): "scalar_direct", ("avx2", "auto"): "avx2_madd",
          ("avx512", "auto"): "avx512_vnni" if HAS_VNNI else "avx512bw_madd",
          ("avx512", "no_vnni"): "avx512bw_madd", ("neon", "auto"): "scalar_direct"}


@pytest.fixture(params=PATHS, ids=["-".join(p) for p in PATHS])
def path(request):
    with use_int8_path(*request.param):
        yield request.param


def _rand(rng, shape, dt, full=None):
    """Uniform over the dtype's range; full="high": the top 16 values (x near 255 / 127);
    full="ends": the two values at each end (w near -128 / 127, or 0 / 255): the data that
    breaks kernels whose int16 pair sums saturate."""
    info = np.iinfo(dt)
    if full == "high":
        return rng.integers(info.max - 15, info.max + 1, size=shape).astype(dt)
    if full == "ends":
        return rng.choice(np.array([info.min, info.min + 1, info.max - 1, info.max], dt), size=shape)
    return rng.integers(info.min, info.max + 1, size=shape).astype(dt)


def _run(x, w, b, xz, wz, yz, ydt, ws, *, channels_last=False, xs=0.02, ys=None, **kw):
    """The engine's result (channels-first), checked against the oracle and the direct kernel."""
    red = w.shape[1] * w.shape[2] * w.shape[3]
    ys = ys if ys is not None else 0.02 * 0.01 * 60 * np.sqrt(red)  # outputs spread over the range
    xin = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x
    y = cc.quantized_conv2d(xin, xs, xz, w, ws, wz, ys, yz, b, y_dtype=ydt,
                            channels_last=channels_last, **kw)
    if channels_last:
        y = np.moveaxis(y, -1, 1)
    want = ref.quantized_conv2d(x, xs, xz, w, ws, wz, ys, yz, b, y_signed=ydt == I8, **kw)
    np.testing.assert_array_equal(y, want)
    return y


def _path_of(x, w, wz, **kw):
    o = cc._args.conv_options(2, **kw)
    return _core._quantized_conv_path(list(x.shape), list(w.shape), w.dtype == I8,
                                      [int(v) for v in np.atleast_1d(wz)], o)


def test_info_names_the_int8_path():
    s = cc.info()["simd"]
    assert s["int8"] == EXPECT[(s["level"], "auto")]


def test_set_int8_engine_rejects_bad_names():
    with pytest.raises(ValueError, match="engine must be one of"):
        _core._set_int8_engine("fast")


@pytest.mark.parametrize("xdt,wdt,ydt", [(U8, I8, U8), (U8, U8, U8), (I8, I8, I8), (I8, U8, U8),
                                         (U8, I8, I8), (I8, I8, U8)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_levels_dtypes_full_range(rng, path, threads, xdt, wdt, ydt, channels_last):
    x = _rand(rng, (2, 40, 7, 9), xdt, full="high")
    w = _rand(rng, (36, 40, 3, 3), wdt, full="ends")
    b = rng.integers(-2**20, 2**20, 36).astype(np.int32)
    wz0 = 0 if wdt == I8 else 128
    xz = int(np.iinfo(xdt).min)  # x - x_zp as large as it gets
    ws = rng.uniform(0.5, 2.0, 36) * 0.01
    y = _run(x, w, b, xz, wz0, 0 if ydt == I8 else 128, ydt, ws, channels_last=channels_last,
             padding=1)
    assert y.min() == np.iinfo(ydt).min and y.max() == np.iinfo(ydt).max  # saturation reached
    assert _path_of(x, w, wz0, padding=1) == EXPECT[path]


@pytest.mark.parametrize("ends", [(0, 1), (1, 0)])
@pytest.mark.parametrize("xdt,wdt,ydt", [(U8, I8, U8), (I8, U8, I8), (U8, U8, I8), (I8, I8, U8)])
def test_levels_zero_points_at_range_ends(rng, path, xdt, wdt, ydt, ends, one_thread):
    # x_zp, w_zp (per channel, both ends) and y_zp at the ends of their ranges; w_zp other than
    # 0 / 128 runs the int16 kernels at the AVX-512 level (no VNNI correction for them)
    x = _rand(rng, (1, 24, 10, 6), xdt)
    w = _rand(rng, (20, 24, 3, 2), wdt)
    lo_hi = lambda dt: (int(np.iinfo(dt).min), int(np.iinfo(dt).max))
    xz, yz = lo_hi(xdt)[ends[0]], lo_hi(ydt)[ends[1]]
    wz = np.array([lo_hi(wdt)[i % 2] for i in range(20)])
    ws = rng.uniform(0.2, 1.0, 20) * 0.001
    b = rng.integers(-1000, 1000, 20).astype(np.int32)
    _run(x, w, b, xz, wz, yz, ydt, ws, padding=(1, 2), ys=0.5)
    _run(x, w, None, xz, wz, yz, ydt, 0.003, padding=(1, 2), ys=0.5, channels_last=True)


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(stride=(2, 1), padding=(0, 2)),
                                dict(dilation=(2, 3), padding="same"), dict(padding=((2, 0), (1, 3))),
                                dict(groups=2, padding=1), dict(groups=3, stride=2, dilation=2),
                                dict(groups=4, padding=(1, 0))])
@pytest.mark.parametrize("channels_last", [False, True])
def test_levels_geometry(rng, path, threads, kw, channels_last):
    g = kw.get("groups", 1)
    x = _rand(rng, (2, 12 * g, 11, 10), U8)
    C = x.shape[1]
    w = _rand(rng, (8 * g, C // g, 3, 3), I8)
    b = rng.integers(-3000, 3000, 8 * g).astype(np.int32)
    ws = rng.uniform(0.002, 0.01, 8 * g)
    _run(x, w, b, 128, 0, 128, U8, ws, channels_last=channels_last, ys=0.05, **kw)
    wz = rng.integers(-5, 5, 8 * g)  # per-channel weight zero points: the int16 kernels
    _run(x, w, b, 3, wz, -4, I8, ws, channels_last=channels_last, ys=0.05, **kw)


@pytest.mark.parametrize("co", [4, 5, 15, 16, 17, 31, 32, 33, 63, 65])
def test_levels_output_channel_panels(rng, path, co, one_thread):
    x = _rand(rng, (1, 6, 5, 7), I8)
    w = _rand(rng, (co, 6, 3, 3), I8)
    _run(x, w, rng.integers(-99, 99, co).astype(np.int32), -7, 0, 1, I8,
         rng.uniform(0.01, 0.02, co), ys=0.2, padding=1)
    # per group, in a grouped conv
    w2 = _rand(rng, (2 * co, 3, 3, 3), U8)
    _run(x, w2, None, 0, 128, 100, U8, 0.01, ys=0.2, groups=2, channels_last=True)


@pytest.mark.parametrize("ci", [1, 2, 3, 4, 5, 7, 8, 9, 64, 113, 116])
def test_levels_input_channel_k_steps_and_blocks(rng, path, ci, one_thread):
    # K per tap rounded to the 2/4-step; 113 * 9 and 116 * 9 straddle the 1024-long K block
    x = _rand(rng, (1, ci, 6, 5), U8)
    w = _rand(rng, (20, ci, 3, 3), I8)
    _run(x, w, None, 17, 0, 9, U8, 0.004, ys=0.1 * np.sqrt(ci), padding=1, channels_last=True)
    _run(x, w, None, 250, 0, 9, U8, 0.004, ys=0.1 * np.sqrt(ci), stride=2)


@pytest.mark.parametrize("hw", [(1, 1), (1, 5), (2, 3), (1, 7), (3, 3), (1, 9), (5, 19), (6, 16),
                                (97, 1), (7, 28)])
def test_levels_pixel_tiles_and_blocks(rng, path, hw, threads):
    # output pixels around the 6/8-row tiles and 96-pixel blocks, and across images
    x = _rand(rng, (3, 8) + hw, U8)
    w = _rand(rng, (32, 8, 1, 1), I8)
    _run(x, w, None, 128, 0, 128, U8, 0.01, ys=0.05, channels_last=True)  # 1x1: rows read from x
    _run(x, w, None, 128, 0, 128, U8, 0.01, ys=0.05)
    w3 = _rand(rng, (16, 8, 3, 3), I8)
    _run(x, w3, None, 128, 0, 128, U8, 0.01, ys=0.1, padding=1, channels_last=True)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2), dict(padding=1)])
def test_levels_one_by_one(rng, path, threads, kw):
    # 1x1 as a GEMM: rows straight from uint8 channels-last x when unit stride and unpadded
    for xdt in (U8, I8):
        x = _rand(rng, (2, 64, 9, 7), xdt)
        w = _rand(rng, (48, 64, 1, 1), I8)
        _run(x, w, rng.integers(-999, 999, 48).astype(np.int32), 0 if xdt == U8 else -128, 0,
             0, I8, rng.uniform(0.005, 0.01, 48), ys=0.05, channels_last=True, **kw)


def test_levels_long_reduction_full_range(rng, path, threads):
    # 1024 channels x 9 taps at the ends of the range: sums far beyond int16 and float32
    x = _rand(rng, (1, 1024, 5, 5), U8, full="high")
    w = _rand(rng, (40, 1024, 3, 3), I8, full="ends")
    w[:10] = rng.choice(np.array([126, 127], I8), (10, 1024, 3, 3))  # no cancellation
    w[10:20] = rng.choice(np.array([-128, -127], I8), (10, 1024, 3, 3))
    acc = ref.conv(x.astype(np.float64), w.astype(np.float64), padding=1)
    assert np.abs(acc).max() > 2**28
    ws = 120.0 / np.abs(acc).max(axis=(0, 2, 3))  # per-channel scales: outputs within +-120
    _run(x, w, None, 0, 0, 0, I8, ws, xs=1.0, ys=1.0, padding=1, channels_last=True)
    _run(x, w, None, 0, 0, 128, U8, ws, xs=1.0, ys=1.0, padding=1)


def test_levels_wrapping_accumulator_equals_direct(rng, path):
    # 73728 products of 255 * -128 (VNNI) or 255 * -255 (int16): the int32 accumulator wraps;
    # every engine wraps modulo 2^32 exactly as the direct kernel does
    x = np.full((1, 8192, 3, 3), 255, U8)
    for w, wz in ((np.full((4, 8192, 3, 3), -128, I8), 0), (np.zeros((4, 8192, 3, 3), U8), 255)):
        got = cc.quantized_conv2d(x, 1.0, 0, w, 1.0, wz, 1e-9, 0, y_dtype=I8)
        old = _core.simd_info()["level"]
        _core._set_int8_engine("direct")
        try:
            want = cc.quantized_conv2d(x, 1.0, 0, w, 1.0, wz, 1e-9, 0, y_dtype=I8)
        finally:
            _core._set_int8_engine(path[1])
        assert _core.simd_info()["level"] == old
        np.testing.assert_array_equal(got, want)


def test_levels_random_configurations(path, one_thread):
    # a seeded sweep of random geometry, dtypes and zero points against the oracle
    r = np.random.default_rng(19)
    if True:
        for _ in range(25):
            g = int(r.choice([1, 1, 2, 3]))
            ci, co = g * int(r.integers(1, 12)), g * int(r.integers(4, 40))
            kh, kw_ = int(r.integers(1, 4)), int(r.integers(1, 4))
            xdt, wdt, ydt = (U8 if r.random() < 0.5 else I8 for _ in range(3))
            x = _rand(r, (int(r.integers(1, 3)), ci, int(r.integers(kh, 12)), int(r.integers(kw_, 12))), xdt)
            w = _rand(r, (co, ci // g, kh, kw_), wdt)
            info = lambda dt: (int(np.iinfo(dt).min), int(np.iinfo(dt).max) + 1)
            wz = (0 if wdt == I8 else 128) if r.random() < 0.5 else r.integers(*info(wdt), co)
            kw = dict(stride=(int(r.integers(1, 3)), int(r.integers(1, 3))),
                      dilation=(int(r.integers(1, 3)), 1), padding=int(r.integers(0, 2)), groups=g)
            if (x.shape[2] + 2 * kw["padding"] - (kh - 1) * kw["dilation"][0] - 1) < 0:
                continue
            b = r.integers(-10000, 10000, co).astype(np.int32) if r.random() < 0.7 else None
            _run(x, w, b, int(r.integers(*info(xdt))), wz, int(r.integers(*info(ydt))), ydt,
                 r.uniform(0.001, 0.01, co), ys=0.05 * np.sqrt(ci // g * kh * kw_),
                 channels_last=bool(r.random() < 0.5), **kw)


DW_EXPECT = {("scalar", "auto"): "scalar_direct", ("avx2", "auto"): "avx2_depthwise",
             ("avx512", "auto"): "avx512_vnni_depthwise" if HAS_VNNI else "avx512bw_depthwise",
             ("avx512", "no_vnni"): "avx512bw_depthwise", ("neon", "auto"): "scalar_direct"}


@pytest.mark.parametrize("C", [2, 7, 8, 9, 15, 16, 17, 33, 144])
def test_levels_depthwise_channel_blocks(rng, path, C, threads):
    # depthwise (groups = C_in = C_out): vectors of 8 / 16 channels and a scalar tail
    x = _rand(rng, (2, C, 9, 8), U8)
    w = _rand(rng, (C, 1, 3, 3), I8)
    b = rng.integers(-3000, 3000, C).astype(np.int32)
    assert _path_of(x, w, 0, groups=C, padding=1) == DW_EXPECT[path]
    ws = rng.uniform(0.5, 1.5, C) * 0.01
    _run(x, w, b, 128, 0, 128, U8, ws, ys=0.2, groups=C, padding=1, channels_last=True)
    _run(x, w, b, 128, 0, 128, U8, ws, ys=0.2, groups=C, padding=1)


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(dilation=(2, 3), padding="same"),
                                dict(padding=((2, 0), (0, 3)), stride=(1, 2)), dict()])
@pytest.mark.parametrize("xdt,wdt,ydt", [(U8, I8, U8), (I8, U8, I8), (I8, I8, U8), (U8, U8, I8)])
def test_levels_depthwise_geometry_dtypes_zero_points(rng, path, kw, xdt, wdt, ydt, one_thread):
    C = 24
    x = _rand(rng, (2, C, 10, 11), xdt, full="high")
    w = _rand(rng, (C, 1, 3, 3), wdt, full="ends")
    lo_hi = lambda dt: (int(np.iinfo(dt).min), int(np.iinfo(dt).max))
    wz = np.array([lo_hi(wdt)[i % 2] for i in range(C)])  # both ends, per channel
    for xz, yz in ((lo_hi(xdt)[0], lo_hi(ydt)[1]), (lo_hi(xdt)[1], lo_hi(ydt)[0])):
        _run(x, w, None, xz, wz, yz, ydt, rng.uniform(0.5, 1, C) * 0.01, ys=0.5, groups=C,
             channels_last=True, **kw)
    _run(x, _rand(rng, (C, 1, 5, 2), wdt), rng.integers(-99, 99, C).astype(np.int32), 0,
         0 if wdt == I8 else 128, 0, ydt, 0.01, ys=0.1, groups=C, **kw)


def test_onnxruntime_qlinearconv_seven_bit(rng):
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    x = rng.integers(0, 128, (2, 32, 12, 12)).astype(U8)  # 7-bit activations
    w = rng.integers(-63, 64, (48, 32, 3, 3)).astype(I8)
    b = rng.integers(-3000, 3000, 48).astype(np.int32)
    xs, xz, ws, ys, yz = 0.02, 64, rng.uniform(0.002, 0.004, 48).astype(np.float32), 0.025, 120
    inits = [helper.make_tensor("xs", TensorProto.FLOAT, [], [xs]),
             helper.make_tensor("xz", TensorProto.UINT8, [], [xz]),
             helper.make_tensor("w", TensorProto.INT8, w.shape, w.ravel().tolist()),
             helper.make_tensor("ws", TensorProto.FLOAT, [48], ws.tolist()),
             helper.make_tensor("wz", TensorProto.INT8, [48], [0] * 48),
             helper.make_tensor("ys", TensorProto.FLOAT, [], [ys]),
             helper.make_tensor("yz", TensorProto.UINT8, [], [yz]),
             helper.make_tensor("b", TensorProto.INT32, [48], b.tolist())]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                            ["y"], pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT8,
                                                                          x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, None)],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": x})[0]
    # ONNX's float32 scales, as ONNX Runtime sees them
    y = cc.quantized_conv2d(x, float(np.float32(xs)), xz, w, ws.astype(np.float64), 0,
                            float(np.float32(ys)), yz, b, padding=1)
    diff = np.abs(y.astype(np.int32) - want.astype(np.int32))
    assert diff.max() <= 1 and np.mean(diff > 0) < 0.02
    assert y.min() < 60 and y.max() > 180  # the outputs span the range
