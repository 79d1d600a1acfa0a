"""conv / conv1d / conv2d / conv3d against the NumPy oracle and PyTorch."""
import numpy as np
import pytest

import convcore as cc
import reference as ref
from conftest import assert_close, conv_data, reduction

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (3, (1, 2), 1, 2), (2, "same", 1, 1),
    (1, "same", 2, 2), (2, "valid", 1, 4), (1, 0, 3, 4),
])
def test_conv_matches_oracle(rng, dtype, nd, stride, padding, dilation, groups):
    sp = {1: (13,), 2: (9, 11), 3: (6, 7, 5)}[nd]
    k = {1: (3,), 2: (3, 2), 3: (2, 3, 2)}[nd]
    if isinstance(padding, tuple):
        padding = padding + (1,) * (nd - 2) if nd >= 2 else padding[:1]
    x, w, b = conv_data(rng, (2, 4) + sp, (8, 4 // groups) + k, dtype)
    y = cc.conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert y.dtype == dtype and y.flags.c_contiguous
    assert_close(y, ref.conv(x, w, b, stride, padding, dilation, groups), reduction(w))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_padding_modes(rng, mode, nd):
    sp = {1: (10,), 2: (7, 8), 3: (5, 6, 4)}[nd]
    x, w, b = conv_data(rng, (1, 3) + sp, (2, 3) + (3,) * nd, np.float64)
    y = cc.conv(x, w, b, padding=2, padding_mode=mode)
    assert_close(y, ref.conv(x, w, b, padding=2, padding_mode=mode), reduction(w))


def test_padding_pairs_and_asymmetric(rng):
    x, w, b = conv_data(rng, (1, 2, 8, 9), (3, 2, 3, 3), np.float64)
    p = ((0, 2), (3, 1))
    assert_close(cc.conv(x, w, b, padding=p), ref.conv(x, w, b, padding=p), 18)
    y = cc.conv(x, w, b, padding=p, padding_mode="reflect")
    assert_close(y, ref.conv(x, w, b, padding=p, padding_mode="reflect"), 18)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_same_padding_rule(rng, stride, k):
    x, w, _ = conv_data(rng, (1, 1, 10, 7), (1, 1, k, k), np.float64, bias=False)
    y = cc.conv(x, w, stride=stride, padding="same")
    assert y.shape[2:] == (-(-10 // stride), -(-7 // stride))
    assert_close(y, ref.conv(x, w, stride=stride, padding="same"), k * k)


def test_flip_is_true_convolution(rng):
    x, w, _ = conv_data(rng, (1, 1, 6, 7), (1, 1, 3, 2), np.float64, bias=False)
    y = cc.conv(x, w, flip=True)
    assert_close(y, ref.conv(x, w[:, :, ::-1, ::-1]), 6)
    scipy_signal = pytest.importorskip("scipy.signal")
    assert_close(y[0, 0], scipy_signal.convolve(x[0, 0], w[0, 0], mode="valid"), 6)


@pytest.mark.parametrize("act", ["relu", "relu6", "sigmoid", "tanh", "gelu"])
def test_fused_activation(rng, act):
    x, w, b = conv_data(rng, (2, 3, 6, 6), (4, 3, 3, 3), np.float64)
    x *= 3
    y = cc.conv(x, w, b, padding=1, activation=act)
    assert_close(y, ref.conv(x, w, b, padding=1, activation=act), 27)


@pytest.mark.parametrize("dtype", DTYPES)
def test_channels_last(rng, dtype):
    x, w, b = conv_data(rng, (2, 5, 7, 6), (6, 5, 3, 3), dtype)
    xl = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    y = cc.conv(xl, w, b, padding=1, stride=2, channels_last=True)
    assert y.shape == (2, 4, 3, 6) and y.flags.c_contiguous
    assert_close(y.transpose(0, 3, 1, 2), ref.conv(x, w, b, 2, 1), 45)
    x3, w3, b3 = conv_data(rng, (1, 2, 4, 5, 3), (3, 2, 2, 2, 2), dtype)
    y3 = cc.conv(np.moveaxis(x3, 1, -1), w3, b3, channels_last=True, padding_mode="circular",
                 padding=1)
    assert_close(np.moveaxis(y3, -1, 1), ref.conv(x3, w3, b3, padding=1, padding_mode="circular"), 16)


def test_noncontiguous_and_fortran_inputs(rng):
    x, w, b = conv_data(rng, (2, 4, 12, 10), (3, 4, 3, 3), np.float64)
    xs = x[:, :, ::2, ::-1]
    wf = np.asfortranarray(w)
    expected = ref.conv(xs, w, b, padding=1)
    assert_close(cc.conv(xs, wf, b, padding=1), expected, 36)
    xt = np.asfortranarray(x)
    assert_close(cc.conv(xt, w, b), ref.conv(x, w, b), 36)


def test_inputs_not_modified(rng):
    x, w, b = conv_data(rng, (1, 2, 6, 6), (2, 2, 3, 3), np.float32)
    copies = [a.copy() for a in (x, w, b)]
    cc.conv(x, w, b, padding=1, padding_mode="reflect", flip=True, activation="relu")
    cc.conv(np.moveaxis(x, 1, -1), w, b, channels_last=True)
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)


def test_out_parameter(rng):
    x, w, b = conv_data(rng, (1, 2, 6, 6), (3, 2, 3, 3), np.float32)
    out = np.empty((1, 3, 4, 4), np.float32)
    y = cc.conv(x, w, b, out=out)
    assert y is out or np.shares_memory(y, out)
    assert_close(out, ref.conv(x, w, b), 18)


def test_zero_batch_and_1x1_images(rng):
    x, w, b = conv_data(rng, (0, 3, 5, 5), (4, 3, 3, 3), np.float32)
    y = cc.conv(x, w, b, padding=1)
    assert y.shape == (0, 4, 5, 5)
    x1, w1, b1 = conv_data(rng, (2, 3, 1, 1), (4, 3, 3, 3), np.float64)
    assert_close(cc.conv(x1, w1, b1, padding=1), ref.conv(x1, w1, b1, padding=1), 27)


def test_kernel_larger_than_input_with_padding_and_large_stride(rng):
    x, w, b = conv_data(rng, (1, 2, 3, 4), (2, 2, 5, 5), np.float64)
    assert_close(cc.conv(x, w, b, padding=2), ref.conv(x, w, b, padding=2), 50)
    x, w, b = conv_data(rng, (1, 2, 17, 17), (2, 2, 2, 2), np.float64)
    assert_close(cc.conv(x, w, b, stride=5), ref.conv(x, w, b, stride=5), 8)


def test_nan_propagates(rng):
    x, w, b = conv_data(rng, (1, 1, 5, 5), (1, 1, 3, 3), np.float32)
    x[0, 0, 2, 2] = np.nan
    y = cc.conv(x, w, b)
    assert np.isnan(y).all()  # every output of a 3x3 valid conv on 5x5 touches the centre
    assert np.isnan(cc.conv(x, w, b, activation="relu")).all()


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_give_identical_results(rng, threads):
    x, w, b = conv_data(rng, (3, 4, 9, 9), (6, 2, 3, 3), np.float32)
    cc.set_num_threads(1)
    try:
        y1 = cc.conv(x, w, b, padding=1, groups=2)
        cc.set_num_threads(threads)
        assert cc.get_num_threads() == threads
        y2 = cc.conv(x, w, b, padding=1, groups=2)
    finally:
        cc.set_num_threads(0)
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("algorithm", ["auto", "direct", "reference"])
def test_algorithms_agree(rng, algorithm):
    x, w, b = conv_data(rng, (2, 4, 9, 8), (6, 2, 3, 3), np.float64)
    y = cc.conv(x, w, b, padding=(1, 2), stride=(2, 1), groups=2, algorithm=algorithm,
                padding_mode="replicate")
    assert_close(y, ref.conv(x, w, b, (2, 1), (1, 2), 1, 2, "replicate"), 18)


def test_ranked_wrappers(rng):
    x, w, b = conv_data(rng, (1, 2, 9), (3, 2, 3), np.float32)
    assert_close(cc.conv1d(x, w, b, padding=1), ref.conv(x, w, b, padding=1), 6)
    with pytest.raises(ValueError, match="conv2d"):
        cc.conv2d(x, w)
    x3, w3, _ = conv_data(rng, (1, 2, 4, 4, 4), (3, 2, 3, 3, 3), np.float32)
    assert cc.conv3d(x3, w3).shape == (1, 3, 2, 2, 2)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


class TestAgainstTorch:
    @pytest.mark.parametrize("nd", [1, 2, 3])
    @pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
    def test_conv(self, rng, torch, nd, mode):
        sp = {1: (12,), 2: (9, 10), 3: (6, 7, 5)}[nd]
        x, w, b = conv_data(rng, (2, 4) + sp, (6, 2) + (3,) * nd, np.float32)
        F = torch.nn.functional
        xt = torch.from_numpy(x)
        if mode != "zeros":
            xt = F.pad(xt, (1,) * (2 * nd), mode=mode)
            pad_t = 0
        else:
            pad_t = 1
        fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
        expected = fn(xt, torch.from_numpy(w), torch.from_numpy(b), stride=2, padding=pad_t,
                      dilation=1, groups=2).numpy()
        y = cc.conv(x, w, b, stride=2, padding=1, groups=2, padding_mode=mode)
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)

    def test_same_matches_torch_for_stride_1(self, rng, torch):
        x, w, b = conv_data(rng, (1, 3, 8, 9), (4, 3, 4, 3), np.float32)
        expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                              torch.from_numpy(b), padding="same", dilation=2)
        np.testing.assert_allclose(cc.conv(x, w, b, padding="same", dilation=2), expected.numpy(),
                                   rtol=1e-4, atol=1e-4)
