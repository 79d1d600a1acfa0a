// Regressions of wrong results and memory faults found by differential fuzzing, run through
// the C++ API at every ISA level this binary has (tests/test_regressions.py builds it with
// AddressSanitizer and UndefinedBehaviorSanitizer where the compiler has them). Prints one line
// per check, "ok NAME" or "FAIL NAME ...", and exits non-zero on any failure.
#include <cmath>
#include <cstdio>
#include <new>
#include <string>
#include <vector>

#include <convcore/convcore.hpp>

using namespace convcore;

static int failures = 0;

static void check(bool ok, const std::string& name, const std::string& detail = "") {
  std::printf("%s %s%s%s\n", ok ? "ok" : "FAIL", name.c_str(), detail.empty() ? "" : " ",
              detail.c_str());
  if (!ok) ++failures;
}

static std::vector<float> data(index_t n, unsigned seed) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) v[i] = float(((i * 37 + seed * 11) % 23) - 11) / 8.0f;
  return v;
}

static double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = a.size() == b.size() ? 0.0 : INFINITY;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    m = std::fmax(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

static index_t prod(const Shape& s) {
  index_t p = 1;
  for (index_t v : s) p *= v;
  return p;
}

template <class F>
static bool refuses(F f, const std::string& needle) {
  try {
    f();
  } catch (const value_error& e) {
    return std::string(e.what()).find(needle) != std::string::npos;
  }
  return false;
}

// Issue 20 item 4: the sub-pixel (Winograd) transposed conv of a 1 -> 1 channel 3x3 kernel
// at stride 1 read its tap table for the panel's unused rows.
static void transposed_winograd_small(const char* lvl) {
  ConvOptions o;
  const Shape xs{1, 1, 4, 4}, ws{1, 1, 3, 3};
  const ConvSpec s = make_conv_transpose_spec(xs, ws, o);
  const auto x = data(prod(xs), 1), w = data(prod(ws), 2);
  const index_t n = output_elements(s, true);
  std::vector<float> y(n, NAN), r(n, NAN);
  conv_transpose_forward(s, x.data(), w.data(), static_cast<const float*>(nullptr), y.data(),
                         Algorithm::winograd);
  conv_transpose_forward(s, x.data(), w.data(), static_cast<const float*>(nullptr), r.data(),
                         Algorithm::reference);
  check(max_diff(y, r) < 1e-4, std::string("transposed_winograd_small ") + lvl);
}

// Item 5: an empty input (W = 0) padded to a non-empty output.
static void empty_input_padded(const char* lvl) {
  ConvOptions o;
  o.pad_lo = {1, 3};
  o.pad_hi = {5, 3};
  const Shape xs{2, 6, 1, 0}, ws{7, 6, 3, 3};
  const ConvSpec s = make_conv_spec(xs, ws, o, 7);
  const auto w = data(prod(ws), 3), b = data(7, 4);
  const index_t n = output_elements(s, false);
  for (Algorithm a : {Algorithm::automatic, Algorithm::im2col, Algorithm::direct}) {
    std::vector<float> y(n, NAN), r(n, NAN);
    conv_forward(s, static_cast<const float*>(nullptr), w.data(), b.data(), y.data(), a);
    conv_forward(s, static_cast<const float*>(nullptr), w.data(), b.data(), r.data(),
                 Algorithm::reference);
    check(n == 2 * 7 * 5 * 4 && max_diff(y, r) == 0.0,
          std::string("empty_input_padded ") + algorithm_name(a) + " " + lvl);
  }
}

// Item 6: options an op cannot honour are refused, or honoured; never dropped.
static void options_honoured() {
  ConvOptions o;
  o.flip = true;
  check(refuses([&] { make_conv_transpose_spec({1, 1, 4, 4}, {1, 1, 3, 3}, o); }, "flip"),
        "conv_transpose_flip_refused");

  // spatially_separable / flattened: the activation follows the bias of the last pass.
  ConvOptions a;
  a.act = Activation::relu;
  a.pad_lo = {1};
  const Shape xs{1, 1, 5, 5};
  const auto x = data(prod(xs), 5);
  const std::vector<float> wc{1.f, -2.f, 0.5f}, wr{-1.f, 0.25f, 1.f}, bias{-0.5f};
  const SpatiallySeparableSpec ss = make_spatially_separable_spec(xs, {1, 1, 3, 1}, {1, 1, 1, 3}, a, 1);
  std::vector<float> y(output_elements(ss.row, false)), ref(y.size());
  spatially_separable_forward(ss, x.data(), wc.data(), wr.data(), bias.data(), y.data());
  ConvOptions plain = a;
  plain.act = Activation::none;
  const SpatiallySeparableSpec sp = make_spatially_separable_spec(xs, {1, 1, 3, 1}, {1, 1, 1, 3}, plain, 1);
  spatially_separable_forward(sp, x.data(), wc.data(), wr.data(), bias.data(), ref.data());
  bool negative = false;
  for (float& v : ref) {
    negative = negative || v < 0;
    v = v > 0 ? v : 0.f;
  }
  check(negative && max_diff(y, ref) == 0.0, "spatially_separable_activation");

  const FlattenedSpec fs = make_flattened_spec(xs, {1, 1}, {1, 3}, {1, 3}, a, 1);
  const FlattenedSpec fp = make_flattened_spec(xs, {1, 1}, {1, 3}, {1, 3}, plain, 1);
  const std::vector<float> one{1.f};
  std::vector<float> fy(output_elements(fs.horizontal, false)), fr(fy.size());
  flattened_forward(fs, x.data(), one.data(), wc.data(), wr.data(), bias.data(), fy.data());
  flattened_forward(fp, x.data(), one.data(), wc.data(), wr.data(), bias.data(), fr.data());
  for (float& v : fr) v = v > 0 ? v : 0.f;
  check(max_diff(fy, fr) == 0.0, "flattened_activation");

  // One rule for an empty width: accepted where conv2d accepts it (the padding gives outputs).
  ConvOptions p;
  p.pad_lo = {1};
  const Shape e{1, 1, 3, 0};
  const ConvSpec c = make_conv_spec(e, {1, 1, 3, 1}, p, -1);
  const SpatiallySeparableSpec se = make_spatially_separable_spec(e, {1, 1, 3, 1}, {1, 1, 1, 1}, p);
  check(output_shape(se.row, false) == output_shape(c, false), "spatially_separable_empty_width");
  std::vector<float> ey(output_elements(se.row, false), NAN);
  const std::vector<float> w3{1.f, 1.f, 1.f};
  spatially_separable_forward(se, static_cast<const float*>(nullptr), w3.data(), one.data(),
                              one.data(), ey.data());
  bool ones = !ey.empty();
  for (float v : ey) ones = ones && v == 1.f;
  check(ones, "spatially_separable_empty_width_values");
}

// An exception thrown by a work item (a workspace that cannot be allocated) leaves the parallel
// loop after its region, as itself: out of an OpenMP region it would end the process.
static void loop_exceptions() {
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    index_t done = 0;
    bool caught = false;
    try {
      parallel_for(64, [&](index_t i) {
        if (i == 37) throw std::bad_alloc();
      });
    } catch (const std::bad_alloc&) {
      caught = true;
    }
    parallel_for(8, [&](index_t) {
#pragma omp atomic
      ++done;
    });
    check(caught && done == 8, "parallel_for_rethrows_bad_alloc threads=" + std::to_string(threads));
  }
  set_num_threads(0);
}

// valid_out_range against brute force: [lo, hi) must be exactly the outputs whose input lies
// inside, and lie in [0, out] even when empty (a tap reading only padding once gave lo > out,
// and conv_matrix's difference array was written past its end).
static void valid_out_range_exact() {
  int bad = 0;
  for (index_t in = 0; in <= 7; ++in)
    for (index_t out = 0; out <= 9; ++out)
      for (index_t t = 0; t < 5; ++t)
        for (index_t st = 1; st <= 3; ++st)
          for (index_t dil = 1; dil <= 3; ++dil)
            for (index_t pad = 0; pad <= 12; ++pad) {
              index_t lo, hi;
              valid_out_range(in, out, t, st, dil, pad, &lo, &hi);
              bool ok = 0 <= lo && lo <= hi && hi <= out;
              for (index_t o = 0; o < out; ++o) {
                const index_t i = o * st + t * dil - pad;
                ok = ok && ((i >= 0 && i < in) == (o >= lo && o < hi));
              }
              bad += !ok;
            }
  check(bad == 0, "valid_out_range_exact", std::to_string(bad) + " cases wrong");
}

int main() {
  loop_exceptions();
  valid_out_range_exact();
  for (IsaLevel l : {IsaLevel::scalar, IsaLevel::avx2, IsaLevel::avx512}) {
    const kernels::KernelTable* t = header_kernel_table(l);
    if (!t || !cpu_supports(l)) continue;
    set_kernel_table(t);
    const char* lvl = isa_name(l);
    transposed_winograd_small(lvl);
    empty_input_padded(lvl);
  }
  options_honoured();
  std::printf("%d failures\n", failures);
  return failures ? 1 : 0;
}
