"""Dense shape sweeps of filter2d (convolve / correlate), the transposed conv (GEMM + col2im
and the direct gather kernel), deformable conv and quantized conv, every ISA level, float32 and
float64, against the NumPy oracle (sweep_helpers.Sweep lists all failing shapes).

Thresholds:
  filter2d (kernels/filter2d.hpp): chunks of C = 8 vectors of VB bytes, VB = 16 (scalar) or
      32 (avx2, avx512): C = 32 / 64 float32, 16 / 32 float64 outputs; strips of
      round_up(OW, C) outputs for OW <= 3072, else 2048; chunk x is "interior" when its
      `reach` = C + kw - 1 (separable: C) padded columns lie inside the input, else read from
      the ring of padded rows; bands of output rows (16 per thread, >= 4 * kh rows each);
      paths: direct2d, separable (rank-1 kernels, kh * kw > kh + kw), direct3d, general.
  col2im (kernels/im2col.hpp conv_transpose_gemm_engine): GEMM with NR = 2W columns over the
      input pixels, MR rows (8 avx512 / 6) over C_out/g * kernel taps; "direct": gather.
  deformable (kernels/deformable.hpp): MR = 6 output channels, NR = 64 bytes of pixels
      (16 f32 / 8 f64) per register block, tiles of 128 pixels.
  quantized (kernels/quantized.hpp): row blocks rb = 4096 // OW rows per work item.
"""
import numpy as np
import pytest

import convcore as cc
import reference as ref
from convcore import _core
from sweep_helpers import DTYPES, Sweep, cast, data, lanes, oracle, sweep_conv_transpose


def filter_chunk(isa, dt):
    vb = 16 if isa == "scalar" else 32
    return 8 * vb // np.dtype(dt).itemsize


def run_filter(sw, tag, ashape, kshape, mode, boundary, correlate, rank1=False, dtypes=DTYPES,
               expect_path=None):
    key = (tag, ashape, kshape, mode, boundary, correlate, rank1)
    if rank1:
        a, c, r = data(key, ashape, kshape[:1], kshape[1:])
        k = np.outer(c, r).astype(np.float32).astype(np.float64)
    else:
        a, k = data(key, ashape, kshape)
    want = oracle(key, lambda: ref.convolve(a, k, mode=mode, boundary=boundary, fillvalue=0.5,
                                            correlate=correlate))
    f = cc.correlate if correlate else cc.convolve
    for dt in dtypes:
        ad, kd = cast(dt, a, k)
        if expect_path is not None:
            p = _core._filter_plan(ad, kd, mode, boundary, 0.5, not correlate)
            assert p == expect_path, (ashape, kshape, p)
        label = (f"{f.__name__} a={ashape} k={kshape} rank1={rank1} mode={mode} "
                 f"boundary={boundary} fillvalue=0.5 {np.dtype(dt).name}")
        sw.call(label, lambda: f(ad, kd, mode=mode, boundary=boundary, fillvalue=0.5), want,
                int(np.prod(kshape)) * (4 if rank1 else 1), dt)


def test_sweep_filter_1d(isa, one_thread):
    # signal lengths 1 .. 4 C + 3 in every mode; kernels of 3 and 8 taps
    sw = Sweep("filter 1-D lengths")
    for dt in DTYPES:
        C = filter_chunk(isa, dt)
        for n in range(1, 4 * C + 4):
            for kn, mode, bd in ((3, "same", "fill"), (8, "full", "wrap"), (5, "valid", "fill"),
                                 (4, "same", "symm")):
                if mode == "valid" and n < kn:
                    continue
                run_filter(sw, "f1", (n,), (kn,), mode, bd, correlate=n % 2 == 0, dtypes=[dt])
    sw.done()


def test_sweep_filter_2d_widths(isa, one_thread):
    # widths 1 .. 2 C + 3 with 3x3 (direct2d), rank-1 5x4 (separable) and 2x7 kernels
    sw = Sweep("filter 2-D widths")
    for dt in DTYPES:
        C = filter_chunk(isa, dt)
        for wd in range(1, 2 * C + 4):
            run_filter(sw, "f2", (4, wd), (3, 3), "same", "fill", False, dtypes=[dt])
            run_filter(sw, "f2s", (5, wd), (5, 4), "full", "fill", True, rank1=True,
                       dtypes=[dt])
            run_filter(sw, "f2w", (3, wd), (2, 7), "same", "wrap", False, dtypes=[dt])
            if wd >= 7:
                run_filter(sw, "f2v", (3, wd), (2, 7), "valid", "fill", True, dtypes=[dt])
    sw.done()


def test_sweep_filter_2d_heights(isa, one_thread):
    sw = Sweep("filter 2-D heights")
    for h in range(1, 30):
        run_filter(sw, "f2h", (h, 20), (3, 3), "same", "fill", False)
        run_filter(sw, "f2hs", (h, 21), (3, 3), "full", "symm", True, rank1=True)
        run_filter(sw, "f2h5", (h, 9), (5, 2), "same", "fill", True)
    sw.done()


def test_sweep_filter_long_rows(isa, one_thread):
    # strips: OW <= 3072 one strip of round_up(OW, C), above that strips of 2048
    sw = Sweep("filter long rows")
    for n in (3071, 3072, 3073, 4097, 6200):
        run_filter(sw, "fl", (2, n), (3, 3), "same", "fill", False)
        run_filter(sw, "fl1", (n,), (7,), "full", "fill", True)
    sw.done()


def test_sweep_filter_3d(isa, one_thread):
    sw = Sweep("filter 3-D")
    for w in range(1, 20):
        run_filter(sw, "f3", (2, 3, w), (2, 2, 3), "same", "fill", False)
        run_filter(sw, "f3f", (3, 2, w), (2, 3, 2), "full", "wrap", True)
    sw.done()


# ---- transposed conv: col2im and direct --------------------------------------------------

def run_tr(sw, tag, xs, ws, algo, **kw):
    sweep_conv_transpose(sw, tag, xs, ws, algo, **kw)


@pytest.mark.parametrize("algo", ["im2col", "direct", "auto"])
def test_sweep_transposed_widths(isa, one_thread, algo):
    sw = Sweep(f"conv_transpose {algo} widths")
    for dt in DTYPES:
        nr = 2 * lanes(isa, dt)
        for iw in range(1, 2 * nr + 4):
            run_tr(sw, "tw", (1, 3, 2, iw), (3, 7, 3, 3), algo, dtypes=[dt], padding=1)
            run_tr(sw, "tw2", (1, 4, 2, iw), (4, 3, 4, 3), algo, dtypes=[dt], stride=(1, 2),
                   padding=(0, 1), output_padding=(0, 1))
        for iw in range(1, nr + 4):
            run_tr(sw, "tw3", (2, 4, iw), (4, 2, 5), algo, dtypes=[dt], stride=3, dilation=2,
                   groups=2, padding=((2, 1),))
    sw.done()


@pytest.mark.parametrize("algo", ["im2col", "direct"])
def test_sweep_transposed_channels(isa, one_thread, algo):
    sw = Sweep(f"conv_transpose {algo} channels")
    for co in range(1, 18):
        run_tr(sw, "tc", (1, 2, 3, 5), (2, co, 3, 3), algo, stride=2)
    for ci in range(1, 12):
        run_tr(sw, "tci", (1, ci, 4, 4), (ci, 5, 2, 2), algo, stride=2)
    for d in range(2, 7):
        run_tr(sw, "t3", (1, 2, d, 3, 4), (2, 3, 2, 3, 3), algo, stride=(2, 1, 2), padding=1)
    sw.done()


# ---- deformable ---------------------------------------------------------------------------

def run_deform(sw, tag, xs, ws, stride, padding, dilation, og=1, mask=False, algo="auto"):
    kh, kw = ws[2:]
    oh = (xs[2] + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (xs[3] + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    key = (tag, xs, ws, oh, ow, stride, padding, dilation, og, mask)
    arrays = data(key, xs, ws, (ws[0],), (xs[0], 2 * og * kh * kw, oh, ow),
                  (xs[0], og * kh * kw, oh, ow))
    x, w, b, off, m = arrays
    off = off * 1.5
    m = m if mask else None
    kw_ = dict(stride=stride, padding=padding, dilation=dilation)
    want = oracle(key, lambda: ref.deform_conv2d(x, off, w, b, mask=m, **kw_))
    assert want.shape[2:] == (oh, ow)
    red = int(np.prod(ws[1:]))
    for dt in DTYPES:
        xd, wd, bd, od, md = cast(dt, x, w, b, off, m)
        label = (f"deform_conv2d x={xs} w={ws} offset={od.shape} mask={mask} {kw_} "
                 f"algorithm={algo!r} {np.dtype(dt).name}")
        sw.call(label, lambda: cc.deform_conv2d(xd, od, wd, bd, mask=md, algorithm=algo, **kw_),
                want, red * 4, dt)


def test_sweep_deform_widths(isa, one_thread):
    # OW 1..35 (NR = 16 f32 / 8 f64 pixels per block, tiles of 128 pixels), C_out 7 (MR tail)
    sw = Sweep("deform widths")
    for ow in range(1, 36):
        run_deform(sw, "dw", (1, 2, 3, ow + 2), (7, 2, 3, 3), (1, 1), (0, 0), (1, 1))
        run_deform(sw, "dw2", (1, 4, 4, 2 * ow + 1), (6, 2, 3, 3), (2, 2), (1, 1),
                   (1, 1), og=2, mask=True)
    for oh in range(1, 12):  # across the 128-pixel tiles: 13 pixels per row
        run_deform(sw, "dh", (1, 2, oh, 13), (6, 2, 3, 3), (1, 1), (1, 1), (1, 1))
    sw.done()


def test_sweep_deform_channels(isa, one_thread):
    sw = Sweep("deform channels")
    for co in range(1, 14):
        run_deform(sw, "dc", (1, 3, 5, 6), (co, 3, 3, 3), (1, 1), (0, 0), (1, 1))
    for ci in range(1, 8):
        run_deform(sw, "dci", (2, ci, 5, 9), (4, ci, 2, 3), (1, 1), (1, 1), (1, 1))
    sw.done()


# ---- quantized ----------------------------------------------------------------------------

def test_sweep_quantized(isa, one_thread):
    # widths 1..40, heights across the 4096 // OW row blocks, groups, strides
    sw = Sweep("quantized")
    rng = np.random.default_rng(77)

    def one(xs, ws, **kw):
        x = rng.integers(0, 256, xs).astype(np.uint8)
        w = rng.integers(-128, 128, ws).astype(np.int8)
        b = rng.integers(-500, 500, ws[0]).astype(np.int32)
        args = (x, 0.05, 128, w, 0.01, 0, 0.2, 128, b)
        want = ref.quantized_conv2d(*args, **kw)
        label = f"quantized_conv2d x={xs} w={ws} {kw}"
        sw.count += 1
        try:
            y = cc.quantized_conv2d(*args, **kw)
        except Exception as e:  # noqa: BLE001
            sw.fails.append(f"{label}: raised {type(e).__name__}: {e}")
            return
        if y.shape != want.shape or np.any(y.astype(int) != want.astype(int)):
            d = np.abs(y.astype(int) - want.astype(int)) if y.shape == want.shape else None
            sw.fails.append(f"{label}: {None if d is None else int(d.max())} max int error")

    for ow in range(1, 41):
        one((1, 3, 3, ow + 2), (4, 3, 3, 3))
        one((1, 4, 4, 2 * ow), (4, 2, 3, 3), groups=2, stride=2, padding=1)
    for oh in (1, 2, 63, 64, 65, 128, 130):
        one((1, 2, oh + 2, 66), (3, 2, 3, 3))
    sw.done()
