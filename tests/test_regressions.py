"""Regressions of wrong results on ordinary inputs (found by dense sweeps and differential
fuzzing), one test per finding, named for it; tests/cpp/regressions.cpp checks the C++ side
of the memory faults under AddressSanitizer and UndefinedBehaviorSanitizer."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convcore as cc
from conftest import assert_close, reduction
from reference import conv as conv_reference

ROOT = Path(__file__).resolve().parent.parent
ALGOS = ["auto", "direct", "im2col", "winograd", "grouped"]


def forced(f, x, w, algorithm, **kw):
    """f(x, w, algorithm=...), or None where the algorithm refuses the spec (naming itself)."""
    try:
        return f(x, w, algorithm=algorithm, **kw)
    except ValueError as e:
        assert f"algorithm='{algorithm}'" in str(e), str(e)
        return None


def test_depthwise_rows_remainder_of_eight_vectors(isa):
    # width mod 64 in 57..63 (float32, 8-lane rows): the row's remainder needs 8 vectors, and
    # the kernel ran 7, leaving column 56 of every row to an uninitialised buffer
    x, w = np.ones((1, 2, 160, 59), "f4"), np.ones((2, 1, 3, 3), "f4")
    np.testing.assert_array_equal(cc.conv2d(x, w, groups=2), np.full((1, 2, 158, 57), 9, "f4"))
    np.testing.assert_array_equal(cc.depthwise_conv2d(x, w), np.full((1, 2, 158, 57), 9, "f4"))
    rng = np.random.default_rng(20)
    for dtype, width in ((np.float32, 63), (np.float64, 31), (np.float64, 61)):
        x = rng.standard_normal((1, 3, 170, width + 2)).astype(dtype)
        w = rng.standard_normal((6, 1, 3, 3)).astype(dtype)
        assert_close(cc.depthwise_conv2d(x, w), conv_reference(x, w, groups=3), reduction(w))


@pytest.mark.parametrize("mode", ["replicate", "circular", "symmetric"])  # reflect: pad < size
def test_3d_grouped_padding_mode_single_slice(isa, mode):
    # one input slice and depth kernel 1 is planar, but the padded copy for the mode had two
    # slices: "auto" chose the grouped kernel (wrong values), "winograd" read past w
    rng = np.random.default_rng(21)
    kw = dict(stride=(2, 1, 1), padding=((0, 1), (1, 1), (1, 1)), padding_mode=mode)
    for cin, cout, groups in ((16, 16, 2), (2, 2, 2), (8, 8, 8)):
        x = rng.standard_normal((1, cin, 1, 3, 3))
        w = rng.standard_normal((cout, cin // groups, 1, 3, 3))
        ref = conv_reference(x, w, groups=groups, **kw)
        for a in ALGOS:
            y = forced(cc.conv3d, x, w, a, groups=groups, **kw)
            if y is not None:
                assert_close(y, ref, reduction(w))


def test_im2col_rows_path_depth_padding(isa):
    # the row path took any spec with one input slice and depth kernel 1, ignoring the depth
    # padding and the second output slice: half the outputs were never written
    x, w = np.ones((1, 1, 1, 1, 18), "f4"), np.ones((1, 1, 1, 1, 3), "f4")
    expected = np.concatenate([np.zeros(16, "f4"), np.full(16, 3, "f4")]).reshape(1, 1, 2, 1, 16)
    for a in ("im2col", "auto"):
        out = np.full((1, 1, 2, 1, 16), np.nan, "f4")
        cc.conv3d(x, w, padding=((1, 0), (0, 0), (0, 0)), algorithm=a, out=out)
        np.testing.assert_array_equal(out, expected)
    rng = np.random.default_rng(22)
    x, w = rng.standard_normal((2, 1, 1, 4, 18)), rng.standard_normal((1, 1, 1, 3, 3))
    for pad in (((1, 1), (1, 1), (1, 1)), ((0, 1), (1, 1), (1, 1))):
        assert_close(cc.conv3d(x, w, stride=(3, 1, 1), padding=pad, algorithm="im2col"),
                     conv_reference(x, w, stride=(3, 1, 1), padding=pad), reduction(w))


def test_transposed_winograd_fewer_channels_than_a_panel(isa):
    # sub-pixel form with one channel: the weight gather read the tap table for unused lanes
    rng = np.random.default_rng(23)
    x, w = rng.standard_normal((1, 1, 4, 4)), rng.standard_normal((1, 1, 3, 3))
    ref = cc.conv_transpose2d(x, w, algorithm="reference")
    assert_close(cc.conv_transpose2d(x, w, algorithm="winograd"), ref, 9)


def test_empty_input_padded_to_outputs(isa):
    # x with an empty width, padded to outputs: bias only (a pointer was offset from null)
    x, w, b = np.ones((2, 6, 1, 0), "f4"), np.ones((7, 6, 3, 3), "f4"), np.arange(7, dtype="f4")
    for a in ("auto", "im2col", "direct"):
        y = cc.conv2d(x, w, b, padding=((1, 5), (3, 3)), algorithm=a)
        np.testing.assert_array_equal(y, np.broadcast_to(b[None, :, None, None], (2, 7, 5, 4)))


@pytest.mark.parametrize("kh, kw", [(3, 1), (1, 1), (2, 2), (3, 3)])
def test_separable_empty_width_same_rule_as_conv2d(kh, kw):
    # one rule for an empty axis: the separable ops accept what conv2d accepts
    x, b = np.ones((1, 1, 3, 0)), np.array([1.5])
    try:
        ref = cc.conv2d(x, np.ones((1, 1, kh, kw)), b, padding=1)
    except ValueError as e:
        with pytest.raises(ValueError, match="kernel size"):
            cc.spatially_separable_conv2d(x, np.ones((1, 1, kh, 1)), np.ones((1, 1, 1, kw)), b,
                                          padding=1)
        assert "kernel size" in str(e)
        return
    np.testing.assert_array_equal(
        cc.spatially_separable_conv2d(x, np.ones((1, 1, kh, 1)), np.ones((1, 1, 1, kw)), b,
                                      padding=1), ref)
    np.testing.assert_array_equal(
        cc.flattened_conv2d(x, np.ones((1, 1)), np.ones((1, kh)), np.ones((1, kw)), b,
                            padding=1), ref)


@pytest.mark.parametrize("channels_last", [False, True])
def test_depthwise_dilation_far_beyond_the_input(channels_last):
    # dilation 2**31 with "same" padding: the depthwise kernels copied padded rows as long as
    # the kernel's span (a std::bad_alloc thrown in an OpenMP region ended the process); only
    # the centre column of taps lands in x, so the result is that column's conv
    rng = np.random.default_rng(24)
    x, w = rng.standard_normal((2, 3, 7, 5)), rng.standard_normal((3, 1, 3, 3))
    expected = conv_reference(x, w[..., 1:2], padding=((1, 1), (0, 0)), groups=3)
    xs = np.ascontiguousarray(np.moveaxis(x, 1, -1)) if channels_last else x
    y = cc.depthwise_conv2d(xs, w, dilation=(1, 2**31), padding="same",
                            channels_last=channels_last)
    assert_close(np.moveaxis(y, -1, 1) if channels_last else y, expected, 3)
    yf = cc.flattened_conv2d(x, np.eye(3), w[:, 0, :, 1], w[:, 0, 1, :], dilation=(1, 2**31),
                             padding="same")
    assert yf.shape == (2, 3, 7, 5) and np.isfinite(yf).all()


def test_options_an_op_cannot_honour_are_refused():
    from convcore import _args, _core

    o = _args.conv_options(2)
    o.flip = True
    with pytest.raises(ValueError, match="flip"):
        _core.conv_spec((1, 1, 4, 4), (1, 1, 3, 3), o, transposed=True)


def _compiler():
    return shutil.which("g++") or shutil.which("clang++")


def _sanitizer_flags(cxx, tmp):
    """-fsanitize=address,undefined where this compiler links it, else none."""
    probe = tmp / "probe.cpp"
    probe.write_text("int main() { return 0; }\n")
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
    ok = subprocess.run([cxx, *flags, str(probe), "-o", str(tmp / "probe")],
                        capture_output=True).returncode == 0
    return flags if ok else []


@pytest.mark.skipif(not (ROOT / "tests" / "cpp").is_dir(), reason="needs the source checkout")
@pytest.mark.skipif(_compiler() is None, reason="no C++ compiler")
@pytest.mark.skipif(sys.platform == "win32", reason="g++/clang++ command lines")
def test_cpp_regressions_under_sanitizers(tmp_path):
    cxx = _compiler()
    flags = _sanitizer_flags(cxx, tmp_path)
    simd = ["-mavx2", "-mfma"] if "avx2" in cc._core.simd_info()["supported"] else []
    exe = tmp_path / "regressions"
    # -O0: the same checks at a quarter of -O1's compile time (27 s against 102 s, measured;
    # the binary runs in well under a second either way), in every test run of CI
    r = subprocess.run([cxx, "-std=c++17", "-O0", "-g", "-fno-omit-frame-pointer", "-fopenmp",
                        *flags, *simd,
                        "-I", cc.get_include(), str(ROOT / "tests" / "cpp" / "regressions.cpp"),
                        "-o", str(exe)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300,
                         env={"ASAN_OPTIONS": "detect_leaks=0", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stdout + run.stderr[-4000:]
    assert "0 failures" in run.stdout and "FAIL" not in run.stdout
