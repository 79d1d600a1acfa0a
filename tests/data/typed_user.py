"""A small user program, type-checked with `mypy --strict` by tests/test_stubs.py: it must pass
against the package's inline annotations, py.typed and the stubs of the compiled module."""
from typing import List, Tuple

import numpy as np
import numpy.typing as npt

import convcore as cc
from convcore import _core


def edges(image: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    k = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], np.float32)
    out: npt.NDArray[np.float32] = cc.convolve(image, k, mode="same")
    return out


def layer_cost() -> Tuple[int, Tuple[int, ...]]:
    c = cc.cost("conv2d", (1, 3, 7, 7), (128, 3, 3, 3))
    macs: int = c.macs
    return macs, cc.output_shape("conv2d", (1, 3, 7, 7), (128, 3, 3, 3))


def geometry() -> List[int]:
    opts = _core.ConvOptions()
    opts.stride = [1, 1]
    spec: _core.ConvSpec = _core.conv_spec([1, 3, 7, 7], [128, 3, 3, 3], _core.ConvOptions())
    n: int = spec.C_out + _core.conv_out_size(7, 3, 1, 1, 0, 0)
    return _core.output_shape(spec) + [n]


def main() -> None:
    x = np.ones((1, 3, 8, 8), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    y = cc.conv2d(x, w, padding=1)
    print(y.shape, edges(x[0, 0]).shape, layer_cost(), geometry())
    cc.set_num_threads(1)
    threads: int = cc.get_num_threads()
    include: str = cc.get_include()
    print(threads, include, cc.receptive_field([(3, 1, 1)] * 3).size)


if __name__ == "__main__":
    main()
