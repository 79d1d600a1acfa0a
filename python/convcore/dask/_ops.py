"""Each public op on a Dask ``x``, described once: where its batch, channel and spatial axes
are, which core spec gives each spatial axis's geometry, and how a block's local padding is
handed to the op. One generic mechanism (convcore.dask._graph) builds every op's graph."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import _args, _backend, _core
from . import _graph, _plan

_OPT_FIELDS = ("stride", "dilation", "pad_lo", "pad_hi", "output_padding", "pad_same", "groups",
               "fill", "flip", "channels_last", "padding_mode")


def opts_to_dict(o: Any) -> Dict[str, Any]:
    """A ConvOptions as a plain dict (tasks must pickle to reach other processes)."""
    d = {f: getattr(o, f) for f in _OPT_FIELDS}
    d["activation"] = _args.ACTIVATIONS[o.activation]
    return d


def opts_from_dict(d: Dict[str, Any]) -> Any:
    o = _core.ConvOptions()
    for f, v in d.items():
        setattr(o, f, v)
    return o


@dataclass
class Axis:
    """The geometry of one spatial axis, read off a core spec (index ``i`` of its user dims)."""
    n: int
    m: int
    k: int
    stride: int
    dilation: int
    pad: Tuple[int, int]

    @classmethod
    def of(cls, spec: Any, i: int, m: Optional[int] = None) -> "Axis":
        return cls(spec.in_size[i], spec.out_size[i] if m is None else m, spec.kernel[i],
                   spec.stride[i], spec.dilation[i], (spec.pad_lo[i], spec.pad_hi[i]))


def _dask_arrays(args: Sequence[Any]) -> List[int]:
    return [i for i, a in enumerate(args) if _args.is_dask(a)]


def _probe_array(x: Any, shape: Sequence[int]) -> Any:
    """An array of ``shape`` of x's dtype and array type (NumPy or CuPy, from x's meta)."""
    return _graph.array_module(x._meta).zeros(tuple(shape), dtype=x.dtype)


def _meta(x: Any, ndim: int, dtype: Any) -> Any:
    from dask.array.utils import meta_from_array

    return meta_from_array(x._meta, ndim=ndim, dtype=dtype)


def _run(window: Any, pads: tuple, extras: tuple, *consts: Any, op: str, template: list,
         x_index: int, const_pos: Sequence[int], opts_index: Optional[int], opts: Any,
         spatial: Sequence[int], transposed: bool, extents: Sequence[int],
         strides: Sequence[int], aligned_pos: Sequence[int] = (),
         channel: Optional[int] = None, groups_pos: Optional[int] = None) -> Any:
    """One block: the op's own call on the gathered window, with the block's local padding
    (and, on a channel block of whole groups, that block's group count)."""
    args = list(template)
    n_const = len(const_pos)
    for p, c in zip(const_pos, consts[:n_const]):
        args[p] = c
    for p, c in zip(aligned_pos, consts[n_const:]):
        args[p] = c
    groups = None
    if channel is not None and extras[channel]:
        groups = extras[channel][1] - extras[channel][0]
        if groups_pos is not None:
            args[groups_pos] = groups
    if opts_index is not None:
        o = dict(opts)
        o["pad_same"] = False
        if groups is not None and groups_pos is None:
            o["groups"] = groups
        if transposed:
            lo, hi, op_ = [], [], []
            shape = list(window.shape)
            empty = any(shape[a] == 0 for a in spatial)
            for a, ext, s in zip(spatial, extents, strides):
                before, after = extras[a][0], extras[a][1]
                if empty:  # no input reaches the block: act(bias) everywhere, from zeros
                    size = extras[a][2]
                    shape[a] = -(-size // s) + 1
                    before, after = 0, (shape[a] - 1) * s + ext - size
                lo.append(before)
                hi.append(max(after, 0))
                op_.append(max(-after, 0))
            if empty:
                window = _graph.array_module(window).zeros(tuple(shape), dtype=window.dtype)
            o.update(pad_lo=lo, pad_hi=hi, output_padding=op_)
        else:
            o.update(pad_lo=[pads[a][0] for a in spatial], pad_hi=[pads[a][1] for a in spatial])
        args[opts_index] = opts_from_dict(o)
    args[x_index] = window
    return _backend.call(op, *args)


@dataclass
class Layout:
    """Where x's axes are: batch axis (or None), channel axis (or None), spatial axes."""
    batch: Optional[int]
    channel: Optional[int]
    spatial: List[int]


def layout(ndim: int, channels_last: bool, batched: bool = True) -> Layout:
    if not batched:
        return Layout(None, None, list(range(ndim)))
    if channels_last:
        return Layout(0, ndim - 1, list(range(1, ndim - 1)))
    return Layout(0, 1, list(range(2, ndim)))


@dataclass
class Groups:
    """A grouped op's channel structure: ``groups`` groups of ``c_in // groups`` input and
    ``c_out // groups`` output channels; which arguments hold per-output-channel rows (w,
    bias) and which per-input-channel rows (a transposed conv's w); where the group count
    goes (None: the options' ``groups``; an index: that positional argument; ``implied``:
    nowhere, the op infers it, as depthwise_conv2d)."""
    groups: int
    c_in: int
    c_out: int
    out_rows: Sequence[int]
    in_rows: Sequence[int] = ()
    groups_pos: Optional[int] = None
    implied: bool = False


def _channel_plan(chunks: Sequence[int], g: Optional[Groups]) -> Optional[List[Any]]:
    """Output channel blocks for input channel chunks that each hold whole groups (chunk j's
    groups [g0, g1) give output channels [g0, g1) * c_out / groups; ``Block.extra`` =
    (g0, g1)), or None when a chunk boundary splits a group."""
    if g is None or g.groups <= 1 or len(chunks) <= 1:
        return None
    cin_g, cout_g = g.c_in // g.groups, g.c_out // g.groups
    out, c0 = [], 0
    for j, c in enumerate(chunks):
        if c % cin_g or c0 % cin_g:
            return None
        g0, g1 = c0 // cin_g, (c0 + c) // cin_g
        out.append(_plan.Block(g0 * cout_g, (g1 - g0) * cout_g, [_plan.Piece(j, 0, c)],
                               extra=(g0, g1)))
        c0 += c
    return out


def blocked(op: str, args: Sequence[Any], *, x_index: int = 0, lay: Layout,
            geometry: Optional[Sequence[Axis]], mode_id: int = 0,
            opts_index: Optional[int] = None, transposed: bool = False,
            whole_spatial: bool = False, aligned_index: Sequence[int] = (),
            probe: Optional[Any] = None, groups: Optional[Groups] = None) -> Any:
    """The generic blocked op: x's batch chunks map one to one, its channel axis is one chunk
    (or, for a grouped op, chunks of whole groups: each block then runs those groups alone),
    each spatial axis is planned from ``geometry`` (None: the axis maps one to one, no halo)."""
    import dask.array as da
    from dask.base import tokenize

    x = args[x_index]
    channel_plan = None
    if lay.channel is not None and len(x.chunks[lay.channel]) > 1:
        channel_plan = _channel_plan(x.chunks[lay.channel], groups)
        if channel_plan is None:
            # an output channel reads every channel of its group: chunks that split a group
            # (or an op that mixes all channels) make the channel axis one chunk
            x = x.rechunk({lay.channel: -1})
    plans: List[Any] = [None] * x.ndim
    if lay.batch is not None:
        plans[lay.batch] = _plan.pass_through(x.chunks[lay.batch])
    if lay.channel is not None:
        c_out = probe.shape[lay.channel]
        plans[lay.channel] = channel_plan or \
            [_plan.Block(0, c_out, [_plan.Piece(0, 0, x.shape[lay.channel])])]
    mode = "zeros" if mode_id == 0 else ("reflect", "replicate", "circular", "symmetric")[mode_id - 1]
    for i, a in enumerate(lay.spatial):
        chunks = x.chunks[a]
        if geometry is None:
            plans[a] = _plan.pass_through(chunks)
            continue
        g = geometry[i]
        if whole_spatial:
            plans[a] = _plan.whole_axis(g.n, g.m, g.pad, chunks)
        elif transposed:
            plans[a] = _plan.transpose_axis(g.n, g.m, g.k, g.stride, g.dilation, g.pad[0], chunks)
            plans[a] = [_plan.Block(b.start, b.size, b.pieces, b.pad, b.extra + (b.size,))
                        for b in plans[a]]
        else:
            plans[a] = _plan.forward_axis(g.n, g.m, g.k, g.stride, g.dilation, g.pad, mode, chunks)
    out_ndim = probe.ndim
    meta = _meta(x, out_ndim, probe.dtype)
    if any(len(p) == 0 for p in plans):  # an empty output: nothing to read or compute
        shape = tuple(sum(b.size for b in p) for p in plans)
        return da.from_array(_probe_array(x, shape).astype(probe.dtype), chunks=-1, meta=meta)
    template = list(args)
    const_pos = [i for i, a in enumerate(args)
                 if i != x_index and i not in aligned_index and a is not None and
                 hasattr(a, "shape") and hasattr(a, "dtype")]
    for i in const_pos:
        template[i] = None
    opts = None
    if opts_index is not None:
        opts = opts_to_dict(args[opts_index])
        template[opts_index] = None
    aligned = []
    for i in aligned_index:
        template[i] = None
        if args[i] is not None:
            aligned.append(args[i])
    aligned_pos = [i for i in aligned_index if args[i] is not None]
    geo = geometry or []
    extents = [g.dilation * (g.k - 1) + 1 for g in geo]
    strides = [g.stride for g in geo]
    split = channel_plan is not None and not groups.implied
    fn = _Partial(op=op, template=template, x_index=x_index, const_pos=const_pos,
                  opts_index=opts_index, opts=opts, spatial=lay.spatial, transposed=transposed,
                  extents=extents, strides=strides, aligned_pos=aligned_pos,
                  channel=lay.channel if split else None,
                  groups_pos=groups.groups_pos if split else None)
    consts: List[Any] = [args[i] for i in const_pos]
    if channel_plan is not None:
        # each channel block gets its own groups' rows of w (and bias), in the graph once
        cin_g, cout_g = groups.c_in // groups.groups, groups.c_out // groups.groups
        for n, i in enumerate(const_pos):
            per = cout_g if i in groups.out_rows else (cin_g if i in groups.in_rows else 0)
            if per:
                consts[n] = _graph.PerBlock([args[i][b.extra[0] * per:b.extra[1] * per]
                                             for b in channel_plan])
    name = f"convcore-{op}-" + tokenize(x.name, op, [repr(t) for t in template], opts,
                                        *[args[i] for i in const_pos],
                                        *[a.name for a in aligned], mode,
                                        x.chunks[lay.channel] if channel_plan else None)
    if aligned:
        out_chunks = tuple(tuple(b.size for b in p) for p in plans)
        aligned = [arr.rechunk(tuple(out_chunks[a] if a != lay.channel else -1
                                     for a in range(arr.ndim))) for arr in aligned]
    return _graph.build(name, x, plans, fn, meta, consts=consts, aligned=aligned,
                        aligned_axes=[lay.channel] if lay.channel is not None else None,
                        channel_axis=lay.channel)


class _Partial:
    """``_run`` with the op's static arguments bound (a plain class: it pickles by value)."""

    def __init__(self, **kw: Any):
        self.kw = kw

    def __call__(self, window: Any, pads: tuple, extras: tuple, *rest: Any) -> Any:
        return _run(window, pads, extras, *rest, **self.kw)


# --------------------------------------------------------------------------- per-op descriptions

def _probe(op: str, args: Sequence[Any], x_index: int = 0, extra: Sequence[int] = ()) -> Any:
    """The op run on an empty batch of x's shape: validates every argument against the true
    geometry (the core's own checks and messages) and gives the output's shape and dtype,
    computing nothing."""
    a = list(args)
    for i in (x_index, *extra):
        if a[i] is not None:
            a[i] = _probe_array(a[i], (0,) + tuple(a[i].shape[1:]))
    return _backend.call(op, *a)


def _bias_len(b: Any) -> int:
    return -1 if b is None else int(b.shape[0])


def _no_out(out: Any) -> None:
    if out is not None:
        raise TypeError("out must be None when x is a Dask array (the result is a lazy Dask "
                        "array; store it with .compute(), .store() or .to_zarr())")


def conv(x: Any, w: Any, bias: Any, out: Any, opts: Any, algorithm: str = "auto") -> Any:
    _no_out(out)
    args = [x, w, bias, None, opts, algorithm]
    probe = _probe("conv", args)
    spec = _core.conv_spec(x.shape, w.shape, opts, _bias_len(bias))
    return blocked("conv", args, lay=layout(x.ndim, opts.channels_last),
                   geometry=[Axis.of(spec, i) for i in range(spec.nd)],
                   mode_id=spec.padding_mode_id, opts_index=4, probe=probe,
                   groups=Groups(spec.groups, spec.C_in, spec.C_out, out_rows=(1, 2)))


def conv_transpose(x: Any, w: Any, bias: Any, out: Any, opts: Any, algorithm: str = "auto") -> Any:
    _no_out(out)
    args = [x, w, bias, None, opts, algorithm]
    probe = _probe("conv_transpose", args)
    spec = _core.conv_spec(x.shape, w.shape, opts, _bias_len(bias), True)
    lay = layout(x.ndim, opts.channels_last)
    # the spec is the adjoint conv's (its input is this op's output): sizes from x and the
    # probe. Stride and dilation are the options' own, which every block's call runs with:
    # the spec clamps the inert ones (stride along an axis where x has one position, dilation
    # of a 1-tap kernel), and a block reading no input builds its zero window from the stride
    geo = [Axis(x.shape[a], probe.shape[a], spec.kernel[i], opts.stride[i], opts.dilation[i],
                (spec.pad_lo[i], spec.pad_hi[i])) for i, a in enumerate(lay.spatial)]
    return blocked("conv_transpose", args, lay=lay, geometry=geo, opts_index=4, transposed=True,
                   probe=probe, groups=Groups(opts.groups, x.shape[lay.channel],
                                              probe.shape[lay.channel], out_rows=(2,),
                                              in_rows=(1,)))


def depthwise_conv2d(x: Any, w: Any, bias: Any, opts: Any) -> Any:
    args = [x, w, bias, opts]
    probe = _probe("depthwise_conv2d", args)
    spec = _core.depthwise_spec(x.shape, w.shape, opts, _bias_len(bias))
    return blocked("depthwise_conv2d", args, lay=layout(x.ndim, opts.channels_last),
                   geometry=[Axis.of(spec, i) for i in range(2)],
                   mode_id=spec.padding_mode_id, opts_index=3, probe=probe,
                   groups=Groups(spec.C_in, spec.C_in, spec.C_out, out_rows=(1, 2),
                                 implied=True))


def pointwise_conv(x: Any, w: Any, bias: Any, groups: int, channels_last: bool,
                   activation: Any) -> Any:
    args = [x, w, bias, groups, channels_last, activation]
    probe = _probe("pointwise_conv", args)
    lay = layout(x.ndim, channels_last)
    return blocked("pointwise_conv", args, lay=lay, geometry=None, probe=probe,
                   groups=Groups(groups, x.shape[lay.channel], probe.shape[lay.channel],
                                 out_rows=(1, 2), groups_pos=3))


def depthwise_separable_conv2d(x: Any, wd: Any, wp: Any, bd: Any, bp: Any, opts: Any,
                               mid: Any) -> Any:
    args = [x, wd, wp, bd, bp, opts, mid]
    probe = _probe("depthwise_separable_conv2d", args)
    dw = _core.depthwise_separable_spec(x.shape, wd.shape, wp.shape, opts, _bias_len(bd),
                                        _bias_len(bp))[0]
    return blocked("depthwise_separable_conv2d", args, lay=layout(x.ndim, opts.channels_last),
                   geometry=[Axis.of(dw, i) for i in range(2)], mode_id=dw.padding_mode_id,
                   opts_index=5, probe=probe)


def spatially_separable_conv2d(x: Any, wc: Any, wr: Any, bias: Any, opts: Any) -> Any:
    args = [x, wc, wr, bias, opts]
    probe = _probe("spatially_separable_conv2d", args)
    col, row = _core.spatially_separable_spec(x.shape, wc.shape, wr.shape, opts, _bias_len(bias))
    # the column pass sets the vertical geometry, the row pass the horizontal
    return blocked("spatially_separable_conv2d", args, lay=layout(x.ndim, opts.channels_last),
                   geometry=[Axis.of(col, 0), Axis.of(row, 1)], mode_id=col.padding_mode_id,
                   opts_index=4, probe=probe)


def flattened_conv2d(x: Any, wc: Any, wv: Any, wh: Any, bias: Any, opts: Any) -> Any:
    args = [x, wc, wv, wh, bias, opts]
    probe = _probe("flattened_conv2d", args)
    _, v, h = _core.flattened_spec(x.shape, wc.shape, wv.shape, wh.shape, opts, _bias_len(bias))
    return blocked("flattened_conv2d", args, lay=layout(x.ndim, False),
                   geometry=[Axis.of(v, 0), Axis.of(h, 1)], mode_id=v.padding_mode_id,
                   opts_index=5, probe=probe)


def asymmetric_conv2d(x: Any, wsq: Any, wh: Any, wv: Any, bias: Any, opts: Any,
                      algorithm: str = "auto") -> Any:
    args = [x, wsq, wh, wv, bias, opts, algorithm]
    probe = _probe("asymmetric_conv2d", args)
    spec = _core.asymmetric_spec(x.shape, wsq.shape, wh.shape, wv.shape, opts, _bias_len(bias))
    return blocked("asymmetric_conv2d", args, lay=layout(x.ndim, opts.channels_last),
                   geometry=[Axis.of(spec, i) for i in range(2)],
                   mode_id=spec.padding_mode_id, opts_index=5, probe=probe)


def shuffled_grouped_conv(x: Any, w: Any, bias: Any, opts: Any, algorithm: str = "auto") -> Any:
    args = [x, w, bias, opts, algorithm]
    probe = _probe("shuffled_grouped_conv", args)
    spec = _core.shuffled_grouped_conv_spec(x.shape, w.shape, opts, _bias_len(bias))
    return blocked("shuffled_grouped_conv", args, lay=layout(x.ndim, False),
                   geometry=[Axis.of(spec, i) for i in range(spec.nd)],
                   mode_id=spec.padding_mode_id, opts_index=3, probe=probe)


def channel_shuffle(x: Any, groups: int, channels_last: bool = False) -> Any:
    args = [x, groups, channels_last]
    probe = _probe("channel_shuffle", args)
    return blocked("channel_shuffle", args, lay=layout(x.ndim, channels_last), geometry=None,
                   probe=probe)


def quantized_conv(x: Any, xs: Any, xz: Any, w: Any, ws: Any, wz: Any, ys: Any, yz: Any,
                   signed: bool, bias: Any, opts: Any) -> Any:
    args = [x, xs, xz, w, ws, wz, ys, yz, signed, bias, opts]
    probe = _probe("quantized_conv", args)
    spec = _core.conv_spec(x.shape, w.shape, opts, _bias_len(bias))
    return blocked("quantized_conv", args, lay=layout(x.ndim, opts.channels_last),
                   geometry=[Axis.of(spec, i) for i in range(2)], opts_index=10, probe=probe)


def deform_conv2d(x: Any, offset: Any, w: Any, bias: Any, mask: Any, opts: Any,
                  algorithm: str = "auto", max_offset: Optional[float] = None) -> Any:
    """Without ``max_offset`` the spatial axes of x (and of offset, mask) are rechunked to one
    chunk: an offset may point anywhere in the image, so no halo short of the whole image is
    exact. With it, they keep their chunks and each block reads a halo widened by the bound
    (:func:`_deform_halo`). Batch chunks map one to one."""
    import dask.array as da

    # offset and mask are chunked with the output; NumPy / CuPy ones are wrapped as one chunk
    x, offset, mask = (a if a is None or _args.is_dask(a) else da.from_array(a, chunks=-1)
                       for a in (x, offset, mask))
    args = [x, offset, w, bias, mask, opts, algorithm]
    probe = _probe("deform_conv2d", args, extra=(1, 4))
    lay = layout(x.ndim, opts.channels_last)
    if max_offset is not None:
        return _deform_halo(args, lay, probe, max_offset)
    x = x.rechunk({a: -1 for a in lay.spatial})
    args[0] = x
    offset = offset.rechunk({0: x.chunks[0]})
    args[1] = offset
    if mask is not None:
        args[4] = mask.rechunk({0: x.chunks[0]})
    geo = [Axis(x.shape[a], probe.shape[a], 1, 1, 1, (0, 0)) for a in lay.spatial]
    return blocked("deform_conv2d", args, lay=lay, geometry=geo, whole_spatial=True,
                   aligned_index=(1, 4), probe=probe)


def _deform_halo(args: List[Any], lay: Layout, probe: Any, bound: float) -> Any:
    """deform_conv2d with offsets bounded by ``bound``: a spatial axis is planned as a conv
    whose kernel reaches M = ceil(bound) inputs further on each side, plus one (the
    bilinear sample's second neighbour), so a block's window holds every input its samples
    can read; at the true edges the window stops at the image, whose outside reads as zero
    as in memory."""
    import math

    from dask.base import tokenize

    x, offset, w, bias, mask, opts, algorithm = args
    if len(x.chunks[lay.channel]) > 1:
        x = x.rechunk({lay.channel: -1})
    # deform_conv2d deduces its groups from the shapes (the options say 1)
    gopts = opts_from_dict(dict(opts_to_dict(opts), groups=x.shape[lay.channel] // w.shape[1]))
    spec = _core.conv_spec(x.shape, w.shape, gopts, _bias_len(bias))
    M = int(math.ceil(bound))
    plans: List[Any] = [None] * x.ndim
    plans[lay.batch] = _plan.pass_through(x.chunks[lay.batch])
    plans[lay.channel] = [_plan.Block(0, probe.shape[lay.channel],
                                      [_plan.Piece(0, 0, x.shape[lay.channel])])]
    geo = []
    for i, a in enumerate(lay.spatial):
        # (stride and dilation: the options' own, which the blocks run with; the spec clamps
        # the inert ones, see conv_transpose)
        n, k, s, d, p = (x.shape[a], spec.kernel[i], opts.stride[i], opts.dilation[i],
                         spec.pad_lo[i])
        # a bound beyond the whole axis reaches no further than the whole axis (and keeps
        # the core's 64-bit geometry in range for a bound like 1e30)
        Ma = min(M, n + probe.shape[a] * s + d * (k - 1) + p + 1)
        reach = d * (k - 1) + 2 * Ma + 2  # every input a block's samples can touch
        blocks = _plan.forward_axis(n, probe.shape[a], reach, s, 1, (p + Ma, 0), "zeros",
                                    x.chunks[a], core_pads=False)
        plans[a] = [_plan.Block(b.start, b.size, b.pieces, (0, 0),
                                (b.start, min(max(b.start * s - p - Ma, 0), n)))
                    for b in blocks]
        geo.append((s, d * (k - 1) + 1, p))
    out_chunks = tuple(tuple(b.size for b in pl) for pl in plans)
    aligned = [a.rechunk(tuple(out_chunks[ax] if ax != lay.channel else -1
                               for ax in range(a.ndim))) for a in (offset, mask) if a is not None]
    consts = [c for c in (w, bias) if c is not None]
    fn = _DeformBlock(opts_to_dict(opts), algorithm, lay.spatial, geo, bound,
                      bias is not None, mask is not None)
    name = "convcore-deform_conv2d-" + tokenize(x.name, *consts, opts_to_dict(opts), algorithm,
                                                bound, *[a.name for a in aligned])
    return _graph.build(name, x, plans, fn, _meta(x, probe.ndim, probe.dtype), consts=consts,
                        aligned=aligned, aligned_axes=[lay.channel])


class _DeformBlock:
    """One block of a bounded deform_conv2d. Along each spatial axis the block's outputs
    [a, a + size) read the window that starts at input r0; the op on the window keeps each
    sample's integer position exact by computing q = ceil(delta / s) extra leading outputs
    (delta = a*s - pad - r0) with padding q*s - delta >= 0 and cropping them: output q + j of
    the window is output a + j of the image, tap for tap, offset for offset."""

    def __init__(self, opts: Dict[str, Any], algorithm: str, spatial: Sequence[int],
                 geo: Sequence[tuple], bound: float, has_bias: bool, has_mask: bool):
        self.opts, self.algorithm, self.spatial = opts, algorithm, list(spatial)
        self.geo, self.bound, self.has_bias, self.has_mask = list(geo), bound, has_bias, has_mask

    def __call__(self, window: Any, pads: tuple, extras: tuple, *rest: Any) -> Any:
        from .._deform import check_offset_bound

        rest = list(rest)
        w = rest.pop(0)
        bias = rest.pop(0) if self.has_bias else None
        offset = rest.pop(0)
        mask = rest.pop(0) if self.has_mask else None
        check_offset_bound(offset, self.bound)
        xp = _graph.array_module(offset)
        lo, hi, crop, shape = [], [], [], list(offset.shape)
        for a, (s, ext, p) in zip(self.spatial, self.geo):
            start, r0 = extras[a]
            size, n = offset.shape[a], window.shape[a]
            delta = start * s - p - r0
            q = max(0, -(-delta // s))
            pad = q * s - delta
            lo.append(pad)
            hi.append(max(0, (q + size - 1) * s + ext - n - pad))
            crop.append(slice(q, q + size))
            shape[a] = (n + pad + hi[-1] - ext) // s + 1
        # (a window empty along an axis, a block no input reaches, stays empty: its samples
        # are outside the image there, which is what decides a NaN offset's sample, as in
        # memory; a stand-in row of zeros would put some of them inside)
        idx = [slice(None)] * offset.ndim
        for a, c in zip(self.spatial, crop):
            idx[a] = c
        idx = tuple(idx)

        def grown(v: Any) -> Any:
            big = xp.zeros(tuple(shape[:1] + [v.shape[ax] if ax not in self.spatial else
                                              shape[ax] for ax in range(1, v.ndim)]),
                           dtype=v.dtype)
            big[idx] = v
            return big

        o = dict(self.opts)
        o.update(pad_lo=lo, pad_hi=hi, pad_same=False)
        y = _backend.call("deform_conv2d", window, grown(offset), w, bias,
                          None if mask is None else grown(mask), opts_from_dict(o),
                          self.algorithm)
        return y[idx]


def filter(a: Any, k: Any, mode: str, boundary: str, fillvalue: Any, convolve: bool) -> Any:
    """convolve / correlate (``a`` already in the result dtype, ``fillvalue`` cast to it, by
    convcore._filter): blocks run the in-memory "valid" call on windows padded by the
    assembly (fillvalue) or gathered from the opposite / mirrored edge (wrap, symm)."""
    from .._filter import _reverse_conj, block_filter

    # the geometry only: the fill value itself never reaches the spec (the assembly pads)
    spec = _core.filter_spec(a.shape, k.shape, mode, boundary, 0.0, convolve)
    geo = [Axis.of(spec, i) for i in range(spec.nd)]
    meta = _meta(a, a.ndim, a.dtype)
    data_mode = {0: "zeros", 3: "circular", 4: "symmetric"}[spec.padding_mode_id]
    plans = [_plan.forward_axis(g.n, g.m, g.k, 1, 1, g.pad, "fill" if data_mode == "zeros"
                                else data_mode, a.chunks[i], core_pads=False)
             for i, g in enumerate(geo)]
    from dask.base import tokenize

    name = "convcore-filter-" + tokenize(a.name, k, mode, boundary, fillvalue, convolve)
    if a.dtype in (np.float32, np.float64) and isinstance(a._meta, np.ndarray):
        # what the in-memory "valid" call runs for a float window, without its layers of
        # argument and dtype handling per block: the correlation kernel, made once
        kc = k if convolve else _reverse_conj(k)
        block: Callable[..., Any] = _FloatFilterBlock()
        const = np.ascontiguousarray(kc, dtype=a.dtype)
    else:
        block, const = _FilterBlock(block_filter, convolve), k
    return _graph.build(name, a, plans, block, meta, consts=[const],
                        fill=fillvalue if data_mode == "zeros" else 0)


class _FilterBlock:
    def __init__(self, fn: Callable[..., Any], convolve: bool):
        self.fn, self.convolve = fn, convolve

    def __call__(self, window: Any, pads: tuple, extras: tuple, k: Any) -> Any:
        return self.fn(window, k, self.convolve)


class _FloatFilterBlock:
    """A float32 / float64 NumPy window: the core's "valid" convolution with the correlation
    kernel ``kc`` (already reversed for a correlation and cast to the window's dtype)."""

    def __call__(self, window: Any, pads: tuple, extras: tuple, kc: Any) -> Any:
        return _core.filter(window, kc, "valid", "fill", 0.0, True)


OPS: Dict[str, Callable[..., Any]] = {
    "conv": conv, "conv_transpose": conv_transpose, "filter": filter,
    "depthwise_conv2d": depthwise_conv2d, "pointwise_conv": pointwise_conv,
    "depthwise_separable_conv2d": depthwise_separable_conv2d,
    "spatially_separable_conv2d": spatially_separable_conv2d,
    "flattened_conv2d": flattened_conv2d, "asymmetric_conv2d": asymmetric_conv2d,
    "shuffled_grouped_conv": shuffled_grouped_conv, "channel_shuffle": channel_shuffle,
    "quantized_conv": quantized_conv, "deform_conv2d": deform_conv2d,
}
