"""Every forced algorithm over a generated grid of conv and conv_transpose specs: each call
either matches the NumPy oracle or raises a ValueError whose message names the algorithm.

Algorithms (ops/algorithm.hpp, parse_algorithm): auto, reference, direct, im2col, gemm (an
alias of im2col), winograd, grouped. The grid (deterministic, seeded) covers 1-D, 2-D and 3-D,
every padding_mode ('zeros', 'reflect', 'replicate', 'circular'), strides, dilations, int /
"same" / "valid" / asymmetric (before, after) padding (depth padding on 3-D with a depth
kernel of 1 and a single input slice included), groups 1, 2 and C_in, channels_last and flip.
A third of the calls write into a NaN-filled `out=` array, so an output element that a kernel
forgets to write shows up as NaN. Specs the oracle itself rejects (PyTorch's padding limits)
must be rejected by "reference" too and are skipped.
"""
import itertools

import numpy as np
import pytest

import convcore as cc
import reference as ref
from sweep_helpers import Sweep, cast, data, from_cl, to_cl

ALGOS = ["auto", "reference", "direct", "im2col", "gemm", "winograd", "grouped"]
T_ALGOS = ["auto", "reference", "direct", "im2col", "gemm", "winograd", "grouped"]
MODES = ["zeros", "reflect", "replicate", "circular"]


def names_algo(msg, algo):
    msg = msg.lower()
    return algo in msg or (algo == "gemm" and "im2col" in msg)


def valid_padding(xsp, pads, mode):
    for n, (a, b) in zip(xsp, pads):
        if mode == "reflect" and max(a, b) >= n:
            return False
        if mode == "circular" and max(a, b) > n:
            return False
        if mode != "zeros" and n == 0 and (a or b):
            return False
    return True


def conv_grid(seed, count):
    r = np.random.default_rng(seed)
    specs = []
    while len(specs) < count:
        nd = int(r.integers(1, 4))
        g = [1, 2, None][int(r.integers(0, 3))]
        cpg = int(r.integers(1, 4))
        if g is None:  # groups = C_in (depthwise), multiplier 1..2
            c_in = int(r.integers(2, 5))
            g = c_in
            c_out = c_in * int(r.integers(1, 3))
        else:
            c_in = g * cpg
            c_out = g * int(r.integers(1, 5))
        # a 3x3 in H and W half the time (Winograd applies), other kernels otherwise
        if nd >= 2 and r.random() < 0.5:
            k = (int(r.integers(1, 4)),) * (nd - 2) + (3, 3)
        else:
            k = tuple(int(v) for v in r.integers(1, 4, nd))
        stride = tuple(int(v) for v in r.choice([1, 1, 1, 2, 3], nd))
        dil = tuple(int(v) for v in r.choice([1, 1, 2], nd))
        xsp = tuple(int(v) for v in r.integers(1, 9, nd))
        if nd == 3 and r.random() < 0.3:
            xsp = (1,) + xsp[1:]
            k = (1,) + k[1:]
        pk = r.random()
        if pk < 0.15:
            padding = "same"
            pads = ref.pads("same", xsp, k, stride, dil)
        elif pk < 0.25:
            padding = "valid"
            pads = [(0, 0)] * nd
        elif pk < 0.5:
            p = tuple(int(v) for v in r.integers(0, 3, nd))
            padding = p
            pads = [(v, v) for v in p]
        else:
            pads = [tuple(int(v) for v in r.integers(0, 3, 2)) for _ in range(nd)]
            padding = tuple(pads)
        mode = MODES[int(r.integers(0, 4))]
        if not valid_padding(xsp, pads, mode):
            continue
        outs = [(xsp[i] + sum(pads[i]) - dil[i] * (k[i] - 1) - 1) // stride[i] + 1
                for i in range(nd)]
        if min(outs) < 1:
            continue
        specs.append(dict(xs=(int(r.integers(1, 3)), c_in) + xsp, ws=(c_out, c_in // g) + k,
                          kw=dict(stride=stride, dilation=dil, padding=padding, groups=g,
                                  padding_mode=mode, flip=bool(r.random() < 0.25)),
                          cl=bool(r.random() < 0.3), out=bool(r.random() < 0.35),
                          dtype=[np.float32, np.float64][int(r.integers(0, 2))]))
    return specs


# The grid plus the known-bad specs: (xs, ws, kw) and channels_last / out / dtype.
KNOWN = [
    dict(xs=(1, 16, 1, 3, 3), ws=(16, 8, 1, 3, 3),
         kw=dict(stride=(2, 1, 1), padding=((0, 1), (1, 1), (1, 1)), padding_mode="replicate",
                 groups=2), cl=False, out=False, dtype=np.float32),
    dict(xs=(1, 1, 1, 1, 18), ws=(1, 1, 1, 1, 3), kw=dict(padding=((1, 0), (0, 0), (0, 0))),
         cl=False, out=True, dtype=np.float32),
    dict(xs=(1, 2, 1, 4, 20), ws=(3, 2, 1, 3, 3), kw=dict(padding=((1, 1), (1, 1), (0, 0))),
         cl=False, out=True, dtype=np.float64),
    dict(xs=(1, 2, 1, 4, 20), ws=(3, 2, 1, 3, 3),
         kw=dict(padding=((0, 1), (1, 1), (1, 1)), padding_mode="replicate"), cl=False,
         out=True, dtype=np.float64),
    dict(xs=(1, 4, 1, 5, 6), ws=(4, 2, 1, 3, 3),
         kw=dict(padding=((1, 1), (1, 1), (1, 1)), groups=2), cl=True, out=True,
         dtype=np.float32),
]

GRID = conv_grid(2024, 1200)


def run_spec(sw, i, spec, algos):
    xs, ws, kw, cl, use_out, dt = (spec[k] for k in ("xs", "ws", "kw", "cl", "out", "dtype"))
    key = ("grid", i, xs, ws)
    x, w, b = data(key, xs, ws, (ws[0],))
    try:
        want = ref.conv(x, w, b, **kw)
    except ValueError:
        return
    red = int(np.prod(ws[1:]))
    xd, wd, bd = cast(dt, x, w, b)
    if cl:
        xd = to_cl(xd)
    for algo in algos:
        label = (f"conv x={xs} w={ws} {kw} channels_last={cl} out={'nan' if use_out else None} "
                 f"algorithm={algo!r} {np.dtype(dt).name}")
        sw.count += 1
        out = None
        if use_out:
            shape = want.shape if not cl else (want.shape[0],) + want.shape[2:] + want.shape[1:2]
            out = np.full(shape, np.nan, dt)
        try:
            y = cc.conv(xd, wd, bd, algorithm=algo, channels_last=cl, out=out, **kw)
        except ValueError as e:
            if algo in ("auto", "reference") or not names_algo(str(e), algo):
                sw.fails.append(f"{label}: ValueError not naming the algorithm: {e}")
            continue
        except Exception as e:  # noqa: BLE001
            sw.fails.append(f"{label}: raised {type(e).__name__}: {e}")
            continue
        if use_out and not np.shares_memory(y, out):
            sw.fails.append(f"{label}: result is not the out= array")
            continue
        y = np.asarray(y)
        sw.count -= 1
        sw.check(label, from_cl(y) if cl else y, want, red, dt)


def test_conv_every_algorithm_grid(isa, one_thread):
    sw = Sweep("conv, every forced algorithm over the grid")
    for i, spec in enumerate(GRID):
        run_spec(sw, i, spec, ALGOS)
    sw.done()


@pytest.mark.parametrize("i", range(len(KNOWN)))
def test_conv_every_algorithm_known(isa, i):
    sw = Sweep("conv, every forced algorithm, known specs")
    run_spec(sw, 10_000 + i, KNOWN[i], ALGOS)
    sw.done()


def test_conv_out_nan_dense(isa, one_thread):
    # NaN-filled out= for every algorithm over depth-padded single-slice 3-D convs (the im2col
    # row path takes in[0] == 1, k[0] == 1), widths across the row path's NR columns
    sw = Sweep("conv out=NaN, depth-padded single slices")
    for ow in range(1, 40):
        for pd in ((1, 0), (0, 1), (1, 1), (0, 0)):
            spec = dict(xs=(1, 2, 1, 3, ow + 2), ws=(3, 2, 1, 3, 3),
                        kw=dict(padding=(pd, (1, 1), (0, 0))), cl=False, out=True,
                        dtype=np.float32 if ow % 2 else np.float64)
            run_spec(sw, 20_000 + ow, spec, ["auto", "im2col", "direct", "winograd"])
    sw.done()


# ---- conv_transpose ---------------------------------------------------------------------

def transpose_grid(seed, count):
    r = np.random.default_rng(seed)
    specs = []
    while len(specs) < count:
        nd = int(r.integers(1, 4))
        g = int(r.choice([1, 1, 2]))
        c_in = g * int(r.integers(1, 4))
        opg = int(r.integers(1, 4))
        if nd >= 2 and r.random() < 0.5:
            k = (int(r.integers(1, 4)),) * (nd - 2) + (int(r.choice([3, 4, 5, 6])),) * 2
        else:
            k = tuple(int(v) for v in r.integers(1, 5, nd))
        stride = tuple(int(v) for v in r.choice([1, 2, 2, 3], nd))
        dil = tuple(int(v) for v in r.choice([1, 1, 2], nd))
        xsp = tuple(int(v) for v in r.integers(1, 7, nd))
        if r.random() < 0.5:
            pads = [tuple(int(v) for v in r.integers(0, 3, 2)) for _ in range(nd)]
            padding = tuple(pads)
        else:
            p = tuple(int(v) for v in r.integers(0, 3, nd))
            pads, padding = [(v, v) for v in p], p
        op = tuple(int(r.integers(0, max(stride[i], dil[i]))) if r.random() < 0.3 else 0
                   for i in range(nd))
        full = [(xsp[i] - 1) * stride[i] + dil[i] * (k[i] - 1) + 1 + op[i] for i in range(nd)]
        if any(full[i] - sum(pads[i]) < 1 for i in range(nd)):
            continue
        specs.append(dict(xs=(int(r.integers(1, 3)), c_in) + xsp, ws=(c_in, opg) + k,
                          kw=dict(stride=stride, dilation=dil, padding=padding,
                                  output_padding=op, groups=g),
                          cl=bool(r.random() < 0.3), out=bool(r.random() < 0.35),
                          dtype=[np.float32, np.float64][int(r.integers(0, 2))]))
    return specs


T_GRID = transpose_grid(77, 600)


def test_conv_transpose_every_algorithm_grid(isa, one_thread):
    sw = Sweep("conv_transpose, every forced algorithm over the grid")
    for i, spec in enumerate(T_GRID):
        xs, ws, kw, cl, use_out, dt = (spec[k] for k in ("xs", "ws", "kw", "cl", "out",
                                                          "dtype"))
        x, w, b = data(("tgrid", i), xs, ws, (ws[1] * kw["groups"],))
        want = ref.conv_transpose(x, w, b, **kw)
        red = ws[0] // kw["groups"] * int(np.prod(ws[2:]))
        xd, wd, bd = cast(dt, x, w, b)
        if cl:
            xd = to_cl(xd)
        for algo in T_ALGOS:
            label = (f"conv_transpose x={xs} w={ws} {kw} channels_last={cl} "
                     f"out={'nan' if use_out else None} algorithm={algo!r} {np.dtype(dt).name}")
            out = None
            if use_out:
                shape = (want.shape if not cl else
                         (want.shape[0],) + want.shape[2:] + want.shape[1:2])
                out = np.full(shape, np.nan, dt)
            try:
                y = cc.conv_transpose(xd, wd, bd, algorithm=algo, channels_last=cl, out=out,
                                      **kw)
            except ValueError as e:
                sw.count += 1
                if algo in ("auto", "reference") or not names_algo(str(e), algo):
                    sw.fails.append(f"{label}: ValueError not naming the algorithm: {e}")
                continue
            except Exception as e:  # noqa: BLE001
                sw.count += 1
                sw.fails.append(f"{label}: raised {type(e).__name__}: {e}")
                continue
            y = np.asarray(y)
            sw.check(label, from_cl(y) if cl else y, want, red, dt)
    sw.done()


def test_grid_covers_the_options():
    # the grid is not degenerate: every padding mode, rank, flip, layout and out= occur
    seen = set()
    for s in GRID:
        kw = s["kw"]
        seen |= {("mode", kw["padding_mode"]), ("nd", len(s["ws"]) - 2), ("flip", kw["flip"]),
                 ("cl", s["cl"]), ("out", s["out"]), ("groups>1", kw["groups"] > 1),
                 ("asym", isinstance(kw["padding"], tuple) and
                  isinstance(kw["padding"][0], tuple))}
    for m in MODES:
        assert ("mode", m) in seen
    for v in itertools.product(["nd"], [1, 2, 3]):
        assert v in seen
    for f in ("flip", "cl", "out", "groups>1", "asym"):
        assert (f, True) in seen and (f, False) in seen


def test_conv_single_slice_depth_padding_every_mode(isa, one_thread):
    # 3-D convs of one input slice with a depth kernel of 1 and depth padding, every padding
    # mode, groups 1 / 2 / C_in, kernels 3x3 (Winograd, grouped) and 1x1 / 1x3, depth strides
    # 1 and 2 (one or two output slices), NaN-filled out=: the non-zero modes materialise a
    # padded copy whose depth is no longer 1 while the spec the algorithm was chosen for
    # (and validated against) was planar
    sw = Sweep("conv, single-slice 3-D with depth padding, every mode")
    i = 0
    for mode in MODES:
        for g, cpg, opg in ((1, 2, 3), (2, 4, 4), (4, 1, 1)):
            for k in ((1, 3, 3), (1, 1, 1), (1, 1, 3)):
                for sd, pd in ((1, (0, 1)), (2, (0, 1)), (1, (1, 0)), (2, (1, 1))):
                    if mode == "reflect":
                        continue  # reflect cannot pad a dimension of size 1 (PyTorch's limit)
                    i += 1
                    spec = dict(xs=(1, g * cpg, 1, 5, 7), ws=(g * opg, cpg) + k,
                                kw=dict(stride=(sd, 1, 1), groups=g, padding_mode=mode,
                                        padding=(pd, (1, 1), (1, 1))),
                                cl=i % 5 == 0, out=i % 2 == 0,
                                dtype=np.float32 if i % 3 else np.float64)
                    run_spec(sw, 30_000 + i, spec, ALGOS)
    sw.done()
