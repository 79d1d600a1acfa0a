"""quantized_conv2d_plan: quantized_conv2d's weights packed once, the layer run many times.

The plan keeps its own copies of w and the bias and one packed form per x dtype (uint8, int8;
ops/quantized_conv.hpp, ``quantized_conv_pack``), made under a lock on first use and read-only
afterwards, so that threads may share the plan.
"""
from __future__ import annotations

import threading
from typing import Any, Optional

import numpy as np

from . import _args
from ._plan import ArrayPlan
from ._quantized import _quantized_conv2d_packed, _y_signed, quantized_conv2d

_X_DTYPES = (np.dtype(np.uint8), np.dtype(np.int8))


def _example_x_shape(w: np.ndarray, opts: Any) -> tuple:
    """An x shape every valid option set accepts: one image, the kernel's extent in space."""
    cin = w.shape[1] * opts.groups
    space = [opts.dilation[d] * (w.shape[2 + d] - 1) + 1 for d in range(2)]
    return (1, *space, cin) if opts.channels_last else (1, cin, *space)


class QuantizedConvPlan(ArrayPlan):
    """A plan for :func:`quantized_conv2d`, made by :func:`quantized_conv2d_plan`."""

    __slots__ = ("_forms", "_lock", "_scalars", "_x_dtype")
    op = "quantized_conv2d"

    def _setup(self, scalars: dict, x_dtype: np.dtype, input_shape: Optional[tuple]) -> None:
        self._set(_scalars=scalars, _x_dtype=x_dtype, _forms={}, _lock=threading.Lock())
        self._form(x_dtype, input_shape)  # validates every option (and input_shape) now

    def _opts(self) -> Any:
        kw = self._meta["kwargs"]
        return _args.conv_options(2, stride=kw["stride"], padding=kw["padding"],
                                  dilation=kw["dilation"], groups=kw["groups"],
                                  channels_last=kw["channels_last"])

    def _form(self, x_dtype: np.dtype, input_shape: Optional[tuple] = None) -> Any:
        form = self._forms.get(x_dtype)
        if form is None:
            with self._lock:
                form = self._forms.get(x_dtype)
                if form is None:
                    w, bias = self._arrays_["w"], self._arrays_["bias"]
                    shape = input_shape or _example_x_shape(w, self._opts())
                    form = _quantized_conv2d_packed(shape, x_dtype, w=w, bias=bias,
                                                    **self._scalars, **self._meta["kwargs"])
                    forms = dict(self._forms)
                    forms[x_dtype] = form
                    object.__setattr__(self, "_forms", forms)  # readers see the old or new dict
        return form

    def __call__(self, x: Any, out: Any = None) -> Any:
        """y = quantized_conv2d(x, ...) with the plan's weights and keywords (any batch and
        spatial size); ``out``: a C-contiguous array of y's dtype and shape to write into."""
        if type(x) is np.ndarray:
            form = self._forms.get(x.dtype)
            if form is not None:
                return form.run(x, out)
        if _args.is_cupy(x) or _args.is_dask(x) or _args.is_cupy(out):
            return self._fallback(x, out)
        x = _args.arrays(x=x)[0]
        if x.dtype not in _X_DTYPES:
            raise TypeError(f"x must be a uint8 or int8 array, got dtype {x.dtype}")
        return self._form(x.dtype).run(x, out)

    def _plain(self, x: Any, arrays: dict) -> Any:
        return quantized_conv2d(x, **arrays, **self._scalars, **self._meta["kwargs"])

    @property
    def algorithm(self) -> str:
        """The INT8 kernels that run for x of the plan's x dtype (``"avx512_vnni"``,
        ``"avx2_madd"``, ``"avx512bw_depthwise"``, ``"scalar_direct"``...)."""
        return self._form(self._x_dtype).path

    def algorithm_for(self, x: Any) -> str:
        """The INT8 kernels that run for x (an array: its dtype; a shape: the plan's x dtype)."""
        dt = getattr(x, "dtype", None)
        dt = self._x_dtype if dt is None else _args.dtype_choice(dt, "x", _X_DTYPES)
        return self._form(dt).path

    @property
    def workspace_bytes(self) -> int:
        """Bytes the plan holds: its copies of w and the bias and the packed forms."""
        return self._copies_bytes() + sum(f.nbytes for f in self._forms.values())

    def y_dtype_for(self, x_dtype: Any) -> np.dtype:
        """The dtype of y for x of ``x_dtype`` (as :func:`quantized_conv2d` chooses it)."""
        xdt = _args.dtype_choice(x_dtype, "x_dtype", _X_DTYPES)
        signed = _y_signed(self._scalars["y_zero_point"], np.empty(0, xdt),
                           self._meta["kwargs"]["y_dtype"])
        return np.dtype(np.int8 if signed else np.uint8)

    def _describe(self) -> str:
        return f"x {self._x_dtype}"

    def _factory_args(self) -> dict:
        return dict(self._scalars, x_dtype=self._x_dtype)


def quantized_conv2d_plan(x_scale: Any, x_zero_point: Any, w: Any, w_scale: Any,
                          w_zero_point: Any, y_scale: Any, y_zero_point: Any, bias: Any = None,
                          *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                          groups: int = 1, channels_last: bool = False, y_dtype: Any = None,
                          x_dtype: Any = None, input_shape: Any = None) -> QuantizedConvPlan:
    """A plan for :func:`quantized_conv2d`: ``plan(x)`` is ``quantized_conv2d(x, x_scale, ...,
    **keywords)``, bit for bit (its arguments in its order, without x).

    The plan validates the options once, keeps its own copies of ``w`` and ``bias``, and packs
    the weights once per x dtype for the INT8 engine that runs (its panels with the per-channel
    zero-point and bias corrections and the requantisation multipliers), where the plain call
    packs them on every call: for the x dtype given by ``x_dtype`` (default: ``x_zero_point``'s
    when it is a NumPy uint8/int8 value, else uint8, or int8 where only int8 takes the zero
    points) when the plan is made, for the other on its first use. ``plan(x, out=None)`` takes
    any batch and spatial size the options allow; the packed form is run by the kernels of the
    level it was made for. ``input_shape`` (optional) is checked as an x shape when the plan
    is made.

    ``plan.algorithm`` (the INT8 kernels), ``plan.algorithm_for(x)``, ``plan.workspace_bytes``,
    ``plan.y_dtype_for(x_dtype)`` and ``repr(plan)`` say what it does. The plan is immutable,
    may be called from several threads at once and pickles (packing again when loaded). A
    CuPy or Dask x falls back to the plain :func:`quantized_conv2d`.

    >>> import numpy as np, convcore as cc
    >>> w = np.full((1, 1, 3, 3), 2, np.int8)
    >>> plan = cc.quantized_conv2d_plan(0.5, 128, w, 0.25, 0, 0.1, np.uint8(10))
    >>> plan(np.full((1, 1, 3, 3), 130, np.uint8))
    array([[[[55]]]], dtype=uint8)
    """
    w, bias = _args.arrays(w=w, bias=bias)
    _args.spatial_rank(w, expect=2, op="quantized_conv2d")
    guess = x_dtype is None
    if guess:
        zdt = getattr(x_zero_point, "dtype", None)
        x_dtype = zdt if zdt is not None and np.dtype(zdt) in _X_DTYPES else np.uint8
    xdt = _args.dtype_choice(x_dtype, "x_dtype", _X_DTYPES)
    # copies of arrays (their dtype kept: y_zero_point's may choose y's dtype)
    scalars = {k: np.array(v) if isinstance(v, np.ndarray) else v
               for k, v in dict(x_scale=x_scale, x_zero_point=x_zero_point, w_scale=w_scale,
                                w_zero_point=w_zero_point, y_scale=y_scale,
                                y_zero_point=y_zero_point).items()}
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
              channels_last=channels_last,
              y_dtype=None if y_dtype is None else np.dtype(y_dtype))
    plan = QuantizedConvPlan(quantized_conv2d_plan, {"w": w, "bias": bias}, kw, input_shape)
    try:
        plan._setup(scalars, xdt, plan._meta["input_shape"])
    except ValueError:
        if not guess:
            raise
        # a guessed uint8 x whose zero points only int8 takes (x_zero_point -3, or y following
        # x with y_zero_point -4): the plan is for int8 x; else the uint8 error stands
        other = _X_DTYPES[1] if xdt == _X_DTYPES[0] else _X_DTYPES[0]
        try:
            plan._setup(scalars, other, plan._meta["input_shape"])
        except ValueError:
            pass
        else:
            return plan
        raise
    return plan

