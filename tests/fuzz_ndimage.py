"""convcore.ndimage against scipy.ndimage itself (tests/test_fuzz.py, ``test_fuzz_ndimage``):
Hypothesis draws a call of one of SciPy's filters (every mode, cval, origin in and out of its
range, axes, size / sigma / order / truncate / radius, output as a dtype, rank 1-3 with axes of
1 to 9 values, kernels larger than the image, integer, bool and float images in C, Fortran and
reversed layouts) and both libraries run it. Where SciPy raises, convcore must raise the same
type; where SciPy returns, convcore must return the same dtype and shape and SciPy's values:
to the bit, except for a float32 image filtered into float32, which convcore computes in
float32 (within 16 float32 epsilons of the largest magnitude per pass). A description carries
``"scipy": 1``; the crash-isolating worker of tests/fuzz_ops.py runs it.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from fuzz_ops import A, bit_difference

MODES = ("reflect", "constant", "nearest", "mirror", "wrap", "grid-constant", "grid-mirror",
         "grid-wrap")
DTYPES = ("u1", "u2", "i1", "i2", "i4", "u4", "i8", "f4", "f8", "?", ">f8", ">i2")
FUNCTIONS = ("correlate1d", "convolve1d", "correlate", "convolve", "uniform_filter1d",
             "uniform_filter", "gaussian_filter1d", "gaussian_filter", "sobel", "prewitt",
             "laplace", "gaussian_laplace", "gaussian_gradient_magnitude")


@st.composite
def calls(draw, name):
    nd = draw(st.integers(1, 3))
    shape = draw(st.lists(st.integers(0 if draw(st.integers(0, 9)) == 0 else 1, 9),
                          min_size=nd, max_size=nd))
    dt = draw(st.sampled_from(DTYPES))
    x = A(shape, dt, draw(st.integers(0, 2**20)), draw(st.sampled_from(["c", "f", "neg"])),
          "i" if np.dtype(dt).kind in "iu" else "n")
    kw = {"mode": draw(st.sampled_from(MODES))}
    if draw(st.booleans()):
        kw["cval"] = draw(st.sampled_from([0.0, 1.5, -2.0, 7]))
    if draw(st.integers(0, 3)) == 0:
        kw["output"] = draw(st.sampled_from(["f8", "f4", "i4", "u1", "i2", "i8", "u2"]))
    per_axis_modes = draw(st.integers(0, 4)) == 0
    axis = draw(st.integers(-nd, nd - 1))
    args = [x]

    def origin(n):  # mostly inside SciPy's range, sometimes just outside
        return draw(st.integers(-(n // 2) - 1, (n - 1) // 2 + 1))

    if name in ("correlate1d", "convolve1d"):
        n = draw(st.integers(1, 6))
        wdt = draw(st.sampled_from(["f8", "i4"]))
        args.append(A([n], wdt, draw(st.integers(0, 2**20)), "c", "i" if wdt == "i4" else "n"))
        kw.update(axis=axis, origin=origin(n))
    elif name in ("correlate", "convolve"):
        ks = draw(st.lists(st.integers(1, 4), min_size=nd, max_size=nd))
        wdt = draw(st.sampled_from(["f8", "i4", "f4"]))
        # (integer weights are small and often 0: SciPy leaves zero weights out of the sum)
        args.append(A(ks, wdt, draw(st.integers(0, 2**20)), "c", "i" if wdt == "i4" else "n"))
        if draw(st.booleans()):
            kw["origin"] = [origin(k) for k in ks]
        else:
            kw["origin"] = origin(min(ks))
    elif name == "uniform_filter1d":
        n = draw(st.integers(1, 6))
        kw.update(size=n, axis=axis, origin=origin(n))
    elif name == "uniform_filter":
        sizes = draw(st.lists(st.integers(1, 5), min_size=nd, max_size=nd))
        kw.update(size=sizes if draw(st.booleans()) else sizes[0], origin=origin(min(sizes)))
        if per_axis_modes:
            kw["mode"] = [draw(st.sampled_from(MODES)) for _ in range(nd)]
    elif name in ("gaussian_filter1d", "gaussian_filter"):
        sigma = draw(st.sampled_from([0.5, 1.0, 1.7, 3.0]))
        kw["sigma"] = sigma
        kw["order"] = draw(st.integers(0, 2))
        if draw(st.booleans()):
            kw["truncate"] = draw(st.sampled_from([1.0, 2.5, 4.0]))
        elif draw(st.booleans()):
            kw["radius"] = draw(st.integers(0, 5))
        if name == "gaussian_filter1d":
            kw["axis"] = axis
        elif per_axis_modes:
            kw["mode"] = [draw(st.sampled_from(MODES)) for _ in range(nd)]
        elif nd > 1 and draw(st.booleans()):
            kw["axes"] = tuple(sorted(set(draw(st.lists(st.integers(0, nd - 1), min_size=1,
                                                        max_size=nd)))))
    elif name in ("sobel", "prewitt"):
        kw["axis"] = axis
    elif name in ("gaussian_laplace", "gaussian_gradient_magnitude"):
        kw["sigma"] = draw(st.sampled_from([0.5, 1.0, 2.0]))
    return {"op": "ndimage." + name, "args": args, "kwargs": kw, "expect": "any", "scipy": 1}


def check_scipy(desc, fn, args, kwargs, same, snap):
    """None when convcore.ndimage behaves as scipy.ndimage on this call, else a message."""
    import scipy.ndimage as ndi

    if "output" in kwargs:
        kwargs = dict(kwargs, output=np.dtype(kwargs["output"]))
    ref = getattr(ndi, desc["op"].split(".", 1)[1])
    try:
        expected = ref(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - SciPy's error is the contract
        want = type(e)
        try:
            fn(*args, **kwargs)
        except want:
            return None
        except BaseException as got:  # noqa: BLE001
            return f"SciPy raises {want.__name__} ({str(e)[:100]}), convcore {type(got).__name__}: {str(got)[:200]}"
        return f"SciPy raises {want.__name__} ({str(e)[:150]}), convcore returns"
    before = snap((args, kwargs))
    try:
        got = fn(*args, **kwargs)
    except BaseException as e:  # noqa: BLE001
        return f"SciPy returns, convcore raises {type(e).__name__}: {str(e)[:300]}"
    if not same(before, snap((args, kwargs))):
        return "modified its inputs (an argument differs after the call)"
    got, expected = np.asarray(got), np.asarray(expected)
    if got.dtype != expected.dtype or got.shape != expected.shape:
        return f"{got.dtype}{list(got.shape)}, SciPy {expected.dtype}{list(expected.shape)}"
    x = np.asarray(args[0])
    if x.dtype == np.float32 and expected.dtype == np.float32:
        err = np.abs(got.astype(np.float64) - expected)
        both = np.isfinite(err)
        scale = max(1.0, float(np.max(np.abs(expected[both]), initial=0.0)))
        passes = 4 if "gaussian_gradient" in desc["op"] or "laplace" in desc["op"] else 3
        tol = 16 * passes * np.finfo(np.float32).eps * scale
        if not np.array_equal(np.isnan(got), np.isnan(expected)) or \
                float(np.max(err[both], initial=0.0)) > tol:
            return f"float32: max difference {float(np.max(err[both], initial=0.0)):.3g} > {tol:.3g}"
        return None
    return bit_difference(got, expected, "against SciPy")
