"""The Dask backend (convcore.dask): every op on a chunked Dask x equals the in-memory call,
block geometry checked (assert_eq with check_chunks=True), over awkward chunkings: irregular
chunks, chunks smaller than the halo, a last chunk smaller than the kernel, one chunk, an
array smaller than the halo. Bad input is refused at the call, with nothing computed."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
from dask.array.utils import assert_eq  # noqa: E402

import convcore as cc  # noqa: E402


@pytest.fixture(autouse=True)
def _sync():
    # one thread: the tasks are tiny, and the sync scheduler surfaces a block's error directly
    with dask.config.set(scheduler="sync"):
        yield


def _rnd(shape, dtype="f8", seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def check(f, x, chunks, *args, exact=False, **kwargs):
    """f on a Dask x (with ``chunks``) against f on x in memory."""
    expected = f(x, *args, **kwargs)
    lazy = f(da.from_array(x, chunks=chunks), *args, **kwargs)
    assert isinstance(lazy, da.Array)
    if exact:
        assert_eq(lazy, expected, check_chunks=True, rtol=0, atol=0)
    else:
        tol = 1e-5 if expected.dtype == np.float32 else 1e-11
        assert_eq(lazy, expected, check_chunks=True, rtol=tol, atol=tol)
    return lazy


# Spatial chunkings of a length-n axis: irregular, smaller than the halo (1s), a last chunk
# smaller than the kernel, one chunk.
def chunkings(n):
    out = [(n,), tuple([1] * n)]
    irregular = [3, 1, 5, 4]
    rest, c = n, []
    for v in itertools.cycle(irregular):
        if rest <= 0:
            break
        c.append(min(v, rest))
        rest -= v
    out.append(tuple(c))
    if n > 3:
        out.append((n - 2, 2))
    return out


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_2d_strides_dilations_modes(mode):
    x = _rnd((2, 3, 13, 11))
    w = _rnd((4, 3, 3, 2), seed=1)
    b = _rnd(4, seed=2)
    for s, d in itertools.product((1, 2, 3), (1, 2, 3)):
        for ch in ((3, 1, 5, 4), (1,) * 13, (11, 2), (13,)):
            check(cc.conv2d, x, (1, 3, ch, (2, 6, 3)), w, b, stride=s, dilation=d,
                  padding=((2, 1), (1, 0)) if mode != "zeros" else 3, padding_mode=mode)


@pytest.mark.parametrize("nd", [1, 3])
def test_conv_1d_3d(nd):
    shape = (2, 2) + (7,) * nd
    x = _rnd(shape, "f4")
    w = _rnd((3, 2) + (3,) * nd, "f4", seed=1)
    per_axis = chunkings(7)
    for s, mode in itertools.product((1, 2, 3), ("zeros", "reflect", "circular")):
        for j in range(len(per_axis)):
            ch = tuple(per_axis[(j + i) % len(per_axis)] for i in range(nd))
            check(cc.conv, x, (1, 2) + ch, w, stride=s, padding=1, padding_mode=mode,
                  dilation=(2 if nd == 1 else 1))


def test_conv_same_groups_channels_last_bias_activation_flip():
    x = _rnd((3, 10, 9, 4))
    w = _rnd((6, 2, 4, 3), seed=1)
    b = _rnd(6, seed=2)
    for s in (1, 2, 3):
        # "same" with an even kernel: the odd pad goes after (asymmetric)
        check(cc.conv2d, x, ((2, 1), (3, 1, 5, 1), (4, 5), 4), w, b, stride=s, padding="same",
              groups=2, channels_last=True, activation="relu", flip=True)
    # chunked channels are rechunked to one chunk
    xc = np.moveaxis(x, 3, 1).copy()
    check(cc.conv2d, xc, (1, 1, 4, 9), w, b, groups=2, padding=1, activation="tanh")


def test_array_smaller_than_halo():
    x = _rnd((1, 1, 3, 2))
    w = _rnd((2, 1, 7, 5), seed=1)
    check(cc.conv2d, x, (1, 1, 1, 1), w, padding=(5, 4))
    check(cc.conv2d, x, (1, 1, 1, 1), w, padding=(3, 2), padding_mode="circular")
    check(cc.conv2d, x, (1, 1, (2, 1), 1), w[:, :, :5, :3], padding=(2, 1), padding_mode="reflect")
    check(cc.conv2d, x, (1, 1, 1, 1), w, padding=(6, 6), padding_mode="replicate")
    check(cc.correlate, x[0, 0], 1, _rnd((9, 8)), "full", "wrap")
    check(cc.convolve, x[0, 0], 1, _rnd((5, 7)), "same", "symm")
    check(cc.correlate, x[0, 0], 1, _rnd((5, 7)), "valid")  # k larger than a: one block


def test_conv_transpose():
    x = _rnd((2, 4, 9, 8))
    for s, d, k in itertools.product((1, 2, 3), (1, 2), (1, 2, 4)):
        g = 1 + (k + s) % 2
        w = _rnd((4, 3, k, k), seed=k)
        op = s - 1 if s > 1 else (d - 1 if d > 1 else 0)
        for ch in ((3, 1, 5), (1,) * 9):
            check(cc.conv_transpose2d, x, (1, 4, ch, (2, 6)), w, _rnd(3 * g, seed=3)[:3 * g],
                  stride=s, dilation=d, padding=(1, 0) if k > 1 else 0, output_padding=op,
                  groups=g)


def test_conv_transpose_1d_3d_channels_last():
    x = _rnd((1, 5, 6, 4, 2))
    w = _rnd((2, 3, 3, 2, 2), seed=1)
    check(cc.conv_transpose3d, x, (1, (2, 3), (1, 5), (1, 3), 2), w, stride=(2, 1, 3), padding=1,
          channels_last=True, activation="sigmoid")
    check(cc.conv_transpose1d, _rnd((2, 2, 11)), (1, 2, (3, 1, 5, 2)), _rnd((2, 1, 4)),
          stride=3, padding=(2,), output_padding=1)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_filter_modes_boundaries(mode):
    for nd, boundary in itertools.product((1, 2, 3), ("fill", "wrap", "symm")):
        n = (14, 11, 6)[nd - 1]
        a = _rnd((n,) * nd)
        k = _rnd((4, 3, 2)[:nd] if nd > 1 else (5,), seed=1)
        per_axis = chunkings(n)[1:]
        for j in range(len(per_axis)):
            f = (cc.convolve, cc.correlate)[(nd + j) % 2]
            check(f, a, tuple(per_axis[(j + i) % len(per_axis)] for i in range(nd)), k, mode,
                  boundary, 0.5)
    a32 = _rnd((40, 30), "f4")
    check(cc.convolve, a32, (9, 7), _rnd((5, 5), "f4", seed=2), mode, "fill", 2.0)


@pytest.mark.parametrize("dt_a, dt_k", [("u1", "u1"), ("u1", "i2"), ("i1", "i1"),
                                         ("i8", "i8"), ("c8", "f4"), ("f4", "c16"), ("?", "?")])
def test_filter_dtypes_as_in_memory(dt_a, dt_k):
    """SciPy's dtype contract holds on Dask too: the result dtype, the wrap-around of integer
    overflow, complex through real kernels, the fill cast to the result dtype."""
    rng = np.random.default_rng(3)

    def draw(shape, dt, seed):
        r = np.random.default_rng(seed)
        if np.dtype(dt).kind in "iu":
            info = np.iinfo(dt)
            return r.integers(info.min, info.max, shape, endpoint=True).astype(dt)
        if np.dtype(dt).kind == "b":
            return r.random(shape) < 0.5
        v = r.standard_normal(shape)
        return (v + 1j * r.standard_normal(shape) if np.dtype(dt).kind == "c" else v).astype(dt)

    a, k = draw((13, 11), dt_a, 1), draw((3, 4), dt_k, 2)
    fill = -1 if np.result_type(a, k).kind in "ifc" else 1
    for f, mode, boundary in itertools.product((cc.convolve, cc.correlate),
                                               ("full", "same", "valid"),
                                               ("fill", "wrap", "symm")):
        expected = f(a, k, mode, boundary=boundary, fillvalue=fill)
        got = f(da.from_array(a, chunks=(4, (2, 5, 4))), k, mode, boundary=boundary,
                fillvalue=fill)
        assert got.dtype == expected.dtype
        assert_eq(got, expected, check_chunks=False)
        np.testing.assert_array_equal(got.compute(), expected)
    del rng


def test_filter_2d_names_and_swap():
    a = np.arange(30, dtype=np.int16).reshape(5, 6)
    for f in (cc.convolve2d, cc.correlate2d):
        for mode in ("full", "valid"):
            expected = f(a, np.ones((2, 3), np.int16), mode, "wrap")
            got = f(da.from_array(a, chunks=2), np.ones((2, 3), np.int16), mode, "wrap")
            np.testing.assert_array_equal(got.compute(), expected)
    big = np.arange(64.0).reshape(8, 8)  # "valid" with the kernel the larger: SciPy swaps
    for f in (cc.convolve, cc.correlate, cc.convolve2d, cc.correlate2d):
        np.testing.assert_array_equal(f(da.from_array(a.astype("f8"), chunks=2), big,
                                        "valid").compute(), f(a.astype("f8"), big, "valid"))
    with pytest.raises(TypeError, match="even-sized in2"):
        cc.correlate2d(da.from_array(a, chunks=2), np.ones((2, 2)), "same")


def test_depthwise_pointwise_separable():
    x = _rnd((2, 4, 11, 12))
    ch = (1, 2, (4, 1, 6), (5, 5, 2))
    for s, mode in itertools.product((1, 2), ("zeros", "reflect", "replicate", "circular")):
        check(cc.depthwise_conv2d, x, ch, _rnd((8, 1, 3, 3), seed=1), _rnd(8, seed=2),
              stride=s, padding=1, dilation=2, padding_mode=mode, activation="relu6")
        check(cc.depthwise_separable_conv2d, x, ch, _rnd((4, 1, 3, 3), seed=1),
              _rnd((5, 4), seed=2), stride=s, padding=1, padding_mode=mode,
              mid_activation="relu")
        check(cc.spatially_separable_conv2d, x, ch, _rnd((3, 4, 3, 1), seed=1),
              _rnd((5, 3, 1, 3), seed=2), padding=(2, 1), stride=s, padding_mode=mode)
        check(cc.flattened_conv2d, x, ch, _rnd((5, 4), seed=1), _rnd((5, 3), seed=2),
              _rnd((5, 2), seed=3), padding=1, stride=s, padding_mode=mode)
    check(cc.depthwise_conv2d, np.moveaxis(x, 1, 3).copy(), (1, 3, 5, 4), _rnd((4, 1, 3, 3)),
          padding="same", channels_last=True)
    check(cc.pointwise_conv, x, ch, _rnd((6, 2), seed=1), groups=2, activation="gelu")
    check(cc.pointwise_conv, _rnd((3, 5, 4, 3, 2)), (2, 5, 3, 2, 1), _rnd((2, 5, 1, 1, 1)))


def test_shuffle_asymmetric_inception_se():
    x = _rnd((2, 4, 11, 12))
    ch = (1, 2, (4, 1, 6), (5, 5, 2))
    check(cc.channel_shuffle, x, ch, 2, exact=True)
    check(cc.channel_shuffle, _rnd((3, 6)), (2, 3), 3, exact=True)
    check(cc.shuffled_grouped_conv, x, ch, _rnd((6, 2, 3, 3), seed=1), groups=2, padding=1,
          stride=2, padding_mode="reflect")
    check(cc.asymmetric_conv2d, x, ch, _rnd((5, 4, 3, 3)), _rnd((5, 4, 1, 3), seed=1),
          _rnd((5, 4, 3, 1), seed=2), padding=1, stride=(1, 2), padding_mode="circular")
    branches = [[{"w": _rnd((3, 4, 1, 1))}],
                [{"w": _rnd((2, 4, 1, 1), seed=1)},
                 {"w": _rnd((2, 2, 3, 3), seed=2), "padding": 2, "dilation": 2}], []]
    check(cc.inception, x, ch, branches)
    for cl in (False, True):
        xs = np.moveaxis(x, 1, 3).copy() if cl else x
        check(cc.squeeze_excitation, xs, (1, 5, 4, 2) if cl else ch, _rnd((2, 4)), _rnd(2),
              _rnd((4, 2)), None, channels_last=cl)


def test_quantized_and_integer_output_dtype():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 3, 11, 12)).astype(np.uint8)
    w = rng.integers(-8, 8, (4, 3, 3, 3)).astype(np.int8)
    bias = rng.integers(-100, 100, 4).astype(np.int32)
    for s, ch in itertools.product((1, 2, 3), ((3, 1, 5, 2), (1,) * 11, (11,))):
        y = check(cc.quantized_conv2d, x, (1, 3, ch, (5, 7)), 0.5, 128, w, 0.25, 0, 0.1,
                  np.uint8(10), bias, padding=1, stride=s, exact=True)
        assert y.dtype == np.uint8
    y = check(cc.quantized_conv2d, x, (1, 3, 4, 4), 0.5, 128, w, 0.25, 0, 0.2, np.int8(3),
              padding=2, dilation=2, exact=True)
    assert y.dtype == np.int8


def test_deform_one_chunk_spatial():
    x = _rnd((3, 2, 9, 10))
    off = _rnd((3, 18, 9, 10), seed=1) * 2
    mask = _rnd((3, 9, 9, 10), seed=2)
    w = _rnd((4, 2, 3, 3), seed=3)
    expected = cc.deform_conv2d(x, off, w, padding=1, mask=mask)
    lazy = cc.deform_conv2d(da.from_array(x, chunks=(2, 1, 4, 5)),
                            da.from_array(off, chunks=(1, 9, 5, 5)), w, padding=1,
                            mask=da.from_array(mask, chunks=(3, 9, 9, 10)))
    assert lazy.chunks[0] == (2, 1)
    assert_eq(lazy, expected, check_chunks=True, rtol=1e-11, atol=1e-11)
    check(cc.deform_conv2d, x, (1, 2, 9, 10), off[:, :, ::2, ::2].copy(), w, stride=2,
          padding=1)  # a NumPy offset


def test_nothing_computed_and_bad_input():
    calls = []

    def boom(b):
        calls.append(1)
        raise AssertionError("computed")

    x = da.zeros((2, 3, 8, 8), chunks=(1, 3, 4, 4), dtype="f4").map_blocks(boom, dtype="f4", meta=np.empty((0, 0, 0, 0), "f4"))
    w = np.ones((4, 3, 3, 3), "f4")
    y = cc.conv2d(x, w, padding=1, padding_mode="reflect")  # builds the graph only
    cc.conv_transpose2d(x, np.ones((3, 2, 3, 3), "f4"), stride=2)
    cc.squeeze_excitation(x, np.ones((1, 3), "f4"), None, np.ones((3, 1), "f4"))
    cc.correlate(x[0, 0], np.ones((3, 3), "f4"), "same", "wrap")
    assert y.shape == (2, 4, 8, 8) and not calls
    with pytest.raises(TypeError, match="w is a Dask array"):
        cc.conv2d(x, da.from_array(w))
    with pytest.raises(TypeError, match="bias is a Dask array"):
        cc.conv2d(x, w, da.ones(4, dtype="f4"))
    with pytest.raises(TypeError, match="k is a Dask array"):
        cc.correlate(np.ones((5, 5)), da.ones((3, 3)))
    with pytest.raises(TypeError, match="out must be None"):
        cc.conv2d(x, w, out=np.empty((2, 4, 6, 6), "f4"))
    with pytest.raises(TypeError, match="dtype"):  # x float32, w float64: the core's check
        cc.conv2d(x, w.astype("f8"))
    with pytest.raises(ValueError, match="padding"):  # reflect pads fewer than the input size
        cc.conv2d(x, w, padding=8, padding_mode="reflect")
    with pytest.raises(ValueError):  # circular: a halo larger than the array
        cc.conv2d(x, w, padding=9, padding_mode="circular")
    with pytest.raises(ValueError, match="groups"):
        cc.conv2d(x, np.ones((4, 1, 3, 3), "f4"), groups=2)
    assert not calls


def test_unknown_chunk_sizes_refused():
    x = da.arange(100, chunks=10).astype("f8")
    y = x[x > 20]  # chunk sizes unknown until computed
    with pytest.raises(ValueError, match="unknown chunk sizes.*x.compute_chunk_sizes"):
        cc.conv1d(y[None, None], np.ones((1, 1, 3)))
    with pytest.raises(ValueError, match="unknown chunk sizes.*a.compute_chunk_sizes"):
        cc.correlate(y, np.ones(3), "same")
    from convcore import ndimage

    with pytest.raises(ValueError, match="unknown chunk sizes"):
        ndimage.gaussian_filter(y, 2.0)
    y.compute_chunk_sizes()
    np.testing.assert_array_equal(cc.correlate(y, np.ones(3), "same").compute(),
                                  cc.correlate(np.arange(21, 100.0), np.ones(3), "same"))


def test_weights_in_graph_once():
    x = da.ones((4, 2, 16, 16), chunks=(1, 2, 8, 8), dtype="f4")
    w = np.ones((3, 2, 3, 3), "f4")
    y = cc.conv2d(x, w, padding=1)
    graph = dict(y.__dask_graph__())
    holders = [k for k, v in graph.items() if isinstance(v, np.ndarray) and v.shape == w.shape]
    assert len(holders) == 1


def test_draw_halos(tmp_path):
    pytest.importorskip("matplotlib")
    import convcore.dask as cd

    x = da.zeros((1, 1, 20, 24), chunks=(1, 1, (7, 7, 6), (5, 9, 10)), dtype="f4")
    path = tmp_path / "halos.png"
    cd.draw_halos(x, np.ones((1, 1, 5, 5), "f4"), str(path), stride=2, padding=2,
                  padding_mode="reflect")
    assert path.stat().st_size > 1000


def test_dask_package_doctests():
    import doctest

    import convcore.dask as cd

    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    objs = [(cd, "convcore.dask")]
    try:
        import matplotlib  # noqa: F401

        objs.append((cd.draw_halos, "convcore.dask.draw_halos"))
    except ImportError:
        pass
    for obj, name in objs:
        tests = [t for t in finder.find(obj, name) if t.examples]
        assert tests, name
        for t in tests:
            runner.run(t)
    assert runner.summarize(verbose=False).failed == 0


def _halo_chunks(y):
    """The input chunk indices that lend their partial pieces through a halo task in y's graph."""
    return {k[1:] for k in dict(y.__dask_graph__()) if isinstance(k, tuple) and
            isinstance(k[0], str) and k[0].endswith("-halo")}


@pytest.mark.parametrize("dtype", ["f4", "f8"])
def test_halo_tasks_across_the_threshold(dtype):
    """A chunk lends its partial pieces through a copy task when they are at most half of it
    (HALO_FRACTION), else the blocks slice it: both paths, and chunks right at the threshold,
    give the in-memory result bit for bit."""
    from convcore.dask import _graph

    assert _graph.HALO_FRACTION == 0.5
    k = _rnd((5,), dtype, seed=1)  # halo 2 on each side: a chunk lends 2 + 2 = 4 samples
    a = _rnd((40,), dtype)
    for c, lends in ((7, False), (8, True), (9, True)):
        chunks = (c,) * (40 // c) + ((40 % c,) if 40 % c else ())
        for f in (cc.convolve, cc.correlate):
            y = check(f, a, chunks, k, "same", exact=True)
            inner = set(range(1, len(chunks) - 1))
            got = {i for (i,) in _halo_chunks(y)}
            assert (inner <= got) if lends else not (inner & got), (c, got)
    # 2-D: a c x c chunk lends 4 strips h x c and 4 corners h x h (h = 3 for a 7 x 7 kernel)
    k2 = _rnd((7, 7), dtype, seed=2)
    for c in (12, 26, 27, 30):
        lends = 4 * 3 * c + 4 * 9 <= c * c / 2  # an interior chunk: true from c = 27 on
        a2 = _rnd((4 * c, 4 * c + 1), dtype)
        y = check(cc.correlate, a2, (c, c), k2, "same", "fill", 0.25, exact=True)
        inner = {(i, j) for i in (1, 2) for j in (1, 2)}
        assert (inner <= _halo_chunks(y)) if lends else not (inner & _halo_chunks(y)), c
        check(cc.convolve, a2, (c, (7, c, 3 * c - 6)), k2, "full", "symm", exact=True)
        check(cc.correlate, a2, ((c, 3 * c), c), k2, "same", "wrap", exact=True)


def test_halo_tasks_conv_modes_and_graph_shape():
    """Convs over chunks large enough to lend their halos: every padding mode and stride,
    3-D too; a block then depends on its own chunk and on its neighbours' halo tasks only,
    never on a neighbour chunk (so a chunk is freed once its own block has run)."""
    x = _rnd((2, 3, 40, 44), "f4")
    w = _rnd((4, 3, 3, 5), "f4", seed=1)
    for mode, s in itertools.product(("zeros", "reflect", "replicate", "circular"), (1, 2, 3)):
        y = check(cc.conv2d, x, (1, 3, (16, 12, 12), (20, 24)), w, stride=s,
                  padding=(1, 2), padding_mode=mode)
        assert _halo_chunks(y)
    xd = da.from_array(x, chunks=(1, 3, 20, 22))
    y = cc.conv2d(xd, w, padding=(1, 2))
    assert_eq(y, cc.conv2d(x, w, padding=(1, 2)), check_chunks=True, rtol=1e-5, atol=1e-5)
    blocks = {k: t for k, t in dict(y.__dask_graph__()).items() if k[0] == y.name}
    assert len(blocks) == 2 * 2 * 2
    for key, task in blocks.items():
        refs = [a for a in task[1:] if isinstance(a, tuple) and a and a[0] == xd.name]
        assert refs == [(xd.name,) + key[1:]], (key, refs)
    check(cc.conv3d, _rnd((1, 2, 18, 17, 16)), (1, 2, 9, (9, 8), 16),
          _rnd((2, 2, 3, 3, 3), seed=2), padding=1, padding_mode="reflect")


def test_task_thread_share():
    """A block task runs its op with its share of the process's convcore threads: the
    process count divided by the tasks the scheduler runs at once (at most the op's block
    count); the process-wide setting itself is never changed."""
    from convcore.dask import _threads

    old = cc.get_num_threads()
    try:
        cc.set_num_threads(4)
        assert _threads.task_threads(100) == 4  # the main thread: the sync scheduler
        seen = []

        def probe(b):
            seen.append((_threads.task_threads(100), _threads.task_threads(1),
                         _threads.run_with_share(100, cc.get_num_threads)))
            return b

        x = da.zeros(4, chunks=1).map_blocks(probe, dtype=float, meta=np.empty(0))
        with dask.config.set(scheduler="threads", num_workers=2):
            x.compute()
        assert set(seen) == {(2, 4, 2)}, seen
        with dask.config.set(scheduler="threads", num_workers=8):
            seen.clear()
            x.compute()
        assert set(seen) == {(1, 4, 1)}, seen
        seen.clear()
        x.compute(scheduler="threads", num_workers=4)  # reaches the pool, not the config
        assert set(seen) == {(1, 4, 1)}, seen
        seen.clear()
        x.compute(scheduler="threads", num_workers=1)
        assert set(seen) == {(4, 4, 4)}, seen
        assert cc.get_num_threads() == 4
        # and a real run under the threaded scheduler still equals the in-memory call
        a = _rnd((33, 30), "f4")
        k = _rnd((5, 5), "f4", seed=1)
        with dask.config.set(scheduler="threads", num_workers=2):
            got = cc.correlate(da.from_array(a, chunks=(11, 15)), k, "same").compute()
        np.testing.assert_array_equal(got, cc.correlate(a, k, "same"))
        assert cc.get_num_threads() == 4
    finally:
        cc.set_num_threads(old)


def test_group_aligned_channel_chunks():
    """Channel chunks that hold whole groups stay chunked: output channel block j is the
    output of chunk j's groups (each block runs those groups alone, with its own rows of w
    and bias); a chunk boundary inside a group makes the channel axis one chunk."""
    x = _rnd((2, 8, 9, 10))
    w = _rnd((12, 2, 3, 3), seed=1)  # groups=4: 2 input and 3 output channels per group
    b = _rnd(12, seed=2)
    for ch, out in (((2, 4, 2), (3, 6, 3)), ((4, 4), (6, 6)), ((2,) * 4, (3,) * 4),
                    ((3, 5), (12,)), ((1, 7), (12,))):
        y = check(cc.conv2d, x, (1, ch, (4, 5), 10), w, b, groups=4, padding=1,
                  padding_mode="reflect", activation="relu", stride=(2, 1))
        assert y.chunks[1] == out, (ch, y.chunks)
    xl = np.moveaxis(x, 1, 3).copy()
    y = check(cc.conv2d, xl, (2, 9, (6, 4), (4, 2, 2)), w, b, groups=4, padding="same",
              channels_last=True)
    assert y.chunks[3] == (6, 3, 3)
    # transposed: w (C_in, C_out / groups, k, k), sliced by input channels
    wt = _rnd((8, 3, 3, 3), seed=3)
    y = check(cc.conv_transpose2d, x, (1, (4, 4), 5, 10), wt, _rnd(6, seed=4), groups=2,
              stride=2, padding=1, output_padding=1)
    assert y.chunks[1] == (3, 3)
    check(cc.conv_transpose2d, x, (1, (2, 6), 5, 10), wt, groups=2, stride=2)  # one chunk
    # depthwise: every channel is a group, any chunking aligns (multiplier 2)
    y = check(cc.depthwise_conv2d, x, (2, (3, 1, 4), (4, 5), 10), _rnd((16, 1, 3, 3), seed=5),
              _rnd(16, seed=6), padding=1, stride=2)
    assert y.chunks[1] == (6, 2, 8)
    y = check(cc.pointwise_conv, x, (1, (4, 4), 9, 10), _rnd((8, 2), seed=7), _rnd(8, seed=8),
              groups=4, activation="gelu")
    assert y.chunks[1] == (4, 4)
    # the weights of each channel block go into the graph once
    xd = da.from_array(x.astype("f4"), chunks=(1, 2, 9, 10))
    y = cc.conv2d(xd, w.astype("f4"), padding=1, groups=4)
    holders = [v for v in dict(y.__dask_graph__()).values()
               if isinstance(v, np.ndarray) and v.shape == (3, 2, 3, 3)]
    assert len(holders) == 4


def test_deform_max_offset_halo():
    """With max_offset the spatial chunks stay: each block reads its conv halo widened by the
    bound, and equals the in-memory op (float rounding of the sample positions only), over
    strides, dilations, paddings, bounds, channels_last and chunks smaller than the halo;
    an offset beyond the bound is an error, in memory at the call, on Dask at compute."""
    rng = np.random.default_rng(4)
    for s, d, p, bound, cl in itertools.product((1, 2, 3), (1, 2), (0, 3), (0.5, 3.7),
                                                (False, True)):
        x = rng.standard_normal((2, 3, 17, 19))
        w = rng.standard_normal((4, 3, 3, 3))
        oh, ow = (17 + 2 * p - 2 * d - 1) // s + 1, (19 + 2 * p - 2 * d - 1) // s + 1
        off = np.clip(rng.standard_normal((2, 18, oh, ow)) * bound, -bound, bound)
        off[0, 0, 0, 0] = bound  # the bound itself is allowed
        mask = rng.random((2, 9, oh, ow))
        ch_x, ch_o, ch_m = (1, 3, (5, 1, 6, 5), (4, 9, 6)), (1, 18, (3, oh - 3), ow), \
            (1, 9, oh, (ow - 4, 4))
        if cl:
            x, off, mask = (np.moveaxis(a, 1, 3).copy() for a in (x, off, mask))
            ch_x, ch_o, ch_m = ((c[0], c[2], c[3], c[1]) for c in (ch_x, ch_o, ch_m))
        kw = dict(stride=s, dilation=d, padding=p, channels_last=cl)
        expected = cc.deform_conv2d(x, off, w, mask=mask, **kw)
        y = cc.deform_conv2d(da.from_array(x, chunks=ch_x), da.from_array(off, chunks=ch_o), w,
                             mask=da.from_array(mask, chunks=ch_m), max_offset=bound, **kw)
        spatial = (1, 2) if cl else (2, 3)
        assert len(y.chunks[spatial[0]]) > 1 and len(y.chunks[spatial[1]]) > 1
        assert_eq(y, expected, check_chunks=True, rtol=1e-11, atol=1e-11)
        np.testing.assert_array_equal(cc.deform_conv2d(x, off, w, mask=mask, max_offset=bound,
                                                       **kw), expected)
    x = rng.standard_normal((1, 2, 12, 12)).astype("f4")
    w = rng.standard_normal((2, 2, 3, 3)).astype("f4")
    off = np.zeros((1, 18, 10, 10), "f4")
    off[0, 5, 7, 8] = -2.5
    check(cc.deform_conv2d, x, (1, 2, (2, 1, 9), 12), off, w, max_offset=2.5)  # a NumPy offset
    with pytest.raises(ValueError, match="max_offset=2.0"):
        cc.deform_conv2d(x, off, w, max_offset=2)
    with pytest.raises(ValueError, match="beyond max_offset"):  # a NumPy offset: at the call
        cc.deform_conv2d(da.from_array(x, chunks=6), off, w, max_offset=2)
    lazy = cc.deform_conv2d(da.from_array(x, chunks=6), da.from_array(off, chunks=5), w,
                            max_offset=2)
    with pytest.raises(ValueError, match="beyond max_offset"):  # a Dask one: by its block
        lazy.compute()
    for bad in (-1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="max_offset"):
            cc.deform_conv2d(x, off, w, max_offset=bad)
    with pytest.raises(TypeError, match="max_offset"):
        cc.deform_conv2d(x, off, w, max_offset="2")


def test_deform_max_offset_edge_cases():
    """Found by the Dask fuzzing (tests/fuzz_dask.py): groups deduced from the shapes, a bound
    far beyond the image, a NaN beside an offset past the bound, blocks that no input reaches
    (NaN offsets there decide by the other coordinate, as in memory)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 4, 9, 8))
    w = rng.standard_normal((6, 2, 3, 3))  # groups = 4 / 2
    off = rng.standard_normal((1, 18, 7, 6))
    for bound in (float(np.abs(off).max()), 1e30):
        check(cc.deform_conv2d, x, (1, 4, (2, 3, 4), (1, 7)), off, w, max_offset=bound)
    bad = off.copy()
    bad[0, 0, 0, 0], bad[0, 1, 2, 3] = np.nan, np.inf
    for xx in (x, da.from_array(x, chunks=(1, 4, 3, 4))):
        with pytest.raises(ValueError, match="beyond max_offset"):
            cc.deform_conv2d(xx, bad, w, max_offset=5)
    # an image with no rows, padded to 8: its blocks read no input, and a NaN offset's sample
    # is 0 where the other coordinate is outside the image (every NaN dx here), NaN elsewhere
    x = rng.standard_normal((1, 2, 0, 7))
    w = rng.standard_normal((3, 2, 1, 1))
    off = np.clip(rng.standard_normal((1, 2, 8, 7)), -1, 1)
    off[0, 0, ::3, ::2] = np.nan
    off[0, 1, 1::3, 1::2] = np.nan
    expected = cc.deform_conv2d(x, off, w, padding=(4, 0))
    assert np.isnan(expected).any() and (expected == 0).any()
    lazy = check(cc.deform_conv2d, x, (1, 2, 0, (3, 4)), off, w, padding=(4, 0), max_offset=1)
    assert len(lazy.chunks[3]) > 1
