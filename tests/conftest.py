import numpy as np
import pytest


def tolerance(dtype, reduction):
    """Absolute-relative tolerance for a sum of `reduction` products in `dtype`."""
    eps = np.finfo(dtype).eps
    return float(eps * 8 * max(1.0, np.sqrt(reduction)) * (4 if dtype == np.float32 else 16))


def assert_close(actual, expected, reduction=1, dtype=None):
    """Compare with the float64 oracle, tolerance scaled by the reduction length."""
    actual = np.asarray(actual)
    dtype = dtype or actual.dtype
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    tol = tolerance(dtype, reduction)
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    err = float(np.max(np.abs(actual.astype(np.float64) - expected))) if expected.size else 0.0
    assert err <= tol * scale, f"max abs error {err:.3g} > {tol * scale:.3g}"


def conv_data(rng, xs, ws, dtype, bias=True):
    """Random x (shape xs), w (shape ws) and, with bias, a bias of length ws[0], in dtype."""
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if bias else None
    return x, w, b


def run_in_threads(work, n=8):
    """work(k) for k < n, each in its own Python thread, all started together; the first
    exception a thread raised is raised here."""
    import threading

    errors, start = [], threading.Barrier(n)

    def body(k):
        start.wait()
        try:
            work(k)
        except BaseException as e:  # noqa: BLE001 (re-raised below)
            errors.append(e)

    ts = [threading.Thread(target=body, args=(k,)) for k in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def assert_immutable(plan):
    """A plan has no settable attribute, and the keywords it keeps are read-only."""
    import pytest

    for name in ("algorithm", "extra"):
        with pytest.raises(AttributeError):
            setattr(plan, name, 1)
    with pytest.raises(TypeError):
        plan._meta["kwargs"]["stride"] = 3


def int8_paths(scalar=True):
    """(level, engine) pairs of the INT8 kernels this CPU can run: every supported level
    ("scalar" only if asked, or if nothing else runs) with the automatic engine, and AVX-512
    without VNNI where VNNI is the automatic choice; and whether VNNI is."""
    from convcore import _core

    levels = list(_core.simd_info()["supported"])
    has_vnni = "avx512" in levels and _core.simd_info().get("int8") == "avx512_vnni"
    paths = [(l, "auto") for l in levels if l != "scalar"]
    if has_vnni:
        paths.append(("avx512", "no_vnni"))
    if scalar or not paths:
        paths.insert(0, ("scalar", "auto"))
    return paths, has_vnni


def use_int8_path(level, engine):
    """A context: the INT8 kernels of (level, engine) active inside, the previous ones after."""
    import contextlib

    from convcore import _core

    @contextlib.contextmanager
    def ctx():
        old = _core.simd_info()["level"]
        _core._set_isa(level)
        _core._set_int8_engine(engine)
        try:
            yield
        finally:
            _core._set_int8_engine("auto")
            _core._set_isa(old)

    return ctx()


def reduction(w):
    """Products per output of a conv with weight w: C_in/groups * prod(kernel)."""
    return int(np.prod(w.shape[1:]))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def one_thread():
    """Run the test on one OpenMP thread (restored afterwards): the dense sweeps run there,
    since on a loaded 2-core machine each parallel call costs ~20 ms of wake-up; the splits
    that depend on the thread count get their own cases."""
    import convcore as cc

    old = cc.get_num_threads()
    cc.set_num_threads(1)
    yield
    cc.set_num_threads(old)


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    """Run the test with 1 and with 2 OpenMP threads (restored afterwards)."""
    import convcore as cc

    old = cc.get_num_threads()
    cc.set_num_threads(request.param)
    yield request.param
    cc.set_num_threads(old)


def _isa_levels():
    from convcore import _core

    return list(_core.simd_info()["supported"])


@pytest.fixture(params=_isa_levels())
def isa(request):
    """Run the test at every SIMD level this CPU supports (restored afterwards)."""
    from convcore import _core

    before = _core.simd_info()["level"]
    _core._set_isa(request.param)
    yield request.param
    _core._set_isa(before)
