"""convcore.ndimage's fast paths against SciPy, swept across their size thresholds at every
ISA level: the exact int32 path (small-integer images, integer weights), the certified
float32 path (8-bit images, non-integer weights, integer outputs), the float32 passes that
read the input in place (vector tails, the aligned first strip), the fused separable sweep
over the last three axes, and the compiled gradient-magnitude / Laplace steps. Every result
is compared with scipy.ndimage's: bit for bit, float32 into float32 within test_ndimage's
tolerance."""
import numpy as np
import pytest

import convcore as cc
from convcore import _core
from convcore import ndimage as nd
from test_ndimage import MODES, both, same

ndi = pytest.importorskip("scipy.ndimage")

# Output lanes of the kernels per ISA level: int32 / float32 vectors and the double ones
# (the certified path's recomputed blocks); chunks are 4 (int32) and 8 (float, double)
# vectors. The sweeps cover two chunks plus a vector plus a tail at each level.
LANES = {"scalar": (4, 2), "avx2": (8, 4), "avx512": (16, 8)}


def _lengths(isa, per_chunk):
    v32, v64 = LANES[isa]
    top = 2 * per_chunk * v32 + v32 + 3
    return sorted(set(list(range(1, 2 * v32 + 2)) + list(range(per_chunk * v32 - 2, top, 1))))


def _int_images(rng, shape):
    """Small-integer images at the ends of their ranges, and a flat one."""
    out = []
    for dt in (np.uint8, np.int8, np.uint16, np.int16):
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dt)
        a.flat[::7] = info.max
        a.flat[1::7] = info.min
        out.append(a)
    out.append(rng.random(shape) > 0.5)
    return out


@pytest.mark.parametrize("axis", [-1, 0])
def test_int_path_lengths(isa, one_thread, rng, axis):
    """Integer weights on small-integer images: exact int32 sums, every vector tail, every
    output dtype, with the weights' pairings and modes (constant with an integer cval)."""
    ws = [np.array([-1.0, 0, 1]), np.array([1.0, 2, 1]), np.arange(1.0, 8.0),
          np.array([3.0, -5, 0, 7]), np.array([1.0, -2, 1]), np.array([1.0, -1, 2, 0]),
          np.array([-1.0, 1]), np.array([-1.0, 4, -1])]
    for n in _lengths(isa, 4)[:: 2 if axis == 0 else 1]:
        shape = (3, n) if axis == -1 else (n + 2, n)
        for a in _int_images(rng, shape):
            w = ws[n % len(ws)]
            mode = MODES[n % len(MODES)]
            same(*both("correlate1d", a, w, axis=axis, mode=mode, cval=-3.0))
            same(*both("convolve1d", a, w, axis=axis, mode="constant", cval=7.0,
                       output=[np.int32, np.uint8, np.float64, np.int64][n % 4]))
            same(*both("uniform_filter1d", a, 1 + n % 33, axis=axis, mode=mode, cval=2.0))


def test_int_path_bounds_and_fallbacks(rng):
    """The int32 path's bound (max|value| * sum|weights| < 2^31) at its edge, non-integer
    cval and weights (the double path), and huge weights: SciPy's results either way."""
    a = np.full((5, 40), 65535, np.uint16)
    a[:, ::3] = 0
    big = 2 ** 31 // 65535  # sum |w| at the bound
    for w in ([big, 0.0, 0.0], [big + 1, 0.0, 0.0], [big // 2, -(big // 2) - 1, 1.0],
              [1e12, 1.0, -1e12], [0.5, 1.0, 0.5], [0.0, 0.0, 0.0]):
        for out in (np.int32, np.uint32, np.int64, np.uint64, np.uint16, np.float64):
            same(*both("correlate1d", a, np.array(w, float), output=out))
    s = np.full((4, 30), -32768, np.int16)
    same(*both("correlate1d", s, [1.0, 1.0, 1.0], output=np.int16))
    same(*both("correlate1d", s, [1.0, 1.0, 1.0], mode="constant", cval=2.5))
    same(*both("correlate1d", s, [1.0, 1.0, 1.0], mode="constant", cval=3e9))
    u = rng.integers(0, 256, (6, 50)).astype(np.uint8)
    for size in (1, 2, 31, 32, 33, 60):
        same(*both("uniform_filter1d", u, size, mode="constant", cval=1.5))
        same(*both("uniform_filter1d", u, size, mode="constant", cval=-4.0, output=np.float32))
    same(*both("correlate", u, np.array([[1.0, 2.0], [-3.0, 4.0]]), mode="constant", cval=9.0))
    same(*both("sobel", u.astype(np.int8), output=np.int16))


def _cert_images(rng, shape):
    """8-bit images whose Gaussian results land near integers (flat, ramps, zeros) or not
    (noise), and mixtures of both in one row band."""
    n = int(np.prod(shape))
    noise = rng.integers(0, 256, n)
    flat = np.full(n, 200)
    ramp = np.arange(n) % 256
    mixed = np.where((np.arange(n) // 37) % 2 == 0, noise, 100)
    out = [x.reshape(shape).astype(np.uint8) for x in (noise, flat, ramp, mixed)]
    out.append(np.zeros(shape, np.uint8))
    out.append((noise.reshape(shape) - 128).astype(np.int8))
    out.append(noise.reshape(shape) > 128)
    return out


@pytest.mark.parametrize("axis", [-1, 0])
def test_certified_path_lengths(isa, one_thread, rng, axis):
    """Non-integer weights on 8-bit images into integer outputs: float32 lanes certified to
    truncate as SciPy's double, or recomputed; every tail; symmetric, antisymmetric and
    general weights; flat regions (recomputed), noise (certified) and both in one band."""
    ws = [ndi._filters._gaussian_kernel1d(1.5, 0, 5)[::-1],
          ndi._filters._gaussian_kernel1d(1.0, 1, 4)[::-1],
          ndi._filters._gaussian_kernel1d(2.0, 2, 8)[::-1],
          np.array([0.3, 0.5, -0.2, 0.4]), np.array([1 / 3] * 3)]
    for n in _lengths(isa, 8)[:: 3 if axis == 0 else 1]:
        shape = (4, n) if axis == -1 else (n + 3, max(n // 2, 1))
        for k, a in enumerate(_cert_images(rng, shape)):
            w = ws[(n + k) % len(ws)]
            mode = MODES[(n + k) % len(MODES)]
            same(*both("correlate1d", a, w, axis=axis, mode=mode, cval=2.5))
            same(*both("correlate1d", a, w, axis=axis, mode="constant", cval=0.1))  # double
            same(*both("correlate1d", a, w, axis=axis,
                       output=[np.uint8, np.int16, np.int32, np.uint64][n % 4]))


def test_certified_path_images(threads, rng):
    """The certified path on larger images at 1 and 2 threads: Gaussians of flat, noisy and
    mixed 8-bit images (items switch to double and back), derivatives, the Laplace and the
    gradient magnitude."""
    for a in _cert_images(rng, (150, 257)):
        for s in (0.8, 2.0, 5.0):
            same(*both("gaussian_filter", a, s))
        same(*both("gaussian_filter1d", a, 3.0, axis=0, order=1))
        same(*both("gaussian_laplace", a, 1.5))
        same(*both("gaussian_gradient_magnitude", a, 1.2))
    big = np.zeros((64, 20000), np.uint8)
    big[:, ::5] = 255
    same(*both("gaussian_filter1d", big, 4.0))  # segments of 8192 along a line


@pytest.mark.parametrize("K", [1, 2, 3, 7, 17])
def test_float32_lines(isa, one_thread, rng, K):
    """float32 correlate1d along the last axis, read in place: interior and ends, short and
    long lines, every vector tail, in place and not."""
    w = rng.standard_normal(K)
    for n in _lengths(isa, 8):
        a = (rng.standard_normal((3, n)) * 10).astype(np.float32)
        mode = MODES[n % len(MODES)]
        origin = int(n % K) - K // 2 if K > 1 else 0
        same(*both("correlate1d", a, w, mode=mode, cval=1.5, origin=origin))
        b = a.copy()
        nd.correlate1d(b, w, output=b, mode=mode, cval=1.5, origin=origin)
        same(b, ndi.correlate1d(a, w, mode=mode, cval=1.5, origin=origin))
    long = (rng.standard_normal((2, 3000)) * 10).astype(np.float32)
    same(*both("correlate1d", long, w, mode="wrap"))


# lincomb_rows (float32 correlate1d across rows of at least 512 columns whose taps' rows
# outgrow L1: (K + 3) x columns x 4 bytes > 24 KiB, ops/ndimage.hpp rows_by_blocks): blocks
# of 4 output rows, chunks of 2 (avx512) or 1 vector of columns, lincomb's pairings
# (symmetric, antisymmetric, general weights)
ROW_BLOCK = 4
ROW_CHUNK_VECTORS = {"scalar": 1, "avx2": 1, "avx512": 2}


def _rows_width(K):
    """The first multiple of 64 columns at which a K-tap pass runs by row blocks."""
    return max(512, (24 * 1024 // (4 * (K + 3)) // 64 + 1) * 64)


@pytest.mark.parametrize("K", [1, 2, 3, 6, 7, 17])
def test_float32_row_blocks(isa, one_thread, rng, K):
    """float32 correlate1d across rows (axis 0 of 2-D, 3-D), by row blocks and row by row:
    every count of output rows around the 4-row blocks crossed with every column count up to
    two chunks, a vector and a tail past the width where row blocks begin (sampled for the
    band ends: bands of 256 rows), and just below that width; to the bit the pass along the
    last axis. The fused sweep's vertical pass (row by row: 256-column strips) alongside."""
    v32 = LANES[isa][0]
    tails = list(range(0, 2 * ROW_CHUNK_VECTORS[isa] * v32 + v32 + 3))
    base = _rows_width(K)
    w = rng.standard_normal(K)
    if K % 2:
        w = [w, w + w[::-1], w - w[::-1]][K % 3]
    rows = list(range(1, 3 * ROW_BLOCK + 2)) + [31, 33, 255, 257, 262]
    for i, n in enumerate(rows):
        widths = [base + c for c in tails if base + c > 0]
        if n > 40:
            widths = widths[i % 4::4]
        widths.append(max(1, base - 1 - i))  # row by row
        for c in widths:
            a = (rng.standard_normal((n, c)) * 10).astype(np.float32)
            mode = MODES[(n + c) % len(MODES)]
            origin = int((n + c) % K) - K // 2 if K > 1 else 0
            kw = dict(mode=mode, cval=1.5, origin=origin)
            same(*both("correlate1d", a, w, axis=0, **kw))
            # the same arithmetic as the pass along the last axis, to the bit
            np.testing.assert_array_equal(
                nd.correlate1d(a, w, axis=0, **kw),
                nd.correlate1d(np.ascontiguousarray(a.T), w, axis=1, **kw).T)
    for width in (1, 33, 300, 2100):
        a = (rng.standard_normal((37, width)) * 10).astype(np.float32)
        same(*both("gaussian_filter", a, [min(K / 4 + 0.3, 12.0), 0.7], mode=MODES[width % 5],
                   cval=-1.0))
    v = (rng.standard_normal((6, 7, 600)) * 10).astype(np.float32)
    for axis in (0, 1):
        same(*both("correlate1d", v, w, axis=axis, mode="mirror"))
    same(*both("gaussian_filter", v, min(K / 4 + 0.3, 12.0), mode="wrap"))


def _misaligned(rng, shape, shift):
    """A C-contiguous float32 array starting `shift` floats past a 64-byte boundary."""
    n = int(np.prod(shape))
    buf = np.empty(n + 32, np.float32)
    start = (-buf.ctypes.data // 4) % 16 + shift
    a = buf[start:start + n].reshape(shape)
    a[...] = rng.standard_normal(shape) * 10
    return a


def test_float32_columns_aligned_strips(isa, one_thread, rng):
    """float32 passes along other axes read input rows in place in strips of up to 1024
    columns, the first ending at a 64-byte line start: rows of 16k floats at every
    misalignment, and widths around the strip size."""
    w = rng.standard_normal(5)
    for shift in range(16):
        for width in (16, 48, 1040):
            a = _misaligned(rng, (9, width), shift)
            mode = MODES[shift % len(MODES)]
            same(*both("correlate1d", a, w, axis=0, mode=mode, cval=-2.0))
            same(*both("gaussian_filter", a, 1.5, mode=mode))
            same(*both("sobel", a, axis=1))
    for width in (1023, 1024, 1025, 2049):
        a = _misaligned(rng, (5, width), 3)
        same(*both("correlate1d", a, w, axis=0))


def test_fused_volumes(threads, rng):
    """The fused sweep over the last three axes: volumes of several shapes and layouts, every
    mode, origins, a 4-d array, misaligned rows; with "constant" the passes fuse only in
    SciPy's order (sobel along the last axis does not)."""
    shapes = [(7, 9, 33), (3, 40, 16), (1, 5, 5), (20, 3, 70), (2, 3, 4, 18)]
    for shape in shapes:
        a = (rng.standard_normal(shape) * 10).astype(np.float32)
        for mode in MODES:
            same(*both("gaussian_filter", a, 1.3, mode=mode, cval=2.0))
            same(*both("uniform_filter", a, [3, 4, 2, 5][-len(shape):], mode=mode, cval=-1.0,
                       origin=[0, 1, -1, 0][-len(shape):]))
            same(*both("sobel", a, axis=-1, mode=mode, cval=3.0))
            same(*both("prewitt", a, axis=0, mode=mode))
        same(*both("gaussian_filter", a, [2.0, 0.5, 1.0, 3.0][-len(shape):],
                   mode=["wrap", "constant", "mirror", "nearest"][-len(shape):]))
        same(*both("gaussian_laplace", a, 1.0))
        same(*both("gaussian_gradient_magnitude", a, 1.0, mode="nearest"))
        # a depth kernel over 32 taps runs as a pass of its own before the fused pair
        same(*both("gaussian_filter", a, [4.5, 1.0, 0.7, 0.5][-len(shape):], mode="mirror"))
        same(*both("gaussian_filter", a, [0.5, 4.5, 1.0, 0.7][-len(shape):], mode="constant"))
    v = _misaligned(rng, (6, 10, 32), 5)
    same(*both("gaussian_filter", v, 2.0))
    same(*both("gaussian_filter", v, 2.0, output=np.float64))  # SciPy's double passes


def _alike(ours, ref):
    """The same result, or an exception of the same type."""
    try:
        r = ref()
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        with pytest.raises(type(e)):
            ours()
        return
    same(ours(), r)


def test_gradient_and_laplace_steps(rng):
    """generic_gradient_magnitude's and generic_laplace's steps compiled: uint8 / uint16
    square roots from NumPy's table, float32 / float64 IEEE; 1 to 3 axes; output arrays,
    other dtypes and an in-place call (NumPy's steps)."""
    def d1(x, axis, output, mode, cval):
        return nd.correlate1d(x, [-1.0, 0.0, 1.0], axis, output, mode, cval)

    def d1s(x, axis, output, mode, cval):
        return ndi.correlate1d(x, [-1.0, 0.0, 1.0], axis, output, mode, cval)

    def other(x, axis, output, mode, cval):  # returns another dtype than asked for
        return nd.correlate1d(x, [-1.0, 0.0, 1.0], axis, np.float64, mode, cval)

    def others(x, axis, output, mode, cval):
        return ndi.correlate1d(x, [-1.0, 0.0, 1.0], axis, np.float64, mode, cval)

    for shape in [(40,), (13, 37), (5, 6, 7)]:
        for dt in (np.uint8, np.uint16, np.float32, np.float64, np.int16):
            a = (rng.random(shape) * 300).astype(dt)
            same(nd.generic_gradient_magnitude(a, d1), ndi.generic_gradient_magnitude(a, d1s))
            same(nd.generic_laplace(a, d1), ndi.generic_laplace(a, d1s))
            same(nd.generic_gradient_magnitude(a, d1, axes=(0,)),
                 ndi.generic_gradient_magnitude(a, d1s, axes=(0,)))
            o1, o2 = np.zeros(shape, np.float32, order="F"), np.zeros(shape, np.float32, order="F")
            nd.generic_gradient_magnitude(a, d1, output=o1)
            ndi.generic_gradient_magnitude(a, d1s, output=o2)
            same(o1, o2)
            _alike(lambda: nd.generic_gradient_magnitude(a, other),
                   lambda: ndi.generic_gradient_magnitude(a, others))
            _alike(lambda: nd.generic_laplace(a, other), lambda: ndi.generic_laplace(a, others))
            b1, b2 = a.copy(), a.copy()
            nd.generic_gradient_magnitude(b1, d1, output=b1)
            ndi.generic_gradient_magnitude(b2, d1s, output=b2)
            same(b1, b2)
    u = rng.integers(0, 65536, (50, 60)).astype(np.uint16)
    same(*both("gaussian_gradient_magnitude", u, 1.5))
    same(*both("gaussian_laplace", u, 1.5))


def test_compiled_steps_refuse_bad_arguments():
    o = np.zeros(5, np.uint8)
    with pytest.raises(TypeError, match="output"):
        _core._ndimage_combine(np.zeros(5, np.int32), None, 3, None)
    with pytest.raises(ValueError, match="x must"):
        _core._ndimage_combine(o, np.zeros(4, np.uint8), 0, None)
    with pytest.raises(ValueError, match="op"):
        _core._ndimage_combine(o, None, 7, None)
    with pytest.raises(ValueError, match="lut"):
        _core._ndimage_combine(o, None, 4, np.zeros(10, np.uint8))
    with pytest.raises(TypeError, match="float32"):
        _core._ndimage_separable(o, np.zeros(0), np.ones(3), np.ones(3), o,
                                 ["reflect"] * 3, 0.0, [0, 0, 0])
    cc.set_num_threads(0)
