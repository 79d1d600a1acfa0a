"""The fast single-channel paths of convolve / correlate (kernels/filter2d.hpp): the 2-D
sliding-window kernel and the separable shortcut for rank-1 kernels, in every mode and
boundary, against the oracle and scipy.signal; and which path is taken (_core._filter_plan)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convcore as cc
import reference as ref
from conftest import assert_close
from convcore import _core


def plan(a, k, mode="same", boundary="fill", fillvalue=0.0, convolve=False):
    return _core._filter_plan(np.asarray(a), np.asarray(k), mode, boundary, float(fillvalue),
                              convolve)


def gaussian(n, sigma):
    x = np.arange(n) - (n - 1) / 2
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def kernel(kind, shape, rng, dtype):
    if kind == "rank1":
        k = np.outer(rng.standard_normal(shape[0]), rng.standard_normal(shape[1]))
    else:
        k = rng.standard_normal(shape)
    return k.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["rank1", "full"])
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_every_mode_and_boundary(rng, threads, dtype, kind, boundary, mode):
    """Odd kernels (where convolve2d centres 'same' like the N-d functions): scipy.signal's
    convolve2d / correlate2d with the boundary, and the oracle."""
    signal = pytest.importorskip("scipy.signal")
    a = rng.standard_normal((37, 75)).astype(dtype)
    for kshape in ((5, 3), (7, 7)):
        k = kernel(kind, kshape, rng, dtype)
        expect_path = "separable" if kind == "rank1" else "direct2d"
        for fn, name, conv in ((cc.convolve, "convolve2d", True),
                               (cc.correlate, "correlate2d", False)):
            assert plan(a, k, mode, boundary, 1.5, conv) == expect_path
            y = fn(a, k, mode=mode, boundary=boundary, fillvalue=1.5)
            assert y.dtype == dtype and y.flags.c_contiguous
            assert_close(y, ref.convolve(a, k, mode, boundary, 1.5, correlate=not conv), k.size)
            expected = getattr(signal, name)(a.astype(np.float64), k.astype(np.float64),
                                             mode=mode, boundary=boundary, fillvalue=1.5)
            assert_close(y, expected, k.size)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kshape", [(2, 3), (4, 4), (6, 1), (1, 8), (3, 3)])
@pytest.mark.parametrize("kind", ["rank1", "full"])
def test_even_kernels_against_nd_scipy(rng, dtype, kshape, kind):
    signal = pytest.importorskip("scipy.signal")
    a = rng.standard_normal((23, 41)).astype(dtype)
    k = kernel(kind, kshape, rng, dtype)
    for mode in ("full", "same", "valid"):
        for fn in ("convolve", "correlate"):
            y = getattr(cc, fn)(a, k, mode=mode)
            expected = getattr(signal, fn)(a.astype(np.float64), k.astype(np.float64), mode=mode,
                                           method="direct")
            assert_close(y, expected, k.size)


def test_wide_and_tall_images_cross_strips_and_bands(rng, threads):
    """Wider than one column strip (2048 outputs, plus tails that are not a whole chunk) and
    tall enough for several row bands, both paths."""
    a = rng.standard_normal((70, 3300)).astype(np.float32)
    for k in (np.outer(gaussian(7, 1.5), gaussian(5, 1.0)).astype(np.float32),
              rng.standard_normal((5, 7)).astype(np.float32)):
        for mode in ("full", "same", "valid"):
            y = cc.correlate(a, k, mode=mode, fillvalue=-2.0)
            assert_close(y, ref.convolve(a, k, mode, "fill", -2.0, correlate=True), k.size)


def test_threads_agree(rng):
    a = rng.standard_normal((300, 257))
    k = rng.standard_normal((9, 9))
    old = cc.get_num_threads()
    try:
        cc.set_num_threads(1)
        y1 = cc.convolve(a, k, mode="same")
        cc.set_num_threads(2)
        y2 = cc.convolve(a, k, mode="same")
    finally:
        cc.set_num_threads(old)
    np.testing.assert_array_equal(y1, y2)  # same per-element summation order


def test_separable_matches_full_kernel(rng):
    """The separable shortcut gives the full kernel's result within float tolerance: against the
    general conv path with the same kernel, and a kernel just off rank 1 (direct2d) minus its
    perturbation against the exact outer product (separable)."""
    a = rng.standard_normal((120, 130)).astype(np.float32)
    g = gaussian(7, 1.5)
    k_sep = np.outer(g, g).astype(np.float32)
    k_off = k_sep.copy()
    k_off[0, 0] += 1e-3 * k_sep.max()
    assert plan(a, k_sep) == "separable" and plan(a, k_off) == "direct2d"
    y_sep = cc.correlate(a, k_sep, mode="same")
    # the same kernel through the general conv path (no separable shortcut there)
    y_conv = cc.conv(a[None, None], k_sep[None, None], padding=3)[0, 0]
    y_off = cc.correlate(a, k_off, mode="same")
    delta = ref.convolve(a, k_off - k_sep, "same", correlate=True)
    assert_close(y_off - delta.astype(np.float32), ref.convolve(a, k_sep, "same", correlate=True),
                 49)
    assert_close(y_sep, ref.convolve(a, k_sep, "same", correlate=True), 49)
    assert_close(y_sep, y_conv.astype(np.float64), 49)
    assert np.max(np.abs(y_sep - y_conv)) > 0  # really two different summations


def test_plan_choices(rng):
    a2 = np.zeros((50, 60), np.float32)
    g5 = gaussian(5, 1.0).astype(np.float32)
    sobel = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])
    assert plan(a2, np.outer(g5, g5)) == "separable"
    assert plan(a2.astype(np.float64), sobel) == "separable"
    assert plan(a2.astype(np.float64), sobel, convolve=True) == "separable"
    for boundary in ("fill", "wrap", "symm"):
        for mode in ("full", "same", "valid"):
            assert plan(a2, np.outer(g5, g5), mode, boundary) == "separable"
    assert plan(a2, rng.standard_normal((5, 5)).astype(np.float32)) == "direct2d"
    # rank 1 but no saving (2x2: 4 taps either way), or already 1-D
    assert plan(a2, np.ones((2, 2), np.float32)) == "direct2d"
    assert plan(a2, np.ones((1, 7), np.float32)) == "direct2d"
    assert plan(a2, np.ones((7, 1), np.float32)) == "direct2d"
    # the zero kernel and a non-finite one take the direct kernel
    assert plan(a2, np.zeros((3, 3), np.float32)) == "direct2d"
    assert plan(a2, np.full((3, 3), np.inf, np.float32)) == "direct2d"
    # 1-D runs as the 1-row case; 3-D as kd * kh window rows read from their own planes
    assert plan(np.zeros(100), np.ones(5)) == "direct2d"
    assert plan(np.zeros((6, 7, 8)), np.ones((3, 3, 3))) == "direct3d"
    assert plan(np.zeros((6, 7, 8)), np.ones((1, 3, 3))) == "direct3d"
    # a kernel whose rows exceed the bounded workspace falls back to the general path
    assert plan(np.zeros((4, 10)), np.zeros((1500, 1500))) == "general"
    # float64 kernels are held to a float64 tolerance, float32 ones to a float32 one
    g64 = gaussian(5, 1.0)
    k64 = np.outer(g64, g64)
    k64[2, 2] *= 1 + 1e-9
    assert plan(a2.astype(np.float64), k64) == "direct2d"
    assert plan(a2, k64.astype(np.float32)) == "separable"
    k64[2, 2] *= 1 + 1e-4
    assert plan(a2, k64.astype(np.float32)) == "direct2d"


def test_one_d_and_kernel_larger_than_input(rng):
    signal = pytest.importorskip("scipy.signal")
    a1 = rng.standard_normal(5000)
    k1 = rng.standard_normal(31)
    for mode in ("full", "same", "valid"):
        assert_close(cc.convolve(a1, k1, mode), signal.convolve(a1, k1, mode, method="direct"),
                     31)
    a = rng.standard_normal((4, 5))
    for kind in ("rank1", "full"):
        k = kernel(kind, (9, 11), rng, np.float64)
        for mode in ("full", "same", "valid"):
            assert_close(cc.correlate(a, k, mode),
                         signal.correlate(a, k, mode, method="direct"), k.size)
        for boundary in ("wrap", "symm"):
            assert_close(cc.convolve(a, k, "full", boundary),
                         signal.convolve2d(a, k, "full", boundary), k.size)


def test_non_contiguous_inputs_untouched(rng):
    base = rng.standard_normal((60, 90)).astype(np.float32)
    a = base[::2, ::3]
    kf = np.asfortranarray(np.outer(gaussian(5, 1.0), gaussian(5, 1.2)).astype(np.float32))
    a_copy, k_copy = a.copy(), kf.copy()
    for k in (kf, rng.standard_normal((5, 5)).astype(np.float32)[:, ::-1]):
        y = cc.correlate(a, k, mode="same", boundary="symm")
        assert y.flags.c_contiguous
        assert_close(y, ref.convolve(a, k, "same", "symm", correlate=True), k.size)
    np.testing.assert_array_equal(a, a_copy)
    np.testing.assert_array_equal(kf, k_copy)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 150), kh=st.integers(1, 6), kw=st.integers(1, 6),
       rank1=st.booleans(), mode=st.sampled_from(["full", "same", "valid"]),
       boundary=st.sampled_from(["fill", "wrap", "symm"]), conv=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_property_random_shapes(h, w, kh, kw, rank1, mode, boundary, conv, seed):
    r = np.random.default_rng(seed)
    a = r.standard_normal((h, w)).astype(np.float32)
    k = kernel("rank1" if rank1 else "full", (kh, kw), r, np.float32)
    if mode == "valid" and not ((h >= kh and w >= kw) or (kh >= h and kw >= w)):
        return
    fn = cc.convolve if conv else cc.correlate
    y = fn(a, k, mode=mode, boundary=boundary, fillvalue=0.25)
    assert_close(y, ref.convolve(a, k, mode, boundary, 0.25, correlate=not conv), k.size)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
def test_three_d_every_mode(rng, threads, dtype, boundary):
    """3-D runs the same sliding chunks over kd * kh window rows (path 'direct3d')."""
    signal = pytest.importorskip("scipy.signal")
    a = rng.standard_normal((6, 9, 45)).astype(dtype)
    for kshape in ((3, 4, 5), (1, 3, 3), (7, 2, 1)):
        k = rng.standard_normal(kshape).astype(dtype)
        for mode in ("full", "same", "valid"):
            if mode == "valid" and kshape[0] > a.shape[0]:
                continue
            for fn, conv in ((cc.convolve, True), (cc.correlate, False)):
                assert plan(a, k, mode, boundary, 0.75, conv) == "direct3d"
                y = fn(a, k, mode=mode, boundary=boundary, fillvalue=0.75)
                assert_close(y, ref.convolve(a, k, mode, boundary, 0.75, correlate=not conv),
                             k.size)
                if boundary == "fill":
                    z = fn(a, k, mode=mode)
                    name = "convolve" if conv else "correlate"
                    assert_close(z, getattr(signal, name)(a.astype(np.float64),
                                                          k.astype(np.float64), mode=mode,
                                                          method="direct"), k.size)


def test_three_d_kernel_larger_than_input(rng):
    a = rng.standard_normal((2, 3, 4))
    k = rng.standard_normal((4, 5, 6))
    for boundary in ("fill", "wrap", "symm"):
        for mode in ("full", "same", "valid"):
            assert_close(cc.correlate(a, k, mode, boundary, 2.0),
                         ref.convolve(a, k, mode, boundary, 2.0, correlate=True), k.size)




@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_isa_level(rng, isa, dtype):
    """The sliding kernel is compiled per ISA level (kernel table); each level against the
    oracle: 1-D, 2-D direct and separable over several strips and chunk tails, 3-D."""
    cases = [((3000,), (17,)),
             ((29, 3100), (5, 7)),
             ((29, 3100), "rank1"),
             ((5, 11, 70), (3, 2, 4))]
    for shape, ks in cases:
        a = rng.standard_normal(shape).astype(dtype)
        if ks == "rank1":
            k = np.outer(gaussian(7, 1.3), gaussian(5, 0.9)).astype(dtype)
        else:
            k = rng.standard_normal(ks).astype(dtype)
        for mode in ("full", "same", "valid"):
            for boundary in ("fill", "symm"):
                y = cc.correlate(a, k, mode, boundary, fillvalue=0.5)
                assert_close(y, ref.convolve(a, k, mode, boundary, 0.5, correlate=True), k.size)
    assert _core.simd_info()["level"] == isa
