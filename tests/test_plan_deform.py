"""deform_conv2d_plan (python/convcore/_plan_deform.py over ops/deform_conv.hpp's
DeformConvWeights): plan(x, offset, mask) equals deform_conv2d bit for bit at every SIMD level
and thread count, for group counts other than the packed one, from threads sharing one plan;
copies, pickling, immutability, max_offset, out=, errors."""
import pickle
import numpy as np
import pytest

import convcore as cc
from conftest import assert_immutable, run_in_threads
from test_deform import make_case


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize("groups,og,stride,padding,dilation,k", [
    (1, 1, 1, 1, 1, (3, 3)), (2, 2, 2, 2, 2, (3, 3)), (4, 2, 1, 0, 1, (1, 3)),
    (1, 1, (2, 1), (0, 2), (1, 2), (5, 3))])
def test_plan_equals_the_call(rng, isa, threads, dtype, mask, groups, og, stride, padding,
                              dilation, k):
    # more output channels than one register block, more pixels than one column panel
    co = 14 if groups < 4 else 12
    x, off, w, b, m, kw_ = make_case(rng, N=2, C=8, H=13, W=15, Co=co, k=k, groups=groups,
                                     og=og, stride=stride, padding=padding, dilation=dilation,
                                     mask=mask, dtype=dtype)
    plan = cc.deform_conv2d_plan(w, b, **kw_)
    want = cc.deform_conv2d(x, off, w, b, mask=m, **kw_)
    assert same(plan(x, off, m), want)
    assert same(plan(x, off, mask=m), want)  # the packed form, now made
    assert plan._weights.packed_groups == groups
    # another batch size and image size with the same plan
    x2, off2, _, _, m2, _ = make_case(rng, N=1, C=8, H=9, W=20, Co=co, k=k, groups=groups,
                                      og=og, stride=stride, padding=padding, dilation=dilation,
                                      mask=mask, dtype=dtype)
    assert same(plan(x2, off2, m2), cc.deform_conv2d(x2, off2, w, b, mask=m2, **kw_))


def test_other_group_count_and_channels_last(rng):
    x, off, w, b, m, kw_ = make_case(rng, N=1, C=6, H=11, W=12, Co=8, groups=2, stride=2,
                                     padding=2, dilation=2, mask=True, dtype=np.float32)
    plan = cc.deform_conv2d_plan(w, b, **kw_)
    assert same(plan(x, off, m), cc.deform_conv2d(x, off, w, b, mask=m, **kw_))
    # x with twice the channels: four groups, packed for that call only
    x4 = np.concatenate([x, x[:, ::-1]], axis=1)
    assert same(plan(x4, off, m), cc.deform_conv2d(x4, off, w, b, mask=m, **kw_))
    assert plan._weights.packed_groups == 2
    cl = cc.deform_conv2d_plan(w, b, channels_last=True, **kw_)
    t = [np.ascontiguousarray(a.transpose(0, 2, 3, 1)) for a in (x, off, m)]
    assert same(cl(*t), cc.deform_conv2d(t[0], t[1], w, b, mask=t[2], channels_last=True,
                                         **kw_))


def test_reference_algorithm(rng):
    x, off, w, b, m, kw_ = make_case(rng)
    plan = cc.deform_conv2d_plan(w, b, algorithm="reference", **kw_)
    assert plan.algorithm == "reference"
    assert same(plan(x, off), cc.deform_conv2d(x, off, w, b, algorithm="reference", **kw_))
    assert cc.deform_conv2d_plan(w).algorithm == "tiled"


def test_threads_share_one_plan(rng):
    x, off, w, b, m, kw_ = make_case(rng, N=2, C=8, H=12, W=12, Co=10, mask=True)
    cases = []
    for i in range(6):
        xi, oi, _, _, mi, _ = make_case(rng, N=1 + i % 2, C=8, H=12, W=12, Co=10, mask=True)
        cases.append((xi, oi, mi, cc.deform_conv2d(xi, oi, w, b, mask=mi, **kw_)))
    plan = cc.deform_conv2d_plan(w, b, **kw_)  # packed by whichever thread runs first

    def work(i):
        xi, oi, mi, want = cases[i]
        for _ in range(4):
            assert same(plan(xi, oi, mi), want)

    run_in_threads(work, len(cases))


def test_copies_pickle_immutability_repr(rng):
    x, off, w, b, m, kw_ = make_case(rng, mask=True, dtype=np.float32)
    want = cc.deform_conv2d(x, off, w, b, mask=m, **kw_)
    plan = cc.deform_conv2d_plan(w, b, **kw_)
    assert "not packed yet" in repr(plan)
    held = plan.workspace_bytes
    assert held == 2 * (w.nbytes + b.nbytes)  # the plan's copies and the core's
    w *= 2
    b += 1
    assert same(plan(x, off, m), want)
    assert plan.workspace_bytes > held  # the packed form
    r = repr(plan)
    for part in ["DeformConvPlan", "deform_conv2d", "padding=1", "algorithm='tiled'",
                 "packed for groups=1", "workspace_bytes="]:
        assert part in r, r
    back = pickle.loads(pickle.dumps(plan))
    assert type(back) is cc.DeformConvPlan and same(back(x, off, m), want)
    assert_immutable(plan)
    with pytest.raises(AttributeError):
        plan._weights = None


def test_max_offset_out_and_errors(rng):
    x, off, w, b, m, kw_ = make_case(rng, spread=1.5)
    plan = cc.deform_conv2d_plan(w, b, max_offset=2, **kw_)
    want = cc.deform_conv2d(x, off, w, b, **kw_)
    out = np.empty_like(want)
    assert plan(x, off, out=out) is out and same(out, want)
    with pytest.raises(ValueError, match="max_offset"):
        plan(x, off * 3)
    with pytest.raises(ValueError, match="out must have shape"):
        plan(x, off, out=np.empty((1,)))
    with pytest.raises(TypeError, match="dtype"):
        plan(x.astype(np.float32), off.astype(np.float32))
    with pytest.raises(ValueError, match="groups"):
        plan(x[:, :3], off)
    with pytest.raises(ValueError, match="offset"):
        plan(x, off[:, :4])
    with pytest.raises(ValueError, match="max_offset"):
        cc.deform_conv2d_plan(w, max_offset=-1)
    with pytest.raises(ValueError, match="4-D w"):
        cc.deform_conv2d_plan(w[0])
    with pytest.raises(ValueError, match="bias"):
        cc.deform_conv2d_plan(w, b[:3])
    with pytest.raises(ValueError, match="algorithm"):
        cc.deform_conv2d_plan(w, algorithm="winograd")


def test_dask_input_falls_back(rng):
    da = pytest.importorskip("dask.array")
    x, off, w, b, m, kw_ = make_case(rng, N=4)
    plan = cc.deform_conv2d_plan(w, b, **kw_)
    y = plan(da.from_array(x, chunks=(2,) + x.shape[1:]),
             da.from_array(off, chunks=(2,) + off.shape[1:]))
    np.testing.assert_allclose(np.asarray(y), plan(x, off), rtol=1e-12, atol=1e-12)
