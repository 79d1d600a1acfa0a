// A 3x3 conv (3 -> 8 channels, padding 1, bias, fused ReLU) on std::vector buffers, with
// convcore's header-only C++ API, as a call and as a plan (ops/plan.hpp). Prints the output
// shape and checksums that tests/test_cpp_example.py compares with convcore.conv2d on the same
// data.
#include <convcore/convcore.hpp>

#include <cstdio>
#include <vector>

int main() {
  using convcore::index_t;
  const convcore::Shape x_shape{1, 3, 16, 16}, w_shape{8, 3, 3, 3};

  // Deterministic data, exact in float32 (small integers over powers of two), so the Python
  // side can rebuild it bit for bit.
  std::vector<float> x(1 * 3 * 16 * 16), w(8 * 3 * 3 * 3), bias(8);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(int(i * 7 % 13) - 6) / 8.0f;
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(int(i * 5 % 11) - 5) / 16.0f;
  for (std::size_t i = 0; i < bias.size(); ++i) bias[i] = 0.25f * static_cast<float>(i % 3);

  convcore::ConvOptions opt;
  opt.pad_lo = {1};
  opt.pad_hi = {1};
  opt.act = convcore::Activation::relu;
  try {
    // Validation is the same as Python's: a bad shape throws convcore::value_error.
    const convcore::ConvSpec spec =
        convcore::make_conv_spec(x_shape, w_shape, opt, static_cast<index_t>(bias.size()));
    std::vector<float> y(static_cast<std::size_t>(convcore::output_elements(spec, false)));
    convcore::conv_forward(spec, x.data(), w.data(), bias.data(), y.data());

    double sum = 0.0, weighted = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) {
      sum += y[i];
      weighted += static_cast<double>(i % 7 + 1) * y[i];  // catches a permuted output
    }
    const convcore::Shape shape = convcore::output_shape(spec, false);
    std::printf("convcore %s, OpenMP %s\n", CONVCORE_VERSION, convcore::has_openmp() ? "on" : "off");
    std::printf("output shape: (%lld, %lld, %lld, %lld)\n", static_cast<long long>(shape[0]),
                static_cast<long long>(shape[1]), static_cast<long long>(shape[2]),
                static_cast<long long>(shape[3]));
    std::printf("checksum: %.9e %.9e\n", sum, weighted);

    // The same layer as a plan: validated and prepared once (weights copied and packed for
    // the kernels), then run on any batch size; the result is conv_forward's, bit for bit.
    const convcore::ConvPlan<float> plan(convcore::PlanOp::conv, w_shape, w.data(), bias.data(),
                                         opt);
    std::vector<float> yp(y.size());
    plan.run(x.data(), yp.data(), x_shape);
    std::printf("plan: %s (%s, %zu bytes)\n", yp == y ? "same" : "DIFFERENT",
                plan.algorithm(x_shape), plan.workspace_bytes());
  } catch (const convcore::value_error& e) {
    std::fprintf(stderr, "bad input: %s\n", e.what());
    return 1;
  }
  return 0;
}
