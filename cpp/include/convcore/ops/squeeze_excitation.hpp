// squeeze_excitation: SENet's channel attention on (N, C, *spatial) (1-3 spatial dims), or
// (N, *spatial, C) when channels_last. w1 (C/r, C), w2 (C, C/r), each optionally followed by
// trailing 1s (a 1x1 conv's weight); b1 (C/r,), b2 (C,) optional.
#pragma once
#include "../core/checked.hpp"
#include "../core/errors.hpp"
#include "../kernels/squeeze_excitation.hpp"
#include "options.hpp"

namespace convcore {

struct SESpec {
  index_t N = 0, C = 0, S = 1, R = 0;
  bool channels_last = false;
};

namespace detail {
inline void check_fc(const Shape& w, const char* name, const char* expect) {
  if (w.size() < 2)
    fail_value(name, " must be ", expect, " (optionally with trailing 1s), got ", w.size(), "-D");
  for (std::size_t d = 2; d < w.size(); ++d)
    if (w[d] != 1)
      fail_value(name, " must be ", expect, "; its trailing dimensions must be 1 (a 1x1 conv "
                 "weight), got size ", w[d], " in dimension ", d);
}
}  // namespace detail

inline SESpec make_se_spec(const Shape& x, const Shape& w1, index_t b1_len, const Shape& w2,
                           index_t b2_len, bool channels_last) {
  if (x.size() < 3 || x.size() > 5)
    fail_value("x must have 3, 4 or 5 dimensions (N, C, *spatial), got ", x.size());
  for (auto v : x)
    if (v < 0) fail_value("x has a negative dimension");
  checked_product(x.begin(), x.end(), "x");
  SESpec s;
  s.N = x[0];
  s.C = channels_last ? x.back() : x[1];
  s.channels_last = channels_last;
  Shape spatial;
  for (std::size_t d = 1; d < x.size(); ++d)
    if (d != (channels_last ? x.size() - 1 : 1)) spatial.push_back(x[d]);
  s.S = checked_product(spatial.begin(), spatial.end(), "x");
  if (s.S < 1) fail_value("x must have a non-empty spatial extent to average over");
  detail::check_fc(w1, "w1", "(C/r, C)");
  detail::check_fc(w2, "w2", "(C, C/r)");
  checked_product(w1.begin(), w1.end(), "w1");  // (refuses a negative dimension too)
  checked_product(w2.begin(), w2.end(), "w2");
  s.R = w1[0];
  if (s.R < 1) fail_value("w1 must have at least one row (the reduced width C/r >= 1)");
  if (w1[1] != s.C)
    fail_value("w1 must have shape (C/r, C) with C = ", s.C, " (the channels of x), got w1.shape[1] = ",
               w1[1]);
  if (w2[0] != s.C)
    fail_value("w2 must have shape (C, C/r) with C = ", s.C, " (the channels of x), got w2.shape[0] = ",
               w2[0]);
  if (w2[1] != s.R)
    fail_value("w2.shape[1] (", w2[1], ") must equal the reduced width w1.shape[0] (", s.R,
               "): w1 is (C/r, C) and w2 is (C, C/r)");
  if (b1_len >= 0 && b1_len != s.R)
    fail_value("b1 must have shape (", s.R, ",) (the reduced width w1.shape[0]), got length ", b1_len);
  if (b2_len >= 0 && b2_len != s.C)
    fail_value("b2 must have shape (", s.C, ",) (the channels of x), got length ", b2_len);
  // the kernel's workspace: 2 * N * C + N * R values
  checked_product({s.N, s.C}, "x");
  checked_product({s.N, s.R}, "w1");
  return s;
}

template <class T>
void squeeze_excitation_forward(const SESpec& s, const T* x, const T* w1, const T* b1,
                                const T* w2, const T* b2, T* y) {
  if (s.N * s.C == 0) return;
  kernels::squeeze_excitation(x, w1, b1, w2, b2, y, s.N, s.C, s.S, s.R, s.channels_last);
}

}  // namespace convcore
