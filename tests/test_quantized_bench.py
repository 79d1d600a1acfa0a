"""Smoke test of bench/quantized.py: `--quick` in a subprocess and the structure of its JSON
(no timing is asserted: benchmarks never are)."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_json_structure(tmp_path):
    import convcore

    out = tmp_path / "q.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(Path(convcore.__file__).resolve().parents[1])]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    proc = subprocess.run([sys.executable, "-m", "bench.quantized", "--quick", "--threads", "1",
                           "--json", str(out)], cwd=str(ROOT), env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["threads"] == 1 and res["levels"]
    assert len(res["cases"]) == 2
    for c in res["cases"]:
        assert c["macs"] > 0
        for r in c["levels"]:
            assert r["level"] in res["levels"] and r["int8_path"]
            assert {"cc_int8_nhwc", "cc_int8_nchw", "cc_f32"} <= set(r["ms"])
            assert r["gops"] > 0
        for peer, d in c["max_lsb_diff"].items():
            assert d <= 1, (peer, d)  # 8x8 outputs of 16 channels: no int16 saturation there
