"""The packed GEMM (kernels/gemm.hpp) through the private binding _core._gemm, against NumPy,
at every SIMD level this CPU supports."""
import numpy as np
import pytest

from conftest import assert_close
from convcore import _core
import convcore as cc



SIZES = [(1, 1, 1), (1, 300, 7), (300, 1, 7), (7, 13, 5), (6, 16, 256), (13, 33, 257),
         (65, 129, 600), (5, 1030, 3), (2, 2, 0), (97, 61, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M,N,K", SIZES)
@pytest.mark.parametrize("nthreads", [1, 2])
def test_gemm_matches_numpy(rng, isa, dtype, M, N, K, nthreads):
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    cc.set_num_threads(nthreads)
    try:
        y = _core._gemm(a, b)
    finally:
        cc.set_num_threads(0)
    assert y.dtype == dtype and y.shape == (M, N)
    assert_close(y, a.astype(np.float64) @ b, max(K, 1))


@pytest.mark.parametrize("trans_a,trans_b", [(False, True), (True, False), (True, True)])
def test_gemm_transposed_operands(rng, isa, trans_a, trans_b):
    M, N, K = 19, 37, 45
    a = rng.standard_normal((K, M) if trans_a else (M, K))
    b = rng.standard_normal((N, K) if trans_b else (K, N))
    y = _core._gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    assert_close(y, (a.T if trans_a else a) @ (b.T if trans_b else b), K)


@pytest.mark.parametrize("activation", [None, "relu", "relu6", "sigmoid", "tanh", "gelu"])
def test_gemm_accumulate_bias_activation(rng, isa, activation):
    import reference as ref
    M, N, K = 23, 50, 300
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32) * 0.2
    c = rng.standard_normal((M, N)).astype(np.float32)
    bm = rng.standard_normal(M).astype(np.float32)
    bn = rng.standard_normal(N).astype(np.float32)
    c0 = c.copy()
    y = _core._gemm(a, b, c, bm, bn, activation)
    np.testing.assert_array_equal(c, c0)  # inputs are never modified
    expect = ref.activate(c + a.astype(np.float64) @ b + bm[:, None] + bn[None, :], activation)
    assert_close(y, expect, K)


def test_gemm_relu_keeps_nan(isa):
    a = np.array([[np.nan, 1.0]], np.float32)
    b = np.ones((2, 40), np.float32)
    y = _core._gemm(np.repeat(a, 8, axis=0), b, activation="relu")
    assert np.isnan(y).all()


def test_gemm_dtype_mismatch():
    with pytest.raises(TypeError, match="b has dtype"):
        _core._gemm(np.ones((2, 2), np.float32), np.ones((2, 2)))
