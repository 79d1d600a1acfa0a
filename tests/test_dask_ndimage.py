"""convcore.ndimage on chunked Dask arrays (convcore/dask/_ndimage.py): every filter returns a
lazy Dask array with the image's chunks and the in-memory result, over chunkings whose chunks
are smaller than the halo, every mode (wrap from the opposite edge), integer images (rounded
after each pass), per-axis modes and axes; bad arguments are refused at the call with nothing
computed. tests/test_fuzz.py (``test_fuzz_ndimage_dask``) draws many more calls."""
from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

from convcore import ndimage  # noqa: E402

MODES = ("reflect", "constant", "nearest", "mirror", "wrap", "grid-constant", "grid-mirror",
         "grid-wrap")


@pytest.fixture(autouse=True)
def _sync():
    with dask.config.set(scheduler="sync"):
        yield


def _image(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(0, 200, shape).astype(dtype)
    return (rng.standard_normal(shape) * 20).astype(dtype)


def check(name, x, chunks, *args, **kwargs):
    """The filter on a Dask x against the same filter in memory: the same dtype, the image's
    chunks and, but for float64 uniform filters (SciPy's running sum starts at each window),
    the same values to the bit."""
    f = getattr(ndimage, name)
    expected = f(x, *args, **kwargs)
    lazy = f(da.from_array(x, chunks=chunks), *args, **kwargs)
    assert isinstance(lazy, da.Array) and lazy.chunks == da.from_array(x, chunks=chunks).chunks
    got = lazy.compute()
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if name.startswith("uniform") and expected.dtype == np.float64:
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-12)
    else:
        np.testing.assert_array_equal(got, expected)


# (shape, chunks): irregular, chunks of 1 and 2 (smaller than every halo here), one chunk
CASES = [((37, 29), (8, 5)), ((13, 11), (2, 1)), ((9, 10), (9, 10)), ((7, 8, 9), (4, 3, 5))]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["u1", "f4", "f8"])
def test_filters_every_mode(mode, dtype):
    for shape, chunks in CASES:
        x = _image(shape, dtype)
        nd = x.ndim
        check("gaussian_filter", x, chunks, 1.5, mode=mode)
        check("gaussian_filter", x, chunks, [0.8] + [2.5] * (nd - 1), order=1, mode=mode,
              truncate=3.0)
        check("uniform_filter", x, chunks, 4, mode=mode, origin=1)
        check("sobel", x, chunks, axis=0, mode=mode)
        check("prewitt", x, chunks, mode=mode, cval=3)
        check("laplace", x, chunks, mode=mode)
        check("correlate1d", x, chunks, [1, 2, -3, 4], axis=-1, mode=mode, origin=-1)
        check("convolve1d", x, chunks, [1, 2, -3, 4], axis=0, mode=mode, origin=1)
        check("uniform_filter1d", x, chunks, 5, axis=0, mode=mode)
        check("gaussian_filter1d", x, chunks, 2.0, order=2, radius=7, mode=mode)
        check("correlate", x, chunks, _image((3,) * nd, "f8", 1), mode=mode, cval=2.0)
        check("convolve", x, chunks, _image((2,) * nd, "f8", 2), mode=mode, origin=0)
        check("gaussian_laplace", x, chunks, 1.2, mode=mode)
        check("gaussian_gradient_magnitude", x, chunks, 1.2, mode=mode)


def test_per_axis_modes_axes_output_and_long_reach():
    x = _image((30, 26), "u1")
    check("gaussian_filter", x, (7, 5), 1.0, mode=["wrap", "reflect"])
    check("gaussian_filter", x, (7, 5), 1.0, mode=["reflect", "grid-wrap"], output=np.float64)
    check("gaussian_filter", x, (7, 5), 1.0, axes=(1,), mode="wrap")
    check("uniform_filter", x, (7, 5), [3, 5], mode=["nearest", "wrap"], origin=[0, -1])
    check("correlate", x, (7, 5), np.ones(5), axes=(1,), mode="wrap", origin=2)
    check("laplace", x, (7, 5), axes=(0,), mode=["mirror"])
    # a reach longer than the axis: whole along it (wrap), clamped to it (others)
    check("gaussian_filter", x, (3, 4), 9.0, mode="wrap")
    check("gaussian_filter", x, (3, 4), 9.0, mode="mirror", output="f4")


def test_generic_filters_run_whole():
    x = _image((20, 18), "f8")

    def d2(a, axis, out, mode, cval):
        return ndimage.correlate1d(a, [1, -2, 1], axis, out, mode, cval)

    check("generic_laplace", x, (6, 5), d2, mode="wrap")
    check("generic_gradient_magnitude", x, (6, 5), ndimage.sobel, mode="nearest")

    def d1(a, axis, out, mode, cval, sigma, order):
        return ndimage.gaussian_filter1d(a, sigma, axis, order, out, mode, cval)

    check("generic_gradient_magnitude", x, (6, 5), d1, mode="reflect", extra_arguments=(1.0,),
          extra_keywords={"order": 1})


def test_zero_d_and_empty():
    check("gaussian_filter", np.array(3.0), (), 1.0)
    check("correlate", np.array(2.0), (), np.array(3.0))
    check("sobel", np.zeros((0, 5), "u1"), (1, 2))


def test_lazy_and_bad_input_refused_at_the_call():
    calls = []

    def boom(b):
        calls.append(1)
        raise AssertionError("computed")

    x = da.zeros((16, 16), chunks=(5, 6), dtype="u1").map_blocks(boom, dtype="u1",
                                                                   meta=np.empty((0, 0), "u1"))
    y = ndimage.gaussian_filter(x, 2.0, mode="wrap")
    ndimage.sobel(x, output=np.float32)
    ndimage.generic_laplace(x, lambda a, ax, o, m, c: ndimage.sobel(a, ax, o, m, c))
    assert y.dtype == np.uint8 and y.chunks == x.chunks and not calls
    with pytest.raises(RuntimeError, match="boundary mode"):  # SciPy's type
        ndimage.uniform_filter(x, 3, mode="nope")
    with pytest.raises(ValueError, match="origin"):
        ndimage.uniform_filter1d(x, 3, origin=5)
    with pytest.raises(TypeError, match="output"):
        ndimage.sobel(x, output=np.zeros((16, 16), "u1"))
    with pytest.raises(TypeError, match="weights is a Dask array"):
        ndimage.correlate(x, da.ones((3, 3)))
    assert not calls


def test_threaded_scheduler_and_dask_image():
    x = _image((300, 260), "f4", 3)
    with dask.config.set(scheduler="threads", num_workers=2):
        check("gaussian_filter", x, (64, 100), 2.0, mode="wrap")
        check("sobel", x, (64, 100), mode="constant")
    dif = pytest.importorskip("dask_image.ndfilters")
    dx = da.from_array(x, chunks=(64, 100))
    for name, args in (("gaussian_filter", (2.0,)), ("sobel", ()), ("uniform_filter", (5,))):
        ours = getattr(ndimage, name)(dx, *args, mode="nearest").compute()
        theirs = getattr(dif, name)(dx, *args, mode="nearest").compute()
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)
