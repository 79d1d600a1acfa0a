"""convcore's CUDA path against PyTorch (cuDNN) on real layer shapes.

    python -m bench.cuda [--repeat 50] [--warmup 10] [--json results.json] [--only resnet]

Both sides get the same float32 CuPy/PyTorch tensors (shared through DLPack), channels-first,
TF32 off (torch.backends.cudnn.allow_tf32 / cuda.matmul.allow_tf32 = False; convcore's kernels
use plain FP32 FMAs), cuDNN autotuning on (cudnn.benchmark = True). Times are medians of CUDA
event timings (cupyx.profiler.benchmark) after warm-up, on the default stream, which both
libraries launch on. Printed per case: both times, the ratio torch_time / convcore_time (> 1:
convcore faster), GFLOP/s (2 * MACs / time, MACs from convcore.cost) and convcore's fraction of
the device's FP32 FMA peak, plus the largest relative difference between the two outputs.
Never run by the tests.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Dict, List, Optional

import numpy as np

# (name, family, x shape, w shape, conv kwargs)
CASES: List[tuple] = [
    # ResNet-50 3x3 convolutions (bottleneck middles), N = 32
    ("resnet50 3x3 64@56", "resnet", (32, 64, 56, 56), (64, 64, 3, 3), dict(padding=1)),
    ("resnet50 3x3 128@28", "resnet", (32, 128, 28, 28), (128, 128, 3, 3), dict(padding=1)),
    ("resnet50 3x3 256@14", "resnet", (32, 256, 14, 14), (256, 256, 3, 3), dict(padding=1)),
    ("resnet50 3x3 512@7", "resnet", (32, 512, 7, 7), (512, 512, 3, 3), dict(padding=1)),
    ("resnet50 3x3 s2 128@56", "resnet", (32, 128, 56, 56), (128, 128, 3, 3),
     dict(padding=1, stride=2)),
    # ResNet-50 1x1 convolutions (bottleneck ends), N = 32
    ("resnet50 1x1 256->64@56", "resnet", (32, 256, 56, 56), (64, 256, 1, 1), {}),
    ("resnet50 1x1 64->256@56", "resnet", (32, 64, 56, 56), (256, 64, 1, 1), {}),
    ("resnet50 1x1 1024->256@14", "resnet", (32, 1024, 14, 14), (256, 1024, 1, 1), {}),
    ("resnet50 1x1 2048->512@7", "resnet", (32, 2048, 7, 7), (512, 2048, 1, 1), {}),
    # MobileNetV2 depthwise 3x3, N = 32
    ("mobilenetv2 dw 96@112 s2", "mobilenet", (32, 96, 112, 112), (96, 1, 3, 3),
     dict(padding=1, stride=2, groups=96)),
    ("mobilenetv2 dw 144@56", "mobilenet", (32, 144, 56, 56), (144, 1, 3, 3),
     dict(padding=1, groups=144)),
    ("mobilenetv2 dw 192@28", "mobilenet", (32, 192, 28, 28), (192, 1, 3, 3),
     dict(padding=1, groups=192)),
    ("mobilenetv2 dw 384@14", "mobilenet", (32, 384, 14, 14), (384, 1, 3, 3),
     dict(padding=1, groups=384)),
    ("mobilenetv2 dw 960@7", "mobilenet", (32, 960, 7, 7), (960, 1, 3, 3),
     dict(padding=1, groups=960)),
    # 3-D: 3x3x3 64 -> 64 on 32^3, N = 4
    ("conv3d 3x3x3 64@32^3", "conv3d", (4, 64, 32, 32, 32), (64, 64, 3, 3, 3), dict(padding=1)),
]
DEFORM = ("deform 3x3 256@64", "deform", (8, 256, 64, 64), (256, 256, 3, 3), dict(padding=1))

_FP32_LANES_PER_SM = {(6, 0): 64, (7, 0): 64, (7, 5): 64, (8, 0): 64}  # others: 128


def fp32_peak_gflops(cupy: Any) -> Optional[float]:
    """FP32 FMA peak of the current device: SMs x FP32 lanes x 2 flops x clock."""
    try:
        dev = cupy.cuda.Device()
        props = cupy.cuda.runtime.getDeviceProperties(dev.id)
        cc = (int(props["major"]), int(props["minor"]))
        lanes = _FP32_LANES_PER_SM.get(cc, 128)
        clock_khz = props.get("clockRate") or cupy.cuda.runtime.deviceGetAttribute(13, dev.id)
        return props["multiProcessorCount"] * lanes * 2 * clock_khz * 1e3 / 1e9
    except Exception:  # an attribute this CUDA version no longer reports
        return None


def gpu_median_ms(fn: Callable[[], Any], repeat: int, warmup: int) -> float:
    from cupyx.profiler import benchmark

    r = benchmark(fn, n_repeat=repeat, n_warmup=warmup)
    return float(np.median(r.gpu_times[0]) * 1e3)


def run_case(cc: Any, cupy: Any, torch: Any, case: tuple, repeat: int, warmup: int,
             peak: Optional[float]) -> Dict[str, Any]:
    name, family, xs, ws, kw = case
    rng = cupy.random.default_rng(0)
    x = rng.standard_normal(xs, dtype=cupy.float32)
    w = rng.standard_normal(ws, dtype=cupy.float32) * (1.0 / np.sqrt(np.prod(ws[1:])))
    macs = cc.cost("conv", xs, ws, **kw).macs
    ours = lambda: cc.conv(x, w, **kw)  # noqa: E731
    y = ours()
    t_ours = gpu_median_ms(ours, repeat, warmup)
    row: Dict[str, Any] = {"case": name, "family": family, "x": xs, "w": ws, "params": kw,
                           "macs": macs, "convcore_ms": t_ours,
                           "convcore_gflops": 2 * macs / t_ours / 1e6}
    if peak:
        row["convcore_peak_fraction"] = row["convcore_gflops"] / peak
    if torch is not None:
        F = torch.nn.functional
        conv = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[len(xs)]
        tx, tw = torch.from_dlpack(x), torch.from_dlpack(w)
        theirs = lambda: conv(tx, tw, **kw)  # noqa: E731
        ty = theirs()
        t_theirs = gpu_median_ms(theirs, repeat, warmup)
        row.update(torch_ms=t_theirs, ratio=t_theirs / t_ours,
                   torch_gflops=2 * macs / t_theirs / 1e6)
        diff = cupy.abs(y - cupy.from_dlpack(ty)).max() / max(float(cupy.abs(y).max()), 1e-30)
        row["max_rel_diff"] = float(diff)
    return row


def run_deform(cc: Any, cupy: Any, repeat: int, warmup: int,
               peak: Optional[float]) -> Optional[Dict[str, Any]]:
    name, family, xs, ws, kw = DEFORM
    if not hasattr(cc, "deform_conv2d"):
        print(f"{name}: skipped (convcore has no deform_conv2d)")
        return None
    rng = cupy.random.default_rng(1)
    N, C, H, W = xs
    x = rng.standard_normal(xs, dtype=cupy.float32)
    w = rng.standard_normal(ws, dtype=cupy.float32) * (1.0 / np.sqrt(np.prod(ws[1:])))
    off = rng.standard_normal((N, 2 * ws[2] * ws[3], H, W), dtype=cupy.float32)
    try:
        cc.deform_conv2d(x[:1, :, :8, :8], off[:1, :, :8, :8], w, **kw)
    except (NotImplementedError, TypeError) as e:
        print(f"{name}: skipped (no CUDA deform_conv2d: {e})")
        return None
    ours = lambda: cc.deform_conv2d(x, off, w, **kw)  # noqa: E731
    t_ours = gpu_median_ms(ours, repeat, warmup)
    macs = N * ws[0] * H * W * C * ws[2] * ws[3]
    row: Dict[str, Any] = {"case": name, "family": family, "x": xs, "w": ws, "params": kw,
                           "macs": macs, "convcore_ms": t_ours,
                           "convcore_gflops": 2 * macs / t_ours / 1e6}
    if peak:
        row["convcore_peak_fraction"] = row["convcore_gflops"] / peak
    try:
        import torch
        import torchvision.ops

        tx, toff, tw = (torch.from_dlpack(a) for a in (x, off, w))
        theirs = lambda: torchvision.ops.deform_conv2d(tx, toff, tw, **kw)  # noqa: E731
        t_theirs = gpu_median_ms(theirs, repeat, warmup)
        row.update(torch_ms=t_theirs, ratio=t_theirs / t_ours)
        y, ty = ours(), theirs()
        diff = cupy.abs(y - cupy.from_dlpack(ty)).max() / max(float(cupy.abs(y).max()), 1e-30)
        row["max_rel_diff"] = float(diff)
    except ImportError:
        pass
    return row


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="convcore CUDA vs PyTorch cuDNN")
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--only", help="run the cases whose name contains this")
    args = ap.parse_args(argv)
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() == 0:
            raise RuntimeError("no CUDA device")
    except Exception as e:
        print(f"bench.cuda needs CuPy and a CUDA device: {e}")
        return 0
    import convcore as cc

    try:
        import torch

        if not torch.cuda.is_available():
            raise ImportError("PyTorch without CUDA")
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    except ImportError as e:
        print(f"PyTorch comparison skipped: {e}")
        torch = None
    info = cc.info()
    peak = fp32_peak_gflops(cupy)
    print(f"device: {info.get('cuda_device')} (cc {info.get('cuda_compute_capability')}), "
          f"kernels {info.get('cuda_kernels')}, FP32 peak "
          f"{'%.0f GFLOP/s' % peak if peak else 'unknown'}")
    print(f"{'case':<28}{'convcore ms':>12}{'torch ms':>10}{'ratio':>8}{'GFLOP/s':>10}"
          f"{'peak':>7}{'rel diff':>10}")
    rows = []
    for case in CASES:
        if args.only and args.only not in case[0]:
            continue
        row = run_case(cc, cupy, torch, case, args.repeat, args.warmup, peak)
        rows.append(row)
        print(f"{row['case']:<28}{row['convcore_ms']:>12.3f}"
              f"{row.get('torch_ms', float('nan')):>10.3f}{row.get('ratio', float('nan')):>8.2f}"
              f"{row['convcore_gflops']:>10.0f}"
              f"{100 * row.get('convcore_peak_fraction', float('nan')):>6.1f}%"
              f"{row.get('max_rel_diff', float('nan')):>10.1e}")
        sys.stdout.flush()
    if not args.only or args.only in DEFORM[0]:
        row = run_deform(cc, cupy, args.repeat, args.warmup, peak)
        if row:
            rows.append(row)
            print(f"{row['case']:<28}{row['convcore_ms']:>12.3f}"
                  f"{row.get('torch_ms', float('nan')):>10.3f}"
                  f"{row.get('ratio', float('nan')):>8.2f}{row['convcore_gflops']:>10.0f}"
                  f"{100 * row.get('convcore_peak_fraction', float('nan')):>6.1f}%"
                  f"{row.get('max_rel_diff', float('nan')):>10.1e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": info.get("cuda_device"), "peak_gflops": peak, "rows": rows}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
