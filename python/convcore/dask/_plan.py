"""Per-axis block plans: which output blocks a chunked axis gets, and which input data (chunk
pieces, plus padding) each block reads.

The window of an output block comes from the C++ core (``_core.conv_block_input`` and
``_core.conv_transpose_block_input``, the functions its kernels' index math is built from), so
a block sees exactly what the whole-array op reads for those outputs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Sequence, Tuple

import numpy as np

from .. import _core

# Padding modes the core applies itself when given a block's local pads; every other mode is
# gathered as data (the reflected / replicated / wrapped input) into the block's window.
CONST_MODES = ("zeros", "fill")


@dataclass
class Piece:
    """``chunk[lo:hi]`` of input chunk ``chunk`` along the axis, reversed when ``rev``."""
    chunk: int
    lo: int
    hi: int
    rev: bool = False


@dataclass
class Block:
    """One output block along one axis: ``size`` outputs from the concatenated ``pieces``, with
    ``pad`` = (before, after) constant-padded positions and ``extra`` op-specific values
    (a transposed conv's local cropping)."""
    start: int
    size: int
    pieces: List[Piece]
    pad: Tuple[int, int] = (0, 0)
    extra: Tuple[int, ...] = field(default_factory=tuple)

    @property
    def window(self) -> int:
        return sum(p.hi - p.lo for p in self.pieces)


def _offsets(chunks: Sequence[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)


def _pieces(lo: int, hi: int, chunks: Sequence[int]) -> List[Piece]:
    """The chunk pieces covering input range [lo, hi) (inside the array), in order."""
    off = _offsets(chunks)
    out = []
    for c in range(len(chunks)):
        a, b = max(lo, int(off[c])), min(hi, int(off[c + 1]))
        if a < b:
            out.append(Piece(c, a - int(off[c]), b - int(off[c])))
    # an empty range (a block that reads only padding) still needs one (empty) piece
    return out or [Piece(0, 0, 0)]


MODE_IDS = {"zeros": 0, "reflect": 1, "replicate": 2, "circular": 3, "symmetric": 4}


def source_index(lo: int, hi: int, n: int, mode: str) -> np.ndarray:
    """The input position each padded position in [lo, hi) reads under ``mode``: the core's
    own map (``pad_source_index``, folded repeatedly for a pad longer than the input)."""
    return np.asarray(_core.pad_source_range(lo, hi, n, MODE_IDS[mode]), dtype=np.int64)


def _mapped_pieces(lo: int, hi: int, n: int, mode: str, chunks: Sequence[int]) -> List[Piece]:
    """Pieces for padded range [lo, hi) under a data-reading mode: runs of consecutive source
    positions (ascending or descending), each split on chunk boundaries."""
    src = source_index(lo, hi, n, mode)
    out: List[Piece] = []
    start = 0
    while start < len(src):
        step = int(src[start + 1] - src[start]) if start + 1 < len(src) else 1
        if step not in (1, -1):
            step = 1
        end = start + 1
        while end < len(src) and src[end] - src[end - 1] == step:
            end += 1
        a, b = int(src[start]), int(src[end - 1])
        if step == 1:
            out.extend(_pieces(a, b + 1, chunks))
        else:
            out.extend(Piece(p.chunk, p.lo, p.hi, True) for p in reversed(_pieces(b, a + 1, chunks)))
        start = end
    return out


def whole_axis(n: int, m: int, pad: Tuple[int, int], chunks: Sequence[int]) -> List[Block]:
    """One block: the whole axis with the op's own padding (exactly the in-memory call)."""
    return [Block(0, m, _pieces(0, n, chunks), pad)]


def pass_through(chunks: Sequence[int]) -> List[Block]:
    """Output block j is input chunk j (batch axis, and spatial axes of pointwise ops)."""
    return [Block(int(o), int(c), [Piece(j, 0, int(c))]) for j, (o, c) in
            enumerate(zip(_offsets(chunks)[:-1], chunks))]


def _boundaries(chunks: Sequence[int], m: int, scale) -> List[int]:
    """Output block boundaries: each interior input chunk boundary mapped by ``scale`` and
    clamped to [0, m]; a block left with no output merges into its neighbour."""
    bounds = [0]
    for c in _offsets(chunks)[1:-1]:
        b = min(m, max(0, scale(int(c))))
        if b > bounds[-1]:
            bounds.append(b)
    if m > bounds[-1]:
        bounds.append(m)
    return bounds


def forward_axis(n: int, m: int, k: int, stride: int, dilation: int, pad: Tuple[int, int],
                 mode: str, chunks: Sequence[int], core_pads: bool = True) -> List[Block]:
    """Blocks of a convolution axis (extent d(k-1)+1, stride s, pad_lo p): an interior input chunk
    boundary c becomes the output boundary nearest c / s, so the block's window runs from p
    before its aligned start to K - s - p after its end (the halo); the window may span several
    chunks (chunks smaller than the halo) and, at the true edges, the padding.

    ``mode`` in CONST_MODES: the padded part is a count in ``Block.pad`` (given to the core, or
    filled by the assembly when not ``core_pads``); any other mode reads it as data (reflected,
    replicated or wrapped input pieces). An axis that maps to a single block keeps the op's
    own geometry and padding (see :func:`whole_axis`) when the core pads it."""
    if m <= 0:
        return []
    bounds = _boundaries(chunks, m, lambda c: (2 * c + stride) // (2 * stride))
    if len(bounds) == 2 and (core_pads or tuple(pad) == (0, 0)):
        return whole_axis(n, m, pad, chunks)
    blocks = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        lo, hi = _core.conv_block_input(a, b, k, stride, dilation, pad[0])
        if mode in CONST_MODES:
            in_lo = min(max(lo, 0), n)
            in_hi = min(max(hi, in_lo), n)
            pads = (in_lo - lo, hi - in_hi) if in_hi > in_lo else (hi - lo, 0)
            blocks.append(Block(a, b - a, _pieces(in_lo, in_hi, chunks), pads))
        else:
            blocks.append(Block(a, b - a, _mapped_pieces(lo, hi, n, mode, chunks)))
    return blocks


def transpose_axis(n: int, m: int, k: int, stride: int, dilation: int, pad_lo: int,
                   chunks: Sequence[int]) -> List[Block]:
    """Blocks of a transposed-convolution axis: input chunk boundary c becomes output boundary
    c * s (output blocks s times longer); a block reads the inputs whose taps reach it
    (floor((K-1)/s) before, about pad_lo / s after) and crops the slice's own output to itself
    (``Block.extra`` = (crop before, crop after), a negative crop after being output padding)."""
    if m <= 0:
        return []
    bounds = _boundaries(chunks, m, lambda c: c * stride)
    blocks = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        lo, hi, before, after = _core.conv_transpose_block_input(a, b, n, k, stride, dilation,
                                                                 pad_lo)
        blocks.append(Block(a, b - a, _pieces(lo, hi, chunks), extra=(before, after)))
    return blocks
