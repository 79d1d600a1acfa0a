"""spatially_separable_conv2d, separate_kernel and flattened_conv2d, with their cost models."""
from __future__ import annotations

import math
from typing import Any, List, Optional, Tuple

import numpy as np

from . import _args, _core, arithmetic
from ._backend import call
from .arithmetic import Cost


def spatially_separable_conv2d(x: Any, w_col: Any, w_row: Any, bias: Any = None, *,
                               stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                               groups: int = 1, padding_mode: str = "zeros",
                               channels_last: bool = False) -> Any:
    """A kh x 1 conv then a 1 x kw conv: ``conv(conv(x, w_col), w_row) + bias``.

    w_col ``(C_mid, C_in/groups, kh, 1)``, w_row ``(C_out, C_mid/groups, 1, kw)``. ``stride``,
    ``padding`` and ``dilation`` are 2-D values split per axis: the column pass takes the
    vertical ones, the row pass the horizontal ones, so with C_mid = C_in = C_out = 1 this equals
    ``conv`` with the outer-product kernel ``w_col @ w_row``. The intermediate
    ``(N, C_mid, H_out, W)`` is held whole (it is at most C_mid/C_in times the input).

    >>> import numpy as np, convcore as cc
    >>> x = np.arange(25.0).reshape(1, 1, 5, 5)
    >>> col, row = np.ones((1, 1, 3, 1)), np.ones((1, 1, 1, 3))
    >>> cc.spatially_separable_conv2d(x, col, row)[0, 0]
    array([[ 54.,  63.,  72.],
           [ 99., 108., 117.],
           [144., 153., 162.]])
    """
    x, wc, wr, bias = _args.arrays(x=x, w_col=w_col, w_row=w_row, bias=bias)
    opts = _args.conv_options(2, stride=stride, padding=padding, dilation=dilation, groups=groups,
                              padding_mode=padding_mode, channels_last=channels_last)
    return call("spatially_separable_conv2d", x, wc, wr, bias, opts)


def flattened_conv2d(x: Any, w_channel: Any, w_vertical: Any, w_horizontal: Any, bias: Any = None,
                     *, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                     padding_mode: str = "zeros") -> Any:
    """Flattened convolution (Jin et al. 2014): three 1-D filters per output channel.

    A 1x1 conv over channels ``w_channel (C_out, C_in)``, then a vertical filter per channel
    ``w_vertical (C_out, kh)``, then a horizontal one ``w_horizontal (C_out, kw)``, bias last.
    Equals :func:`conv` with the rank-1 kernels ``W[o, c, i, j] = w_channel[o, c] *
    w_vertical[o, i] * w_horizontal[o, j]`` for any stride, padding, dilation and padding mode.

    >>> import numpy as np, convcore as cc
    >>> y = cc.flattened_conv2d(np.ones((1, 3, 5, 5)), np.ones((2, 3)), np.ones((2, 3)),
    ...                         np.ones((2, 3)), padding=1)
    >>> y[0, 0]
    array([[12., 18., 18., 18., 12.],
           [18., 27., 27., 27., 18.],
           [18., 27., 27., 27., 18.],
           [18., 27., 27., 27., 18.],
           [12., 18., 18., 18., 12.]])
    """
    x, wc, wv, wh, bias = _args.arrays(x=x, w_channel=w_channel, w_vertical=w_vertical,
                                       w_horizontal=w_horizontal, bias=bias)
    opts = _args.conv_options(2, stride=stride, padding=padding, dilation=dilation,
                              padding_mode=padding_mode)
    return call("flattened_conv2d", x, wc, wv, wh, bias, opts)


class KernelFactors(list):
    """The ``(col, row)`` pairs of :func:`separate_kernel` (a list: ``len()``, indexing and
    iteration give the pairs), with ``.pairs`` (the same list), ``.residual`` (Frobenius norm of
    ``k - sum(outer(col, row))``) and ``.singular_values`` (all of them, descending)."""

    residual: float
    singular_values: np.ndarray

    @property
    def pairs(self) -> List[Tuple[np.ndarray, np.ndarray]]:
        return list(self)

    def reconstruct(self) -> np.ndarray:
        """``sum(outer(col, row))``: the kernel these pairs represent."""
        return np.sum([np.outer(c, r) for c, r in self], axis=0)

    def __repr__(self) -> str:
        return f"KernelFactors({list.__repr__(self)}, residual={self.residual!r})"


def separate_kernel(k: Any, rank: Optional[int] = None, tol: float = 1e-6) -> KernelFactors:
    """Factor a 2-D kernel into ``(col, row)`` pairs with ``sum(outer(col, row)) == k`` (SVD).

    ``rank=None``: every singular value above ``tol`` times the largest is kept, so the sum is
    exact to rounding; Sobel, Gaussian and box kernels give one pair (a kh x 1 then 1 x kw pass).
    ``rank=r``: the best rank-r approximation (Eckart-Young), its error in ``.residual``. Each
    pair splits its singular value evenly (``sqrt(s)`` on each side), signs chosen so the
    largest-magnitude entry of ``col`` is positive. Float input keeps its dtype (in native byte
    order), other input gives float64. ``tol`` is a non-negative real number (NumPy scalars
    included; NaN is a ValueError). The SVD runs on ``k / max|k|``, so kernels near the float64
    limit give finite factors (``.singular_values`` are k's own and may overflow to inf there).
    Returns a :class:`KernelFactors` (a list of the pairs).

    >>> import numpy as np, convcore as cc
    >>> f = cc.separate_kernel([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    >>> len(f), round(f.residual, 12)
    (1, 0.0)
    >>> col, row = f[0]
    >>> np.round(col / col[0], 6), np.round(row * col[0], 6) + 0.0
    (array([1., 2., 1.]), array([-1.,  0.,  1.]))
    """
    a = np.asarray(k)
    if a.ndim != 2:
        raise ValueError(f"k must be a 2-D kernel, got {a.ndim} dimensions (shape {a.shape})")
    if a.size == 0:
        raise ValueError(f"k must not be empty, got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.number) and not np.iscomplexobj(a)):
        raise TypeError(f"k must be a real numeric array, got dtype {a.dtype}")
    # dtypes compared by value (kind and size): a big-endian or unpickled float32 is float32;
    # the factors are always native byte order
    if a.dtype.kind == "f" and a.dtype.itemsize in (4, 8):
        out_dtype = np.dtype(f"f{a.dtype.itemsize}")
    else:
        out_dtype = np.dtype(np.float64)
    a64 = a.astype(np.float64)  # a copy: k is never modified
    if not np.isfinite(a64).all():
        raise ValueError("k must be finite (no NaN or inf)")
    t = _args.real(tol, "tol", "a non-negative number")
    if not t >= 0:  # NaN too: it would compare False everywhere and keep a single pair
        raise ValueError(f"tol must be a non-negative number (not NaN), got {tol!r}")
    tol = t
    # The SVD runs on k / max|k|, so kernels near the float64 limit give finite factors (the
    # singular values of k itself can exceed it: 2e308 for a 2x2 of 1e308).
    scale = float(np.max(np.abs(a64)))
    if scale == 0.0:
        scale = 1.0
    u, s, vt = np.linalg.svd(a64 / scale, full_matrices=False)
    if rank is None:
        r = int(np.count_nonzero(s > tol * s[0])) if s[0] > 0 else 0
        r = max(r, 1)  # a zero kernel is still one (zero) pair, so the result is usable
    else:
        r = _args._int(rank, "rank")
        if not 1 <= r <= len(s):
            raise ValueError(f"rank must be between 1 and {len(s)} (min of k's shape), got {r}")
    out = KernelFactors()
    approx = np.zeros_like(a64)  # of k / scale
    root = np.sqrt(scale)
    for i in range(r):
        col, row = u[:, i] * np.sqrt(s[i]), vt[i] * np.sqrt(s[i])
        if col[np.argmax(np.abs(col))] < 0:
            col, row = -col, -row
        approx += np.outer(col, row)
        out.append(((col * root).astype(out_dtype), (row * root).astype(out_dtype)))
    with np.errstate(over="ignore"):
        out.residual = float(np.linalg.norm(a64 / scale - approx) * scale)
        out.singular_values = s * scale
    return out


# ----------------------------------------------------------------------------- cost models

@arithmetic.register("spatially_separable_conv2d")
def _spatially_separable_cost(x_shape: Any, wc_shape: Any, wr_shape: Any, bias_shape: Any = None,
                              **params: Any) -> Cost:
    xs = arithmetic._shape(x_shape, "x")
    wc, wr = arithmetic._shape(wc_shape, "w_col"), arithmetic._shape(wr_shape, "w_row")
    bl = arithmetic._bias_length(bias_shape)
    col, row = _core.spatially_separable_spec(xs, wc, wr, _args.conv_options(2, **params), bl)
    mc, mr = arithmetic._conv_macs(col), arithmetic._conv_macs(row)
    return Cost(mc + mr, math.prod(wc) + math.prod(wr) + max(bl, 0),
                tuple(_core.output_shape(row, False)), {"column": mc, "row": mr})


@arithmetic.register("flattened_conv2d")
def _flattened_cost(x_shape: Any, wc_shape: Any, wv_shape: Any, wh_shape: Any,
                    bias_shape: Any = None, **params: Any) -> Cost:
    xs = arithmetic._shape(x_shape, "x")
    wc = arithmetic._shape(wc_shape, "w_channel")
    wv, wh = arithmetic._shape(wv_shape, "w_vertical"), arithmetic._shape(wh_shape, "w_horizontal")
    bl = arithmetic._bias_length(bias_shape)
    ch, v, h = _core.flattened_spec(xs, wc, wv, wh, _args.conv_options(2, **params), bl)
    # The channel stage runs on every input pixel (before any stride), as the op does.
    m_c = int(ch["N"] * ch["C_out"] * ch["pixels"] * ch["C_in"])
    m_v, m_h = arithmetic._conv_macs(v), arithmetic._conv_macs(h)
    return Cost(m_c + m_v + m_h, math.prod(wc) + math.prod(wv) + math.prod(wh) + max(bl, 0),
                tuple(_core.output_shape(h, False)),
                {"channel": m_c, "vertical": m_v, "horizontal": m_h})
