"""Plans (ops/plan.hpp, cpp/src/bind_plan.cpp, python/convcore/_plan.py): a plan gives exactly
the plain call's result (same algorithm), bit for bit, over the engine tests' shapes and options
and shapes aimed at each prepared form (packed GEMM panels for the packed, shared-B and row
paths, Winograd's A and few-tile B forms, grouped and 3-D Winograd, blocks of output channels,
the grouped kernel's blocks, the transposed engine's panels and sub-pixel forms, the depthwise
kernels' packed taps), at every ISA level, with 1 and 2 threads, from several Python threads
sharing one plan; errors for a wrong dtype, channel count or rank; pickling; independence from
the caller's arrays."""
import pickle

import numpy as np
import pytest

import convcore as cc
import reference as ref
from conftest import assert_close, assert_immutable, conv_data, reduction, run_in_threads
from convcore import _core
from sweep_helpers import cast, data, from_cl, to_cl
from test_engine import FOLD_CASES, FORWARD_CASES, TRANSPOSED_CASES
from test_sweeps_algorithms import GRID, T_GRID

LEVELS = list(_core.simd_info()["supported"])


def same(a, b):
    """Bit for bit (NaN where NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
    return a.tobytes() == b.tobytes()


def check_conv(x, w, b, algorithm="auto", calls=2, **kw):
    """plan(x) == conv(x) bit for bit, on `calls` calls (the first prepares the forms); returns
    the result."""
    want = cc.conv(x, w, b, algorithm=algorithm, **kw)
    plan = cc.conv_plan(w, b, algorithm=algorithm, **kw)
    for _ in range(calls):
        y = plan(x)
        assert same(y, want), (plan, x.shape, plan.algorithm_for(x))
    alg = plan.algorithm_for(x)
    if x.size and (alg in ("im2col", "grouped") or (alg == "winograd" and 4.5 * w.nbytes < 6 << 20)):
        # the run read a form the plan prepared (and keeps): Winograd's only up to 6-12 MiB
        assert plan.workspace_bytes > w.nbytes + (0 if b is None else b.nbytes)
    return want


def check_transpose(x, w, b, algorithm="auto", **kw):
    want = cc.conv_transpose(x, w, b, algorithm=algorithm, **kw)
    plan = cc.conv_transpose_plan(w, b, algorithm=algorithm, **kw)
    for _ in range(2):
        assert same(plan(x), want), (plan, x.shape)
    return want


# ---- every algorithm over the engine tests' cases ----------------------------------------

@pytest.mark.parametrize("algorithm", ["auto", "im2col", "direct", "reference"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd,xs,ws,kw", FORWARD_CASES)
def test_engine_cases(rng, isa, threads, algorithm, dtype, nd, xs, ws, kw):
    x, w, b = conv_data(rng, xs, ws, dtype)
    y = check_conv(x, w, b, algorithm, **kw)
    assert_close(y, ref.conv(x, w, b, **kw), reduction(w))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("xs,ws,kw", FOLD_CASES)
def test_folded_batch_cases(rng, isa, threads, channels_last, xs, ws, kw):
    x, w, b = conv_data(rng, xs, ws, np.float32)
    xin = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x
    check_conv(xin, w, b, "im2col", activation="relu6", channels_last=channels_last, **kw)


# Shapes aimed at each path that reads prepared weights (kernels/prepack.hpp). MR/NR/KC differ by
# level (fp32 NR: 8 scalar, 16 AVX2, 32 AVX-512; MR 6 or 8; KC 256), so the cases straddle them.
FORM_CASES = [
    # im2col packed path: K over two KC blocks, M not a multiple of MR, channels-last
    ("im2col", (2, 40, 9, 11), (19, 40, 3, 3), dict(padding=1, channels_last=True)),
    # row path (wide rows, k > 1), groups, activation
    ("im2col", (1, 8, 12, 70), (22, 4, 3, 3), dict(groups=2, padding=1, activation="relu")),
    # shared-B path: few pixels, many output channels, K = 576
    ("im2col", (1, 64, 7, 7), (136, 64, 3, 3), dict(padding=1)),
    ("im2col", (1, 300, 3, 3), (100, 300, 1, 1), dict()),
    # stride 2 along W (the row-split copy), 1x1 packed, grouped K > KC
    ("im2col", (2, 6, 16, 33), (12, 6, 3, 3), dict(stride=2)),
    ("im2col", (1, 600, 6, 6), (64, 300, 1, 1), dict(groups=2)),
    ("im2col", (1, 4, 5, 6, 7), (9, 4, 3, 3, 3), dict(padding=1)),
    # padding modes and flip through the padded copy, flipped once by the plan
    ("im2col", (1, 5, 8, 9), (7, 5, 3, 3), dict(padding=2, padding_mode="reflect", flip=True)),
    ("direct", (1, 5, 8, 9), (7, 5, 3, 3), dict(padding=2, padding_mode="circular", flip=True)),
    ("reference", (1, 3, 6, 7), (4, 3, 3, 2), dict(padding=1, padding_mode="replicate", flip=True)),
    ("auto", (1, 3, 30, 30), (16, 3, 7, 7), dict(stride=2, padding=3)),  # stem
    # Winograd: many tiles (one worker per chunk), the three phases, few tiles (B form)
    ("winograd", (4, 32, 40, 40), (32, 32, 3, 3), dict(padding=1)),
    ("winograd", (1, 32, 20, 22), (40, 32, 3, 3), dict(padding=1, activation="gelu")),
    ("winograd", (1, 64, 8, 8), (70, 64, 3, 3), dict(padding=1)),
    ("winograd", (2, 70, 6, 6), (33, 70, 3, 3), dict(padding=1, dilation=2)),
    ("winograd", (1, 12, 9, 10), (8, 12, 3, 3), dict(padding=1, flip=True, padding_mode="reflect")),
    # Winograd 3-D (depth taps in the reduction) and grouped (run_grouped; run_few with groups)
    ("winograd", (1, 16, 4, 9, 9), (20, 16, 3, 3, 3), dict(padding=1)),
    ("winograd", (2, 64, 14, 14), (64, 16, 3, 3), dict(groups=4, padding=1)),
    ("winograd", (1, 64, 10, 10), (48, 16, 3, 3), dict(groups=4, padding=1)),
    ("auto", (1, 32, 28, 28), (32, 8, 3, 3), dict(groups=4, padding=1)),
    ("auto", (2, 64, 14, 14), (64, 16, 3, 3), dict(groups=4, padding=1)),
    # the grouped direct kernel: one and two vectors of output channels per group
    ("grouped", (1, 64, 14, 14), (64, 16, 3, 3), dict(groups=4, padding=1)),
    ("grouped", (2, 80, 9, 12), (80, 40, 3, 3), dict(groups=2, padding=1, channels_last=True)),
    # depthwise under "auto": planar, bands, channels-last, few channels channels-last
    ("auto", (2, 24, 15, 16), (48, 1, 3, 3), dict(groups=24, padding=1)),
    ("auto", (1, 32, 64, 9), (32, 1, 5, 5), dict(groups=32, padding=2, stride=2)),
    ("auto", (1, 40, 9, 10), (40, 1, 3, 3), dict(groups=40, padding=1, channels_last=True)),
    ("auto", (1, 7, 8, 6), (7, 1, 3, 3), dict(groups=7, padding=1, channels_last=True)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("algorithm,xs,ws,kw", FORM_CASES)
def test_prepared_forms(rng, isa, threads, dtype, algorithm, xs, ws, kw):
    x, w, b = conv_data(rng, xs, ws, dtype)
    kw = dict(kw)
    cl = kw.pop("channels_last", False)
    y = check_conv(to_cl(x) if cl else x, w, b, algorithm, channels_last=cl, **kw)
    assert_close(from_cl(y) if cl else y, ref.conv(x, w, b, **kw), reduction(w))


def test_winograd_form_beyond_the_cache_is_declined(rng, isa):
    # transformed weights over 12 MiB (run in blocks of output channels): reading them from
    # memory costs more than transforming w, so the plan keeps none and the engine transforms
    # on each call, as the plain call does
    x, w, b = conv_data(rng, (1, 512, 24, 24), (256, 512, 3, 3), np.float32)
    plan = cc.conv_plan(w, b, padding=1, algorithm="winograd")
    assert same(plan(x), cc.conv(x, w, b, padding=1, algorithm="winograd"))
    assert plan.workspace_bytes == w.nbytes + b.nbytes


@pytest.mark.parametrize("algorithm", ["auto", "im2col", "direct", "reference"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,kw", TRANSPOSED_CASES + [
    # chunks of output channels that must start on panel boundaries: 10 and 70 channels x 9
    # taps, 64 x 16 taps; the reduction over two KC blocks
    ((1, 64, 6, 6), (64, 10, 3, 3), dict(stride=2)),
    ((2, 16, 5, 5), (16, 70, 3, 3), dict(stride=2, padding=1)),
    ((1, 300, 3, 4), (300, 64, 4, 4), dict(stride=2, padding=1)),
])
def test_transposed_cases(rng, isa, threads, algorithm, dtype, xs, ws, kw):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[1] * kw.get("groups", 1)).astype(dtype)
    y = check_transpose(x, w, b, algorithm, **kw)
    red = ws[0] // kw.get("groups", 1) * int(np.prod(ws[2:]))
    assert_close(y, ref.conv_transpose(x, w, b, **kw), red)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs", [(1, 64, 8, 8), (4, 64, 8, 8), (1, 40, 5, 7), (3, 40, 12, 9)])
def test_transposed_subpixel_forms(rng, isa, threads, dtype, xs):
    # the sub-pixel form on Winograd: few phase tiles (B form) and many (A form), 4x4/2 and
    # 3x3/1 windows
    for ws, kw in [((xs[1], 48, 4, 4), dict(stride=2, padding=1)),
                   ((xs[1], 33, 3, 3), dict(padding=1))]:
        x = rng.standard_normal(xs).astype(dtype)
        w = rng.standard_normal(ws).astype(dtype)
        b = rng.standard_normal(ws[1]).astype(dtype)
        check_transpose(x, w, b, "winograd", activation="relu", **kw)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("xs,ws,kw", [
    ((2, 24, 15, 16), (48, 1, 3, 3), dict(padding=1)),
    ((1, 32, 64, 9), (32, 1, 5, 5), dict(padding=2, stride=2, padding_mode="reflect")),
    ((1, 8, 9, 10), (8, 1, 3, 3), dict(padding=1, activation="relu6")),
    ((1, 20, 7, 7), (20, 1, 3, 3), dict(dilation=2 ** 20, padding="same")),  # direct
])
def test_depthwise_plan(rng, isa, threads, channels_last, xs, ws, kw):
    x, w, b = conv_data(rng, xs, ws, np.float32)
    xin = to_cl(x) if channels_last else x
    want = cc.depthwise_conv2d(xin, w, b, channels_last=channels_last, **kw)
    plan = cc.depthwise_conv2d_plan(w, b, channels_last=channels_last, **kw)
    for _ in range(2):
        assert same(plan(xin), want)
    # a channel count that divides w.shape[0] (depth multiplier 2) is a different call
    if ws[0] % 2 == 0 and xs[1] == ws[0]:
        x2 = np.ascontiguousarray(x[:, : xs[1] // 2])
        x2in = to_cl(x2) if channels_last else x2
        assert same(plan(x2in), cc.depthwise_conv2d(x2in, w, b, channels_last=channels_last,
                                                     **kw))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spatial", [(), (13,), (5, 7), (3, 4, 5), (300,)])
@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("channels_last", [False, True])
def test_pointwise_plan(rng, isa, threads, dtype, spatial, groups, channels_last):
    # K over one KC block (260 channels per group), M not a multiple of MR; trailing 1s in w
    for cin, cout in [(8, 12), (4 * 260, 4 * 9)]:
        x = rng.standard_normal((2, cin) + spatial).astype(dtype)
        ones = (1,) * len(spatial) if len(spatial) == 2 else ()  # PyTorch's (C_out, C_in, 1, 1)
        w = rng.standard_normal((cout, cin // groups) + ones).astype(dtype)
        b = rng.standard_normal(cout).astype(dtype)
        xin = to_cl(x) if channels_last and spatial else x
        cl = channels_last and bool(spatial)
        kw = dict(groups=groups, channels_last=cl, activation="relu6")
        want = cc.pointwise_conv(xin, w, b, **kw)
        plan = cc.pointwise_conv_plan(w, b, **kw)
        for _ in range(2):
            assert same(plan(xin), want)
        if not cl and x.size:
            assert plan.workspace_bytes > w.nbytes + b.nbytes  # the packed panels
        assert_close(from_cl(want) if cl else want,
                     ref.pointwise_conv(x, w, b, groups=groups, activation="relu6"),
                     cin // groups)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("xs,m,cout,kw", [
    ((2, 16, 14, 15), 1, 24, dict(padding=1)),
    ((1, 8, 9, 10), 2, 300, dict(stride=2, padding=1, mid_activation="relu6")),
    ((1, 40, 20, 7), 1, 33, dict(padding=(2, 1), dilation=2, padding_mode="reflect")),
    ((3, 5, 6, 6), 3, 7, dict(activation="relu")),
])
def test_depthwise_separable_plan(rng, isa, threads, channels_last, xs, m, cout, kw):
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal(xs).astype(dtype)
        wd = rng.standard_normal((xs[1] * m, 1, 3, 3)).astype(dtype)
        wp = rng.standard_normal((cout, xs[1] * m)).astype(dtype)
        bd = rng.standard_normal(xs[1] * m).astype(dtype)
        bp = rng.standard_normal(cout).astype(dtype)
        xin = to_cl(x) if channels_last else x
        want = cc.depthwise_separable_conv2d(xin, wd, wp, bd, bp, channels_last=channels_last,
                                             **kw)
        plan = cc.depthwise_separable_conv2d_plan(wd, wp, bd, bp, channels_last=channels_last,
                                                  **kw)
        for _ in range(2):
            assert same(plan(xin), want)
        back = pickle.loads(pickle.dumps(plan))
        assert same(back(xin), want)


# ---- the engine sweeps' grids --------------------------------------------------------------

def _grid_case(i, spec, algo, fn, plan_fn):
    xs, ws, kw, cl, use_out, dt = (spec[k] for k in ("xs", "ws", "kw", "cl", "out", "dtype"))
    transposed = fn is cc.conv_transpose
    nb = ws[1] * kw["groups"] if transposed else ws[0]
    x, w, b = cast(dt, *data(("plan-grid", i, xs, ws), xs, ws, (nb,)))
    if cl:
        x = to_cl(x)
    try:
        want = fn(x, w, b, algorithm=algo, channels_last=cl, **kw)
    except ValueError as e:
        # the plan refuses the same, when made or when called, with the same message
        with pytest.raises(ValueError) as got:
            plan_fn(w, b, algorithm=algo, channels_last=cl, **kw)(x)
        assert str(got.value) == str(e)
        return
    plan = plan_fn(w, b, algorithm=algo, channels_last=cl, **kw)
    out = np.full(want.shape, np.nan, dt) if use_out else None
    y = plan(x, out=out)
    if use_out:
        assert y is out or np.shares_memory(y, out)
    assert same(y, want), f"{fn.__name__} x={xs} w={ws} {kw} cl={cl} algorithm={algo}"


def test_conv_grid(isa, one_thread):
    for i, spec in enumerate(GRID):
        for algo in ["auto", "reference", "direct", "im2col", "winograd", "grouped"]:
            _grid_case(i, spec, algo, cc.conv, cc.conv_plan)


def test_conv_transpose_grid(isa, one_thread):
    for i, spec in enumerate(T_GRID):
        for algo in ["auto", "reference", "direct", "im2col", "winograd"]:
            _grid_case(i, spec, algo, cc.conv_transpose, cc.conv_transpose_plan)


# ---- threads, ISA levels, batch and spatial sizes -------------------------------------------

@pytest.mark.parametrize("algorithm", ["auto", "im2col", "winograd"])
def test_python_threads_share_one_plan(rng, algorithm):
    # eight threads, each on several batch and spatial sizes, all starting on a fresh plan:
    # the forms and the per-shape cache are filled concurrently
    x, w, b = conv_data(rng, (3, 32, 18, 18), (48, 32, 3, 3), np.float32)
    inputs = [np.ascontiguousarray(x[:n, :, :h, :h]) for n in (1, 2, 3) for h in (6, 13, 18)]
    want = [cc.conv(t, w, b, padding=1, algorithm=algorithm) for t in inputs]
    plan = cc.conv_plan(w, b, padding=1, algorithm=algorithm)

    def work(k):
        for r in range(6):
            j = (k + r) % len(inputs)
            assert same(plan(inputs[j]), want[j]), (k, j)

    run_in_threads(work, 8)


@pytest.mark.skipif(len(LEVELS) < 2, reason="one ISA level on this CPU")
def test_plan_follows_the_isa_level(rng):
    # the forms belong to the level that made them: after a switch the plan prepares the new
    # level's and runs its kernels (the plain call's result at that level, bit for bit)
    x, w, b = conv_data(rng, (1, 32, 12, 12), (40, 32, 3, 3), np.float32)
    before = _core.simd_info()["level"]
    try:
        _core._set_isa(LEVELS[-1])
        plan = cc.conv_plan(w, b, padding=1, algorithm="im2col")
        assert same(plan(x), cc.conv(x, w, b, padding=1, algorithm="im2col"))
        held = plan.workspace_bytes
        for level in LEVELS:
            _core._set_isa(level)
            assert same(plan(x), cc.conv(x, w, b, padding=1, algorithm="im2col")), level
        assert plan.workspace_bytes > held
        assert plan.isa == LEVELS[-1]
    finally:
        _core._set_isa(before)


def test_any_batch_and_spatial_size(rng):
    x, w, b = conv_data(rng, (5, 8, 17, 19), (12, 8, 3, 3), np.float32)
    plan = cc.conv_plan(w, b, padding=1)
    for n, h, wd in [(1, 17, 19), (5, 17, 19), (0, 4, 4), (2, 3, 30), (3, 1, 1)]:
        xi = np.ascontiguousarray(x[:n, :, :h, :wd]) if n else np.zeros((0, 8, h, wd), "f4")
        assert same(plan(xi), cc.conv(xi, w, b, padding=1))


# ---- errors -------------------------------------------------------------------------------

def test_wrong_dtype_channels_rank():
    plan = cc.conv_plan(np.ones((4, 3, 3, 3), "f4"))
    with pytest.raises(TypeError, match=r"x has dtype float64 but the plan's weights are float32"):
        plan(np.ones((1, 3, 5, 5)))
    with pytest.raises(TypeError, match=r"x must be an array of numbers"):
        plan(np.array([["a"]]))
    with pytest.raises(ValueError, match=r"x has 2 channels but w expects C_in = .* = 3"):
        plan(np.ones((1, 2, 5, 5), "f4"))
    with pytest.raises(ValueError, match=r"x must have 4 dimensions .* got 3"):
        plan(np.ones((3, 5, 5), "f4"))
    with pytest.raises(ValueError, match="out must have shape"):
        plan(np.ones((1, 3, 5, 5), "f4"), out=np.empty((1, 4, 5, 5), "f4"))
    with pytest.raises(TypeError, match="out must have dtype float32"):
        plan(np.ones((1, 3, 5, 5), "f4"), out=np.empty((1, 4, 3, 3)))
    with pytest.raises(ValueError, match="kernel size"):  # a shape the kernel does not fit
        plan(np.ones((1, 3, 2, 2), "f4"))
    t = cc.conv_transpose_plan(np.ones((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"x has 3 channels but conv_transpose's w.shape\[0\] is 4"):
        t(np.ones((1, 3, 5, 5)))
    d = cc.depthwise_conv2d_plan(np.ones((6, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"w.shape\[0\] must be a positive multiple of the 4"):
        d(np.ones((1, 4, 5, 5)))


def test_bad_options_refused_when_made():
    w = np.ones((4, 3, 3, 3), "f4")
    with pytest.raises(ValueError, match=r"groups \(3\) must divide"):
        cc.conv_plan(w, groups=3)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        cc.conv_plan(w, np.ones(3, "f4"))
    with pytest.raises(TypeError, match="bias has dtype float64 but w has float32"):
        cc.conv_plan(w, np.ones(4))
    with pytest.raises(ValueError, match="stride must be an int or a tuple of 2"):
        cc.conv_plan(w, stride=(1, 1, 1))
    with pytest.raises(ValueError, match="algorithm must be one of"):
        cc.conv_plan(w, algorithm="fast")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        cc.conv_plan(w, padding_mode="mirror")
    with pytest.raises(ValueError, match="padding must be smaller than the input size|reflect"):
        cc.conv_plan(w, padding=1, padding_mode="reflect")(np.ones((1, 3, 1, 1), "f4"))
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        cc.conv_transpose_plan(np.ones((4, 2, 3, 3)), output_padding=1)
    with pytest.raises(ValueError, match="w must be 4-D"):
        cc.depthwise_conv2d_plan(np.ones((4, 1, 3)))
    with pytest.raises(ValueError, match="w must have 3, 4 or 5 dimensions"):
        cc.conv_plan(np.ones((4, 3)))
    with pytest.raises(ValueError, match="algorithm='winograd' needs"):
        cc.conv_plan(w, stride=2, algorithm="winograd")(np.ones((1, 3, 9, 9), "f4"))
    with pytest.raises(TypeError, match="NumPy"):
        import dask.array as da

        cc.conv_plan(da.ones((4, 3, 3, 3), dtype="f4"))


def test_plan_is_immutable():
    assert_immutable(cc.conv_plan(np.ones((4, 3, 3, 3), "f4")))


# ---- copies, pickling, introspection --------------------------------------------------------

def test_callers_arrays_do_not_reach_the_plan(rng):
    x, w, b = conv_data(rng, (2, 6, 9, 9), (8, 6, 3, 3), np.float32)
    want = cc.conv(x, w, b, padding=1, flip=True)
    wc, bc, xc = w.copy(), b.copy(), x.copy()
    plan = cc.conv_plan(w, b, padding=1, flip=True)
    w *= 2
    b += 1
    assert same(plan(x), want)
    assert same(x, xc)
    del w, b
    assert same(plan(x), want)
    arrays = plan._arrays()  # as given, unflipped
    assert same(arrays["w"], wc) and same(arrays["bias"], bc)


@pytest.mark.parametrize("make,xs", [
    (lambda: cc.conv_plan(np.arange(72.0, dtype="f4").reshape(4, 2, 3, 3), np.ones(4, "f4"),
                          padding=((1, 0), (2, 1)), flip=True, algorithm="im2col",
                          activation="relu", input_shape=(1, 2, 6, 6)), (1, 2, 6, 6)),
    (lambda: cc.conv_transpose_plan(np.arange(96.0).reshape(2, 3, 4, 4), stride=2, padding=1,
                                    output_padding=1, algorithm="winograd"), (1, 2, 6, 6)),
    (lambda: cc.depthwise_conv2d_plan(np.arange(18.0).reshape(2, 1, 3, 3), padding=1,
                                      padding_mode="reflect", channels_last=True), (1, 6, 6, 2)),
])
def test_pickle_round_trip(make, xs):
    plan = make()
    x = np.arange(np.prod(xs), dtype=plan.dtype).reshape(xs)
    y = plan(x)
    back = pickle.loads(pickle.dumps(plan))
    assert type(back) is cc.Plan and back.op == plan.op
    assert repr(back) == repr(plan).replace(f"workspace_bytes={plan.workspace_bytes}",
                                            f"workspace_bytes={back.workspace_bytes}")
    assert same(back(x), y)
    for k, v in plan._arrays().items():
        assert (v is None and back._arrays()[k] is None) or same(back._arrays()[k], v)


def test_introspection(rng):
    x, w, b = conv_data(rng, (1, 32, 14, 14), (64, 32, 3, 3), np.float32)
    plan = cc.conv_plan(w, b, padding=1)
    assert plan.algorithm == "auto" and plan.op == "conv" and plan.dtype == np.float32
    assert plan.ndim == 2 and plan.in_channels == 32 and plan.weight_shape == (64, 32, 3, 3)
    held = plan.workspace_bytes
    assert held == w.nbytes + b.nbytes  # nothing prepared yet
    assert plan.algorithm_for(x) == _core._conv_algorithm(
        _core.conv_spec(list(x.shape), list(w.shape), plan_opts(), 64))
    plan(x)
    assert plan.workspace_bytes > held  # the algorithm's form, once
    prepared = plan.workspace_bytes
    plan(x)
    assert plan.workspace_bytes == prepared
    eager = cc.conv_plan(w, b, padding=1, input_shape=x.shape)
    assert eager.algorithm == plan.algorithm_for(x)
    assert eager.workspace_bytes == prepared
    r = repr(eager)
    for part in ["conv", "(64, 32, 3, 3)", "float32", "padding=1", "algorithm=", "isa=",
                 "workspace_bytes="]:
        assert part in r, r
    assert cc.conv_plan(w, algorithm="winograd").algorithm == "winograd"
    assert cc.depthwise_conv2d_plan(np.ones((4, 1, 3, 3))).algorithm_for((1, 4, 5, 5)) == \
        "depthwise"


def plan_opts():
    from convcore import _args

    return _args.conv_options(2, padding=1)


def test_slow_path_inputs(rng):
    # array-likes, strided views, the other byte order: converted, then the plan runs
    x, w, b = conv_data(rng, (2, 4, 8, 8), (5, 4, 3, 3), np.float64)
    plan = cc.conv_plan(w, b)
    want = cc.conv(x, w, b)
    assert same(plan(x.tolist()), want)
    assert same(plan(x.astype(">f8")), want)
    view = np.zeros((2, 8, 8, 8))[:, ::2]
    view[...] = x
    assert same(plan(view), want)
    out = np.empty_like(want)
    assert plan(view, out=out) is out and same(out, want)


def test_dask_input_falls_back(rng):
    da = pytest.importorskip("dask.array")
    x, w, b = conv_data(rng, (4, 3, 10, 10), (6, 3, 3, 3), np.float32)
    plan = cc.conv_plan(w, b, padding=1)
    y = plan(da.from_array(x, chunks=(2, 3, 10, 10)))
    np.testing.assert_allclose(np.asarray(y), plan(x), rtol=1e-6, atol=1e-6)


def test_plan_bench_tiny_structure(tmp_path):
    # bench/plan.py (plan against plain call): the structure only, tiny shapes, times meaningless
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    sys.path.insert(0, root)
    try:
        from bench import plan as plan_bench
    except ImportError:
        pytest.skip("bench/ is part of the source checkout")
    finally:
        sys.path.remove(root)
    out = tmp_path / "plan.json"
    assert plan_bench.main(["--tiny", "--family", "transposed", "--repeat", "3", "--pause", "0",
                            "--min-block", "0.002", "--budget", "0.05", "--json",
                            str(out)]) == 0
    import json

    res = json.loads(out.read_text())
    assert set(res["overhead"]) == {"cc.conv2d(x, w)", "cc.conv(x, w)", "plan(x)",
                                    "plan(x, out=y)"}
    assert res["cases"] and all(c["op"] == "conv_transpose" for c in res["cases"])
    for c in res["cases"]:
        assert c["plain_ms"] > 0 and c["plan_ms"] > 0 and c["algorithm"]
    assert set(res["summary"]) == {"transposed 4x4/2"}
