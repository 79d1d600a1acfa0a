"""SciPy's argument rules for convcore.ndimage (modes, origins, axes, output) and the calls
into the compiled primitives on C-contiguous views of the user's arrays."""
from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any, Callable, List, Sequence, Tuple

import numpy as np

from .. import _core
from .._args import is_cupy, native

try:  # NumPy >= 2
    from numpy.lib.array_utils import normalize_axis_index
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import normalize_axis_index  # type: ignore

# SciPy's filter modes; for filters the grid-* names behave as their plain twins.
MODES = ("reflect", "constant", "nearest", "mirror", "wrap",
         "grid-constant", "grid-mirror", "grid-wrap")


def as_input(input: Any) -> np.ndarray:
    """``input`` as an ndarray; CuPy arrays are refused with a pointer to CuPy's own module."""
    if is_cupy(input):
        raise TypeError("convcore.ndimage runs on NumPy arrays; for CuPy arrays use "
                        "cupyx.scipy.ndimage, which has the same functions")
    return np.asarray(input)


def check_dtype(a: np.ndarray) -> None:
    """SciPy's element types: bool, integers, float32, float64 (RuntimeError otherwise, as
    SciPy's C code raises)."""
    k, n = a.dtype.kind, a.dtype.itemsize
    if k in "biu" or (k == "f" and n in (4, 8)):
        return
    raise RuntimeError(f"array type {a.dtype!r} not supported")


def check_mode(mode: Any) -> str:
    if isinstance(mode, str) and mode in MODES:
        return mode
    raise RuntimeError(f"boundary mode not supported: mode must be one of {', '.join(MODES)}, "
                       f"got {mode!r}")


def normalize_sequence(arg: Any, rank: int) -> List[Any]:
    """A scalar (or string) repeated ``rank`` times, or a sequence of exactly ``rank`` items."""
    if isinstance(arg, str) or not isinstance(arg, Iterable):
        return [arg] * rank
    seq = list(arg)
    if len(seq) != rank:
        raise RuntimeError("sequence argument must have length equal to input rank")
    return seq


def check_axes(axes: Any, ndim: int) -> tuple:
    if axes is None:
        return tuple(range(ndim))
    if np.isscalar(axes):
        axes = (operator.index(axes),)
    elif isinstance(axes, Iterable):
        axes = tuple(operator.index(ax) for ax in axes)
        for ax in axes:
            if ax < -ndim or ax > ndim - 1:
                raise ValueError(f"specified axis: {ax} is out of range")
        axes = tuple(ax % ndim for ax in axes)
    else:
        raise ValueError("axes must be an integer, iterable of integers, or None")
    if len(set(axes)) != len(axes):
        raise ValueError("axes must be unique")
    return axes


def axis_index(axis: Any, ndim: int) -> int:
    return int(normalize_axis_index(operator.index(axis), ndim))


def invalid_origin(origin: int, lenw: int) -> bool:
    return origin < -(lenw // 2) or origin > (lenw - 1) // 2


def real_cval(cval: Any) -> float:
    if isinstance(cval, (str, bytes)) or np.iscomplexobj(cval):
        raise TypeError(f"cval must be a real number, got {cval!r}")
    return float(cval)


def get_output(output: Any, input: np.ndarray, complex_output: bool = False,
               zeros: bool = False) -> np.ndarray:
    """The array results go to: a new one of input's dtype (or the given dtype), or the
    user's array after checking its shape, as SciPy's ``output=`` rules. zeros: a new array
    starts as zeros, as SciPy's do (for the generic filters, whose user callables may leave
    it unwritten); the others write every element."""
    new = np.zeros if zeros else np.empty
    shape = input.shape
    # a Fortran-ordered input gets a Fortran-ordered result: both then run as C-ordered
    # transposes, without copies (the values are SciPy's either way)
    order = "F" if input.ndim > 1 and input.flags.f_contiguous and not input.flags.c_contiguous \
        else "C"
    if output is None:
        # native byte order, as SciPy (it allocates by dtype name)
        dt = np.promote_types(input.dtype, np.complex64) if complex_output else \
            np.dtype(input.dtype.name)
        return new(shape, dtype=dt, order=order)
    if isinstance(output, (type, np.dtype)):
        dt = np.dtype(output)
        if complex_output and dt.kind != "c":
            import warnings
            warnings.warn("promoting specified output dtype to complex", stacklevel=3)
            dt = np.promote_types(dt, np.complex64)
        return new(shape, dtype=dt, order=order)
    if isinstance(output, str):
        dt = np.dtype(output)
        if complex_output and dt.kind != "c":
            raise RuntimeError("output must have complex dtype")
        if not issubclass(dt.type, np.number):
            raise RuntimeError("output must have numeric dtype")
        return new(shape, dtype=dt, order=order)
    output = np.asarray(output)
    if output.shape != shape:
        raise RuntimeError("output shape not correct")
    if complex_output and output.dtype.kind != "c":
        raise RuntimeError("output must have complex dtype")
    return output


def run(input: np.ndarray, output: np.ndarray,
        call: Callable[[np.ndarray, np.ndarray, bool], None], flip: bool = True) -> np.ndarray:
    """call(src, dst, flipped) with src and dst C-contiguous in native byte order; flipped:
    they are the transposes of input and output (a Fortran-ordered input runs without a copy,
    the caller mirrors its axes; flip=False: copied instead). Other layouts go through one copy
    each way."""
    check_dtype(input)
    check_dtype(output)
    if not output.flags.writeable:
        raise ValueError("output array is read-only")
    src = native(input)
    flipped = False
    if flip and src.ndim > 1 and not src.flags.c_contiguous and src.flags.f_contiguous:
        src, flipped = src.T, True
    elif not src.flags.c_contiguous:
        src = np.ascontiguousarray(src)
    dst = output.T if flipped else output
    if dst.flags.c_contiguous and dst.dtype.isnative:
        call(src, dst, flipped)
    else:
        tmp = np.empty(dst.shape, dtype=dst.dtype.newbyteorder("="))
        call(src, tmp, flipped)
        dst[...] = tmp
    return output


def correlate1d_into(input: np.ndarray, weights: np.ndarray, axis: int, output: np.ndarray,
                     mode: str, cval: float, origin: int) -> np.ndarray:
    """The compiled correlate1d (weights float64, checked) from input into output."""
    nd = input.ndim
    return run(input, output, lambda s, d, f: _core._ndimage_correlate1d(
        s, weights, nd - 1 - axis if f else axis, d, mode, cval, origin))


def uniform1d_into(input: np.ndarray, size: int, axis: int, output: np.ndarray, mode: str,
                   cval: float, origin: int) -> np.ndarray:
    nd = input.ndim
    return run(input, output, lambda s, d, f: _core._ndimage_uniform_filter1d(
        s, size, nd - 1 - axis if f else axis, d, mode, cval, origin))


def correlate_into(input: np.ndarray, weights: np.ndarray, output: np.ndarray, mode: str,
                   cval: float, origins: Sequence[int]) -> np.ndarray:
    # No transposed run for a Fortran-ordered input: SciPy adds the taps in the kernel's C
    # order, which the transposed kernel's C order is not (float results 1 ulp off)
    return run(input, output, lambda s, d, f: _core._ndimage_correlate(
        s, weights, d, mode, cval, list(origins)), flip=False)


def _fused_group(input: np.ndarray, output: np.ndarray, steps: Sequence[tuple]) -> Any:
    """Indices of the passes along the last three axes (or the last two, where no pass runs
    along axis -3 or the array is 2-D) when they can run as one fused float32 sweep (float32
    C-ordered native input and output, the passes plain correlations: a step's third item
    (weights, mode, cval, origin)); else None. In float32 the passes commute up to rounding
    where each axis is extended from the image itself, so the group runs last whatever its
    place among the steps."""
    nd = output.ndim
    f32 = np.dtype(np.float32)
    if nd < 2 or input.dtype != f32 or output.dtype != f32 or input.shape != output.shape:
        return None
    if not (input.flags.c_contiguous and output.flags.c_contiguous and output.flags.writeable):
        return None
    at = {s[0]: k for k, s in enumerate(steps) if len(s) > 2}
    if len(steps) != len({s[0] for s in steps}) or nd - 2 not in at or nd - 1 not in at:
        return None
    if np.shares_memory(input, output):
        return None
    group = tuple(at[a] for a in range(nd - 3, nd) if a in at and a >= 0)
    if len(group) == 3 and len(steps[group[0]][2][0]) > 32:
        # the fused depth pass reads its taps' planes from L3: with long kernels a pass of
        # its own (column strips whose rows stay in L2) costs less, scratch array included
        group = group[1:]
    # "constant" extends each pass's result by cval, which a pass along another axis would
    # not have produced: with it, the passes commute only where SciPy runs the group last,
    # in axis order
    if group != tuple(range(len(steps) - len(group), len(steps))) and any(
            "constant" in str(s[2][1]) for s in steps if len(s) > 2):
        if len(group) == 3 and (at[nd - 2], at[nd - 1]) == (len(steps) - 2, len(steps) - 1):
            return group[1:]
        return None
    return group


def passes(input: np.ndarray, output: np.ndarray, steps: Sequence[tuple]) -> np.ndarray:
    """Runs 1-D passes (axis, step(src, dst)[, spec]) one after the other as SciPy does: each result
    stored in output's dtype, the next pass reading it. A pass along the last axis of a
    C-ordered output runs in place (the compiled ops read a whole line before writing it);
    other passes alternate between output and one scratch array, so the last lands in output
    and no scratch is allocated where in-place passes suffice (a 2-D Gaussian: none)."""
    if not steps:
        output[...] = input
        return output
    group = _fused_group(input, output, steps)
    if group is not None:
        rest = [s[:2] for k, s in enumerate(steps) if k not in group]
        src = passes(input, np.empty_like(output), rest) if rest else input
        specs = [steps[k][2] for k in group]
        if len(specs) == 2:
            specs.insert(0, (np.zeros(0), "reflect", specs[0][2], 0))
        _core._ndimage_separable(src, *(np.asarray(w, np.float64) for w, _, _, _ in specs),
                                 output, [check_mode(m) for _, m, _, _ in specs],
                                 real_cval(specs[1][2]), [int(o) for _, _, _, o in specs])
        return output
    last = output.ndim - 1
    in_place_ok = output.flags.c_contiguous and output.dtype.isnative and \
        output.dtype.kind != "c"
    scratch: List[Any] = []

    def other(buf: np.ndarray) -> np.ndarray:
        if buf is not output:
            return output
        if not scratch:
            scratch.append(np.empty_like(output))
        return scratch[0]

    # destinations from the last pass backwards
    dst = [output] * len(steps)
    for k in range(len(steps) - 1, 0, -1):
        axis = steps[k][0]
        dst[k - 1] = dst[k] if in_place_ok and axis == last else other(dst[k])
    # A float32 output of another dtype's image: SciPy computes every pass in double, so a
    # later pass, float32 in and out, must not take the float32 kernels. It runs into a
    # float64 array, then rounds into float32 as SciPy's store does.
    exact = output.dtype == np.float32 and input.dtype != np.float32
    src = input
    for k, step in enumerate(steps):
        if exact and k > 0:
            wide = np.empty(dst[k].shape, np.float64)
            step[1](src, wide)
            dst[k][...] = wide
        else:
            step[1](src, dst[k])
        src = dst[k]
    return output


# NumPy's square root of every uint8 / uint16 value, cast back (what np.sqrt(out, out,
# casting="unsafe") gives: computed in float16 / float32), by dtype
_SQRT_LUT: dict = {}


def combine_ok(output: np.ndarray) -> bool:
    """Whether the compiled gradient-magnitude / Laplace steps take this output."""
    return (output.dtype in (np.uint8, np.uint16, np.float32, np.float64)
            and output.dtype.isnative and output.flags.c_contiguous and output.flags.writeable)


def combine(output: np.ndarray, x: Any, op: int, root: bool = False) -> bool:
    """One of generic_gradient_magnitude's / generic_laplace's NumPy steps in place on output
    (op 0: output += x; 1: output = output**2 + x**2; 2: output += x**2; 3: output **= 2;
    4: none), then with root output = sqrt(output) as np.sqrt(..., casting="unsafe") gives;
    compiled and threaded. False (nothing done) where NumPy must do it: other dtypes or
    layouts, or an x that is not an array of output's dtype and shape apart from output."""
    if not combine_ok(output):
        return False
    if op <= 2 and not (isinstance(x, np.ndarray) and x.dtype == output.dtype
                        and x.shape == output.shape and x.flags.c_contiguous
                        and not np.shares_memory(x, output)):
        return False
    lut = None
    if root:
        lut = _SQRT_LUT.get(output.dtype.char)
        if lut is None:
            if output.dtype.kind == "u":
                lut = np.arange(1 << (8 * output.dtype.itemsize), dtype=output.dtype)
                np.sqrt(lut, lut, casting="unsafe")
            else:
                lut = np.zeros(1, output.dtype)  # floats: the root is computed
            _SQRT_LUT[output.dtype.char] = lut
    _core._ndimage_combine(output, x if op <= 2 else None, op, lut)
    return True
