"""Arrays past 2**31 elements, and allocations that fail: the index arithmetic is 64-bit
throughout, and a copy, workspace or output that cannot be allocated is a MemoryError, after
which the process goes on working (each case in a child process under RLIMIT_AS)."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import convcore as cc
import reference as ref

posix = pytest.mark.skipif(sys.platform == "win32", reason="resource.setrlimit")


@pytest.mark.skipif(sys.maxsize < 2**40, reason="64-bit only")
def test_uint8_signal_past_2_31_elements():
    # 2**31 + 1000 samples in one row; np.zeros maps untouched pages lazily, so only the
    # pages written here and the windows the conv reads are resident (well within 8 GiB)
    n = 2**31 + 1000
    x = np.zeros((1, 1, 1, n), np.uint8)
    idx = [0, 1, 2, 2**31 - 2, 2**31 - 1, 2**31, 2**31 + 1, n - 3, n - 2, n - 1]
    x[0, 0, 0, idx] = [200, 3, 7, 40, 9, 250, 11, 5, 6, 255]
    w = np.array([1, -2, 3], np.int8).reshape(1, 1, 1, 3)
    stride = 2**31 - 1  # outputs at 0 and 2**31 - 1 (windows across the 2**31 boundary)
    args = (0.5, 4, w, 0.25, 1, 0.125, 10)
    y = cc.quantized_conv2d(x, *args[:2], args[2], *args[3:], stride=(1, stride))
    assert y.shape == (1, 1, 1, 2)
    # the oracle on the windows the two outputs read
    windows = np.stack([x[0, 0, 0, o * stride:o * stride + 3] for o in range(2)])
    expected = ref.quantized_conv2d(windows.reshape(1, 1, 1, 6), *args[:2], args[2], *args[3:],
                                    stride=(1, 3))
    np.testing.assert_array_equal(y, expected)
    assert x[0, 0, 0, idx].tolist() == [200, 3, 7, 40, 9, 250, 11, 5, 6, 255]  # untouched


LIMITED = textwrap.dedent(r"""
    import resource, sys
    import numpy as np
    import convcore as cc

    def rss():
        with open("/proc/self/statm") as f:
            import os
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")

    x = np.random.default_rng(0).standard_normal((1, 300, 300, 200)).astype(np.float32)
    w = np.ones((8, 200, 3, 3), np.float32)
    # the address space in use now plus 128 MiB: x (72 MB) fits, its copies do not
    head = rss() + (128 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (head, head))
    cases = {
        # workspace: channels-first copy of x and the padded copy of a padding mode
        "workspace": lambda: cc.conv2d(x, w, padding=1, padding_mode="reflect",
                                       channels_last=True),
        # the output: 2 x 10**9 floats from a small input
        "output": lambda: cc.conv2d(x[:, :1, :1, :1].copy(), np.ones((8, 1, 1, 1), np.float32),
                                    padding=5000),
        # a non-contiguous input whose contiguous copy does not fit
        "copy": lambda: cc.conv2d(np.lib.stride_tricks.as_strided(
            np.ones(1, np.float32), (2**10, 2**10, 2**8, 1), (0, 0, 0, 0)),
            np.ones((1, 2**10, 1, 1), np.float32)),
    }
    for name, f in cases.items():
        try:
            f()
            print(name, "no error")
        except MemoryError:
            print(name, "MemoryError")
        except Exception as e:
            print(name, type(e).__name__, e)
    a = np.arange(50, dtype=np.float64).reshape(1, 2, 5, 5)
    k = np.ones((3, 2, 3, 3))
    ok = np.allclose(cc.conv2d(a, k, padding=1), cc.conv2d(a, k, padding=1, algorithm="reference"))
    print("next call", "works" if ok else "WRONG")
""")


@posix
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/statm")
def test_failed_allocations_are_memory_errors():
    r = subprocess.run([sys.executable, "-c", LIMITED], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in r.stdout.strip().splitlines())
    assert lines == {"workspace": "MemoryError", "output": "MemoryError", "copy": "MemoryError",
                     "next": "call works"}, r.stdout
