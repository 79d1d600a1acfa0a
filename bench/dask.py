"""The Dask backend (convcore.dask) against dask-image, against convcore in memory, and its peak
memory on an on-disk image larger than the budget.

    python -m bench.dask [--quick] [--repeat 5] [--threads 2] [--json out.json] [--no-progress]

Cases (issue 16), every run with ``--threads`` Dask worker threads and the same Dask array and
chunks for both contenders. convcore keeps its default thread count: inside a Dask task each op
takes its share of it (all cores // the tasks Dask runs at once, so 1 thread per task with 2
Dask threads on 2 cores); in memory it gets ``--threads``.

1. vs ``dask_image.ndfilters.convolve`` (mode "constant", i.e. zeros; convcore's
   ``convolve(x, k, "same", "fill")`` is the same operation for odd k): a 2-D 8192^2 float32
   image in 1024^2 chunks with kernels 3, 7, 15, and a 3-D 256^3 volume in 64^3 chunks with
   kernels 3 and 7. The results are compared first (max abs difference printed).
   Then convcore.ndimage against ``dask_image.ndfilters`` (the same function, SciPy's default
   mode): gaussian_filter s=2, sobel, uniform_filter 5 and laplace on the 2-D image, float32
   and uint8.
2. Chunking overhead: a ResNet 3x3 64->64 layer (padding 1) on N=32 56x56 chunked by 4 images,
   and a 15x15 correlate on 8192^2 in 1024^2 chunks, each against the same op in memory on the
   same array. Printed: dask_time / memory_time - 1 (the overhead).
3. Memory: a 16384^2 float32 image (1 GiB) in a zarr store on disk, 15x15 correlate, written
   back to zarr with ``to_zarr``, in a child process whose peak RSS (``ru_maxrss``) is printed
   against half the array's size.

Times are medians of interleaved runs (A, B, A, B ...); ratios are peer_time / convcore_time
(> 1: convcore faster). Each Dask case is timed twice: ``.compute()`` (the blocks, then Dask
gathering them into one NumPy array: a serial copy of the whole result that both contenders
pay), and ``.persist()`` (the blocks alone, left in memory as Dask chunks, as a pipeline that
stores or reduces them sees them). ``--quick`` shrinks every size (2048^2 images, 64^3 volumes, N=8, a
4096^2 zarr image) to check the harness; its numbers say little. A ``ProgressBar`` shows each
Dask run as a user sees it (``--no-progress`` hides it). Never run by the tests.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from typing import Any, Callable, Dict, List

import numpy as np

import convcore as cc


def _sizes(quick: bool) -> Dict[str, Any]:
    if quick:
        return dict(img=2048, img_chunk=512, vol=64, vol_chunk=32, batch=8, zarr=4096,
                    zarr_chunk=1024)
    return dict(img=8192, img_chunk=1024, vol=256, vol_chunk=64, batch=32, zarr=16384,
                zarr_chunk=1024)


def _interleaved(fns: Dict[str, Callable[[], Any]], repeat: int) -> Dict[str, float]:
    """Median seconds of each fn, run in rotating interleaved order after one warm-up each."""
    for f in fns.values():
        f()
    names = list(fns)
    samples: Dict[str, List[float]] = {n: [] for n in names}
    for r in range(repeat):
        for n in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            fns[n]()
            samples[n].append(time.perf_counter() - t0)
    return {n: statistics.median(s) for n, s in samples.items()}


def _progress(show: bool) -> Any:
    if not show:
        return nullcontext()
    from dask.diagnostics import ProgressBar

    return ProgressBar(minimum=0.5)


def vs_dask_image(sizes: Dict[str, Any], repeat: int, threads: int, show: bool) -> List[dict]:
    import dask.array as da
    from dask_image import ndfilters

    rng = np.random.default_rng(0)
    rows = []
    cases = [(2, sizes["img"], sizes["img_chunk"], k) for k in (3, 7, 15)] + \
            [(3, sizes["vol"], sizes["vol_chunk"], k) for k in (3, 7)]
    for nd, n, chunk, k in cases:
        x = da.random.default_rng(1).standard_normal((n,) * nd, chunks=(chunk,) * nd,
                                                    dtype=np.float32).persist()
        w = rng.standard_normal((k,) * nd).astype(np.float32)
        rows.append(_versus(f"{nd}-D {n}^{nd} chunks {chunk}^{nd}, k={k}",
                            cc.convolve(x, w, "same", "fill", 0.0),
                            ndfilters.convolve(x, w, mode="constant", cval=0.0), repeat,
                            threads, show))
    return rows


def _versus(case: str, ours: Any, theirs: Any, repeat: int, threads: int,
            show: bool) -> dict:
    """One row: two lazy results of the same operation, compared, then each computed and
    persisted, interleaved."""
    import dask

    with dask.config.set(scheduler="threads", num_workers=threads):
        with _progress(show):
            diff = float(abs(ours.astype(np.float64) - theirs).max().compute())
        t = _interleaved({"convcore": lambda: ours.compute(),
                          "dask_image": lambda: theirs.compute(),
                          "convcore_persist": lambda: ours.persist(),
                          "dask_image_persist": lambda: theirs.persist()}, repeat)
    r = dict(case=case, convcore_s=t["convcore"], dask_image_s=t["dask_image"],
             ratio=t["dask_image"] / t["convcore"], convcore_persist_s=t["convcore_persist"],
             dask_image_persist_s=t["dask_image_persist"],
             ratio_persist=t["dask_image_persist"] / t["convcore_persist"], max_abs_diff=diff)
    print(f"  {case:<44} compute: convcore {t['convcore']:7.3f} s  dask-image "
          f"{t['dask_image']:7.3f} s  ratio {r['ratio']:5.2f} | persist: "
          f"{t['convcore_persist']:7.3f} s  {t['dask_image_persist']:7.3f} s  ratio "
          f"{r['ratio_persist']:5.2f} | max|diff| {diff:.2e}", flush=True)
    return r


def vs_dask_image_ndimage(sizes: Dict[str, Any], repeat: int, threads: int,
                          show: bool) -> List[dict]:
    """convcore.ndimage against dask_image.ndfilters, the same function and arguments (SciPy's
    defaults: mode "reflect") on the same 2-D image, float32 and uint8."""
    import dask.array as da
    from dask_image import ndfilters

    from convcore import ndimage

    n, chunk = sizes["img"], sizes["img_chunk"]
    rows = []
    for dt in (np.float32, np.uint8):
        base = da.random.default_rng(2).standard_normal((n, n), chunks=(chunk, chunk)) * 40 + 128
        x = base.clip(0, 255).astype(dt).persist()
        for name, args in (("gaussian_filter", (2.0,)), ("sobel", ()), ("uniform_filter", (5,)),
                           ("laplace", ())):
            rows.append(_versus(f"{name} {np.dtype(dt).name} {n}^2 chunks {chunk}^2",
                                getattr(ndimage, name)(x, *args),
                                getattr(ndfilters, name)(x, *args), repeat, threads, show))
    return rows


def overhead(sizes: Dict[str, Any], repeat: int, threads: int, show: bool) -> List[dict]:
    import dask
    import dask.array as da

    rng = np.random.default_rng(0)
    n = sizes["batch"]
    x = rng.standard_normal((n, 64, 56, 56), dtype=np.float32)
    w = (rng.standard_normal((64, 64, 3, 3), dtype=np.float32) / np.float32(24.0))
    img = rng.standard_normal((sizes["img"],) * 2, dtype=np.float32)
    k = rng.standard_normal((15, 15)).astype(np.float32)
    cases = [
        (f"ResNet 3x3 64->64, N={n} @56, chunks of 4 images", x, (4, 64, 56, 56),
         lambda a: cc.conv2d(a, w, padding=1)),
        (f"15x15 correlate {sizes['img']}^2, chunks {sizes['img_chunk']}^2", img,
         (sizes["img_chunk"],) * 2, lambda a: cc.correlate(a, k, "same")),
    ]
    rows = []
    for name, arr, chunks, op in cases:
        xd = da.from_array(arr, chunks=chunks)
        lazy = op(xd)
        old = cc.get_num_threads()

        def in_memory() -> Any:
            cc.set_num_threads(threads)
            return op(arr)

        def chunked() -> Any:
            cc.set_num_threads(old)  # the default: each task takes its share (1 of 2 cores)
            with dask.config.set(scheduler="threads", num_workers=threads):
                return lazy.compute()

        def persisted() -> Any:
            cc.set_num_threads(old)
            with dask.config.set(scheduler="threads", num_workers=threads):
                return lazy.persist()

        try:
            with _progress(show):
                diff = float(np.max(np.abs(chunked() - in_memory())))
            t = _interleaved({"memory": in_memory, "dask": chunked, "persist": persisted},
                             repeat)
        finally:
            cc.set_num_threads(old)
        rows.append(dict(case=name, memory_s=t["memory"], dask_s=t["dask"],
                         overhead=t["dask"] / t["memory"] - 1, dask_persist_s=t["persist"],
                         overhead_persist=t["persist"] / t["memory"] - 1, max_abs_diff=diff))
        r = rows[-1]
        print(f"  {name:<52} memory {t['memory']:7.3f} s  dask compute {t['dask']:7.3f} s "
              f"({100 * r['overhead']:+6.1f} %)  persist {t['persist']:7.3f} s "
              f"({100 * r['overhead_persist']:+6.1f} %)  max|diff| {diff:.1e}", flush=True)
    return rows


def _memory_child(path: str, n: int, chunk: int, threads: int, show: bool) -> None:
    """In a fresh process: read the zarr image, correlate, write back; print peak RSS."""
    import dask
    import dask.array as da

    x = da.from_zarr(os.path.join(path, "in.zarr"))
    k = np.random.default_rng(0).standard_normal((15, 15)).astype(np.float32)
    y = cc.correlate(x, k, "same")
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=threads), _progress(show):
        y.to_zarr(os.path.join(path, "out.zarr"), overwrite=True)
    secs = time.perf_counter() - t0
    print(json.dumps(dict(peak_rss_mb=_peak_rss_kib() / 1024, seconds=secs)))


def _peak_rss_kib() -> float:
    """This process's peak RSS. On Linux ru_maxrss is inherited from the parent at fork and
    kept across exec (a child of a benchmark that held 1.7 GB reports 1.7 GB), so the
    high-water mark of this process's own address space, VmHWM, is read instead."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def memory(sizes: Dict[str, Any], threads: int, show: bool) -> dict:
    import dask
    import dask.array as da

    n, chunk = sizes["zarr"], sizes["zarr_chunk"]
    with tempfile.TemporaryDirectory(prefix="convcore-dask-bench-") as tmp:
        x = da.random.default_rng(2).standard_normal((n, n), chunks=(chunk, chunk),
                                                    dtype=np.float32)
        with dask.config.set(scheduler="threads", num_workers=threads):
            x.to_zarr(os.path.join(tmp, "in.zarr"))
        code = (f"import sys; from {__package__}.dask import _memory_child; "
                f"_memory_child({tmp!r}, {n}, {chunk}, {threads}, {show})")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=dict(os.environ), cwd=os.getcwd())
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        if show:
            sys.stdout.write(proc.stderr)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        # spot check: one output chunk against the in-memory op on its window
        y = da.from_zarr(os.path.join(tmp, "out.zarr"))
        xin = da.from_zarr(os.path.join(tmp, "in.zarr"))
        k = np.random.default_rng(0).standard_normal((15, 15)).astype(np.float32)
        a = xin[chunk - 7:2 * chunk + 7, chunk - 7:2 * chunk + 7].compute()
        ref = cc.correlate(a, k, "valid")
        diff = float(np.max(np.abs(y[chunk:2 * chunk, chunk:2 * chunk].compute() - ref)))
    array_mb = n * n * 4 / 2 ** 20
    row = dict(case=f"{n}^2 float32 zarr ({array_mb:.0f} MB), 15x15 correlate -> to_zarr",
               peak_rss_mb=res["peak_rss_mb"], budget_mb=array_mb / 2, seconds=res["seconds"],
               max_abs_diff_one_chunk=diff)
    print(f"  {row['case']:<52} peak RSS {row['peak_rss_mb']:7.0f} MB (budget "
          f"{row['budget_mb']:.0f} MB)   {row['seconds']:.1f} s   max|diff| {diff:.1e}",
          flush=True)
    return row


def main(argv: Any = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.dask", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (checks the harness)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--no-progress", action="store_true", help="no Dask progress bars")
    ap.add_argument("--only", choices=["dask_image", "ndimage", "overhead", "memory"],
                    action="append")
    args = ap.parse_args(argv)
    import dask

    sizes = _sizes(args.quick)
    show = not args.no_progress
    only = set(args.only or ["dask_image", "ndimage", "overhead", "memory"])
    res: Dict[str, Any] = dict(settings=dict(vars(args), sizes=sizes),
                               versions=dict(convcore=cc.__version__, dask=dask.__version__,
                                             numpy=np.__version__))
    if "dask_image" in only:
        print("vs dask_image.ndfilters.convolve (ratio = dask-image time / convcore time):")
        res["vs_dask_image"] = vs_dask_image(sizes, args.repeat, args.threads, show)
    if "ndimage" in only:
        print("convcore.ndimage vs dask_image.ndfilters, same function (ratio as above):")
        res["ndimage_vs_dask_image"] = vs_dask_image_ndimage(sizes, args.repeat, args.threads,
                                                             show)
    if "overhead" in only:
        print("chunking overhead (the same op in memory vs on the Dask array):")
        res["overhead"] = overhead(sizes, args.repeat, args.threads, show)
    if "memory" in only:
        print("memory (zarr on disk -> correlate -> zarr, peak RSS of the process):")
        res["memory"] = memory(sizes, args.threads, show)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
