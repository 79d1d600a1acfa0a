"""scipy.ndimage's linear filters on convcore's kernels: change one import.

``from convcore import ndimage`` in place of ``from scipy import ndimage``: the same functions,
signatures, defaults and results: bit for bit for every dtype but float32 into float32
(integer dtypes' casts included: every value is computed in double in SciPy's order and cast
as SciPy casts). float32 input filtered into float32 output (the default output) is computed
in float32 with FMA, as cupyx.scipy.ndimage does: it differs from SciPy by rounding, measured
at most 4.03 float32 epsilons (2**-23) of max(max|output|, max(|input|, |cval|) * sum|weights|),
1.3 for kernels up to 25 taps (docs/ndimage.md); ``output=np.float64`` gives SciPy's double
result to the bit. Vectorised and threaded (``convcore.set_num_threads``). Separable filters
run as 1-D passes along each axis; no pass pads a copy of the image. Any rank from 1 (0 where
SciPy takes it), every SciPy mode. A Dask array image gives a lazy Dask array with the image's
chunks and the in-memory result, each block read with the halo the filter needs
(convcore/dask/_ndimage.py, docs/dask.md).

>>> import numpy as np
>>> from convcore import ndimage
>>> ndimage.gaussian_filter(np.arange(5.0), 1)
array([0.42704095, 1.06782203, 2.        , 2.93217797, 3.57295905])
"""
import functools
from typing import Any, Callable

from .._args import is_dask
from . import _correlate, _derivatives, _smooth

__all__ = [
    "correlate", "convolve", "correlate1d", "convolve1d", "uniform_filter", "uniform_filter1d",
    "gaussian_filter", "gaussian_filter1d", "sobel", "prewitt", "laplace", "gaussian_laplace",
    "gaussian_gradient_magnitude", "generic_gradient_magnitude", "generic_laplace",
]


def _any_array(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` for NumPy input, and for a Dask array input the same filter lazily, block by
    block with exact halos (convcore.dask._ndimage; Dask imported only then)."""
    @functools.wraps(fn)
    def run(input: Any, *args: Any, **kwargs: Any) -> Any:
        if is_dask(input):
            from ..dask._ndimage import filter

            return filter(fn, input, args, kwargs)
        return fn(input, *args, **kwargs)
    return run


correlate = _any_array(_correlate.correlate)
convolve = _any_array(_correlate.convolve)
correlate1d = _any_array(_correlate.correlate1d)
convolve1d = _any_array(_correlate.convolve1d)
uniform_filter = _any_array(_smooth.uniform_filter)
uniform_filter1d = _any_array(_smooth.uniform_filter1d)
gaussian_filter = _any_array(_smooth.gaussian_filter)
gaussian_filter1d = _any_array(_smooth.gaussian_filter1d)
sobel = _any_array(_derivatives.sobel)
prewitt = _any_array(_derivatives.prewitt)
laplace = _any_array(_derivatives.laplace)
gaussian_laplace = _any_array(_derivatives.gaussian_laplace)
gaussian_gradient_magnitude = _any_array(_derivatives.gaussian_gradient_magnitude)
generic_gradient_magnitude = _any_array(_derivatives.generic_gradient_magnitude)
generic_laplace = _any_array(_derivatives.generic_laplace)
