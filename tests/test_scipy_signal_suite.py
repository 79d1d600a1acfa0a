"""SciPy's own tests of convolve / correlate / convolve2d / correlate2d, run on convcore's.

The classes below are imported from scipy/signal/tests/test_signaltools.py (shipped in the
SciPy wheel) and collected here, with convcore's four functions put in place of SciPy's
wherever that module looks them up (its globals and the ``scipy.signal`` namespace it reaches
through ``signal.convolve``...). The ``xp`` fixture SciPy's conftest provides is NumPy here,
the backend convcore serves. Skipped when SciPy (or its tests) is absent.

Caveat, SciPy's own: a few of those tests build their expected values by calling
``correlate`` on the real and imaginary parts (TestCorrelateComplex); with the substitution
those calls are convcore's too. tests/test_signal_dtypes.py compares against SciPy itself.

Deselected, each for a reason (the ``method=`` argument aside, as issue 18 allows):
- TestConvolve.test_convolve_method: compares SciPy's fft and direct methods with each other
  and asserts ``choose_conv_method`` picks direct for bool; convcore has one method.
- TestConvolve.test_convolve_method_large_input: the same comparison of methods on 2**n.
- TestConvolve2d.test_large_array: needs ~9 GB (a 2.1 GB int64 view, its float64 copy and the
  outputs); SciPy marks it slow. Run it with CONVCORE_BIG_TESTS=1.
"""
import os

import numpy as np
import pytest

import convcore as cc

pytest.importorskip("scipy")
sigtests = pytest.importorskip("scipy.signal.tests.test_signaltools")

__all__ = ["TestConvolve", "TestConvolve2d", "TestCorrelate", "TestCorrelate2d",
           "TestCorrelateComplex", "TestCorrelateReal"]
if not all(hasattr(sigtests, n) for n in __all__):  # an older SciPy lays its tests out otherwise
    pytest.skip("this SciPy's test_signaltools lacks " +
                ", ".join(n for n in __all__ if not hasattr(sigtests, n)), allow_module_level=True)
globals().update({n: getattr(sigtests, n) for n in __all__})  # collected here, as our tests

DESELECTED = {
    "TestConvolve::test_convolve_method": "compares SciPy's fft and direct methods",
    "TestConvolve::test_convolve_method_large_input": "compares SciPy's fft and direct methods",
}
if not os.environ.get("CONVCORE_BIG_TESTS"):
    DESELECTED["TestConvolve2d::test_large_array"] = "needs ~9 GB; CONVCORE_BIG_TESTS=1 runs it"

FUNCTIONS = ("convolve", "correlate", "convolve2d", "correlate2d")


@pytest.fixture
def xp():
    return np


@pytest.fixture(autouse=True)
def convcore_in_place_of_scipy(request, monkeypatch):
    for key, why in DESELECTED.items():
        if request.node.nodeid.split("::", 1)[-1].startswith(key):
            pytest.skip(why)
    import scipy.signal

    for name in FUNCTIONS:
        monkeypatch.setattr(sigtests, name, getattr(cc, name))
        monkeypatch.setattr(scipy.signal, name, getattr(cc, name))
    yield


def test_the_substitution_takes(monkeypatch):
    """The module's names are convcore's while a test runs (else the suite would pass on
    SciPy's own functions and prove nothing)."""
    import scipy.signal

    for name in FUNCTIONS:
        assert getattr(sigtests, name) is getattr(cc, name)
        assert getattr(scipy.signal, name) is getattr(cc, name)
