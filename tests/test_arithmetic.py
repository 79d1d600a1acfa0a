"""output_shape, cost, receptive_field: textbook figures asserted exactly."""
import numpy as np
import pytest

import convcore as cc


def test_textbook_standard_conv():
    c = cc.cost("conv", (1, 3, 7, 7), (128, 3, 3, 3))
    assert c.macs == 86400
    assert c.params == 128 * 27
    assert c.output_shape == (1, 128, 5, 5)
    assert c.flops == 2 * 86400
    assert cc.cost("conv2d", (1, 3, 7, 7), (128, 3, 3, 3), (128,)).params == 128 * 27 + 128


def test_textbook_single_channel_3x3_on_5x5():
    assert cc.cost("conv", (1, 1, 5, 5), (1, 1, 3, 3)).macs == 81
    assert cc.cost("convolve", (5, 5), (3, 3), mode="valid").macs == 81
    assert cc.cost("correlate", (5, 5), (3, 3), mode="same").output_shape == (5, 5)


def test_grouped_params():
    c = cc.cost("conv", (1, 64, 8, 8), (128, 64 // 4, 3, 3), groups=4, padding=1)
    assert c.params == 128 * (64 // 4) * 9
    assert c.macs == 128 * 64 * (64 // 4) * 9


@pytest.mark.parametrize("op,shapes,params", [
    ("conv", ((2, 3, 10, 11), (4, 3, 3, 2)), dict(stride=2, padding=(1, 0), dilation=2)),
    ("conv", ((2, 9, 10, 6), (6, 2, 3, 2)), dict(padding="same", groups=3, channels_last=True)),
    ("conv1d", ((1, 2, 17), (3, 2, 4)), dict(stride=3, padding="same")),
    ("conv3d", ((1, 2, 5, 6, 7), (3, 2, 2, 3, 2)), dict(padding=((0, 1), (1, 1), (2, 0)))),
    ("conv_transpose", ((2, 4, 5, 6), (4, 3, 3, 3)), dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose1d", ((1, 2, 7), (2, 4, 5)), dict(stride=3, dilation=2, groups=2)),
    ("convolve", ((9, 7), (4, 3)), dict(mode="full")),
    ("correlate", ((4,), (9,)), dict(mode="valid")),
])
def test_output_shape_matches_the_op(op, shapes, params):
    arrays = [np.zeros(s) for s in shapes]
    y = getattr(cc, op)(*arrays, **params)
    assert cc.output_shape(op, *shapes, **params) == y.shape
    assert cc.cost(op, *arrays, **params).output_shape == y.shape  # arrays work as shapes


def test_transposed_cost_equals_forward():
    fwd = cc.cost("conv", (1, 3, 16, 16), (8, 3, 4, 4), stride=2, padding=1)
    back = cc.cost("conv_transpose", (1, 8, 8, 8), (8, 3, 4, 4), stride=2, padding=1)
    assert back.macs == fwd.macs and back.output_shape == (1, 3, 16, 16)


def test_receptive_fields():
    assert cc.receptive_field([(3, 1, 1)] * 3).size == 7
    assert cc.receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)]).size == 15
    rf = cc.receptive_field([(7, 2, 1, 3), (3, 2, 1, 1), (3, 1), (3,)])
    assert (rf.size, rf.jump, rf.start) == (27, 4, -5)
    rf2 = cc.receptive_field([((3, 5), 1, (1, 2))])
    assert rf2.size == (3, 9) and rf2.jump == (1, 1)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="op must be one of"):
        cc.cost("nope", (1, 1, 3, 3), (1, 1, 3, 3))
    with pytest.raises(TypeError, match="op"):
        cc.cost(3, (1,))
    with pytest.raises(ValueError, match="groups"):
        cc.cost("conv", (1, 4, 5, 5), (3, 2, 3, 3), groups=2)
    with pytest.raises(TypeError, match="x must be a shape"):
        cc.cost("conv", "abc", (1, 1, 3, 3))
    with pytest.raises(ValueError, match="layers"):
        cc.receptive_field([])
    with pytest.raises(ValueError, match=r"layers\[1\]"):
        cc.receptive_field([(3, 1, 1), (0, 1, 1)])
    with pytest.raises(ValueError, match="conv2d expects"):
        cc.cost("conv2d", (1, 1, 5), (1, 1, 3))
