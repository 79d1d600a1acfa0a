"""Dense shape sweeps of the im2col/GEMM engine (packed path and conv_rows_engine), the grouped
direct kernel, the stem kernel and the plain direct kernel, at every ISA level, float32 and
float64, against the NumPy oracle (see sweep_helpers.Sweep: all failing shapes are listed).

Thresholds (W = vector lanes: scalar f32 4 / f64 2, avx2 8 / 4, avx512 16 / 8):
  GEMM (kernels/gemm.hpp): NR = 2W columns (scalar 8/4, avx2 16/8, avx512 32/16),
      MR = 8 rows on avx512, 6 otherwise; KC = 256 reduction block.
  conv_rows_engine (kernels/im2col.hpp): taken by im2col when channels-first, depth 1, kernel
      depth 1, stride_w 1, k_size > 1 and (round_up(OW, NR) - OW) * 8 <= round_up(OW, NR);
      output columns in chunks cw (multiple of NR; halved while items < 4 * threads), row
      blocks rb, micro-tiles of MR output channels x NR columns.
  grouped (kernels/grouped.hpp): NV = 2 vectors of output channels when C_out/g > W, else 1;
      CB = NV * W channels per block (more blocks when C_out/g > CB); PB pixels per tile:
      avx512 14 (NV 1 and 2), otherwise 12 (NV 1) / 6 (NV 2); strides 1, 2 and other
      (template SW); band rows from a 128 KiB buffer, split for 4 * threads items.
  stem (kernels/stem.hpp, "direct" or auto with C_in 1..4, C_out >= 8, >= 9 taps): L lanes
      per vector, PV = 4 vectors per register block (blocks of 1..3 for the rest), CO = 4
      output channels per block (C_out % 4 rest), bands of nb output rows (96 KiB buffer,
      at most ceil(N * OH / (4 * threads)) rows).
"""
import convcore as cc
from sweep_helpers import DTYPES, Sweep, lanes, plan
from sweep_helpers import sweep_conv as run_conv




def out_in(o, k, s=1, d=1, p=0):
    return (o - 1) * s + (k - 1) * d + 1 - p


# ---- im2col: packed path and the rows path -----------------------------------------------

def test_sweep_im2col_widths(isa, one_thread):
    # OW from 1 to 4 NR + 3 (avx512 f32: 131): the rows path where the last column tile is
    # within 1/8 of full, the packed path elsewhere; C_out = 7 (an MR tail on every level).
    sw = Sweep("im2col widths")
    for dt in DTYPES:
        nr = 2 * lanes(isa, dt)
        for ow in range(1, 4 * nr + 4):
            run_conv(sw, "i2w", (1, 2, 3, out_in(ow, 3, p=2)), (7, 2, 3, 3), "im2col",
                     dtypes=[dt], padding=1)
            # 1-D rows (long rows are cut into NR-multiple column chunks)
            run_conv(sw, "i2w1", (1, 3, out_in(ow, 5, d=2, p=3)), (5, 3, 5), "im2col",
                     dtypes=[dt], padding=((1, 2),), dilation=2)
    sw.done()


def test_sweep_im2col_packed_widths(isa, one_thread):
    # stride 2 and 1x1 kernels: always the packed path; pixel tiles of NR straddling rows and
    # images (N = 2 folded into one column space)
    sw = Sweep("im2col packed widths")
    for dt in DTYPES:
        nr = 2 * lanes(isa, dt)
        for ow in range(1, 2 * nr + 4):
            run_conv(sw, "i2p", (2, 3, 3, out_in(ow, 3, 2, 1, 1)), (5, 3, 3, 3), "im2col",
                     dtypes=[dt], stride=2, padding=((1, 1), (0, 1)))
            run_conv(sw, "i2p1", (1, 4, 2, ow), (9, 4, 1, 1), "im2col", dtypes=[dt])
            # 1x1 on a folded batch: each packed row is one run per image, starting at every
            # lane offset, and tiles that start and end mid-image
            run_conv(sw, "i2pb", (3, 4, 1, ow), (9, 4, 1, 1), "im2col", dtypes=[dt])
    sw.done()


def test_sweep_im2col_channels(isa, one_thread):
    # C_out per group 1 .. 2 MR + 1 over rows-path widths (NR multiples) and a packed width;
    # C_in across the KC = 256 reduction block (C_in * 9 = 252 .. 270)
    sw = Sweep("im2col output channels")
    for dt in DTYPES:
        nr = 2 * lanes(isa, dt)
        for co in range(1, 18):
            for ow in (nr, 2 * nr - 1, 5):
                run_conv(sw, "i2c", (1, 2, 4, ow + 2), (co, 2, 3, 3), "im2col", dtypes=[dt])
            run_conv(sw, "i2cg", (1, 4, 3, nr + 2), (2 * co, 2, 3, 3), "im2col", dtypes=[dt],
                     groups=2)
    for ci in (28, 29, 30):
        run_conv(sw, "i2k", (1, ci, 3, 10), (6, ci, 3, 3), "im2col", padding=1)
    sw.done()


def test_sweep_im2col_heights(isa, one_thread):
    sw = Sweep("im2col heights")
    for dt in DTYPES:
        nr = 2 * lanes(isa, dt)
        for oh in range(1, 25):
            run_conv(sw, "i2h", (1, 2, oh + 2, nr + 2), (3, 2, 3, 3), "im2col", dtypes=[dt])
            run_conv(sw, "i2h2", (1, 2, 2 * oh + 1, 11), (3, 2, 3, 3), "im2col", dtypes=[dt],
                     stride=(2, 1), padding=1)
    sw.done()


def test_sweep_im2col_threads(isa):
    # the row path's item split (rb halved, then cw halved while items < 4 * threads)
    sw = Sweep("im2col, 2 threads")
    old = cc.get_num_threads()
    cc.set_num_threads(2)
    try:
        for dt in DTYPES:
            nr = 2 * lanes(isa, dt)
            for ow in (nr, 4 * nr, 9 * nr - 3):
                run_conv(sw, "i2t", (1, 2, 4, ow + 2), (7, 2, 3, 3), "im2col", dtypes=[dt])
            run_conv(sw, "i2t1", (1, 2, 20003), (3, 2, 4), "im2col", dtypes=[dt])
    finally:
        cc.set_num_threads(old)
    sw.done()


# ---- grouped direct kernel ----------------------------------------------------------------

def test_sweep_grouped_widths(isa, one_thread):
    # OW 1 .. 4 PB + 3 (59) for NV = 1 and NV = 2 and two channel blocks, strides 1, 2, 3
    sw = Sweep("grouped widths")
    for dt in DTYPES:
        vw = lanes(isa, dt)
        for opg in (3, vw + 1, 2 * vw + 1):
            for ow in range(1, 60):
                run_conv(sw, "gw", (1, 4, 3, out_in(ow, 3, p=2)), (2 * opg, 2, 3, 3), "grouped",
                         dtypes=[dt], groups=2, padding=1)
            for s in (2, 3):
                for ow in range(1, 32):
                    run_conv(sw, f"gws{s}", (1, 4, 3, out_in(ow, 3, s, p=1)),
                             (2 * opg, 2, 3, 3), "grouped", dtypes=[dt], groups=2, stride=s,
                             padding=((1, 1), (0, 1)))
    sw.done()


def test_sweep_grouped_channels(isa, one_thread):
    # C_out per group 1 .. 2 W + 3 (NV switch at W, channel blocks past 2 W), C_in per group
    # 1..9, 1-D, dilation, channels-last
    sw = Sweep("grouped channels")
    for dt in DTYPES:
        vw = lanes(isa, dt)
        for opg in range(1, 2 * vw + 4):
            run_conv(sw, "gc", (1, 6, 4, 17), (3 * opg, 2, 3, 3), "grouped", dtypes=[dt],
                     groups=3, padding=1)
            run_conv(sw, "gccl", (1, 6, 4, 15), (3 * opg, 2, 3, 3), "grouped", dtypes=[dt],
                     groups=3, padding=1, cl=True)
        for cpg in range(1, 10):
            run_conv(sw, "gci", (1, 2 * cpg, 3, 16), (10, cpg, 3, 3), "grouped", dtypes=[dt],
                     groups=2, dilation=(1, 2), padding=(1, 2))
        for ow in range(1, 32):
            run_conv(sw, "g1d", (1, 8, out_in(ow, 9, p=8)), (8, 2, 9), "grouped", dtypes=[dt],
                     groups=4, padding=4)
    sw.done()


def test_sweep_grouped_heights(isa, one_thread):
    sw = Sweep("grouped heights")
    for dt in DTYPES:
        for oh in range(1, 25):
            run_conv(sw, "gh", (1, 8, oh, 15), (8, 4, 3, 3), "grouped", dtypes=[dt], groups=2,
                     padding=1)
            run_conv(sw, "gh2", (1, 8, 2 * oh, 14), (8, 4, 3, 3), "grouped", dtypes=[dt],
                     groups=2, padding=1, stride=2)
    sw.done()


def test_sweep_grouped_auto(isa, one_thread):
    # shapes where auto picks the grouped kernel (4..64 per group each way, >= 9 taps, 2-D)
    sw = Sweep("grouped under auto")
    for ow in range(1, 45):
        xs, ws = (1, 8, 3, ow + 2), (8, 4, 3, 3)
        assert plan(xs, ws, groups=2) == "grouped", (xs, ws)
        run_conv(sw, "ga", xs, ws, "auto", groups=2)
    sw.done()


def test_sweep_grouped_threads(isa):
    sw = Sweep("grouped, 2 threads")
    old = cc.get_num_threads()
    cc.set_num_threads(2)
    try:
        for oh in (1, 3, 7, 30):
            run_conv(sw, "gt", (1, 8, oh + 2, 31), (12, 4, 3, 3), "grouped", groups=2)
    finally:
        cc.set_num_threads(old)
    sw.done()


# ---- stem (direct, 1..4 input channels) ---------------------------------------------------

def test_sweep_stem_widths(isa, one_thread):
    # OW 1 .. 4 (PV x L) + 3 widths; C_out 8..11 (CO = 4 blocks and their tails); 3x3/1 and
    # 7x7/2 (column phases), 1..4 input channels
    sw = Sweep("stem widths")
    for dt in DTYPES:
        blk = 4 * lanes(isa, dt)
        for ow in range(1, min(4 * blk + 4, 70)):
            run_conv(sw, "sw3", (1, 3, 2, out_in(ow, 3, p=2)), (9, 3, 3, 3), "direct",
                     dtypes=[dt], padding=1)
            run_conv(sw, "sw7", (1, 1, 3, out_in(ow, 7, 2, p=3)), (10, 1, 3, 7), "direct",
                     dtypes=[dt], stride=(1, 2), padding=((1, 1), (3, 0)))
        for ow in range(1, 2 * blk + 4):
            run_conv(sw, "swd", (1, 2, 5, out_in(ow, 3, 3, 2, 2)), (11, 2, 3, 3), "direct",
                     dtypes=[dt], stride=3, dilation=2, padding=1)
    sw.done()


def test_sweep_stem_channels_heights(isa, one_thread):
    sw = Sweep("stem channels and heights")
    for dt in DTYPES:
        for co in range(8, 18):
            for ci in (1, 4):
                run_conv(sw, "sc", (1, ci, 5, 13), (co, ci, 3, 3), "direct", dtypes=[dt],
                         padding=1)
        for oh in range(1, 25):
            run_conv(sw, "sh", (2, 3, 2 * oh + 5, 19), (8, 3, 7, 7), "direct", dtypes=[dt],
                     stride=2, padding=1)
        for ow in range(1, 40):  # 1-D stems
            run_conv(sw, "s1d", (1, 2, out_in(ow, 9, p=4)), (8, 2, 9), "direct", dtypes=[dt],
                     padding=((4, 0),))
    sw.done()


def test_sweep_stem_auto(isa, one_thread):
    sw = Sweep("stem under auto")
    for ow in range(1, 40):
        xs, ws = (1, 3, 4, ow + 6), (8, 3, 7, 7)
        assert plan(xs, ws, padding=(2, 0)) == "direct"
        run_conv(sw, "sa", xs, ws, "auto", padding=(2, 0))
        run_conv(sw, "sar", (1, 3, 5, ow + 4), (12, 3, 3, 3), "auto", padding=1,
                 padding_mode="reflect")
    sw.done()


def test_sweep_stem_threads(isa):
    sw = Sweep("stem, 2 threads")
    old = cc.get_num_threads()
    cc.set_num_threads(2)
    try:
        for oh in (1, 5, 9, 33):
            run_conv(sw, "st", (2, 3, 2 * oh + 5, 40), (8, 3, 7, 7), "direct", stride=2,
                     padding=1)
    finally:
        cc.set_num_threads(old)
    sw.done()


# ---- plain direct kernel (C_in > 4 or other shapes) ----------------------------------------

def test_sweep_direct_widths(isa, one_thread):
    sw = Sweep("direct widths")
    for ow in range(1, 40):
        run_conv(sw, "dw", (1, 5, 3, ow + 2), (2, 5, 3, 3), "direct", padding=((0, 1), (1, 1)))
        run_conv(sw, "dw3", (1, 2, 2, 3, ow + 1), (3, 2, 2, 1, 2), "direct", stride=(1, 2, 1),
                 padding=1)
    sw.done()
