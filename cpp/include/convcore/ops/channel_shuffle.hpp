// channel_shuffle: torch.nn.ChannelShuffle on (N, C, *spatial), or (N, *spatial, C) when
// channels_last. No workspace.
#pragma once
#include "../core/checked.hpp"
#include "../core/errors.hpp"
#include "../kernels/shuffle.hpp"
#include "options.hpp"

namespace convcore {

struct ShuffleSpec {
  index_t N = 0, C = 0, S = 1, groups = 1;
  bool channels_last = false;
};

inline ShuffleSpec make_channel_shuffle_spec(const Shape& x, index_t groups, bool channels_last) {
  if (x.size() < 2)
    fail_value("x must have at least 2 dimensions (N, C, *spatial), got ", x.size());
  for (auto v : x)
    if (v < 0) fail_value("x has a negative dimension");
  checked_product(x.begin(), x.end(), "x");
  ShuffleSpec s;
  s.N = x[0];
  s.C = channels_last ? x.back() : x[1];
  s.channels_last = channels_last;
  Shape spatial;
  for (std::size_t d = 1; d < x.size(); ++d)
    if (d != (channels_last ? x.size() - 1 : 1)) spatial.push_back(x[d]);
  s.S = checked_product(spatial.begin(), spatial.end(), "x");
  if (groups < 1) fail_value("groups must be >= 1, got ", groups);
  if (s.C % groups != 0)
    fail_value("groups (", groups, ") must divide the number of channels (", s.C, ")");
  s.groups = groups;
  return s;
}

template <class T>
void channel_shuffle_forward(const ShuffleSpec& s, const T* x, T* y) {
  if (s.channels_last)
    kernels::channel_shuffle_last(x, y, s.N, s.C, s.S, s.groups);
  else
    kernels::channel_shuffle_planes(x, y, s.N, s.C, s.S, s.groups);
}

}  // namespace convcore
