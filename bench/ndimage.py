"""convcore.ndimage against scipy.ndimage (and OpenCV where it has the same operation).

    python -m bench.ndimage [--full] [--repeat 5] [--only NAME] [--json out.json]

Each function on a float32 and a uint8 2-D image and a float32 volume: 1024^2 and 64^3 by
default (a run of about a minute), 4096^2 and 256^3 with --full (the issue's sizes; several
minutes). SciPy is single-threaded; convcore is timed at 1 and 2 threads. Timing: the
contenders run in interleaved blocks with rotating order and the medians are reported
(bench.runner.time_interleaved); ratios are scipy_time / convcore_time (> 1: convcore faster).
"same" says whether convcore's result equals SciPy's to the bit ("yes"), or for float32 (computed
in float32) the largest difference in float32 epsilons of max|SciPy's result| ("0.8e"). OpenCV (cv2.GaussianBlur,
cv2.filter2D, cv2.Sobel, same kernel and border, cv2.setNumThreads(2)) is compared with
convcore at 2 threads when cv2 is installed; its results are not SciPy's (other rounding), so
only the time is compared. Never run by the tests.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

import convcore as cc
from .runner import time_interleaved
from convcore import ndimage as cnd

K5 = np.random.default_rng(5).standard_normal((5, 5))
K333 = np.random.default_rng(6).standard_normal((3, 3, 3))


def _d2(lib: Any) -> Callable[..., Any]:
    return lambda a, axis, out, mode, cval: lib.correlate1d(a, [1, -2, 1], axis, out, mode, cval)


# (name, call(lib, image)); the dense kernels take the image's rank
CASES: List[Tuple[str, Callable[[Any, np.ndarray], Any]]] = [
    ("gaussian_filter s=2", lambda m, a: m.gaussian_filter(a, 2.0)),
    ("gaussian_filter s=8", lambda m, a: m.gaussian_filter(a, 8.0)),
    ("gaussian_filter1d s=3 ax0", lambda m, a: m.gaussian_filter1d(a, 3.0, axis=0)),
    ("uniform_filter 5", lambda m, a: m.uniform_filter(a, 5)),
    ("uniform_filter1d 9 ax0", lambda m, a: m.uniform_filter1d(a, 9, axis=0)),
    ("sobel", lambda m, a: m.sobel(a)),
    ("prewitt", lambda m, a: m.prewitt(a, axis=0)),
    ("laplace", lambda m, a: m.laplace(a)),
    ("gaussian_laplace s=2", lambda m, a: m.gaussian_laplace(a, 2.0)),
    ("gaussian_gradient_magnitude s=2", lambda m, a: m.gaussian_gradient_magnitude(a, 2.0)),
    ("generic_gradient_magnitude sobel",
     lambda m, a: m.generic_gradient_magnitude(a, m.sobel)),
    ("generic_laplace", lambda m, a: m.generic_laplace(a, _d2(m))),
    ("correlate 5x5 / 3x3x3", lambda m, a: m.correlate(a, K5 if a.ndim == 2 else K333)),
    ("convolve 5x5 / 3x3x3", lambda m, a: m.convolve(a, K5 if a.ndim == 2 else K333)),
    ("correlate1d 7 ax0", lambda m, a: m.correlate1d(a, np.arange(1.0, 8.0), axis=0)),
    ("convolve1d 7 ax-1", lambda m, a: m.convolve1d(a, np.arange(1.0, 8.0))),
]


def _opencv(cv2: Any, name: str, a: np.ndarray) -> Optional[Callable[[], Any]]:
    """The same operation in OpenCV (2-D only), or None."""
    if a.ndim != 2:
        return None
    b = cv2.BORDER_REFLECT  # half-sample symmetric: SciPy's "reflect"
    if name == "gaussian_filter s=2":
        return lambda: cv2.GaussianBlur(a, (17, 17), 2.0, borderType=b)
    if name == "gaussian_filter s=8":
        return lambda: cv2.GaussianBlur(a, (65, 65), 8.0, borderType=b)
    if name == "correlate 5x5 / 3x3x3":
        ddepth = -1 if a.dtype == np.float32 else cv2.CV_64F
        k = K5.astype(np.float32)
        return lambda: cv2.filter2D(a, ddepth, k, borderType=b)
    if name == "sobel":
        ddepth = cv2.CV_32F if a.dtype == np.float32 else cv2.CV_16S
        return lambda: cv2.Sobel(a, ddepth, 1, 0, ksize=3, borderType=b)
    return None


def images(full: bool) -> List[Tuple[str, np.ndarray]]:
    n, v = (4096, 256) if full else (1024, 64)
    rng = np.random.default_rng(0)
    f = rng.random((n, n), dtype=np.float32)
    return [(f"{n}^2 float32", f), (f"{n}^2 uint8", (f * 255).astype(np.uint8)),
            (f"{v}^3 float32", rng.random((v, v, v), dtype=np.float32))]


def _threads(n: int, fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        cc.set_num_threads(n)
        return fn()
    return run


def run(full: bool, repeat: int, only: Optional[str]) -> Dict[str, Any]:
    import scipy.ndimage as sndi
    try:
        import cv2  # type: ignore
        cv2.setNumThreads(2)
    except ImportError:
        cv2 = None
    rows = []
    for iname, a in images(full):
        for name, call in CASES:
            if only and only not in name:
                continue
            ours, ref = call(cnd, a), call(sndi, a)
            same = _same(ours, ref)
            fns = {"scipy": lambda c=call: c(sndi, a),
                   "cc1": _threads(1, lambda c=call: c(cnd, a)),
                   "cc2": _threads(2, lambda c=call: c(cnd, a))}
            cvf = _opencv(cv2, name, a) if cv2 is not None else None
            if cvf is not None:
                fns["opencv"] = cvf
            t = time_interleaved(fns, repeat=repeat, pause=0.02, min_block=0.05,
                                 budget=3.0 if full else 1.0)
            med = {k: v["median_s"] for k, v in t.items()}
            row = dict(image=iname, function=name, same=same, **{f"{k}_s": v for k, v in med.items()},
                       x1=med["scipy"] / med["cc1"], x2=med["scipy"] / med["cc2"])
            if "opencv" in med:
                row["vs_opencv"] = med["opencv"] / med["cc2"]
            rows.append(row)
            print(format_row(row), flush=True)
    cc.set_num_threads(0)
    return {"full": full, "cpu": _cpu(), "opencv": cv2 is not None, "rows": rows}


def _same(ours: np.ndarray, ref: np.ndarray) -> str:
    """"yes" where convcore's result is SciPy's to the bit; for float32 (computed in float32)
    the largest difference in float32 epsilons of max|SciPy's result| ("0.8e")."""
    if ours.dtype == ref.dtype and np.array_equal(ours, ref, equal_nan=True):
        return "yes"
    if ours.dtype != ref.dtype or ref.dtype != np.float32:
        return "NO"
    m = float(np.abs(ref).max())
    err = float(np.abs(ours.astype(np.float64) - ref).max())
    return f"{err / (m * float(np.finfo(np.float32).eps)):.1f}e"


def _cpu() -> str:
    from .peak import cpu_model
    return cpu_model()


HEADER = (f"{'image':<15} {'function':<34} {'scipy ms':>9} {'cc 1t':>8} {'cc 2t':>8} "
          f"{'x 1t':>6} {'x 2t':>6} {'same':>5} {'vs cv2':>7}")


def format_row(r: Dict[str, Any]) -> str:
    cv = f"{r['vs_opencv']:7.2f}" if "vs_opencv" in r else f"{'-':>7}"
    return (f"{r['image']:<15} {r['function']:<34} {1e3 * r['scipy_s']:9.1f} "
            f"{1e3 * r['cc1_s']:8.1f} {1e3 * r['cc2_s']:8.1f} {r['x1']:6.1f} {r['x2']:6.1f} "
            f"{r['same']:>5} {cv}")


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ndimage", description=__doc__.split("\n")[0])
    p.add_argument("--full", action="store_true", help="4096^2 images and a 256^3 volume")
    p.add_argument("--repeat", type=int, default=5, help="interleaved rounds per case")
    p.add_argument("--only", help="run the functions whose name contains this")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    try:
        import cv2  # noqa: F401
    except ImportError:
        print("OpenCV not installed (pip install opencv-python-headless): no cv2 column")
    print(HEADER, flush=True)
    res = run(args.full, args.repeat, args.only)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
