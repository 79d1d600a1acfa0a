"""The CUDA path (CuPy in, CuPy out) against the NumPy oracle, and against PyTorch on the GPU.

Every test runs on two backends (the `cp` fixture):
- "gpu": the real CuPy on a CUDA device; skipped when CuPy is missing or sees no device.
- "emulated": tests/cuda/emulation, a stand-in CuPy whose RawModule compiles the same .cu
  sources with the host C++ compiler and runs the kernels on the CPU (threads of a block as
  fibers, __syncthreads as a barrier), so the kernels' index math, tiling, layouts, dtypes and
  the Python launch logic are checked on machines without a GPU; skipped without a C++ compiler.
Shapes are small on purpose: the emulation runs each GPU thread on the CPU.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: reference, conftest helpers

import convcore as cc  # noqa: E402
import reference as ref  # noqa: E402
from conftest import tolerance  # noqa: E402

FAKE = HERE / "emulation" / "fakecupy"


def _purge():
    for k in list(sys.modules):
        if k == "cupy" or k.startswith("cupy.") or k == "convcore.cuda" or \
                k.startswith("convcore.cuda."):
            del sys.modules[k]


@pytest.fixture(scope="module", params=["gpu", "emulated"])
def cp(request):
    if request.param == "gpu":
        cupy = pytest.importorskip("cupy")
        if getattr(cupy, "_convcore_emulated", False):
            pytest.skip("the emulated CuPy is loaded")
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # CuPy without a driver raises here
            pytest.skip(f"no CUDA device ({type(e).__name__})")
        if count == 0:
            pytest.skip("no CUDA device")
        yield cupy
        return
    if not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
        pytest.skip("no host C++ compiler for the CUDA emulation")
    saved = {k: v for k, v in sys.modules.items()
             if k == "cupy" or k.startswith("cupy.") or k.startswith("convcore.cuda")}
    _purge()
    sys.path.insert(0, str(FAKE))
    try:
        import cupy

        assert cupy._convcore_emulated
        yield cupy
    finally:
        _purge()
        sys.path.remove(str(FAKE))
        sys.modules.update(saved)


def is_gpu(cp) -> bool:
    return not getattr(cp, "_convcore_emulated", False)


def rnd(shape, dtype, seed=0):
    """Random data exactly representable in `dtype` (the oracle then sees the same values)."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def check(actual, expected, dtype, reduction):
    """Compare a CuPy result with the float64 oracle; float16 stores round to 11 bits."""
    a = np.asarray(actual).astype(np.float64)
    assert a.shape == expected.shape, (a.shape, expected.shape)
    if a.size == 0:
        return
    scale = max(1.0, float(np.max(np.abs(expected))))
    if np.dtype(dtype) == np.float16:
        tol = scale * (2.0**-10 + 2e-6 * reduction)  # rounding of the store + f32 accumulation
    else:
        tol = tolerance(np.dtype(dtype), reduction) * scale
    err = float(np.max(np.abs(a - expected)))
    assert err <= tol, f"max abs error {err:.3g} > {tol:.3g}"


def to_cl(a):
    return np.moveaxis(a, 1, -1)


def from_cl(a):
    return np.moveaxis(a, -1, 1)


# --------------------------------------------------------------------------------- conv

CONV_CASES = {
    "2d": ((2, 3, 7, 6), (4, 3, 3, 3), dict(padding=1), True),
    "2d-strided": ((1, 4, 9, 8), (6, 4, 3, 2),
                   dict(stride=(2, 1), dilation=(1, 2), padding=((1, 2), (0, 1))), True),
    "groups-same": ((2, 6, 5, 5), (9, 2, 3, 3), dict(groups=3, padding="same"), False),
    "depthwise": ((2, 4, 6, 6), (8, 1, 3, 3), dict(groups=4, padding=1, stride=2), True),
    "reflect": ((1, 2, 5, 6), (3, 2, 3, 3), dict(padding=2, padding_mode="reflect"), False),
    "replicate": ((1, 2, 5, 6), (3, 2, 3, 3), dict(padding=(1, 2), padding_mode="replicate"), True),
    "circular": ((1, 2, 4, 6), (3, 2, 3, 3), dict(padding=2, padding_mode="circular"), False),
    "flip-relu": ((1, 3, 6, 6), (4, 3, 3, 2), dict(flip=True, activation="relu"), True),
    "1d": ((2, 3, 11), (5, 3, 4), dict(stride=2, padding=3, dilation=2), True),
    "3d": ((1, 2, 4, 5, 3), (3, 2, 2, 3, 2), dict(padding=1, stride=(1, 2, 1)), True),
    "1x1-wide": ((2, 16, 3, 3), (70, 16, 1, 1), {}, True),
    "multi-tile": ((1, 8, 9, 9), (66, 8, 3, 3), dict(padding=1), True),
    "kernel>input": ((1, 1, 2, 2), (1, 1, 3, 3), dict(padding=2), False),
    "empty-batch": ((0, 3, 5, 5), (4, 3, 3, 3), {}, True),
}
ALGORITHMS = ("auto", "direct", "implicit_gemm")


def conv_case(cp, name, dtype, algorithm="auto", channels_last=False, **extra):
    xs, ws, kw, with_bias = CONV_CASES[name]
    kw = {**kw, **extra}
    x, w = rnd(xs, dtype, 1), rnd(ws, dtype, 2)
    b = rnd((ws[0],), dtype, 3) if with_bias else None
    xin = to_cl(x) if channels_last else x
    y = cc.conv(cp.asarray(xin), cp.asarray(w), None if b is None else cp.asarray(b),
                channels_last=channels_last, algorithm=algorithm, **kw)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.flags.c_contiguous
    got = cp.asnumpy(y)
    if channels_last:
        got = from_cl(got)
    expect = ref.conv(x, w, b, **kw)
    check(got, expect, dtype, int(np.prod(ws[1:])))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("name", list(CONV_CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv(cp, name, dtype, algorithm):
    conv_case(cp, name, dtype, algorithm)


@pytest.mark.parametrize("name", ["2d", "depthwise", "multi-tile", "3d", "reflect"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_conv_float16(cp, name, algorithm):
    conv_case(cp, name, np.float16, algorithm)


@pytest.mark.parametrize("name", ["2d-strided", "groups-same", "depthwise", "3d", "1d"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_conv_channels_last(cp, name, algorithm):
    conv_case(cp, name, np.float64, algorithm, channels_last=True)


@pytest.mark.parametrize("activation", ["relu", "relu6", "sigmoid", "tanh", "gelu"])
@pytest.mark.parametrize("algorithm", ["direct", "implicit_gemm"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_conv_activation(cp, activation, algorithm, dtype):
    conv_case(cp, "2d", dtype, algorithm, activation=activation)


def test_conv_noncontiguous_inputs_unchanged(cp):
    x = rnd((2, 3, 8, 14), np.float64, 4)
    w = rnd((4, 3, 3, 3), np.float64, 5)
    xg = cp.asarray(x)[:, :, ::2, 1::2]        # strided view
    wg = cp.asarray(np.asfortranarray(w))      # Fortran order
    x0, w0 = cp.asnumpy(xg).copy(), cp.asnumpy(wg).copy()
    y = cc.conv2d(xg, wg, padding=1)
    check(cp.asnumpy(y), ref.conv(x[:, :, ::2, 1::2], w, padding=1), np.float64, 27)
    assert np.array_equal(cp.asnumpy(xg), x0) and np.array_equal(cp.asnumpy(wg), w0)


def test_conv_out(cp):
    x, w = rnd((1, 2, 5, 5), np.float32, 6), rnd((3, 2, 3, 3), np.float32, 7)
    out = cp.zeros((1, 3, 3, 3), np.float32)
    y = cc.conv(cp.asarray(x), cp.asarray(w), out=out)
    assert y is out
    check(cp.asnumpy(out), ref.conv(x, w), np.float32, 18)


def test_conv_matches_cpu(cp):
    x, w = rnd((2, 4, 7, 7), np.float64, 8), rnd((6, 2, 3, 3), np.float64, 9)
    kw = dict(groups=2, stride=2, padding=1, dilation=1, padding_mode="circular")
    np.testing.assert_allclose(cp.asnumpy(cc.conv(cp.asarray(x), cp.asarray(w), **kw)),
                               cc.conv(x, w, **kw), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------ conv_transpose

TRANSPOSE_CASES = {
    "2d": ((2, 4, 3, 4), (4, 3, 3, 3), dict(stride=2, padding=1, output_padding=1), True),
    "groups": ((1, 6, 4, 4), (6, 2, 3, 2), dict(groups=3, stride=(2, 1), dilation=(1, 2),
                                                padding=(1, 0)), False),
    "depthwise": ((2, 4, 5, 5), (4, 1, 3, 3), dict(groups=4, stride=2), True),
    "1d": ((2, 3, 6), (3, 5, 4), dict(stride=3, padding=2), True),
    "3d": ((1, 2, 3, 3, 2), (2, 3, 2, 2, 3), dict(stride=2), False),
    "pairs-gelu": ((1, 3, 4, 5), (3, 2, 3, 3),
                   dict(stride=2, padding=((1, 2), (0, 1)), activation="gelu"), True),
    "wide": ((1, 20, 3, 3), (20, 70, 2, 2), dict(stride=2), True),
}


def transpose_case(cp, name, dtype, algorithm="auto", channels_last=False):
    xs, ws, kw, with_bias = TRANSPOSE_CASES[name]
    x, w = rnd(xs, dtype, 11), rnd(ws, dtype, 12)
    groups = kw.get("groups", 1)
    b = rnd((ws[1] * groups,), dtype, 13) if with_bias else None
    xin = to_cl(x) if channels_last else x
    y = cc.conv_transpose(cp.asarray(xin), cp.asarray(w), None if b is None else cp.asarray(b),
                          channels_last=channels_last, algorithm=algorithm, **kw)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype
    got = cp.asnumpy(y)
    if channels_last:
        got = from_cl(got)
    check(got, ref.conv_transpose(x, w, b, **kw), dtype, int(xs[1] // groups * np.prod(ws[2:])))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("name", list(TRANSPOSE_CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_conv_transpose(cp, name, dtype, algorithm):
    transpose_case(cp, name, dtype, algorithm)


@pytest.mark.parametrize("name", ["2d", "groups", "depthwise", "3d"])
@pytest.mark.parametrize("algorithm", ["direct", "implicit_gemm"])
def test_conv_transpose_channels_last(cp, name, algorithm):
    transpose_case(cp, name, np.float64, algorithm, channels_last=True)


@pytest.mark.parametrize("algorithm", ["direct", "implicit_gemm"])
def test_adjoint(cp, algorithm):
    x = rnd((2, 6, 7, 6), np.float64, 14)
    w = rnd((4, 3, 3, 2), np.float64, 15)
    kw = dict(stride=(2, 1), padding=(1, 1), dilation=(1, 2), groups=2)
    y = cc.conv(cp.asarray(x), cp.asarray(w), algorithm=algorithm, **kw)
    v = rnd(y.shape, np.float64, 16)
    xt = cc.conv_transpose(cp.asarray(v), cp.asarray(w), algorithm=algorithm,
                           **kw)
    assert xt.shape == x.shape
    lhs = float(np.sum(cp.asnumpy(y) * v))
    rhs = float(np.sum(x * cp.asnumpy(xt)))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


# ------------------------------------------------------------------------ convolve/correlate

FILTER_CASES = [
    ((13,), (4,)), ((9, 8), (3, 5)), ((4, 5, 6), (2, 3, 2)), ((3, 4), (5, 6)), ((7, 7), (7, 7)),
]


@pytest.mark.parametrize("shapes", FILTER_CASES, ids=lambda s: f"{s[0]}*{s[1]}")
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("boundary,fillvalue", [("fill", 0.0), ("fill", 1.5), ("wrap", 0.0),
                                                ("symm", 0.0)])
@pytest.mark.parametrize("correlate", [False, True])
def test_filter(cp, shapes, mode, boundary, fillvalue, correlate):
    a, k = rnd(shapes[0], np.float64, 17), rnd(shapes[1], np.float64, 18)
    fn = cc.correlate if correlate else cc.convolve
    y = fn(cp.asarray(a), cp.asarray(k), mode=mode, boundary=boundary, fillvalue=fillvalue)
    assert isinstance(y, cp.ndarray)
    expect = ref.convolve(a, k, mode, boundary, fillvalue, correlate=correlate)
    check(cp.asnumpy(y), expect, np.float64, int(np.prod(shapes[1])))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_filter_dtypes(cp, dtype):
    a, k = rnd((11, 10), dtype, 19), rnd((3, 4), dtype, 20)
    y = cc.convolve(cp.asarray(a), cp.asarray(k), mode="same", boundary="symm")
    assert y.dtype == dtype
    check(cp.asnumpy(y), ref.convolve(a, k, "same", "symm"), dtype, 12)


# ------------------------------------------------------------------------ errors, routing

def test_errors(cp):
    x = cp.asarray(rnd((1, 2, 5, 5), np.float32))
    w = cp.asarray(rnd((3, 2, 3, 3), np.float32))
    with pytest.raises(TypeError, match="w"):
        cc.conv(x, w.astype(np.float64))
    with pytest.raises(TypeError, match="x must be a float16, float32 or float64"):
        cc.conv(x.astype(np.int32), w)
    with pytest.raises(TypeError, match="CuPy"):
        cc.conv(x, cp.asnumpy(w))
    with pytest.raises(TypeError, match="out"):
        cc.conv(x, w, out=np.zeros((1, 3, 3, 3), np.float32))
    with pytest.raises(TypeError, match="out"):
        cc.conv(x, w, out=cp.zeros((1, 3, 3, 3), np.float64))
    with pytest.raises(ValueError, match="out"):
        cc.conv(x, w, out=cp.zeros((1, 3, 4, 3), np.float32))
    with pytest.raises(ValueError, match="groups"):  # the C++ core's validation, unchanged
        cc.conv(x, w, groups=2)
    with pytest.raises(ValueError, match="bias"):
        cc.conv(x, w, cp.zeros((3, 1), np.float32))
    with pytest.raises(ValueError, match="bias"):
        cc.conv(x, w, cp.zeros((4,), np.float32))
    with pytest.raises(ValueError, match="algorithm"):
        cc.conv(x, w, algorithm="winograd-please")
    with pytest.raises(ValueError, match="mode"):
        cc.convolve(x[0, 0], w[0, 0], mode="middle")
    with pytest.raises(ValueError, match="out must not share memory"):
        cc.conv(x, w, out=x.ravel()[:27].reshape(1, 3, 3, 3))


def test_devices(cp):
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two CUDA devices")
    x = rnd((1, 2, 5, 5), np.float64)
    w = rnd((3, 2, 3, 3), np.float64)
    with cp.cuda.Device(1):
        x1, w1 = cp.asarray(x), cp.asarray(w)
    with cp.cuda.Device(0):
        w0 = cp.asarray(w)
        y = cc.conv(x1, w1)  # runs on, and returns an array of, the inputs' device
    assert y.device.id == 1
    check(cp.asnumpy(y), ref.conv(x, w), np.float64, 18)
    with pytest.raises(ValueError, match="device"):
        cc.conv(x1, w0)


def test_stream(cp):
    if not is_gpu(cp):
        pytest.skip("streams are a GPU matter")
    x, w = rnd((2, 8, 16, 16), np.float32, 21), rnd((8, 8, 3, 3), np.float32, 22)
    s = cp.cuda.Stream(non_blocking=True)
    with s:
        xg, wg = cp.asarray(x), cp.asarray(w)
        y = cc.conv(xg, wg, padding=1)
        z = cc.conv_transpose(y, wg, padding=1)
    s.synchronize()
    check(cp.asnumpy(y), ref.conv(x, w, padding=1), np.float32, 72)
    check(cp.asnumpy(z), ref.conv_transpose(ref.conv(x, w, padding=1), w, padding=1),
          np.float32, 72 * 72)


def test_modules_cached(cp):
    from convcore.cuda import _compile

    x, w = cp.asarray(rnd((1, 2, 5, 5), np.float64)), cp.asarray(rnd((3, 2, 3, 3), np.float64))
    cc.conv(x, w, algorithm="implicit_gemm")
    mod = _compile._modules[("conv_igemm.cu", "float64")]
    cc.conv(x, w, algorithm="implicit_gemm")
    assert _compile._modules[("conv_igemm.cu", "float64")] is mod


def test_info(cp):
    d = cc.info()
    assert d["cuda_devices"] >= 1
    assert d["cuda_kernels"] == "compiled", d["cuda_kernels"]
    assert isinstance(d["cuda_device"], str)


# ------------------------------------------------------------------------ against PyTorch

def _torch_cuda(cp):
    if not is_gpu(cp):
        pytest.skip("PyTorch comparison needs the GPU")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch without CUDA")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_against_torch_conv(cp, dtype):
    torch = _torch_cuda(cp)
    x = cp.asarray(rnd((4, 32, 20, 20), dtype, 23))
    w = cp.asarray(rnd((48, 16, 3, 3), dtype, 24))
    b = cp.asarray(rnd((48,), dtype, 25))
    kw = dict(stride=2, padding=1, dilation=1, groups=2)
    for algorithm in ALGORITHMS:
        y = cc.conv2d(x, w, b, algorithm=algorithm, **kw)
        t = torch.nn.functional.conv2d(torch.from_dlpack(x), torch.from_dlpack(w),
                                       torch.from_dlpack(b), **kw)
        check(cp.asnumpy(y), t.double().cpu().numpy(), dtype, 16 * 9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_torch_depthwise_and_transpose(cp, dtype):
    torch = _torch_cuda(cp)
    F = torch.nn.functional
    x = cp.asarray(rnd((2, 24, 17, 17), dtype, 26))
    wd = cp.asarray(rnd((48, 1, 3, 3), dtype, 27))
    y = cc.conv2d(x, wd, stride=2, padding=1, groups=24)
    t = F.conv2d(torch.from_dlpack(x), torch.from_dlpack(wd), stride=2, padding=1, groups=24)
    check(cp.asnumpy(y), t.double().cpu().numpy(), dtype, 9)
    wt = cp.asarray(rnd((24, 8, 4, 4), dtype, 28))
    y = cc.conv_transpose2d(x, wt, stride=2, padding=1, output_padding=1, groups=2)
    t = F.conv_transpose2d(torch.from_dlpack(x), torch.from_dlpack(wt), stride=2, padding=1,
                           output_padding=1, groups=2)
    check(cp.asnumpy(y), t.double().cpu().numpy(), dtype, 12 * 16)


def test_against_torch_conv3d_channels_last(cp):
    torch = _torch_cuda(cp)
    x = rnd((2, 5, 6, 7, 8), np.float32, 29)
    w = rnd((6, 5, 3, 3, 3), np.float32, 30)
    y = cc.conv3d(cp.asarray(to_cl(x)), cp.asarray(w), padding=1, channels_last=True,
                  activation="relu")
    t = torch.relu(torch.nn.functional.conv3d(torch.from_numpy(x).cuda(),
                                              torch.from_numpy(w).cuda(), padding=1))
    check(from_cl(cp.asnumpy(y)), t.double().cpu().numpy(), np.float32, 5 * 27)
