"""A picture of the blocking: the input chunks of a 2-D Dask image and, for some output blocks,
the input window each one reads (its halo, and the padding at the true edges), taken from the
same plans the Dask backend runs."""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple


def _windows(x: Any, w: Any, **conv_kwargs: Any) -> Tuple[list, list, Any]:
    """(per-axis plans, per-axis input chunks, spec) of conv2d(x, w, **conv_kwargs)."""
    from .. import _args, _core
    from . import _ops, _plan

    opts = _args.conv_options(2, **conv_kwargs)
    spec = _core.conv_spec(x.shape, w.shape, opts)
    mode = ("zeros", "reflect", "replicate", "circular", "symmetric")[spec.padding_mode_id]
    plans = []
    for i, a in enumerate((2, 3)):
        g = _ops.Axis.of(spec, i)
        plans.append(_plan.forward_axis(g.n, g.m, g.k, g.stride, g.dilation, g.pad, mode,
                                        x.chunks[a]))
    return plans, [x.chunks[2], x.chunks[3]], spec


def draw_halos(x: Any, w: Any, path: Optional[str] = None,
               blocks: Sequence[Tuple[int, int]] = ((0, 0), (1, 1)), **conv_kwargs: Any) -> Any:
    """Draw how ``convcore.conv2d(x, w, **conv_kwargs)`` blocks a 2-D Dask x (N, C, H, W): the
    input chunk grid (grey), and for each output block in ``blocks`` the input window it reads
    (coloured; hatched where it lies in the padding) with the output block's own extent mapped
    back to input coordinates (dashed). Saves to ``path`` when given; returns the figure.
    Needs matplotlib (the ``viz`` extra).

    >>> import numpy as np, dask.array as da, convcore.dask as cd
    >>> x = da.zeros((1, 1, 20, 20), chunks=(1, 1, 7, 6), dtype="f4")
    >>> fig = cd.draw_halos(x, np.ones((1, 1, 5, 5), "f4"), stride=2, padding=2)
    >>> len(fig.axes)
    1
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    plans, chunks, spec = _windows(x, w, **conv_kwargs)
    H, W = x.shape[2], x.shape[3]
    fig, ax = plt.subplots(figsize=(6.4, 6.4 * H / max(W, 1) + 0.6))
    ax.add_patch(Rectangle((0, 0), W, H, fill=False, lw=1.5, color="black"))
    for axis, cs in enumerate(chunks):
        pos = 0
        for c in cs[:-1]:
            pos += c
            if axis == 0:
                ax.axhline(pos, color="0.6", lw=0.8)
            else:
                ax.axvline(pos, color="0.6", lw=0.8)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    s, p = spec.stride, spec.pad_lo
    for n, (bi, bj) in enumerate(blocks):
        if bi >= len(plans[0]) or bj >= len(plans[1]):
            continue
        col = colours[n % len(colours)]
        rows, cols = plans[0][bi], plans[1][bj]
        from .. import _core

        (r0, r1), (c0, c1) = (_core.conv_block_input(b.start, b.start + b.size, k, st, d, pl)
                              for b, k, st, d, pl in ((rows, spec.kernel[0], s[0],
                                                      spec.dilation[0], p[0]),
                                                     (cols, spec.kernel[1], s[1],
                                                      spec.dilation[1], p[1])))
        ax.add_patch(Rectangle((c0, r0), c1 - c0, r1 - r0, color=col, alpha=0.25, lw=0))
        ax.add_patch(Rectangle((c0, r0), c1 - c0, r1 - r0, fill=False, color=col, lw=2,
                               label=f"output block ({bi}, {bj}): {rows.size} x {cols.size} "
                                     f"outputs read rows [{r0}, {r1}) cols [{c0}, {c1})"))
        # the outputs' own positions (stride-aligned starts), mapped back to input coordinates
        ax.add_patch(Rectangle((cols.start * s[1], rows.start * s[0]), cols.size * s[1],
                               rows.size * s[0], fill=False, color=col, lw=1.2, ls="--"))
        for (y0, y1, x0, x1) in ((r0, min(r1, 0), c0, c1), (max(r0, H), r1, c0, c1),
                                 (r0, r1, c0, min(c1, 0)), (r0, r1, max(c0, W), c1)):
            if y1 > y0 and x1 > x0:
                ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor="none",
                                       edgecolor=col, hatch="//", lw=0))
    pad = max(max(p), max(spec.pad_hi)) + 1
    ax.set_xlim(-pad, W + pad)
    ax.set_ylim(H + pad, -pad)
    ax.set_aspect("equal")
    k = spec.kernel
    ax.set_title(f"conv2d on a {H}x{W} Dask image, chunks {tuple(chunks[0])} x {tuple(chunks[1])}\n"
                 f"kernel {k[0]}x{k[1]}, stride {tuple(s)}, dilation {tuple(spec.dilation)}, "
                 f"padding {tuple(p)}/{tuple(spec.pad_hi)} ({spec.padding_mode})", fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.04), fontsize=7, frameon=False)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
