"""Timing of convcore against its peers on the cases of bench.shapes (see bench/__init__.py)."""
from __future__ import annotations

import gc
import math
import os
import platform
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from . import peak as _peak
from . import shapes as _shapes
from .shapes import Case

Fn = Callable[[], Any]


# --------------------------------------------------------------------------------------------
# Peers


def _try_import(name: str) -> Any:
    try:
        return __import__(name, fromlist=["_"])
    except Exception:  # ImportError, or a broken install raising something else
        return None


# What to install for a peer that is missing (convcore bench prints it and goes on without it).
PEER_INSTALL = {"torch": "pip install torch", "cv2": "pip install opencv-python-headless",
                "ndimage": "pip install scipy"}


# With convcore held to AVX2 on an AVX-512 CPU (CONVCORE_ISA=avx2: the stand-in for an AVX2
# machine such as Zen 3), the peers are held to AVX2 too, as they would run on that machine:
# oneDNN and ATen through their documented variables, OpenCV's dispatch likewise. Set before the
# peers are imported (a variable the user set wins); versions() records what they then run.
PEER_ISA_AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
                 "OPENCV_CPU_DISABLE": "AVX512-SKX,AVX512-CLX"}


def match_peer_isa() -> Dict[str, str]:
    """Holds the peers to convcore's SIMD level where it is below the CPU's (see above);
    returns the variables it set."""
    import convcore as cc

    simd = cc.info()["simd"]
    if simd["level"] != "avx2" or "avx512" not in simd["supported"]:
        return {}
    set_ = {}
    for k, v in PEER_ISA_AVX2.items():
        if k not in os.environ:
            os.environ[k] = set_[k] = v
    return set_


def missing_peers(only: Optional[Sequence[str]] = None) -> List[str]:
    """One line per peer that does not import (its columns are left out of the results)."""
    match_peer_isa()
    module = {"torch": "torch", "cv2": "cv2", "ndimage": "scipy.ndimage"}
    return [f"{name}: not installed, its columns are skipped ({PEER_INSTALL[name]})"
            for name in (only or list(module)) if _try_import(module[name]) is None]


class Peers:
    def __init__(self, threads: int, only: Optional[Sequence[str]] = None) -> None:
        want = set(only) if only else {"torch", "cv2", "ndimage"}
        match_peer_isa()
        self.torch = _try_import("torch") if "torch" in want else None
        self.cv2 = _try_import("cv2") if "cv2" in want else None
        self.ndimage = _try_import("scipy.ndimage") if "ndimage" in want else None
        if self.torch is not None:
            self.torch.set_num_threads(threads)
        if self.cv2 is not None:
            self.cv2.setNumThreads(threads)

    def versions(self) -> Dict[str, str]:
        v = {}
        if self.torch is not None:
            v["torch"] = self.torch.__version__
            try:
                v["torch_mkldnn"] = str(self.torch.backends.mkldnn.is_available())
                v["torch_isa"] = self.torch.backends.cpu.get_cpu_capability()
            except Exception:
                pass
            if "ONEDNN_MAX_CPU_ISA" in os.environ:
                v["onednn_max_cpu_isa"] = os.environ["ONEDNN_MAX_CPU_ISA"]
        if self.cv2 is not None:
            v["cv2"] = self.cv2.__version__
            # the dispatched features ('?' marks those disabled)
            v["cv2_cpu"] = self.cv2.getCPUFeaturesLine()
        if self.ndimage is not None:
            import scipy

            v["scipy"] = scipy.__version__
        return v


# --------------------------------------------------------------------------------------------
# Contenders of one case: name -> (callable, output preallocated?)


def _contenders(cc: Any, peers: Peers, case: Case, rng: np.random.Generator
                ) -> Dict[str, Dict[str, Any]]:
    x = rng.standard_normal(case.x, dtype=np.float32)
    out: Dict[str, Dict[str, Any]] = {}
    if case.op in ("conv", "conv_transpose"):
        w = (rng.standard_normal(case.w, dtype=np.float32)
             / np.float32(math.sqrt(max(1, int(np.prod(case.w[1:]))))))
        p = dict(case.params)
        groups = p.get("groups", 1)
        dw = getattr(cc, "depthwise_conv2d", None)
        is_dw = (case.op == "conv" and len(case.x) == 4 and groups == case.x[1] and groups > 1
                 and case.w[1] == 1)
        if case.op == "conv":
            shape = cc.output_shape("conv", case.x, case.w, **p)
            y = np.empty(shape, np.float32)
            if is_dw and dw is not None:
                q = {k: v for k, v in p.items() if k != "groups"}
                out["convcore"] = dict(fn=lambda: dw(x, w, **q), prealloc=False,
                                       api="convcore.depthwise_conv2d")
            else:
                out["convcore"] = dict(fn=lambda: cc.conv(x, w, out=y, **p), prealloc=True,
                                       api="convcore.conv" + (" (groups=C)" if is_dw else ""))
        else:
            shape = cc.output_shape("conv_transpose", case.x, case.w, **p)
            y = np.empty(shape, np.float32)
            out["convcore"] = dict(fn=lambda: cc.conv_transpose(x, w, out=y, **p), prealloc=True,
                                   api="convcore.conv_transpose")
        _add_plan(cc, out, case.op, is_dw and dw is not None, x, w, p, y)
        if peers.torch is not None:
            torch = peers.torch
            F = torch.nn.functional
            nd = len(case.x) - 2
            tx, tw = torch.from_numpy(x), torch.from_numpy(w)
            tp = {k: v for k, v in p.items() if k in ("stride", "padding", "dilation", "groups")}
            f = getattr(F, ("conv" if case.op == "conv" else "conv_transpose") + f"{nd}d")

            def tfn() -> Any:
                with torch.no_grad():
                    return f(tx, tw, **tp)

            out["torch"] = dict(fn=tfn, prealloc=False, api=f"torch.nn.functional.{f.__name__}")
        return out

    # single-channel images: correlation, mode="same", zero boundary
    if case.op == "filter2d":
        k = rng.standard_normal(case.w, dtype=np.float32)
        kc = kr = None
    else:
        g = np.asarray(_shapes.gaussian_1d(case.w[0], case.params["sigma"]), np.float32)
        kc, kr = g.copy(), g.copy()
        k = np.outer(kc, kr).astype(np.float32)
    out["convcore"] = dict(fn=lambda: cc.correlate(x, k, mode="same"), prealloc=False,
                           api="convcore.correlate(mode='same')")
    if peers.cv2 is not None:
        cv2 = peers.cv2
        dst = np.empty_like(x)
        if kc is None:
            out["cv2"] = dict(fn=lambda: cv2.filter2D(x, -1, k, dst=dst,
                                                      borderType=cv2.BORDER_CONSTANT),
                              prealloc=True, api="cv2.filter2D")
        else:
            out["cv2"] = dict(fn=lambda: cv2.sepFilter2D(x, -1, kr, kc, dst=dst,
                                                         borderType=cv2.BORDER_CONSTANT),
                              prealloc=True, api="cv2.sepFilter2D")
    if peers.ndimage is not None:
        nd_ = peers.ndimage
        res = np.empty_like(x)
        if kc is None:
            out["ndimage"] = dict(fn=lambda: nd_.correlate(x, k, output=res, mode="constant"),
                                  prealloc=True, api="scipy.ndimage.correlate")
        else:
            tmp = np.empty_like(x)

            def sep() -> Any:
                nd_.correlate1d(x, kc, axis=0, output=tmp, mode="constant")
                return nd_.correlate1d(tmp, kr, axis=1, output=res, mode="constant")

            out["ndimage"] = dict(fn=sep, prealloc=True, api="scipy.ndimage.correlate1d x2")
    if peers.torch is not None:
        torch = peers.torch
        tx = torch.from_numpy(x)[None, None]
        tk = torch.from_numpy(np.ascontiguousarray(k))[None, None]
        pad = (k.shape[0] // 2, k.shape[1] // 2)

        def tfn() -> Any:
            with torch.no_grad():
                return torch.nn.functional.conv2d(tx, tk, padding=pad)[0, 0]

        out["torch"] = dict(fn=tfn, prealloc=False, api="torch conv2d 1->1 channel")
    return out


PLAN = "convcore plan"  # the contender made once per case: weights validated and packed once


def _add_plan(cc: Any, out: Dict[str, Dict[str, Any]], op: str, depthwise: bool,
              x: np.ndarray, w: np.ndarray, p: Dict[str, Any], y: np.ndarray) -> None:
    """The case's layer as a plan (cc.conv_plan etc.), when this convcore has plans."""
    name = "depthwise_conv2d_plan" if depthwise else op + "_plan"
    make = getattr(cc, name, None)
    if make is None:
        return
    q = {k: v for k, v in p.items() if not (depthwise and k == "groups")}
    plan = make(w, **q)
    y2 = np.empty_like(y)
    out[PLAN] = dict(fn=lambda: plan(x, out=y2), prealloc=True, api=f"convcore.{name}")


def _macs(cc: Any, case: Case) -> int:
    if case.op in ("filter2d", "sepfilter2d"):
        # the direct count, as the textbooks (and the peer figures) count it
        return int(np.prod(case.x)) * int(np.prod(case.w))
    return int(cc.cost(case.op, case.x, case.w, **case.params).macs)


def _as_numpy(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().numpy()
    return np.asarray(v)


# --------------------------------------------------------------------------------------------
# Timing


def _time_block(fn: Fn, inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def time_interleaved(fns: Dict[str, Fn], repeat: int, pause: float, min_block: float,
                     budget: float) -> Dict[str, Dict[str, Any]]:
    """Median seconds per call of each fn, timed in interleaved blocks A, B, A, B, ...

    Warm-up: each fn runs until 2 calls and ~min_block seconds are spent. A block is `inner`
    back-to-back calls of one fn (inner chosen so that a block lasts ~min_block); `pause`
    seconds of sleep separate blocks so that one library's spinning OpenMP threads have gone
    idle before the next is timed. The order of the contenders rotates every round. Rounds stop
    at `repeat` or when `budget` seconds are spent (at least 3 rounds)."""
    names = list(fns)
    inner: Dict[str, int] = {}
    for n in names:
        t = _time_block(fns[n], 1)
        spent, best, calls = t, t, 1
        while calls < 2 or spent < min_block:
            t = _time_block(fns[n], 1)
            spent += t
            best = min(best, t)
            calls += 1
            if spent > 2 * min_block and calls >= 2:
                break
        # the fastest warm-up call sizes the block: one call slowed by the machine must not
        # shrink every block to a single call
        inner[n] = max(1, min(1000, int(min_block / max(best, 1e-7))))
        time.sleep(pause)
    samples: Dict[str, List[float]] = {n: [] for n in names}
    t_start = time.perf_counter()
    for r in range(repeat):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            gc.disable()
            try:
                samples[n].append(_time_block(fns[n], inner[n]))
            finally:
                gc.enable()
            time.sleep(pause)
        if r + 1 >= 3 and time.perf_counter() - t_start > budget:
            break
    return {n: dict(median_s=float(np.median(s)), min_s=float(np.min(s)), samples=len(s),
                    inner=inner[n]) for n, s in samples.items()}


# --------------------------------------------------------------------------------------------


def _settle_allocator() -> None:
    """Puts the C allocator in the state of a process that has run for a while.

    glibc serves large blocks with mmap until the first such block is freed; then it raises
    its mmap threshold to that block's size (blocks up to 32 MiB count) and keeps freed memory
    for reuse. Until then every call that allocates its output or a temporary gets fresh
    pages, and first touch costs ~2 us per 4 KiB page here: PyTorch's depthwise 32@112
    measured 1.6 ms (1,147 page faults per call) as the first layer of a process and 0.2 ms
    (18 faults) after one 16 MiB block was freed. Doing that once puts every contender in the
    steady state a long-running service sees (a full run reached it by itself after its first
    cases; a one-family run did not)."""
    block = np.ones(16 * 1024 * 1024 // 8)
    del block


# A probe below this fraction of the run's FMA peak: the machine is not whole (on this VM the
# two vCPUs share one physical core for seconds at a time; the 2-thread FMA rate halves).
_WHOLE = 0.8


def _probe(threads: int) -> float:
    return float(_peak.measure(threads, 0.06)["gflops"])


def _wait_for_machine(threads: int, peak: float, max_wait: float) -> Dict[str, Any]:
    """Probes the FMA rate before a case and waits (up to max_wait seconds) while it is below
    _WHOLE x peak. Timing a case in such a phase measured convcore's 2-thread Winograd layers
    2.2x slower and PyTorch's 1.2-1.4x (the two react differently to a shared core), so
    ratios taken then say little about either; waiting lets both be timed on a whole machine."""
    t0 = time.perf_counter()
    g = _probe(threads)
    while g < _WHOLE * peak and time.perf_counter() - t0 < max_wait:
        time.sleep(1.0)
        g = _probe(threads)
    return {"fma_gflops_before": g, "waited_s": round(time.perf_counter() - t0, 2)}


def select_cases(quick: bool = False, family: Optional[str] = None, tiny: bool = False
                 ) -> List[Case]:
    cases = _shapes.quick_cases() if quick else _shapes.all_cases()
    if family:
        f = family.lower()
        cases = [c for c in cases if f in c.family.lower()]
        if not cases:
            raise ValueError(f"no benchmark family matches {family!r}; families: "
                             + ", ".join(_shapes.families()))
    if tiny:
        cases = [_shapes.shrink(c) for c in cases]
    return cases


def run(progress: Optional[Callable[[Dict[str, Any]], None]] = None, *, quick: bool = False,
        family: Optional[str] = None, threads: Optional[int] = None, repeat: int = 9,
        pause: float = 0.05, min_block: float = 0.1, budget: float = 3.0, tiny: bool = False,
        peers: Optional[Sequence[str]] = None, measure_peak: bool = True,
        seed: int = 0, max_wait: float = 20.0, passes: int = 1) -> Dict[str, Any]:
    """Runs the benchmark and returns its results as a JSON-serialisable dict.

    progress(event) is called with {"event": "start", "cases": n, "peak": {...}} first, then
    {"event": "case", "index": i, "cases": n, "result": case_result} after each case, then
    {"event": "end", "results": results}. See bench/__init__.py for the keys."""
    import convcore as cc

    if threads is None:
        threads = cc.get_num_threads()
    threads = int(threads)
    cc.set_num_threads(threads)
    pe = Peers(threads, peers)
    cases = select_cases(quick=quick, family=family, tiny=tiny)
    _settle_allocator()
    peak0 = _peak.measure(threads) if measure_peak else None
    results: Dict[str, Any] = {
        "machine": {
            "cpu": _peak.cpu_model(), "logical_cpus": os.cpu_count(),
            "platform": platform.platform(), "python": sys.version.split()[0],
        },
        "convcore": {"version": getattr(cc, "__version__", "?"), "info": _jsonable(cc.info())},
        "peers": pe.versions(),
        "settings": {"threads": threads, "repeat": repeat, "pause_s": pause,
                     "min_block_s": min_block, "budget_s": budget, "dtype": "float32",
                     "quick": quick, "family": family, "tiny": tiny, "passes": passes},
        "peak": peak0,
        "cases": [],
    }
    if progress:
        progress({"event": "start", "cases": len(cases), "peak": peak0})
    rng = np.random.default_rng(seed)
    results["errors"] = []
    peak_g = peak0["gflops"] if peak0 else None
    best: Dict[int, Dict[str, Any]] = {}
    failed = set()
    for p in range(max(1, int(passes))):
        for i, case in enumerate(cases):
            if i in failed:
                continue
            try:
                state = _wait_for_machine(threads, peak_g, max_wait) if peak_g else None
                res = run_case(cc, pe, case, rng, repeat=repeat, pause=pause,
                               min_block=min_block, budget=budget, peak_gflops=peak_g)
                if state is not None:
                    state["fma_gflops_after"] = _probe(threads)
                    state["degraded"] = (min(state["fma_gflops_before"],
                                             state["fma_gflops_after"]) < _WHOLE * peak_g)
                    res["machine_state"] = state
            except Exception as e:  # one failing case (an op this build lacks) must not end the run
                err = {"family": case.family, "name": case.name,
                       "error": f"{type(e).__name__}: {e}"}
                results["errors"].append(err)
                failed.add(i)
                best.pop(i, None)
                if progress:
                    progress({"event": "error", "index": i, "cases": len(cases), "error": err})
                continue
            best[i] = res if i not in best else merge_passes(best[i], res, peak_g)
            if progress:
                progress({"event": "case", "index": i, "cases": len(cases), "result": best[i],
                          "pass": p})
    results["cases"] = [best[i] for i in sorted(best)]
    if measure_peak:
        peak1 = _peak.measure(threads)
        drift = peak1["gflops"] / peak0["gflops"] - 1.0
        results["peak_end"] = peak1
        results["peak_drift"] = drift
        if abs(drift) > 0.15:
            results.setdefault("warnings", []).append(
                f"the FMA peak moved by {drift:+.0%} during the run ({peak0['gflops']:.1f} -> "
                f"{peak1['gflops']:.1f} GFLOP/s): the machine was busy or throttled, the "
                "timings are noisy")
    results["summary"] = summarize(results["cases"])
    if progress:
        progress({"event": "end", "results": results})
    return results


def run_case(cc: Any, pe: Peers, case: Case, rng: np.random.Generator, *, repeat: int,
             pause: float, min_block: float, budget: float,
             peak_gflops: Optional[float]) -> Dict[str, Any]:
    cont = _contenders(cc, pe, case, rng)
    # Agreement check (once, outside the timing): the peers compute the same thing.
    ref = _as_numpy(cont["convcore"]["fn"]())
    scale = float(np.max(np.abs(ref))) or 1.0
    diffs = {}
    for n, c in cont.items():
        if n != "convcore":
            diffs[n] = float(np.max(np.abs(_as_numpy(c["fn"]()) - ref)) / scale)
    if PLAN in cont and diffs[PLAN] != 0.0:  # a plan runs the same kernels on the same data
        raise AssertionError(f"{case.name}: the plan differs from the plain call "
                             f"(max rel diff {diffs[PLAN]:.3g})")
    times = time_interleaved({n: c["fn"] for n, c in cont.items()}, repeat, pause, min_block,
                             budget)
    res: Dict[str, Any] = {
        "family": case.family, "name": case.name, "op": case.op, "x": list(case.x),
        "w": list(case.w), "params": _jsonable(case.params), "source": case.source,
        "macs": _macs(cc, case), "convcore_api": cont["convcore"]["api"],
        "convcore_out_preallocated": cont["convcore"]["prealloc"],
        "timing": times,
        "peers": {n: {"api": c["api"], "out_preallocated": c["prealloc"],
                      "max_rel_diff": diffs[n]} for n, c in cont.items()
                  if n not in ("convcore", PLAN)},
    }
    if PLAN in cont:
        res["plan"] = {"api": cont[PLAN]["api"]}
    return _rates(res, peak_gflops)


def _rates(res: Dict[str, Any], peak_gflops: Optional[float]) -> Dict[str, Any]:
    """Fills in the times, ratios and GFLOP/s of a case result from its timing medians."""
    macs, t_cc = res["macs"], res["timing"]["convcore"]["median_s"]
    res["convcore_ms"] = t_cc * 1e3
    res["gflops"] = 2.0 * macs / t_cc / 1e9
    res["peak_fraction"] = res["gflops"] / peak_gflops if peak_gflops else None
    t_plan = res["timing"][PLAN]["median_s"] if "plan" in res else None
    if t_plan:
        res["plan"].update(ms=t_plan * 1e3, gflops=2.0 * macs / t_plan / 1e9,
                           peak_fraction=2.0 * macs / t_plan / 1e9 / peak_gflops
                           if peak_gflops else None, speedup=t_cc / t_plan)
    for n, p in res["peers"].items():
        tp = res["timing"][n]["median_s"]
        p.update(ms=tp * 1e3, ratio=tp / t_cc, gflops=2.0 * macs / tp / 1e9)
        if t_plan:
            p["ratio_plan"] = tp / t_plan
    return res


def merge_passes(a: Dict[str, Any], b: Dict[str, Any],
                 peak_gflops: Optional[float]) -> Dict[str, Any]:
    """One case timed in two passes over the case list (``passes``): per contender, the pass
    with the lower median. Slow phases of a shared machine last seconds, about one case, and
    do not hit the contenders alike (an L2-heavy kernel slows 2x while another slows 1.2x):
    the best pass of each is its time on the machine undisturbed, and each had the same
    chances. The medians of all passes are kept (``pass_medians_s``)."""
    out = dict(b, timing={}, peers={n: dict(p) for n, p in b["peers"].items()})
    for n, tb in b["timing"].items():
        ta = a["timing"][n]
        seen = ta.get("pass_medians_s", [ta["median_s"]]) + [tb["median_s"]]
        out["timing"][n] = dict(ta if ta["median_s"] <= tb["median_s"] else tb,
                                pass_medians_s=seen)
    if a["timing"]["convcore"]["median_s"] <= b["timing"]["convcore"]["median_s"] and \
            "machine_state" in a:
        out["machine_state"] = a["machine_state"]  # the state of the pass convcore's time is from
    return _rates(out, peak_gflops)


def summarize(cases: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """Per family and peer: geometric mean of peer_time / convcore_time, and case count; with
    plans, also of peer_time / plan_time (geomean_ratio_plan, over the cases that had one)."""
    acc: Dict[str, Dict[str, List[float]]] = {}
    acc_plan: Dict[str, Dict[str, List[float]]] = {}
    for c in cases:
        for peer, p in c["peers"].items():
            acc.setdefault(c["family"], {}).setdefault(peer, []).append(p["ratio"])
            if "ratio_plan" in p:
                acc_plan.setdefault(c["family"], {}).setdefault(peer, []).append(p["ratio_plan"])

    def gm(r: List[float]) -> float:
        return float(math.exp(np.mean(np.log(r))))

    out: Dict[str, Dict[str, Any]] = {}
    for fam, d in acc.items():
        out[fam] = {}
        for peer, r in d.items():
            out[fam][peer] = {"geomean_ratio": gm(r), "cases": len(r)}
            rp = acc_plan.get(fam, {}).get(peer)
            if rp:
                out[fam][peer].update(geomean_ratio_plan=gm(rp), plan_cases=len(rp))
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


# --------------------------------------------------------------------------------------------
# Text output


def format_table(results: Dict[str, Any]) -> str:
    lines = []
    pk = results.get("peak")
    s = results["settings"]
    lines.append(f"machine: {results['machine']['cpu']}, {results['machine']['logical_cpus']} "
                 f"logical CPUs; threads={s['threads']} (convcore, torch, cv2; ndimage is "
                 "single-threaded); float32")
    if pk:
        lines.append(f"FMA peak: {pk['gflops']:.1f} GFLOP/s on {pk['threads']} thread(s) "
                     f"[{pk['method']}]")
    pv = results.get("peers", {})
    lines.append(f"SIMD: convcore {results['convcore']['info']['simd']['level']}"
                 + (f", torch {pv['torch_isa']}" if "torch_isa" in pv else "")
                 + (" (peers held to AVX2 as convcore is)" if "onednn_max_cpu_isa" in pv else ""))
    plans = any("plan" in c for c in results["cases"])
    hdr = (f"{'family':<18} {'case':<40} {'convcore ms':>11} {'peer':<8} {'peer ms':>9} "
           f"{'peer/cc':>7} {'GFLOP/s':>8} {'%peak':>6}"
           + (f" {'plan ms':>8} {'peer/plan':>9}" if plans else ""))
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for c in results["cases"]:
        pct = 100 * c["peak_fraction"] if c.get("peak_fraction") else None
        pf = "-" if pct is None else f"{pct:.0f}%" if pct >= 1 else f"{pct:.1g}%"
        peers = list(c["peers"].items()) or [("-", None)]
        for j, (peer, p) in enumerate(peers):
            name = c["name"][:38] + (" ~" if c.get("machine_state", {}).get("degraded") else "")
            head = (f"{c['family']:<18} {name:<40} {c['convcore_ms']:>11.3f}" if j == 0
                    else f"{'':<18} {'':<40} {'':>11}")
            if p is None:
                lines.append(f"{head} {'-':<8}")
                continue
            tail = f"{c['gflops']:>8.3g} {pf:>6}" if j == 0 else f"{'':>8} {'':>6}"
            if "plan" in c:
                tail += (f" {c['plan']['ms']:>8.3f}" if j == 0 else f" {'':>8}")
                tail += f" {p['ratio_plan']:>9.2f}"
            lines.append(f"{head} {peer:<8} {p['ms']:>9.3f} {p['ratio']:>7.2f} {tail}".rstrip())
    degraded = [c for c in results["cases"] if c.get("machine_state", {}).get("degraded")]
    if degraded:
        lines.append(f"~ {len(degraded)} case(s) timed while a {s['threads']}-thread FMA probe "
                     f"ran below {_WHOLE:.0%} of the peak (before or after the case): a "
                     "machine not whole; their ratios are less trustworthy")
    lines.append("")
    lines.append("geometric mean of peer_time / convcore_time (> 1: convcore faster)")
    for fam, d in results["summary"].items():
        parts = ", ".join(f"{peer} {v['geomean_ratio']:.2f}x ({v['cases']})"
                          + (f" [plan {v['geomean_ratio_plan']:.2f}x]"
                             if "geomean_ratio_plan" in v else "")
                          for peer, v in d.items())
        lines.append(f"  {fam:<18} {parts}")
    if "peak_end" in results:
        lines.append(f"FMA peak at the end: {results['peak_end']['gflops']:.1f} GFLOP/s "
                     f"({results['peak_drift']:+.0%})")
    for w in results.get("warnings", []):
        lines.append("WARNING: " + w)
    for e in results.get("errors", []):
        lines.append(f"FAILED: {e['family']}: {e['name']}: {e['error']}")
    lines.append("outputs preallocated: convcore.conv/conv_transpose (out=), cv2 (dst=), "
                 "ndimage (output=); convcore.correlate, depthwise_conv2d and torch allocate "
                 "their outputs")
    return "\n".join(lines)
