"""The ``convcore`` command (also ``python -m convcore``):

* ``convcore info``: build and run-time facts (``cc.info()``);
* ``convcore tour [--out DIR]``: every variant on a built-in picture, the textbook
  comparisons, and a gallery PNG (with matplotlib: ``pip install 'convcore[viz]'``);
* ``convcore bench [--full] [--family F] [--json FILE]``: the benchmark suite against
  PyTorch/SciPy/OpenCV, those installed (a line names each one skipped). It ships in the wheel
  as ``convcore.bench`` (built from bench/ of the source tree), imported by this command only.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional


def _info(args: argparse.Namespace) -> int:
    import convcore

    print(json.dumps(convcore.info(), indent=2, default=str))
    return 0


def _tour(args: argparse.Namespace) -> int:
    from . import tour

    if args.threads is not None:
        import convcore

        convcore.set_num_threads(args.threads)
    r = tour.tour(args.out, size=args.size, repeat=args.repeat)
    return 1 if any(x.error for x in r["results"]) else 0


class ProgressBar:
    """A plain-text progress bar on stderr (no dependency). Called as ``bar(done, total,
    label)``; also tolerates ``bar(label)`` or keyword arguments, so it fits any harness."""

    def __init__(self, stream: Any = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.start = time.perf_counter()
        self.done, self.total, self.label = 0, 0, ""

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if args and isinstance(args[0], dict):  # bench.run's events
            self.event(args[0])
            return
        nums = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        labels = [str(a) for a in args if isinstance(a, str)]
        done = kwargs.get("done", nums[0] if nums else self.done + 1)
        total = kwargs.get("total", nums[1] if len(nums) > 1 else self.total)
        self.label = str(kwargs.get("label", kwargs.get("name", labels[0] if labels else "")))
        self.done, self.total = int(done), int(total)
        elapsed = time.perf_counter() - self.start
        if self.total > 0:
            frac = min(1.0, self.done / self.total)
            fill = int(round(frac * self.width))
            bar = "#" * fill + "." * (self.width - fill)
            text = f"[{bar}] {self.done}/{self.total} {elapsed:5.0f}s {self.label}"
        else:
            text = f"[{self.done}] {elapsed:5.0f}s {self.label}"
        end = "\n" if self.total and self.done >= self.total else ""
        print("\r" + text[:100].ljust(100), end=end, file=self.stream, flush=True)

    def event(self, ev: Dict[str, Any]) -> None:
        """bench.run's progress events: {"event": "start" | "case" | "end", ...}."""
        kind = ev.get("event")
        if kind == "start":
            self(0, int(ev.get("cases", 0)), "measuring the machine's peak")
        elif kind == "case":
            r = ev.get("result") or {}
            label = ": ".join(str(r[k]) for k in ("family", "name") if k in r)
            self(int(ev.get("index", self.done)) + 1, int(ev.get("cases", self.total)), label)
        elif kind == "end":
            self.finish()

    def finish(self) -> None:
        if not (self.total and self.done >= self.total):
            print("", file=self.stream, flush=True)


NO_BENCH = ("convcore bench: the benchmark is not installed (this convcore was built without "
            "bench/); from a source checkout: pip install '.[test]' && python -m bench")


def _import_bench() -> Any:
    """The installed convcore.bench; in a development tree (python/ on the path, no install)
    the checkout's bench/ in the current directory. None when neither is there."""
    import importlib

    try:
        return importlib.import_module("convcore.bench")
    except ImportError:
        pass
    # `convcore` is a console script, so sys.path[0] is its bin/ folder, not the checkout.
    if not os.path.isfile(os.path.join(os.getcwd(), "bench", "__init__.py")):
        return None
    sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module("bench")
    except ImportError:
        return None


def _bench(args: argparse.Namespace) -> int:
    bench = _import_bench()
    if bench is None:
        print(NO_BENCH, file=sys.stderr)
        return 2
    for line in bench.missing_peers():
        print(line, file=sys.stderr)
    bar = ProgressBar()
    kwargs: Dict[str, Any] = {"progress": bar, "quick": not args.full, "tiny": args.tiny}
    if args.threads is not None:
        kwargs["threads"] = args.threads
    if args.family is not None:
        kwargs["family"] = args.family
    if args.tiny:  # a smoke run: the harness end to end in seconds, no figure worth keeping
        kwargs.update(repeat=3, pause=0.0, min_block=0.002, budget=0.1, max_wait=0.0)
    results = bench.run(**kwargs)
    bar.finish()
    print(bench.format_table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
        print(f"results written to {args.json}", file=sys.stderr)
    return 1 if results.get("errors") else 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="convcore", description="convcore command line")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="print build and run-time facts")
    p.set_defaults(func=_info)
    p = sub.add_parser("tour", help="every convolution variant on a built-in picture",
                       description="Run every variant on a built-in picture, print the textbook "
                       "comparisons and a table; with --out, write DIR/gallery.png "
                       "(needs matplotlib: pip install 'convcore[viz]').")
    p.add_argument("--out", metavar="DIR", help="write the gallery PNG into DIR")
    p.add_argument("--size", type=int, default=128, help="picture size in pixels (default 128)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per row (best is shown)")
    p.add_argument("--threads", type=int, help="threads (default: all cores)")
    p.set_defaults(func=_tour)
    p = sub.add_parser("bench", help="benchmarks against PyTorch/SciPy/OpenCV (those installed)")
    p.add_argument("--full", action="store_true", help="all cases (default: the quick set)")
    p.add_argument("--threads", type=int, help="threads for every library (default: bench's)")
    p.add_argument("--family", help="only the cases of this family (e.g. resnet, mobilenet)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--tiny", action="store_true",
                   help="tiny shapes and short blocks: checks the harness in seconds")
    p.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `convcore tour | head`: the reader left; not an error
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
