"""INT8 convolution on the CPU: convcore.quantized_conv2d against ONNX Runtime's QLinearConv and
PyTorch's quantized conv2d, and against convcore's own float32 conv on the same layer.

    python -m bench.quantized [--threads 2] [--levels avx2,avx512] [--quick] [--json FILE]
                              [--repeat 7] [--budget 2.0] [--only TEXT] [--batches 1,8]
                              [--cpu-time]

Cases: ResNet-50 3x3 and 1x1 layers and MobileNetV2 depthwise 3x3 layers, N = 1 and 8. Data:
uint8 x over the full range (zero point 128), int8 w in [-127, 127] (zero point 0, per-tensor
scale), int32 bias, uint8 y; scales chosen so that the outputs spread over the range.

Contenders, each in this process with the same thread count:
- convcore INT8, channels-last x and y (its fast layout): the plain call (which packs the
  weights on every call) and a plan (``cc.quantized_conv2d_plan``: the weights packed once,
  the C++ quantized_conv_pack / quantized_conv_run), and the plain call channels-first (NCHW,
  as ONNX);
- convcore float32 ``conv`` (NCHW) on the same layer;
- ONNX Runtime ``QLinearConv`` (when onnxruntime and onnx import): a one-node model built with
  ``onnx.helper`` (weights, scales, zero points and bias as initializers, so ORT prepacks the
  weights once), NCHW uint8 input, ``intra_op_num_threads`` = threads, sequential execution;
- PyTorch ``torch.ops.quantized.conv2d`` (x86 engine, weights prepacked once with
  ``conv2d_prepack``, channels-last quint8 input; when torch imports).
Both peers prepack their weights once, so the ratios against them use convcore's packed run;
the ratio against convcore's float32 (which packs on every call) uses both.

Every convcore level in ``--levels`` the CPU supports is timed (``convcore._core._set_isa``);
the peers do not depend on it, except that ``--levels avx2`` alone on an AVX-512 CPU (a
stand-in for an AVX2 machine) holds PyTorch to AVX2 as well (ONNX Runtime has no switch for it
and keeps its VNNI kernels; the output says so). Timing: bench.runner.time_interleaved (interleaved blocks,
median of rounds). Printed per case and level: milliseconds, the ratios peer / convcore
(> 1: convcore faster; the faster peer against the packed run, convcore float32 against the
plain call and the packed run), convcore's packed INT8 GOPS (2 x multiply-accumulates / time)
and its fraction of the level's integer peak
(bench.peak.measure_int8: the multiply-accumulate instruction of that level's INT8 path, on
``threads`` threads). ``--cpu-time`` (for a shared machine, where other processes take the
cores in turns): one thread everywhere, each contender's time the minimum over interleaved calls
of the calling thread's CPU time (``time.thread_time``: the ORT session and PyTorch run their
single-threaded work on the calling thread too), and the single-thread peaks measured the same
way. Also the largest difference in LSB between each peer and convcore
(convcore is exact; int16 pair sums saturate on such full-range data in ONNX Runtime's AVX2
path and in PyTorch's x86 depthwise kernel). Never run by the tests except ``--quick``
(structure only).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import warnings
from typing import Any, Callable, Dict, List, Optional

import numpy as np

import convcore as cc
from convcore import _core

from . import peak as _peak
from .runner import time_interleaved

# (family, name, N, C_in, C_out, H (= W), k, stride, groups)
LAYERS = [
    ("resnet50 3x3", "64->64 3x3 @56", 64, 64, 56, 3, 1, 1),
    ("resnet50 3x3", "128->128 3x3 @28", 128, 128, 28, 3, 1, 1),
    ("resnet50 3x3", "256->256 3x3 @14", 256, 256, 14, 3, 1, 1),
    ("resnet50 1x1", "256->64 1x1 @56", 256, 64, 56, 1, 1, 1),
    ("resnet50 1x1", "1024->256 1x1 @14", 1024, 256, 14, 1, 1, 1),
    ("mobilenetv2 dw", "dw 144 3x3 @56", 144, 144, 56, 3, 1, 144),
    ("mobilenetv2 dw", "dw 192 3x3 @28", 192, 192, 28, 3, 1, 192),
    ("mobilenetv2 dw", "dw 576 3x3 @14", 576, 576, 14, 3, 1, 576),
]
QUICK = [("quick", "16->16 3x3 @8", 16, 16, 8, 3, 1, 1), ("quick", "dw 16 3x3 @8", 16, 16, 8, 3, 1, 16)]


def _ort_session(ort: Any, helper: Any, TP: Any, w: np.ndarray, b: np.ndarray, xs: float,
                 xz: int, ws: float, ys: float, yz: int, x_shape: Any, pad: int, stride: int,
                 groups: int, threads: int, spin: bool = False) -> Any:
    inits = [helper.make_tensor("xs", TP.FLOAT, [], [xs]),
             helper.make_tensor("xz", TP.UINT8, [], [xz]),
             helper.make_tensor("w", TP.INT8, w.shape, w.tobytes(), raw=True),
             helper.make_tensor("ws", TP.FLOAT, [], [ws]),
             helper.make_tensor("wz", TP.INT8, [], [0]),
             helper.make_tensor("ys", TP.FLOAT, [], [ys]),
             helper.make_tensor("yz", TP.UINT8, [], [yz]),
             helper.make_tensor("b", TP.INT32, [w.shape[0]], b.tobytes(), raw=True)]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                            ["y"], pads=[pad] * 4, strides=[stride] * 2, group=groups)
    graph = helper.make_graph([node], "qconv",
                              [helper.make_tensor_value_info("x", TP.UINT8, list(x_shape))],
                              [helper.make_tensor_value_info("y", TP.UINT8, None)],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if not spin:
        # ORT's pool spins after a run; interleaved with convcore's OpenMP team on 2 cores that
        # steals convcore's cores (as OMP_WAIT_POLICY=passive stops convcore's spinning)
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def _peak_kind(path: str) -> str:
    """The integer peak (bench.peak.INT8_KINDS) of the instructions an INT8 path runs: the
    depthwise kernels run VNNI or AVX2-width vpmaddwd."""
    return {"avx512_vnni_depthwise": "avx512_vnni", "avx2_depthwise": "avx2_madd",
            "avx512bw_depthwise": "avx2_madd"}.get(path, path)


def _peers(threads: int) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper

        out["ort"] = (ort, helper, TensorProto)
    except Exception:
        pass
    try:
        import torch
        import torch.ao.nn.quantized.functional as qF

        torch.set_num_threads(threads)
        # quantized tensors are deprecated in recent PyTorch (still the x86 INT8 conv's API)
        warnings.filterwarnings("ignore", message=".*quantized tensor creation.*")
        warnings.filterwarnings("ignore", message=".*torch.quantize_per_tensor.*")
        torch.backends.quantized.engine = "x86" if "x86" in \
            torch.backends.quantized.supported_engines else torch.backends.quantized.engine
        out["torch"] = (torch, qF)
    except Exception:
        pass
    return out


def _cpu_rate(loop: Callable[[int], Any], per_iter: float) -> float:
    """Operations per second of loop(iters) in the calling thread's CPU time, best of 4."""
    iters = 1 << 16
    while True:
        t0 = time.thread_time()
        loop(iters)
        dt = time.thread_time() - t0
        if dt > 0.05:
            break
        iters *= 4
    best = 0.0
    for _ in range(4):
        t0 = time.thread_time()
        loop(iters)
        best = max(best, iters * per_iter / max(time.thread_time() - t0, 1e-9))
    return best


def _peaks_cpu(kinds: List[str]) -> Any:
    """--cpu-time: the single-thread integer and FMA peaks of bench.peak's loops, in thread CPU
    time (the wall-time rates of bench.peak count the time other processes take)."""
    ints: Dict[str, Any] = {}
    for kind in kinds:
        dll = _peak._compile_int8(kind)
        if dll is None:
            ints[kind] = None
            continue
        label, _, _, macs = _peak.INT8_KINDS[kind]
        g = _cpu_rate(dll.int8_loop, _peak._ACCUMULATORS * macs * 2) / 1e9
        ints[kind] = {"gops": g, "per_thread": g, "threads": 1,
                      "method": f"{label} loop ({_peak._ACCUMULATORS} accumulators), C, "
                                "thread CPU time"}
    fma = None
    comp = _peak._compile()
    if comp is not None:
        dll, label, vbytes = comp
        g = _cpu_rate(dll.fma_loop, _peak._ACCUMULATORS * (vbytes // 4) * 2) / 1e9
        fma = {"gflops": g, "per_thread": g, "threads": 1,
               "method": f"{label} loop ({vbytes * 8}-bit vectors), C, thread CPU time"}
    return ints, fma


def _time_cpu(fns: Dict[str, Callable[[], Any]], budget: float) -> Dict[str, Dict[str, Any]]:
    """Minimum thread CPU time per call of each fn (one thread), calls interleaved for
    ``budget`` seconds of wall time (at least 5 rounds): time the machine gives to other
    processes is not counted. Returned as time_interleaved's {'median_s': ...} (the minimum)."""
    for f in fns.values():
        f()
    ts: Dict[str, List[float]] = {n: [] for n in fns}
    t_end = time.perf_counter() + budget
    rounds = 0
    while rounds < 5 or time.perf_counter() < t_end:
        for n, f in fns.items():
            t0 = time.thread_time()
            f()
            ts[n].append(time.thread_time() - t0)
        rounds += 1
    return {n: {"median_s": min(v), "calls": len(v)} for n, v in ts.items()}


def _case(layer: Any, N: int, threads: int, levels: List[str], peers: Dict[str, Any],
          repeat: int, budget: float, rng: np.random.Generator, spin: bool = False,
          cpu_time: bool = False) -> Dict[str, Any]:
    family, name, C, O, H, k, stride, groups = layer
    pad = k // 2
    x = rng.integers(0, 256, (N, C, H, H)).astype(np.uint8)
    w = rng.integers(-127, 128, (O, C // groups, k, k)).astype(np.int8)
    b = rng.integers(-20000, 20000, O).astype(np.int32)
    red = C // groups * k * k
    xs, xz, ws, yz = 0.02, 128, 0.005, 128
    ys = float(xs * ws * 74 * 74 * math.sqrt(red) / 40)  # output std ~40 LSB
    kw = dict(stride=stride, padding=pad, groups=groups)
    xl = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    xf = (x.astype(np.float32) - xz) * np.float32(xs)
    wf = w.astype(np.float32) * np.float32(ws)
    macs = int(cc.cost("conv2d", x.shape, w.shape, **kw).macs)
    fns: Dict[str, Callable[[], Any]] = {}
    ref = cc.quantized_conv2d(x, xs, xz, w, ws, 0, ys, yz, b, **kw)
    diffs: Dict[str, int] = {}
    apis: Dict[str, str] = {}
    if "ort" in peers:
        ort, helper, TP = peers["ort"]
        sess = _ort_session(ort, helper, TP, w, b, float(np.float32(xs)), xz, float(np.float32(ws)),
                            float(np.float32(ys)), yz, x.shape, pad, stride, groups, threads,
                            spin)
        fns["ort"] = lambda: sess.run(None, {"x": x})
        # ORT sees float32 scales; convcore's result for the same float32 scales
        y_ort = sess.run(None, {"x": x})[0]
        ref32 = cc.quantized_conv2d(x, float(np.float32(xs)), xz, w, float(np.float32(ws)), 0,
                                    float(np.float32(ys)), yz, b, **kw)
        diffs["ort"] = int(np.abs(y_ort.astype(np.int32) - ref32).max())
        apis["ort"] = f"onnxruntime {ort.__version__} QLinearConv"
    if "torch" in peers:
        torch, qF = peers["torch"]
        try:
            qx = torch.quantize_per_tensor(torch.from_numpy(xf), xs, xz, torch.quint8)
            qx = qx.contiguous(memory_format=torch.channels_last)
            qw = torch.quantize_per_tensor(torch.from_numpy(wf), ws, 0, torch.qint8)
            tb = torch.from_numpy(b.astype(np.float32) * np.float32(xs * ws))
            packed = torch.ops.quantized.conv2d_prepack(qw, tb, [stride] * 2, [pad] * 2, [1, 1],
                                                        groups)

            def tfn() -> Any:
                return torch.ops.quantized.conv2d(qx, packed, ys, yz)

            yt = tfn().int_repr().numpy()
            diffs["torch"] = int(np.abs(yt.astype(np.int32) - ref).max())
            fns["torch"] = tfn
            apis["torch"] = (f"torch {torch.__version__} quantized conv2d "
                             f"({torch.backends.quantized.engine}, prepacked)")
        except Exception as e:  # no quantized engine on this CPU, or an API change
            apis["torch"] = f"failed: {e}"
    rows = []
    for level in levels:
        _core._set_isa(level)
        q = dict(fns)
        pk = cc.quantized_conv2d_plan(xs, xz, w, ws, 0, ys, yz, b, channels_last=True,
                                      x_dtype=np.uint8, **kw)
        q["cc_int8_nhwc"] = lambda: cc.quantized_conv2d(xl, xs, xz, w, ws, 0, ys, yz, b,
                                                        channels_last=True, **kw)
        q["cc_int8_packed"] = lambda: pk(xl)
        q["cc_int8_nchw"] = lambda: cc.quantized_conv2d(x, xs, xz, w, ws, 0, ys, yz, b, **kw)
        q["cc_f32"] = lambda: cc.conv(xf, wf, **kw)
        if cpu_time:
            t = _time_cpu(q, budget)
        else:
            t = time_interleaved(q, repeat=repeat, pause=0.02, min_block=0.05, budget=budget)
        ms = {n: v["median_s"] * 1e3 for n, v in t.items()}
        plain, packed_ms = ms["cc_int8_nhwc"], ms["cc_int8_packed"]
        peer_ms = [ms[p] for p in ("ort", "torch") if p in ms]
        rows.append(dict(level=level, int8_path=pk.algorithm, ms=ms,
                         ratio_faster_peer=(min(peer_ms) / packed_ms) if peer_ms else None,
                         ratio_ort=(ms["ort"] / packed_ms) if "ort" in ms else None,
                         ratio_torch=(ms["torch"] / packed_ms) if "torch" in ms else None,
                         ratio_f32=ms["cc_f32"] / plain,
                         ratio_f32_packed=ms["cc_f32"] / packed_ms,
                         gops=2 * macs / (packed_ms * 1e-3) / 1e9,
                         gops_plain=2 * macs / (plain * 1e-3) / 1e9))
    return dict(family=family, name=name, N=N, macs=macs, max_lsb_diff=diffs, apis=apis,
                levels=rows)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--levels", default="avx2,avx512")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per case and level")
    ap.add_argument("--quick", action="store_true", help="two tiny cases (a smoke test)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--only", default=None, help="layers whose name contains this text")
    ap.add_argument("--batches", default="1,8", help="batch sizes, comma-separated")
    ap.add_argument("--cpu-time", action="store_true",
                    help="one thread, minima of per-call thread CPU time (a shared machine)")
    ap.add_argument("--ort-spinning", action="store_true",
                    help="let ONNX Runtime's threads spin after a run (its default; off here: "
                         "see the docstring)")
    args = ap.parse_args(argv)
    if args.cpu_time:
        args.threads = 1
    cc.set_num_threads(args.threads)
    supported = _core.simd_info()["supported"]
    levels = [l for l in args.levels.split(",") if l in supported] or [_core.simd_info()["level"]]
    old = _core.simd_info()["level"]
    kinds: List[str] = []
    for level in levels:
        _core._set_isa(level)
        path = _core.simd_info()["int8"]
        for kind in ([path, "avx2_madd"] if level != "scalar" else [path]):
            if kind not in kinds and kind in _peak.INT8_KINDS:
                kinds.append(kind)
    peaks: Dict[str, Any] = {k: None for k in kinds}
    fma = None
    if args.cpu_time and not args.quick:
        peaks, fma = _peaks_cpu(kinds)
    elif not args.quick:
        peaks = {k: _peak.measure_int8(args.threads, k) for k in kinds}
        fma = _peak.measure(args.threads)
    # Run with --levels avx2 alone on an AVX-512 CPU (the stand-in for an AVX2 machine),
    # PyTorch is held to AVX2 as it would be there (FBGEMM and oneDNN through their variables,
    # set before it is imported; a user's own setting wins). ONNX Runtime's MLAS has no such
    # switch: it keeps its VNNI kernels, and the table says so.
    held = levels == ["avx2"] and "avx512" in supported
    if held:
        for k, v in {"FBGEMM_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                     "ATEN_CPU_CAPABILITY": "avx2"}.items():
            os.environ.setdefault(k, v)
    peers = _peers(args.threads)
    rng = np.random.default_rng(0)
    cases = []
    layers = QUICK if args.quick else LAYERS
    if args.only:
        layers = [l for l in layers if args.only in l[1]]
    repeat, budget = (3, 0.05) if args.quick else (args.repeat, args.budget)
    print(f"{_peak.cpu_model()}, threads={args.threads}, peers: {sorted(peers) or 'none'}")
    if held:
        print("PyTorch held to AVX2 (FBGEMM_ENABLE_INSTRUCTIONS, ONEDNN_MAX_CPU_ISA); ONNX "
              "Runtime cannot be held and runs its VNNI kernels")
    for path, p in peaks.items():
        if p:
            print(f"INT8 peak ({path}): {p['gops']:.0f} GOPS ({p['method']})")
    if fma:
        print(f"float32 FMA peak: {fma['gflops']:.0f} GFLOP/s ({fma['method']})")
    hdr = (f"{'layer':22s} {'N':>2s} {'level':7s} {'cc NHWC':>8s} {'packed':>8s} {'cc NCHW':>8s} "
           f"{'cc f32':>8s} {'ORT':>8s} {'torch':>8s} {'peer/pk':>8s} {'f32/cc':>7s} "
           f"{'f32/pk':>7s} {'GOPS':>6s} {'peak':>5s}")
    print(hdr)
    try:
        for layer in layers:
            for N in ((1,) if args.quick else tuple(int(v) for v in args.batches.split(","))):
                c = _case(layer, N, args.threads, levels, peers, repeat, budget, rng,
                          args.ort_spinning, args.cpu_time)
                for r in c["levels"]:
                    p = peaks.get(_peak_kind(r["int8_path"]))
                    r["peak_fraction"] = r["gops"] / p["gops"] if p else None
                    ms = r["ms"]
                    f = lambda v, fmt: (fmt % v) if v is not None else "-"
                    print(f"{c['name']:22s} {N:2d} {r['level']:7s} {ms['cc_int8_nhwc']:8.2f} "
                          f"{ms['cc_int8_packed']:8.2f} {ms['cc_int8_nchw']:8.2f} "
                          f"{ms['cc_f32']:8.2f} "
                          f"{f(ms.get('ort'), '%8.2f'):>8s} {f(ms.get('torch'), '%8.2f'):>8s} "
                          f"{f(r['ratio_faster_peer'], '%8.2f'):>8s} {r['ratio_f32']:7.2f} "
                          f"{r['ratio_f32_packed']:7.2f} "
                          f"{r['gops']:6.0f} {f(r['peak_fraction'], '%5.2f'):>5s}")
                if c["max_lsb_diff"]:
                    print(f"{'':22s}    max |peer - exact| in LSB: {c['max_lsb_diff']}")
                cases.append(c)
                sys.stdout.flush()
    finally:
        _core._set_isa(old)
    res = dict(machine=dict(cpu=_peak.cpu_model(), platform=platform.platform()),
               timing="thread CPU time, minimum (--cpu-time)" if args.cpu_time
               else "wall time, median of interleaved blocks",
               threads=args.threads, levels=levels, int8_peak=peaks, fma_peak=fma,
               torch_held_to_avx2=held,
               peers={k: v for c in cases[:1] for k, v in c["apis"].items()}, cases=cases)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
