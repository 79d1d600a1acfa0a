"""deform_conv2d's tiled kernel at every SIMD level this CPU supports, against the NumPy oracle:
it is a kernel-table entry compiled per level (kernels/deformable.hpp, kernels/table.hpp).
"""
import numpy as np
import pytest

import convcore as cc
from conftest import assert_close
from test_deform import make_case, oracle

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize("groups,og", [(1, 1), (2, 2)])
def test_levels_match_oracle(rng, isa, threads, dtype, mask, groups, og):
    # more output channels than one register block, more pixels than one tile column panel
    x, off, w, b, m, kw_ = make_case(rng, N=2, C=8, H=13, W=15, Co=14, groups=groups, og=og,
                                     mask=mask, dtype=dtype)
    y = cc.deform_conv2d(x, off, w, b, mask=m, **kw_)
    assert y.dtype == dtype
    assert_close(y, oracle(x, off, w, b, m, kw_), reduction=w[0].size * 4)


def test_levels_channels_last_and_stride(rng, isa):
    x, off, w, b, m, kw_ = make_case(rng, N=1, C=6, H=11, W=12, Co=7, stride=2, dilation=2,
                                     padding=2, mask=True, dtype=np.float32)
    y = cc.deform_conv2d(np.ascontiguousarray(x.transpose(0, 2, 3, 1)),
                         np.ascontiguousarray(off.transpose(0, 2, 3, 1)), w, b,
                         mask=np.ascontiguousarray(m.transpose(0, 2, 3, 1)), channels_last=True,
                         **kw_)
    assert_close(y.transpose(0, 3, 1, 2), oracle(x, off, w, b, m, kw_),
                 reduction=w[0].size * 4)
