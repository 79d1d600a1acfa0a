"""The Dask half of the differential fuzzing (tests/test_fuzz.py, ``test_fuzz_dask``): a valid call drawn by
tests/fuzz_strategies.py is run twice, once as drawn (NumPy) and once with its x (``a`` for
convolve / correlate) as a Dask array cut into random, irregular chunks, and the two results
must agree. A call description carries ``"dask": seed``; the seed draws the chunks
(``random_chunks``). Run by the crash-isolating worker of tests/fuzz_ops.py, like every other
description.

What must hold: the Dask call returns a lazy ``dask.array.Array`` whose shape, dtype and
computed values are the in-memory call's (integers and exact ops to the bit, floats within
the rounding of a different blocking: each block may pick another algorithm); the user's
arguments come back unmodified; a refusal is a failure (every op takes a Dask x).
"""
from __future__ import annotations

import numpy as np

from fuzz_ops import bit_difference

# Ops whose first argument, x (or a), may be a Dask array (convcore/dask/_ops.py).
DASK_OPS = (
    "asymmetric_conv2d", "channel_shuffle", "conv", "conv1d", "conv2d", "conv3d",
    "conv_transpose", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "convolve",
    "correlate", "deform_conv2d", "depthwise_conv2d", "depthwise_separable_conv2d",
    "flattened_conv2d", "inception", "pointwise_conv", "quantized_conv2d",
    "shuffled_grouped_conv", "spatially_separable_conv2d", "squeeze_excitation",
)

MAX_BLOCKS = 64  # a graph of a few dozen blocks: every kind of halo, in well under a second


def random_chunks(shape, seed):
    """Irregular chunks for an array of ``shape``: per axis 1 to 4 chunks cut at random places
    (chunks of 1 element, chunks smaller than any halo), at most MAX_BLOCKS blocks in all."""
    rng = np.random.default_rng(seed)
    chunks = [(int(n),) for n in shape]
    blocks = 1
    for ax in rng.permutation(len(shape)):
        n = int(shape[ax])
        most = min(4, n, MAX_BLOCKS // blocks)
        if most <= 1:
            continue
        k = int(rng.integers(1, most + 1))
        cuts = np.sort(rng.choice(np.arange(1, n), size=k - 1, replace=False))
        chunks[ax] = tuple(int(v) for v in np.diff(np.concatenate(([0], cuts, [n]))))
        blocks *= k
    return tuple(chunks)


def check_dask(desc, fn, args, kwargs, same, snap, close):
    """None when the Dask call agrees with the in-memory one, else a failure message."""
    import dask
    import dask.array as da

    if desc["op"] == "deform_conv2d" and desc["dask"] % 2 == 0:
        # half the deform calls bound their offsets (the largest finite one): the Dask path
        # with halos, not the one that rechunks the spatial axes whole
        off = np.abs(np.asarray(args[1], dtype=np.float64))
        finite = off[np.isfinite(off)]
        kwargs = dict(kwargs, max_offset=float(finite.max()) if finite.size else 0.0)
    try:
        expected = fn(*args, **kwargs)
    except Exception:
        return None  # not a call the in-memory op takes (tests/test_fuzz.py covers that side)
    x = np.asarray(args[0])
    chunks = random_chunks(x.shape, desc["dask"])
    dx = da.from_array(x, chunks=chunks)
    before = snap((args[1:], kwargs))
    try:
        with dask.config.set(scheduler="sync"):
            lazy = fn(dx, *args[1:], **kwargs)
            if not isinstance(lazy, da.Array):
                return f"Dask x, chunks {chunks}: returned {type(lazy).__name__}, not a Dask array"
            got = lazy.compute()
    except BaseException as e:  # noqa: BLE001 - a refusal is a failure too
        return f"Dask x, chunks {chunks}: raised {type(e).__name__}: {str(e)[:300]}"
    if not same(before, snap((args[1:], kwargs))):
        return "Dask call modified its inputs (an argument differs after the call)"
    expected = np.asarray(expected)
    got = np.asarray(got)
    if got.shape != expected.shape or got.dtype != expected.dtype:
        return (f"Dask x, chunks {chunks}: {got.dtype}{list(got.shape)}, in memory "
                f"{expected.dtype}{list(expected.shape)}")
    if expected.dtype.kind in "fc":
        # a block may run another algorithm than the whole array (Winograd, FFT-sized
        # choices): the rounding of a long reduction, not a wrong halo, which is O(1)
        close(got, expected.astype(np.complex128 if expected.dtype.kind == "c" else np.float64),
              reduction=4096, what=f"Dask x, chunks {chunks}")
        return None
    return bit_difference(got, expected, f"Dask x, chunks {chunks}, against memory")
