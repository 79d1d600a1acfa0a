"""The padding modes at the edges of what they can pad, for every op that takes padding_mode.

PyTorch's rules (torch.nn.functional.pad, hence Conv*d with padding_mode), which the core's
spec (ops/options.hpp, check_padding_reach) applies once for every op:
- reflect pads at most size - 1 samples on each side (PyTorch: "Padding size should be less
  than the corresponding input dimension");
- circular pads at most size samples (PyTorch: "wrapping around more than once"); so does
  symmetric (NumPy's mode, which PyTorch lacks: one mirror image);
- a non-zero mode cannot pad an empty dimension (an out-of-bounds read before);
- an empty batch gives an empty result.
Each accepted case is compared with PyTorch (the padded input through F.pad, then the op's
unpadded PyTorch equivalent); each refused case must be a ValueError naming padding_mode (and
padding with its limit), and PyTorch must refuse it too.
"""
from __future__ import annotations

import numpy as np
import pytest

import convcore as cc
import reference as ref
from conftest import assert_close

torch = pytest.importorskip("torch")
F = torch.nn.functional

MODES = ["reflect", "replicate", "circular"]
X_SHAPE = (2, 4, 5, 6)  # N, C, H, W: H and W differ so that a per-dim mix-up shows


def _w(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _torch_pad(x, pads, mode):
    """x (N, C, *sp) padded by per-dim (lo, hi) pairs with torch's mode (F.pad lists the last
    dim first); "symmetric" has no torch mode: NumPy's."""
    if mode == "symmetric":
        return _t(np.pad(x, [(0, 0), (0, 0)] + list(pads), mode="symmetric"))
    flat = [v for lo_hi in reversed(pads) for v in lo_hi]
    return F.pad(_t(x), flat, mode=mode)


def _pairs(padding):
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def _shuffle(y, g):
    n, c = y.shape[:2]
    return y.reshape(n, g, c // g, *y.shape[2:]).transpose(1, 2).reshape(y.shape)


# Each op: (call(x, padding, mode), torch equivalent on the already padded input xp).
C = X_SHAPE[1]
W_CONV, B_CONV = _w((3, C, 3, 3), 1), _w(3, 2)
W_DW = _w((2 * C, 1, 3, 3), 3)
W_PW = _w((3, 2 * C), 4)
W_COL, W_ROW = _w((6, C // 2, 3, 1), 5), _w((4, 3, 1, 2), 6)
W_CH, W_V, W_H = _w((3, C), 7), _w((3, 3), 8), _w((3, 2), 9)
W_GRP = _w((6, C // 2, 3, 2), 10)
W_SQ, W_HOR, W_VER = _w((3, C, 3, 3), 11), _w((3, C, 1, 3), 12), _w((3, C, 3, 1), 13)


def _asym_fused():
    w = W_SQ.copy()
    w[:, :, 1, :] += W_HOR[:, :, 0, :]
    w[:, :, :, 1] += W_VER[:, :, :, 0]
    return w


OPS = {
    "conv2d": (lambda x, p, m: cc.conv2d(x, W_CONV, B_CONV, padding=p, padding_mode=m),
               lambda xp: F.conv2d(xp, _t(W_CONV), _t(B_CONV))),
    "conv-groups": (lambda x, p, m: cc.conv(x, W_GRP, padding=p, padding_mode=m, groups=2,
                                            stride=(2, 1), dilation=(1, 2)),
                    lambda xp: F.conv2d(xp, _t(W_GRP), groups=2, stride=(2, 1), dilation=(1, 2))),
    "depthwise_conv2d": (lambda x, p, m: cc.depthwise_conv2d(x, W_DW, padding=p, padding_mode=m),
                         lambda xp: F.conv2d(xp, _t(W_DW), groups=C)),
    "depthwise_separable_conv2d": (
        lambda x, p, m: cc.depthwise_separable_conv2d(x, W_DW, W_PW, padding=p, padding_mode=m),
        lambda xp: F.conv2d(F.conv2d(xp, _t(W_DW), groups=C), _t(W_PW[:, :, None, None]))),
    "spatially_separable_conv2d": (
        lambda x, p, m: cc.spatially_separable_conv2d(x, W_COL, W_ROW, groups=2, padding=p,
                                                      padding_mode=m),
        lambda xp: F.conv2d(F.conv2d(xp, _t(W_COL), groups=2), _t(W_ROW), groups=2)),
    "flattened_conv2d": (
        lambda x, p, m: cc.flattened_conv2d(x, W_CH, W_V, W_H, padding=p, padding_mode=m),
        lambda xp: F.conv2d(xp, _t(np.einsum("oc,oi,oj->ocij", W_CH, W_V, W_H)))),
    "shuffled_grouped_conv": (
        lambda x, p, m: cc.shuffled_grouped_conv(x, W_GRP, groups=2, padding=p, padding_mode=m),
        lambda xp: _shuffle(F.conv2d(xp, _t(W_GRP), groups=2), 2)),
    "asymmetric_conv2d": (
        lambda x, p, m: cc.asymmetric_conv2d(x, W_SQ, W_HOR, W_VER, padding=p, padding_mode=m),
        lambda xp: F.conv2d(xp, _t(_asym_fused()))),
    "inception": (
        lambda x, p, m: cc.inception(x, [[dict(w=W_CONV, bias=B_CONV, padding=p,
                                               padding_mode=m)],
                                         [dict(w=W_CONV[:2, :, 1:2, 1:2],
                                               padding=tuple(max(v - 1, 0) for v in p))]])[:, :3],
        lambda xp: F.conv2d(xp, _t(W_CONV), _t(B_CONV))),
}

# The furthest each mode reaches on X_SHAPE's 5 x 6 image, and one step beyond (in H, in W).
LIMIT = {"reflect": (4, 5), "circular": (5, 6), "replicate": (9, 11), "symmetric": (5, 6)}
BEYOND = {"reflect": [(5, 0), (1, 6)], "circular": [(6, 1), (0, 7)],
          "symmetric": [(6, 1), (0, 7)]}


def _x(shape=X_SHAPE, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _check_torch(op, x, padding, mode):
    call, equiv = OPS[op]
    y = call(x, padding, mode)
    want = equiv(_torch_pad(x, _pairs(padding), mode)).numpy()
    assert y.shape == want.shape
    assert_close(y, want, 3 * 3 * 2 * C)


@pytest.mark.parametrize("mode", MODES + ["symmetric"])
@pytest.mark.parametrize("op", list(OPS))
def test_padding_up_to_the_limit_matches_torch(op, mode, threads):
    _check_torch(op, _x(), LIMIT[mode], mode)


@pytest.mark.parametrize("mode", ["reflect", "circular", "symmetric"])
@pytest.mark.parametrize("op", list(OPS))
def test_padding_beyond_the_limit_is_refused(op, mode):
    call = OPS[op][0]
    x = _x()
    for padding in BEYOND[mode]:
        with pytest.raises(ValueError, match=f"padding_mode='{mode}'") as e:
            call(x, padding, mode)
        msg = str(e.value)
        assert "padding (" in msg and "input size" in msg
        d = 0 if padding[0] > LIMIT[mode][0] else 1
        assert f"spatial dimension {d}" in msg
        n = X_SHAPE[2 + d]
        assert (f"at most {n - 1}" if mode == "reflect" else f"at most the input size {n}") in msg
        if mode != "symmetric":
            with pytest.raises(RuntimeError):
                _torch_pad(x, _pairs(padding), mode)


@pytest.mark.parametrize("mode", MODES + ["symmetric"])
@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("empty_axis", [2, 3])
def test_padding_an_empty_dimension_is_refused(op, mode, empty_axis):
    """The reported bug: garbage (an out-of-bounds read) from depthwise_conv2d, a crash from
    flattened_conv2d, zeros from conv2d."""
    shape = list(X_SHAPE)
    shape[empty_axis] = 0
    x = np.zeros(shape)
    with pytest.raises(ValueError, match=f"padding_mode='{mode}' needs a non-empty input") as e:
        OPS[op][0](x, (2, 2), mode)
    assert f"spatial dimension {empty_axis - 2}" in str(e.value)
    if mode != "symmetric":
        with pytest.raises(RuntimeError):
            _torch_pad(x, [(2, 2), (2, 2)], mode)


def test_reported_cases():
    x = np.zeros((1, 3, 0, 5))
    with pytest.raises(ValueError, match="padding_mode='replicate'"):
        cc.depthwise_conv2d(x, np.ones((3, 1, 3, 3)), padding=2, padding_mode="replicate")
    with pytest.raises(ValueError, match="padding_mode='replicate'"):
        cc.flattened_conv2d(x, np.ones((3, 3)), np.ones((3, 3)), np.ones((3, 3)), padding=2,
                            padding_mode="replicate")
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        cc.conv2d(x, np.ones((2, 3, 3, 3)), padding=2, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"padding \(6, 6\) must be smaller than the input size "
                                         r"6 .*padding_mode='reflect' \(at most 5"):
        cc.conv2d(np.ones((1, 2, 6, 6)), np.ones((2, 2, 3, 3)), padding=6, padding_mode="reflect")
    # the largest reflect padding torch accepts
    y = cc.conv2d(np.ones((1, 2, 6, 6)), np.ones((2, 2, 3, 3)), padding=5, padding_mode="reflect")
    assert y.shape == (1, 2, 14, 14)
    np.testing.assert_allclose(y, 18.0)


@pytest.mark.parametrize("mode", MODES + ["zeros"])
@pytest.mark.parametrize("op", list(OPS))
def test_empty_batch_gives_an_empty_result(op, mode):
    x = np.zeros((0,) + X_SHAPE[1:])
    y = OPS[op][0](x, (2, 3), mode)
    want = OPS[op][1](F.pad(_t(x), [3, 3, 2, 2], mode="constant" if mode == "zeros" else mode))
    assert y.shape == tuple(want.shape) and y.shape[0] == 0


def test_empty_batch_still_checks_the_reach():
    """torch's F.pad refuses reflect padding >= size even for an empty batch: so do we."""
    x = np.zeros((0, 4, 3, 3))
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        cc.conv2d(x, W_CONV, padding=3, padding_mode="reflect")
    with pytest.raises(RuntimeError):
        F.pad(_t(x), [3, 3, 3, 3], mode="reflect")


def test_zeros_padding_has_no_limit():
    """padding_mode='zeros' reads no input in the padding: any padding, and an empty
    dimension, stay valid (bias only there)."""
    x = _x()
    y = cc.conv2d(x, W_CONV, B_CONV, padding=(9, 11))
    assert_close(y, F.conv2d(_t(x), _t(W_CONV), _t(B_CONV), padding=(9, 11)).numpy(), 36)
    y = cc.conv2d(np.zeros((1, 4, 0, 6)), W_CONV, B_CONV, padding=2)
    assert y.shape == (1, 3, 2, 8)
    np.testing.assert_array_equal(y, np.broadcast_to(B_CONV[None, :, None, None], y.shape))


@pytest.mark.parametrize("mode", ["reflect", "circular"])
def test_per_side_padding_pairs(mode):
    """The limit holds for each side on its own, as in torch (padding (0, size) is refused
    for reflect although the other side pads nothing)."""
    x = _x()
    lim = LIMIT[mode]
    ok = ((0, lim[0]), (lim[1], 0))
    _check_torch("conv2d", x, ok, mode)
    for bad in [((0, lim[0] + 1), (0, 0)), ((0, 0), (lim[1] + 1, 0))]:
        with pytest.raises(ValueError, match=f"padding_mode='{mode}'"):
            cc.conv2d(x, W_CONV, padding=bad, padding_mode=mode)
        with pytest.raises(RuntimeError):
            _torch_pad(x, list(bad), mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("nd", [1, 3])
def test_1d_and_3d(mode, nd):
    shape = (2, 3) + (4, 5, 3)[-nd:] if nd == 3 else (2, 3, 5)
    x = _x(shape, 3)
    w = _w((2, 3) + (2,) * nd, 14)
    sizes = shape[2:]
    reach = {"reflect": -1, "circular": 0, "replicate": 4}[mode]
    pads = [(s + reach, s + reach) for s in sizes]
    y = cc.conv(x, w, padding=pads, padding_mode=mode)
    conv = [None, F.conv1d, None, F.conv3d][nd]
    assert_close(y, conv(_torch_pad(x, pads, mode), _t(w)).numpy(), w[0].size)
    if mode == "replicate":
        return
    bad = list(pads)
    bad[-1] = (0, sizes[-1] + reach + 1)
    with pytest.raises(ValueError, match=f"padding_mode='{mode}'") as e:
        cc.conv(x, w, padding=bad, padding_mode=mode)
    assert f"spatial dimension {nd - 1}" in str(e.value)
    with pytest.raises(RuntimeError):
        _torch_pad(x, bad, mode)


def test_same_padding_follows_the_same_rule():
    """padding='same' computes the pads, then the rule applies: torch's Conv2d with
    padding='same', padding_mode='reflect' refuses a 5x5 kernel on a 2x2 image too."""
    w = _w((2, 2, 5, 5), 15)
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        cc.conv2d(_x((1, 2, 2, 2)), w, padding="same", padding_mode="reflect")
    m = torch.nn.Conv2d(2, 2, 5, padding="same", padding_mode="reflect", bias=False).double()
    with pytest.raises(RuntimeError):
        m(_t(_x((1, 2, 2, 2))))
    x = _x((1, 2, 3, 3))
    with torch.no_grad():
        m.weight.copy_(_t(w))
        want = m(_t(x)).numpy()
    assert_close(cc.conv2d(x, w, padding="same", padding_mode="reflect"), want, 50)


def test_channels_last_and_noncontiguous_at_the_limit():
    x = _x((2, 5, 7, 4), 4)  # N, H, W, C
    want = F.conv2d(_torch_pad(np.moveaxis(x, -1, 1), [(4, 4), (6, 6)], "reflect"),
                    _t(W_CONV)).numpy()
    y = cc.conv2d(x, W_CONV, padding=(4, 6), padding_mode="reflect", channels_last=True)
    assert_close(np.moveaxis(y, -1, 1), want, 36)
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        cc.conv2d(x, W_CONV, padding=(4, 7), padding_mode="reflect", channels_last=True)
    xs = np.moveaxis(x, -1, 1)[:, :, :, ::2]  # (2, 4, 5, 4), strided
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        cc.depthwise_conv2d(xs, W_DW, padding=(1, 4), padding_mode="reflect")
    assert_close(cc.depthwise_conv2d(xs, W_DW, padding=(4, 3), padding_mode="reflect"),
                 ref.conv(np.ascontiguousarray(xs), W_DW, padding=(4, 3), groups=C,
                          padding_mode="reflect"), 9)


def test_arithmetic_applies_the_same_rule():
    """cost / output_shape validate through the same spec."""
    assert cc.output_shape("conv", (1, 4, 5, 6), (3, 4, 3, 3), padding=(4, 5),
                           padding_mode="reflect") == (1, 3, 11, 14)
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        cc.output_shape("conv", (1, 4, 5, 6), (3, 4, 3, 3), padding=5, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode='circular'"):
        cc.cost("depthwise_conv2d", (1, 4, 0, 6), (4, 1, 3, 3), padding=1,
                padding_mode="circular")


def test_inception_names_the_layer():
    with pytest.raises(ValueError, match=r"branches\[0\]\[0\].*padding_mode='reflect'"):
        cc.inception(_x(), [[dict(w=W_CONV, padding=5, padding_mode="reflect")]])


@pytest.mark.parametrize("boundary", ["wrap", "symm"])
def test_filter_boundaries_are_scipys(boundary):
    """convolve / correlate keep SciPy's boundaries: a kernel larger than the input wraps or
    mirrors repeatedly there (no PyTorch limit), and an empty input is refused."""
    signal = pytest.importorskip("scipy.signal")
    a, k = _x((3, 4), 5), _w((7, 9), 17)
    for mode in ("full", "same"):
        assert_close(cc.convolve(a, k, mode=mode, boundary=boundary),
                     signal.convolve2d(a, k, mode=mode, boundary=boundary), k.size)
    with pytest.raises(ValueError, match="a must not be empty"):
        cc.convolve(np.zeros((0, 4)), k, boundary=boundary)
