"""The tour's gallery picture (matplotlib: the optional ``convcore[viz]`` extra).

Importing this module fails with ImportError when matplotlib is absent; the tour catches that
and prints how to install it. Every picture is computed by convcore itself on the tour's scene.
"""
from __future__ import annotations

import math
from typing import Any, Callable, List

import matplotlib

matplotlib.use("Agg")  # files only: never open a window, work on headless machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import convcore as cc  # noqa: E402

from .tour import Inputs, _classic, deform_offsets, textbook  # noqa: E402


def _per_channel(x: np.ndarray, k: np.ndarray, **kw: Any) -> np.ndarray:
    """Filter each channel of ``x`` (1, C, H, W) with the same 2-D kernel (a depthwise conv)."""
    c = x.shape[1]
    w = np.tile(np.asarray(k, np.float32)[None, None], (c, 1, 1, 1))
    return cc.conv2d(x, w, padding="same", groups=c, flip=True, padding_mode="replicate", **kw)


def _rgb(a: np.ndarray) -> np.ndarray:
    return np.clip(np.moveaxis(np.asarray(a)[0], 0, -1), 0, 1)


def _show(ax: Any, img: np.ndarray, title: str, **kw: Any) -> None:
    ax.imshow(img, interpolation="nearest", **kw)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def _matrix(w: np.ndarray, n: int) -> np.ndarray:
    """The dense matrix of a 'same' conv on an n x n image: conv_matrix when this build has it,
    otherwise built column by column from the conv of unit impulses (the same matrix)."""
    if hasattr(cc, "conv_matrix"):
        try:
            m = cc.conv_matrix((1, 1, n, n), w, padding=1)
            return np.asarray(m.todense() if hasattr(m, "todense") else m)
        except ImportError:  # conv_matrix needs SciPy, which the viz extra does not bring
            pass
    eye = np.eye(n * n, dtype=w.dtype).reshape(n * n, 1, n, n)
    return cc.conv2d(eye, w, padding=1).reshape(n * n, n * n).T


def _overlap(k: int, s: int) -> np.ndarray:
    """Taps reaching each output pixel of a stride-s transposed conv, over a few periods."""
    if hasattr(cc, "transposed_overlap"):
        period = np.asarray(cc.transposed_overlap(k, s), dtype=np.float64)
        if period.ndim == 1:
            period = np.outer(period, period)
        return np.tile(period, (4, 4))[: 2 * s, : 2 * s]
    ones = np.ones((1, 1, 8, 8))
    full = cc.conv_transpose2d(ones, np.ones((1, 1, k, k)), stride=s)[0, 0]
    c0 = k  # skip the ramp at the border: show the periodic interior only
    return full[c0:c0 + 2 * s, c0:c0 + 2 * s]


def _footprint(dilations: List[int], n: int = 19) -> np.ndarray:
    """How many paths lead from each input pixel to the centre output of a stack of 3x3 convs
    (a delta pushed through the stack; the kernel is symmetric, so conv = its adjoint)."""
    d = np.zeros((1, 1, n, n))
    d[0, 0, n // 2, n // 2] = 1.0
    for dil in dilations:
        d = cc.conv2d(d, np.ones((1, 1, 3, 3)), padding="same", dilation=dil)
    return d[0, 0]


def draw(t: Inputs, path: str) -> str:
    x, gray = t.x, t.gray
    g2 = gray[None, None]
    panels: List[Callable[[Any], None]] = []

    def panel(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        panels.append(fn)
        return fn

    @panel
    def _input(ax: Any) -> None:
        _show(ax, _rgb(x), f"input: built-in {x.shape[-1]}x{x.shape[-2]} scene")

    @panel
    def _sobel(ax: Any) -> None:
        gx = cc.convolve(gray, _classic("sobel", 1).astype(np.float32), mode="same",
                         boundary="symm")
        gy = cc.convolve(gray, _classic("sobel", 0).astype(np.float32), mode="same",
                         boundary="symm")
        _show(ax, np.hypot(gx, gy), "Sobel |gradient|", cmap="magma")

    @panel
    def _blur(ax: Any) -> None:
        _show(ax, _rgb(_per_channel(x, _classic("gaussian", 2.0, 13))), "Gaussian blur, sigma 2")

    @panel
    def _sharpen(ax: Any) -> None:
        _show(ax, _rgb(_per_channel(x, _classic("sharpen"))), "sharpen")

    @panel
    def _emboss(ax: Any) -> None:
        e = cc.convolve(gray, _classic("emboss").astype(np.float32), mode="same", boundary="symm")
        _show(ax, np.clip(e, 0, 1), "emboss", cmap="gray")

    @panel
    def _outline(ax: Any) -> None:
        o = cc.convolve(gray, _classic("outline").astype(np.float32), mode="same",
                        boundary="symm")
        _show(ax, np.clip(np.abs(o) * 0.8, 0, 1) ** 0.7, "outline (Laplacian)", cmap="bone")

    @panel
    def _features(ax: Any) -> None:
        # A bank of 8 oriented edge detectors, cos(a) Sx + sin(a) Sy, fused with ReLU: what the
        # first layer of a CNN learns. Colour: the strongest orientation; brightness: its
        # response.
        from matplotlib.colors import hsv_to_rgb

        sx, sy = _classic("sobel", 1), _classic("sobel", 0)
        angles = np.arange(8) * np.pi / 4
        w = np.stack([np.cos(a) * sx + np.sin(a) * sy for a in angles])[:, None]
        f = cc.conv2d(g2, w.astype(np.float32), padding=1, activation="relu", flip=True)[0]
        best = f.argmax(axis=0)
        mag = np.clip(f.max(axis=0) / max(1e-6, float(np.percentile(f.max(axis=0), 99))), 0, 1)
        hsv = np.stack([best / 8.0, np.full_like(mag, 0.85), mag ** 0.7], axis=-1)
        _show(ax, hsv_to_rgb(hsv), "conv2d 1->8 oriented edges + ReLU\n(colour: orientation)")

    @panel
    def _separable(ax: Any) -> None:
        k = _classic("gaussian", 3.0, 19)
        col = (k.sum(axis=1) / k.sum()).astype(np.float32)
        if hasattr(cc, "spatially_separable_conv2d"):
            y = cc.spatially_separable_conv2d(
                x, np.tile(col.reshape(1, 1, -1, 1), (3, 1, 1, 1)),
                np.tile(col.reshape(1, 1, 1, -1), (3, 1, 1, 1)), padding=9, groups=3)
            title = "spatially separable 19x1 then 1x19"
        else:
            y = _per_channel(_per_channel(x, col[:, None]), col[None, :])
            title = "separable blur: 19x1 then 1x19"
        one = cc.cost("conv2d", x.shape, (3, 1, 19, 19), padding=9, groups=3).macs
        two = 2 * cc.cost("conv2d", x.shape, (3, 1, 19, 1), padding=(9, 0), groups=3).macs
        _show(ax, _rgb(y), f"{title}\n{two:,} vs {one:,} MACs")

    @panel
    def _upsample(ax: Any) -> None:
        # Nearest-free upsampling by a 3x3 transposed conv at stride 2: the uneven overlap of
        # the kernel footprints paints a checkerboard over the picture.
        crop = x[:, :, : x.shape[2] // 2, : x.shape[3] // 2]
        c = crop.shape[1]
        w = np.zeros((c, 1, 3, 3), np.float32) + 1.0 / 2.25
        up = cc.conv_transpose2d(crop, w, stride=2, padding=1, output_padding=1, groups=c)
        _show(ax, _rgb(up), "conv_transpose 3x3 stride 2:\nthe checkerboard")

    @panel
    def _overlaps(ax: Any) -> None:
        a, b = _overlap(3, 2), _overlap(4, 2)
        gap = np.full((a.shape[0], 1), np.nan)
        both = np.concatenate([a, gap, b], axis=1)
        _show(ax, both, "taps per output, stride 2:\n3x3 (uneven) | 4x4 (even)",
              cmap="viridis", vmin=0, vmax=float(np.nanmax(both)))
        for (i, j), v in np.ndenumerate(both):
            if not np.isnan(v):
                ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=8,
                        color="k" if v > 0.6 * np.nanmax(both) else "w")

    @panel
    def _spy(ax: Any) -> None:
        w = np.ones((1, 1, 3, 3))
        m = _matrix(w, 6)
        ax.spy(m, markersize=2.2, color="#1f4e79")
        ax.set_title(f"conv_matrix, 3x3 on 6x6:\n{m.shape[0]}x{m.shape[1]}, "
                     f"{int((m != 0).sum())}/{m.size} nonzero", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])

    def _rf(ax: Any, dilations: List[int], title: str) -> None:
        fp = _footprint(dilations)
        _show(ax, np.log1p(fp), title, cmap="cividis")
        n = fp.shape[0]
        reach = 0
        for li, dil in enumerate(dilations):
            reach += dil
            size = 2 * reach + 1
            ax.add_patch(Rectangle((n // 2 - reach - 0.5, n // 2 - reach - 0.5), size, size,
                                   fill=False, lw=1.2, ec=("w", "#ffb000", "#ff4040")[li % 3]))
        rf = cc.receptive_field([(3, 1, d) for d in dilations]).size
        ax.set_xlabel(f"receptive field {rf}x{rf}; boxes: layers 1-3", fontsize=8)

    @panel
    def _rf_stacked(ax: Any) -> None:
        _rf(ax, [1, 1, 1], "three stacked 3x3 convs")

    @panel
    def _rf_dilated(ax: Any) -> None:
        _rf(ax, [1, 2, 4], "3x3 convs dilated 1, 2, 4")

    @panel
    def _costs(ax: Any) -> None:
        tb = textbook()
        std, dws, one, sep = (r[2] for r in tb[:4])
        big = cc.cost("conv2d", (1, 1, 128, 128), (1, 1, 19, 19), padding=9).macs
        big_sep = 2 * cc.cost("conv2d", (1, 1, 128, 128), (1, 1, 19, 1), padding=(9, 0)).macs
        labels = ["standard conv\n7x7x3 -> 128", "depthwise\nseparable",
                  "3x3 on 5x5", "3x1 then 1x3", "19x19 on 128x128", "19x1 then 1x19"]
        values = [std, dws, one, sep, big, big_sep]
        rel = [1.0, dws / std, 1.0, sep / one, 1.0, big_sep / big]
        colours = ["#9aa5b1", "#2a9d8f"] * 3
        pos = [0, 1, 2.6, 3.6, 5.2, 6.2]
        ax.barh(pos, rel, color=colours, height=0.8)
        for p_, r_, v_ in zip(pos, rel, values):
            ax.text(min(r_, 0.97) + 0.02 if r_ < 0.6 else r_ - 0.02, p_, f"{v_:,}",
                    va="center", ha="left" if r_ < 0.6 else "right", fontsize=8)
        ax.set_yticks(pos)
        ax.set_yticklabels(labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.05)
        ax.set_xticks([0, 0.5, 1])
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title("multiplications (cc.cost),\nrelative to the one-step conv", fontsize=10)

    if hasattr(cc, "deform_conv2d"):
        @panel
        def _deform(ax: Any) -> None:
            h, w = x.shape[2:]
            off = deform_offsets(h, w)
            kern = np.zeros((3, 1, 3, 3), np.float32) + 1.0 / 9
            y = cc.deform_conv2d(x, off, kern, padding=1)
            # Zoom on a 24x24 window (the sun's rim): at full size the taps are invisible.
            r = max(3, min(12, h // 5))
            cy = min(max(int(0.30 * h), r), h - r)
            cx = min(max(int(0.62 * w), r), w - r)
            crop = _rgb(y)[cy - r:cy + r, cx - r:cx + r]
            _show(ax, crop, "deform_conv2d (zoom): red taps\n= white grid + offsets")
            for py, px in ((cy - r // 2, cx - r // 2), (cy + r // 2, cx + r // 3)):
                for i in range(3):
                    for j in range(3):
                        k = i * 3 + j
                        ry, rx = py + i - 1 - (cy - r), px + j - 1 - (cx - r)
                        dy, dx = off[0, 2 * k, py, px], off[0, 2 * k + 1, py, px]
                        ax.annotate("", xy=(rx + dx, ry + dy), xytext=(rx, ry),
                                    arrowprops=dict(arrowstyle="->", color="#ffe0e0", lw=0.8))
                        ax.plot(rx, ry, "o", ms=4, color="w", mec="k", mew=0.5)
                        ax.plot(rx + dx, ry + dy, "o", ms=4.5, color="#ff3030", mec="k",
                                mew=0.5)

    cols = 5
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.1 * cols, 3.3 * nrows))
    for ax, fn in zip(axes.ravel(), panels):
        fn(ax)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.suptitle("convcore tour: every picture computed by convcore on the built-in scene",
                 fontsize=13)
    fig.tight_layout(h_pad=1.2)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path

