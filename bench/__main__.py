"""python -m bench: see bench/__init__.py."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, Optional


def build_parser(parser: Optional[argparse.ArgumentParser] = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(
        prog="python -m bench", description="convcore CPU benchmark against PyTorch, OpenCV, "
        "SciPy on real layer shapes (float32, same threads, interleaved medians)")
    p.add_argument("--quick", action="store_true", help="one or two cases per family")
    p.add_argument("--family", help="only families whose name contains this (case-insensitive)")
    p.add_argument("--threads", type=int, help="threads for every library (default: convcore's)")
    p.add_argument("--repeat", type=int, default=9, help="timed rounds per case (default 9)")
    p.add_argument("--pause", type=float, default=0.05,
                   help="seconds of sleep after each timed block (default 0.05)")
    p.add_argument("--min-block", type=float, default=0.1,
                   help="seconds of back-to-back calls per timed block (default 0.1)")
    p.add_argument("--budget", type=float, default=3.0,
                   help="seconds per case after which rounds stop (min 3 rounds; default 3)")
    p.add_argument("--peers", help="comma-separated subset of torch,cv2,ndimage")
    p.add_argument("--no-peak", action="store_true", help="skip the FMA peak measurement")
    p.add_argument("--max-wait", type=float, default=20.0,
                   help="seconds to wait before a case while an FMA probe runs below 80%% of "
                        "the peak (the vCPUs sharing a core; default 20)")
    p.add_argument("--passes", type=int, default=1,
                   help="time every case this many times, passes over the whole list; per "
                        "contender the pass with the lower median counts (default 1)")
    p.add_argument("--tiny", action="store_true",
                   help="shrink every case to a tiny shape (smoke tests; times meaningless)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    return p


def main_args(args: argparse.Namespace) -> int:
    from . import runner

    if args.list:
        for c in runner.select_cases(args.quick, args.family, args.tiny):
            print(f"{c.family:<18} {c.name:<44} x={c.x} w={c.w} {c.params}  [{c.source}]")
        return 0

    def progress(ev: Dict[str, Any]) -> None:
        if ev["event"] == "start" and ev.get("peak"):
            pk = ev["peak"]
            print(f"FMA peak {pk['gflops']:.1f} GFLOP/s on {pk['threads']} thread(s) "
                  f"[{pk['method']}]; {ev['cases']} cases", file=sys.stderr, flush=True)
        elif ev["event"] == "case":
            r = ev["result"]
            peers = " ".join(f"{k} {v['ratio']:.2f}x" for k, v in r["peers"].items())
            mark = " ~" if r.get("machine_state", {}).get("degraded") else ""
            tag = f" (pass {ev['pass'] + 1}, best so far)" if ev.get("pass") else ""
            print(f"[{ev['index'] + 1}/{ev['cases']}] {r['family']}: {r['name']}{tag}  "
                  f"{r['convcore_ms']:.3f} ms  {peers}{mark}", file=sys.stderr, flush=True)
        elif ev["event"] == "error":
            e = ev["error"]
            print(f"[{ev['index'] + 1}/{ev['cases']}] {e['family']}: {e['name']}  FAILED "
                  f"{e['error']}", file=sys.stderr, flush=True)

    peers: Optional[List[str]] = args.peers.split(",") if args.peers else None
    res = runner.run(progress, quick=args.quick, family=args.family, threads=args.threads,
                     repeat=args.repeat, pause=args.pause, min_block=args.min_block,
                     budget=args.budget, tiny=args.tiny, peers=peers,
                     measure_peak=not args.no_peak, max_wait=args.max_wait,
                     passes=args.passes)
    print(runner.format_table(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 1 if res.get("errors") else 0


def main(argv: Optional[List[str]] = None) -> int:
    return main_args(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
