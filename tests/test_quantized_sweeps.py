"""Dense sweeps of the INT8 engines' size thresholds at every INT8 path of this machine, 1 and
2 threads: 0 LSB against the scalar direct kernel (the definition, itself checked against the
NumPy oracle in test_quantized.py / test_quantized_engine.py; a sample of each sweep is checked
against the oracle here too). Every failing shape is reported, not just the first.

GEMM engine (kernels/quantized_gemm.hpp): output pixels across the 6/8-row tiles, the
96-pixel blocks (equal blocks, rounded to the tile) and the column-panel split of few blocks;
output channels across the 16/32-wide panels; channels per group across the 2/4-value K
steps, where a tap's last step reads past its group (into the next group, the next pixel or
the padded copy's slack: weight 0) and x is read directly (uint8, unpadded, C_in/groups a
multiple of 4, VNNI), through the padded copy, or (1x1) through rows converted per item. Depthwise engine
(kernels/quantized_depthwise.hpp): channels across the 16/32-channel blocks (tails masked or
stored through a buffer), kernel widths across the 2/4-tap groups of a tap row, kernel
heights, strides, dilations and paddings across the row cache and the padding rows, output
widths from 1."""
import zlib

import numpy as np
import pytest

import convcore as cc
import reference as ref
from conftest import int8_paths, use_int8_path
from convcore import _core

U8, I8 = np.uint8, np.int8
LEVELS = list(_core.simd_info()["supported"])
PATHS, HAS_VNNI = int8_paths(scalar=False)


@pytest.fixture(params=PATHS, ids=["-".join(p) for p in PATHS])
def path(request):
    with use_int8_path(*request.param):
        yield request.param


class ExactSweep:
    """Runs shapes, compares with the direct kernel, lists every mismatch at the end."""

    def __init__(self, what, engine):
        self.what, self.engine, self.fails, self.count, self.flat = what, engine, [], 0, 0

    def run(self, label, x, w, b, xz, wz, yz, ydt, oracle=False, **kw):
        self.count += 1
        red = w.shape[1] * w.shape[2] * w.shape[3]
        ws = np.linspace(0.004, 0.012, w.shape[0])
        args = (0.02, xz, w, ws, wz, 0.015 * np.sqrt(red), yz, b)
        try:
            got = cc.quantized_conv2d(x, *args, y_dtype=ydt, **kw)
            _core._set_int8_engine("direct")
            try:
                want = cc.quantized_conv2d(x, *args, y_dtype=ydt, **kw)
            finally:
                _core._set_int8_engine(self.engine)
        except Exception as e:  # noqa: BLE001 - a raise on a valid shape is a failure too
            self.fails.append(f"{label}: raised {type(e).__name__}: {e}")
            return
        if oracle:
            xc = np.moveaxis(x, -1, 1) if kw.get("channels_last") else x
            k2 = {k: v for k, v in kw.items() if k != "channels_last"}
            yr = ref.quantized_conv2d(xc, *args, y_signed=ydt == I8, **k2)
            want_o = np.ascontiguousarray(np.moveaxis(yr, 1, -1)) if kw.get("channels_last") else yr
            if not np.array_equal(want, want_o):
                self.fails.append(f"{label}: direct kernel differs from the oracle")
        if got.shape != want.shape or not np.array_equal(got, want):
            d = np.abs(got.astype(np.int32) - want.astype(np.int32)) if got.shape == want.shape else None
            self.fails.append(f"{label}: {'shape' if d is None else f'{int((d > 0).sum())} bytes differ, max {int(d.max())} LSB'}")
        # outputs of one or two values would hide errors: the data must spread the outputs
        # (a few shapes whose windows read only padding are flat by construction)
        if np.unique(want).size < 3:
            self.flat += 1

    def done(self):
        assert self.count > 0
        assert self.flat <= 0.05 * self.count, f"{self.flat} of {self.count} results flat"
        if self.fails:
            head = "\n  ".join(self.fails[:30])
            raise AssertionError(f"{self.what}: {len(self.fails)} of {self.count} shapes wrong:\n  {head}")


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _rand(r, shape, dt):
    info = np.iinfo(dt)
    return r.integers(info.min, info.max + 1, size=shape).astype(dt)


def test_sweep_gemm_pixels_and_panels(path, threads):
    sw = ExactSweep("GEMM pixels x panels", path[1])
    shapes = [(M, co) for M in list(range(1, 20)) + [47, 48, 49, 94, 95, 96, 97, 98, 143, 190,
                                                     191, 192, 193, 200, 289]
              for co in (16, 33, 64)]
    shapes += [(M, co) for M in (5, 97) for co in range(4, 73)]  # every partial panel width
    for M, co in shapes:
        r = _rng("gp", M, co)
        # M pixels as N images of a 1 x W row (or one image), 1x1 and 3x3 kernels
        n = 2 if M % 2 == 0 and M > 2 else 1
        x = np.ascontiguousarray(np.moveaxis(_rand(r, (n, 12, 1, M // n), U8), 1, -1))
        w = _rand(r, (co, 12, 1, 1), I8)
        sw.run(f"M={M} co={co} 1x1", x, w, None, 128, 0, 128, U8, channels_last=True,
               oracle=(M + co) % 11 == 0)
        w3 = _rand(r, (co, 12, 3, 3), I8)
        sw.run(f"M={M} co={co} 3x3", x, w3, r.integers(-999, 999, co).astype(np.int32), 100, 0,
               0, I8, channels_last=True, padding=1)
    sw.done()


def test_sweep_gemm_channels_per_group_k_steps(path, threads):
    sw = ExactSweep("GEMM channels per group", path[1])
    for cpg in range(1, 14):
        for g in (1, 2, 3):
            for kw in (dict(), dict(padding=1), dict(stride=2), dict(stride=(1, 2), dilation=2)):
                r = _rng("cpg", cpg, g, str(kw))
                for xdt in (U8, I8):
                    x = _rand(r, (2, 7, 6, cpg * g), xdt)  # channels-last
                    w = _rand(r, (8 * g, cpg, 3 if kw.get("padding") else 1, 2), I8)
                    xz = int(np.iinfo(xdt).min) + 3
                    sw.run(f"cpg={cpg} g={g} {kw} {xdt.__name__}", x, w, None, xz, 0, 5, U8,
                           channels_last=True, groups=g, oracle=cpg % 5 == 0, **kw)
                    # 1x1: x read directly (VNNI, uint8, unpadded) or rows converted per item
                    w1 = _rand(r, (8 * g, cpg, 1, 1), I8)
                    sw.run(f"cpg={cpg} g={g} {kw} {xdt.__name__} 1x1", x, w1, None, xz, 0, 5, U8,
                           channels_last=True, groups=g, **kw)
                    # per-channel weight zero points: the int16 kernels at the AVX-512 level
                    wz = r.integers(-128, 128, 8 * g)
                    sw.run(f"cpg={cpg} g={g} {kw} {xdt.__name__} wz", x, w, None, xz, wz, -5, I8,
                           channels_last=True, groups=g, **kw)
    sw.done()


def test_sweep_depthwise_channels(path, threads):
    sw = ExactSweep("depthwise channels", path[1])
    for C in list(range(2, 41)) + [47, 48, 49, 63, 64, 65, 95, 96, 97, 144]:
        r = _rng("dwc", C)
        for xdt, wdt in ((U8, I8), (I8, U8)):
            x = _rand(r, (1, 5, 6, C), xdt)
            w = _rand(r, (C, 1, 3, 3), wdt)
            b = r.integers(-3000, 3000, C).astype(np.int32)
            wz = 0 if wdt == I8 else 128
            sw.run(f"C={C} {xdt.__name__}", x, w, b, int(np.iinfo(xdt).max) - 9, wz, 7, U8,
                   channels_last=True, groups=C, padding=1, oracle=C % 9 == 0)
            wz2 = r.integers(int(np.iinfo(wdt).min), int(np.iinfo(wdt).max) + 1, C)
            sw.run(f"C={C} {xdt.__name__} wz", x, w, b, 3, wz2, -7, I8, channels_last=True,
                   groups=C, padding=(2, 0))
    sw.done()


def test_sweep_depthwise_kernels_and_geometry(path, threads):
    sw = ExactSweep("depthwise geometry", path[1])
    C = 37
    for kh in (1, 2, 3, 5):
        for kw_ in range(1, 10):
            for st, dil, pad in (((1, 1), (1, 1), (0, 0)), ((1, 1), (1, 1), (kh // 2, kw_ // 2)),
                                 ((2, 2), (1, 1), (1, 1)), ((1, 3), (2, 1), (2, 3)),
                                 ((1, 1), (1, 2), ((0, 3), (kw_, 1)))):
                r = _rng("dwg", kh, kw_, st, dil, str(pad))
                for width in (1, 2, 9):
                    win = (width - 1) * st[1] + (kw_ - 1) * dil[1] + 1
                    pw = pad[1] if isinstance(pad[1], int) else 0
                    x = _rand(r, (2, 4 + (kh - 1) * dil[0], max(1, win - 2 * pw), C), U8)
                    if x.shape[2] + 2 * pw < (kw_ - 1) * dil[1] + 1:
                        continue
                    w = _rand(r, (C, 1, kh, kw_), I8)
                    sw.run(f"k={kh}x{kw_} s={st} d={dil} p={pad} W={x.shape[2]}", x, w, None, 200,
                           0, 128, U8, channels_last=True, groups=C, stride=st, dilation=dil,
                           padding=pad, oracle=(kh * kw_ + width) % 13 == 0)
    sw.done()


@pytest.mark.parametrize("level", [l for l in ("avx2", "avx512") if l in LEVELS])
def test_padded_copy_beyond_the_kept_scratch(rng, level, one_thread):
    # the int16 padded copy of this x is 35 MB, beyond the 32 MiB kept in thread scratch:
    # allocated for the run and freed (kQ8KeepBytes, quantized_pack.hpp)
    old = _core.simd_info()["level"]
    _core._set_isa(level)
    _core._set_int8_engine("no_vnni" if level == "avx512" else "auto")
    try:
        x = _rand(rng, (1, 520, 520, 64), U8)
        w = _rand(rng, (4, 64, 3, 3), I8)
        sw = ExactSweep("large padded copy", "no_vnni" if level == "avx512" else "auto")
        sw.run("520x520x64", x, w, None, 128, 0, 128, U8, channels_last=True, padding=1)
        sw.done()
    finally:
        _core._set_int8_engine("auto")
        _core._set_isa(old)
