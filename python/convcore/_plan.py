"""Plans: a layer's weights validated and prepared once, the layer run many times.

``conv_plan(w, bias, **keywords)`` (and ``conv_transpose_plan``, ``depthwise_conv2d_plan``,
``pointwise_conv_plan``, ``depthwise_separable_conv2d_plan``) returns a :class:`convcore.Plan`
(ops/plan.hpp through cpp/src/bind_plan.cpp). Calling it with
an ndarray of its dtype takes the binding's fast path; everything else comes here (``_call``).
``ArrayPlan`` is the base of the plans written in Python over a packed form of the core
(_plan_quantized.py, _plan_deform.py).
"""
from __future__ import annotations

import types
from typing import Any, Optional, Sequence

import numpy as np

from . import _args, _core

Plan = _core.Plan


def _plain_value(v: Any) -> Any:
    """An option value with no reference to a user array (ndarrays become lists)."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return type(v)(_plain_value(t) for t in v)
    return v


def _shape(x: Any, name: str = "input_shape") -> tuple:
    """A shape from an array (its .shape) or a sequence of ints."""
    s = getattr(x, "shape", x)
    try:
        return tuple(_args._int(v, name) for v in s)
    except TypeError:
        raise TypeError(f"{name} must be an array or a tuple of ints, got {x!r}") from None


def _weights(**named: Any) -> list:
    out = _args.arrays(**named)
    for (name, _), a in zip(named.items(), out):
        if _args.is_cupy(a) or _args.is_dask(a):
            raise TypeError(f"a plan's {name} must be a NumPy array (a plan runs on the CPU; "
                            "called with a CuPy or Dask x it falls back to the plain op)")
    return out


def _meta(kwargs: dict, input_shape: Any) -> Any:
    shape = None if input_shape is None else _shape(input_shape)
    return types.MappingProxyType({"kwargs": types.MappingProxyType(
        {k: _plain_value(v) for k, v in kwargs.items()}), "input_shape": shape})


def _prepared(plan: Plan) -> Plan:
    shape = plan._meta["input_shape"]
    if shape is not None:
        plan._prepare(list(shape))
    return plan


def _make(op: str, w: Any, bias: Any, opts: Any, algorithm: str, kwargs: dict,
          input_shape: Any) -> Plan:
    meta = _meta(kwargs, input_shape)
    return _prepared(_core.Plan(op, w, bias, opts, _args.algorithm(algorithm), meta))


def conv_plan(w: Any, bias: Any = None, *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
              groups: int = 1, padding_mode: str = "zeros", flip: bool = False,
              channels_last: bool = False, activation: Optional[str] = None,
              algorithm: str = "auto", input_shape: Any = None) -> Plan:
    """A plan for :func:`conv`: ``plan(x)`` is ``conv(x, w, bias, **keywords)``, bit for bit.

    Takes :func:`conv`'s keywords. The plan validates the options once, keeps its own copies of
    ``w`` (flipped once when ``flip``) and ``bias`` (changing or freeing the caller's arrays
    afterwards does not affect it), and prepares each form of the weights its kernels read
    (packed GEMM panels, Winograd-transformed weights, the grouped kernel's blocks) once, on
    first use, where the plain call makes them on every call. ``plan(x, out=None)`` takes any
    batch size and spatial size the options allow; the algorithm (``"auto"``: chosen per input
    shape, as :func:`conv` chooses it) and the validated geometry are cached per shape.
    ``input_shape`` (optional): an example x shape whose forms are prepared now, and whose
    algorithm ``plan.algorithm`` reports.

    ``plan.algorithm``, ``plan.algorithm_for(x)``, ``plan.workspace_bytes`` (the copies and the
    forms prepared so far), ``repr(plan)`` say what it does. A plan is immutable and may be
    called from several threads at once; it pickles (the forms are prepared again after
    loading). The forms belong to the kernel level they were made for (``cc.info()["simd"]``);
    after a level change the plan prepares them anew. x must be a NumPy array (or array-like)
    of the plan's dtype; a wrong dtype, channel count or rank is an error naming x and what
    was expected. A CuPy x falls back to the plain :func:`conv` (``w`` copied to the device on
    every call), as does a Dask x.

    >>> import numpy as np, convcore as cc
    >>> w = np.ones((16, 8, 3, 3), "f4")
    >>> plan = cc.conv_plan(w, padding=1, activation="relu")
    >>> x = np.ones((2, 8, 5, 5), "f4")
    >>> y = plan(x)
    >>> y.shape, bool((y == cc.conv(x, w, padding=1, activation="relu")).all())
    ((2, 16, 5, 5), True)
    >>> plan.algorithm_for(x)
    'im2col'
    """
    w, bias = _weights(w=w, bias=bias)
    nd = _args.spatial_rank(w)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
              padding_mode=padding_mode, flip=flip, channels_last=channels_last,
              activation=activation)
    opts = _args.conv_options(nd, **kw)
    return _make("conv", w, bias, opts, algorithm, dict(kw, algorithm=algorithm), input_shape)


def conv_transpose_plan(w: Any, bias: Any = None, *, stride: Any = 1, padding: Any = 0,
                        output_padding: Any = 0, dilation: Any = 1, groups: int = 1,
                        channels_last: bool = False, activation: Optional[str] = None,
                        algorithm: str = "auto", input_shape: Any = None) -> Plan:
    """A plan for :func:`conv_transpose` (its keywords): ``plan(x)`` is
    ``conv_transpose(x, w, bias, **keywords)``, bit for bit; see :func:`conv_plan`. The GEMM
    + col2im engine's packed weights and the sub-pixel form's transformed weights are prepared
    once.

    >>> import numpy as np, convcore as cc
    >>> plan = cc.conv_transpose_plan(np.ones((4, 2, 4, 4), "f4"), stride=2, padding=1)
    >>> plan(np.ones((1, 4, 8, 8), "f4")).shape
    (1, 2, 16, 16)
    """
    w, bias = _weights(w=w, bias=bias)
    nd = _args.spatial_rank(w)
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
              groups=groups, channels_last=channels_last, activation=activation)
    opts = _args.conv_options(nd, **kw)
    return _make("conv_transpose", w, bias, opts, algorithm, dict(kw, algorithm=algorithm),
                 input_shape)


def depthwise_conv2d_plan(w: Any, bias: Any = None, *, stride: Any = 1, padding: Any = 0,
                          dilation: Any = 1, padding_mode: str = "zeros",
                          channels_last: bool = False, activation: Optional[str] = None,
                          input_shape: Any = None) -> Plan:
    """A plan for :func:`depthwise_conv2d` (its keywords): ``plan(x)`` is
    ``depthwise_conv2d(x, w, bias, **keywords)``, bit for bit; see :func:`conv_plan`. The
    channels-last kernels' packed weights are prepared once. x may have any channel count C
    that divides ``w.shape[0]`` (depth multiplier ``w.shape[0] // C``).

    >>> import numpy as np, convcore as cc
    >>> plan = cc.depthwise_conv2d_plan(np.ones((3, 1, 3, 3)), padding=1)
    >>> plan(np.ones((1, 3, 4, 4)))[0, 0]
    array([[4., 6., 6., 4.],
           [6., 9., 9., 6.],
           [6., 9., 9., 6.],
           [4., 6., 6., 4.]])
    """
    w, bias = _weights(w=w, bias=bias)
    kw = dict(stride=stride, padding=padding, dilation=dilation, padding_mode=padding_mode,
              channels_last=channels_last, activation=activation)
    opts = _args.conv_options(2, **kw)
    return _make("depthwise_conv2d", w, bias, opts, "auto", kw, input_shape)


def pointwise_conv_plan(w: Any, bias: Any = None, *, groups: int = 1,
                        channels_last: bool = False, activation: Optional[str] = None,
                        input_shape: Any = None) -> Plan:
    """A plan for :func:`pointwise_conv` (its keywords): ``plan(x)`` is
    ``pointwise_conv(x, w, bias, **keywords)``, bit for bit; see :func:`conv_plan`.
    Channels-first, the GEMM's packed weight panels are prepared once (channels-last the GEMM
    reads x as its packed operand, and the plan saves the validation and call overhead). x
    may have any number of spatial dimensions when w is 2-D.

    >>> import numpy as np, convcore as cc
    >>> plan = cc.pointwise_conv_plan(np.array([[1.0, 1.0], [1.0, -1.0]]))
    >>> plan(np.arange(8.0).reshape(1, 2, 2, 2))[0, :, 0]
    array([[ 4.,  6.],
           [-4., -4.]])
    """
    w, bias = _weights(w=w, bias=bias)
    kw = dict(groups=groups, channels_last=channels_last, activation=activation)
    meta = _meta(kw, input_shape)
    return _prepared(_core.Plan._pointwise(w, bias, _args._int(groups, "groups"),
                                           bool(channels_last), _args.activation(activation),
                                           meta))


def depthwise_separable_conv2d_plan(w_depthwise: Any, w_pointwise: Any, b_depthwise: Any = None,
                                    b_pointwise: Any = None, *, stride: Any = 1,
                                    padding: Any = 0, dilation: Any = 1,
                                    padding_mode: str = "zeros",
                                    mid_activation: Optional[str] = None,
                                    activation: Optional[str] = None, channels_last: bool = False,
                                    input_shape: Any = None) -> Plan:
    """A plan for :func:`depthwise_separable_conv2d` (its keywords): ``plan(x)`` is
    ``depthwise_separable_conv2d(x, w_depthwise, w_pointwise, b_depthwise, b_pointwise,
    **keywords)``, bit for bit; see :func:`conv_plan`. The depthwise weights are packed once
    for the band kernel, and channels-first the pointwise weights into the GEMM's panels.

    >>> import numpy as np, convcore as cc
    >>> plan = cc.depthwise_separable_conv2d_plan(np.ones((3, 1, 3, 3), "f4"),
    ...                                           np.ones((128, 3), "f4"))
    >>> y = plan(np.ones((1, 3, 7, 7), "f4"))
    >>> y.shape, float(y[0, 0, 0, 0])
    ((1, 128, 5, 5), 27.0)
    """
    wd, wp, bd, bp = _weights(w_depthwise=w_depthwise, w_pointwise=w_pointwise,
                              b_depthwise=b_depthwise, b_pointwise=b_pointwise)
    kw = dict(stride=stride, padding=padding, dilation=dilation, padding_mode=padding_mode,
              mid_activation=mid_activation, activation=activation, channels_last=channels_last)
    opts = _args.conv_options(2, stride=stride, padding=padding, dilation=dilation,
                              padding_mode=padding_mode, channels_last=channels_last,
                              activation=activation)
    meta = _meta(kw, input_shape)
    return _prepared(_core.Plan._separable(wd, wp, bd, bp, opts,
                                           _args.activation(mid_activation, "mid_activation"),
                                           meta))


_FACTORIES = {"conv": conv_plan, "conv_transpose": conv_transpose_plan,
              "depthwise_conv2d": depthwise_conv2d_plan, "pointwise_conv": pointwise_conv_plan,
              "depthwise_separable_conv2d": depthwise_separable_conv2d_plan}
_TAKES_OUT = {"conv", "conv_transpose"}


def _op_function(op: str) -> Any:
    from . import _conv, _depthwise

    return {"conv": _conv.conv, "conv_transpose": _conv.conv_transpose,
            "depthwise_conv2d": _depthwise.depthwise_conv2d,
            "pointwise_conv": _depthwise.pointwise_conv,
            "depthwise_separable_conv2d": _depthwise.depthwise_separable_conv2d}[op]


def _call(plan: Plan, x: Any, out: Any) -> Any:
    """plan(x, out) for anything but a ready NumPy array of the plan's dtype."""
    if _args.is_cupy(x) or _args.is_dask(x) or _args.is_cupy(out):
        return _fallback(plan, x, out)
    x = _args.arrays(x=x)[0]
    if not (x.flags.c_contiguous and x.flags.aligned):
        x = np.ascontiguousarray(x)
    return plan._call_array(x, out)


def _fallback(plan: Plan, x: Any, out: Any) -> Any:
    """The plain op with the plan's weights and keywords (CuPy and Dask arrays)."""
    arrays = plan._arrays()
    if _args.is_cupy(x):
        import cupy

        arrays = {k: None if v is None else cupy.asarray(v) for k, v in arrays.items()}
    kw = dict(plan._meta["kwargs"])
    fn = _op_function(plan.op)
    if plan.op in _TAKES_OUT:
        return fn(x, **arrays, out=out, **kw)
    y = fn(x, **arrays, **kw)
    if out is None:
        return y
    out[...] = y
    return out


def _algorithm(plan: Plan) -> str:
    shape = plan._meta["input_shape"]
    if shape is not None:
        return plan._algorithm_for(list(shape))
    return plan.requested_algorithm if plan.op in _TAKES_OUT else "auto"


def _algorithm_for(plan: Plan, x: Any) -> str:
    return plan._algorithm_for(list(_shape(x, "x")))


def _repr(plan: Plan) -> str:
    kw = plan._meta["kwargs"]
    dflt = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "padding_mode": "zeros",
            "flip": False, "channels_last": False, "activation": None, "algorithm": "auto",
            "output_padding": 0}
    opts = "".join(f", {k}={v!r}" for k, v in kw.items()
                   if k != "algorithm" and dflt.get(k, object()) != v)
    arrays = ", ".join(f"{k} {'None' if v is None else v.shape}"
                       for k, v in plan._arrays().items())
    shape = plan._meta["input_shape"]
    return (f"<convcore.Plan {plan.op}: {plan.dtype}, {arrays}{opts}; "
            f"algorithm={plan.algorithm!r}"
            f"{'' if shape is None else f' for x {shape}'}, isa={plan.isa!r}, "
            f"workspace_bytes={plan.workspace_bytes}>")


def _reduce(plan: Plan) -> tuple:
    return (_rebuild, (plan.op, plan._arrays(), dict(plan._meta["kwargs"]),
                       plan._meta["input_shape"]))


def _rebuild(op: str, arrays: dict, kwargs: dict, input_shape: Optional[Sequence[int]]) -> Plan:
    return _FACTORIES[op](**arrays, input_shape=input_shape, **kwargs)


class ArrayPlan:
    """The plans written in Python over a packed form of the core (quantized_conv2d_plan,
    deform_conv2d_plan): immutable, owning copies of the arrays they were made from, falling
    back to the plain op for CuPy and Dask inputs, pickled as their factory call."""

    __slots__ = ("_arrays_", "_meta", "_factory")
    op = ""

    def __init__(self, factory: Any, arrays: dict, kwargs: dict, input_shape: Any) -> None:
        copies = {}
        for k, v in arrays.items():
            if v is not None:
                v = np.array(v, order="C")
                v.flags.writeable = False
            copies[k] = v
        self._set(_arrays_=types.MappingProxyType(copies), _factory=factory,
                  _meta=_meta(kwargs, input_shape))

    def _set(self, **values: Any) -> None:
        for k, v in values.items():
            object.__setattr__(self, k, v)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a {type(self).__name__} is immutable")

    def _arrays(self) -> dict:
        """The arrays the plan was made from (copies, as given): name -> ndarray or None."""
        return {k: None if v is None else v.copy() for k, v in self._arrays_.items()}

    def _copies_bytes(self) -> int:
        return sum(v.nbytes for v in self._arrays_.values() if v is not None)

    def _fallback(self, x: Any, out: Any, *more: Any) -> Any:
        """The plain op with the plan's arrays and keywords (CuPy and Dask inputs)."""
        arrays = dict(self._arrays_)
        if _args.is_cupy(x):
            import cupy

            arrays = {k: None if v is None else cupy.asarray(v) for k, v in arrays.items()}
        y = self._plain(x, *more, arrays)
        if out is None:
            return y
        out[...] = y
        return out

    def _plain(self, x: Any, *rest: Any) -> Any:  # the plain op; rest ends with the arrays
        raise NotImplementedError

    def _describe(self) -> str:
        return ""

    def _factory_args(self) -> dict:
        return {}

    def __repr__(self) -> str:
        kw = self._meta["kwargs"]
        dflt = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "channels_last": False,
                "algorithm": "auto", "y_dtype": None, "max_offset": None}
        opts = "".join(f", {k}={v!r}" for k, v in kw.items() if dflt.get(k, object()) != v)
        arrays = ", ".join(f"{k} {'None' if v is None else (v.shape, str(v.dtype))}"
                           for k, v in self._arrays_.items())
        shape = self._meta["input_shape"]
        extra = self._describe()
        return (f"<convcore.{type(self).__name__} {self.op}: {arrays}{opts}"
                f"{'; ' + extra if extra else ''}; algorithm={self.algorithm!r}"
                f"{'' if shape is None else f' for x {shape}'}, "
                f"workspace_bytes={self.workspace_bytes}>")

    def __reduce__(self) -> tuple:
        return (_rebuild_array_plan, (self._factory, self._arrays(), dict(self._meta["kwargs"]),
                                      self._factory_args(), self._meta["input_shape"]))


def _rebuild_array_plan(factory: Any, arrays: dict, kwargs: dict, more: dict,
                        input_shape: Any) -> Any:
    if input_shape is not None:
        more = dict(more, input_shape=input_shape)
    return factory(**arrays, **more, **kwargs)
