"""conv_transpose: oracle, PyTorch, and the adjoint identity <conv(x), y> == <x, conv_transpose(y)>."""
import numpy as np
import pytest

import convcore as cc
import reference as ref
from conftest import assert_close


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("stride,padding,output_padding,dilation,groups", [
    (1, 0, 0, 1, 1), (2, 1, 1, 1, 1), (2, 0, 0, 2, 2), (3, 2, 2, 1, 1), (1, 1, 1, 2, 4),
    (2, ((0, 1),), 0, 1, 2),
])
def test_matches_oracle(rng, dtype, nd, stride, padding, output_padding, dilation, groups):
    sp = {1: (7,), 2: (5, 6), 3: (3, 4, 3)}[nd]
    k = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}[nd]
    if isinstance(padding, tuple):
        padding = padding * nd
    x = rng.standard_normal((2, 4) + sp).astype(dtype)
    w = rng.standard_normal((4, 6 // groups if 6 % groups == 0 else 2) + k).astype(dtype)
    w = rng.standard_normal((4, 2) + k).astype(dtype)
    b = rng.standard_normal(2 * groups).astype(dtype)
    y = cc.conv_transpose(x, w, b, stride=stride, padding=padding,
                          output_padding=output_padding, dilation=dilation, groups=groups)
    expected = ref.conv_transpose(x, w, b, stride, padding, output_padding, dilation, groups)
    assert_close(y, expected, 4 * int(np.prod(k)))


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 0, 1, 1), (2, 1, 1, 2), (3, 2, 2, 1), (2, ((1, 0),), 1, 1), (1, 1, 3, 3),
])
def test_adjoint_identity(rng, nd, stride, padding, dilation, groups):
    """conv_transpose is exactly the adjoint of conv (float64, 1e-10 relative)."""
    sp = {1: (11,), 2: (9, 8), 3: (6, 5, 7)}[nd]
    if isinstance(padding, tuple):
        padding = padding * nd
    x = rng.standard_normal((2, 6) + sp)
    w = rng.standard_normal((3 * groups, 6 // groups) + (3,) * nd)
    y = cc.conv(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    u = rng.standard_normal(y.shape)
    # output_padding restores the input size when the forward conv dropped trailing rows
    xt = cc.conv_transpose(u, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    op = [sp[i] - xt.shape[2 + i] for i in range(nd)]
    if any(op):
        xt = cc.conv_transpose(u, w, stride=stride, padding=padding, dilation=dilation,
                               groups=groups, output_padding=tuple(op))
    assert xt.shape == x.shape
    lhs, rhs = float(np.vdot(y, u)), float(np.vdot(x, xt))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs), float(np.abs(y).sum() * np.abs(u).max()))


def test_channels_last_and_activation(rng):
    x = rng.standard_normal((2, 4, 5, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(3)
    y = cc.conv_transpose(np.moveaxis(x, 1, -1), w, b, stride=2, padding=1, channels_last=True,
                          activation="tanh")
    expected = ref.conv_transpose(x, w, b, 2, 1, activation="tanh")
    assert_close(np.moveaxis(y, -1, 1), expected, 36)


def test_ranked_wrappers_and_reference_algorithm(rng):
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    a = cc.conv_transpose2d(x, w, stride=2, algorithm="reference")
    assert_close(a, ref.conv_transpose(x, w, stride=2), 18)
    with pytest.raises(ValueError, match="conv_transpose1d"):
        cc.conv_transpose1d(x, w)


def test_torch(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for nd, fn in ((1, F.conv_transpose1d), (2, F.conv_transpose2d), (3, F.conv_transpose3d)):
        x = rng.standard_normal((2, 4) + (5,) * nd).astype(np.float32)
        w = rng.standard_normal((4, 3) + (3,) * nd).astype(np.float32)
        b = rng.standard_normal(6).astype(np.float32)
        expected = fn(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=2,
                      padding=1, output_padding=1, groups=2, dilation=1).numpy()
        y = cc.conv_transpose(x, w, b, stride=2, padding=1, output_padding=1, groups=2)
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
