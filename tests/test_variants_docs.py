"""The docstring examples of the variants-b modules run and print what they claim."""
import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["kernels", "_shuffle", "_asymmetric", "_se", "_conv_matrix",
                                    "_inception", "_quantized"])
def test_docstring_examples(module):
    pytest.importorskip("scipy")
    mod = importlib.import_module(f"convcore.{module}")
    res = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0
    assert res.failed == 0
