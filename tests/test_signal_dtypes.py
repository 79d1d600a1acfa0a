"""convolve / correlate / convolve2d / correlate2d against scipy.signal itself: every dtype
(integers over their full range, where wrap-around decides the result), ranks 0-4, modes,
boundaries, strided input, SciPy's errors; and which route runs (the float64 kernels exactly
where they are provably exact)."""
import warnings

import numpy as np
import pytest

import convcore as cc
import reference as ref
from conftest import assert_close
from convcore import _filter
from convcore import _signal_dtypes as dtypes

signal = pytest.importorskip("scipy.signal")

INTS = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]
FLOATS = ["float16", "float32", "float64", "longdouble"]
COMPLEX = ["complex64", "complex128"]
ALL = ["bool"] + INTS + FLOATS + COMPLEX


def data(rng, shape, dt, full_range=True):
    dt = np.dtype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = (info.min, info.max) if full_range else (max(info.min, -9), min(info.max, 9))
        return rng.integers(lo, hi, shape, dtype=dt, endpoint=True)
    if dt.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    return rng.standard_normal(shape).astype(dt)


def scipy_direct(fn, a, k, mode, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fn in ("convolve", "correlate"):
            return getattr(signal, fn)(a, k, mode=mode, method="direct")
        return getattr(signal, fn)(a, k, mode=mode, **kw)


def check(got, want, reduction):
    """Same dtype and shape; integers and bools equal, floats within the dtype's rounding."""
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    elif want.dtype.kind == "c":
        tol = 8 * np.finfo(want.dtype).eps * max(1.0, np.sqrt(reduction)) * 16
        scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
        assert float(np.max(np.abs(got - want), initial=0)) <= tol * scale
    else:
        dt = np.float32 if want.dtype == np.float16 else want.dtype
        if want.dtype == np.float16:  # SciPy (np.convolve) sums in float16 steps
            np.testing.assert_allclose(got.astype(float), want.astype(float), rtol=4e-3,
                                       atol=4e-3 * reduction)
            return
        assert_close(got.astype(np.float64), want.astype(np.float64), reduction,
                     dtype=np.float64 if dt == np.longdouble else dt)


@pytest.mark.parametrize("t1", ALL)
@pytest.mark.parametrize("t2", ["bool", "int8", "uint8", "int32", "uint64", "int64", "float16",
                                "float32", "complex64", "complex128"])
def test_every_dtype_pair_1d(rng, t1, t2):
    """1-D: SciPy takes every pair here (np.convolve); result dtype and values match."""
    a, k = data(rng, 23, t1), data(rng, 5, t2)
    for fn in ("convolve", "correlate"):
        for mode in ("full", "same", "valid"):
            check(getattr(cc, fn)(a, k, mode), scipy_direct(fn, a, k, mode), k.size)
        check(getattr(cc, fn)(k, a, "valid"), scipy_direct(fn, k, a, "valid"), k.size)


@pytest.mark.parametrize("dt", INTS + ["float32", "float64", "longdouble"] + COMPLEX)
@pytest.mark.parametrize("shapes", [((9, 11), (3, 4)), ((4, 5), (6, 7)), ((5, 6, 4), (2, 3, 3)),
                                    ((4, 3, 5, 3), (2, 2, 3, 2))], ids=["2d", "2d-big-k", "3d", "4d"])
def test_full_range_every_rank(rng, dt, shapes):
    """Full-range integers wrap exactly as SciPy's direct method (which computes in the type);
    ranks 2, 3 and 4; k larger than a in every dim too."""
    a, k = data(rng, shapes[0], dt), data(rng, shapes[1], dt)
    for fn in ("convolve", "correlate"):
        for mode in ("full", "same", "valid"):
            check(getattr(cc, fn)(a, k, mode), scipy_direct(fn, a, k, mode), k.size)


@pytest.mark.parametrize("t1,t2", [("uint8", "int8"), ("uint16", "int16"), ("int32", "uint32"),
                                   ("int64", "uint64"), ("uint8", "float32"), ("int16", "float16"),
                                   ("uint8", "complex64"), ("int64", "complex128"),
                                   ("float32", "complex128"), ("bool", "uint8")])
def test_mixed_dtypes_promote_as_scipy(rng, t1, t2):
    a, k = data(rng, (7, 8), t1), data(rng, (3, 2), t2)
    for fn in ("convolve", "correlate", "convolve2d", "correlate2d"):
        for mode in ("full", "same", "valid"):
            check(getattr(cc, fn)(a, k, mode), scipy_direct(fn, a, k, mode), k.size)


@pytest.mark.parametrize("dt", INTS + ["float32", "float64"] + COMPLEX)
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm", "pad", "circular", "symmetric"])
@pytest.mark.parametrize("kshape", [(3, 3), (2, 4), (5, 2), (9, 12)])
def test_2d_functions_every_boundary(rng, dt, boundary, kshape):
    """convolve2d / correlate2d with SciPy's boundaries and fill values, even kernels (where
    correlate2d centres "same" differently) and kernels larger than the input."""
    a, k = data(rng, (6, 9), dt), data(rng, kshape, dt)
    fill = {"i": -3, "u": 7, "f": 1.5, "c": 1.5 - 2j}[np.dtype(dt).kind]
    for fn in ("convolve2d", "correlate2d"):
        for mode in ("full", "same") + (("valid",) if kshape != (9, 12) else ()):
            got = getattr(cc, fn)(a, k, mode, boundary, fill)
            want = scipy_direct(fn, a, k, mode, boundary=boundary, fillvalue=fill)
            check(got, want, k.size)


@pytest.mark.parametrize("dt", ["complex64", "complex128", "int16"])
def test_2d_valid_swap(rng, dt):
    """in2 larger in every dim: correlate2d reverses without conjugating (SciPy's rule),
    while the N-d correlate's result is the conjugate."""
    a, k = data(rng, (3, 4), dt), data(rng, (5, 7), dt)
    for fn in ("convolve2d", "correlate2d", "convolve", "correlate"):
        check(getattr(cc, fn)(a, k, "valid"), scipy_direct(fn, a, k, "valid"), a.size)


@pytest.mark.parametrize("boundary", ["wrap", "symm", "fill"])
@pytest.mark.parametrize("dt", ["int32", "complex128", "float32"])
def test_nd_boundaries_ranks_3_and_4(rng, boundary, dt):
    """convcore's boundary extension in the N-d functions, against the oracle."""
    for shape, kshape in (((5, 4, 6), (3, 2, 4)), ((3, 4, 2, 5), (2, 3, 3, 2))):
        a, k = data(rng, shape, dt, full_range=False), data(rng, kshape, dt, full_range=False)
        for mode in ("full", "same"):
            got = cc.convolve(a, k, mode, boundary=boundary, fillvalue=2)
            parts = [(np.real, 1.0)] + ([(np.imag, 1.0)] if a.dtype.kind == "c" else [])
            for part, _ in parts:
                # (a_r + i a_i) * (k_r + i k_i), each real convolution from the oracle
                if a.dtype.kind == "c":
                    rr = ref.convolve(a.real, k.real, mode, boundary, 2.0)
                    ii = ref.convolve(a.imag, k.imag, mode, boundary, 0.0)
                    ri = ref.convolve(a.real, k.imag, mode, boundary, 2.0)
                    ir = ref.convolve(a.imag, k.real, mode, boundary, 0.0)
                    want = rr - ii if part is np.real else ri + ir
                else:
                    want = ref.convolve(a, k, mode, boundary, 2.0)
                assert_close(part(got).astype(np.float64), want, k.size,
                             dtype=np.float32 if dt == "float32" else np.float64)


def test_rank0(rng):
    for t1, t2 in (("int8", "int8"), ("int64", "float32"), ("complex64", "complex128"),
                   ("float64", "complex64")):
        a, k = data(rng, (), t1), data(rng, (), t2)
        for fn in ("convolve", "correlate"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # int8 scalar overflow warns, as in SciPy
                got, want = getattr(cc, fn)(a, k), getattr(signal, fn)(a, k)
            assert type(got) is type(want) and got == want
    assert cc.convolve(1289, 4567) == 1289 * 4567
    assert cc.correlate(3j, 4j) == 12


def test_strided_fortran_and_byteswapped_inputs_unmodified(rng):
    base = data(rng, (20, 30), "int16")
    k = data(rng, (7, 4), "uint8")
    for a in (base[::2, ::3], base.T, np.asfortranarray(base), base.astype(">i2"),
              base[::-1, 5:]):
        a_before, k_before = a.copy(), k.copy()
        for fn in ("convolve", "correlate", "convolve2d", "correlate2d"):
            for mode in ("full", "same"):
                check(getattr(cc, fn)(a, k, mode), scipy_direct(fn, np.asarray(a, "i2"), k, mode),
                      k.size)
        np.testing.assert_array_equal(a, a_before)
        np.testing.assert_array_equal(k, k_before)
    c = data(rng, (12, 10), "complex64")[::2]
    c_before = c.copy()
    check(cc.correlate(c, c[:2, :3]), scipy_direct("correlate", c, c[:2, :3], "full"), 6)
    np.testing.assert_array_equal(c, c_before)


# ----------------------------------------------------------------------------- routes

def route(a, k, mode="same", boundary="fill", fill=0):
    a, k = np.asarray(a), np.asarray(k)
    rt = dtypes.result_dtype(a, k)
    return _filter._route(a, k, mode, boundary, dtypes.fill_value(fill, rt, True), rt)


def test_routes_take_the_fast_kernels_where_exact(rng):
    img = data(rng, (64, 80), "uint8")
    assert route(img, np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]])) == "float64-rounded"
    assert route(img, data(rng, (5, 5), "int16", full_range=False)) == "float64-exact"
    assert route(data(rng, (9, 9, 9), "uint16"), np.ones((3, 3, 3), "u2")) == "float64-exact"
    assert route(data(rng, 100, "int32"), np.arange(5)) == "float64-exact"
    assert route(data(rng, (9, 9), "int64"), np.ones((2, 2), "i8")) == "int64-numpy"
    assert route(data(rng, (4, 4, 4, 4), "uint8"), np.ones((2,) * 4, "u1")) == "int64-numpy"
    assert route(img.astype("f4"), np.ones((3, 3), "f4")) == "float32-kernel"
    assert route(img.astype("c8"), np.ones((3, 3), "f4")) == "complex64-as-float32-pairs"
    assert route(img.astype(np.longdouble), np.ones((3, 3))).endswith("-numpy")


@pytest.mark.parametrize("dt", ["int64", "uint64"])
def test_exactness_threshold_sweep(rng, dt):
    """max|a| * sum|k| just below and just above 2**53: the float64 kernels below (exact), int64
    NumPy above; both equal SciPy's integer result to the last bit."""
    k = np.array([[3, 1, 2], [1, 2, 5], [4, 1, 1]], dt)  # not rank 1: the direct kernel
    s = int(k.sum())
    for m, expect in ((2 ** 53 // s - 1, "float64-exact"), (2 ** 53 // s + 1, "int64-numpy"),
                      (2 ** 53 // s, "float64-exact")):
        a = rng.integers(0, m, (11, 13), dtype=dt, endpoint=True)
        a[5, 6] = m
        assert route(a, k) == expect, m
        for mode in ("full", "same", "valid"):
            want = scipy_direct("convolve", a, k, mode)
            got = cc.convolve(a, k, mode)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_rank1_integer_kernel_rounds_back_exactly(rng):
    """A separable (rank-1) integer kernel takes the two-pass float path: rounding recovers
    SciPy's integers exactly within the bound, and beyond it the int64 path does."""
    k = np.outer([1, 4, 6, 4, 1], [1, 2, 0, -2, -1]).astype(np.int32)
    for hi, dt, expect in ((255, np.int32, "float64-rounded"),
                           (2 ** 31 - 1, np.int32, "float64-rounded"),
                           (2 ** 38, np.int64, "int64-numpy")):
        a = rng.integers(-hi, hi, (40, 50), dtype=np.int64, endpoint=True).astype(dt)
        assert route(a, k.astype(dt)) == expect
        for fn in ("convolve", "correlate2d"):
            np.testing.assert_array_equal(getattr(cc, fn)(a, k.astype(dt), "same"),
                                          scipy_direct(fn, a, k.astype(dt), "same"))


# ----------------------------------------------------------------------------- errors

BAD_CALLS = {
    "mode": lambda f: f([3, 4, 5], [1, 2, 3], mode="spam"),
    "mode-int": lambda f: f([3, 4, 5], [1, 2, 3], mode=1),
    "method": lambda f: f([3, 4, 5], [1, 2, 3], method="bacon"),
    "ranks": lambda f: f([1], [[2]]),
    "rank-vs-0d": lambda f: f([3], 2),
    "valid-shapes": lambda f: f(np.ones((2, 3)), np.ones((3, 2)), mode="valid"),
    "empty-full": lambda f: f(np.ones(0), np.ones(2)),
}
BAD_2D = {
    "mode": lambda f: f([[1, 2]], [[1]], mode="eggs"),
    "boundary": lambda f: f([[1, 2]], [[1]], boundary="reflect"),
    "boundary-none": lambda f: f([[1, 2]], [[1]], boundary=None),
    "dims-0": lambda f: f(3, 4),
    "dims-1": lambda f: f([3], [4]),
    "dims-3": lambda f: f([[[3]]], [[[4]]]),
    "fill-complex": lambda f: f([[1]], [[1, 2]], fillvalue=1j),
    "fill-list": lambda f: f([[1]], [[1, 2]], fillvalue=[1, 2]),
    "fill-empty": lambda f: f([[1]], [[1, 2]], fillvalue=[]),
    "fill-nan-int": lambda f: f([[1]], [[1, 2]], fillvalue=np.nan),
    "fill-300-uint8": lambda f: f(np.ones((1, 1), "u1"), np.ones((1, 2), "u1"), fillvalue=300),
    "valid-shapes": lambda f: f(np.ones((2, 3)), np.ones((3, 2)), mode="valid"),
}


def _raised(call):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        return type(e)
    return None


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
@pytest.mark.parametrize("fn", ["convolve", "correlate"])
def test_errors_are_scipys(case, fn):
    want = _raised(lambda: BAD_CALLS[case](getattr(signal, fn)))
    assert want is not None
    assert _raised(lambda: BAD_CALLS[case](getattr(cc, fn))) is want


@pytest.mark.parametrize("case", sorted(BAD_2D))
@pytest.mark.parametrize("fn", ["convolve2d", "correlate2d"])
def test_2d_errors_are_scipys(case, fn):
    want = _raised(lambda: BAD_2D[case](getattr(signal, fn)))
    assert want is not None
    assert _raised(lambda: BAD_2D[case](getattr(cc, fn))) is want


def test_fillvalue_cast_as_scipy():
    a, k = np.array([[1, 2], [3, 4]], np.uint8), np.ones((1, 2), np.uint8)
    for fill in (1.7, np.float32(2.5), [[3]], True, np.int64(5)):
        np.testing.assert_array_equal(cc.convolve2d(a, k, fillvalue=fill),
                                      signal.convolve2d(a, k, fillvalue=fill))
    with pytest.raises(TypeError, match="fillvalue"):
        cc.convolve2d(a, k, fillvalue="3")  # SciPy parses the string; convcore refuses it
    c = a.astype(complex)
    np.testing.assert_array_equal(cc.convolve(c, k, fillvalue=1 + 2j),
                                  signal.convolve2d(c, k, fillvalue=1 + 2j))


def test_empty_inputs_as_scipy():
    for shape in ((0,), (0, 3), (3, 0)):
        a = np.ones(shape, "i2")
        k = np.ones((2,) * len(shape), "u1")
        want = scipy_direct("convolve", a, k, "same")
        got = cc.convolve(a, k, "same")
        assert got.shape == want.shape and got.dtype == want.dtype
        for mode in ("full", "valid"):
            with pytest.raises(ValueError):
                cc.convolve(a, k, mode)
    with pytest.raises(ValueError, match="k must not be empty"):
        cc.correlate(np.ones(3), np.ones(0), "same")


def test_scipy_signature_and_the_earlier_order():
    a, k = np.arange(12.0).reshape(3, 4), np.array([[1.0, 2.0], [3.0, 5.0]])
    want = signal.convolve2d(a, k, "same", "wrap")
    np.testing.assert_array_equal(cc.convolve(a, k, "same", "wrap"), want)  # convcore's order
    np.testing.assert_array_equal(cc.convolve(a, k, "same", "direct", "wrap"), want)
    np.testing.assert_array_equal(cc.convolve(a, k, "same", boundary="wrap"), want)
    np.testing.assert_array_equal(cc.convolve(a, k, "full", "fill", 2.0),
                                  signal.convolve2d(a, k, "full", "fill", 2.0))
    for method in ("auto", "direct", "fft"):
        np.testing.assert_array_equal(cc.correlate(a, k, "valid", method),
                                      signal.correlate(a, k, "valid", method="direct"))
