"""algorithm="grouped" (kernels/grouped.hpp): the direct grouped kernel for small channel counts
per group, at every ISA level, against the NumPy oracle and PyTorch."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convcore as cc
import reference as ref
from conftest import assert_close, conv_data

CASES = [
    # (x shape, w shape, params): channels per group below, at and above one vector's lanes
    ((1, 64, 9, 11), (64, 16, 3, 3), dict(groups=4, padding=1)),
    ((2, 32, 7, 20), (48, 16, 3, 3), dict(groups=2, stride=2, padding=1)),
    ((1, 128, 6, 15), (128, 4, 3, 3), dict(groups=32, padding=1)),
    ((1, 96, 13, 10), (96, 32, 3, 2), dict(groups=3, stride=(2, 1), padding=(1, 0),
                                           dilation=(1, 2))),
    ((1, 16, 5, 30), (8, 8, 3, 3), dict(groups=2)),
    ((1, 40, 8, 8), (40, 5, 1, 1), dict(groups=8, stride=3)),
    ((2, 12, 5, 5), (18, 4, 5, 5), dict(groups=3, padding=((3, 1), (2, 2)), dilation=2)),
    ((1, 64, 4, 4), (128, 2, 3, 3), dict(groups=32, padding="same")),
    ((2, 24, 37), (24, 6, 3), dict(groups=4, padding=2, dilation=3)),  # 1-D
    ((1, 8, 20), (16, 8, 5), dict(groups=1, stride=2)),  # 1-D, groups 1
    # whole 14-pixel tiles with 20 and 48 output channels per group (full and partial 16-lane
    # blocks of the AVX-512 write-back transpose)
    ((1, 40, 5, 31), (40, 20, 3, 3), dict(groups=2, padding=1)),
    ((1, 96, 4, 29), (96, 48, 3, 3), dict(groups=2, padding=(1, 0))),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,kw", CASES)
def test_grouped_matches_reference(isa, threads, rng, dtype, xs, ws, kw):
    x, w, b = conv_data(rng, xs, ws, dtype)
    y = cc.conv(x, w, b, algorithm="grouped", **kw)
    assert y.dtype == dtype and y.flags.c_contiguous
    assert_close(y, ref.conv(x, w, b, **kw), int(np.prod(ws[1:])))


@pytest.mark.parametrize("activation", [None, "relu", "relu6", "sigmoid", "tanh", "gelu"])
@pytest.mark.parametrize("xs,ws,kw", [CASES[0], CASES[1], CASES[8]])
def test_grouped_channels_last_and_activation(isa, rng, activation, xs, ws, kw):
    x, w, b = conv_data(rng, xs, ws, np.float32)
    expected = ref.conv(x, w, b, activation=activation, **kw)
    xl = np.moveaxis(x, 1, -1)
    y = cc.conv(xl, w, b, algorithm="grouped", channels_last=True, activation=activation, **kw)
    assert y.flags.c_contiguous
    assert_close(np.moveaxis(y, -1, 1), expected, int(np.prod(ws[1:])))
    # non-contiguous channels-first input, no bias
    xn = np.asfortranarray(x)
    assert_close(cc.conv(xn, w, algorithm="grouped", activation=activation, **kw),
                 ref.conv(x, w, None, activation=activation, **kw), int(np.prod(ws[1:])))


@pytest.mark.parametrize("groups", [1, 4])
def test_grouped_weights_changed_in_place(isa, threads, rng, groups):
    # workers keep a group's packed weights for their next item, never for the next call (with
    # groups=1 every item of both calls is group 0)
    x, w, b = conv_data(rng, (1, 16 * groups, 20, 12), (16 * groups, 16, 3, 3), np.float32)
    kw = dict(groups=groups, padding=1)
    assert_close(cc.conv(x, w, b, algorithm="grouped", **kw), ref.conv(x, w, b, **kw), 144)
    w[:, :, 1, :] *= -2.0
    assert_close(cc.conv(x, w, b, algorithm="grouped", **kw), ref.conv(x, w, b, **kw), 144)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_grouped_bias_and_activation_channels_first(isa, rng, activation):
    x, w, b = conv_data(rng, (1, 64, 9, 30), (96, 16, 3, 3), np.float32)
    kw = dict(groups=4, padding=1)
    assert_close(cc.conv(x, w, b, algorithm="grouped", activation=activation, **kw),
                 ref.conv(x, w, b, activation=activation, **kw), 144)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_grouped_padding_modes_and_flip(rng, mode):
    x, w, b = conv_data(rng, (1, 32, 7, 9), (32, 8, 3, 3), np.float64)
    kw = dict(groups=4, padding=1, padding_mode=mode)
    assert_close(cc.conv(x, w, b, algorithm="grouped", **kw), ref.conv(x, w, b, **kw), 72)
    assert_close(cc.conv(x, w, b, algorithm="grouped", flip=True, **kw),
                 ref.conv(x, w, b, flip=True, **kw), 72)


def test_grouped_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x, w, b = conv_data(rng, (1, 1024, 10, 10), (1024, 32, 3, 3), np.float32)
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                          torch.from_numpy(b), padding=1, groups=32).numpy()
    for algorithm in ["grouped", "auto"]:  # auto picks grouped for 32 channels per group
        assert_close(cc.conv(x, w, b, padding=1, groups=32, algorithm=algorithm),
                     expected.astype(np.float64), 288)


def test_grouped_refusals(rng):
    x = np.ones((1, 4, 3, 3, 3), np.float32)
    w = np.ones((4, 2, 1, 1, 1), np.float32)
    with pytest.raises(ValueError, match="grouped"):
        cc.conv(x, w, groups=2, algorithm="grouped")
    with pytest.raises(ValueError, match="grouped"):
        cc.conv_transpose(x[:, :, 0], np.ones((4, 2, 1, 1), np.float32), groups=2,
                          algorithm="grouped")
    with pytest.raises(ValueError) as e:
        cc.conv(x, w, algorithm="magic")
    assert "grouped" in str(e.value)


def test_grouped_zero_batch():
    x = np.zeros((0, 8, 5, 5), np.float32)
    assert cc.conv(x, np.ones((8, 2, 3, 3), np.float32), groups=4,
                   algorithm="grouped").shape == (0, 8, 3, 3)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), g=st.integers(1, 4), cpg=st.integers(1, 9), opg=st.integers(1, 20),
       h=st.integers(1, 9), wd=st.integers(1, 17), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), dh=st.integers(1, 2), dw=st.integers(1, 2),
       ph=st.integers(0, 3), pw=st.integers(0, 3), cl=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_grouped_hypothesis(n, g, cpg, opg, h, wd, kh, kw, sh, sw, dh, dw, ph, pw, cl, dtype):
    rng = np.random.default_rng(n * 1000 + g * 100 + cpg)
    if (h + 2 * ph - dh * (kh - 1) - 1) < 0 or (wd + 2 * pw - dw * (kw - 1) - 1) < 0:
        return
    x, w, b = conv_data(rng, (n, g * cpg, h, wd), (g * opg, cpg, kh, kw), dtype)
    p = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=g)
    expected = ref.conv(x, w, b, **p)
    xin = np.moveaxis(x, 1, -1) if cl else x
    y = cc.conv(xin, w, b, algorithm="grouped", channels_last=cl, **p)
    assert_close(np.moveaxis(y, -1, 1) if cl else y, expected, cpg * kh * kw)
