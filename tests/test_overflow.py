"""Integer overflow in the geometry: huge strides, dilations and paddings (and shapes) are
refused with a ValueError naming the parameter, in the ops, the cost model and the arithmetic
helpers alike, instead of wrapping around into wrong shapes and out-of-bounds reads. The C++
validation is also run under UBSan (tests/overflow_ubsan.cpp) when g++ is available."""
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import convcore as cc

ROOT = Path(__file__).resolve().parent.parent
P = 2 ** 63 - 1
HUGE = [2 ** 62, P, 2 ** 63 - 2]
X = np.ones((1, 1, 5, 5))
W = np.ones((1, 1, 3, 3))
# the parameter a refusal must name, for each keyword
NAMES = {"dilation": "dilation", "padding": "padding", "stride": "stride"}


def refused(name, fn, *args, **kwargs):
    with pytest.raises(ValueError, match=name):
        fn(*args, **kwargs)


# --- the reported cases -------------------------------------------------------------------------

@pytest.mark.parametrize("v", HUGE)
def test_conv_huge_dilation(v):
    refused("dilation", cc.conv, X, W, dilation=v)
    refused("dilation", cc.cost, "conv", X.shape, W.shape, dilation=v)
    refused("dilation", cc.output_shape, "conv", X.shape, W.shape, dilation=v)
    refused("dilation", cc.depthwise_conv2d, X, W, dilation=v)


@pytest.mark.parametrize("v", HUGE)
def test_conv_huge_padding(v):
    # a padding that fits 64 bits still makes the output (2**62 per axis) too large
    refused("padding|output is too large", cc.conv, X, np.ones((1, 1, 1, 1)), padding=v)
    refused("padding|output is too large", cc.conv, X, W, padding=(v, 0))
    refused("padding|output is too large", cc.conv, X, W, padding=((0, v), (v, 0)))
    refused("padding|output is too large", cc.cost, "conv", X.shape, W.shape, padding=v)
    refused("padding", cc.conv, X, W, padding=((v, v), (0, 0)))


@pytest.mark.parametrize("v", [2 ** 62, P, 2 ** 61])
def test_conv_transpose_huge_stride(v):
    refused("stride", cc.conv_transpose, X, W, stride=v)
    refused("stride", cc.cost, "conv_transpose", X.shape, W.shape, stride=v)


def test_conv_transpose_huge_padding_and_dilation():
    refused("padding", cc.conv_transpose, X, W, padding=P)
    refused("padding", cc.conv_transpose, X, W, padding=((P, P), (0, 0)))
    refused("dilation", cc.conv_transpose, X, W, dilation=P)
    refused("dilation", cc.cost, "conv_transpose", X.shape, W.shape, dilation=2 ** 62)
    # output_padding < max(stride, dilation) may itself be huge
    refused("stride|output", cc.conv_transpose, X, W, stride=P, output_padding=P - 1)


def test_receptive_field_overflow():
    refused(r"layers\[0\].*dilation", cc.receptive_field, [(2 ** 62, 1, 4)])
    refused(r"layers\[1\].*kernel", cc.receptive_field, [(P, 1, 1), (3, 1, 1)])
    refused(r"layers\[1\].*stride", cc.receptive_field, [(1, 2 ** 62, 1), (1, 4, 1)])
    refused(r"layers\[1\].*padding", cc.receptive_field, [(1, 2 ** 40, 1), (1, 1, 1, 2 ** 40)])
    refused(r"layers\[0\]", cc.receptive_field, [((3, 2 ** 63), 1, 1)])
    # large but representable: exact
    rf = cc.receptive_field([(2 ** 31, 1, 2 ** 31)])
    assert rf.size == (2 ** 31 - 1) * 2 ** 31 + 1
    assert cc.receptive_field([(3, 2 ** 31, 1), (3, 2 ** 31, 1)]).size == 3 + 2 * 2 ** 31


def test_transposed_overlap_any_dilation():
    # t * dilation overflowed: counts of the taps 0, P, 2P (mod 3: 0, 1, 2)
    np.testing.assert_array_equal(cc.transposed_overlap(3, 3, P), [1, 1, 1])
    np.testing.assert_array_equal(cc.transposed_overlap(4, 2, 2 ** 62), [4, 0])
    np.testing.assert_array_equal(cc.transposed_overlap(5, 7, P),
                                  np.bincount([(t * P) % 7 for t in range(5)], minlength=7))
    assert cc.transposed_overlap((3, 3), (3, 3), (P, 1)).sum() == 9


# --- every op of the conv family ------------------------------------------------------------------

OPS = {
    "conv": lambda **kw: cc.conv(X, W, **kw),
    "conv2d": lambda **kw: cc.conv2d(X, W, **kw),
    "depthwise_conv2d": lambda **kw: cc.depthwise_conv2d(X, W, **kw),
    "flattened_conv2d": lambda **kw: cc.flattened_conv2d(
        X, np.ones((1, 1)), np.ones((1, 3)), np.ones((1, 3)), **kw),
    "shuffled_grouped_conv": lambda **kw: cc.shuffled_grouped_conv(
        np.ones((1, 2, 5, 5)), np.ones((2, 1, 3, 3)), groups=2, **kw),
    "asymmetric_conv2d": lambda **kw: cc.asymmetric_conv2d(
        X, W, np.ones((1, 1, 1, 3)), np.ones((1, 1, 3, 1)), **kw),
    "depthwise_separable_conv2d": lambda **kw: cc.depthwise_separable_conv2d(
        X, W, np.ones((2, 1, 1, 1)), **kw),
    "spatially_separable_conv2d": lambda **kw: cc.spatially_separable_conv2d(
        X, np.ones((1, 1, 3, 1)), np.ones((1, 1, 1, 3)), **kw),
    "quantized_conv2d": lambda **kw: cc.quantized_conv2d(
        np.ones((1, 1, 5, 5), np.uint8), 1.0, 0, np.ones((1, 1, 3, 3), np.uint8), 1.0, 0, 1.0, 0,
        **kw),
    "conv_matrix": lambda **kw: cc.conv_matrix((1, 5, 5), W, **kw),
    "deform_conv2d": lambda **kw: cc.deform_conv2d(
        X, np.zeros((1, 18, 3, 3)), W, **kw),
}


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("param", ["dilation", "padding", "stride"])
@pytest.mark.parametrize("v", [2 ** 62, P, 2 ** 31, 2 ** 32 + 1])
def test_ops_huge_geometry(op, param, v):
    fn = OPS[op]
    try:
        y = fn(**{param: v})
    except ValueError as e:
        # refused: the message names the parameter (or, for a padding or stride that only makes
        # the output too large, the output / padded input / a mismatched offset)
        assert param in str(e) or "output" in str(e) or "offset" in str(e), str(e)
        return
    except MemoryError:
        assert param == "padding" and v < 2 ** 40  # a large but representable output
        return
    # accepted: only a stride can be that large, and then every output reads inside x
    assert param == "stride", (op, param, v)
    y = y.toarray() if hasattr(y, "toarray") else np.asarray(y)
    assert y.shape[-1] in (1, 25, 5) and np.all(np.isfinite(y.astype(np.float64)))


@pytest.mark.parametrize("v", [2 ** 62, P])
def test_huge_stride_is_a_single_output(v):
    # A stride beyond the input makes one output position: exact, not wrapped around.
    y = cc.conv(X, W, stride=v)
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == 9
    assert cc.cost("conv", X.shape, W.shape, stride=v).macs == 9
    y = cc.depthwise_conv2d(X, W, stride=(1, v), padding=1)
    assert y.shape == (1, 1, 5, 1)
    np.testing.assert_array_equal(y[0, 0, :, 0], [4, 6, 6, 6, 4])


def test_costs_refuse_huge_geometry():
    for op, shapes in [
        ("depthwise_conv2d", (X.shape, W.shape)),
        ("shuffled_grouped_conv", ((1, 2, 5, 5), (2, 1, 3, 3))),
        ("asymmetric_conv2d", (X.shape, W.shape, (1, 1, 1, 3), (1, 1, 3, 1))),
        ("spatially_separable_conv2d", (X.shape, (1, 1, 3, 1), (1, 1, 1, 3))),
        ("flattened_conv2d", (X.shape, (1, 1), (1, 3), (1, 3))),
        ("depthwise_separable_conv2d", (X.shape, W.shape, (2, 1, 1, 1))),
        ("conv_matrix", ((1, 5, 5), W.shape)),
    ]:
        kw = {"groups": 2} if op == "shuffled_grouped_conv" else {}
        refused("dilation", cc.cost, op, *shapes, dilation=P, **kw)
        refused("padding", cc.cost, op, *shapes, padding=P, **kw)


def test_large_but_valid_padding_is_refused_by_size_not_wrapped():
    # padding 2**31 on both sides of both axes: the output would have 2**64 elements
    refused("too large", cc.conv, X, np.ones((1, 1, 1, 1)), padding=2 ** 31)
    refused("too large", cc.cost, "conv", X.shape, (1, 1, 1, 1), padding=2 ** 31)
    # a stride skipping the padding keeps the output small, but the padded input the kernels
    # index would have 2**64 elements
    refused("padding", cc.conv, X, W, padding=2 ** 31, stride=2 ** 40)
    # exact geometry just below the limits
    assert cc.output_shape("conv", (1, 1, 5), (1, 1, 3), padding=2 ** 40, stride=2 ** 40) == \
        (1, 1, 3)


def test_channel_products_do_not_overflow():
    # w.shape[1] * groups overflowed in the channel check
    with pytest.raises(ValueError, match="channels"):
        cc.cost("conv", (1, 4, 5, 5), (1, 2 ** 40, 1, 1), groups=2 ** 40)
    with pytest.raises(ValueError, match="channels"):
        cc.cost("pointwise_conv", (1, 4, 5, 5), (1, 2 ** 40), groups=2 ** 40)
    with pytest.raises(ValueError, match="channels"):
        cc.cost("spatially_separable_conv2d", (1, 4, 5, 5), (4, 2 ** 40, 3, 1), (1, 1, 1, 3),
                groups=2 ** 40)
    with pytest.raises(ValueError, match="channels"):
        cc.cost("spatially_separable_conv2d", (1, 4, 5, 5), (4, 1, 3, 1), (1, 2 ** 40, 1, 3),
                groups=4)


def test_empty_arrays_with_huge_extents():
    # a zero extent made the checked product 0, the other extents were multiplied unchecked
    for op, shapes, kw in [
        ("channel_shuffle", ((0, 2, 2 ** 40, 2 ** 40),), {"groups": 2}),
        ("squeeze_excitation", ((0, 1, 2 ** 40, 2 ** 40), (1, 1), None, (1, 1)), {}),
        ("pointwise_conv", ((0, 1, 2 ** 40, 2 ** 40), (1, 1)), {}),
        ("conv", ((0, 1, 2 ** 40, 2 ** 40), (1, 1, 1, 1)), {}),
    ]:
        with pytest.raises(ValueError, match="too large"):
            cc.cost(op, *shapes, **kw)


def test_filter_sizes_checked():
    refused("too large", cc.cost, "convolve", (2 ** 62,), (2 ** 62,))
    refused("too large", cc.cost, "convolve", (2 ** 40, 2 ** 40), (3, 3))
    assert cc.output_shape("convolve", (2 ** 40,), (2 ** 20,)) == (2 ** 40 + 2 ** 20 - 1,)


def test_conv_matrix_sized_before_allocating():
    # pad_lo 2**40 on x (1, 1, 1): one entry per output position was allocated first
    for p in (2 ** 33, 2 ** 40, 2 ** 62):
        with pytest.raises((ValueError, MemoryError), match="conv_matrix|padding|too large"):
            cc.conv_matrix((1, 1, 1), np.ones((1, 1, 1)), padding=p)
        with pytest.raises((ValueError, MemoryError)):
            cc.cost("conv_matrix", (1, 1, 1), (1, 1, 1), padding=p)
    # many outputs and many taps along one dim: refused without a long count
    with pytest.raises(ValueError, match="conv_matrix"):
        cc.cost("conv_matrix", (1, 2 ** 22), (1, 1, 2 ** 21), padding=2 ** 21)
    # still exact where it fits
    m = cc.conv_matrix((1, 5), np.ones((1, 1, 3)), padding=2 ** 20, stride=2 ** 20)
    assert m.shape == (3, 5) and m.nnz == 3


# --- the C++ validation under UBSan ---------------------------------------------------------------

@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is needed")
def test_spec_validation_under_ubsan(tmp_path):
    exe = tmp_path / "overflow_ubsan"
    r = subprocess.run(["g++", "-std=c++17", "-O1", "-g", "-fsanitize=undefined",
                        "-fno-sanitize-recover=all", "-I", cc.get_include(),
                        str(ROOT / "tests" / "overflow_ubsan.cpp"), "-o", str(exe)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and "sanitize" in r.stderr and "cannot find" in r.stderr:
        pytest.skip("no UBSan runtime: " + r.stderr[-300:])
    assert r.returncode == 0, r.stderr[-3000:]
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "runtime error" not in out.stderr, out.stderr[-3000:]
    accepted, refused_ = map(int, out.stdout.split()[1:3])
    assert accepted > 1000 and refused_ > 1000  # both sides of the validation were exercised


@pytest.mark.parametrize("s", [64, 65, 10 ** 6, 2 ** 62, P])
def test_huge_stride_matches_any_stride_past_the_input(s):
    # A stride (or output_padding's room) past the input only ever makes one output position:
    # the result equals that of any other such stride, in every op and layout.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 1, 1))
    w = rng.standard_normal((3, 4, 3, 3))
    r = np.einsum("nc,cohw->nohw", x[:, :, 0, 0], w)
    for op in (0, 1):
        y = cc.conv_transpose(x, w, stride=s, output_padding=op)
        np.testing.assert_allclose(y, np.pad(r, ((0, 0), (0, 0), (0, op), (0, op))))
    x = rng.standard_normal((1, 4, 7, 7))
    w = rng.standard_normal((4, 2, 3, 3))
    for kw in ({}, {"padding": 1}, {"padding": 1, "padding_mode": "reflect"},
               {"channels_last": True, "padding": 1}):
        xx = np.moveaxis(x, 1, -1).copy() if kw.get("channels_last") else x
        np.testing.assert_allclose(cc.conv(xx, w, stride=s, groups=2, **kw),
                                   cc.conv(xx, w, stride=9, groups=2, **kw))
    wd = rng.standard_normal((8, 1, 3, 3))
    np.testing.assert_allclose(cc.depthwise_conv2d(x, wd, stride=(s, 1), dilation=(1, 2)),
                               cc.depthwise_conv2d(x, wd, stride=(7, 1), dilation=(1, 2)))
    w1 = rng.standard_normal((4, 4, 1, 1))
    np.testing.assert_allclose(cc.conv(x, w1, stride=2, dilation=s),
                               cc.conv(x, w1, stride=2))
