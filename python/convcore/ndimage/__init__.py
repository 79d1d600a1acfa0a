"""scipy.ndimage's linear filters on convcore's kernels: change one import.

``from convcore import ndimage`` in place of ``from scipy import ndimage``: the same functions,
signatures, defaults and results: bit for bit for every dtype but float32 into float32
(integer dtypes' casts included: every value is computed in double in SciPy's order and cast
as SciPy casts). float32 input filtered into float32 output (the default output) is computed
in float32 with FMA, as cupyx.scipy.ndimage does: it differs from SciPy by rounding, measured
at most 4.03 float32 epsilons (2**-23) of max(max|output|, max(|input|, |cval|) * sum|weights|),
1.3 for kernels up to 25 taps (docs/ndimage.md); ``output=np.float64`` gives SciPy's double
result to the bit. Vectorised and threaded (``convcore.set_num_threads``). Separable filters run as 1-D passes along each axis; no pass
pads a copy of the image. Any rank from 1 (0 where SciPy takes it), every SciPy mode.

>>> import numpy as np
>>> from convcore import ndimage
>>> ndimage.gaussian_filter(np.arange(5.0), 1)
array([0.42704095, 1.06782203, 2.        , 2.93217797, 3.57295905])
"""
from ._correlate import convolve, convolve1d, correlate, correlate1d
from ._derivatives import (gaussian_gradient_magnitude, gaussian_laplace,
                           generic_gradient_magnitude, generic_laplace, laplace, prewitt, sobel)
from ._smooth import gaussian_filter, gaussian_filter1d, uniform_filter, uniform_filter1d

__all__ = [
    "correlate", "convolve", "correlate1d", "convolve1d", "uniform_filter", "uniform_filter1d",
    "gaussian_filter", "gaussian_filter1d", "sobel", "prewitt", "laplace", "gaussian_laplace",
    "gaussian_gradient_magnitude", "generic_gradient_magnitude", "generic_laplace",
]
