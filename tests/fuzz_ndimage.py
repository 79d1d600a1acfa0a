"""convcore.ndimage against scipy.ndimage itself (tests/test_fuzz.py, ``test_fuzz_ndimage``):
Hypothesis draws a call of one of SciPy's filters (every mode, cval, origin in and out of its
range, axes, size / sigma / order / truncate / radius, output as a dtype or as an array (C,
Fortran, reversed or strided, the input itself, read-only, the wrong shape), rank 1-3 with axes
of 1 to 9 values, kernels larger than the image, integer, bool and float images in C, Fortran
and reversed layouts; for the generic filters, SciPy's and convcore's own derivatives, a
correlate1d or Gaussian taking extra_arguments / extra_keywords, and a callable that ignores
the output it is given) and both libraries run it. Where SciPy raises, convcore must raise the
same type; where SciPy returns, convcore must return the same dtype and shape and SciPy's
values: to the bit, except for a float32 image filtered into float32, which convcore computes
in float32 (within 16 float32 epsilons of the largest magnitude per pass). A description
carries ``"scipy": 1``; the crash-isolating worker of tests/fuzz_ops.py runs it.

With ``"dask": seed`` as well (``test_fuzz_ndimage_dask``), the call runs a second time with the
image as a Dask array in random irregular chunks (tests/fuzz_dask.py's ``random_chunks``). The
result must be a lazy Dask array with the image's chunks and convcore's in-memory result, to
the bit but for two roundings: float32 into float32 within its rounding, as against SciPy (the
order of a float32 sum may follow the layout, and a block's window is C-ordered), and a float64
uniform filter within rounding (SciPy's running sum starts at each block's window). An argument
the in-memory call refuses must be refused at the call with the same exception type, and an
output array is a TypeError.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from fuzz_dask import random_chunks
from fuzz_ops import A, bit_difference

MODES = ("reflect", "constant", "nearest", "mirror", "wrap", "grid-constant", "grid-mirror",
         "grid-wrap")
DTYPES = ("u1", "u2", "i1", "i2", "i4", "u4", "i8", "f4", "f8", "?", ">f8", ">i2")
FUNCTIONS = ("correlate1d", "convolve1d", "correlate", "convolve", "uniform_filter1d",
             "uniform_filter", "gaussian_filter1d", "gaussian_filter", "sobel", "prewitt",
             "laplace", "gaussian_laplace", "gaussian_gradient_magnitude",
             "generic_gradient_magnitude", "generic_laplace")
OUT_DTYPES = ("f8", "f4", "i4", "u1", "i2", "i8", "u2")
# an output array: its layout, or the input itself, a read-only one, one of the wrong shape
OUT_LAYOUTS = ("c", "f", "neg", "step", "input", "readonly", "shape")
# the generic filters' callables by name (built per library by _callback)
DERIVATIVES = ("sobel", "prewitt", "correlate1d", "gaussian", "ignores_output")
DERIVATIVES2 = ("correlate1d", "gaussian", "ignores_output")


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
    out_kind = draw(st.integers(0, 5))
    if out_kind == 0:
        kw["output"] = draw(st.sampled_from(OUT_DTYPES))
    elif out_kind == 1:  # an array, built per library by _output_array
        lay = draw(st.sampled_from(OUT_LAYOUTS))
        kw["output"] = ["array", dt if lay == "input" else draw(st.sampled_from(OUT_DTYPES)), lay]
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
    elif name in ("generic_gradient_magnitude", "generic_laplace"):
        d = draw(st.sampled_from(DERIVATIVES if name == "generic_gradient_magnitude"
                                 else DERIVATIVES2))
        args.append(d)
        if d == "correlate1d":
            kw["extra_arguments"] = [draw(st.sampled_from([[-1, 0, 1], [1, -2, 1], [0.5, -1.5]]))]
        elif d == "gaussian":
            kw["extra_arguments"] = [draw(st.sampled_from([0.7, 1.5]))]
            if draw(st.booleans()):
                kw["extra_keywords"] = {"truncate": draw(st.sampled_from([1.0, 3.0]))}
        if per_axis_modes:
            kw["mode"] = [draw(st.sampled_from(MODES)) for _ in range(nd)]
        if nd > 1 and draw(st.booleans()):
            kw["axes"] = tuple(sorted(set(draw(st.lists(st.integers(0, nd - 1), min_size=1,
                                                        max_size=nd)))))
    return {"op": "ndimage." + name, "args": args, "kwargs": kw, "expect": "any", "scipy": 1}


def _callback(lib, name, order):
    """The generic filters' callable ``name`` built on ``lib`` (scipy.ndimage or
    convcore.ndimage), called as SciPy calls it: (input, axis, output, mode, cval, *extra_arguments,
    **extra_keywords); ``order``: the Gaussian's derivative order."""
    if name in ("sobel", "prewitt"):
        return getattr(lib, name)
    if name == "correlate1d":
        return lambda a, axis, out, mode, cval, w: lib.correlate1d(a, w, axis, out, mode, cval)
    if name == "gaussian":
        return lambda a, axis, out, mode, cval, sigma, **kw: lib.gaussian_filter1d(
            a, sigma, axis, order, out, mode, cval, **kw)
    # returns a new array and leaves the one it is given as SciPy made it
    return lambda a, axis, out, mode, cval: lib.sobel(a, axis, None, mode, cval)


def _output_array(spec, x):
    """(input, output) for an output given as ["array", dtype, layout]: a fresh array per
    library, filled with 7 (so that an element left unwritten shows), and for "input" a copy of
    the input that is also the output."""
    _, dt, lay = spec
    shape = x.shape
    if lay == "shape":
        shape = (shape[0] + 1,) + shape[1:] if shape else (2,)
    if lay == "input":
        x = x.copy(order="K")
        return x, x
    if lay == "step":
        out = np.full(shape[:-1] + (2 * shape[-1],), 7, dt)[..., ::2] if shape else \
            np.full(shape, 7, dt)
    else:
        out = np.full(shape, 7, dt, order="F" if lay == "f" else "C")
    if lay == "neg":
        out = np.flip(out)
    if lay == "readonly":
        out.flags.writeable = False
    return x, out


def _run(f, args, kwargs):
    """f's result, and the output array it was given (None for a dtype or none)."""
    out = kwargs.get("output")
    if isinstance(out, list):
        x, out = _output_array(out, args[0])
        args, kwargs = [x] + list(args[1:]), dict(kwargs, output=out)
    elif out is not None:
        kwargs = dict(kwargs, output=np.dtype(out))
        out = None
    return f(*args, **kwargs), out


def check_dask(desc, fn, args, kwargs, close):
    """None when convcore.ndimage on a chunked Dask image behaves as on the NumPy image."""
    import dask
    import dask.array as da

    from convcore import ndimage as cnd

    name = desc["op"].split(".", 1)[1]
    args = list(args)
    if name.startswith("generic_"):
        args[1] = _callback(cnd, args[1], 1 if name == "generic_gradient_magnitude" else 2)
    x = np.asarray(args[0])
    chunks = random_chunks(x.shape, desc["dask"])
    dx = da.from_array(x, chunks=chunks)
    what = f"Dask image, chunks {chunks}"
    if isinstance(kwargs.get("output"), list):  # an output array: refused for a lazy result
        _, out = _output_array(kwargs["output"], x)
        try:
            fn(dx, *args[1:], **dict(kwargs, output=out))
        except TypeError:
            return None
        except BaseException as e:  # noqa: BLE001
            return f"{what}, output array: {type(e).__name__} ({str(e)[:200]}), not TypeError"
        return f"{what}, output array: accepted"
    try:
        expected, _ = _run(fn, args, kwargs)
    except Exception as e:  # noqa: BLE001 - refused in memory: refused at the Dask call too
        try:
            _run(fn, [dx] + args[1:], kwargs)
        except type(e):
            return None
        except BaseException as got:  # noqa: BLE001
            return (f"{what}: in memory {type(e).__name__}, Dask {type(got).__name__}: "
                    f"{str(got)[:200]}")
        return f"{what}: in memory {type(e).__name__} ({str(e)[:150]}), the Dask call returns"
    try:
        with dask.config.set(scheduler="sync"):
            lazy, _ = _run(fn, [dx] + args[1:], kwargs)
            if not isinstance(lazy, da.Array):
                return f"{what}: returned {type(lazy).__name__}, not a Dask array"
            if lazy.chunks != dx.chunks:
                return f"{what}: result chunks {lazy.chunks}"
            got = lazy.compute()
    except BaseException as e:  # noqa: BLE001
        return f"{what}: raised {type(e).__name__}: {str(e)[:300]}"
    expected, got = np.asarray(expected), np.asarray(got)
    if got.shape != expected.shape or got.dtype != expected.dtype:
        return (f"{what}: {got.dtype}{list(got.shape)}, in memory "
                f"{expected.dtype}{list(expected.shape)}")
    if name.startswith("uniform") and expected.dtype == np.float64:
        close(got, expected, reduction=64, what=what)
        return None
    if x.dtype == np.float32 and expected.dtype == np.float32:
        # float32 into float32 is computed in float32, in an order that may follow the
        # array's layout (a block's window is C-ordered): within the same rounding
        return _float32_difference(got, expected, desc["op"])
    return bit_difference(got, expected, f"{what}, against memory")


def check_scipy(desc, fn, args, kwargs, same, snap, close=None):
    """None when convcore.ndimage behaves as scipy.ndimage on this call, else a message
    (with ``"dask"`` in desc: as convcore.ndimage on the NumPy image, ``check_dask``)."""
    import scipy.ndimage as ndi

    from convcore import ndimage as cnd

    if "dask" in desc:
        return check_dask(desc, fn, args, kwargs, close)
    name = desc["op"].split(".", 1)[1]
    ref = getattr(ndi, name)
    ref_args = list(args)
    if name.startswith("generic_"):
        order = 1 if name == "generic_gradient_magnitude" else 2
        ref_args[1] = _callback(ndi, args[1], order)
        args = list(args)
        args[1] = _callback(cnd, args[1], order)
    try:
        expected, ref_out = _run(ref, ref_args, kwargs)
    except Exception as e:  # noqa: BLE001 - SciPy's error is the contract
        want = type(e)
        try:
            _run(fn, args, kwargs)
        except want:
            return None
        except BaseException as got:  # noqa: BLE001
            return f"SciPy raises {want.__name__} ({str(e)[:100]}), convcore {type(got).__name__}: {str(got)[:200]}"
        return f"SciPy raises {want.__name__} ({str(e)[:150]}), convcore returns"
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    before = snap(arrays)
    try:
        got, out = _run(fn, args, kwargs)
    except BaseException as e:  # noqa: BLE001
        return f"SciPy returns, convcore raises {type(e).__name__}: {str(e)[:300]}"
    if not same(before, snap(arrays)):
        return "modified its inputs (an argument differs after the call)"
    if (ref_out is not None and expected is ref_out) != (out is not None and got is out):
        return "SciPy returns the output array it was given, convcore another object" \
            if expected is ref_out else "convcore returns the output array, SciPy another object"
    got, expected = np.asarray(got), np.asarray(expected)
    if got.dtype != expected.dtype or got.shape != expected.shape:
        return f"{got.dtype}{list(got.shape)}, SciPy {expected.dtype}{list(expected.shape)}"
    if np.asarray(args[0]).dtype == np.float32 and (
            expected.dtype == np.float32 or name.startswith("generic_")):
        # (a generic filter's callable may return a float32 array whatever the output: its
        # sum is then within float32 rounding too)
        return _float32_difference(got, expected, desc["op"])
    return bit_difference(got, expected, "against SciPy")


def _float32_difference(got, expected, op):
    """None when a float32 result computed in float32 (``got``) is within the rounding of
    its passes of ``expected`` (16 float32 epsilons of the largest magnitude per pass)."""
    err = np.abs(got.astype(np.float64) - expected)
    both = np.isfinite(err)
    scale = max(1.0, float(np.max(np.abs(expected[both]), initial=0.0)))
    passes = 4 if "gradient" in op or "laplace" in op else 3
    tol = 16 * passes * np.finfo(np.float32).eps * scale
    if not np.array_equal(np.isnan(got), np.isnan(expected)) or \
            float(np.max(err[both], initial=0.0)) > tol:
        return f"float32: max difference {float(np.max(err[both], initial=0.0)):.3g} > {tol:.3g}"
    return None
