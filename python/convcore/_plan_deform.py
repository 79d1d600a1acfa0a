"""deform_conv2d_plan: deform_conv2d's weights kept and packed once, the layer run many times.

The plan holds the core's ``_DeformWeights`` (cpp/src/bind_deform.cpp over ops/deform_conv.hpp,
DeformConvWeights): copies of w and the bias, and w in the tiled kernel's packed form, packed on
the first run (the group count comes from x) and shared by the runs after it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _args, _core
from ._deform import _options, check_offset_bound, deform_conv2d
from ._plan import ArrayPlan


class DeformConvPlan(ArrayPlan):
    """A plan for :func:`deform_conv2d`, made by :func:`deform_conv2d_plan`."""

    __slots__ = ("_weights",)
    op = "deform_conv2d"

    def __call__(self, x: Any, offset: Any, mask: Any = None, out: Any = None) -> Any:
        """y = deform_conv2d(x, offset, w, bias, mask=mask, ...) with the plan's weights and
        keywords; ``out``: a C-contiguous array of y's dtype and shape to write into."""
        nd = np.ndarray
        if (type(x) is nd and type(offset) is nd and (mask is None or type(mask) is nd)
                and self._meta["kwargs"]["max_offset"] is None):
            return self._weights.run(x, offset, mask, out)  # the binding converts and checks
        if any(_args.is_cupy(a) or _args.is_dask(a) for a in (x, offset, mask, out)):
            return self._fallback(x, out, offset, mask)
        x, offset, mask = _args.arrays(x=x, offset=offset, mask=mask)
        bound = self._meta["kwargs"]["max_offset"]
        if bound is not None:
            check_offset_bound(offset, bound)
        return self._weights.run(x, offset, mask, out)

    def _plain(self, x: Any, offset: Any, mask: Any, arrays: dict) -> Any:
        return deform_conv2d(x, offset, **arrays, mask=mask, **self._meta["kwargs"])

    @property
    def algorithm(self) -> str:
        """``"tiled"`` (the packed, tiled kernel) or ``"reference"`` (the definition)."""
        return "reference" if self._meta["kwargs"]["algorithm"] == "reference" else "tiled"

    def algorithm_for(self, x: Any) -> str:
        """The kernel that runs for x: the same for every x."""
        return self.algorithm

    @property
    def workspace_bytes(self) -> int:
        """Bytes the plan holds: its copies of w and the bias and the packed w (once packed)."""
        return self._copies_bytes() + self._weights.nbytes

    def _describe(self) -> str:
        g = self._weights.packed_groups
        return f"packed for groups={g}" if g else "not packed yet"


def deform_conv2d_plan(w: Any, bias: Any = None, *, stride: Any = 1, padding: Any = 0,
                       dilation: Any = 1, channels_last: bool = False, algorithm: str = "auto",
                       max_offset: Any = None) -> DeformConvPlan:
    """A plan for :func:`deform_conv2d` (its keywords): ``plan(x, offset, mask=None)`` is
    ``deform_conv2d(x, offset, w, bias, mask=mask, **keywords)``, bit for bit.

    The plan validates the options once and keeps its own copies of ``w`` and ``bias``
    (changing the caller's arrays afterwards does not affect it). The tiled kernel's packed
    weights, which the plain call makes on every call, are made on the first call (the group
    count ``C_in / w.shape[1]`` comes from x) and reused by every later call with that group
    count. ``max_offset`` is checked on every call, as :func:`deform_conv2d` checks it.
    ``input_shape`` (optional): an x shape, recorded in ``repr``. ``plan.algorithm``,
    ``plan.workspace_bytes`` and ``repr(plan)`` say what it does; the plan is immutable, may be
    called from several threads at once and pickles. CuPy or Dask inputs fall back to the plain
    :func:`deform_conv2d`.

    >>> import numpy as np, convcore as cc
    >>> plan = cc.deform_conv2d_plan(np.ones((1, 1, 1, 1)))
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> plan(x, np.full((1, 2, 4, 4), 0.5))[0, 0, 0]     # samples half a pixel down and right
    array([2.5, 3.5, 4.5, 2.5])
    """
    w, bias = _args.arrays(w=w, bias=bias)
    _args.spatial_rank(w, expect=2, op="deform_conv2d")
    if max_offset is not None:
        max_offset = _args.real(max_offset, "max_offset")
        if not (max_offset >= 0 and math.isfinite(max_offset)):
            raise ValueError(f"max_offset must be a finite number >= 0, got {max_offset!r}")
    algo = _args.algorithm(algorithm)
    kw = dict(stride=stride, padding=padding, dilation=dilation, channels_last=channels_last,
              algorithm=algo, max_offset=max_offset)
    plan = DeformConvPlan(deform_conv2d_plan, {"w": w, "bias": bias}, kw, None)
    weights = _core._DeformWeights(plan._arrays_["w"], plan._arrays_["bias"],
                                   _options(stride, padding, dilation, channels_last), algo)
    plan._set(_weights=weights)
    return plan

