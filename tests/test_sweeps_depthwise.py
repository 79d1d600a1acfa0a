"""Dense shape sweeps of the depthwise kernels (kernels/depthwise.hpp) at every ISA level,
float32 and float64, against the NumPy oracle. Every output width / height across the vector
tails, unroll chunks, row bands and form switches listed below, one shape per call, all
failing shapes of a sweep reported together (sweep_helpers.Sweep).

Routing (ops/depthwise.hpp, depthwise_forward; conv(groups=C_in) under "auto" goes there too):
  channels-last, C < 16                   -> planar engine on channels-first copies
  channels-last, C >= 16                  -> depthwise_nhwc
  channels-first, planar_wins             -> depthwise_planar_engine::run (flat or rows form)
  channels-first otherwise                -> depthwise_bands
  planar_wins = C < 16 or flat_fits or OW >= 16 or (OW >= 12 and stride_w == 1)

Thresholds (L = vector lanes; the planar engine runs AVX2 vectors at the avx512 level):
  planar L:  scalar f32 4 / f64 2, avx2 f32 8 / f64 4, avx512 (avx2 vectors) f32 8 / f64 4
  flat form: packed plane sh*sw*Rp*Lp*elem <= 32768 bytes (kDepthwiseFlatMaxBytes), with
             Lp = OW + (kw-1)*dw // sw, Rp = OH + (kh-1)*dh // sh; flat vectors
             nvec = ceil(((OH-1)*Lp + OW) / L), in chunks of NF = 8 vectors, remainder 0..7
  rows form: per output row chunks of CH = NV*L = 8L outputs (f32 64/32, f64 32/16), the
             remainder rem < CH as ONE chunk of nv = ceil(rem/L) vectors: nv in 1..8 (8 when
             rem > 7L: the known chunk<7> bug), a partial last vector through `tail`;
             row bands of 16384 bytes of output per item: rb = 16384 // (OW*elem)
  bands:     rb = 65536 // (OW*C*m*elem) output rows per item (depthwise_band_rows)
  nhwc:      channel blocks of CB = 128 // elem (f32 32, f64 16) plus a tail block
             (m == 1); m > 1 a plain loop; bands of 65536 bytes of output rows
"""
import numpy as np
import pytest

import convcore as cc
import reference as ref
from sweep_helpers import DTYPES, Sweep, cast, data, from_cl, lanes, oracle, to_cl


def planar_lanes(isa, dtype):
    return lanes("avx2" if isa == "avx512" else isa, dtype)


def flat_bytes(oh, ow, k, s, d, elem):
    lp = ow + ((k[1] - 1) * d[1]) // s[1]
    rp = oh + ((k[0] - 1) * d[0]) // s[0]
    return s[0] * s[1] * rp * lp * elem


def in_size(o, k, s, d, p):
    """Input length giving `o` outputs with total padding p (p split by the caller)."""
    return (o - 1) * s + (k - 1) * d + 1 - p


def run_dw(sw, tag, c, m, oh, ow, k, s, d, pad, mode="zeros", via="conv", cl=False,
           dtypes=DTYPES, bias=True):
    """One depthwise shape through `via` (conv2d groups=C or depthwise_conv2d), both dtypes."""
    (pt, pb), (pl, pr) = pad
    H = in_size(oh, k[0], s[0], d[0], pt + pb)
    W = in_size(ow, k[1], s[1], d[1], pl + pr)
    if H < 1 or W < 1:
        return
    if mode == "reflect" and max(pt, pb) >= H or mode == "reflect" and max(pl, pr) >= W:
        return  # PyTorch's limits (a ValueError, tested elsewhere)
    if mode == "circular" and (max(pt, pb) > H or max(pl, pr) > W):
        return
    key = (tag, c, m, H, W, k, s, d, pad, mode)
    x, w, b = data(key, (1, c, H, W), (c * m, 1) + tuple(k), (c * m,))
    kw = dict(stride=s, dilation=d, padding=pad)
    if mode != "zeros":
        kw["padding_mode"] = mode
    if not bias:
        b = None
    want = oracle(key + (bias,), lambda: ref.conv(x, w, b, groups=c, **kw))
    assert want.shape[2:] == (oh, ow), (want.shape, oh, ow)
    red = int(np.prod(k))
    for dt in dtypes:
        xd, wd, bd = cast(dt, x, w, b)
        label = (f"{via} C={c} m={m} x={xd.shape} k={k} stride={s} dil={d} pad={pad} "
                 f"mode={mode} cl={cl} {np.dtype(dt).name}")
        if cl:
            xd = to_cl(xd)
        if via == "conv":
            fn = lambda: cc.conv2d(xd, wd, bd, groups=c, channels_last=cl, **kw)
        else:
            fn = lambda: cc.depthwise_conv2d(xd, wd, bd, channels_last=cl, **kw)
        if cl:
            fn0 = fn
            fn = lambda: np.ascontiguousarray(from_cl(fn0()))
        sw.call(label, fn, want, red, dt)


# ---- planar engine, flat form: every (OH, OW) on a dense grid ---------------------------

FLAT_CONFIGS = [
    # k, stride, dilation, padding ((top, bottom), (left, right)), mode, OH range, OW range
    ((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), "zeros", 20, 40),
    ((3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)), "zeros", 9, 34),
    ((3, 3), (3, 3), (2, 2), ((2, 2), (2, 2)), "zeros", 6, 19),
    ((5, 3), (1, 2), (1, 3), ((2, 1), (0, 3)), "zeros", 6, 19),
    ((1, 4), (2, 1), (1, 1), ((0, 0), (1, 2)), "zeros", 5, 26),
    ((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), "reflect", 6, 26),
    ((3, 3), (2, 2), (1, 1), ((2, 2), (1, 1)), "circular", 5, 19),
]


@pytest.mark.parametrize("cfg", FLAT_CONFIGS, ids=lambda c: f"k{c[0]}s{c[1]}d{c[2]}{c[4]}")
def test_sweep_planar_flat(isa, one_thread, cfg):
    k, s, d, pad, mode, ohmax, owmax = cfg
    sw = Sweep(f"depthwise planar flat {cfg[:5]}")
    for oh in range(1, ohmax + 1):
        for ow in range(1, owmax + 1):
            if mode == "reflect" and (oh < 2 or ow < 2):
                continue
            run_dw(sw, "flat", 2, 1, oh, ow, k, s, d, pad, mode)
    sw.done()


def test_sweep_planar_flat_multiplier_and_direct_entry(isa, one_thread):
    # depth multiplier 2 through depthwise_conv2d (planes q = image * Cm + oc, oc // m reads)
    sw = Sweep("depthwise planar flat, m=2")
    for oh in range(1, 9):
        for ow in range(1, 30):
            run_dw(sw, "flatm", 3, 2, oh, ow, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)),
                   via="depthwise")
    sw.done()


def test_sweep_planar_flat_rows_boundary(isa, one_thread):
    # Both sides of kDepthwiseFlatMaxBytes (32 KiB): k3 s1 p0 at OW = 62 (Lp = 64) is flat
    # up to OH = 126 in float32 and OH = 62 in float64; k3 s2 (4 phase planes) likewise.
    sw = Sweep("depthwise flat/rows boundary")
    for oh in (61, 62, 63, 64, 125, 126, 127, 128):
        run_dw(sw, "fb", 2, 1, oh, 62, (3, 3), (1, 1), (1, 1), ((0, 0), (0, 0)))
    for oh in (29, 30, 31, 32, 61, 62, 63, 64):  # 4 * (OH + 1) * 32 * elem
        run_dw(sw, "fb2", 2, 1, oh, 31, (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)))
    sw.done()


# ---- planar engine, rows form: every width from 1 to 4 chunks + 3 ----------------------

def rows_height(ow, k, s, d):
    """An output height making the plane too big for the flat form in float32 (so in float64)."""
    oh = 2
    while flat_bytes(oh, ow, k, s, d, 4) <= 32768:
        oh = oh * 3 // 2 + 1
    return oh


ROWS_CONFIGS = [
    ((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), "zeros"),
    ((3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)), "zeros"),
    ((3, 5), (1, 3), (2, 2), ((2, 2), (3, 4)), "zeros"),
    ((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), "replicate"),
]


@pytest.mark.parametrize("cfg", ROWS_CONFIGS, ids=lambda c: f"k{c[0]}s{c[1]}d{c[2]}{c[4]}")
def test_sweep_planar_rows_widths(isa, one_thread, cfg):
    k, s, d, pad, mode = cfg
    sw = Sweep(f"depthwise planar rows form {cfg}")
    for dt in DTYPES:
        L = planar_lanes(isa, dt)
        CH = 8 * L
        for ow in range(1, 4 * CH + 4):
            run_dw(sw, "rows", 2, 1, rows_height(ow, k, s, d), ow, k, s, d, pad, mode,
                   dtypes=[dt])
    sw.done()


def test_sweep_planar_rows_heights(isa, one_thread):
    # Row bands of 16384 bytes of output per item (rb = 16384 // (OW * elem)): OH around 1, 2
    # and 3 bands, widths with a partial last vector and a full chunk.
    sw = Sweep("depthwise planar rows form, heights")
    for dt in DTYPES:
        elem = np.dtype(dt).itemsize
        for ow in (67, 100):
            rb = 16384 // (ow * elem)
            for oh in sorted({rb - 1, rb, rb + 1, 2 * rb, 2 * rb + 1, 3 * rb - 1}):
                if flat_bytes(oh, ow, (3, 3), (1, 1), (1, 1), elem) > 32768:
                    run_dw(sw, "rowsh", 2, 1, oh, ow, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)),
                           dtypes=[dt])
    sw.done()


def test_known_bug_rows_remainder_chunk8():
    # the bug that motivated these sweeps (chunk<7> run for 8 remainder vectors)
    x = np.ones((1, 2, 160, 59), "f4")
    w = np.ones((2, 1, 3, 3), "f4")
    np.testing.assert_array_equal(cc.conv2d(x, w, groups=2), np.full((1, 2, 158, 57), 9.0, "f4"))


# ---- channels-first bands (C >= 16, large planes of short rows) --------------------------

def test_sweep_bands(isa, one_thread):
    # OW < 12 at stride 1, OW < 16 at stride 2 with C = 16 and planes past the flat limit;
    # heights across the 64 KiB bands (rb = 65536 // (OW * C * m * elem)).
    sw = Sweep("depthwise bands")
    for s, owmax in ((1, 11), (2, 15)):
        for ow in range(1, owmax + 1):
            k, st, d = (3, 3), (s, s), (1, 1)
            rb = 65536 // (ow * 16 * 4)
            oh = max(2 * rb + 1, rows_height(ow, k, st, d))
            run_dw(sw, "bands", 16, 1, oh, ow, k, st, d, ((1, 1), (1, 1)))
    # depth multiplier 2 and a 5x5 dilated kernel
    for ow in (1, 5, 11):
        run_dw(sw, "bandsm", 16, 2, rows_height(ow, (3, 3), (1, 1), (1, 1)), ow, (3, 3),
               (1, 1), (1, 1), ((1, 1), (1, 1)), via="depthwise")
        run_dw(sw, "bandsd", 16, 1, rows_height(ow, (5, 5), (1, 1), (2, 2)), ow, (5, 5),
               (1, 1), (2, 2), ((4, 4), (4, 4)))
    sw.done()


def test_sweep_bands_threads(isa):
    # band splits with 2 threads (few calls: a parallel call is slow on a loaded machine)
    sw = Sweep("depthwise bands, 2 threads")
    old = cc.get_num_threads()
    cc.set_num_threads(2)
    try:
        for ow in (3, 7):
            run_dw(sw, "bandst", 16, 1, 1400, ow, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
        run_dw(sw, "rowst", 2, 1, 160, 57, (3, 3), (1, 1), (1, 1), ((0, 0), (0, 0)))
        run_dw(sw, "flatt", 40, 1, 14, 14, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    finally:
        cc.set_num_threads(old)
    sw.done()


# ---- channels-last (depthwise_nhwc, C >= 16) and its small-C detour ----------------------

def test_sweep_nhwc_channels(isa, one_thread):
    # C from 16 to 2 blocks + 3 (f32 CB = 32: 16..67), m = 1 and m = 2
    sw = Sweep("depthwise nhwc, channel counts")
    for c in range(16, 68):
        run_dw(sw, "nhwcc", c, 1, 3, 5, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), cl=True)
    for c in (16, 17, 31, 33):
        run_dw(sw, "nhwcm", c, 2, 3, 4, (3, 3), (2, 2), (1, 1), ((1, 1), (1, 1)), cl=True,
               via="depthwise")
    sw.done()


def test_sweep_nhwc_widths(isa, one_thread):
    sw = Sweep("depthwise nhwc, widths and heights")
    for ow in range(1, 21):
        run_dw(sw, "nhwcw", 20, 1, 2, ow, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), cl=True)
        run_dw(sw, "nhwcw2", 20, 1, 2, ow, (3, 5), (2, 1), (1, 2), ((1, 0), (3, 2)), cl=True,
               mode="replicate" if ow > 4 else "zeros")
    for oh in range(1, 13):
        run_dw(sw, "nhwch", 17, 1, oh, 3, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), cl=True)
    # bands of 64 KiB output rows: rb = 65536 // (OW * C * elem); OW 8, C 64: 32 / 16 rows
    for oh in (15, 16, 17, 31, 32, 33):
        run_dw(sw, "nhwcb", 64, 1, oh, 8, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), cl=True)
    # C < 16 channels-last: the planar engine on channels-first copies
    for ow in range(1, 20):
        run_dw(sw, "nhwcs", 3, 1, 4, ow, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)), cl=True)
    sw.done()
