"""The `convcore tour` and the `convcore` command line: the textbook numbers, the row registry,
the gallery picture, the no-matplotlib path, and `convcore bench`'s wiring."""
import io
import subprocess
import sys
import types

import numpy as np
import pytest

import convcore as cc
from convcore import cli, tour

# Every op of DESIGN.md's variant family must have a row (it shows as "not available in this
# build" until the op lands).
VARIANTS = ["conv2d", "conv_transpose2d", "convolve", "correlate", "depthwise_conv2d",
            "pointwise_conv", "depthwise_separable_conv2d", "spatially_separable_conv2d",
            "separate_kernel", "flattened_conv2d", "channel_shuffle", "shuffled_grouped_conv",
            "asymmetric_conv2d", "fuse_asymmetric", "inception", "squeeze_excitation",
            "conv_matrix", "transposed_overlap", "deform_conv2d", "receptive_field"]


def run_cli(capsys, *argv):
    rc = cli.main(list(argv))
    return rc, capsys.readouterr()


def test_textbook_numbers():
    numbers = [n for _, _, n in tour.textbook()]
    assert numbers == [86400, 10275, 81, 72, 7, 15]


def test_tour_table_and_textbook_in_output(capsys):
    rc, out = run_cli(capsys, "tour", "--size", "32", "--repeat", "1")
    assert rc == 0, out.out
    text = out.out
    for s in ("86,400", "10,275", "8.4x fewer"):
        assert s in text
    lines = text.splitlines()
    assert any("one 2-D conv" in ln and " 81 " in ln for ln in lines)
    assert any("spatially separable" in ln and " 72 " in ln for ln in lines)
    assert any("three stacked 3x3" in ln and " 7 " in ln for ln in lines)
    assert any("dilated 1, 2, 4" in ln and " 15 " in ln for ln in lines)
    # One table line per row, available or not; conv2d's MACs as cost() counts them.
    for row in tour.ROWS:
        assert row.title in text
    macs = cc.cost("conv2d", (1, 3, 32, 32), (16, 3, 3, 3), (16,), padding=1).macs
    assert f"{macs:,}" in text
    assert "FAILED" not in text


def test_every_variant_has_a_row():
    needed = {n for r in tour.ROWS for n in r.needs}
    assert set(VARIANTS) <= needed, sorted(set(VARIANTS) - needed)


def test_rows_of_present_ops_run():
    results = tour.run_rows(tour.inputs(32), repeat=1)
    by_title = {r.title: r for r in results}
    for row in tour.ROWS:
        r = by_title[row.title]
        present = all(hasattr(cc, n) for n in row.needs)
        assert r.available == present
        if present:
            assert r.error == "", (row.title, r.error)
            assert r.shape and r.ms is not None and r.ms >= 0
        else:
            assert r.note == "not available in this build"
    conv = by_title["conv2d 3x3, 3->16, bias, ReLU"]
    assert conv.shape == "(1, 16, 32, 32)" and conv.params == 16 * 27 + 16


def test_missing_op_and_failing_op_rows():
    def broken(t):
        return tour.Case(lambda: cc.conv2d(t.x, np.ones((2, 5, 3, 3), np.float32)))

    rows = [tour.Row("needs a future op", ("no_such_op_yet",), broken),
            tour.Row("a broken row", ("conv2d",), broken)]
    results = tour.run_rows(tour.inputs(32), repeat=1, rows=rows)
    assert not results[0].available and results[0].note == "not available in this build"
    assert results[1].available and "ValueError" in results[1].error
    buf = io.StringIO()
    tour.print_table(results, buf)
    assert "not available in this build" in buf.getvalue()
    assert "FAILED ValueError" in buf.getvalue()


def test_scene_is_deterministic_and_varied():
    a, b = tour.scene(64), tour.scene(64)
    assert np.array_equal(a, b)
    assert a.shape == (3, 64, 64) and 0.0 <= a.min() and a.max() <= 1.0
    # Something to look at: strong edges and a wide range of values in every channel.
    assert all(a[c].std() > 0.1 for c in range(3))
    with pytest.raises(ValueError, match="size"):
        tour.scene(8)


def test_gallery_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import matplotlib.image as mpimg

    rc, out = run_cli(capsys, "tour", "--out", str(tmp_path), "--size", "64", "--repeat", "1")
    assert rc == 0
    png = tmp_path / "gallery.png"
    assert png.is_file() and str(png) in out.out
    assert png.stat().st_size > 30_000
    img = mpimg.imread(str(png))
    assert img.shape[0] > 500 and img.shape[1] > 900
    rgb = img[..., :3]
    # Non-trivial: many distinct colours, not a blank page.
    assert rgb.std() > 0.1
    assert len(np.unique((rgb[::4, ::4] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 500


def test_without_matplotlib_prints_how_to_get_pictures(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.delitem(sys.modules, "convcore._gallery", raising=False)
    monkeypatch.delattr(cc, "_gallery", raising=False)
    rc, out = run_cli(capsys, "tour", "--out", str(tmp_path), "--size", "32", "--repeat", "1")
    assert rc == 0
    assert "pip install 'convcore[viz]'" in out.out
    assert "86,400" in out.out
    assert not (tmp_path / "gallery.png").exists()


def test_without_scipy_the_tour_still_draws(tmp_path, capsys, monkeypatch):
    # README's first command installs only the viz extra: conv_matrix's SciPy is absent there
    for mod in ("scipy", "scipy.sparse"):
        monkeypatch.setitem(sys.modules, mod, None)
    rc, out = run_cli(capsys, "tour", "--out", str(tmp_path), "--size", "32", "--repeat", "1")
    assert rc == 0
    assert "FAILED" not in out.out
    line = next(ln for ln in out.out.splitlines() if ln.startswith("conv_matrix"))
    assert "pip install 'convcore[sparse]'" in line
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "gallery.png").stat().st_size > 30_000


def test_python_dash_m_convcore_tour():
    r = subprocess.run([sys.executable, "-m", "convcore", "tour", "--size", "24", "--repeat",
                        "1"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "10,275" in r.stdout


def test_info_subcommand(capsys):
    rc, out = run_cli(capsys, "info")
    assert rc == 0 and '"version"' in out.out


def test_bench_runs_bench_with_a_progress_bar(capsys, monkeypatch, tmp_path):
    calls = {}
    cases = [{"family": "resnet", "name": "conv1 7x7/2"}, {"family": "mobilenet", "name": "dw"}]

    def run(progress=None, *, quick=False, **kw):
        calls.update(kw, quick=quick)
        progress({"event": "start", "cases": 2, "peak": None})
        for i, r in enumerate(cases):
            progress({"event": "case", "index": i, "cases": 2, "result": r})
        res = {"cases": cases}
        progress({"event": "end", "results": res})
        return res

    def format_table(res):
        return "ratio table: " + ", ".join(c["name"] for c in res["cases"])

    fake = types.SimpleNamespace(run=run, format_table=format_table,
                                 missing_peers=lambda: ["torch: not installed, its columns are "
                                                        "skipped (pip install torch)"])
    monkeypatch.setitem(sys.modules, "convcore.bench", fake)
    rc, out = run_cli(capsys, "bench")
    assert rc == 0 and calls["quick"] is True
    assert "ratio table: conv1 7x7/2, dw" in out.out
    assert "2/2" in out.err and "mobilenet: dw" in out.err and "#" * 30 in out.err
    assert "torch: not installed" in out.err
    js = tmp_path / "r.json"
    rc, out = run_cli(capsys, "bench", "--full", "--threads", "2", "--family", "resnet",
                      "--json", str(js))
    assert rc == 0 and calls["quick"] is False
    assert calls["threads"] == 2 and calls["family"] == "resnet"
    assert "conv1 7x7/2" in js.read_text()


def test_bench_neither_installed_nor_in_a_checkout(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "convcore.bench", None)  # import -> ImportError
    monkeypatch.setitem(sys.modules, "bench", None)
    monkeypatch.chdir(tmp_path)
    rc, out = run_cli(capsys, "bench")
    assert rc == 2
    assert "not installed" in out.err and "python -m bench" in out.err


def test_progress_bar_formats():
    buf = io.StringIO()
    bar = cli.ProgressBar(buf, width=10)
    bar(1, 4, "first")
    bar(done=4, total=4, label="last")
    text = buf.getvalue()
    assert "[##........] 1/4" in text or "[###.......] 1/4" in text
    assert "1/4" in text and "first" in text and "[##########] 4/4" in text
    bar2 = cli.ProgressBar(io.StringIO())
    bar2("a label only")  # no counts: still prints, never raises
    bar2.finish()
