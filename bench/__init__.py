"""convcore's CPU benchmark against the peers a user would pick, on real layer shapes.

    python -m bench [--quick] [--family NAME] [--threads N] [--repeat N] [--json FILE]
    convcore bench [--full] ...   (from an installed wheel too: it ships as convcore.bench)

From Python: ``bench.run(progress=None, *, quick=False, family=None, threads=None, repeat=9,
pause=0.05, min_block=0.1, budget=3.0, tiny=False, peers=None, measure_peak=True, seed=0,
max_wait=20.0, passes=1)`` returns
the results dict (what ``--json`` writes); ``bench.format_table(results)`` renders the table.
``progress(event)`` is called with ``{"event": "start", "cases": n, "peak": {...}}``, then
``{"event": "case", "index": i, "cases": n, "result": {...}, "pass": p}`` after each case
and pass (the result so far: the best of the passes done) (or
``{"event": "error", "index": i, "cases": n, "error": {family, name, error}}`` when a case
raised: the run goes on, and ``python -m bench`` exits with status 1 at the end), then
``{"event": "end", "results": {...}}``.

Cases (bench/shapes.py, most copied from oneDNN's benchdnn lists in ../shared/benchdnn):
ResNet-50 3x3 and 1x1 layers at N=1 and N=8 and the 7x7/2 stem, MobileNetV2 depthwise 3x3
(convcore.depthwise_conv2d when it exists, else conv with groups=C), ResNeXt-101 groups=32,
DeepLab dilated 3x3 (dilation 2 and 4), DCGAN / U-Net transposed 4x4/2, 3-D U-Net 3x3x3,
WaveNet 1-D, and single-channel 2048x2048 images (3x3, 5x5, 11x11 correlation, "same", zero
boundary; a separable 7x7 Gaussian).

Peers, each optional (skipped when it does not import), in the same process with the same
thread count (``convcore.set_num_threads(n)``, ``torch.set_num_threads(n)``,
``cv2.setNumThreads(n)``; scipy.ndimage is single-threaded): PyTorch
``torch.nn.functional.conv{1,2,3}d`` / ``conv_transpose{1,2,3}d`` for the layers, OpenCV
``cv2.filter2D`` / ``cv2.sepFilter2D``, ``scipy.ndimage.correlate`` (``correlate1d`` twice for
the separable case) and torch 1->1-channel conv2d for the images.

Method (the machine may be noisy: vCPUs that share a physical core, other processes, a peer's
OpenMP threads spinning for tens of ms after a call):
- every contender is warmed up (>= 2 calls and ~min_block seconds);
  (min_block is 0.1 s: on a shared machine the first call after a pause runs slower, caches
  and CPU having gone to other processes; a long block amortises that);
- contenders are timed in interleaved blocks (A, B, C, A, B, C, ... the order rotating each
  round); a block is back-to-back calls lasting ~min_block; ``pause`` seconds of sleep follow
  each block so that spinning threads go idle; the GC is off inside a block;
- up to ``repeat`` rounds (at least 3, fewer than ``repeat`` once ``budget`` seconds are spent
  on a case); the time is the median over rounds;
- with ``passes`` > 1 (``--passes``) the whole case list is timed that many times, one pass
  after the other, and per case and contender the pass with the lower median counts
  (``timing[...].pass_medians_s`` keeps them all). The development VM has slow phases of a
  few seconds (about one case) that the FMA probe does not see and that do not hit the
  contenders alike: convcore's L2-heavy Winograd layers ran 2x slower in them while torch
  slowed 1.2x, so one pass put a family's geometric mean anywhere between 1.05 and 1.5. The
  best pass of each contender is its time on the machine undisturbed; both get the same
  chances;
- outputs are preallocated where the API allows it: convcore.conv / conv_transpose (``out=``),
  cv2 (``dst=``), ndimage (``output=``); torch's functional API and convcore.correlate
  allocate their result on every call (page faults on fresh memory count against them);
  before the first case one 16 MiB block is allocated and freed, so that glibc reuses freed
  memory up to that size as in a process that has run for a while (without it, the first
  cases of a run paid ~1,100 page faults per torch call: runner._settle_allocator);
- each peer's output is compared once with convcore's (``max_rel_diff``), outside the timing.
- OpenMP threads spin after a parallel region by default (convcore's and torch's libgomp).
  On a machine shared with other busy processes that spinning costs both libraries dearly
  (measured here: convcore's 2-thread 3x3 filter median 16 ms with OMP_WAIT_POLICY=active,
  8 ms with passive, 3 ms minimum); on such a machine run
  ``OMP_WAIT_POLICY=passive python -m bench`` (it applies to every OpenMP runtime in the
  process) and say so with the figures. On a quiet machine the default is right.

Peak: a small C loop of independent vector FMAs compiled at run time (AVX-512, AVX2+FMA or
the compiler's default vectors, by the CPU's flags) run on ``threads`` threads at once, best of
4; without a C compiler, NumPy's SGEMM rate (labelled a lower bound). It is measured again at
the end; a move of more than 15% adds a warning (the machine was busy). Before and after every
case a short probe of the same loop (60 ms) checks that the machine is whole: while it runs
below 80% of the peak (on the development VM the two vCPUs share one physical core for
seconds at a time, and the 2-thread rate halves) the case waits, up to ``max_wait`` seconds
(``--max-wait``, default 20); a case timed with a probe still below 80% is marked ``~`` and
``machine_state.degraded`` in the JSON.

Output: per case convcore's median ms, each peer's ms, the ratio peer_time / convcore_time
(> 1: convcore faster), convcore's GFLOP/s (2 x the direct algorithm's MACs / time, as
convcore.cost counts them; for the images H*W*kh*kw even for the separable case) and its
fraction of the peak; per family and peer the geometric mean of the ratios.

JSON keys: machine, convcore, peers (versions), settings, peak, peak_end, peak_drift,
warnings (optional), errors [family, name, error], cases [family, name, op, x, w, params, source, macs, convcore_ms,
convcore_api, convcore_out_preallocated, gflops, peak_fraction, timing{contender: median_s,
min_s, samples, inner, pass_medians_s (passes > 1)}, peers{peer: ms, ratio, gflops, api, out_preallocated, max_rel_diff},
machine_state{fma_gflops_before, fma_gflops_after, waited_s, degraded} (with the peak)],
summary{family: {peer: geomean_ratio, cases}}.

Benchmarks are never asserted in tests (tests/test_bench.py checks only the structure).
"""
from .runner import format_table, missing_peers, run, select_cases  # noqa: F401

__all__ = ["run", "format_table", "select_cases", "missing_peers"]
