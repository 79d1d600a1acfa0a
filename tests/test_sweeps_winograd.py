"""Dense shape sweeps of Winograd F(4x4, 3x3) (kernels/winograd.hpp) and the transposed
sub-pixel form on it (kernels/subpixel.hpp), every ISA level, float32 and float64, against the
NumPy oracle (sweep_helpers.Sweep lists all failing shapes).

Thresholds (NR = 2W GEMM columns: scalar 8/4, avx2 16/8, avx512 32/16 for f32/f64; MR = 8 on
avx512, 6 otherwise):
  tiles: 4x4 outputs per tile, per dilation phase: ntiles = N * phases(OH) * phases(OW) *
      ceil(OH/d/4) * ceil(OW/d/4) (winograd_tiles_per_slice); OH, OW mod 4 give the partial
      tiles, pads give tiles partly outside the input.
  run_few (2-D, any groups): ntiles < NR and round_up(ntiles, MR) < round_up(ntiles, NR)
  fused (one_worker_chunk): one output-channel block and nchunks = ceil(ntiles / 64) >=
      3 * threads (1 thread: ntiles >= 129; 2 threads: >= 321)
  phases: otherwise, chunks of ts tiles (a multiple of TB = 64)
  grouped (groups > 1 and not few tiles): run_grouped, chunks of tw = 64 tiles
  3-D: k x 3 x 3, groups 1, depth stride / dilation / padding, chunks of whole slices
  auto: groups 1, C_in and C_out >= 32, 1.2 * (36 * filled + 200) < 9 * round_up(P, 32)
  sub-pixel (conv_transpose algorithm="winograd"): kernel 3 / stride 1, kernel 4 / stride 2
      / padding 1, kernel 5 or 6 / stride 2 / padding 2; phase convs of the input size
"""
import pytest

import convcore as cc
from convcore import _args, _core
from sweep_helpers import Sweep, sweep_conv, sweep_conv_transpose


def run_conv(sw, tag, xs, ws, algo="winograd", **kw):
    sweep_conv(sw, tag, xs, ws, algo, bias=True, **kw)


def test_sweep_winograd_out_sizes(isa, one_thread):
    # every (OH, OW) in 1..13 x 1..21 (all tile tails, 1..24 tiles: run_few and the phases)
    sw = Sweep("winograd 2-D output sizes")
    for oh in range(1, 14):
        for ow in range(1, 22):
            run_conv(sw, "wo", (1, 2, oh + 2, ow + 2), (3, 2, 3, 3))
    for oh in range(1, 9):  # padded: tiles partly outside the input on every side
        for ow in range(1, 14):
            run_conv(sw, "wop", (1, 2, oh, ow + 1), (5, 2, 3, 3), padding=((1, 1), (2, 1)))
    sw.done()


def test_sweep_winograd_tile_counts(isa, one_thread):
    # ntiles = N (one 4x4 tile per image) from 1 to 70: every run_few / phases switch; then
    # 2 tiles per image over 120..140 (fused path from 129 tiles at one thread)
    sw = Sweep("winograd tile counts")
    for n in range(1, 71):
        run_conv(sw, "wt", (n, 2, 6, 6), (3, 2, 3, 3))
    for n in range(60, 71):
        run_conv(sw, "wt2", (n, 2, 6, 9), (3, 2, 3, 3), padding=((0, 0), (0, 1)))
    sw.done()


def test_sweep_winograd_threads(isa):
    # the fused path at 2 threads needs 6 chunks of 64 tiles (321+); just below and above
    sw = Sweep("winograd, 2 threads")
    old = cc.get_num_threads()
    cc.set_num_threads(2)
    try:
        for n in (20, 21):  # 16 tiles per image: 320 / 336 tiles
            run_conv(sw, "wth", (n, 2, 18, 18), (3, 2, 3, 3))
        run_conv(sw, "wth2", (1, 2, 74, 73), (3, 2, 3, 3), padding=1)
    finally:
        cc.set_num_threads(old)
    sw.done()


def test_sweep_winograd_channels(isa, one_thread):
    # C_out 1 .. 2 MR + 1 (GEMM row tails), C_in 1..9, at few tiles (swapped operands) and
    # many (tiles as columns)
    sw = Sweep("winograd channels")
    for co in range(1, 18):
        run_conv(sw, "wc", (1, 3, 6, 7), (co, 3, 3, 3))
        run_conv(sw, "wcm", (1, 3, 34, 18), (co, 3, 3, 3))
    for ci in range(1, 10):
        run_conv(sw, "wci", (1, ci, 9, 9), (4, ci, 3, 3), padding=1)
        run_conv(sw, "wcim", (2, ci, 22, 23), (4, ci, 3, 3), padding=1)
    sw.done()


def test_sweep_winograd_dilated(isa, one_thread):
    # dilation phases (d x d undilated convs): OW 1..20 at d = 2, 3, with padding
    sw = Sweep("winograd dilated")
    for d in (2, 3):
        for ow in range(1, 21):
            run_conv(sw, f"wd{d}", (1, 2, 9, ow + 2 * d), (3, 2, 3, 3), dilation=d,
                     padding=((d, 0), (0, 0)))
        for oh in range(1, 15):
            run_conv(sw, f"wdh{d}", (1, 2, oh + 2 * d, 10), (3, 2, 3, 3), dilation=(d, 1))
    sw.done()


def test_sweep_winograd_grouped(isa, one_thread):
    # groups 2 and 3: run_few below NR tiles, run_grouped above; per-group channel tails
    sw = Sweep("winograd grouped")
    for oh in range(1, 10):
        for ow in range(1, 18):
            run_conv(sw, "wg", (1, 4, oh + 2, ow + 2), (6, 2, 3, 3), groups=2)
    for n in range(1, 40, 3):
        run_conv(sw, "wgn", (n, 6, 9, 9), (9, 2, 3, 3), groups=3, padding=1)
    sw.done()


def test_sweep_winograd_3d(isa, one_thread):
    # k x 3 x 3 with depth stride / dilation / padding, output depths 1..6, few and many tiles
    sw = Sweep("winograd 3-D")
    for kd, sd, dd, pd in ((1, 1, 1, (0, 0)), (3, 1, 1, (1, 1)), (2, 2, 1, (0, 1)),
                           (3, 1, 2, (2, 0))):
        for od in range(1, 7):
            D = (od - 1) * sd + (kd - 1) * dd + 1 - sum(pd)
            if D < 1:
                continue
            for oh, ow in ((1, 1), (4, 5), (7, 9), (17, 6)):
                run_conv(sw, "w3", (1, 2, D, oh + 2, ow + 2), (3, 2, kd, 3, 3),
                         stride=(sd, 1, 1), dilation=(dd, 1, 1), padding=(pd, (0, 0), (0, 0)))
    sw.done()


def test_sweep_winograd_layouts_and_modes(isa, one_thread):
    sw = Sweep("winograd channels-last, padding modes, flip")
    for ow in range(1, 18):
        run_conv(sw, "wl", (2, 3, 6, ow + 1), (4, 3, 3, 3), padding=((0, 0), (1, 0)), cl=True)
        run_conv(sw, "wm", (1, 3, 5, ow + 2), (4, 3, 3, 3), padding=1,
                 padding_mode="replicate", flip=True)
        if ow + 2 > 2:
            run_conv(sw, "wr", (1, 2, 6, ow + 2), (3, 2, 3, 3), padding=2,
                     padding_mode="circular")
    sw.done()


def test_sweep_winograd_auto(isa, one_thread):
    # shapes where auto takes Winograd (32 channels each way): 6..13 outputs per side
    sw = Sweep("winograd under auto")
    plan = lambda xs, ws, **kw: _core._conv_algorithm(
        _core.conv_spec(xs, ws, _args.conv_options(2, **kw)))
    for o in (6, 7, 9, 12, 13):
        xs, ws = (1, 32, o + 2, o + 3), (32, 32, 3, 3)
        if plan(xs, ws) != "winograd":
            continue
        run_conv(sw, "wa", xs, ws, algo="auto")
    # grouped under auto: g=2 with 64 per group from 28x28 (grouped_winograd_pays)
    xs, ws = (1, 128, 30, 31), (128, 64, 3, 3)
    assert plan(xs, ws, groups=2) == "winograd"
    run_conv(sw, "wag", xs, ws, algo="auto", groups=2)
    sw.done()


# ---- transposed conv on the sub-pixel Winograd form ---------------------------------------

SUBPIXEL = [
    ((3, 3), dict()),
    ((3, 3), dict(padding=1)),
    ((4, 4), dict(stride=2, padding=1)),
    ((4, 4), dict(stride=2, padding=((1, 2), (1, 0)), output_padding=(1, 0))),
    ((5, 5), dict(stride=2, padding=2, output_padding=1)),
    ((6, 6), dict(stride=2, padding=2)),
]


def run_tr(sw, tag, xs, ws, algo, **kw):
    sweep_conv_transpose(sw, tag, xs, ws, algo, **kw)


@pytest.mark.parametrize("k,kw", SUBPIXEL, ids=lambda v: str(v))
def test_sweep_transposed_winograd(isa, one_thread, k, kw):
    sw = Sweep(f"conv_transpose winograd k={k} {kw}")
    for h in range(1, 9):
        for w in range(1, 15):
            run_tr(sw, "tw", (1, 2, h, w), (2, 3) + k, "winograd", **kw)
    for n in (3, 9, 17):
        run_tr(sw, "twn", (n, 3, 5, 6), (3, 2) + k, "winograd", **kw)
    sw.done()
