"""The pre-packed GEMM mode (kernels/gemm.hpp, run_prepacked): few columns and many rows, where
B is packed once for the whole reduction and shared by the row chunks of every thread (N=1
deep layers such as 256 channels at 14x14). Against NumPy and the conv oracle, at every SIMD
level, 1 and 2 threads, both layouts, with bias, accumulation and activation in the store."""
import numpy as np
import pytest

import reference as ref
from conftest import assert_close
from convcore import _core
import convcore as cc

@pytest.fixture(params=[1, 2])
def nthreads(request):
    cc.set_num_threads(request.param)
    yield request.param
    cc.set_num_threads(0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M,N,K", [(256, 49, 600), (200, 37, 257), (130, 100, 1), (512, 3, 40)])
def test_prepacked_gemm(rng, isa, nthreads, dtype, M, N, K):
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    c = rng.standard_normal((M, N)).astype(dtype)
    bm = rng.standard_normal(M).astype(dtype)
    bn = rng.standard_normal(N).astype(dtype)
    assert_close(_core._gemm(a, b), a.astype(np.float64) @ b, K)
    y = _core._gemm(a, b, c, bm, bn, "relu")
    assert_close(y, np.maximum(c + a.astype(np.float64) @ b + bm[:, None] + bn[None, :], 0), K)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("xs,ws,pad", [((1, 24, 7, 7), (128, 24, 3, 3), 1),
                                       ((1, 40, 5, 6), (96, 40, 1, 1), 0),
                                       ((2, 16, 4, 5), (136, 16, 3, 2), (1, 0))])
def test_prepacked_conv(rng, isa, nthreads, channels_last, xs, ws, pad):
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    expected = ref.conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                        padding=pad, activation="relu")
    xin = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if channels_last else x
    y = cc.conv(xin, w, b, padding=pad, algorithm="im2col", channels_last=channels_last,
                activation="relu")
    if channels_last:
        y = y.transpose(0, 3, 1, 2)
    assert_close(y, expected, ws[1] * ws[2] * ws[3])


# The row path (kernels/im2col.hpp, conv_rows_engine) cuts long rows into column chunks: a long
# 1-D signal (WaveNet) and a single short image both spread over every thread.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,kw", [((1, 32, 5000), (32, 32, 2), dict(dilation=2, padding=1)),
                                      ((1, 8, 3001), (16, 8, 3), dict(padding=((2, 1),))),
                                      ((1, 200, 5, 64), (40, 200, 3, 3), dict(padding=1)),
                                      ((2, 6, 3, 100), (12, 6, 2, 5), dict(padding=(1, 3),
                                                                           dilation=(2, 1)))])
def test_rows_path_column_chunks(rng, isa, nthreads, dtype, xs, ws, kw):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    expected = ref.conv(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), **kw)
    y = cc.conv(x, w, b, algorithm="im2col", **kw)
    assert_close(y, expected, int(np.prod(ws[1:])))


# 1x1 stride-1 unpadded convs pack B in whole NR-wide runs (im2col_packer's pointwise branch);
# the padded and strided 1x1 convs beside them take the general gather.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,kw", [((2, 12, 7, 9), (20, 6, 1, 1), dict(groups=2)),
                                      ((1, 33, 70, 19), (10, 33, 1, 1), dict()),
                                      ((1, 9, 4, 5), (16, 9, 1, 1), dict(padding=1)),
                                      ((2, 10, 9, 9), (16, 10, 1, 1), dict(stride=2)),
                                      ((1, 16, 300), (24, 16, 1), dict())])
def test_pointwise_packing(rng, isa, nthreads, dtype, xs, ws, kw):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    expected = ref.conv(x.astype(np.float64), w.astype(np.float64), **kw)
    y = cc.conv(x, w, algorithm="im2col", **kw)
    assert_close(y, expected, ws[1])
