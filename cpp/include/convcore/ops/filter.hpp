// convolve / correlate: single-channel N-d filtering with SciPy's semantics.
//
// Every mode is a slice of the full convolution y_full[j] = sum_t A(j - t) k[t], where A is the
// input extended by the boundary rule (fill value, wrap, symmetric). As in the N-d
// scipy.signal.convolve, "same" is the slice of y_full centred on the input: it starts at
// (K - 1) // 2. correlate(a, k) is convolve(a, k reversed). "valid" reads no boundary values
// (SciPy swaps the operands when the kernel is larger in every dimension; the result is the same
// sum). The slice becomes a padded correlation, so the conv kernels do the work.
#pragma once
#include <string>

#include "conv.hpp"

namespace convcore {

enum class FilterMode : int { full = 0, same = 1, valid = 2 };

inline FilterMode parse_filter_mode(const std::string& s) {
  if (s == "full") return FilterMode::full;
  if (s == "same") return FilterMode::same;
  if (s == "valid") return FilterMode::valid;
  fail_value("mode must be 'full', 'same' or 'valid', got '", s, "'");
}

inline PadMode parse_boundary(const std::string& s) {
  if (s == "fill") return PadMode::zeros;
  if (s == "wrap" || s == "circular") return PadMode::circular;
  if (s == "symm" || s == "symmetric") return PadMode::symmetric;
  fail_value("boundary must be 'fill', 'wrap' or 'symm', got '", s, "'");
}

// Geometry of convolve(a, k) (or correlate when convolve is false) as a 1-channel conv.
inline ConvSpec make_filter_spec(const Shape& a, const Shape& k, FilterMode mode, PadMode boundary,
                                 double fillvalue, bool convolve) {
  if (a.size() < 1 || a.size() > 3)
    fail_value("a must have 1, 2 or 3 dimensions, got ", a.size());
  if (k.size() != a.size())
    fail_value("k must have as many dimensions as a (", a.size(), "), got ", k.size());
  const int nd = static_cast<int>(a.size());
  for (int d = 0; d < nd; ++d) {
    if (a[d] < 1) fail_value("a must not be empty (dimension ", d, " has size ", a[d], ")");
    if (k[d] < 1) fail_value("k must not be empty (dimension ", d, " has size ", k[d], ")");
  }
  checked_product(a.begin(), a.end(), "a");
  checked_product(k.begin(), k.end(), "k");
  if (mode == FilterMode::valid) {
    bool a_big = true, k_big = true;
    for (int d = 0; d < nd; ++d) {
      a_big = a_big && a[d] >= k[d];
      k_big = k_big && k[d] >= a[d];
    }
    if (!a_big && !k_big)
      fail_value("mode='valid' needs one of a, k to be at least as large as the other in "
                 "every dimension");
    boundary = PadMode::zeros;  // nothing outside is read, or (swapped) it counts as zero
    fillvalue = 0.0;
  }
  ConvSpec s;
  s.nd = nd;
  s.N = s.C_in = s.C_out = s.groups = 1;
  s.pad_mode = boundary;
  s.fill = boundary == PadMode::zeros ? fillvalue : 0.0;
  s.flip = convolve;  // the kernels correlate; convolution reads the kernel reversed
  for (int d = 0; d < nd; ++d) {
    const int t = kMaxSpatial - nd + d;
    const index_t n = a[d], K = k[d];
    index_t len = 0, start = 0;
    switch (mode) {
      case FilterMode::full: len = n + K - 1; start = 0; break;
      case FilterMode::same: len = n; start = (K - 1) / 2; break;
      case FilterMode::valid:
        len = (n > K ? n - K : K - n) + 1;
        start = (n < K ? n : K) - 1;
        break;
    }
    s.in[t] = n;
    s.k[t] = K;
    s.out[t] = len;
    s.pad_lo[t] = K - 1 - start;
    s.pad_hi[t] = len + K - 1 - n - s.pad_lo[t];
  }
  return s;
}

}  // namespace convcore
