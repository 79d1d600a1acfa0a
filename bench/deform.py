"""deform_conv2d on the CPU: convcore against torchvision.ops.deform_conv2d.

    python -m bench.deform [--repeat 15] [--warmup 2] [--threads N] [--json results.json]
                           [--dtype float32]

Cases (the issue's): 3x3 convs 64->64 at 56x56 and 256->256 at 28x28, padding 1, N = 1 and 8,
random offsets uniform in [-2, 2], with and without a DCNv2 mask (uniform [0, 1]).
Both libraries get the same float32 arrays (torch.from_numpy shares memory) and the same thread
count (torch.set_num_threads == cc.set_num_threads). Each repeat times convcore and torchvision
back to back (interleaved, so machine noise hits both); printed are the medians, the ratio
torchvision_time / convcore_time (> 1: convcore faster) and effective GFLOP/s counted as
2 * MACs of the convolution (cc.cost(...).macs; the sampling work is not counted, so this is
the rate a plain conv would need to match). Also printed: convcore's workspace bound (bytes),
and the largest relative difference between the two outputs. Never run by the tests.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

import convcore as cc

# (name, N, C_in, C_out, H, W)
SHAPES = [
    ("64->64 @56", 1, 64, 64, 56, 56),
    ("64->64 @56", 8, 64, 64, 56, 56),
    ("256->256 @28", 1, 256, 256, 28, 28),
    ("256->256 @28", 8, 256, 256, 28, 28),
]


def workspace_bytes(N: int, C: int, H: int, W: int, Co: int, itemsize: int, threads: int) -> int:
    """convcore's bound (kernels/deformable.hpp): bordered x + packed w + per-thread tiles."""
    kk, P, NR = 9, 128, 64 // itemsize
    cbmax = max(1, (16 * 1024 // (itemsize * NR)) // kk)
    nchunks = -(-C // cbmax)
    cb = -(-C // nchunks)
    col = cb * kk * P * itemsize
    records = kk * P * (8 + 4 * itemsize)
    packed_w = ((Co + 5) // 6) * 6 * C * kk * itemsize
    return N * C * (H + 3) * (W + 2) * itemsize + packed_w + threads * (col + records)


def time_once(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="0: convcore's default")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--json", default=None, help="write the results to this file")
    args = ap.parse_args(argv)

    threads = args.threads or cc.get_num_threads()
    cc.set_num_threads(threads)
    torch: Any = None
    tv_deform: Any = None
    try:
        import torch
        import torchvision.ops  # type: ignore[import-not-found]

        tv_deform = torchvision.ops.deform_conv2d

        torch.set_num_threads(threads)
    except ImportError:
        pass
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    results: List[Dict[str, Any]] = []
    print(f"threads={threads} dtype={dtype.name} repeat={args.repeat} "
          f"torchvision={'yes' if tv_deform else 'no'}")
    print(f"{'case':28s} {'convcore ms':>12s} {'tv ms':>10s} {'tv/cc':>7s} "
          f"{'cc GFLOP/s':>11s} {'tv GFLOP/s':>11s} {'ws MB':>7s} {'max rel':>9s}")
    for name, N, C, Co, H, W in SHAPES:
        for use_mask in (False, True):
            x = rng.standard_normal((N, C, H, W)).astype(dtype)
            w = (rng.standard_normal((Co, C, 3, 3)) / np.sqrt(C * 9)).astype(dtype)
            b = rng.standard_normal(Co).astype(dtype)
            off = rng.uniform(-2, 2, (N, 18, H, W)).astype(dtype)
            mask = rng.uniform(0, 1, (N, 9, H, W)).astype(dtype) if use_mask else None
            macs = cc.cost("deform_conv2d", x.shape, off.shape, w.shape, b.shape, padding=1,
                           mask=None if mask is None else mask.shape).macs

            def run_cc():
                return cc.deform_conv2d(x, off, w, b, padding=1, mask=mask)

            run_tv: Optional[Callable[[], Any]] = None
            if tv_deform is not None:
                tx, to, tw, tb = (torch.from_numpy(a) for a in (x, off, w, b))
                tm = None if mask is None else torch.from_numpy(mask)

                def _run_tv() -> Any:
                    with torch.no_grad():
                        return tv_deform(tx, to, tw, tb, padding=1, mask=tm)

                run_tv = _run_tv

            for _ in range(args.warmup):
                run_cc()
                if run_tv is not None:
                    run_tv()
            t_cc, t_tv = [], []
            for _ in range(args.repeat):
                t_cc.append(time_once(run_cc))
                if run_tv is not None:
                    t_tv.append(time_once(run_tv))
            mc = statistics.median(t_cc)
            mt = statistics.median(t_tv) if t_tv else None
            rel = None
            if run_tv is not None:
                a, r = run_cc().astype(np.float64), run_tv().numpy().astype(np.float64)
                rel = float(np.max(np.abs(a - r)) / max(1e-30, float(np.max(np.abs(r)))))
            ws = workspace_bytes(N, C, H, W, Co, dtype.itemsize, threads)
            case = f"{name} N={N}{' mask' if use_mask else ''}"
            row = dict(case=case, N=N, C_in=C, C_out=Co, H=H, W=W, mask=use_mask,
                       threads=threads, dtype=dtype.name, macs=int(macs),
                       convcore_s=mc, torchvision_s=mt,
                       ratio=(mt / mc) if mt else None,
                       convcore_gflops=2 * macs / mc / 1e9,
                       torchvision_gflops=(2 * macs / mt / 1e9) if mt else None,
                       workspace_bytes=ws, max_rel_diff=rel)
            results.append(row)
            fmt = lambda v, f: (f % v) if v is not None else "-"
            print(f"{case:28s} {mc * 1e3:12.2f} {fmt(mt and mt * 1e3, '%10.2f'):>10s} "
                  f"{fmt(row['ratio'], '%7.2f'):>7s} {row['convcore_gflops']:11.1f} "
                  f"{fmt(row['torchvision_gflops'], '%11.1f'):>11s} {ws / 2**20:7.1f} "
                  f"{fmt(rel, '%9.1e'):>9s}")
            sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(threads=threads, results=results), f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
