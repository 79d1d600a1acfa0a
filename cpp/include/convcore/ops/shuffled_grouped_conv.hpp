// shuffled_grouped_conv: channel_shuffle(conv(x, w, groups=g), g) with the shuffle folded into
// the output write. The grouped conv is run group by group (per image) by conv_forward into a
// scratch of one group's output, (C_out/g, *out) of one image, and each of its channels is
// stored at its shuffled place; the full output is written exactly once.
//
// Workspace: that scratch, plus whatever conv_forward documents for one (image, group) call
// (a padded copy of the group's input for the non-zero padding modes).
#pragma once
#include <cstring>
#include <vector>

#include "conv.hpp"

namespace convcore {

// Validation is make_conv_spec's (groups must divide C_in and C_out); channels-last is refused
// because the op's contract is channels-first.
inline ConvSpec make_shuffled_grouped_conv_spec(const Shape& x, const Shape& w,
                                                const ConvOptions& o, index_t bias_len = -1) {
  if (o.channels_last) fail_value("channels_last is not supported by shuffled_grouped_conv");
  if (o.flip) fail_value("flip is not supported by shuffled_grouped_conv");
  return make_conv_spec(x, w, o, bias_len);
}

template <class T>
void shuffled_grouped_conv_forward(const ConvSpec& s, const T* x, const T* w, const T* bias,
                                   T* y, Algorithm algo = Algorithm::automatic) {
  const index_t G = s.groups, cpg = s.cin_per_group(), opg = s.cout_per_group();
  const index_t osz = s.out_size(), isz = s.in_size();
  if (s.N * s.C_out * osz == 0) return;
  if (G == 1) {  // the shuffle is the identity: no scratch
    conv_forward(s, x, w, bias, y, algo);
    return;
  }
  ConvSpec g = s;  // one image, one group
  g.N = 1;
  g.C_in = cpg;
  g.C_out = opg;
  g.groups = 1;
  std::vector<T> scratch = detail::workspace<T>(opg * osz, "one group's output");
  const index_t wsz = opg * cpg * s.k_size();
  for (index_t n = 0; n < s.N; ++n)
    for (index_t gi = 0; gi < G; ++gi) {
      conv_forward(g, x + (n * s.C_in + gi * cpg) * isz, w + gi * wsz,
                   bias ? bias + gi * opg : nullptr, scratch.data(), algo);
      const T* src = scratch.data();
      T* dst = y + n * s.C_out * osz;
      parallel_for(opg, [&](index_t j) {
        const index_t c = shuffled_channel(gi * opg + j, s.C_out, G);
        std::memcpy(dst + c * osz, src + j * osz, static_cast<std::size_t>(osz) * sizeof(T));
      });
    }
}

}  // namespace convcore
