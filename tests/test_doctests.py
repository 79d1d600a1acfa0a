"""Every public function carries a runnable example, and every example is true.

Runs doctest over each name in ``convcore.__all__`` and ``convcore.kernels`` (when this build has
it), plus the package docstring and the tour module. A public function without a ``>>>``
example fails, naming itself."""
import doctest
import importlib
import inspect

import numpy as np
import pytest

import convcore as cc


def _public():
    items = [(f"convcore.{n}", getattr(cc, n)) for n in cc.__all__]
    try:
        kernels = importlib.import_module("convcore.kernels")
    except ImportError:
        kernels = None
    if kernels is not None:
        names = getattr(kernels, "__all__", None) or [
            n for n, v in vars(kernels).items()
            if not n.startswith("_") and callable(v) and getattr(v, "__module__", "") ==
            kernels.__name__]
        items += [(f"convcore.kernels.{n}", getattr(kernels, n)) for n in names]
    return items


PUBLIC = _public()
FINDER = doctest.DocTestFinder(recurse=False)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _is_function(obj):
    return inspect.isfunction(obj) or inspect.isbuiltin(obj) or (
        callable(obj) and not inspect.isclass(obj) and not inspect.ismodule(obj))


def _run(obj, name):
    tests = [t for t in FINDER.find(obj, name, globs={"np": np, "cc": cc}) if t.examples]
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for t in tests:
        runner.run(t)
    return tests, runner.summarize(verbose=False)


@pytest.mark.parametrize("name,obj", PUBLIC, ids=[n for n, _ in PUBLIC])
def test_public_docstring_examples(name, obj):
    tests, result = _run(obj, name)
    if _is_function(obj):
        assert tests, (f"{name} has no docstring example: add a runnable `>>>` example to its "
                       f"docstring")
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


@pytest.mark.parametrize("module", ["convcore", "convcore.tour"])
def test_module_doctests(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=FLAGS, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0


def test_the_check_catches_a_function_without_example():
    def undocumented(x):
        """Adds one."""
        return x + 1

    tests, _ = _run(undocumented, "undocumented")
    assert not tests
