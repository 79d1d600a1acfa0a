// Umbrella header: the whole public C++ API. Header-only; link nothing (OpenMP optional).
//
//   #include <convcore/convcore.hpp>
//   convcore::ConvOptions o;  o.pad_lo = {1};
//   auto spec = convcore::make_conv_spec({1, 3, 7, 7}, {128, 3, 3, 3}, o);
//   std::vector<float> y(convcore::output_elements(spec, false));
//   convcore::conv_forward(spec, x.data(), w.data(), nullptr, y.data());
#pragma once

#define CONVCORE_VERSION_MAJOR 0
#define CONVCORE_VERSION_MINOR 1
#define CONVCORE_VERSION_PATCH 0
#define CONVCORE_VERSION "0.1.0"

#include "core/activation.hpp"
#include "core/bilinear.hpp"
#include "core/checked.hpp"
#include "core/cpu.hpp"
#include "core/deform_spec.hpp"
#include "core/errors.hpp"
#include "core/geometry.hpp"
#include "core/padding.hpp"
#include "core/requantize.hpp"
#include "core/parallel.hpp"
#include "core/simd.hpp"
#include "core/spec.hpp"
#include "ops/algorithm.hpp"
#include "ops/conv.hpp"
#include "ops/conv_transpose.hpp"
#include "ops/engine.hpp"
#include "ops/deform_conv.hpp"
#include "ops/filter.hpp"
#include "ops/ndimage.hpp"
#include "ops/options.hpp"
#include "ops/asymmetric.hpp"
#include "ops/channel_shuffle.hpp"
#include "ops/conv_matrix.hpp"
#include "ops/shuffled_grouped_conv.hpp"
#include "ops/squeeze_excitation.hpp"
#include "ops/quantized_conv.hpp"
#include "ops/depthwise.hpp"
#include "ops/plan.hpp"
#include "ops/pointwise.hpp"
#include "ops/depthwise_separable.hpp"
#include "ops/spatially_separable.hpp"
#include "ops/flattened.hpp"
