"""Plans against plain calls: what validating and preparing the weights once saves.

    python -m bench.plan [--quick] [--family NAME] [--threads N] [--repeat 9] [--json FILE]
                         [--min-block 0.1] [--budget 3] [--tiny]

Part 1, per-call overhead on a tiny input (x (1, 1, 4, 4), w (1, 1, 3, 3), float32: the kernel's
work is a few dozen multiply-adds, so the time is the call's own): ``cc.conv2d(x, w)``,
``cc.conv(x, w)``, ``plan(x)`` and ``plan(x, out=y)``, microseconds per call (the minimum over
rounds of 20,000 calls: the machine's quietest moment; medians are printed too).

Part 2, the layers of bench/shapes.py (conv and conv_transpose; MobileNet's depthwise layers as
conv with groups=C, which both contenders route to the depthwise kernels): the plain call
``cc.conv(x, w, out=y, **params)`` against ``plan(x, out=y)`` with ``plan = cc.conv_plan(w,
**params)`` made (and prepared by one call) beforehand, timed interleaved as bench/runner.py
times its contenders (blocks of back-to-back calls, rotating order, medians). Printed: both
medians, the time saved per call (plain - plan, in microseconds; the packing, transform and
validation the plan does once), the ratio plain / plan, the algorithm, and per family the
geometric mean of the ratios. The two outputs are checked to be identical, bit for bit.

The machine may be shared: interleaving makes noise hit both contenders alike, but say so
with the figures. Never run by the tests (tests/test_plan.py checks the structure with
--tiny).
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import timeit
from typing import Any, Dict, List, Optional

import numpy as np

import convcore as cc

from . import runner, shapes


def overhead(rounds: int = 7, number: int = 20000) -> Dict[str, Dict[str, float]]:
    x = np.ones((1, 1, 4, 4), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    y = np.empty((1, 1, 2, 2), np.float32)
    plan = cc.conv_plan(w)
    fns = {"cc.conv2d(x, w)": lambda: cc.conv2d(x, w), "cc.conv(x, w)": lambda: cc.conv(x, w),
           "plan(x)": lambda: plan(x), "plan(x, out=y)": lambda: plan(x, out=y)}
    samples: Dict[str, List[float]] = {k: [] for k in fns}
    for r in range(rounds):  # interleaved rounds
        for k, f in fns.items():
            samples[k].append(timeit.timeit(f, number=number) / number * 1e6)
    return {k: dict(min_us=min(v), median_us=float(np.median(v))) for k, v in samples.items()}


def _cases(quick: bool, family: Optional[str], tiny: bool) -> List[shapes.Case]:
    return [c for c in runner.select_cases(quick, family, tiny) if c.op in ("conv", "conv_transpose")]


def run_case(case: shapes.Case, rng: np.random.Generator, repeat: int, pause: float,
             min_block: float, budget: float) -> Dict[str, Any]:
    x = rng.standard_normal(case.x, dtype=np.float32)
    w = (rng.standard_normal(case.w, dtype=np.float32)
         / np.float32(math.sqrt(max(1, int(np.prod(case.w[1:]))))))
    p = dict(case.params)
    y1 = np.empty(cc.output_shape(case.op, case.x, case.w, **p), np.float32)
    y2 = np.empty_like(y1)
    if case.op == "conv":
        plan = cc.conv_plan(w, **p)
        plain = lambda: cc.conv(x, w, out=y1, **p)  # noqa: E731
    else:
        plan = cc.conv_transpose_plan(w, **p)
        plain = lambda: cc.conv_transpose(x, w, out=y1, **p)  # noqa: E731
    plain()
    plan(x, out=y2)  # prepares the forms
    if y1.tobytes() != y2.tobytes():
        raise AssertionError(f"{case.name}: the plan's result differs from the plain call's")
    t = runner.time_interleaved({"plain": plain, "plan": lambda: plan(x, out=y2)}, repeat, pause,
                                min_block, budget)
    a, b = t["plain"]["median_s"], t["plan"]["median_s"]
    return dict(family=case.family, name=case.name, op=case.op, x=case.x, w=case.w,
                params=p, algorithm=plan.algorithm_for(x), plain_ms=a * 1e3, plan_ms=b * 1e3,
                saved_us=(a - b) * 1e6, ratio=a / b, plan_bytes=plan.workspace_bytes,
                timing=t)


def summarize(cases: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    fam: Dict[str, List[Dict[str, Any]]] = {}
    for c in cases:
        fam.setdefault(c["family"], []).append(c)
    return {f: dict(geomean_ratio=math.exp(sum(math.log(c["ratio"]) for c in cs) / len(cs)),
                    median_saved_us=float(np.median([c["saved_us"] for c in cs])),
                    cases=len(cs)) for f, cs in fam.items()}


def format_table(res: Dict[str, Any]) -> str:
    out = [f"convcore {res['convcore']}, {res['threads']} thread(s), ISA {res['isa']}, "
           f"{res['machine']}", "", "per-call overhead, tiny input (us: min / median)"]
    for k, v in res["overhead"].items():
        out.append(f"  {k:<18} {v['min_us']:7.2f} / {v['median_us']:7.2f}")
    out += ["", f"{'family':<18} {'case':<40} {'algorithm':<10} {'plain ms':>9} {'plan ms':>9} "
            f"{'saved us':>9} {'ratio':>6}"]
    for c in res["cases"]:
        out.append(f"{c['family']:<18} {c['name']:<40} {c['algorithm']:<10} {c['plain_ms']:9.3f} "
                   f"{c['plan_ms']:9.3f} {c['saved_us']:9.1f} {c['ratio']:6.2f}")
    out += ["", f"{'family':<18} {'geomean plain/plan':>18} {'median saved us':>16}"]
    for f, s in res["summary"].items():
        out.append(f"{f:<18} {s['geomean_ratio']:18.3f} {s['median_saved_us']:16.1f}")
    return "\n".join(out)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.plan",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--family")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--pause", type=float, default=0.05)
    ap.add_argument("--min-block", type=float, default=0.1)
    ap.add_argument("--budget", type=float, default=3.0)
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (smoke test)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    if args.threads:
        cc.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    runner._settle_allocator()
    res: Dict[str, Any] = dict(convcore=cc.__version__, threads=cc.get_num_threads(),
                               isa=cc.info()["simd"]["level"],
                               machine=f"{platform.machine()} {platform.processor() or ''}".strip(),
                               overhead=overhead(3 if args.tiny else 7,
                                                 200 if args.tiny else 20000),
                               cases=[])
    cases = _cases(args.quick, args.family, args.tiny)
    for i, c in enumerate(cases):
        r = run_case(c, rng, args.repeat, args.pause, args.min_block, args.budget)
        res["cases"].append(r)
        print(f"[{i + 1}/{len(cases)}] {c.family}: {c.name}  plain {r['plain_ms']:.3f} ms  "
              f"plan {r['plan_ms']:.3f} ms  saved {r['saved_us']:.1f} us", file=sys.stderr,
              flush=True)
    res["summary"] = summarize(res["cases"])
    print(format_table(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
