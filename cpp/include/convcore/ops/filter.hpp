// convolve / correlate: single-channel N-d filtering with SciPy's semantics.
//
// Every mode is a slice of the full convolution y_full[j] = sum_t A(j - t) k[t], where A is the
// input extended by the boundary rule (fill value, wrap, symmetric). As in the N-d
// scipy.signal.convolve, "same" is the slice of y_full centred on the input: it starts at
// (K - 1) // 2. correlate(a, k) is convolve(a, k reversed). "valid" reads no boundary values
// (SciPy swaps the operands when the kernel is larger in every dimension; the result is the same
// sum). The slice becomes a padded correlation.
//
// filter_forward picks a path (filter_plan): the sliding-window kernel of kernels/filter2d.hpp
// ("direct2d" for 1-D and 2-D, "direct3d" for 3-D), and, for a 2-D kernel that is rank-1 to
// within kSeparableTol * eps(T) * max|k|, its separable form ("separable": a vertical then a
// horizontal 1-D pass); kernels too large for the sliding kernel's bounded workspace go
// through conv_forward ("general"). "fill" is handled inside the sliding kernel; "wrap" and
// "symm" first make a padded copy of the input (workspace: one padded image).
#pragma once
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "../kernels/filter2d.hpp"
#include "conv.hpp"
#include "engine.hpp"

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
    // The full output (n + K - 1) and the padded input the kernels index (n + 2 (K - 1) in
    // "full" mode) must fit: n, K <= kMaxElements (checked_product above), so n + 2 K does.
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
    s.pad_hi[t] = (len - n) + (K - 1 - s.pad_lo[t]);
  }
  checked_product({s.out[0], s.out[1], s.out[2]}, "the output (a.shape + k.shape)");
  detail::check_padded_elements(s, 1);
  return s;
}

enum class FilterPath : int { general = 0, direct2d = 1, separable = 2, direct3d = 3 };

inline const char* filter_path_name(FilterPath p) {
  switch (p) {
    case FilterPath::general: return "general";
    case FilterPath::direct2d: return "direct2d";
    case FilterPath::separable: return "separable";
    case FilterPath::direct3d: return "direct3d";
  }
  return "?";
}

// The rank-1 acceptance threshold, in units of the dtype's epsilon times max|k|: the error of
// the separable result is then of the order of the rounding error the direct sum makes anyway
// (8 eps: ~1e-6 for float32, ~2e-15 for float64). Kernels built as outer products of two 1-D
// kernels pass; anything further from rank 1 takes the full 2-D kernel.
constexpr double kSeparableTol = 8.0;

// Which path filter_forward takes for this spec and correlation kernel kc (the kernel already
// flipped when spec.flip). When it returns separable, col and row (kh and kw long) hold the
// factors: kc == outer(col, row) to the tolerance above.
template <class T>
FilterPath filter_plan(const ConvSpec& s, const T* kc, std::vector<T>* col = nullptr,
                       std::vector<T>* row = nullptr) {
  const index_t kd = s.k[0], kh = s.k[1], kw = s.k[2];
  // kd * kh <= the kernel's element count, checked for overflow by make_filter_spec
  if (kernels::filter2d_item_bytes<T>(s.out[2], kd * kh, kw) > kernels::kFilterMaxItemBytes)
    return FilterPath::general;
  if (s.nd == 3) return FilterPath::direct3d;
  // Separable pays when kh + kw multiplications beat kh * kw.
  if (kh >= 2 && kw >= 2 && kh * kw > kh + kw) {
    std::vector<T> c(static_cast<std::size_t>(kh)), r(static_cast<std::size_t>(kw));
    const double tol = kSeparableTol * static_cast<double>(std::numeric_limits<T>::epsilon());
    if (kernels::rank1_factors(kc, kh, kw, tol, c.data(), r.data())) {
      if (col) *col = std::move(c);
      if (row) *row = std::move(r);
      return FilterPath::separable;
    }
  }
  return FilterPath::direct2d;
}

// Flips k (all taps reversed) into `store` when spec.flip; returns the correlation kernel.
template <class T>
const T* filter_correlation_kernel(const ConvSpec& s, const T* k, std::vector<T>& store) {
  if (!s.flip) return k;
  const index_t n = s.k_size();
  store.resize(static_cast<std::size_t>(n));
  for (index_t t = 0; t < n; ++t) store[static_cast<std::size_t>(t)] = k[n - 1 - t];
  return store.data();
}

// Runs a spec from make_filter_spec: y (the spec's output, C-contiguous) from a and k.
template <class T>
void filter_forward(const ConvSpec& spec, const T* a, const T* k, T* y) {
  if (spec.out_size() == 0) return;
  std::vector<T> kflip, col, row, padded;
  const T* kc = filter_correlation_kernel(spec, k, kflip);
  const FilterPath path = filter_plan(spec, kc, &col, &row);
  if (path == FilterPath::general) {
    conv_forward(spec, a, k, static_cast<const T*>(nullptr), y);
    return;
  }
  kernels::Filter2DGeom g;
  g.D = spec.in[0];
  g.H = spec.in[1];
  g.W = spec.in[2];
  g.kd = spec.k[0];
  g.kh = spec.k[1];
  g.kw = spec.k[2];
  g.OD = spec.out[0];
  g.OH = spec.out[1];
  g.OW = spec.out[2];
  g.front = spec.pad_lo[0];
  g.top = spec.pad_lo[1];
  g.left = spec.pad_lo[2];
  T fill = static_cast<T>(spec.fill);
  if (spec.pad_mode != PadMode::zeros && !spec.unpadded()) {
    index_t P[3];
    for (int d = 0; d < 3; ++d)
      P[d] = spec.in[d] + spec.pad_lo[d] + (spec.pad_hi[d] > 0 ? spec.pad_hi[d] : 0);
    padded = detail::workspace<T>(checked_mul(P[0], checked_mul(P[1], P[2], "padded a"),
                                              "padded a"),
                                  "padded copy of a");
    kernels::pad_planes(a, padded.data(), 1, spec.in, spec.pad_lo, spec.pad_hi, spec.pad_mode,
                        T(0));
    a = padded.data();
    g.D = P[0];
    g.H = P[1];
    g.W = P[2];
    g.front = g.top = g.left = 0;
    fill = T(0);
  }
  const bool sep = path == FilterPath::separable;
  // the active ISA level's kernel (ops/engine.hpp)
  active_kernels().fns(static_cast<T*>(nullptr))
      .filter(g, a, kc, sep ? col.data() : nullptr, sep ? row.data() : nullptr, y, fill);
}

}  // namespace convcore
