"""convcore.kernels: shapes, sums, and agreement with scipy.ndimage / OpenCV on the interior."""
import numpy as np
import pytest

import convcore as cc
from convcore import kernels as K


def _interior(a, r):
    return a[r:-r, r:-r]


@pytest.fixture
def img(rng):
    return rng.standard_normal((23, 19))


def test_importable_as_module():
    import convcore.kernels as mod

    assert mod is cc.kernels
    for name in mod.__all__:
        k = getattr(mod, name)() if name not in ("gaussian",) else mod.gaussian(1.0)
        assert k.dtype == np.float64 and k.ndim == 2


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
@pytest.mark.parametrize("name", ["sobel", "prewitt"])
def test_derivatives_match_ndimage(img, name, axis):
    nd = pytest.importorskip("scipy.ndimage")
    k = getattr(K, name)(axis)
    got = cc.correlate(img, k, mode="same")
    want = getattr(nd, name)(img, axis=axis)
    np.testing.assert_allclose(_interior(got, 1), _interior(want, 1), rtol=1e-12, atol=1e-12)
    # ndimage.correlate with the kernel equals the filter everywhere with the same boundary
    np.testing.assert_allclose(nd.correlate(img, k, mode="reflect"), want, rtol=1e-12, atol=1e-12)


def test_sobel_sign_convention():
    ramp = np.tile(np.arange(6.0)[:, None], (1, 6))  # grows with the row index
    assert np.all(cc.correlate(ramp, K.sobel(0), mode="valid") == 8)
    assert np.all(cc.correlate(ramp, K.sobel(1), mode="valid") == 0)
    assert np.all(cc.correlate(ramp.T, K.sobel(1), mode="valid") == 8)


@pytest.mark.parametrize("axis", [0, 1])
def test_scharr_matches_opencv(img, axis):
    cv2 = pytest.importorskip("cv2")
    dx, dy = (0, 1) if axis == 0 else (1, 0)
    want = cv2.Scharr(img, cv2.CV_64F, dx, dy)
    got = cc.correlate(img, K.scharr(axis), mode="same")
    np.testing.assert_allclose(_interior(got, 1), _interior(want, 1), rtol=1e-12, atol=1e-11)


def test_scharr_values():
    np.testing.assert_array_equal(K.scharr(1), [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]])
    np.testing.assert_array_equal(K.scharr(0), K.scharr(1).T)


def test_laplacian_matches_ndimage(img):
    nd = pytest.importorskip("scipy.ndimage")
    got = cc.correlate(img, K.laplacian(), mode="same")
    np.testing.assert_allclose(_interior(got, 1), _interior(nd.laplace(img), 1), atol=1e-12)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.7])
def test_gaussian_matches_ndimage(rng, sigma):
    nd = pytest.importorskip("scipy.ndimage")
    img = rng.standard_normal((40, 37))
    k = K.gaussian(sigma)
    r = k.shape[0] // 2
    assert k.shape[0] == 2 * int(4 * sigma + 0.5) + 1
    assert abs(k.sum() - 1) < 1e-12
    got = cc.correlate(img, k, mode="same")
    want = nd.gaussian_filter(img, sigma)
    np.testing.assert_allclose(_interior(got, r), _interior(want, r), atol=1e-12)


def test_gaussian_explicit_size_is_separable_and_symmetric():
    k = K.gaussian(2.0, size=5)
    assert k.shape == (5, 5)
    np.testing.assert_allclose(k, k.T)
    np.testing.assert_allclose(k, k[::-1, ::-1])
    assert np.linalg.matrix_rank(k) == 1
    assert K.gaussian(1.0, size=4).shape == (4, 4)


def test_box_matches_ndimage_uniform(img):
    nd = pytest.importorskip("scipy.ndimage")
    got = cc.correlate(img, K.box(5), mode="same")
    np.testing.assert_allclose(_interior(got, 2), _interior(nd.uniform_filter(img, 5), 2),
                               atol=1e-12)


def test_identity_returns_input(img):
    for n in (1, 3, 5):
        np.testing.assert_array_equal(cc.correlate(img, K.identity(n), mode="same"), img)


def test_fixed_kernels():
    np.testing.assert_array_equal(K.blur() * 16, np.outer([1, 2, 1], [1, 2, 1]))
    np.testing.assert_array_equal(K.sharpen(), K.identity() - K.laplacian())
    np.testing.assert_array_equal(K.outline(), 9 * K.identity() - np.ones((3, 3)))
    np.testing.assert_array_equal(K.emboss(), -K.emboss()[::-1, ::-1] + 2 * K.identity())
    assert K.box(3).sum() == pytest.approx(1) and K.blur().sum() == 1
    np.testing.assert_array_equal(K.prewitt(0), np.outer([-1, 0, 1], [1, 1, 1]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="axis"):
        K.sobel(2)
    with pytest.raises(TypeError, match="axis"):
        K.prewitt(0.5)
    with pytest.raises(ValueError, match="sigma"):
        K.gaussian(0)
    with pytest.raises(ValueError, match="sigma"):
        K.gaussian(float("nan"))
    with pytest.raises(ValueError, match="size"):
        K.box(0)
    with pytest.raises(TypeError, match="size"):
        K.identity(2.5)
