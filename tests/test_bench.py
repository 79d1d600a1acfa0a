"""Smoke test of the benchmark harness: `python -m bench --quick --tiny` in a subprocess, and
the structure of its JSON. No timing is asserted (benchmarks never are)."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, *extra):
    out = tmp_path / "bench.json"
    env = dict(os.environ)
    # the repository root for `bench`; convcore as this process imports it (an installed wheel
    # in CI, python/ in a development checkout run with PYTHONPATH=python)
    import convcore

    paths = [str(ROOT), str(Path(convcore.__file__).resolve().parents[1])]
    env["PYTHONPATH"] = os.pathsep.join(
        paths + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--tiny", "--repeat", "3", "--pause", "0", "--min-block", "0.002",
         "--budget", "0.1", "--threads", "1", "--max-wait", "0", "--json", str(out), *extra],
        cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads(out.read_text())


def test_quick_tiny_json_structure(tmp_path):
    proc, res = _run(tmp_path)
    for key in ("machine", "convcore", "peers", "settings", "peak", "peak_end", "peak_drift",
                "cases", "summary"):
        assert key in res, key
    assert res["settings"]["threads"] == 1 and res["settings"]["quick"] is True
    assert res["errors"] == []
    assert res["peak"]["gflops"] > 0 and res["peak"]["method"]
    families = {c["family"] for c in res["cases"]}
    assert {"resnet50 3x3", "image filter", "image separable", "mobilenetv2 dw"} <= families
    for c in res["cases"]:
        assert c["macs"] > 0
        assert c["convcore_ms"] > 0 and math.isfinite(c["gflops"]) and c["gflops"] > 0
        assert c["timing"]["convcore"]["samples"] >= 3
        if c["op"] in ("conv", "conv_transpose"):  # the layer as a plan too, timed beside
            assert c["plan"]["ms"] > 0 and c["plan"]["speedup"] > 0
            for p in c["peers"].values():
                assert p["ratio_plan"] == pytest.approx(p["ms"] / c["plan"]["ms"], rel=1e-9)
        st = c["machine_state"]  # the FMA probes around the case (no waiting: --max-wait 0)
        assert st["fma_gflops_before"] > 0 and st["fma_gflops_after"] > 0
        assert st["waited_s"] >= 0 and isinstance(st["degraded"], bool)
        for peer, p in c["peers"].items():
            assert peer in ("torch", "cv2", "ndimage")
            assert p["ms"] > 0
            assert p["ratio"] == pytest.approx(p["ms"] / c["convcore_ms"], rel=1e-9)
            # the peers compute the same thing as convcore (float32 sums)
            assert p["max_rel_diff"] < 1e-3, (c["name"], peer, p["max_rel_diff"])
        # every installed peer that computes this case was timed (torch for every family; cv2
        # and scipy.ndimage for the single-channel images)
        image = c["family"] in ("image filter", "image separable")
        applicable = {"torch", "cv2", "ndimage"} if image else {"torch"}
        module = {"ndimage": "scipy"}
        assert set(c["peers"]) == {p for p in applicable if module.get(p, p) in res["peers"]}, \
            (c["name"], sorted(c["peers"]), sorted(res["peers"]))
    for fam, d in res["summary"].items():
        assert fam in families
        for peer, v in d.items():
            ratios = [c["peers"][peer]["ratio"] for c in res["cases"]
                      if c["family"] == fam and peer in c["peers"]]
            assert v["cases"] == len(ratios)
            expected = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
            assert v["geomean_ratio"] == pytest.approx(expected)
    assert "geometric mean" in proc.stdout and "FMA peak" in proc.stdout


def test_family_filter_and_run_api(tmp_path):
    sys.path.insert(0, str(ROOT))
    try:
        import bench
    finally:
        sys.path.remove(str(ROOT))
    events = []
    res = bench.run(events.append, quick=True, tiny=True, family="image", repeat=3, pause=0, min_block=0.002,
                    budget=0.05, threads=1, measure_peak=False)
    assert {c["family"] for c in res["cases"]} == {"image filter", "image separable"}
    assert [e["event"] for e in events] == ["start"] + ["case"] * len(res["cases"]) + ["end"]
    assert "peak_end" not in res and res["peak"] is None
    with pytest.raises(ValueError, match="no benchmark family"):
        bench.select_cases(family="no such family")


def test_passes_keep_each_contenders_best_median():
    sys.path.insert(0, str(ROOT))
    try:
        from bench import runner
    finally:
        sys.path.remove(str(ROOT))

    def case(cc_s, torch_s):
        return {"macs": 10 ** 9, "timing": {"convcore": {"median_s": cc_s},
                                            "torch": {"median_s": torch_s}},
                "peers": {"torch": {"api": "t", "out_preallocated": False, "max_rel_diff": 0.0}},
                "machine_state": {"degraded": cc_s > 1.5}}

    a = runner._rates(case(2.0, 1.0), None)
    m = runner.merge_passes(a, runner._rates(case(1.0, 3.0), None), 100.0)
    assert m["convcore_ms"] == 1000.0 and m["peers"]["torch"]["ms"] == 1000.0
    assert m["peers"]["torch"]["ratio"] == 1.0 and m["gflops"] == 2.0 and m["peak_fraction"] == 0.02
    assert m["timing"]["convcore"]["pass_medians_s"] == [2.0, 1.0]
    assert m["timing"]["torch"]["pass_medians_s"] == [1.0, 3.0]
    assert m["machine_state"]["degraded"] is False  # the pass convcore's time comes from
    m3 = runner.merge_passes(m, runner._rates(case(0.5, 4.0), None), None)
    assert m3["timing"]["convcore"]["pass_medians_s"] == [2.0, 1.0, 0.5]
    assert m3["convcore_ms"] == 500.0 and m3["peers"]["torch"]["ratio"] == 2.0
    # the first result is left as it was
    assert a["convcore_ms"] == 2000.0 and "pass_medians_s" not in a["timing"]["convcore"]


def test_run_with_two_passes():
    sys.path.insert(0, str(ROOT))
    try:
        import bench
    finally:
        sys.path.remove(str(ROOT))
    events = []
    res = bench.run(events.append, quick=True, tiny=True, family="image filter", repeat=3, pause=0,
                    min_block=0.002, budget=0.05, threads=1, measure_peak=False, passes=2)
    n = len(res["cases"])
    assert n >= 1 and res["settings"]["passes"] == 2
    assert [e.get("pass") for e in events if e["event"] == "case"] == [0] * n + [1] * n
    for c in res["cases"]:
        t = c["timing"]["convcore"]
        assert len(t["pass_medians_s"]) == 2 and t["median_s"] == min(t["pass_medians_s"])
        for name, p in c["peers"].items():
            assert p["ratio"] == c["timing"][name]["median_s"] / t["median_s"]


def test_convcore_bench_command(tmp_path):
    """`convcore bench` end to end: from outside any checkout when convcore.bench is installed
    (the wheel), else from the checkout's root (a development tree: python/ on the path)."""
    import importlib.util

    import convcore

    installed = importlib.util.find_spec("convcore.bench") is not None
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(convcore.__file__).resolve().parents[1])]
        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    js = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "convcore", "bench", "--tiny", "--family", "image filter",
         "--threads", "1", "--json", str(js)],
        cwd=str(tmp_path if installed else ROOT), env=env, capture_output=True, text=True,
        timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(js.read_text())
    assert res["cases"] and {c["family"] for c in res["cases"]} == {"image filter"}
    for c in res["cases"]:  # the table prints every case
        assert c["name"] in proc.stdout
    for peer, module in (("torch", "torch"), ("cv2", "cv2"), ("ndimage", "scipy")):
        if importlib.util.find_spec(module) is None:
            assert f"{peer}: not installed" in proc.stderr
        else:
            assert f"{peer}: not installed" not in proc.stderr
