"""Normalisation of user arguments: the one place where ints, tuples and strings become the
per-dimension lists the C++ core takes. Validation of values (ranges, shapes) is the C++ ops'
job; this module only fixes forms and names the parameter when a form is wrong."""
from __future__ import annotations

import numbers
import operator
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from . import _core

ACTIVATIONS = (None, "relu", "relu6", "sigmoid", "tanh", "gelu")


def is_cupy(a: Any) -> bool:
    """True for a cupy.ndarray, without importing CuPy."""
    t = type(a)
    if t is np.ndarray:  # the common case, without the string work (this is per call)
        return False
    return t.__module__.split(".")[0] == "cupy"


def is_dask(a: Any) -> bool:
    """True for a dask.array.Array, without importing Dask."""
    t = type(a)
    return t is not np.ndarray and t.__module__.startswith("dask.array") and hasattr(a, "chunks")


# The parameters a Dask array may be passed for: the chunked data. Weights, biases and kernels
# are small and read by every block: they must be NumPy (or CuPy) arrays.
DASK_ARRAYS = frozenset({"x", "a", "in1", "offset", "mask"})


def _dask_on_gpu(a: Any) -> bool:
    return is_cupy(getattr(a, "_meta", None))


# Array parameters that may be None (absent); every other array parameter is required.
OPTIONAL_ARRAYS = frozenset({"bias", "mask", "b1", "b2", "b_depthwise", "b_pointwise"})

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def native(a: np.ndarray) -> np.ndarray:
    """``a`` itself when its byte order is native (or irrelevant), else one C-contiguous copy
    in native byte order (``">f4"`` on a little-endian machine becomes ``float32``). The
    values are unchanged; the result (and hence every op's output) is native order."""
    if a.dtype.isnative:
        return a
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))


def arrays(**named: Any) -> List[Any]:
    """The arguments as arrays (NumPy or CuPy, never mixed); None stays None where the
    parameter is optional (``OPTIONAL_ARRAYS``) and is a TypeError naming it otherwise.

    Array-likes (lists, scalars) become NumPy arrays; NumPy arrays in non-native byte order
    become one native-order copy (:func:`native`). Nothing the caller passed is modified.
    Mixing CuPy and NumPy arrays is a TypeError that names both parameters."""
    out, kinds = [], {}
    for name, a in named.items():
        if a is None:
            if name not in OPTIONAL_ARRAYS:
                raise TypeError(f"{name} must be an array, got None")
            out.append(None)
            continue
        if is_dask(a):
            if name not in DASK_ARRAYS:
                raise TypeError(f"{name} is a Dask array: only the data (x) may be chunked; pass "
                                f"{name} as a NumPy or CuPy array ({name}.compute() makes one)")
            kinds[name] = _dask_on_gpu(a)
            out.append(a)
            continue
        on_gpu = is_cupy(a)
        if not on_gpu:
            if type(a) is not np.ndarray:
                try:
                    a = np.asarray(a)
                except (TypeError, ValueError) as e:
                    raise type(e)(f"{name} must be an array or array-like, got "
                                  f"{type(a).__name__}: {e}") from None
            if a.dtype.kind == "O" and a.ndim == 0:  # not an array-like at all (object(), dict)
                raise TypeError(f"{name} must be an array, got {type(named[name]).__name__}")
            if a.dtype.kind in "USVMm":  # text, records, dates: never numbers here
                raise TypeError(f"{name} must be an array of numbers, got dtype {a.dtype}")
            if not a.dtype.isnative:
                a = native(a)
        kinds[name] = on_gpu
        out.append(a)
    if len(set(kinds.values())) > 1:
        gpu = [n for n, k in kinds.items() if k]
        cpu = [n for n, k in kinds.items() if not k]
        raise TypeError(f"{', '.join(gpu)} {'is a' if len(gpu) == 1 else 'are'} CuPy array(s) but "
                        f"{', '.join(cpu)} {'is' if len(cpu) == 1 else 'are'} not: pass all arrays "
                        "on the same device (cupy.asarray / cupy.asnumpy)")
    return out


def int64(v: int, name: str) -> int:
    """``v`` when it fits the C++ core's 64-bit integers, else a ValueError naming ``name``."""
    if not INT64_MIN <= v <= INT64_MAX:
        raise ValueError(f"{name} is out of range: {v} does not fit in a 64-bit integer")
    return v


def _int(v: Any, name: str) -> int:
    """An int (Python, NumPy, or a 0-d integer array), in the int64 range; bools are refused."""
    if type(v) is int:  # fast path; bool is its own type
        return int64(v, name)
    if isinstance(v, (bool, np.bool_)) or (isinstance(v, np.ndarray) and
                                           (v.ndim != 0 or v.dtype.kind not in "iu")):
        raise TypeError(f"{name} must be an int or a tuple of ints, got {v!r}")
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {v!r}") from None
    return int64(int(i), name)


def real(v: Any, name: str, what: str = "a real number") -> float:
    """A real number (int, float, NumPy scalar or 0-d real array) as a float; strings, bools,
    complex numbers and None are a TypeError naming ``name``."""
    if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "fiu":
        v = v[()]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be {what}, got {v!r}")
    try:
        return float(v)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{name} is out of range: {v} does not fit in a float64") from None


def ntuple(v: Any, nd: int, name: str) -> List[int]:
    """int -> [v]*nd; a sequence must have exactly nd ints."""
    if type(v) is int:  # fast path (typing's Sequence check below costs microseconds)
        return [int64(v, name)] * nd
    if isinstance(v, (str, bytes)):
        raise TypeError(f"{name} must be an int or a tuple of {nd} ints, got {v!r}")
    if isinstance(v, Sequence) or (isinstance(v, np.ndarray) and v.ndim > 0):
        vals = list(v)
        if len(vals) != nd:
            raise ValueError(f"{name} must be an int or a tuple of {nd} ints (one per spatial "
                             f"dimension), got {tuple(vals)!r}")
        return [_int(x, name) for x in vals]
    return [_int(v, name)] * nd


def padding(p: Any, nd: int, name: str = "padding") -> Tuple[List[int], List[int], bool]:
    """(pad_lo, pad_hi, same) from an int, per-dim ints, per-dim (before, after) pairs,
    'valid' or 'same'."""
    if type(p) is int:
        int64(p, name)
        return [p] * nd, [p] * nd, False
    if isinstance(p, str):
        if p == "valid":
            return [0] * nd, [0] * nd, False
        if p == "same":
            return [], [], True
        raise ValueError(f"{name} must be an int, a tuple, 'valid' or 'same', got {p!r}")
    if (isinstance(p, Sequence) or (isinstance(p, np.ndarray) and p.ndim > 0)) and \
            not isinstance(p, (bytes,)):
        vals = list(p)
        if len(vals) == nd and all(isinstance(v, Sequence) or
                                   (isinstance(v, np.ndarray) and v.ndim > 0) for v in vals):
            lo, hi = [], []
            for v in vals:
                if len(v) != 2:
                    raise ValueError(f"{name} pairs must be (before, after), got {tuple(v)!r}")
                lo.append(_int(v[0], name))
                hi.append(_int(v[1], name))
            return lo, hi, False
    lo = ntuple(p, nd, name)
    return lo, list(lo), False


def activation(a: Optional[str], name: str = "activation") -> Optional[str]:
    if a is not None and not isinstance(a, str):
        raise TypeError(f"{name} must be None or a string, got {a!r}")
    if a not in ACTIVATIONS:
        raise ValueError(f"{name} must be None or one of 'relu', 'relu6', 'sigmoid', 'tanh', "
                         f"'gelu', got {a!r}")
    return a


def spatial_rank(w: Any, name: str = "w", expect: Optional[int] = None, op: str = "conv") -> int:
    """Spatial rank from the weight: w.ndim - 2, in 1..3 (or exactly `expect`)."""
    nd = int(w.ndim) - 2
    if expect is not None and nd != expect:
        raise ValueError(f"{op} expects a {expect + 2}-D {name} (C_out, C_in/groups, "
                         f"{'x'.join('k' * expect)}), got {w.ndim}-D")
    if not 1 <= nd <= 3:
        raise ValueError(f"{name} must have 3, 4 or 5 dimensions (C_out, C_in/groups, *kernel), "
                         f"got {w.ndim}")
    return nd


# output_padding not given (a forward op); None is not a value of it (TypeError, like stride's)
_NO_OUTPUT_PADDING = object()


def conv_options(nd: int, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                 groups: Any = 1, padding_mode: str = "zeros", flip: bool = False,
                 channels_last: bool = False, activation: Optional[str] = None,
                 output_padding: Any = _NO_OUTPUT_PADDING) -> "_core.ConvOptions":
    """Everything a conv-family op needs, as the C++ ConvOptions (validated there)."""
    o = _core.ConvOptions()
    o.stride = ntuple(stride, nd, "stride")
    o.dilation = ntuple(dilation, nd, "dilation")
    lo, hi, same = globals()["padding"](padding, nd)
    o.pad_lo, o.pad_hi, o.pad_same = lo, hi, same
    o.groups = _int(groups, "groups")
    if not isinstance(padding_mode, str):
        raise TypeError(f"padding_mode must be a string, got {padding_mode!r}")
    o.padding_mode = padding_mode
    o.flip = bool(flip)
    o.channels_last = bool(channels_last)
    o.activation = globals()["activation"](activation)
    if output_padding is not _NO_OUTPUT_PADDING:
        o.output_padding = ntuple(output_padding, nd, "output_padding")
    return o


def algorithm(a: Any) -> str:
    if not isinstance(a, str):
        raise TypeError(f"algorithm must be a string, got {a!r}")
    return a


# ---- variants-b: quantization parameters ----

def dtype_choice(v: Any, name: str, allowed: Sequence[Any]) -> np.dtype:
    """``v`` as one of the ``allowed`` dtypes (anything ``np.dtype`` takes), else a TypeError
    naming ``name`` and the choices."""
    choices = " or ".join(np.dtype(a).name for a in allowed)
    try:
        dt = np.dtype(v)
    except TypeError:
        raise TypeError(f"{name} must be {choices}, got {v!r}") from None
    if dt not in [np.dtype(a) for a in allowed]:
        raise TypeError(f"{name} must be {choices}, got {dt}")
    return dt


def quant_values(v: Any, name: str, kind: str) -> List[Any]:
    """A scale (kind "float") or zero point (kind "int"): a scalar or a 0-/1-D array -> list.

    Python ints beyond NumPy's integer types (``2**64``) are handled here too: a zero point out
    of the int64 range is a ValueError naming ``name`` (valid ones lie in [-128, 255])."""
    if v is None:
        raise TypeError(f"{name} must be {'a real number' if kind == 'float' else 'an integer'}"
                        " or a 1-D array of them, got None")
    a = np.asarray(v.get() if is_cupy(v) else v)
    if a.ndim > 1 or a.size == 0:
        raise ValueError(f"{name} must be a scalar or a 1-D array (per output channel), got shape "
                         f"{a.shape}")
    if a.dtype.kind == "O" and all(isinstance(t, numbers.Integral) and
                                   not isinstance(t, (bool, np.bool_)) for t in a.ravel()):
        vals = [int(t) for t in a.ravel()]  # Python ints too large for any NumPy integer type
    elif kind == "float":
        if a.dtype.kind not in "fiu":
            raise TypeError(f"{name} must be a real number or array of them, got dtype {a.dtype}")
        return [float(t) for t in a.ravel()]
    else:
        if a.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer or an integer array, got dtype {a.dtype}")
        vals = [int(t) for t in a.ravel()]
    if kind == "float":
        return [real(t, name) for t in vals]
    for t in vals:
        if not INT64_MIN <= t <= INT64_MAX:
            raise ValueError(f"{name} must lie in [-128, 255] (an 8-bit zero point), got {t}")
    return vals


def quant_scalar(v: Any, name: str, kind: str) -> Any:
    vals = quant_values(v, name, kind)
    if len(vals) != 1:
        raise ValueError(f"{name} must be a single value (per tensor), got {len(vals)}")
    return vals[0]
