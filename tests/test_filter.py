"""convolve / correlate against the oracle and scipy.signal."""
import numpy as np
import pytest

import convcore as cc
import reference as ref
from conftest import assert_close

SHAPES = [((17,), (4,)), ((5,), (7,)), ((9, 8), (3, 2)), ((6, 7), (3, 3)), ((4, 5), (6, 7)),
          ((5, 6, 4), (2, 3, 3)), ((6, 6), (1, 1))]


@pytest.mark.parametrize("a_shape,k_shape", SHAPES)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("fn", ["convolve", "correlate"])
def test_against_oracle_and_scipy(rng, a_shape, k_shape, mode, fn):
    a = rng.standard_normal(a_shape)
    k = rng.standard_normal(k_shape)
    y = getattr(cc, fn)(a, k, mode=mode)
    expected = ref.convolve(a, k, mode, correlate=fn == "correlate")
    assert_close(y, expected, k.size)
    signal = pytest.importorskip("scipy.signal")
    assert_close(y, getattr(signal, fn)(a, k, mode=mode, method="direct"), k.size)


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("k_shape", [(3, 3), (3, 5), (5, 1)])
def test_boundaries_against_convolve2d(rng, boundary, mode, k_shape):
    """Odd kernels: convolve2d / correlate2d centre 'same' like the N-d functions."""
    signal = pytest.importorskip("scipy.signal")
    a = rng.standard_normal((7, 9))
    k = rng.standard_normal(k_shape)
    for name, ours in (("convolve2d", cc.convolve), ("correlate2d", cc.correlate)):
        expected = getattr(signal, name)(a, k, mode=mode, boundary=boundary, fillvalue=1.5)
        assert_close(ours(a, k, mode=mode, boundary=boundary, fillvalue=1.5), expected, k.size)


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
def test_boundaries_every_rank(rng, boundary):
    for shape, kshape in (((11,), (4,)), ((6, 5), (4, 2)), ((4, 5, 3), (3, 2, 5))):
        a = rng.standard_normal(shape)
        k = rng.standard_normal(kshape)
        for mode in ("full", "same"):
            y = cc.convolve(a, k, mode, boundary, fillvalue=-0.5)
            assert_close(y, ref.convolve(a, k, mode, boundary, -0.5), k.size)


def test_large_wrap_kernel(rng):
    """Kernels larger than the input wrap around repeatedly, as convolve2d does."""
    signal = pytest.importorskip("scipy.signal")
    a = rng.standard_normal((3, 4))
    k = rng.standard_normal((7, 9))
    for boundary in ("wrap", "symm"):
        assert_close(cc.convolve(a, k, "full", boundary),
                     signal.convolve2d(a, k, "full", boundary), k.size)


def test_float32_and_int_like_inputs(rng):
    a = rng.standard_normal((64, 48)).astype(np.float32)
    k = rng.standard_normal((5, 5)).astype(np.float32)
    y = cc.correlate(a, k, mode="same")
    assert y.dtype == np.float32
    assert_close(y, ref.convolve(a, k, "same", correlate=True), 25)
    # mixed and integer dtypes promote as SciPy does (tests/test_signal_dtypes.py has the rest)
    assert cc.convolve(a, k.astype(np.float64)).dtype == np.float64
    assert cc.convolve(np.arange(5), np.ones(2)).dtype == np.float64
    with pytest.raises(TypeError, match="a must be an array of numbers"):
        cc.convolve(np.array([None, 1]), np.ones(2))


def test_errors():
    with pytest.raises(ValueError, match="mode"):
        cc.convolve(np.ones(4), np.ones(2), mode="middle")
    with pytest.raises(ValueError, match="boundary"):
        cc.convolve(np.ones(4), np.ones(2), boundary="reflect")
    with pytest.raises(ValueError, match="valid"):
        cc.convolve(np.ones((4, 2)), np.ones((2, 4)), mode="valid")
    with pytest.raises(ValueError, match="k must have as many dimensions"):
        cc.convolve(np.ones((4, 4)), np.ones(2))
    with pytest.raises(ValueError, match="same dimensionality"):
        cc.convolve(np.ones((2, 2, 2, 2)), np.ones((1, 1, 1)))
    with pytest.raises(ValueError, match="empty"):
        cc.convolve(np.ones(0), np.ones(2))
    with pytest.raises(TypeError, match="fillvalue"):
        cc.convolve(np.ones(4), np.ones(2), fillvalue="x")
