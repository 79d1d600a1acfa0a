"""The machine's float32 FMA peak, measured (not looked up).

A tiny C loop of independent vector FMAs (enough accumulators to cover the FMA latency on two
ports) is compiled at run time with the system's C compiler for the widest vector ISA the CPU
reports (AVX-512, AVX2+FMA, or the compiler's default), loaded through ctypes, and run on
``threads`` Python threads at once (ctypes releases the GIL, so the threads run in parallel).
The peak is the sum of the per-thread rates. Without a compiler, the fallback is NumPy's SGEMM
rate on 1024^3 — a lower bound of the peak, labelled as such in ``method``.
"""
from __future__ import annotations

import ctypes
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Any, Dict, Optional, Tuple

_SRC = r"""
typedef float vf __attribute__((vector_size(VBYTES)));
/* 12 independent accumulators: FMA latency 4 x 2 ports = 8 in flight, with margin. */
double fma_loop(long iters) {
  vf a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, b, c;
  for (int i = 0; i < (int)(VBYTES / 4); ++i) {
    a0[i] = 0.1f * i; a1[i] = 0.2f; a2[i] = 0.3f; a3[i] = 0.4f; a4[i] = 0.5f; a5[i] = 0.6f;
    a6[i] = 0.7f; a7[i] = 0.8f; a8[i] = 0.9f; a9[i] = 1.0f; a10[i] = 1.1f; a11[i] = 1.2f;
    b[i] = 0.999999f; c[i] = 1e-7f;
  }
  for (long n = 0; n < iters; ++n) {
    a0 = a0 * b + c; a1 = a1 * b + c; a2 = a2 * b + c; a3 = a3 * b + c;
    a4 = a4 * b + c; a5 = a5 * b + c; a6 = a6 * b + c; a7 = a7 * b + c;
    a8 = a8 * b + c; a9 = a9 * b + c; a10 = a10 * b + c; a11 = a11 * b + c;
  }
  vf s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
  double r = 0;
  for (int i = 0; i < (int)(VBYTES / 4); ++i) r += s[i];
  return r;
}
"""
_ACCUMULATORS = 12


def _cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _variants() -> list:
    flags = _cpu_flags()
    out = []
    if "avx512f" in flags:
        out.append(("AVX-512 FMA", 64, ["-mavx512f", "-mfma"]))
    if "avx2" in flags and "fma" in flags:
        out.append(("AVX2+FMA", 32, ["-mavx2", "-mfma"]))
    out.append(("compiler-default vector FMA", 16, []))
    return out


_lib_cache: Dict[str, Any] = {}


def _compile() -> Optional[Tuple[Any, str, int]]:
    if "lib" in _lib_cache:
        return _lib_cache["lib"]
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    result = None
    if cc:
        tmp = tempfile.mkdtemp(prefix="convcore-bench-peak-")
        src = os.path.join(tmp, "fma.c")
        with open(src, "w") as f:
            f.write(_SRC)
        for label, vbytes, flags in _variants():
            lib = os.path.join(tmp, f"fma{vbytes}.so")
            cmd = [cc, "-O2", "-shared", "-fPIC", "-ffp-contract=fast", f"-DVBYTES={vbytes}",
                   *flags, src, "-o", lib]
            try:
                subprocess.run(cmd, check=True, capture_output=True, timeout=60)
                dll = ctypes.CDLL(lib)
                dll.fma_loop.restype = ctypes.c_double
                dll.fma_loop.argtypes = [ctypes.c_long]
                dll.fma_loop(1000)  # an illegal instruction would end the process: flags checked
                result = (dll, label, vbytes)
                break
            except (OSError, subprocess.SubprocessError):
                continue
    _lib_cache["lib"] = result
    return result


def _threaded_rate(fn: Any, threads: int, seconds: float) -> float:
    """Sum over `threads` concurrent threads of flops/s of fn(iters) -> flops."""
    # Calibrate iterations on one thread for ~seconds/4.
    iters = 1 << 16
    while True:
        t0 = time.perf_counter()
        fn(iters)
        dt = time.perf_counter() - t0
        if dt > 0.02:
            break
        iters *= 4
    iters = max(1, int(iters * seconds / 4 / dt))
    best = 0.0
    for _ in range(4):  # best of a few: the noise on a shared machine only ever slows it down
        rates = [0.0] * threads
        barrier = threading.Barrier(threads)

        def work(i: int) -> None:
            barrier.wait()
            t0 = time.perf_counter()
            flops = fn(iters)
            rates[i] = flops / (time.perf_counter() - t0)

        ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        best = max(best, sum(rates))
    return best


def measure(threads: int, seconds: float = 0.4) -> Dict[str, Any]:
    """{'gflops': total over `threads` threads, 'per_thread', 'method', 'threads'}."""
    threads = max(1, int(threads))
    comp = _compile()
    if comp is not None:
        dll, label, vbytes = comp
        per_iter = _ACCUMULATORS * (vbytes // 4) * 2

        def fn(iters: int) -> float:
            dll.fma_loop(iters)
            return float(iters * per_iter)

        method = f"{label} loop ({vbytes * 8}-bit vectors, {_ACCUMULATORS} accumulators), C"
    else:
        import numpy as np

        a = np.ones((1024, 1024), np.float32)
        b = np.ones((1024, 1024), np.float32)
        c = np.empty((1024, 1024), np.float32)

        def fn(iters: int) -> float:
            reps = max(1, iters >> 16)
            for _ in range(reps):
                np.matmul(a, b, out=c)
            return 2.0 * 1024 ** 3 * reps

        method = "NumPy SGEMM 1024^3 (no C compiler: a lower bound of the FMA peak)"
        threads = 1  # the BLAS threads itself
    gf = _threaded_rate(fn, threads, seconds) / 1e9
    return {"gflops": gf, "per_thread": gf / threads, "method": method, "threads": threads}


# ---- INT8 peak: the integer multiply-accumulate the INT8 engine runs at each level ----------

_INT8_SRC = r"""
/* 12 independent accumulators, written in inline assembly: in C the compiler hoisted the
   (loop-invariant) vpmaddwd out of the madd loops and shuffled the accumulators through
   registers and the stack, so the loop measured moves, not multiply-accumulates. */
#define R12(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)
#if defined(Q8_VNNI)
#define OP(i) "vpdpbusd %%zmm13, %%zmm12, %%zmm" #i "\n\t"
#elif defined(Q8_MADD512)
#define OP(i) "vpmaddwd %%zmm13, %%zmm12, %%zmm14\n\t" "vpaddd %%zmm14, %%zmm" #i ", %%zmm" #i "\n\t"
#else
#define OP(i) "vpmaddwd %%ymm13, %%ymm12, %%ymm14\n\t" "vpaddd %%ymm14, %%ymm" #i ", %%ymm" #i "\n\t"
#endif
double int8_loop(long iters) {
  for (long n = 0; n < iters; ++n)
    __asm__ volatile(R12(OP) ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                     "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "memory");
  return 0.0;
}
"""

# engine path -> (label, compiler flags, define, multiply-accumulates per instruction step)
INT8_KINDS = {
    "avx512_vnni": ("AVX-512 VNNI vpdpbusd", ["-mavx512f", "-mavx512bw", "-mavx512vnni"],
                    "Q8_VNNI", 64),
    "avx512bw_madd": ("AVX-512BW vpmaddwd + vpaddd", ["-mavx512f", "-mavx512bw"], "Q8_MADD512",
                      32),
    "avx2_madd": ("AVX2 vpmaddwd + vpaddd", ["-mavx2"], "Q8_MADD256", 16),
}


def _compile_int8(kind: str) -> Optional[Any]:
    key = "int8:" + kind
    if key in _lib_cache:
        return _lib_cache[key]
    label, flags, define, _ = INT8_KINDS[kind]
    need = {"avx512_vnni": {"avx512f", "avx512bw", "avx512_vnni"},
            "avx512bw_madd": {"avx512f", "avx512bw"}, "avx2_madd": {"avx2"}}[kind]
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    result = None
    if cc and need <= _cpu_flags():
        tmp = tempfile.mkdtemp(prefix="convcore-bench-int8-")
        src = os.path.join(tmp, "int8.c")
        with open(src, "w") as f:
            f.write(_INT8_SRC)
        lib = os.path.join(tmp, f"int8_{kind}.so")
        try:
            subprocess.run([cc, "-O2", "-shared", "-fPIC", f"-D{define}", *flags, src, "-o", lib],
                           check=True, capture_output=True, timeout=60)
            dll = ctypes.CDLL(lib)
            dll.int8_loop.restype = ctypes.c_double
            dll.int8_loop.argtypes = [ctypes.c_long]
            dll.int8_loop(1000)
            result = dll
        except (OSError, subprocess.SubprocessError):
            result = None
    _lib_cache[key] = result
    return result


def measure_int8(threads: int, kind: str, seconds: float = 0.4) -> Optional[Dict[str, Any]]:
    """The integer peak of one INT8 path (``INT8_KINDS``: the instructions the engine's
    microkernel runs at that level), as :func:`measure` measures the FMA peak: 12 independent
    accumulators on ``threads`` threads, best of 4. {'gops' (2 ops per multiply-accumulate),
    'per_thread', 'method', 'threads'}, or None without a compiler or the CPU feature."""
    threads = max(1, int(threads))
    dll = _compile_int8(kind)
    if dll is None:
        return None
    label, _, _, macs = INT8_KINDS[kind]
    per_iter = _ACCUMULATORS * macs * 2

    def fn(iters: int) -> float:
        dll.int8_loop(iters)
        return float(iters * per_iter)

    g = _threaded_rate(fn, threads, seconds) / 1e9
    return {"gops": g, "per_thread": g / threads, "threads": threads,
            "method": f"{label} loop ({_ACCUMULATORS} accumulators), C"}
