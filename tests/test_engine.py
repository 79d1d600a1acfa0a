"""The conv engine at every SIMD level this CPU supports, against the NumPy oracle.

Each level's kernels are compiled in their own translation unit (cpp/src/isa_*.cpp) and picked
at run time; `_core._set_isa` switches between them, CONVCORE_ISA chooses at import.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import convcore as cc
import reference as ref
from conftest import assert_close, conv_data, reduction
from convcore import _core

LEVELS = list(_core.simd_info()["supported"])
ALGOS = ["im2col", "direct"]


def test_info_reports_simd():
    s = cc.info()["simd"]
    assert s["level"] in s["supported"]
    assert "scalar" in s["supported"] and set(s["supported"]) <= set(s["compiled"])
    # the best supported level is chosen unless CONVCORE_ISA asked for another
    order = ["scalar", "neon", "avx2", "avx512"]
    if not os.environ.get("CONVCORE_ISA"):
        assert s["level"] == max(s["supported"], key=order.index)


def test_set_isa_rejects_bad_levels():
    with pytest.raises(ValueError, match="level must be one of"):
        _core._set_isa("sse9")
    unsupported = [l for l in ["scalar", "neon", "avx2", "avx512"] if l not in LEVELS]
    for l in unsupported:
        with pytest.raises(ValueError, match="not supported"):
            _core._set_isa(l)


def _import_with_env(value):
    import convcore

    env = dict(os.environ, CONVCORE_ISA=value)
    # The child imports the same convcore as this process (installed wheel or dev checkout).
    here = os.path.dirname(os.path.dirname(os.path.abspath(convcore.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([here] + [p for p in sys.path if p])
    out = subprocess.run([sys.executable, "-c", "import convcore as cc; s = cc.info()['simd'];"
                          "print(s['level']); print(s['note'])"],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    level, note = out.stdout.splitlines()[:2] if out.stdout.count("\n") >= 2 else (out.stdout.strip(), "")
    return level, note


def test_env_var_forces_lower_level():
    level, note = _import_with_env("scalar")
    assert level == "scalar" and note == ""


def test_env_var_unknown_falls_back_with_note():
    level, note = _import_with_env("pentium")
    order = ["scalar", "neon", "avx2", "avx512"]
    assert level == max(LEVELS, key=order.index)
    assert "pentium" in note and "using" in note


FORWARD_CASES = [
    (1, (2, 6, 37), (10, 6, 5), dict(stride=2, padding=3, dilation=2)),
    (1, (1, 3, 9), (12, 1, 3), dict(groups=3, padding="same")),
    (2, (2, 5, 13, 11), (16, 5, 3, 3), dict(padding=1)),
    (2, (1, 8, 12, 9), (12, 2, 3, 2), dict(groups=4, stride=(2, 1), padding=((1, 0), (2, 1)))),
    (2, (1, 16, 7, 7), (24, 16, 1, 1), dict()),
    (2, (2, 3, 16, 15), (8, 3, 7, 7), dict(stride=2, padding=3)),
    (2, (1, 6, 10, 10), (9, 6, 3, 3), dict(dilation=(2, 3), padding=2)),
    (2, (1, 4, 5, 6), (7, 4, 4, 4), dict(padding="same")),
    (3, (1, 4, 5, 6, 7), (6, 4, 3, 3, 3), dict(padding=1)),
    (3, (2, 4, 6, 5, 4), (8, 2, 2, 3, 1), dict(groups=2, stride=(1, 2, 1), dilation=(2, 1, 1))),
    # stride 2 along W: im2col reads a copy of x with each row split in even and odd columns
    (2, (3, 6, 8, 11), (8, 3, 3, 4), dict(groups=2, stride=2, dilation=(1, 3), padding=(1, 4))),
    (3, (2, 4, 3, 5, 9), (6, 4, 1, 2, 3), dict(stride=(1, 1, 2), padding=(0, 1, 1))),
]


@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd,xs,ws,kw", FORWARD_CASES)
def test_levels_match_oracle(rng, isa, threads, algorithm, dtype, nd, xs, ws, kw):
    x, w, b = conv_data(rng, xs, ws, dtype)
    y = cc.conv(x, w, b, algorithm=algorithm, **kw)
    assert y.dtype == dtype
    assert_close(y, ref.conv(x, w, b, **kw), reduction(w))


@pytest.mark.parametrize("activation", ["relu", "relu6", "sigmoid", "tanh", "gelu"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_levels_activation_and_layout(rng, isa, activation, channels_last):
    x, w, b = conv_data(rng, (2, 6, 9, 10), (13, 6, 3, 3), np.float32)
    b *= 3  # push values across relu6's clamp
    xin = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x
    y = cc.conv(xin, w, b, padding=1, activation=activation, channels_last=channels_last,
                algorithm="im2col")
    if channels_last:
        y = np.moveaxis(y, -1, 1)
    assert_close(y, ref.conv(x, w, b, padding=1, activation=activation), reduction(w))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_levels_padding_modes_and_flip(rng, isa, mode):
    x, w, b = conv_data(rng, (1, 5, 8, 9), (7, 5, 3, 3), np.float64)
    y = cc.conv(x, w, b, padding=2, padding_mode=mode, flip=True, algorithm="im2col")
    assert_close(y, ref.conv(x, w, b, padding=2, padding_mode=mode, flip=True), reduction(w))


def test_levels_non_contiguous_and_out(rng, isa):
    x, w, b = conv_data(rng, (2, 12, 9, 8), (6, 12, 3, 3), np.float32)
    xs = x[:, ::2, :, ::-1]
    out = np.empty((2, 6, 7, 6), np.float32)
    y = cc.conv(xs, w[:, ::2], b, algorithm="im2col", out=out)
    assert y is out or np.shares_memory(y, out)
    assert_close(out, ref.conv(xs, w[:, ::2], b), reduction(w[:, ::2]))


def test_levels_large_tiles(rng, isa, threads):
    # more pixels than one tile, K longer than one KC block, M not a multiple of the tile rows
    x, w, b = conv_data(rng, (1, 40, 23, 29), (19, 40, 3, 3), np.float32)
    y = cc.conv(x, w, b, padding=1, algorithm="im2col")
    assert_close(y, ref.conv(x, w, b, padding=1), reduction(w))


# Small images of a batch are folded into one GEMM column space (kernels/im2col.hpp): micro-tiles
# straddle two images, K spans several KC blocks (the straddling tile is read back between them),
# M is not a multiple of the tile height. The cases with >= 64 output channels take the shared-B
# path (weights packed panel by panel, rows split over the threads).
FOLD_CASES = [
    ((3, 40, 7, 7), (19, 40, 3, 3), dict(padding=1)),           # K = 360 > KC, 49-pixel images
    ((5, 300, 5, 3), (13, 300, 1, 1), dict()),                  # 1x1, 15-pixel images
    ((4, 24, 9, 9), (8, 24, 3, 3), dict(stride=2, padding=1)),  # 25 pixels, two per panel
    ((2, 6, 30, 20), (9, 6, 3, 3), dict(padding=(0, 1))),       # 560 pixels: one image per block
    ((6, 16, 2, 5, 4), (10, 8, 2, 3, 3), dict(groups=2, padding=1)),
    ((3, 40, 7, 7), (64, 40, 3, 3), dict(padding=1)),           # shared B, 2 K blocks
    ((20, 64, 3, 3), (96, 64, 3, 3), dict()),                   # one pixel per image, 3 K blocks
    ((37, 300, 1, 1), (100, 300, 1, 1), dict()),                # 1x1, one pixel per image
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("xs,ws,kw", FOLD_CASES)
def test_levels_folded_batch(rng, isa, threads, channels_last, xs, ws, kw):
    x, w, b = conv_data(rng, xs, ws, np.float32)
    b *= 3
    xin = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x
    y = cc.conv(xin, w, b, algorithm="im2col", activation="relu6", channels_last=channels_last,
                **kw)
    if channels_last:
        y = np.moveaxis(y, -1, 1)
    assert_close(y, ref.conv(x, w, b, activation="relu6", **kw), reduction(w))


def test_zero_size_batch_and_channels(rng):
    x = np.zeros((0, 4, 5, 5), np.float32)
    w = np.ones((6, 4, 3, 3), np.float32)
    assert cc.conv(x, w, algorithm="im2col").shape == (0, 6, 3, 3)


def test_algorithm_names():
    with pytest.raises(ValueError) as e:
        cc.conv(np.ones((1, 1, 3, 3)), np.ones((1, 1, 1, 1)), algorithm="magic")
    for name in ["auto", "direct", "gemm", "im2col", "reference", "winograd"]:
        assert name in str(e.value)
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    for name in ["auto", "direct", "gemm", "im2col", "reference"]:
        np.testing.assert_allclose(cc.conv(x, np.full((2, 1, 1, 1), 2.0), algorithm=name),
                                   np.concatenate([2 * x, 2 * x], axis=1))


# transposed convs of every rank, with groups, dilation, output_padding and per-axis options
# (tests/test_plan.py runs them through plans too)
TRANSPOSED_CASES = [
    ((2, 6, 11), (6, 4, 4), dict(stride=2, padding=1)),
    ((1, 8, 7), (8, 3, 3), dict(groups=2, dilation=2, output_padding=1, stride=2)),
    ((1, 16, 5, 6), (16, 8, 4, 4), dict(stride=2, padding=1)),
    ((2, 6, 7, 5), (6, 5, 3, 3), dict(stride=(1, 2), padding=(1, 0), output_padding=(0, 1))),
    ((1, 8, 6, 6), (8, 6, 3, 2), dict(groups=4, stride=3, dilation=(1, 2))),
    ((1, 32, 9, 9), (32, 40, 1, 1), dict()),
    ((1, 4, 3, 4, 5), (4, 6, 3, 3, 3), dict(stride=2, padding=1)),
]


@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,kw", TRANSPOSED_CASES)
def test_levels_transposed_match_oracle(rng, isa, threads, algorithm, dtype, xs, ws, kw):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    groups = kw.get("groups", 1)
    b = rng.standard_normal(ws[1] * groups).astype(dtype)
    y = cc.conv_transpose(x, w, b, algorithm=algorithm, **kw)
    assert y.dtype == dtype
    red = ws[0] // groups * int(np.prod(ws[2:]))
    assert_close(y, ref.conv_transpose(x, w, b, **kw), red)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_levels_transposed_activation_layout(rng, isa, activation, channels_last):
    x = rng.standard_normal((2, 12, 6, 7)).astype(np.float32)
    w = rng.standard_normal((12, 5, 4, 4)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    xin = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x
    y = cc.conv_transpose(xin, w, b, stride=2, padding=1, activation=activation,
                          channels_last=channels_last, algorithm="im2col")
    if channels_last:
        y = np.moveaxis(y, -1, 1)
    expect = ref.activate(ref.conv_transpose(x, w, b, stride=2, padding=1), activation)
    assert_close(y, expect, 12 * 16)


def test_folded_batch_many_tiles_and_thread_counts(rng, isa):
    # 1960 folded columns: several column tiles that start mid-image; the result does not
    # depend on the thread count (the same additions in the same order)
    x, w, b = conv_data(rng, (40, 40, 7, 7), (100, 40, 3, 3), np.float32)
    ys = []
    for t in (1, 2, 16):
        cc.set_num_threads(t)
        try:
            ys.append(cc.conv(x, w, b, padding=1, algorithm="im2col"))
        finally:
            cc.set_num_threads(0)
    assert_close(ys[0], ref.conv(x, w, b, padding=1), reduction(w))
    np.testing.assert_array_equal(ys[0], ys[1])
    np.testing.assert_array_equal(ys[0], ys[2])


# Transposed convs on small inputs fold the batch into the GEMM columns too: tiles straddle
# images (25 and 81 pixels per image), 486 columns span two tiles, groups and output_padding.
TRANSPOSED_FOLD_CASES = [
    ((3, 20, 5, 5), (20, 6, 4, 4), dict(stride=2, padding=1)),
    ((6, 8, 9, 9), (8, 3, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=2)),
    ((4, 40, 4, 6), (40, 9, 2, 3), dict(stride=(2, 1), dilation=(1, 2))),
    ((5, 30, 3, 3), (30, 32, 3, 3), dict(stride=2, groups=2)),
    ((2, 300, 2, 2), (300, 20, 3, 3), dict(stride=2)),          # reduction over 300 > KC
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("xs,ws,kw", TRANSPOSED_FOLD_CASES)
def test_levels_transposed_folded_batch(rng, isa, threads, channels_last, dtype, xs, ws, kw):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[1] * kw.get("groups", 1)).astype(dtype)
    xin = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x
    y = cc.conv_transpose(xin, w, b, activation="relu", algorithm="im2col",
                          channels_last=channels_last, **kw)
    if channels_last:
        y = np.moveaxis(y, -1, 1)
    expect = ref.activate(ref.conv_transpose(x, w, b, **kw), "relu")
    assert_close(y, expect, ws[0] * int(np.prod(ws[2:])))


def test_transposed_folded_independent_of_threads(rng, isa):
    x = rng.standard_normal((4, 40, 9, 9)).astype(np.float32)
    w = rng.standard_normal((40, 9, 3, 3)).astype(np.float32)
    ys = []
    for t in (1, 2, 3):
        cc.set_num_threads(t)
        try:
            ys.append(cc.conv_transpose(x, w, stride=2, padding=1, algorithm="im2col"))
        finally:
            cc.set_num_threads(0)
    np.testing.assert_array_equal(ys[0], ys[1])
    np.testing.assert_array_equal(ys[0], ys[2])


def test_transposed_is_adjoint_of_conv(rng, isa):
    x = rng.standard_normal((2, 6, 9, 8))
    w = rng.standard_normal((10, 3, 3, 3))
    kw = dict(stride=2, padding=1, groups=2)
    y = cc.conv(x, w, algorithm="im2col", **kw)
    r = rng.standard_normal(y.shape)
    xt = cc.conv_transpose(r, w, algorithm="im2col", output_padding=(0, 1), **kw)
    assert xt.shape == x.shape
    np.testing.assert_allclose(np.vdot(y, r), np.vdot(x, xt), rtol=1e-10)


@pytest.mark.parametrize("nd,xs,ws,kw", FORWARD_CASES)
def test_levels_channels_last_match_oracle(rng, isa, threads, nd, xs, ws, kw):
    # the GEMM engine reads and writes channels-last itself (no layout copies)
    x, w, b = conv_data(rng, xs, ws, np.float32)
    xl = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    y = cc.conv(xl, w, b, channels_last=True, algorithm="im2col", activation="relu", **kw)
    assert y.flags.c_contiguous
    assert_close(np.moveaxis(y, -1, 1), ref.conv(x, w, b, activation="relu", **kw), reduction(w))


def test_channels_last_padding_mode_and_non_contiguous(rng, isa):
    x, w, b = conv_data(rng, (2, 9, 8, 6), (6, 9, 3, 3), np.float64)
    xl = np.moveaxis(x, 1, -1)  # a view: not contiguous
    for mode in ["zeros", "reflect"]:
        y = cc.conv(xl, w, b, padding=1, padding_mode=mode, channels_last=True, algorithm="im2col")
        assert_close(np.moveaxis(y, -1, 1), ref.conv(x, w, b, padding=1, padding_mode=mode), reduction(w))


WINOGRAD_CASES = [
    ((1, 5, 9, 13), 7, 1, 1),
    ((2, 3, 4, 5), 2, 0, 1),
    ((1, 4, 8, 8), 3, ((2, 0), (1, 3)), 1),
    ((1, 40, 17, 19), 36, "same", 1),
    ((3, 8, 30, 6), 9, 2, 1),
    # dilated: d x d phases of undilated tiles, phases of unequal size, a phase with no rows
    ((2, 6, 13, 11), 5, 2, 2),
    ((1, 7, 17, 20), 4, "same", (3, 2)),
    ((1, 3, 9, 9), 4, 0, 4),
    ((1, 2, 6, 7), 3, 4, (5, 1)),
    # many tiles (workers take whole chunks: 3 x 16 x 16 tiles) and few (phases split by point)
    ((3, 8, 64, 64), 8, 1, 1),
    ((2, 5, 33, 31), 6, 2, 2),
    # fewer tiles than a column panel (operands swapped, weights transformed per block):
    # several transformed blocks and reduction blocks, output channels past a panel
    ((1, 300, 8, 9), 70, 1, 1),
    ((1, 70, 6, 5), 33, 1, 1),
    # up to 4 tiles: half panels; whole 16-channel runs of the weights turned over in registers
    ((1, 64, 7, 7), 40, 1, 1),
    ((2, 20, 4, 3), 17, 1, 1),
    ((1, 72, 24, 24), 12, 1, 1),  # 36 tiles: a whole 64-channel run into the packed layout
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,co,padding,dilation", WINOGRAD_CASES)
def test_levels_winograd_matches_oracle(rng, isa, threads, dtype, xs, co, padding, dilation):
    x, w, b = conv_data(rng, xs, (co, xs[1], 3, 3), dtype)
    y = cc.conv(x, w, b, padding=padding, dilation=dilation, algorithm="winograd",
                activation="relu6")
    assert_close(y, ref.conv(x, w, b, padding=padding, dilation=dilation, activation="relu6"),
                 reduction(w))


# Bias and activation are applied to the untiled rows before they are turned over into y:
# per output channel (many tiles) and per lane of channels (few tiles, run_few); tiles whole
# and partial, four at a time in registers or one by one.
@pytest.mark.parametrize("activation", [None, "relu6", "sigmoid", "tanh", "gelu"])
@pytest.mark.parametrize("xs,co,padding", [((2, 9, 18, 21), 10, 1), ((1, 40, 10, 9), 33, 0),
                                           ((1, 6, 16, 16), 5, 0)])
def test_levels_winograd_activations(rng, isa, activation, xs, co, padding):
    x, w, b = conv_data(rng, xs, (co, xs[1], 3, 3), np.float64)
    y = cc.conv(x, w, b, padding=padding, algorithm="winograd", activation=activation)
    assert_close(y, ref.conv(x, w, b, padding=padding, activation=activation), reduction(w))


# 3-D: k x 3 x 3 kernels, the depth taps in the GEMM reduction (any depth kernel, stride,
# dilation, padding); chunks of whole output slices, or of part of one
WINOGRAD_3D_CASES = [
    ((1, 4, 5, 9, 8), 5, 3, {"padding": 1}),
    ((2, 3, 6, 7, 10), 4, 3, {"padding": (2, 1, 0), "stride": (2, 1, 1)}),
    ((1, 5, 7, 6, 6), 3, 2, {"padding": (1, 2, 2), "dilation": (3, 2, 2)}),
    ((1, 2, 3, 5, 5), 2, 1, {"padding": (0, 1, 1)}),
    ((2, 3, 4, 6, 5), 6, 3, {"padding": (4, 1, 1)}),  # slices with no input at all
    # one input slice, the only output slice reading depth padding: bias only
    ((1, 4, 1, 8, 8), 5, 1, {"padding": ((1, 0), (1, 1), (1, 1)), "stride": (2, 1, 1)}),
    ((1, 4, 1, 8, 8), 5, 1, {"padding": (1, 1, 1), "stride": (3, 1, 1)}),
    ((1, 6, 4, 30, 30), 7, 3, {"padding": "same"}),
    # weights read in runs of 64 kernels (channel x depth tap) turned over in registers
    ((1, 24, 5, 6, 7), 9, 3, {"padding": 1}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,co,kd,kw", WINOGRAD_3D_CASES)
def test_levels_winograd_3d_matches_oracle(rng, isa, threads, dtype, xs, co, kd, kw):
    x, w, b = conv_data(rng, xs, (co, xs[1], kd, 3, 3), dtype)
    y = cc.conv(x, w, b, algorithm="winograd", activation="relu", **kw)
    assert_close(y, ref.conv(x, w, b, activation="relu", **kw), reduction(w))


# Few input channels (kernels/stem.hpp): output pixels in vector lanes, a band of padded input
# rows split in stride column phases per work item. Output channels past a block of 4, rows
# shorter than a vector and partial last vectors, strides 1-4, dilation, asymmetric padding,
# 1-D, and bands of one row (huge dilation).
STEM_CASES = [
    ((1, 3, 40, 38), 10, {"stride": 2, "padding": 3}, 7),
    ((2, 1, 13, 9), 8, {"padding": 1}, 3),
    ((1, 4, 23, 50), 13, {"stride": (3, 4), "padding": ((2, 0), (1, 3))}, 5),
    ((1, 2, 19, 21), 9, {"dilation": (2, 3), "padding": 2}, 3),
    ((3, 3, 9, 70), 16, {"stride": (1, 2), "padding": "same"}, (3, 5)),
    ((1, 3, 1, 300), 8, {"padding": (0, 4)}, (1, 9)),
    ((1, 1, 60, 7), 11, {"dilation": 25, "padding": 25}, 3),
]


@pytest.mark.parametrize("algorithm", ["auto", "direct"])
def test_stem_3d_one_slice(rng, algorithm):
    # one input slice: the stem kernel only when the depth is unpadded (a padded depth gives
    # output slices of padding, which the kernel does not write)
    x, w, b = conv_data(rng, (1, 3, 1, 10, 12), (8, 3, 1, 3, 3), np.float64)
    for kw in [dict(padding=(0, 1, 1)), dict(padding=1), dict(padding=((1, 0), (1, 1), (1, 1)))]:
        y = cc.conv(x, w, b, algorithm=algorithm, **kw)
        assert_close(y, ref.conv(x, w, b, **kw), reduction(w))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,co,kw,k", STEM_CASES)
def test_levels_stem_matches_oracle(rng, isa, threads, dtype, xs, co, kw, k):
    kh, kwid = (k, k) if isinstance(k, int) else k
    x, w, b = conv_data(rng, xs, (co, xs[1], kh, kwid), dtype)
    y = cc.conv(x, w, b, algorithm="direct", activation="relu6", **kw)
    assert_close(y, ref.conv(x, w, b, activation="relu6", **kw), reduction(w))


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "gelu"])
def test_levels_stem_activations_and_layouts(rng, isa, activation):
    x, w, b = conv_data(rng, (2, 3, 30, 33), (12, 3, 7, 7), np.float32)
    kw = dict(stride=2, padding=3, activation=activation)
    want = ref.conv(x, w, b, **kw)
    assert_close(cc.conv(x, w, b, **kw), want, reduction(w))  # auto: the stem kernel
    assert_close(cc.conv(x, w, None, **kw), ref.conv(x, w, None, **kw), reduction(w))
    y = cc.conv(np.moveaxis(x, 1, -1), w, b, channels_last=True, algorithm="direct", **kw)
    assert_close(np.moveaxis(y, -1, 1), want, reduction(w))
    # other padding modes and a flipped kernel: materialised before the kernel
    kr = dict(stride=2, padding=3, padding_mode="reflect")
    assert_close(cc.conv(x, w, b, **kr), ref.conv(x, w, b, **kr), reduction(w))
    assert_close(cc.conv(x, w, b, flip=True, padding=2),
                 ref.conv(x, w[:, :, ::-1, ::-1], b, padding=2), reduction(w))


def test_stem_auto_choice():
    from convcore import _args, _core
    plan = lambda xs, ws, **kw: _core._conv_algorithm(
        _core.conv_spec(xs, ws, _args.conv_options(len(xs) - 2, **kw)))
    assert plan((1, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3) == "direct"
    assert plan((8, 3, 224, 224), (32, 3, 3, 3), stride=2, padding=1) == "direct"
    assert plan((1, 5, 224, 224), (64, 5, 7, 7), stride=2, padding=3) == "im2col"  # 5 channels
    assert plan((1, 3, 56, 56), (64, 3, 1, 1)) == "direct"  # 1x1: a reduction of 3
    assert plan((1, 56, 56, 4), (64, 4, 3, 3), padding=1, channels_last=True) == "im2col"
    assert plan((1, 3, 56, 56), (4, 3, 3, 3), padding=1) == "im2col"  # few output channels


# Grouped (2-D): every group its own transforms and products. Many tiles: work items of one
# group's block of output channels over a run of tile chunks (split further when there are
# fewer groups than items the threads want); few tiles: the swapped form, each group's V^T its
# own packed A (with reduction blocks of 64 and of KC = 256 channels inside a group).
WINOGRAD_GROUPED_CASES = [
    ((1, 12, 9, 13), 9, 3, 1, 1),  # 12 tiles
    ((2, 8, 30, 26), 12, 4, 1, 1),  # 112 tiles: two chunks
    ((3, 6, 40, 40), 6, 3, 2, 2),  # dilated, 300 tiles: chunks split between items
    ((1, 140, 6, 7), 20, 2, 1, 1),  # 70 channels per group: two 64-channel blocks
    ((1, 600, 5, 5), 4, 2, 1, 1),  # 300 per group: two KC blocks
    ((2, 10, 17, 9), 15, 5, "same", 1),  # 2 channels in, 3 out per group
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,co,groups,padding,dilation", WINOGRAD_GROUPED_CASES)
def test_levels_winograd_grouped_matches_oracle(rng, isa, threads, dtype, xs, co, groups,
                                                padding, dilation):
    x, w, b = conv_data(rng, xs, (co, xs[1] // groups, 3, 3), dtype)
    kw = dict(groups=groups, padding=padding, dilation=dilation)
    y = cc.conv(x, w, b, algorithm="winograd", activation="relu6", **kw)
    assert_close(y, ref.conv(x, w, b, activation="relu6", **kw), reduction(w))


@pytest.mark.parametrize("dtype,xs,ws,groups", [
    (np.float32, (1, 360, 20, 20), (360, 180, 3, 3), 2),  # a group's U over 4 MiB: blocks
    (np.float64, (1, 256, 24, 24), (256, 128, 3, 3), 2),
    (np.float64, (1, 1900, 24, 24), (4, 950, 3, 3), 2),  # 950 per group: chunks of 32 tiles
])
def test_winograd_grouped_blocks(rng, threads, dtype, xs, ws, groups):
    x, w, b = conv_data(rng, xs, ws, dtype)
    y = cc.conv(x, w, b, padding=1, groups=groups, algorithm="winograd", activation="relu")
    assert_close(y, ref.conv(x, w, b, padding=1, groups=groups, activation="relu"),
                 reduction(w))


def test_winograd_grouped_channels_last(rng, isa):
    x, w, b = conv_data(rng, (2, 18, 11, 14), (12, 6, 3, 3), np.float32)
    kw = dict(groups=3, padding=1, padding_mode="reflect")
    y = cc.conv(np.moveaxis(x, 1, -1), w, b, channels_last=True, algorithm="winograd", **kw)
    assert_close(np.moveaxis(y, -1, 1), ref.conv(x, w, b, **kw), reduction(w))


def test_winograd_dilation_beyond_the_output(rng):
    # dilation 1000 on a 1x1 output: one phase holds outputs, not 10^6 of them
    x, w, b = conv_data(rng, (1, 3, 1, 2), (4, 3, 3, 3), np.float64)
    kw = dict(padding=1000, dilation=1000)
    assert_close(cc.conv(x, w, b, algorithm="winograd", **kw), ref.conv(x, w, b, **kw),
                 reduction(w))


def test_winograd_3d_chunks_within_a_slice(rng, threads):
    # 36 x (16 x 3 + 16) x 1849 tiles exceed the 16 MiB chunk: chunks of part of one slice
    x, w, b = conv_data(rng, (1, 16, 2, 172, 170), (16, 16, 3, 3, 3), np.float32)
    y = cc.conv(x, w, b, padding=1, algorithm="winograd")
    assert_close(y, ref.conv(x, w, b, padding=1), reduction(w))


@pytest.mark.parametrize("dtype,xs", [(np.float32, (2, 320, 9, 10)), (np.float64, (2, 320, 9, 10)),
                                      (np.float64, (1, 256, 48, 44))])
def test_winograd_blocks_output_channels(rng, threads, dtype, xs):
    # 36 x C x C transformed weights exceed the 12 MiB block: output channels in blocks, each
    # over every chunk of tiles (the last case: 132 tiles in chunks of 128)
    x, w, b = conv_data(rng, xs, (xs[1], xs[1], 3, 3), dtype)
    y = cc.conv(x, w, b, padding=1, algorithm="winograd", activation="relu")
    assert_close(y, ref.conv(x, w, b, padding=1, activation="relu"), reduction(w))


def test_winograd_auto_choice():
    # the cost model of ops/algorithm.hpp
    from convcore import _args, _core
    plan = lambda xs, ws, **kw: _core._conv_algorithm(
        _core.conv_spec(xs, ws, _args.conv_options(2, **kw)))
    assert plan((8, 256, 14, 14), (256, 256, 3, 3), padding=1) == "winograd"
    assert plan((1, 64, 56, 56), (64, 64, 3, 3), padding=1) == "winograd"
    assert plan((1, 256, 65, 65), (256, 256, 3, 3), padding=2, dilation=2) == "winograd"
    assert plan((1, 256, 14, 14), (256, 256, 3, 3), padding=1) == "winograd"  # 16 tiles
    assert plan((1, 512, 7, 7), (512, 512, 3, 3), padding=1) == "winograd"  # 4 tiles
    assert plan((1, 512, 4, 4), (512, 512, 3, 3), padding=1) == "im2col"  # 1 tile
    assert plan((1, 64, 5, 5), (64, 64, 3, 3), padding=1) == "im2col"  # 4 tiles, 25 pixels
    assert plan((1, 16, 224, 224), (16, 16, 3, 3), padding=1) == "im2col"  # few channels
    assert plan((1, 64, 56, 56), (64, 64, 3, 3), padding=1, stride=2) == "im2col"
    plan3 = lambda xs, ws, **kw: _core._conv_algorithm(
        _core.conv_spec(xs, ws, _args.conv_options(3, **kw)))
    assert plan3((1, 256, 12, 13, 13), (256, 256, 3, 3, 3), padding=1) == "winograd"
    assert plan3((1, 64, 8, 28, 28), (64, 64, 3, 3, 3), padding=1) == "winograd"
    assert plan3((1, 64, 8, 28, 28), (64, 64, 3, 3, 3), padding=1, stride=(1, 2, 2)) == "im2col"
    # grouped: the tile transforms are shared by one group's channels only
    g32 = lambda xs, c, **kw: plan(xs, (xs[1], c, 3, 3), padding=1, groups=xs[1] // c, **kw)
    assert g32((1, 2048, 28, 28), 64) == "winograd"
    assert g32((8, 2048, 14, 14), 64) == "winograd"
    assert g32((1, 1024, 28, 28), 128) == "winograd"
    assert g32((1, 2048, 14, 14), 64) == "grouped"  # 16 tiles
    assert g32((1, 1024, 28, 28), 32) == "grouped"
    assert g32((8, 512, 56, 56), 16) == "grouped"
    assert g32((8, 1024, 7, 7), 32) == "winograd"  # 7-wide rows: half the direct kernel idle
    assert g32((1, 4096, 7, 7), 128) == "winograd"  # im2col packs the weights per call too
    assert g32((1, 1024, 5, 5), 128) == "im2col"  # outputs under 6 x 6
    assert g32((1, 4096, 14, 14), 512) == "winograd"  # 8 groups of 512: 2x im2col
    assert g32((1, 2048, 56, 56), 64, stride=2) == "grouped"


def test_winograd_accuracy_vs_float64(rng):
    # documented in docs/architecture.md: float32 Winograd error ~1e-5 of max|y| at 64+ channels
    x, w, b = conv_data(rng, (1, 64, 20, 20), (64, 64, 3, 3), np.float64)
    y64 = ref.conv(x, w, b, padding=1)
    f = [a.astype(np.float32) for a in (x, w, b)]
    err = lambda y: float(np.abs(y - y64).max() / np.abs(y64).max())
    assert err(cc.conv(*f, padding=1, algorithm="winograd")) < 5e-5
    assert err(cc.conv(x, w, b, padding=1, algorithm="winograd")) < 1e-12


def test_winograd_rejects_other_shapes(rng):
    x = np.ones((1, 4, 8, 8))
    for w, kw in [(np.ones((4, 4, 5, 5)), {}), (np.ones((4, 4, 3, 3)), dict(stride=2))]:
        with pytest.raises(ValueError, match="winograd"):
            cc.conv(x, w, algorithm="winograd", **kw)
    with pytest.raises(ValueError, match="groups 1 in 3-D"):
        cc.conv(np.ones((1, 4, 3, 8, 8)), np.ones((4, 2, 3, 3, 3)), groups=2, algorithm="winograd")
    # conv_transpose: the sub-pixel form needs a 3-tap window per phase (3x3/2: 2 taps),
    # groups 1 and no dilation
    for w, kw in [(np.ones((4, 4, 3, 3)), dict(stride=2)), (np.ones((4, 2, 4, 4)), dict(stride=2, padding=1, groups=2)),
                  (np.ones((4, 4, 4, 4)), dict(stride=2, padding=1, dilation=2)),
                  (np.ones((4, 4, 4, 4)), dict(stride=2, padding=0))]:
        with pytest.raises(ValueError, match="winograd"):
            cc.conv_transpose(x, w, algorithm="winograd", **kw)


# Transposed convs in sub-pixel form (kernels/subpixel.hpp): one forward conv with a 3-tap
# window per output phase on the Winograd engine, then a pixel shuffle: DCGAN's 4x4/2, 3x3/1,
# 5x5 and 6x6 at stride 2, asymmetric padding and output_padding, odd sizes, 3-D with depth
# stride, many tiles and few (run_few), batches.
TRANSPOSED_WINOGRAD_CASES = [
    ((2, 6, 5, 7), (6, 5, 4, 4), dict(stride=2, padding=1)),
    ((1, 4, 6, 6), (4, 3, 3, 3), dict(padding=1)),
    ((1, 4, 6, 6), (4, 3, 3, 3), dict()),
    ((1, 4, 6, 5), (4, 3, 5, 6), dict(stride=2, padding=2, output_padding=1)),
    ((1, 4, 6, 5), (4, 3, 4, 4), dict(stride=2, padding=((1, 2), (1, 0)), output_padding=(1, 0))),
    ((1, 4, 2, 6, 5), (4, 3, 3, 4, 4), dict(stride=(1, 2, 2), padding=1)),
    ((2, 3, 3, 4, 5), (3, 4, 4, 4, 4), dict(stride=2, padding=1)),
    ((1, 40, 18, 17), (40, 36, 4, 4), dict(stride=2, padding=1)),   # 25 tiles: run_few
    ((3, 36, 12, 16), (36, 9, 4, 4), dict(stride=2, padding=1)),    # 144 tiles
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,kw", TRANSPOSED_WINOGRAD_CASES)
def test_levels_transposed_winograd_matches_oracle(rng, isa, threads, dtype, xs, ws, kw):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[1]).astype(dtype)
    y = cc.conv_transpose(x, w, b, algorithm="winograd", activation="relu", **kw)
    assert y.dtype == dtype
    expect = ref.activate(ref.conv_transpose(x, w, b, **kw), "relu")
    assert_close(y, expect, ws[0] * int(np.prod(ws[2:])))


def test_transposed_winograd_layout_and_no_bias(rng, isa):
    x = rng.standard_normal((2, 12, 6, 7)).astype(np.float32)
    w = rng.standard_normal((12, 5, 4, 4)).astype(np.float32)
    xl = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    y = cc.conv_transpose(xl, w, stride=2, padding=1, channels_last=True, algorithm="winograd")
    assert_close(np.moveaxis(y, -1, 1), ref.conv_transpose(x, w, stride=2, padding=1), 12 * 16)


def test_transposed_winograd_image_runs(rng):
    # phase outputs of 12.6 MB per image (float64): one image per run of the Winograd engine
    x = rng.standard_normal((3, 4, 256, 256))
    w = rng.standard_normal((4, 6, 4, 4))
    b = rng.standard_normal(6)
    y = cc.conv_transpose(x, w, b, stride=2, padding=1, algorithm="winograd")
    assert_close(y, ref.conv_transpose(x, w, b, stride=2, padding=1), 4 * 16)


def test_transposed_winograd_workspace_limit():
    # one image's phase outputs over 64 MiB: refused, not allocated
    x = np.zeros((1, 1, 2050, 2050), np.float32)
    with pytest.raises(ValueError, match="MiB"):
        cc.conv_transpose(x, np.ones((1, 1, 4, 4), np.float32), stride=2, padding=1,
                          algorithm="winograd")


def test_transposed_auto_choice():
    # the cost model of ops/algorithm.hpp (choose_conv_transpose_algorithm)
    from convcore import _args, _core
    plan = lambda xs, ws, **kw: _core._conv_transpose_algorithm(
        _core.conv_spec(xs, ws, _args.conv_options(len(ws) - 2, **kw), -1, True))
    dcgan = dict(stride=2, padding=1)
    assert plan((1, 128, 32, 32), (128, 64, 4, 4), **dcgan) == "winograd"
    assert plan((8, 256, 16, 16), (256, 128, 4, 4), **dcgan) == "winograd"
    assert plan((1, 512, 8, 8), (512, 256, 4, 4), **dcgan) == "im2col"   # 4 tiles per phase
    assert plan((1, 1024, 32, 32), (1024, 256, 4, 4), **dcgan) == "im2col"  # W' 38 MB
    assert plan((1, 128, 32, 32), (128, 64, 3, 3), stride=2, padding=1) == "im2col"
    assert plan((1, 128, 32, 32), (128, 32, 4, 4), groups=2, **dcgan) == "im2col"
    assert plan((1, 8, 32, 32), (8, 64, 4, 4), **dcgan) == "im2col"  # 8 input channels
    assert plan((1, 2, 32, 32), (2, 2, 4, 4), **dcgan) == "direct"


def test_winograd_channels_last_and_modes(rng, isa):
    x, w, b = conv_data(rng, (2, 6, 11, 9), (5, 6, 3, 3), np.float64)
    xl = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    y = cc.conv(xl, w, b, padding=1, padding_mode="reflect", flip=True, channels_last=True,
                algorithm="winograd")
    assert_close(np.moveaxis(y, -1, 1),
                 ref.conv(x, w, b, padding=1, padding_mode="reflect", flip=True), reduction(w))


# Shapes whose output rows are (nearly) a multiple of every level's NR, so the im2col engine
# takes its row path (unit stride along rows, padded-row copy, no per-tile packing).
ROW_CASES = [
    ((1, 6, 5, 64), (10, 6, 3, 3), dict(padding=1)),
    ((2, 8, 6, 66), (12, 4, 3, 5), dict(groups=2, padding=(1, 1), dilation=(1, 2))),
    ((1, 5, 9, 63), (7, 5, 3, 1), dict(stride=(2, 1), padding=((0, 2), (0, 0)))),
    ((1, 32, 4, 40), (32, 1, 3, 3), dict(groups=32, padding=1)),
    ((1, 64, 3, 32), (64, 8, 3, 3), dict(groups=8, padding="same")),
    ((2, 3, 130), (9, 3, 5), dict(padding=2)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,kw", ROW_CASES)
def test_levels_row_path_matches_oracle(rng, isa, threads, dtype, xs, ws, kw):
    x, w, b = conv_data(rng, xs, ws, dtype)
    y = cc.conv(x, w, b, algorithm="im2col", activation="relu", **kw)
    assert_close(y, ref.conv(x, w, b, activation="relu", **kw), reduction(w))


def test_property_engine_matches_reference():
    # random shapes and parameters through every engine path, against the NumPy oracle
    hyp = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")

    @hyp.settings(max_examples=60, deadline=None)
    @hyp.given(
        nd=st.integers(1, 2), n=st.integers(0, 2), g=st.integers(1, 3), cpg=st.integers(1, 5),
        opg=st.integers(1, 9), k=st.integers(1, 4), stride=st.integers(1, 3),
        dil=st.integers(1, 2), pad=st.integers(0, 3), size=st.integers(1, 40),
        cl=st.booleans(), algo=st.sampled_from(["im2col", "auto", "winograd"]),
        seed=st.integers(0, 2**16))
    def check(nd, n, g, cpg, opg, k, stride, dil, pad, size, cl, algo, seed):
        r = np.random.default_rng(seed)
        sp = (max(1, size // 3),) * (nd - 1) + (size,)
        x = r.standard_normal((n, g * cpg) + sp)
        w = r.standard_normal((g * opg, cpg) + (k,) * nd)
        b = r.standard_normal(g * opg)
        kw = dict(stride=stride, dilation=dil, padding=pad, groups=g)
        if any((s + 2 * pad - dil * (k - 1) - 1) < 0 for s in sp):
            return  # empty output: covered by the op's own validation tests
        if algo == "winograd" and not (nd == 2 and k == 3 and stride == 1 and g == 1):
            algo = "im2col"
        xin = np.moveaxis(x, 1, -1) if cl else x
        y = cc.conv(xin, w, b, channels_last=cl, algorithm=algo, **kw)
        if cl:
            y = np.moveaxis(y, -1, 1)
        assert_close(y, ref.conv(x, w, b, **kw), cpg * k ** nd)

    check()
