// Overflow harness for the spec validation (tests/test_overflow.py builds it with
// -fsanitize=undefined -fno-sanitize-recover): feeds make_conv_spec, make_conv_transpose_spec
// and the other ops' spec functions extreme sizes, strides, dilations and paddings. Each call
// must either throw convcore::value_error or return a spec whose geometry is exact (checked
// against 128-bit arithmetic) and on which the index math the kernels do stays defined. Any
// signed overflow aborts the process (UBSan). Prints "ok <accepted> <refused>" at the end.
#include <convcore/convcore.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace convcore;
using i128 = __int128;

namespace {

const index_t kBig = INT64_MAX;
const std::vector<index_t> kValues = {0,
                                      1,
                                      2,
                                      3,
                                      5,
                                      7,
                                      (index_t(1) << 31) - 1,
                                      index_t(1) << 31,
                                      index_t(1) << 32,
                                      index_t(1) << 40,
                                      (index_t(1) << 56) + 1,
                                      index_t(1) << 61,
                                      index_t(1) << 62,
                                      kBig - 1,
                                      kBig};

std::uint64_t rng_state = 0x9E3779B97F4A7C15ull;
std::uint64_t next() {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}
index_t pick() { return kValues[next() % kValues.size()]; }
index_t pick_small() { return static_cast<index_t>(next() % 6); }
// Mostly small values, sometimes extreme ones.
index_t pick_mixed() { return next() % 3 == 0 ? pick() : pick_small() + 1; }

long accepted = 0, refused = 0;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "FAIL: %s\n", what);
  std::exit(1);
}

// The index math kernels do on a validated spec, at the corners of every axis.
void exercise(const ConvSpec& s) {
  volatile index_t sink = s.in_size() + s.out_size() + s.k_size();
  for (int d = 0; d < kMaxSpatial; ++d) {
    const index_t os[2] = {0, s.out[d] - 1}, ts[2] = {0, s.k[d] - 1};
    for (index_t o : os)
      for (index_t t : ts) {
        sink = sink + conv_in_index(o, t, s.stride[d], s.dil[d], s.pad_lo[d]);
        index_t lo, hi;
        valid_out_range(s.in[d], s.out[d], t, s.stride[d], s.dil[d], s.pad_lo[d], &lo, &hi);
        sink = sink + lo + hi;
        const index_t ins[2] = {0, s.in[d] - 1};
        for (index_t i : ins)
          sink = sink + conv_out_index(i, t, s.stride[d], s.dil[d], s.pad_lo[d], s.out[d]);
      }
    // stride <= padded extent, dilated kernel within it
    const i128 padded = i128(s.in[d]) + s.pad_lo[d] + (s.pad_hi[d] > 0 ? s.pad_hi[d] : 0);
    if (i128(s.stride[d]) > padded) fail("stride beyond the padded extent");
    if (i128(s.k[d] - 1) * s.dil[d] + 1 > padded) fail("dilated kernel beyond the padded extent");
  }
  sink = sink + kernels::depthwise_flat_bytes(s, 8) + kernels::stem_row_len(s, 16) +
         kernels::stem_band_rows(s, 1);
  (void)sink;
}

// The exact forward output length, in 128 bits.
i128 exact_out(i128 in, i128 k, i128 stride, i128 dil, i128 lo, i128 hi) {
  const i128 span = in + lo + hi - ((k - 1) * dil + 1);
  return span < 0 ? 0 : span / stride + 1;
}

template <class F>
bool attempt(F&& f) {
  try {
    f();
    ++accepted;
    return true;
  } catch (const value_error&) {
    ++refused;
    return false;
  }
}

void conv_case(bool transposed) {
  const int nd = 1 + static_cast<int>(next() % 2);
  Shape x{pick_small() % 2 + 1, 1}, w{1, 1};
  for (int d = 0; d < nd; ++d) {
    x.push_back(next() % 4 == 0 ? pick() : pick_small() + 1);
    w.push_back(next() % 4 == 0 ? pick() : pick_small() % 3 + 1);
  }
  ConvOptions o;
  o.stride = {pick_mixed()};
  o.dilation = {pick_mixed()};
  if (next() % 5 == 0 && !transposed) {
    o.pad_same = true;
  } else {
    o.pad_lo = {next() % 2 ? pick() : pick_small()};
    o.pad_hi = {next() % 2 ? pick() : pick_small()};
  }
  if (transposed && next() % 3 == 0) o.output_padding = {next() % 2 ? pick() : pick_small()};
  if (!transposed && next() % 4 == 0) o.pad_mode = PadMode::reflect;
  ConvSpec s;
  if (!attempt([&] {
        s = transposed ? make_conv_transpose_spec(x, w, o) : make_conv_spec(x, w, o);
      }))
    return;
  exercise(s);
  if (!transposed && !o.pad_same) {
    for (int d = 0; d < nd; ++d) {
      const int t = kMaxSpatial - nd + d;
      const i128 want = exact_out(x[2 + d], w[2 + d], o.stride[0], o.dilation[0], o.pad_lo[0],
                                  o.pad_hi[0]);
      if (want != s.out[t]) fail("conv output length differs from the exact one");
    }
  }
  if (transposed) {
    for (int d = 0; d < nd; ++d) {
      const int t = kMaxSpatial - nd + d;
      const i128 op = o.output_padding.empty() ? 0 : o.output_padding[0];
      const i128 want = (i128(x[2 + d]) - 1) * o.stride[0] + (i128(w[2 + d]) - 1) * o.dilation[0] +
                        1 + op - o.pad_lo[0] - o.pad_hi[0];
      if (want != s.in[t]) fail("conv_transpose output length differs from the exact one");
      // the forward conv of the spec maps its input back onto x
      if (conv_out_size(s.in[t], s.k[t], s.stride[t], s.dil[t], s.pad_lo[t], s.pad_hi[t]) !=
          s.out[t])
        fail("conv_transpose spec is not the adjoint of its forward conv");
    }
  }
  if (s.zero_padding() && !s.channels_last)
    attempt([&] { conv_matrix_size(s, 8); });
}

void other_ops() {
  const Shape x{pick_mixed(), pick_mixed(), pick_mixed(), pick_mixed()};
  attempt([&] { make_channel_shuffle_spec(x, pick_mixed(), next() % 2 == 0); });
  attempt([&] { make_channel_shuffle_spec({0, 2, pick(), pick()}, 2, false); });
  attempt([&] {
    make_se_spec(x, {1, x[1]}, -1, {x[1], 1}, -1, false);
  });
  attempt([&] { make_se_spec({0, 1, pick(), pick()}, {1, 1}, -1, {1, 1}, -1, false); });
  attempt([&] { make_pointwise_spec(x, {pick_mixed(), pick_mixed()}, pick_mixed(), false,
                                    Activation::none); });
  attempt([&] { make_pointwise_spec({0, 1, pick(), pick()}, {1, 1}, 1, false, Activation::none); });
  const Shape a{pick_mixed(), pick_mixed()}, k{pick_mixed(), pick_mixed()};
  for (int m = 0; m < 3; ++m)
    attempt([&] {
      ConvSpec s = make_filter_spec(a, k, static_cast<FilterMode>(m), PadMode::zeros, 0.0, true);
      exercise(s);
    });
  ConvOptions o;
  o.stride = {pick_mixed()};
  o.dilation = {pick_mixed()};
  o.pad_lo = {next() % 2 ? pick() : pick_small()};
  const index_t kk = pick_small() % 2 * 2 + 1;
  attempt([&] { exercise(make_depthwise_spec({1, 2, 5, 5}, {pick_mixed(), 1, 3, 3}, o)); });
  attempt([&] {
    exercise(make_asymmetric_spec({1, 1, 5, 5}, {1, 1, kk, kk}, {1, 1, 1, kk}, {1, 1, kk, 1}, o));
  });
  attempt([&] { exercise(make_shuffled_grouped_conv_spec({1, 2, 5, 5}, {2, 1, 3, 3}, o)); });
  attempt([&] {
    auto s = make_flattened_spec({1, 1, 5, 5}, {1, 1}, {1, pick_mixed()}, {1, pick_mixed()}, o);
    exercise(s.vertical);
    exercise(s.horizontal);
  });
  attempt([&] {
    exercise(make_depthwise_separable_spec({1, 2, 5, 5}, {2, 1, 3, 3}, {4, 2}, o,
                                           Activation::none).dw);
  });
  attempt([&] {
    auto s = make_spatially_separable_spec({1, 1, 5, 5}, {1, 1, 3, 1}, {1, 1, 1, 3}, o);
    exercise(s.col);
    exercise(s.row);
  });
  attempt([&] {
    make_spatially_separable_spec({1, pick(), 5, 5}, {1, pick(), 3, 1}, {1, 1, 1, 3}, ConvOptions{});
  });
  attempt([&] { make_conv_spec({1, pick(), 5}, {1, pick(), 3}, ConvOptions{}); });
  QuantParams q;
  attempt([&] { exercise(make_quantized_conv_spec({1, 1, 5, 5}, {1, 1, 3, 3}, o, q)); });
  attempt([&] {
    const index_t ho = pick_mixed(), wo = pick_mixed();
    make_deform_spec({1, 1, 5, 5}, {1, 18, ho, wo}, {1, 1, 3, 3}, {}, -1, o);
  });
  for (index_t st : {index_t(1), index_t(3), index_t(64)})
    for (index_t p = 0; p < st; ++p)
      if (transposed_overlap_count(3, st, pick(), p) < 0) fail("negative overlap count");
}

}  // namespace

int main() {
  // The reported cases first.
  {
    ConvOptions o;
    o.pad_lo = o.pad_hi = {kBig};
    if (attempt([&] { make_conv_spec({1, 1, 5}, {1, 1, 1}, o); }))
      fail("padding INT64_MAX accepted");
  }
  for (int i = 0; i < 20000; ++i) {
    conv_case(false);
    conv_case(true);
    if (i % 4 == 0) other_ops();
  }
  std::printf("ok %ld %ld\n", accepted, refused);
  return 0;
}
