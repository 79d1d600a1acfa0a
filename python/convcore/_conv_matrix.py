"""conv_matrix (the explicit sparse matrix of a convolution) and transposed_overlap."""
from __future__ import annotations

import math
from typing import Any, Tuple

import numpy as np

from . import _args, _core, arithmetic


def _geometry(input_shape: Any, w_shape: Any) -> Tuple[list, list, bool]:
    if input_shape is None:
        raise TypeError("input_shape must be a shape (a tuple of ints), got None")
    if w_shape is None:
        raise TypeError("w must be an array (or, for the cost model, a shape), got None")
    xs = arithmetic._shape(input_shape, "input_shape")
    ws = arithmetic._shape(w_shape, "w")
    nd = len(ws) - 2
    if not 1 <= nd <= 3:
        raise ValueError(f"w must have 3, 4 or 5 dimensions (C_out, C_in/groups, *kernel), got "
                         f"{len(ws)}")
    if len(xs) == nd + 1:
        return [1] + xs, ws, False
    if len(xs) == nd + 2:
        return xs, ws, True
    raise ValueError(f"input_shape must be (N, C, *spatial) or (C, *spatial) with {nd} spatial "
                     f"dimensions to match a {nd}-D kernel, got {tuple(xs)}")


def conv_matrix(input_shape: Any, w: Any, *, stride: Any = 1, padding: Any = 0,
                dilation: Any = 1, groups: int = 1) -> Any:
    """The convolution as an explicit ``scipy.sparse.csr_matrix`` C.

    ``C @ x.ravel() == conv(x, w, stride=..., padding=..., dilation=..., groups=...).ravel()``
    for every x of ``input_shape``, which is ``(N, C_in, *spatial)`` or, for a single image,
    ``(C_in, *spatial)`` (then y is ``(C_out, *out)``); 1-3 spatial dims, the rank of w. C has
    ``prod(y.shape)`` rows and ``prod(input_shape)`` columns, and one entry per (output, input
    channel of its group, kernel tap inside the input): zero padding contributes nothing.
    ``padding`` takes every form :func:`convcore.conv` takes; the padding mode is zeros.
    ``C.T`` is the transposed convolution: ``C.T @ y.ravel() == conv_transpose(y, w, ...)``
    (with the ``output_padding`` that restores ``input_shape``). The CSR arrays are built in
    C++; the dtype is w's. Sizes are overflow-checked, and matrices whose arrays would exceed
    64 GiB are refused (ValueError).

    Needs SciPy (``pip install convcore[sparse]``).

    >>> import numpy as np, convcore as cc
    >>> C = cc.conv_matrix((1, 4, 4), np.ones((1, 1, 3, 3)))   # the textbook 4x4 input, 3x3 kernel
    >>> C.shape, C.nnz
    ((4, 16), 36)
    >>> (C.T @ np.ones(4)).reshape(4, 4)            # its transpose maps 2x2 to 4x4
    array([[1., 2., 2., 1.],
           [2., 4., 4., 2.],
           [2., 4., 4., 2.],
           [1., 2., 2., 1.]])
    """
    try:
        import scipy.sparse as sp  # type: ignore[import-untyped]
    except ImportError as e:  # pragma: no cover - scipy is installed in the test environment
        raise ImportError("conv_matrix needs SciPy: pip install 'convcore[sparse]' "
                          "(or pip install scipy)") from e
    (w,) = _args.arrays(w=w)
    if _args.is_cupy(w):
        raise TypeError("conv_matrix builds a SciPy matrix: pass w as a NumPy array")
    xs, ws, _ = _geometry(input_shape, w.shape)
    opts = _args.conv_options(len(ws) - 2, stride=stride, padding=padding, dilation=dilation,
                              groups=groups)
    data, indices, indptr, shape = _core.conv_matrix(xs, w, opts)
    return sp.csr_matrix((data, indices, indptr), shape=tuple(shape))


def transposed_overlap(kernel_size: Any, stride: Any, dilation: Any = 1) -> np.ndarray:
    """How many input pixels a transposed conv adds into each output pixel of its interior.

    Output position ``p`` of ``conv_transpose`` (before the padding crop) receives
    ``x[i] * w[t]`` for every ``p = i * stride + t * dilation``; away from the border every ``i``
    exists, so the count depends only on the phase ``p % stride``: it is the number of taps
    ``t`` in ``[0, kernel_size)`` with ``t * dilation = p (mod stride)``. With ints the result
    is a 1-D int64 array of length ``stride``, indexed by phase; with tuples (one value per
    spatial dim; ints are broadcast) it is an N-d array of shape ``stride``, the outer product
    of the per-dim counts. Uneven counts are the checkerboard artefact of transposed convs:
    ``kernel_size % stride == 0`` (dilation 1) gives an even grid.

    >>> import convcore as cc
    >>> cc.transposed_overlap(4, 2)
    array([2, 2])
    >>> cc.transposed_overlap(3, 2)
    array([2, 1])
    >>> cc.transposed_overlap((3, 3), (2, 2))
    array([[4, 2],
           [2, 1]])
    """
    # A 0-d array is a scalar (np.array(3) has no len()).
    vals = tuple(v[()] if isinstance(v, np.ndarray) and v.ndim == 0 else v
                 for v in (kernel_size, stride, dilation))
    if any(isinstance(v, (tuple, list, np.ndarray)) for v in vals):
        lens = {len(v) for v in vals if isinstance(v, (tuple, list, np.ndarray))}
        if len(lens) > 1:
            raise ValueError(f"kernel_size, stride and dilation must be ints or tuples of one "
                             f"length (one value per spatial dimension), got {vals!r}")
        nd = lens.pop()
        ks, ss, ds = (_args.ntuple(v, nd, n) for v, n in
                      zip(vals, ("kernel_size", "stride", "dilation")))
        out = np.ones((), np.int64)
        for k, s, d in zip(ks, ss, ds):
            out = np.multiply.outer(out, np.asarray(_core.transposed_overlap_count(k, s, d),
                                                    np.int64))
        return out
    k, s, d = (_args._int(v, n) for v, n in zip(vals, ("kernel_size", "stride", "dilation")))
    return np.asarray(_core.transposed_overlap_count(k, s, d), np.int64)


@arithmetic.register("conv_matrix")
def _conv_matrix_cost(input_shape: Any, w_shape: Any, **params: Any) -> arithmetic.Cost:
    """output_shape: the matrix's (rows, columns); details: its non-zeros (macs of C @ x)."""
    xs, ws, _ = _geometry(input_shape, w_shape)
    opts = _args.conv_options(len(ws) - 2, **params)
    rows, cols, nnz = _core.conv_matrix_size(xs, ws, opts)
    return arithmetic.Cost(0, 0, (int(rows), int(cols)), {"nnz": int(nnz)})


@arithmetic.register("transposed_overlap")
def _overlap_cost(kernel_size: Any, stride: Any, dilation: Any = 1) -> arithmetic.Cost:
    return arithmetic.Cost(0, 0, tuple(transposed_overlap(kernel_size, stride, dilation).shape))
