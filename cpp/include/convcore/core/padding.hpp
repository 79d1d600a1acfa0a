// Where a padded coordinate reads from, for every padding mode (PyTorch's and SciPy's names).
#pragma once
#include "hd.hpp"

namespace convcore {

enum class PadMode : int {
  zeros = 0,      // PyTorch "zeros", SciPy boundary "fill" (with a fill value)
  reflect = 1,    // d c b | a b c d | c b a   (edge not repeated; NumPy "reflect")
  replicate = 2,  // a a a | a b c d | d d d   (NumPy "edge")
  circular = 3,   // b c d | a b c d | a b c   (NumPy "wrap", SciPy "wrap")
  symmetric = 4,  // c b a | a b c d | d c b   (edge repeated; NumPy "symmetric", SciPy "symm")
};

// Source index in [0, n) for coordinate i, or -1 when the mode reads a constant there.
// Works for any distance outside the array (repeated reflection/wrapping, as NumPy's pad).
CONVCORE_HD index_t pad_source_index(index_t i, index_t n, PadMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case PadMode::zeros:
      return -1;
    case PadMode::replicate:
      return i < 0 ? 0 : n - 1;
    case PadMode::circular: {
      index_t r = i % n;
      return r < 0 ? r + n : r;
    }
    case PadMode::reflect: {
      if (n == 1) return 0;
      index_t period = 2 * (n - 1);
      index_t r = i % period;
      if (r < 0) r += period;
      return r < n ? r : period - r;
    }
    case PadMode::symmetric: {
      index_t period = 2 * n;
      index_t r = i % period;
      if (r < 0) r += period;
      return r < n ? r : period - 1 - r;
    }
  }
  return -1;
}

}  // namespace convcore
