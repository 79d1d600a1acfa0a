"""conv_matrix (explicit sparse matrix of a conv, and its transpose) and transposed_overlap."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import convcore as cc
import reference as ref
from conftest import assert_close

sparse = pytest.importorskip("scipy.sparse")


def test_textbook_4x4_input_3x3_kernel():
    w = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    C = cc.conv_matrix((1, 4, 4), w)
    assert isinstance(C, sparse.csr_matrix)
    assert C.shape == (4, 16) and C.nnz == 36
    # Row 0 is the kernel laid out on the 4x4 grid at offset (0, 0), row 3 at offset (1, 1).
    want = np.zeros((4, 4, 4))
    for r, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        want[r, i:i + 3, j:j + 3] = w[0, 0]
    np.testing.assert_array_equal(C.toarray(), want.reshape(4, 16))
    # its transpose maps a 2x2 input to 4x4, the transposed conv
    y = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    up = (C.T @ y.ravel()).reshape(4, 4)
    assert up.shape == (4, 4)
    np.testing.assert_array_equal(up, cc.conv_transpose(y, w)[0, 0])
    np.testing.assert_array_equal(up, ref.conv_transpose(y, w)[0, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("input_shape,w_shape,kw", [
    ((2, 3, 7), (4, 3, 3), dict(stride=2, padding=1)),
    ((3, 9), (2, 3, 2), dict(dilation=3, padding=((2, 1),))),
    ((1, 4, 6, 5), (6, 2, 3, 3), dict(groups=2, padding=1, stride=(2, 1))),
    ((2, 2, 5, 6), (2, 1, 2, 3), dict(groups=2, dilation=(2, 1), padding=((1, 0), (0, 2)))),
    ((4, 5, 5), (3, 4, 3, 3), dict(padding="same", stride=2)),
    ((1, 2, 4, 3, 5), (3, 2, 2, 2, 3), dict(padding=1, stride=(1, 2, 2))),
    ((2, 3, 3, 3), (2, 3, 1, 1), {}),
])
def test_matrix_equals_dense_definition_and_conv(rng, threads, dtype, input_shape, w_shape, kw):
    w = rng.standard_normal(w_shape).astype(dtype)
    C = cc.conv_matrix(input_shape, w, **kw)
    assert C.dtype == dtype and C.has_canonical_format
    np.testing.assert_array_equal(C.toarray(), ref.conv_matrix_dense(input_shape, w, **kw).astype(dtype))
    x = rng.standard_normal(input_shape).astype(dtype)
    xb = x if len(input_shape) == len(w_shape) else x[None]
    y = cc.conv(xb, w, **kw)
    assert C.shape == (y.size, x.size)
    assert_close(C @ x.ravel(), y.ravel().astype(np.float64), int(np.prod(w_shape[1:])), dtype)


@pytest.mark.parametrize("kw", [
    dict(stride=2, padding=1), dict(stride=3, padding=2, dilation=2), dict(groups=2, stride=2),
    dict(stride=(2, 1), padding=(0, 1)),
])
def test_transpose_is_conv_transpose(rng, kw):
    xs = (2, 4, 9, 8)
    w = rng.standard_normal((6, 2 if kw.get("groups") else 4, 3, 3))
    C = cc.conv_matrix(xs, w, **kw)
    ys = cc.output_shape("conv", xs, w.shape, **kw)
    y = rng.standard_normal(ys)
    # output_padding restoring the input size
    st = kw.get("stride", 1)
    st = st if isinstance(st, tuple) else (st, st)
    pad = kw.get("padding", 0)
    pad = pad if isinstance(pad, tuple) else (pad, pad)
    d = kw.get("dilation", 1)
    op = tuple(xs[2 + i] - ((ys[2 + i] - 1) * st[i] - 2 * pad[i] + d * 2 + 1) for i in range(2))
    # conv_transpose takes (C_in, C_out/groups, k): a conv's w read as its transpose's weight
    xt = cc.conv_transpose(y, w, stride=st, padding=pad, dilation=d, groups=kw.get("groups", 1),
                           output_padding=op)
    assert xt.shape == xs
    assert_close(C.T @ y.ravel(), xt.ravel(), 36)
    # adjoint identity <C x, y> == <x, C^T y>
    x = rng.standard_normal(xs)
    assert np.isclose((C @ x.ravel()) @ y.ravel(), x.ravel() @ (C.T @ y.ravel()))


def test_noncontiguous_weight(rng):
    w = rng.standard_normal((3, 2, 5, 5))[:, :, ::2, ::2]
    C = cc.conv_matrix((2, 6, 6), w, padding=1)
    np.testing.assert_array_equal(C.toarray(), ref.conv_matrix_dense((2, 6, 6), w, padding=1))


def test_bad_input():
    w = np.ones((2, 3, 3, 3))
    with pytest.raises(ValueError, match="input_shape"):
        cc.conv_matrix((1, 1, 3, 5, 5), w)
    with pytest.raises(ValueError, match="channels"):
        cc.conv_matrix((2, 5, 5), w)
    with pytest.raises(ValueError, match="groups"):
        cc.conv_matrix((3, 5, 5), w, groups=2)
    with pytest.raises(ValueError, match="conv_matrix"):
        cc.conv_matrix((10 ** 6, 3, 10 ** 4, 10 ** 4), w)  # 64 GiB limit
    with pytest.raises(ValueError):
        cc.conv_matrix((2 ** 40, 3, 2 ** 20, 2 ** 20), w)  # element count overflows
    with pytest.raises(TypeError, match="w"):
        cc.conv_matrix((3, 5, 5), w.astype(np.int32))
    with pytest.raises(ValueError, match="w"):
        cc.conv_matrix((3, 5, 5), np.ones(3))


@given(n=st.integers(1, 2), g=st.integers(1, 2), c=st.integers(1, 2), o=st.integers(1, 2),
       h=st.integers(1, 5), w=st.integers(1, 5), k=st.integers(1, 3), s=st.integers(1, 3),
       p=st.integers(0, 2), d=st.integers(1, 2))
@settings(max_examples=40, deadline=None)
def test_hypothesis_matches_dense(n, g, c, o, h, w, k, s, p, d):
    if h + 2 * p < (k - 1) * d + 1 or w + 2 * p < (k - 1) * d + 1:
        return
    wt = np.random.default_rng(5).standard_normal((o * g, c, k, k))
    shape = (n, c * g, h, w)
    C = cc.conv_matrix(shape, wt, stride=s, padding=p, dilation=d, groups=g)
    np.testing.assert_array_equal(
        C.toarray(), ref.conv_matrix_dense(shape, wt, stride=s, padding=p, dilation=d, groups=g))


@pytest.mark.parametrize("h,k,p,s,d", [(1, 3, 3, 1, 1), (1, 5, 4, 2, 1), (2, 3, 4, 3, 2)])
def test_taps_that_only_read_padding(h, k, p, s, d):
    # a tap whose first valid output lies past the last output (it reads padding only): its
    # empty range started past the end of valid_taps' difference array (found by ASan)
    wt = np.random.default_rng(6).standard_normal((2, 1, k, k))
    shape = (1, 1, h, h)
    C = cc.conv_matrix(shape, wt, stride=s, padding=p, dilation=d)
    np.testing.assert_array_equal(
        C.toarray(), ref.conv_matrix_dense(shape, wt, stride=s, padding=p, dilation=d))


def test_cost():
    c = cc.cost("conv_matrix", (1, 4, 4), (1, 1, 3, 3))
    assert c.output_shape == (4, 16) and c.details["nnz"] == 36
    assert cc.output_shape("conv_matrix", (2, 3, 6, 6), (4, 3, 3, 3), padding=1) == (288, 216)
    w = np.ones((4, 3, 3, 3))
    assert cc.cost("conv_matrix", (2, 3, 6, 6), w.shape, padding=1).details["nnz"] == \
        cc.conv_matrix((2, 3, 6, 6), w, padding=1).nnz


# ---- transposed_overlap ----

def test_overlap_textbook():
    np.testing.assert_array_equal(cc.transposed_overlap(4, 2), [2, 2])  # even: no checkerboard
    np.testing.assert_array_equal(cc.transposed_overlap(3, 2), [2, 1])  # the checkerboard
    np.testing.assert_array_equal(cc.transposed_overlap((3, 3), (2, 2)), [[4, 2], [2, 1]])
    np.testing.assert_array_equal(cc.transposed_overlap((4, 3), 2), [[4, 2], [4, 2]])
    np.testing.assert_array_equal(cc.transposed_overlap(3, 2, 2), [3, 0])


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7])
@pytest.mark.parametrize("s", [1, 2, 3, 4])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_overlap_matches_transposed_conv_of_ones(k, s, d):
    counts = cc.transposed_overlap(k, s, d)
    np.testing.assert_array_equal(counts, ref.transposed_overlap(k, s, d))
    assert counts.sum() == k
    n = 2 * k * d + 6
    y = cc.conv_transpose(np.ones((1, 1, n)), np.ones((1, 1, k)), stride=s, dilation=d)[0, 0]
    span = (k - 1) * d  # positions before this miss taps from inputs left of 0
    for p in range(span, (n - 1) * s + 1):
        assert y[p] == counts[p % s], (p, y[p], counts)


def test_overlap_2d_against_conv_transpose():
    k, s = (3, 4), (2, 3)
    counts = cc.transposed_overlap(k, s)
    y = cc.conv_transpose(np.ones((1, 1, 8, 8)), np.ones((1, 1) + k), stride=s)[0, 0]
    for i in range(k[0], 7 * s[0] + 1):
        for j in range(k[1], 7 * s[1] + 1):
            assert y[i, j] == counts[i % s[0], j % s[1]]


def test_overlap_bad_input():
    with pytest.raises(ValueError, match="stride"):
        cc.transposed_overlap(3, 0)
    with pytest.raises(ValueError, match="kernel_size"):
        cc.transposed_overlap(0, 2)
    with pytest.raises(ValueError, match="dilation"):
        cc.transposed_overlap(3, 2, 0)
    with pytest.raises(TypeError, match="stride"):
        cc.transposed_overlap(3, 2.5)
    with pytest.raises(ValueError, match="stride"):
        cc.transposed_overlap((3, 3), (2, 2, 2))
    with pytest.raises(ValueError, match="too large"):
        cc.transposed_overlap(2 ** 20, 2 ** 20)
    assert cc.output_shape("transposed_overlap", (3, 3), (2, 4)) == (2, 4)
