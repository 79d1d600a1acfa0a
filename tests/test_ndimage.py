"""convcore.ndimage against scipy.ndimage itself: every function, mode, origin, dtype, rank
1-3, tiny and odd sizes, layouts, output= forms and SciPy's error cases. Results must be
identical (same dtype, same values to the bit: both compute in double in the same order), but
float32 into float32, which convcore computes in float32 (within F32_TOL, below)."""
import numpy as np
import pytest

import convcore as cc
from convcore import ndimage as nd

ndi = pytest.importorskip("scipy.ndimage")

MODES = ["reflect", "constant", "nearest", "mirror", "wrap", "grid-constant", "grid-mirror",
         "grid-wrap"]
INTS = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.int64]
DTYPES = [np.bool_] + INTS + [np.float32, np.float64]
SHAPES = [(1,), (2,), (7,), (40,), (1, 1), (1, 9), (9, 1), (5, 6), (13, 37), (2, 1, 3),
          (3, 4, 5), (6, 5, 33)]


# float32 into float32 computes in float32 with FMA (SciPy: double, rounded once per pass), so
# those results may differ by rounding. A pass's error is bounded by float32 roundings of its
# products and partial sums: a few float32 epsilons of max|input| * sum|weights| (1 for the
# smoothing filters), growing with the tap count where the roundings agree. Measured
# (docs/ndimage.md), in eps32 * max(max|output|, max|input or cval| * sum|weights|): at most
# 1.3 for kernels up to 25 taps, 4.03 for uniform size 50 on a 1-pixel line (50 equal
# products of the inexact 1/50, all rounded the same way). Tolerance: 8 of those.
F32_TOL = 8 * float(np.finfo(np.float32).eps)


def same(ours, ref, scale=None):
    """Identical results: shape, dtype and every value (bool compared by its byte, as SciPy
    writes truncated doubles into it); float32 results within F32_TOL * max(max|ref|, scale)
    (scale: max(max|input|, |cval|) of the call, times sum|weights| for the correlations). (None, None): both refused the call alike."""
    if ours is None and ref is None:
        return
    assert ours.shape == ref.shape and ours.dtype == ref.dtype, (ours.dtype, ref.dtype)
    if ref.dtype == np.bool_:
        ours, ref = ours.view(np.uint8), ref.view(np.uint8)
    if ref.dtype.kind in "fc" and ref.dtype.itemsize == 4 * (2 if ref.dtype.kind == "c" else 1):
        assert np.array_equal(np.isfinite(ours), np.isfinite(ref))
        fin = np.isfinite(ref)
        assert np.array_equal(ours[~fin], ref[~fin], equal_nan=True)
        if not fin.any():
            return
        m = max(float(np.abs(ref[fin]).max()), scale or 0.0)
        err = float(np.abs(ours[fin].astype(np.complex128) - ref[fin]).max())
        assert err <= F32_TOL * m, (err, m, err / (m * F32_TOL / 8))
        return
    assert np.array_equal(ours, ref, equal_nan=ref.dtype.kind in "fc"), \
        np.argwhere(~((ours == ref) | ((ours != ours) & (ref != ref))))[:5]


def image(rng, shape, dtype):
    """Values spread over the dtype's useful range (integer images with room to wrap)."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) > 0.5
    if dt.kind == "f":
        return (rng.standard_normal(shape) * 50).astype(dt)
    info = np.iinfo(dt)
    lo, hi = max(info.min, -1000), min(info.max, 1000)
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(dt)


def both(name, *args, **kw):
    """(ours, SciPy's, max|input|) for the same call; (None, None, None) when SciPy refuses it and so do we,
    with an exception of the same type."""
    try:
        ref = getattr(ndi, name)(*args, **kw)
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        with pytest.raises(type(e)):
            getattr(nd, name)(*args, **kw)
        return None, None, None
    a = np.asarray(args[0])
    scale = None
    if a.size and a.dtype.kind in "fc":  # cval: the values read beyond the edges
        scale = max(float(np.abs(a).max()), abs(float(np.real(kw.get("cval", 0.0)))))
    if scale is not None and name in ("correlate", "convolve", "correlate1d", "convolve1d"):
        scale *= float(np.abs(np.asarray(args[1])).sum())  # bounds every sum of products
    return getattr(nd, name)(*args, **kw), ref, scale


@pytest.mark.parametrize("dtype", DTYPES)
def test_correlate1d_every_mode_origin_axis(one_thread, rng, dtype):
    for shape in SHAPES:
        a = image(rng, shape, dtype)
        for K in (1, 2, 3, 4, 7, 12):
            kinds = [rng.standard_normal(K), np.ones(K) / K]
            if K % 2:
                h = rng.standard_normal(K // 2)
                kinds += [np.r_[h, 1.5, h[::-1]], np.r_[h, 0.0, -h[::-1]]]  # (anti)symmetric
            for w in kinds:
                for mode in MODES:
                    for axis in range(-len(shape), len(shape)):
                        origin = int(rng.integers(-(K // 2), (K - 1) // 2, endpoint=True))
                        for f in ("correlate1d", "convolve1d"):
                            same(*both(f, a, w, axis=axis, mode=mode, cval=2.5, origin=origin))


@pytest.mark.parametrize("dtype", DTYPES)
def test_correlate_nd(one_thread, rng, dtype):
    for shape in SHAPES:
        a = image(rng, shape, dtype)
        nd_ = len(shape)
        for ks in [(1,) * nd_, (3,) * nd_, tuple(int(k) for k in rng.integers(1, 6, nd_)),
                   tuple(s + 2 for s in shape)]:  # last: kernel larger than the image
            w = rng.standard_normal(ks)
            w[w < -1] = 0  # zero taps are skipped, as in SciPy
            for mode in MODES:
                origin = [int(rng.integers(-(k // 2), (k - 1) // 2, endpoint=True)) for k in ks]
                for f in ("correlate", "convolve"):
                    same(*both(f, a, w, mode=mode, cval=-1.5, origin=origin))
                    same(*both(f, a, w, mode=mode, origin=origin[0] if ks[0] == ks[-1] else 0))


def test_correlate_nd_axes_and_special_weights(rng):
    a = image(rng, (6, 7, 8), np.float32)
    w2 = rng.standard_normal((3, 4))
    for axes in [(0, 1), (1, 2), (0, 2), (2, 0), (-1, -3)]:
        for f in ("correlate", "convolve"):
            same(*both(f, a, w2, axes=axes, mode="wrap", origin=(1, -1)))
    same(*both("correlate", a, rng.standard_normal(5), axes=1))
    same(*both("correlate", a, np.zeros((2, 2, 2))))  # no taps: all zeros
    same(*both("correlate", a, np.full((2, 2, 2), 1e-17)))  # below SciPy's threshold
    same(*both("correlate", np.array(3.0), np.array(2.0)))  # 0-d
    same(*both("correlate", np.zeros((0, 3)), np.ones((2, 2))))
    same(*both("correlate1d", np.zeros((4, 0)), [1.0, 2.0]))
    same(*both("correlate", [1, 2, 3], [1, 1]))  # lists


@pytest.mark.parametrize("dtype", DTYPES)
def test_uniform(one_thread, rng, dtype):
    for shape in SHAPES:
        a = image(rng, shape, dtype)
        for size in (1, 2, 3, 4, 9, 50):
            for mode in MODES:
                for axis in range(len(shape)):
                    origin = int(rng.integers(-(size // 2), (size - 1) // 2, endpoint=True))
                    same(*both("uniform_filter1d", a, size, axis=axis, mode=mode, cval=3.0,
                               origin=origin))
                same(*both("uniform_filter", a, size, mode=mode))
        same(*both("uniform_filter", a, [2, 5, 3][:len(shape)], origin=[0, -1, 1][:len(shape)],
                   mode=["wrap", "nearest", "mirror"][:len(shape)]))
        same(*both("uniform_filter", a, 3, axes=(0,)))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_gaussian(one_thread, rng, dtype):
    for shape in SHAPES:
        a = image(rng, shape, dtype)
        for sigma in (0.0, 0.5, 1.0, 2.5, 7.0):
            for mode in ("reflect", "constant", "mirror", "wrap", "nearest"):
                same(*both("gaussian_filter", a, sigma, mode=mode, cval=1.0))
            for order in (1, 2, 3):
                same(*both("gaussian_filter1d", a, sigma + 0.3, order=order, axis=0))
        same(*both("gaussian_filter", a, [1.5, 0.7, 2][:len(shape)],
                   order=[0, 1, 2][:len(shape)], mode=MODES[:len(shape)]))
        same(*both("gaussian_filter", a, 1.2, truncate=2.0))
        same(*both("gaussian_filter", a, 1.2, radius=[1, 4, 0][:len(shape)]))
        same(*both("gaussian_filter", a, 2, axes=(-1,)))
        same(*both("gaussian_filter1d", a, 1.0, radius=3))


@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt")  # SciPy's too
@pytest.mark.parametrize("dtype", DTYPES)
def test_derivatives(one_thread, rng, dtype):
    for shape in SHAPES:
        a = image(rng, shape, dtype)
        for mode in MODES:
            for axis in range(len(shape)):
                same(*both("sobel", a, axis=axis, mode=mode, cval=1.0))
                same(*both("prewitt", a, axis=axis, mode=mode, cval=1.0))
            same(*both("laplace", a, mode=mode))
        same(*both("sobel", a, mode=MODES[:len(shape)]))
        same(*both("laplace", a, axes=(0,)))
        if dtype in (np.bool_, np.uint64, np.int64):
            continue  # SciPy's own square root / sums of these aren't dtype-stable either
        same(*both("gaussian_laplace", a, 1.3))
        same(*both("gaussian_laplace", a, [1.0, 2.0, 0.5][:len(shape)], mode="nearest"))
        same(*both("gaussian_gradient_magnitude", a, 1.1, truncate=3.0))
        same(*both("gaussian_laplace", a, 1.0, axes=(0,)))


def test_generic_drivers(rng):
    a = image(rng, (9, 11), np.float32)

    def d2(x, axis, output, mode, cval, scale=1.0):
        return nd.correlate1d(x, [scale, -2 * scale, scale], axis, output, mode, cval)

    def d2s(x, axis, output, mode, cval, scale=1.0):
        return ndi.correlate1d(x, [scale, -2 * scale, scale], axis, output, mode, cval)

    same(nd.generic_laplace(a, d2, extra_arguments=(2.0,)),
         ndi.generic_laplace(a, d2s, extra_arguments=(2.0,)))
    same(nd.generic_laplace(a, d2, extra_keywords={"scale": 0.5}, mode=["wrap", "nearest"]),
         ndi.generic_laplace(a, d2s, extra_keywords={"scale": 0.5}, mode=["wrap", "nearest"]))
    same(nd.generic_gradient_magnitude(a, nd.sobel), ndi.generic_gradient_magnitude(a, ndi.sobel))
    u = image(rng, (9, 11), np.uint8)
    same(nd.generic_gradient_magnitude(u, nd.prewitt, axes=(1,)),
         ndi.generic_gradient_magnitude(u, ndi.prewitt, axes=(1,)))
    same(nd.generic_laplace(a, d2, axes=()), ndi.generic_laplace(a, d2s, axes=()))


def test_integer_casts_as_scipy(rng):
    """Out-of-range, negative, NaN and infinite results cast into every output dtype as SciPy
    casts them (truncation, wrap-around, the 'integer indefinite' value)."""
    vals = np.array([0.0, 0.4, -0.4, 0.6, -0.6, 1.5, -1.5, 127.9, 128.2, -129.7, 255.5, 256.5,
                     -1.0, 65535.9, 65536.2, -32769.0, 2.0 ** 31 - 0.5, 2.0 ** 31 + 5, -2.0 ** 31,
                     -2.0 ** 31 - 7, 2.0 ** 32 + 3, -2.0 ** 32, 2.0 ** 53, 2.0 ** 63, -2.0 ** 63,
                     2.0 ** 63 + 2 ** 11, 2.0 ** 64, 2.0 ** 64 + 2 ** 12, -2.0 ** 64, 1e30,
                     -1e30, np.inf, -np.inf, np.nan])
    for out in DTYPES:
        same(*both("correlate1d", vals, [1.0], output=out))
        same(*both("correlate", vals, [1.0], output=out))
        same(*both("uniform_filter1d", vals, 1, output=out))


def test_flat_integer_regions_truncate_like_scipy(rng):
    """Where the exact result is an integer (flat regions), the double sum lands just below or
    above it; truncation then depends on the exact operation order: it must be SciPy's."""
    for dt in (np.uint8, np.uint16, np.int32):
        a = np.full((40, 50), 100, dtype=dt)
        a[10:20, 10:30] = 37
        for s in (0.6, 1.0, 1.7, 3.3, 6.0):
            same(*both("gaussian_filter", a, s))
        same(*both("uniform_filter", a, 7))
        same(*both("correlate", a, np.full((3, 3), 1 / 9)))


def test_layouts_and_output_forms(rng):
    base = image(rng, (17, 23, 6), np.float32)
    u8 = image(rng, (17, 23), np.uint8)
    inputs = [base, np.asfortranarray(base), base[::2, 1::3], base.transpose(1, 0, 2),
              base.astype(base.dtype.newbyteorder(">")), np.asfortranarray(u8), u8[:, ::-2]]
    for a in inputs:
        for f, args in [("gaussian_filter", (1.5,)), ("uniform_filter", (4,)), ("sobel", ()),
                        ("correlate", (np.arange(9.0).reshape(3, 3)[(slice(None),) * 2 +
                                                                    (None,) * (a.ndim - 2)],)),
                        ("correlate1d", ([1.0, -3.0, 0.5],)), ("laplace", ())]:
            ours, ref, scale = both(f, a, *args)
            same(ours, ref, scale)
            for out in (np.float64, "float32", np.dtype(np.int16)):
                same(*both(f, a, *args, output=out))
            # output arrays: C, Fortran, strided view, byte-swapped; filled in place
            for make in (lambda s: np.zeros(s), lambda s: np.zeros(s, order="F"),
                         lambda s: np.zeros(s + (2,))[..., 0],
                         lambda s: np.zeros(s, dtype=">f8")):
                o1, o2 = make(a.shape), make(a.shape)
                r1 = getattr(nd, f)(a, *args, output=o1)
                getattr(ndi, f)(a, *args, output=o2)
                assert r1 is o1
                same(o1, o2)


def test_in_place_and_input_untouched(rng):
    a = image(rng, (20, 30), np.float64)
    keep = a.copy()
    ours = nd.gaussian_filter(a, 2.0)
    assert np.array_equal(a, keep)
    b = a.copy()
    nd.gaussian_filter(b, 2.0, output=b)  # output is the input: SciPy filters in place too
    same(b, ours)
    c = a.copy()
    nd.correlate(c, np.ones((3, 3)), output=c)
    same(c, ndi.correlate(a, np.ones((3, 3))))
    d = a.copy()
    nd.correlate1d(d, [1.0, 2.0, 3.0], axis=0, output=d)
    same(d, ndi.correlate1d(a, [1.0, 2.0, 3.0], axis=0))


def test_complex(rng):
    a = rng.standard_normal((8, 9)) + 1j * rng.standard_normal((8, 9))
    w = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    r = rng.standard_normal((8, 9))
    for args in [(a, w.real), (a, w), (r, w)]:
        same(*both("correlate1d", *args, axis=0))
        same(*both("convolve1d", *args))
        same(*both("correlate", args[0], np.outer(args[1], args[1])))
        same(*both("convolve", args[0], np.outer(args[1], args[1]), mode="wrap"))
    same(*both("uniform_filter1d", a, 3))
    same(*both("uniform_filter", a, 3, cval=1 + 2j, mode="constant"))
    same(*both("gaussian_filter", a, 1.0))


@pytest.mark.parametrize("shape,axis", [((3, 20000), 1), ((700, 300), 0), ((5, 9, 600), 1),
                                        ((2, 6000), 1)])
def test_work_splits_do_not_change_results(rng, threads, shape, axis):
    """Line segments (> 8192), column strips (> 256), row bands and dense-kernel segments
    (> 4096 columns) at 1 and 2 threads give SciPy's result."""
    a = image(rng, shape, np.float32)
    same(*both("correlate1d", a, rng.standard_normal(9), axis=axis, mode="mirror"))
    same(*both("correlate1d", a, rng.standard_normal(40), axis=axis, mode="wrap"))
    same(*both("uniform_filter1d", a, 11, axis=axis))
    w = rng.standard_normal((3,) * (len(shape) - 1) + (5,))
    same(*both("correlate", a, w, mode="nearest"))


def test_isa_levels(rng, isa):
    a = image(rng, (37, 70), np.float32)
    u = image(rng, (37, 70), np.uint8)
    for x in (a, u):
        same(*both("gaussian_filter", x, 2.0))
        same(*both("correlate", x, rng.standard_normal((4, 5))))
        same(*both("uniform_filter", x, 5))
        same(*both("sobel", x))


def _raises_like_scipy(call):
    try:
        call(ndi)
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        want = type(e)
    else:
        raise AssertionError("SciPy accepted the call")
    with pytest.raises(want):
        call(nd)


a1, a2 = np.arange(6.0), np.ones((4, 5))
ERRORS = {
    "mode name": lambda m: m.correlate1d(a1, [1, 2, 1], mode="foo"),
    "mode name nd": lambda m: m.correlate(a2, np.ones((3, 3)), mode="symmetric"),
    "mode sequence nd": lambda m: m.correlate(a2, np.ones((3, 3)), mode=["wrap", "wrap"]),
    "mode sequence length": lambda m: m.gaussian_filter(a2, 1, mode=["reflect"]),
    "mode in sequence": lambda m: m.gaussian_filter(a2, 1, mode=["reflect", "foo"]),
    "origin 1d": lambda m: m.correlate1d(a1, [1, 2, 1], origin=2),
    "origin 1d low": lambda m: m.correlate1d(a1, [1, 2, 1, 3], origin=-3),
    "origin nd": lambda m: m.correlate(a2, np.ones((3, 3)), origin=(0, 2)),
    "origin float": lambda m: m.correlate(a2, np.ones((3, 3)), origin=0.5),
    "origin uniform": lambda m: m.uniform_filter1d(a1, 3, origin=2),
    "output shape": lambda m: m.correlate1d(a1, [1, 2, 1], output=np.zeros(5)),
    "output shape nd": lambda m: m.gaussian_filter(a2, 1, output=np.zeros((5, 4))),
    "output dtype str": lambda m: m.correlate1d(a1, [1, 2], output="U3"),
    "output float16": lambda m: m.correlate1d(a1, [1, 2, 1], output=np.float16),
    "input float16": lambda m: m.correlate1d(a1.astype(np.float16), [1, 2, 1]),
    "input object": lambda m: m.correlate1d(np.array([1, 2], dtype=object), [1, 1]),
    "axis": lambda m: m.correlate1d(a1, [1, 2, 1], axis=1),
    "axis sobel": lambda m: m.sobel(a2, axis=-3),
    "0-d sobel": lambda m: m.sobel(np.array(3.0)),
    "empty weights": lambda m: m.correlate1d(a1, []),
    "2-d weights 1d": lambda m: m.correlate1d(a1, [[1, 2]]),
    "weights rank": lambda m: m.correlate(a1, [[1, 2]]),
    "uniform size 0": lambda m: m.uniform_filter1d(a1, 0),
    "radius": lambda m: m.gaussian_filter1d(a1, 1, radius=-1),
    "radius float": lambda m: m.gaussian_filter1d(a1, 1, radius=1.5),
    "order": lambda m: m.gaussian_filter1d(a1, 1, order=-1),
    "axes duplicate": lambda m: m.gaussian_filter(a2, 1, axes=(0, 0)),
    "axes range": lambda m: m.uniform_filter(a2, 3, axes=(2,)),
    "sigma sequence": lambda m: m.gaussian_filter(a2, [1, 2, 3]),
    "complex cval": lambda m: m.correlate1d(a1, [1, 1], cval=1j),
    "complex cval with complex weights": lambda m: m.correlate(a1, [1j, 1], cval=1j),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_as_scipy(name):
    _raises_like_scipy(ERRORS[name])


def test_cupy_arrays_are_pointed_elsewhere():
    class FakeCupy:
        pass
    FakeCupy.__module__ = "cupy._core.core"
    with pytest.raises(TypeError, match="cupyx.scipy.ndimage"):
        nd.gaussian_filter(FakeCupy(), 1.0)


def test_large_gaussian_runs_as_passes(rng):
    """sigma 40 on a 2-D image: two 321-tap passes (a dense kernel would be ~100k taps)."""
    a = image(rng, (64, 400), np.float32)
    same(*both("gaussian_filter", a, 40.0))


@pytest.mark.parametrize("name", nd.__all__ + ["__init__"])
def test_docstring_examples(name):
    """Every public function of convcore.ndimage (and the package) has a true example."""
    import doctest
    obj = nd if name == "__init__" else getattr(nd, name)
    tests = doctest.DocTestFinder(recurse=False).find(obj, f"convcore.ndimage.{name}")
    assert tests and tests[0].examples, f"{name} has no >>> example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        runner.run(t)
    assert runner.failures == 0


def test_float32_fused_separable_bands(threads, rng):
    """The fused float32 sweep over the last two axes (many bands and column strips, 1 and 2
    threads), with the passes along other axes before it, against SciPy's passes; and
    output=np.float64 still SciPy's double result to the bit."""
    for shape in [(300, 517), (4, 70, 90), (33, 1), (1, 600)]:
        a = image(rng, shape, np.float32)
        for mode in MODES:
            same(*both("gaussian_filter", a, 2.5, mode=mode, cval=4.0))
            same(*both("uniform_filter", a, [5, 4, 3][-len(shape):], mode=mode, cval=-1.0,
                       origin=[1, -2, 0][-len(shape):]))
            for axis in range(len(shape)):
                same(*both("sobel", a, axis=axis, mode=mode, cval=2.0))
                same(*both("prewitt", a, axis=axis, mode=mode))
        same(*both("gaussian_filter", a, [1.0, 3.0, 0.7][-len(shape):],
                   mode=["wrap", "constant", "mirror"][-len(shape):]))
        same(*both("gaussian_filter", a, 2.0, output=np.float64))
        same(*both("sobel", a, output=np.float64))
