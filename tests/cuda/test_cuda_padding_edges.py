"""The padding modes at their edges on CuPy arrays: the core's spec refuses what PyTorch refuses
(reflect padding >= size, circular padding > size, a padding mode on an empty dimension) with
the CPU's message, and an empty batch gives the CPU's empty result, `conv` included.

Runs on the GPU and on the CPU emulation of tests/cuda/emulation (see test_cuda_ops)."""
from __future__ import annotations

import numpy as np
import pytest

import convcore as cc
from test_cuda_ops import check, cp, rnd  # noqa: F401

MODES = ["reflect", "replicate", "circular"]


def _ops(cp):
    """name -> (call on NumPy arrays or CuPy arrays, arrays): each op that takes padding_mode."""
    w = rnd((3, 4, 3, 3), np.float64, 1)
    wg = rnd((4, 2, 3, 3), np.float64, 2)
    wd, wp = rnd((4, 1, 3, 3), np.float64, 3), rnd((3, 4), np.float64, 4)
    wc, wr = rnd((4, 2, 3, 1), np.float64, 5), rnd((2, 2, 1, 3), np.float64, 6)
    fc, fv, fh = rnd((3, 4), np.float64, 7), rnd((3, 3), np.float64, 8), rnd((3, 3), np.float64, 9)
    sq, hor, ver = w, rnd((3, 4, 1, 3), np.float64, 10), rnd((3, 4, 3, 1), np.float64, 11)
    return {
        "conv": (lambda a, x, p, m: cc.conv(x, a(w), padding=p, padding_mode=m)),
        "conv-depthwise": (lambda a, x, p, m: cc.conv(x, a(wd), groups=4, padding=p,
                                                      padding_mode=m)),
        "depthwise_conv2d": (lambda a, x, p, m: cc.depthwise_conv2d(x, a(wd), padding=p,
                                                                    padding_mode=m)),
        "depthwise_separable_conv2d": (
            lambda a, x, p, m: cc.depthwise_separable_conv2d(x, a(wd), a(wp), padding=p,
                                                             padding_mode=m)),
        "spatially_separable_conv2d": (
            lambda a, x, p, m: cc.spatially_separable_conv2d(x, a(wc), a(wr), groups=2,
                                                             padding=p, padding_mode=m)),
        "flattened_conv2d": (lambda a, x, p, m: cc.flattened_conv2d(x, a(fc), a(fv), a(fh),
                                                                    padding=p, padding_mode=m)),
        "shuffled_grouped_conv": (lambda a, x, p, m: cc.shuffled_grouped_conv(
            x, a(wg), groups=2, padding=p, padding_mode=m)),
        "asymmetric_conv2d": (lambda a, x, p, m: cc.asymmetric_conv2d(
            x, a(sq), a(hor), a(ver), padding=p, padding_mode=m)),
    }


OP_NAMES = ["conv", "conv-depthwise", "depthwise_conv2d", "depthwise_separable_conv2d",
            "spatially_separable_conv2d", "flattened_conv2d", "shuffled_grouped_conv",
            "asymmetric_conv2d"]


def _numpy(a):
    return a


@pytest.mark.parametrize("mode", MODES + ["zeros"])
@pytest.mark.parametrize("op", OP_NAMES)
def test_empty_batch_gives_the_cpu_empty_result(cp, op, mode):
    call = _ops(cp)[op]
    x = np.zeros((0, 4, 5, 6))
    want = call(_numpy, x, (2, 3), mode)
    y = call(cp.asarray, cp.asarray(x), (2, 3), mode)
    assert isinstance(y, cp.ndarray) and y.shape == want.shape and y.shape[0] == 0


@pytest.mark.parametrize("op", OP_NAMES)
def test_refusals_match_the_cpu(cp, op):
    call = _ops(cp)[op]
    cases = [((1, 4, 5, 6), (5, 1), "reflect"), ((1, 4, 5, 6), (1, 7), "circular"),
             ((1, 4, 0, 6), (2, 2), "replicate"), ((1, 4, 5, 0), (1, 1), "circular"),
             ((0, 4, 5, 6), (1, 6), "reflect")]
    for shape, padding, mode in cases:
        x = np.zeros(shape)
        with pytest.raises(ValueError, match=f"padding_mode='{mode}'") as cpu:
            call(_numpy, x, padding, mode)
        with pytest.raises(ValueError) as gpu:
            call(cp.asarray, cp.asarray(x), padding, mode)
        assert str(gpu.value) == str(cpu.value)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", ["conv", "conv-depthwise", "spatially_separable_conv2d"])
def test_at_the_limit_matches_the_cpu(cp, op, mode):
    call = _ops(cp)[op]
    padding = {"reflect": (3, 4), "circular": (4, 5), "replicate": (6, 7)}[mode]
    x = rnd((1, 4, 4, 5), np.float64, 12)
    want = call(_numpy, x, padding, mode)
    check(cp.asnumpy(call(cp.asarray, cp.asarray(x), padding, mode)), want, np.float64, 36)
