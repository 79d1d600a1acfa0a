import numpy as np
import pytest


def tolerance(dtype, reduction):
    """Absolute-relative tolerance for a sum of `reduction` products in `dtype`."""
    eps = np.finfo(dtype).eps
    return float(eps * 8 * max(1.0, np.sqrt(reduction)) * (4 if dtype == np.float32 else 16))


def assert_close(actual, expected, reduction=1, dtype=None):
    """Compare with the float64 oracle, tolerance scaled by the reduction length."""
    actual = np.asarray(actual)
    dtype = dtype or actual.dtype
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    tol = tolerance(dtype, reduction)
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    err = float(np.max(np.abs(actual.astype(np.float64) - expected))) if expected.size else 0.0
    assert err <= tol * scale, f"max abs error {err:.3g} > {tol * scale:.3g}"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
