"""``convcore tour``: every variant in the library on one built-in picture.

The tour needs no downloads: the picture is drawn here, deterministically, with NumPy. It prints

* the textbook comparisons (86,400 vs 10,275 multiplications for a standard vs a depthwise
  separable conv; 81 vs 72 for a 3x3 kernel vs 3x1 then 1x3 on a 5x5 image; receptive fields of
  stacked and dilated 3x3 convs), computed by :func:`convcore.cost` and
  :func:`convcore.receptive_field`;
* a table with one row per operation: output shape, learnable parameters, multiplications (from
  :func:`convcore.cost`) and the measured time;

and, with ``out=DIR`` and matplotlib installed (``pip install 'convcore[viz]'``), writes
``DIR/gallery.png``.

Each row of the table is a small function in :data:`ROWS` that names the ``convcore`` functions
it needs; a row whose functions this build lacks is listed as "not available in this build"
rather than failing, so the tour runs on any build of the library.
"""
from __future__ import annotations

import importlib
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple

import numpy as np

import convcore as cc

from . import arithmetic

VIZ_HINT = "pip install 'convcore[viz]'"


# --------------------------------------------------------------------------------------------
# The built-in picture
# --------------------------------------------------------------------------------------------

def scene(size: int = 128) -> np.ndarray:
    """A synthetic RGB scene, ``(3, size, size)`` float64 in [0, 1]: a sky gradient, a sun, a
    mountain, a chequered floor and a line of handwriting-like strokes. Edges in every
    direction, smooth ramps and fine periodic detail, so each filter has something to show.

    >>> from convcore.tour import scene
    >>> img = scene(64)
    >>> img.shape, float(img.min()) >= 0.0, float(img.max()) <= 1.0
    ((3, 64, 64), True, True)
    """
    if size < 16:
        raise ValueError(f"size must be >= 16, got {size}")
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / (size - 1)
    horizon = 0.62
    img = np.empty((3, size, size))
    # Sky: deep blue at the top to a warm orange at the horizon.
    t = np.clip(y / horizon, 0, 1)
    for c, (top, low) in enumerate(((0.10, 0.98), (0.22, 0.62), (0.55, 0.35))):
        img[c] = top + (low - top) * t ** 1.5
    # Sun: a soft-edged disc.
    r = np.hypot(x - 0.72, y - 0.30)
    sun = np.clip((0.12 - r) / 0.015, 0, 1)
    for c, v in enumerate((1.0, 0.93, 0.55)):
        img[c] = img[c] * (1 - sun) + v * sun
    # Mountain: a triangle with a snow cap, straight edges at two angles.
    peak_x, peak_y = 0.33, 0.22
    ridge = peak_y + 1.25 * np.abs(x - peak_x)
    mountain = (y >= ridge) & (y < horizon)
    snow = mountain & (y < peak_y + 0.09)
    for c, v in enumerate((0.30, 0.26, 0.33)):
        img[c][mountain] = v * (0.7 + 0.5 * (y[mountain] - peak_y))
    for c in range(3):
        img[c][snow] = 0.95
    # Floor: a chequerboard in perspective (rows get thinner towards the horizon).
    floor = y >= horizon
    depth = (y - horizon + 0.02) / (1 - horizon + 0.02)
    u = (x - 0.5) / depth
    v = 1.0 / depth
    checker = ((np.floor(u * 4) + np.floor(v * 2)) % 2).astype(np.float64)
    shade = 0.35 + 0.6 * depth
    for c, (a, b) in enumerate(((0.92, 0.12), (0.90, 0.10), (0.85, 0.14))):
        img[c][floor] = ((a * checker + b * (1 - checker)) * shade)[floor]
    # Strokes: a line of "handwriting" (a looping curve) across the sky, anti-aliased.
    s = np.linspace(0, 1, 6 * size)
    cx = 0.05 + 0.42 * s + 0.03 * np.sin(2 * np.pi * 7 * s)
    cy = 0.11 + 0.045 * np.cos(2 * np.pi * 7 * s) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * s))
    px = 1.0 / (size - 1)
    ink = np.zeros((size, size))
    for sx, sy in zip(cx, cy):
        i0, i1 = max(0, int((sy - 0.03) * size)), min(size, int((sy + 0.03) * size) + 2)
        j0, j1 = max(0, int((sx - 0.03) * size)), min(size, int((sx + 0.03) * size) + 2)
        d2 = (x[i0:i1, j0:j1] - sx) ** 2 + (y[i0:i1, j0:j1] - sy) ** 2
        ink[i0:i1, j0:j1] = np.maximum(ink[i0:i1, j0:j1],
                                       np.clip(1.6 - np.sqrt(d2) / px, 0.0, 1.0))
    for c, v in enumerate((1.0, 0.97, 0.90)):
        img[c] = img[c] * (1 - ink) + v * ink
    return np.clip(img, 0.0, 1.0)


def luminance(img: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of a ``(3, H, W)`` picture."""
    return 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]


# --------------------------------------------------------------------------------------------
# Textbook comparisons
# --------------------------------------------------------------------------------------------

def _cost_or_none(op: str, *shapes: Any, **params: Any) -> Optional[arithmetic.Cost]:
    """cost(op, ...) when this build has a cost model for op (not every build has every op)."""
    if op not in arithmetic._REGISTRY:
        return None
    return cc.cost(op, *shapes, **params)


def textbook() -> List[Tuple[str, str, int]]:
    """The textbook comparisons as ``(what, how it is counted, number)`` lines.

    >>> from convcore.tour import textbook
    >>> [n for _, _, n in textbook()]
    [86400, 10275, 81, 72, 7, 15]
    """
    std = cc.cost("conv2d", (1, 3, 7, 7), (128, 3, 3, 3)).macs
    dws = _cost_or_none("depthwise_separable_conv2d", (1, 3, 7, 7), (3, 1, 3, 3), (128, 3, 1, 1))
    if dws is not None:
        dws_macs, dws_how = dws.macs, "cost('depthwise_separable_conv2d', ...)"
    else:  # the same count from its two stages, each a plain conv
        dw = cc.cost("conv2d", (1, 3, 7, 7), (3, 1, 3, 3), groups=3).macs
        pw = cc.cost("conv2d", (1, 3, 5, 5), (128, 3, 1, 1)).macs
        dws_macs, dws_how = dw + pw, f"depthwise {dw:,} + pointwise {pw:,}"
    one = cc.cost("convolve", (5, 5), (3, 3), mode="valid").macs
    sep = _cost_or_none("spatially_separable_conv2d", (1, 1, 5, 5), (1, 1, 3, 1), (1, 1, 1, 3))
    if sep is not None:
        sep_macs, sep_how = sep.macs, "cost('spatially_separable_conv2d', ...)"
    else:
        col = cc.cost("convolve", (5, 5), (3, 1), mode="valid").macs
        row = cc.cost("convolve", (3, 5), (1, 3), mode="valid").macs
        sep_macs, sep_how = col + row, f"3x1: {col} + 1x3: {row}"
    stacked = cc.receptive_field([(3, 1, 1)] * 3).size
    dilated = cc.receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)]).size
    return [
        ("7x7x3 input, 128 filters 3x3x3: standard conv", "cost('conv2d', ...)", std),
        ("  the same as depthwise separable (3x3 depthwise, 1x1 to 128)", dws_how, dws_macs),
        ("5x5 image, 3x3 kernel: one 2-D conv", "cost('convolve', ..., mode='valid')", one),
        ("  the same as spatially separable (3x1 then 1x3)", sep_how, sep_macs),
        ("receptive field of three stacked 3x3 convs", "receptive_field(...).size", stacked),
        ("receptive field of 3x3 convs dilated 1, 2, 4", "receptive_field(...).size", dilated),
    ]


# --------------------------------------------------------------------------------------------
# The rows: one small function per operation
# --------------------------------------------------------------------------------------------

@dataclass
class Case:
    """What a row runs: ``call()`` is the timed operation; ``cost`` its count (None when this
    build has no cost model for it); ``params`` its learnable values; ``note`` a remark."""

    call: Callable[[], Any]
    cost: Optional[arithmetic.Cost] = None
    params: Optional[int] = None
    note: str = ""


@dataclass
class Row:
    title: str
    needs: Tuple[str, ...]
    make: Callable[["Inputs"], Case]


@dataclass
class Inputs:
    """The tensors every row draws from (float32, deterministic)."""

    img: np.ndarray    # (3, H, W) float64 picture
    x: np.ndarray      # (1, 3, H, W) float32
    gray: np.ndarray   # (H, W) float32
    feat: np.ndarray   # (1, 16, H/2, W/2) float32: a feature map for the channel-mixing ops
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def weights(self, *shape: int) -> np.ndarray:
        fan_in = max(1, math.prod(shape[1:]))
        return (self.rng.standard_normal(shape) / math.sqrt(fan_in)).astype(np.float32)


ROWS: List[Row] = []


def row(title: str, *needs: str) -> Callable[[Callable[[Inputs], Case]], Callable[[Inputs], Case]]:
    """Register a tour row that needs the convcore functions ``needs``."""

    def deco(fn: Callable[[Inputs], Case]) -> Callable[[Inputs], Case]:
        ROWS.append(Row(title, tuple(needs), fn))
        return fn

    return deco


def _n(*arrays: Optional[np.ndarray]) -> int:
    return int(sum(a.size for a in arrays if a is not None))


@row("conv2d 3x3, 3->16, bias, ReLU", "conv2d")
def _conv(t: Inputs) -> Case:
    w, b = t.weights(16, 3, 3, 3), t.weights(16)
    return Case(lambda: cc.conv2d(t.x, w, b, padding=1, activation="relu"),
                cc.cost("conv2d", t.x.shape, w.shape, b.shape, padding=1), _n(w, b))


@row("conv2d 3x3 dilated 2 ('same')", "conv2d")
def _dilated(t: Inputs) -> Case:
    w = t.weights(16, 3, 3, 3)
    return Case(lambda: cc.conv2d(t.x, w, padding="same", dilation=2),
                cc.cost("conv2d", t.x.shape, w.shape, padding="same", dilation=2), _n(w),
                "receptive field 5x5 for 9 taps")


@row("conv2d 3x3 stride 2, grouped (groups=4)", "conv2d")
def _grouped(t: Inputs) -> Case:
    w = t.weights(16, 4, 3, 3)
    return Case(lambda: cc.conv2d(t.feat, w, stride=2, padding=1, groups=4),
                cc.cost("conv2d", t.feat.shape, w.shape, stride=2, padding=1, groups=4), _n(w),
                "1/4 of the dense cost")


@row("conv_transpose2d 4x4 stride 2 (upsample)", "conv_transpose2d")
def _transpose(t: Inputs) -> Case:
    w = t.weights(16, 3, 4, 4)
    return Case(lambda: cc.conv_transpose2d(t.feat, w, stride=2, padding=1),
                cc.cost("conv_transpose2d", t.feat.shape, w.shape, stride=2, padding=1), _n(w),
                "the adjoint of a stride-2 conv")


@row("convolve: 5x5 Gaussian on the luma (SciPy modes)", "convolve")
def _convolve(t: Inputs) -> Case:
    k = _classic("gaussian", 1.0, 5).astype(np.float32)
    return Case(lambda: cc.convolve(t.gray, k, mode="same", boundary="symm"),
                cc.cost("convolve", t.gray.shape, k.shape, mode="same"), None,
                "boundary='symm'")


@row("correlate: Sobel x, valid", "correlate")
def _correlate(t: Inputs) -> Case:
    k = _classic("sobel", 1).astype(np.float32)
    return Case(lambda: cc.correlate(t.gray, k, mode="valid"),
                cc.cost("correlate", t.gray.shape, k.shape, mode="valid"), None)


@row("depthwise_conv2d 3x3, multiplier 2", "depthwise_conv2d")
def _depthwise(t: Inputs) -> Case:
    w = t.weights(6, 1, 3, 3)
    return Case(lambda: cc.depthwise_conv2d(t.x, w, padding=1),
                _cost_or_none("depthwise_conv2d", t.x.shape, w.shape, padding=1), _n(w))


@row("pointwise_conv 1x1, 16->32", "pointwise_conv")
def _pointwise(t: Inputs) -> Case:
    w = t.weights(32, 16)
    return Case(lambda: cc.pointwise_conv(t.feat, w),
                _cost_or_none("pointwise_conv", t.feat.shape, w.shape), _n(w))


@row("depthwise_separable_conv2d 3x3 + 1x1, 16->32", "depthwise_separable_conv2d")
def _dws(t: Inputs) -> Case:
    wd, wp = t.weights(16, 1, 3, 3), t.weights(32, 16, 1, 1)
    dense = cc.cost("conv2d", t.feat.shape, (32, 16, 3, 3), padding=1).macs
    return Case(lambda: cc.depthwise_separable_conv2d(t.feat, wd, wp, padding=1,
                                                      mid_activation="relu"),
                _cost_or_none("depthwise_separable_conv2d", t.feat.shape, wd.shape, wp.shape,
                              padding=1), _n(wd, wp), f"dense 3x3: {dense:,} MACs")


@row("spatially_separable_conv2d Gaussian 7x1 then 1x7", "spatially_separable_conv2d")
def _spatial(t: Inputs) -> Case:
    g = _classic("gaussian", 1.5, 7)
    col = g.sum(axis=1)  # a separable kernel's row sums are its column factor
    col = (col / col.sum()).astype(np.float32)
    w_col = np.tile(col.reshape(1, 1, 7, 1), (3, 1, 1, 1))
    w_row = np.tile(col.reshape(1, 1, 1, 7), (3, 1, 1, 1))
    dense = cc.cost("conv2d", t.x.shape, (3, 1, 7, 7), padding=3, groups=3).macs
    return Case(lambda: cc.spatially_separable_conv2d(t.x, w_col, w_row, padding=3, groups=3),
                _cost_or_none("spatially_separable_conv2d", t.x.shape, w_col.shape, w_row.shape,
                              padding=3, groups=3), _n(w_col, w_row),
                f"7x7 in one pass: {dense:,} MACs")


@row("separate_kernel(Sobel): rank-1 pairs (SVD)", "separate_kernel")
def _separate(t: Inputs) -> Case:
    k = _classic("sobel", 1)
    return Case(lambda: cc.separate_kernel(k), None, None, "Sobel is one (col, row) pair")


@row("flattened_conv2d 1x1 -> 3x1 -> 1x3, 3->16", "flattened_conv2d")
def _flattened(t: Inputs) -> Case:
    a, bv, ch = t.weights(16, 3), t.weights(16, 3), t.weights(16, 3)
    return Case(lambda: cc.flattened_conv2d(t.x, a, bv, ch, padding=1),
                _cost_or_none("flattened_conv2d", t.x.shape, a.shape, bv.shape, ch.shape,
                              padding=1), _n(a, bv, ch), "Jin et al. 2014")


@row("channel_shuffle, 4 groups", "channel_shuffle")
def _shuffle(t: Inputs) -> Case:
    return Case(lambda: cc.channel_shuffle(t.feat, 4),
                _cost_or_none("channel_shuffle", t.feat.shape, 4), 0, "a permutation: no MACs")


@row("shuffled_grouped_conv 3x3, groups=4 (ShuffleNet)", "shuffled_grouped_conv")
def _shuffled(t: Inputs) -> Case:
    w = t.weights(16, 4, 3, 3)
    return Case(lambda: cc.shuffled_grouped_conv(t.feat, w, groups=4, padding=1),
                _cost_or_none("shuffled_grouped_conv", t.feat.shape, w.shape, groups=4,
                              padding=1), _n(w), "shuffle folded into the write")


@row("asymmetric_conv2d 3x3 + 1x3 + 3x1 (ACNet)", "asymmetric_conv2d")
def _asym(t: Inputs) -> Case:
    sq, hor, ver = t.weights(16, 3, 3, 3), t.weights(16, 3, 1, 3), t.weights(16, 3, 3, 1)
    return Case(lambda: cc.asymmetric_conv2d(t.x, sq, hor, ver, padding=1),
                _cost_or_none("asymmetric_conv2d", t.x.shape, sq.shape, hor.shape, ver.shape,
                              padding=1), _n(sq, hor, ver), "training-time form")


@row("fuse_asymmetric -> one 3x3 kernel", "fuse_asymmetric")
def _fuse(t: Inputs) -> Case:
    sq, hor, ver = t.weights(16, 3, 3, 3), t.weights(16, 3, 1, 3), t.weights(16, 3, 3, 1)
    return Case(lambda: cc.fuse_asymmetric(sq, hor, ver), None, _n(sq),
                "inference-time form: a plain conv")


@row("inception: 1x1 | 1x1->3x3 | 3x3 dilated 2 (ASPP)", "inception")
def _inception(t: Inputs) -> Case:
    branches = [
        [{"w": t.weights(8, 3, 1, 1), "activation": "relu"}],
        [{"w": t.weights(4, 3, 1, 1), "activation": "relu"},
         {"w": t.weights(8, 4, 3, 3), "padding": 1, "activation": "relu"}],
        [{"w": t.weights(8, 3, 3, 3), "padding": 2, "dilation": 2, "activation": "relu"}],
    ]
    nparams = sum(layer["w"].size for br in branches for layer in br)
    return Case(lambda: cc.inception(t.x, branches),
                _cost_or_none("inception", t.x.shape, branches), nparams,
                "branches concatenated on channels")


@row("squeeze_excitation, 16 channels, r=4 (SENet)", "squeeze_excitation")
def _se(t: Inputs) -> Case:
    w1, b1, w2, b2 = t.weights(4, 16), t.weights(4), t.weights(16, 4), t.weights(16)
    return Case(lambda: cc.squeeze_excitation(t.feat, w1, b1, w2, b2),
                _cost_or_none("squeeze_excitation", t.feat.shape, w1.shape, b1.shape,
                              w2.shape, b2.shape), _n(w1, b1, w2, b2))


@row("deform_conv2d 3x3, learned offsets (DCN)", "deform_conv2d")
def _deform(t: Inputs) -> Case:
    w = t.weights(16, 3, 3, 3)
    h, wd = t.x.shape[2:]
    offset = deform_offsets(h, wd)
    return Case(lambda: cc.deform_conv2d(t.x, offset, w, padding=1),
                _cost_or_none("deform_conv2d", t.x.shape, offset.shape, w.shape, padding=1),
                _n(w), "bilinear sampling at offset taps")


@row("conv_matrix: 3x3 conv on 8x8 as a sparse matrix", "conv_matrix")
def _matrix(t: Inputs) -> Case:
    w = t.weights(1, 1, 3, 3)

    def call() -> Any:
        return cc.conv_matrix((1, 1, 8, 8), w, padding=1)

    m = call()
    return Case(call, None, _n(w),
                f"{m.shape[0]}x{m.shape[1]}, {m.nnz} nonzeros ({m.nnz / math.prod(m.shape):.0%})")


@row("transposed_overlap(3, stride 2): the checkerboard", "transposed_overlap")
def _overlap(t: Inputs) -> Case:
    counts = np.asarray(cc.transposed_overlap(3, 2))
    return Case(lambda: cc.transposed_overlap(3, 2), None, 0,
                f"taps per output: {sorted(set(counts.ravel().tolist()))}")


@row("receptive_field: ResNet stem 7x7/2 + 3x3 pool/2", "receptive_field")
def _rf(t: Inputs) -> Case:
    layers = [((7, 7), 2, 1, 3), ((3, 3), 2, 1, 1)]
    rf = cc.receptive_field(layers)
    return Case(lambda: cc.receptive_field(layers), None, 0,
                f"size {rf.size[0]}, jump {rf.jump[0]}")


def deform_offsets(h: int, w: int, kh: int = 3, kw: int = 3) -> np.ndarray:
    """Smooth, deterministic offsets ``(1, 2*kh*kw, h, w)`` for a 3x3 stride-1 'same'
    deformable conv: the taps swirl around each pixel, more strongly towards the right."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    off = np.zeros((1, 2 * kh * kw, h, w), np.float32)
    strength = 0.5 + 2.5 * xx / max(1, w - 1)
    for i in range(kh):
        for j in range(kw):
            dy, dx = i - kh // 2, j - kw // 2
            k = i * kw + j
            # A rotation of the tap around its centre, plus a gentle wave: (dy, dx) -> (-dx, dy).
            off[0, 2 * k] = (-dx * strength + 0.8 * np.sin(xx / 6)).astype(np.float32)
            off[0, 2 * k + 1] = (dy * strength + 0.8 * np.cos(yy / 6)).astype(np.float32)
    return off


# --------------------------------------------------------------------------------------------
# Classic kernels (convcore.kernels when this build has it)
# --------------------------------------------------------------------------------------------

def _classic(name: str, *args: Any) -> np.ndarray:
    try:
        kernels: Any = importlib.import_module("convcore.kernels")
    except ImportError:
        kernels = None
    if kernels is not None and hasattr(kernels, name):
        k = getattr(kernels, name)
        return np.asarray(k(*args) if callable(k) else k, dtype=np.float64)
    return _FALLBACK[name](*args)


def _gaussian(sigma: float = 1.0, size: Optional[int] = None) -> np.ndarray:
    size = size or 2 * int(math.ceil(3 * sigma)) + 1
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-0.5 * (r / sigma) ** 2)
    k = np.outer(g, g)
    return k / k.sum()


def _sobel(axis: int = 0) -> np.ndarray:
    k = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])  # d/dx (axis 1)
    return k if axis == 1 else k.T


# The textbook 3x3 kernels, used only by builds that predate convcore.kernels.
_FALLBACK: Dict[str, Callable[..., np.ndarray]] = {
    "gaussian": _gaussian,
    "sobel": _sobel,
    "sharpen": lambda: np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float64),
    "emboss": lambda: np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float64),
    "outline": lambda: np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], np.float64),
    "box": lambda size=3: np.full((size, size), 1.0 / (size * size)),
}


# --------------------------------------------------------------------------------------------
# Running and printing
# --------------------------------------------------------------------------------------------

@dataclass
class Result:
    title: str
    available: bool
    shape: str = ""
    params: Optional[int] = None
    macs: Optional[int] = None
    ms: Optional[float] = None
    note: str = ""
    error: str = ""


def inputs(size: int = 128) -> Inputs:
    img = scene(size)
    x = img[None].astype(np.float32)
    gray = luminance(img).astype(np.float32)
    rng = np.random.default_rng(0)
    # A 16-channel feature map at half resolution: what the channel-mixing ops see in a network.
    w = (rng.standard_normal((16, 3, 3, 3)) / 3).astype(np.float32)
    feat = cc.conv2d(x, w, stride=2, padding=1, activation="relu")
    return Inputs(img, x, gray, np.ascontiguousarray(feat), rng)


def _describe(out: Any) -> str:
    if hasattr(out, "shape") and hasattr(out, "nnz"):
        return "x".join(map(str, out.shape)) + " sparse"
    if isinstance(out, (list, tuple)) and not hasattr(out, "shape"):
        return f"{len(out)} pair(s)" if out and isinstance(out[0], tuple) else f"{len(out)} items"
    if hasattr(out, "shape"):
        return str(tuple(int(s) for s in out.shape))
    return type(out).__name__


def _timed(call: Callable[[], Any], repeat: int) -> Tuple[Any, float]:
    out = call()  # warm-up (first-touch allocation, lazy initialisation)
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = call()
        best = min(best, time.perf_counter() - t0)
    return out, best * 1e3


def run_rows(t: Inputs, repeat: int = 3, rows: Sequence[Row] = ()) -> List[Result]:
    results = []
    for r in rows or ROWS:
        missing = [n for n in r.needs if not hasattr(cc, n)]
        if missing:
            results.append(Result(r.title, False, note="not available in this build"))
            continue
        try:
            case = r.make(t)
            out, ms = _timed(case.call, repeat)
        except ImportError as e:  # an optional dependency (SciPy for conv_matrix): say which
            results.append(Result(r.title, False, note=str(e)))
            continue
        except Exception as e:  # one broken op must not hide the rest of the tour
            results.append(Result(r.title, True, error=f"{type(e).__name__}: {e}"))
            continue
        results.append(Result(r.title, True, _describe(out), case.params,
                              case.cost.macs if case.cost is not None else None, ms, case.note))
    return results


def _fmt(v: Optional[int]) -> str:
    return "-" if v is None else f"{v:,}"


def print_table(results: Sequence[Result], stream: TextIO) -> None:
    head = ("operation", "output shape", "params", "MACs", "time ms", "note")
    lines = []
    for r in results:
        if not r.available:
            lines.append((r.title, "-", "-", "-", "-", r.note))
        elif r.error:
            lines.append((r.title, "-", "-", "-", "-", "FAILED " + r.error))
        else:
            lines.append((r.title, r.shape, _fmt(r.params), _fmt(r.macs),
                          f"{r.ms:.3f}" if r.ms is not None else "-", r.note))
    widths = [max(len(head[i]), *(len(ln[i]) for ln in lines)) for i in range(5)]
    align = ["<", "<", ">", ">", ">"]

    def fmt(cols: Sequence[str]) -> str:
        cells = [f"{c:{a}{w}}" for c, a, w in zip(cols[:5], align, widths)]
        return ("  ".join(cells) + "  " + cols[5]).rstrip()

    print(fmt(head), file=stream)
    print("  ".join("-" * w for w in widths) + "  " + "-" * 4, file=stream)
    for ln in lines:
        print(fmt(ln), file=stream)


def print_textbook(stream: TextIO) -> None:
    rows = textbook()
    w0 = max(len(r[0]) for r in rows)
    print("Textbook comparisons", file=stream)
    for what, how, n in rows:
        print(f"  {what:<{w0}}  {n:>7,}   ({how})", file=stream)
    std, dws, one, sep = (r[2] for r in rows[:4])
    print(f"  => depthwise separable needs {std / dws:.1f}x fewer multiplications; "
          f"spatially separable {one / sep:.2f}x fewer on 5x5 (more on bigger images)",
          file=stream)


def tour(out: Optional[str] = None, *, size: int = 128, repeat: int = 3,
         stream: Optional[TextIO] = None) -> Dict[str, Any]:
    """Run the tour: print the textbook comparisons and the table of every variant on the
    built-in picture; with ``out``, also write ``out/gallery.png`` (needs matplotlib).

    Returns ``{"results": [...], "textbook": [...], "gallery": path or None}``.

    >>> import io, convcore.tour as tour
    >>> buf = io.StringIO()
    >>> r = tour.tour(size=32, repeat=1, stream=buf)
    >>> "86,400" in buf.getvalue() and "10,275" in buf.getvalue()
    True
    """
    import sys

    stream = stream or sys.stdout
    info = cc.info()
    facts = [f"{label} {info[key]}" for key, label in
             (("simd", "SIMD"), ("isa", "ISA"), ("openmp", "OpenMP"), ("compiler", "built with"))
             if key in info]
    print(f"convcore {info.get('version', cc.__version__)} tour - " + ", ".join(
        facts + [f"{cc.get_num_threads()} thread(s)"]), file=stream)
    print(f"Input: built-in {size}x{size} RGB scene (sky, sun, mountain, chequered floor, "
          f"strokes)\n", file=stream)
    print_textbook(stream)
    print("", file=stream)
    t = inputs(size)
    results = run_rows(t, repeat=repeat)
    print(f"Every variant on the scene (x: {tuple(t.x.shape)}, features: "
          f"{tuple(t.feat.shape)}; float32; MACs from cc.cost; best of {repeat})", file=stream)
    print_table(results, stream)
    missing = sum(not r.available for r in results)
    if missing:
        print(f"\n{missing} row(s) not available in this build.", file=stream)
    gallery_path = None
    if out is not None:
        try:
            from . import _gallery
        except ImportError:  # matplotlib is an optional extra
            print(f"\nmatplotlib is not installed: no pictures. Get them with:  {VIZ_HINT}",
                  file=stream)
        else:
            os.makedirs(out, exist_ok=True)
            gallery_path = _gallery.draw(t, os.path.join(out, "gallery.png"))
            print(f"\nGallery written to {gallery_path}", file=stream)
    else:
        print("\nPictures: convcore tour --out DIR  (needs matplotlib: " + VIZ_HINT + ")",
              file=stream)
    return {"results": results, "textbook": textbook(), "gallery": gallery_path}
