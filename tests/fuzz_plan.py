"""The plan half of the differential fuzzing (tests/test_fuzz.py, ``test_fuzz_plan``): a valid
call drawn by tests/fuzz_strategies.py for an op that has a plan is run as drawn and through
the op's plan (made from the same arguments minus x, called with x), twice, the second time
into ``out=``. README: a plan gives "the same values as cc.conv, bit for bit". A description
carries ``"plan": 1``. Run by the crash-isolating worker of tests/fuzz_ops.py.
"""
from __future__ import annotations

import numpy as np

from fuzz_ops import bit_difference

# op -> its plan's name (deform_conv2d's plan takes w and bias; offset and mask go to the call)
PLAN_OPS = {
    "conv": "conv_plan", "conv1d": "conv_plan", "conv2d": "conv_plan", "conv3d": "conv_plan",
    "conv_transpose": "conv_transpose_plan", "conv_transpose1d": "conv_transpose_plan",
    "conv_transpose2d": "conv_transpose_plan", "conv_transpose3d": "conv_transpose_plan",
    "depthwise_conv2d": "depthwise_conv2d_plan", "pointwise_conv": "pointwise_conv_plan",
    "depthwise_separable_conv2d": "depthwise_separable_conv2d_plan",
    "quantized_conv2d": "quantized_conv2d_plan", "deform_conv2d": "deform_conv2d_plan",
}


def _plan_and_call(op, args, kwargs):
    """(the plan, a function running it on x's side of the arguments)."""
    import convcore as cc

    make = getattr(cc, PLAN_OPS[op])
    if op == "deform_conv2d":
        kw = {k: v for k, v in kwargs.items() if k != "mask"}
        plan = make(*args[2:], **kw)
        return plan, lambda out=None: plan(args[0], args[1], kwargs.get("mask"), out=out)
    plan = make(*args[1:], **kwargs)
    return plan, lambda out=None: plan(args[0], out=out)


def check_plan(desc, fn, args, kwargs, same, snap):
    """None when the plan agrees with the plain call bit for bit, else a failure message."""
    try:
        expected = np.asarray(fn(*args, **kwargs))
    except Exception:
        return None  # not a call the op takes (tests/test_fuzz.py covers that side)
    before = snap((args, kwargs))
    try:
        plan, run = _plan_and_call(desc["op"], args, kwargs)
        got = run()
        out = np.empty_like(expected)  # (C-contiguous, the result's dtype and shape)
        again = run(out)
    except BaseException as e:  # noqa: BLE001 - a plan refusing a valid call is a failure
        return f"plan: raised {type(e).__name__}: {str(e)[:300]}"
    if not same(before, snap((args, kwargs))):
        return "plan modified its inputs (an argument differs after the call)"
    for what, y in (("plan(x)", got), ("plan(x, out=)", again)):
        msg = bit_difference(y, expected, f"{what} against the plain call (algorithm "
                                          f"{plan.algorithm!r})")
        if msg:
            return msg
    if again is not out:
        return "plan(x, out=out) did not return out"
    return None
