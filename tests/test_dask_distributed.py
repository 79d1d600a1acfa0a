"""The Dask backend on a real dask.distributed cluster (worker processes: the compiled module is
imported and run in other processes, the tasks and weights pickled to them), and on CuPy-backed
Dask arrays (the CPU emulation of CuPy in tests/cuda: the blocks stay CuPy arrays)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import convcore as cc  # noqa: E402

HERE = Path(__file__).resolve().parent


_CLUSTER_SCRIPT = """
import os, numpy as np, dask.array as da, distributed, convcore as cc
from convcore import ndimage
rng = np.random.default_rng(0)
x = rng.standard_normal((4, 3, 40, 36)).astype("f4")
w = rng.standard_normal((5, 3, 3, 3)).astype("f4")
b = rng.standard_normal(5).astype("f4")
a = rng.standard_normal((50, 45))
k = rng.standard_normal((5, 4))
if __name__ == "__main__":
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=30) as cluster, \\
            distributed.Client(cluster) as client:
        y = cc.conv2d(da.from_array(x, chunks=(2, 3, (13, 9, 18), 12)), w, b, stride=2,
                      padding="same", padding_mode="reflect", activation="relu")
        f = cc.correlate(da.from_array(a, chunks=(17, 20)), k, "same", "wrap")
        g = ndimage.gaussian_filter(da.from_array(a, chunks=(17, 20)), 2.0, mode="wrap")
        got_y, got_f, got_g = client.compute([y, f, g], sync=True)
        pids = set(client.run(os.getpid).values())
        # each task's convcore thread count: its share of the cores, capped by the nanny's
        # OMP_NUM_THREADS (1)
        from convcore.dask._threads import task_threads
        shares = client.gather([client.submit(task_threads, 100, pure=False) for _ in range(4)])
    assert shares == [1] * 4, shares
    assert len(pids) == 2 and os.getpid() not in pids, pids  # two worker processes
    np.testing.assert_allclose(got_y, cc.conv2d(x, w, b, stride=2, padding="same",
                                                padding_mode="reflect", activation="relu"),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_f, cc.correlate(a, k, "same", "wrap"), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_array_equal(got_g, ndimage.gaussian_filter(a, 2.0, mode="wrap"))
    print("cluster ok")
"""


def test_local_cluster_two_worker_processes(tmp_path):
    """Two worker processes compute a conv, a filter and an ndimage filter; their results are
    the in-memory ones.

    The cluster runs in a fresh interpreter: started from inside the full test session its
    spawned workers vanished (twice, in CI only), and the client waited for them for ever."""
    pytest.importorskip("distributed")
    script = tmp_path / "cluster.py"
    script.write_text(_CLUSTER_SCRIPT)
    env = dict(os.environ)
    import convcore

    # the interpreter must import the convcore this session tests
    env["PYTHONPATH"] = os.pathsep.join([str(Path(convcore.__file__).parent.parent)]
                                        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                           if p])
    try:
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              env=env, timeout=300)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the LocalCluster run took over 300 s: {e.stderr!r:.2000}")
    assert proc.returncode == 0 and "cluster ok" in proc.stdout, proc.stderr[-3000:]


@pytest.fixture
def fake_cupy():
    if not any(shutil.which(c) for c in ("g++", "c++", "clang++")):
        pytest.skip("no host C++ compiler for the CUDA emulation")
    sys.path.insert(0, str(HERE / "cuda"))
    try:
        from test_cuda_ops import _purge  # the emulation's own module juggling
    finally:
        sys.path.remove(str(HERE / "cuda"))
    saved = {k: v for k, v in sys.modules.items()
             if k == "cupy" or k.startswith("cupy.") or k.startswith("convcore.cuda")}
    _purge()
    sys.path.insert(0, str(HERE / "cuda" / "emulation" / "fakecupy"))
    try:
        import cupy

        assert cupy._convcore_emulated
        yield cupy
    finally:
        _purge()
        sys.path.remove(str(HERE / "cuda" / "emulation" / "fakecupy"))
        sys.modules.update(saved)


def test_cupy_backed_dask_stays_cupy(fake_cupy):
    import dask

    cp = fake_cupy
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 9, 8)).astype("f4")
    w = rng.standard_normal((3, 2, 3, 3)).astype("f4")
    xd = da.from_array(cp.asarray(x), chunks=(1, 2, (4, 5), (3, 5)), asarray=False)
    assert type(xd._meta).__module__.startswith("cupy")
    with dask.config.set(scheduler="sync"):
        y = cc.conv2d(xd, cp.asarray(w), padding=1, stride=(1, 2))
        assert type(y._meta).__module__.startswith("cupy")
        grid = y.to_delayed()
        blocks = dask.compute(*grid.ravel())  # (the emulation has no concatenate: by block)
        assert all(type(b).__module__.startswith("cupy") for b in blocks)
        it = iter(np.asarray(b) for b in blocks)
        got = np.block([[[[next(it) for _ in range(grid.shape[3])] for _ in range(grid.shape[2])]
                         for _ in range(grid.shape[1])] for _ in range(grid.shape[0])])
    np.testing.assert_allclose(got, cc.conv2d(x, w, padding=1, stride=(1, 2)), rtol=1e-4,
                               atol=1e-4)
    # chunks large enough to lend their halos through halo tasks: those stay CuPy too
    x2 = rng.standard_normal((1, 2, 24, 26)).astype("f4")
    xd2 = da.from_array(cp.asarray(x2), chunks=(1, 2, 12, 13), asarray=False)
    with dask.config.set(scheduler="sync"):
        y2 = cc.conv2d(xd2, cp.asarray(w), padding=1)
        assert any(str(k[0]).endswith("-halo") for k in dict(y2.__dask_graph__()))
        grid = y2.to_delayed()
        blocks = dask.compute(*grid.ravel())
        assert all(type(b).__module__.startswith("cupy") for b in blocks)
        it = iter(np.asarray(b) for b in blocks)
        got2 = np.block([[[[next(it) for _ in range(grid.shape[3])] for _ in range(grid.shape[2])]
                          for _ in range(grid.shape[1])] for _ in range(grid.shape[0])])
    np.testing.assert_allclose(got2, cc.conv2d(x2, w, padding=1), rtol=1e-4, atol=1e-4)
