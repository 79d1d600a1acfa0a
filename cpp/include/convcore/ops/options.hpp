// User-facing options of the conv family and their validation into a ConvSpec. This is the one
// place where user arguments are checked: the Python bindings, the CUDA path (through the
// bindings) and C++ callers all go through it.
#pragma once
#include <limits>
#include <string>
#include <vector>

#include "../core/checked.hpp"
#include "../core/errors.hpp"
#include "../core/geometry.hpp"
#include "../core/spec.hpp"

namespace convcore {

using Shape = std::vector<index_t>;

struct ConvOptions {
  // Per-dimension values: empty means the default, one value applies to every dimension.
  Shape stride, dilation, pad_lo, pad_hi, output_padding;
  bool pad_same = false;  // TensorFlow "same": out = ceil(in / stride), odd pad after
  index_t groups = 1;
  PadMode pad_mode = PadMode::zeros;
  double fill = 0.0;
  bool flip = false;
  bool channels_last = false;
  Activation act = Activation::none;
};

inline PadMode parse_pad_mode(const std::string& s) {
  if (s == "zeros" || s == "constant" || s == "fill") return PadMode::zeros;
  if (s == "reflect") return PadMode::reflect;
  if (s == "replicate" || s == "edge") return PadMode::replicate;
  if (s == "circular" || s == "wrap") return PadMode::circular;
  if (s == "symmetric" || s == "symm") return PadMode::symmetric;
  fail_value("padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular' (or NumPy's ",
             "'constant', 'edge', 'wrap', 'symmetric'), got '", s, "'");
}

inline const char* padding_mode_name(PadMode m) {
  switch (m) {
    case PadMode::zeros: return "zeros";
    case PadMode::reflect: return "reflect";
    case PadMode::replicate: return "replicate";
    case PadMode::circular: return "circular";
    case PadMode::symmetric: return "symmetric";
  }
  return "?";
}

inline Activation parse_activation(const std::string& s) {
  if (s.empty() || s == "none") return Activation::none;
  if (s == "relu") return Activation::relu;
  if (s == "relu6") return Activation::relu6;
  if (s == "sigmoid") return Activation::sigmoid;
  if (s == "tanh") return Activation::tanh;
  if (s == "gelu") return Activation::gelu;
  fail_value("activation must be None or one of 'relu', 'relu6', 'sigmoid', 'tanh', 'gelu', got '",
             s, "'");
}

namespace detail {

// Value of a per-dimension option for spatial dim d, after checking its length and range.
inline index_t per_dim(const Shape& v, int nd, int d, index_t dflt, const char* name,
                       index_t minimum) {
  if (!v.empty() && v.size() != 1 && static_cast<int>(v.size()) != nd)
    fail_value(name, " must have 1 or ", nd, " values (one per spatial dimension), got ",
               v.size());
  index_t x = v.empty() ? dflt : (v.size() == 1 ? v[0] : v[d]);
  if (x < minimum) fail_value(name, " must be >= ", minimum, ", got ", x);
  return x;
}

inline int check_ranks(const Shape& x, const Shape& w, const char* wname) {
  if (w.size() < 3 || w.size() > 5)
    fail_value(wname, " must have 3, 4 or 5 dimensions (C_out, C_in/groups, *kernel), got ",
               w.size());
  int nd = static_cast<int>(w.size()) - 2;
  if (static_cast<int>(x.size()) != nd + 2)
    fail_value("x must have ", nd + 2, " dimensions (N, C, *spatial) to match a ", nd,
               "-D kernel, got ", x.size());
  for (auto v : x)
    if (v < 0) fail_value("x has a negative dimension");
  for (auto v : w)
    if (v < 0) fail_value(wname, " has a negative dimension");
  checked_product(x.begin(), x.end(), "x");
  checked_product(w.begin(), w.end(), wname);
  return nd;
}

// Widen per-dim value at user dim d (0..nd-1) into the 3-slot array (leading slots stay 1/0).
inline int slot(int nd, int d) { return kMaxSpatial - nd + d; }

// c == per_group * groups, decided without forming the product (which may overflow).
// groups >= 1; a negative c or per_group never matches (negative shapes are refused anyway).
inline bool channels_match(index_t c, index_t per_group, index_t groups) {
  if (c < 0 || per_group < 0) return false;
  if (per_group == 0) return c == 0;
  return c % per_group == 0 && c / per_group == groups;
}

// "a * b = p" for messages, or "a * b" followed by a note when the product overflows.
inline std::string product_text(index_t a, index_t b) {
  if (a > 0 && b > std::numeric_limits<index_t>::max() / a)
    return detail::cat(a, " * ", b, " (more than 2**63)");
  return detail::cat(a, " * ", b, " = ", a * b);
}

// (k - 1) * dilation + 1, the extent of the dilated kernel along spatial dimension d, refused
// when it overflows (k, dilation >= 1). After this, dilated_extent(k, dilation) is exact.
inline index_t checked_dilated_extent(index_t k, index_t dil, int d) {
  if (k - 1 > (std::numeric_limits<index_t>::max() - 1) / dil)
    fail_value("dilation (", dil, ") is too large for kernel size ", k, " along spatial dimension ",
               d, ": the dilated kernel (kernel size - 1) * dilation + 1 overflows a 64-bit "
               "integer");
  return (k - 1) * dil + 1;
}

// in + lo + hi, the padded input extent along spatial dimension d (in, lo, hi >= 0), refused
// when it overflows.
inline index_t checked_padded(index_t in, index_t lo, index_t hi, int d) {
  const index_t big = std::numeric_limits<index_t>::max();
  if (lo > big - in || hi > big - in - lo)
    fail_value("padding (", lo, ", ", hi, ") is too large along spatial dimension ", d,
               ": the padded input size ", in, " + ", lo, " + ", hi,
               " overflows a 64-bit integer");
  return in + lo + hi;
}

// The kernels index the padded input (explicitly for the non-zero modes, through the index
// arithmetic for zeros): its element count N * C * prod(in + pad_lo + max(pad_hi, 0)) must stay
// within kMaxElements like every other array's. c: the channels of the forward conv's input.
inline void check_padded_elements(const ConvSpec& s, index_t c) {
  index_t p[kMaxSpatial];
  for (int d = 0; d < kMaxSpatial; ++d)
    p[d] = checked_padded(s.in[d], s.pad_lo[d], s.pad_hi[d] > 0 ? s.pad_hi[d] : 0,
                          d - (kMaxSpatial - s.nd));
  checked_product({s.N, c, p[0], p[1], p[2]}, "the padded input (padding)");
}

// Values that cannot change the result are clamped so that the kernels' index arithmetic stays
// within the padded extent: a stride along an axis with one output position never applies
// (clamped to the padded extent), nor a dilation of a 1-tap kernel. Afterwards stride <= padded
// and (k - 1) * dil < padded along every axis.
inline void clamp_inert(ConvSpec& s, int t, index_t padded) {
  if (s.out[t] == 1 && s.stride[t] > padded) s.stride[t] = padded;
  if (s.k[t] == 1 && s.dil[t] > padded) s.dil[t] = padded;
}

inline void fill_common(ConvSpec& s, const Shape& x, const ConvOptions& o, int nd) {
  s.nd = nd;
  s.N = x[0];
  s.channels_last = o.channels_last;
  s.pad_mode = o.pad_mode;
  s.fill = o.fill;
  s.flip = o.flip;
  s.act = o.act;
  if (o.groups < 1) fail_value("groups must be >= 1, got ", o.groups);
  s.groups = o.groups;
}

// The non-zero padding modes read their padding from the input itself, so the input must reach
// that far. PyTorch's rules (torch.nn.functional.pad, hence Conv*d with padding_mode): every
// mode needs a non-empty input where it pads; reflect needs padding < size (a reflection that
// does not repeat the edge reaches size - 1 samples; further would reflect twice) and circular
// padding <= size (the input wraps around at most once). symmetric (NumPy's name, no PyTorch
// mode) follows circular's rule: one mirror image, which repeats the edge, reaches size samples.
// pad_source_index would fold any distance (as np.pad does), but a conv asked for more padding
// than that is almost certainly a mistake, and PyTorch refuses it. n: the input size along
// spatial dimension d; lo/hi its padding (hi may be negative: trailing input never read).
inline void check_padding_reach(PadMode mode, index_t n, index_t lo, index_t hi, int d) {
  if (mode == PadMode::zeros || (lo <= 0 && hi <= 0)) return;
  const index_t pad = lo > hi ? lo : hi;
  if (n < 1)
    fail_value("padding_mode='", padding_mode_name(mode), "' needs a non-empty input where it "
               "pads, but x has size 0 along spatial dimension ", d, " (padding (", lo, ", ", hi,
               ")); use padding_mode='zeros' or no padding there");
  if (mode == PadMode::reflect && pad >= n)
    fail_value("padding (", lo, ", ", hi, ") must be smaller than the input size ", n,
               " along spatial dimension ", d, " for padding_mode='reflect' (at most ", n - 1,
               ", as PyTorch requires)");
  if ((mode == PadMode::circular || mode == PadMode::symmetric) && pad > n)
    fail_value("padding (", lo, ", ", hi, ") must be at most the input size ", n,
               " along spatial dimension ", d, " for padding_mode='", padding_mode_name(mode),
               "' (the input is repeated at most once, as PyTorch requires for circular)");
}

// The (lo, hi) padding of conv's spatial dimension d (of nd) for input size n, kernel k.
inline void conv_pads(const ConvOptions& o, int nd, int d, index_t n, index_t k, index_t stride,
                      index_t dil, index_t& lo, index_t& hi) {
  if (o.pad_same) {
    if (!o.pad_lo.empty() || !o.pad_hi.empty())
      fail_value("padding: 'same' cannot be combined with explicit pads");
    // same_pad_total forms (ceil(n / stride) - 1) * stride + ext <= n - 1 + ext: make it fit.
    const index_t ext = checked_dilated_extent(k, dil, d);
    if (n >= 0 && ext > std::numeric_limits<index_t>::max() - n)
      fail_value("dilation (", dil, ") is too large for padding='same' along spatial dimension ",
                 d, ": the input size plus the dilated kernel overflows a 64-bit integer");
    lo = same_pad_lo(n, k, stride, dil);
    hi = same_pad_hi(n, k, stride, dil);
  } else {
    lo = per_dim(o.pad_lo, nd, d, 0, "padding", 0);
    hi = per_dim(o.pad_hi.empty() ? o.pad_lo : o.pad_hi, nd, d, 0, "padding", 0);
  }
}

// check_padding_reach on the whole 2-D geometry of an op that splits its padding between a
// vertical and a horizontal pass (spatially_separable_conv2d, flattened_conv2d): each pass pads
// one axis only, so the vertical pass would otherwise report an empty W that the horizontal
// pass pads as an empty output, not as the padding_mode error. x: the op's 4-D input.
inline void check_padding_reach_2d(const Shape& x, const ConvOptions& o, index_t kh,
                                   index_t kw) {
  if (o.pad_mode == PadMode::zeros) return;
  const index_t k[2] = {kh, kw};
  for (int d = 0; d < 2; ++d) {
    if (k[d] < 1) continue;  // make_conv_spec names the empty kernel
    const index_t n = o.channels_last ? x[1 + d] : x[2 + d];
    const index_t stride = per_dim(o.stride, 2, d, 1, "stride", 1);
    const index_t dil = per_dim(o.dilation, 2, d, 1, "dilation", 1);
    index_t lo = 0, hi = 0;
    conv_pads(o, 2, d, n, k[d], stride, dil, lo, hi);
    check_padding_reach(o.pad_mode, n, lo, hi, d);
  }
}

inline void check_bias(index_t bias_len, index_t c, const char* what) {
  if (bias_len >= 0 && bias_len != c)
    fail_value("bias must have shape (", c, ",) to match ", what, ", got length ", bias_len);
}

}  // namespace detail

// Validate y = conv(x, w) and compute its geometry. x: (N, C_in, *sp) or (N, *sp, C_in) when
// channels_last; w: (C_out, C_in/groups, *k). bias_len < 0 means no bias.
inline ConvSpec make_conv_spec(const Shape& x, const Shape& w, const ConvOptions& o,
                               index_t bias_len = -1) {
  int nd = detail::check_ranks(x, w, "w");
  ConvSpec s;
  detail::fill_common(s, x, o, nd);
  s.C_in = o.channels_last ? x[nd + 1] : x[1];
  s.C_out = w[0];
  if (s.C_out < 1) fail_value("w must have at least one output channel (w.shape[0] >= 1)");
  if (w[1] < 1) fail_value("w.shape[1] (input channels per group) must be >= 1");
  if (!detail::channels_match(s.C_in, w[1], s.groups))
    fail_value("x has ", s.C_in, " channels but w expects C_in = w.shape[1] * groups = ",
               detail::product_text(w[1], s.groups));
  if (s.C_out % s.groups != 0)
    fail_value("groups (", s.groups, ") must divide the output channels w.shape[0] = ", s.C_out);
  if (!o.output_padding.empty()) fail_value("output_padding applies only to conv_transpose");
  for (int d = 0; d < nd; ++d) {
    int t = detail::slot(nd, d);
    s.in[t] = o.channels_last ? x[1 + d] : x[2 + d];
    s.k[t] = w[2 + d];
    if (s.k[t] < 1) fail_value("w has an empty kernel dimension (w.shape[", 2 + d, "] = 0)");
    s.stride[t] = detail::per_dim(o.stride, nd, d, 1, "stride", 1);
    s.dil[t] = detail::per_dim(o.dilation, nd, d, 1, "dilation", 1);
    detail::conv_pads(o, nd, d, s.in[t], s.k[t], s.stride[t], s.dil[t], s.pad_lo[t],
                      s.pad_hi[t]);
    detail::check_padding_reach(s.pad_mode, s.in[t], s.pad_lo[t], s.pad_hi[t], d);
    // Every sum and product conv_out_size forms, checked: afterwards it is exact.
    const index_t padded = detail::checked_padded(s.in[t], s.pad_lo[t], s.pad_hi[t], d);
    const index_t ext = detail::checked_dilated_extent(s.k[t], s.dil[t], d);
    if (padded < ext)
      fail_value("kernel size: the dilated kernel (", ext, ") is larger than the padded input (",
                 padded, ") along spatial dimension ", d, "; the output would be empty");
    s.out[t] = conv_out_size(s.in[t], s.k[t], s.stride[t], s.dil[t], s.pad_lo[t], s.pad_hi[t]);
    detail::clamp_inert(s, t, padded);
  }
  detail::check_bias(bias_len, s.C_out, "w.shape[0]");
  checked_product({s.N, s.C_out, s.out[0], s.out[1], s.out[2]}, "output");
  detail::check_padded_elements(s, s.C_in);
  return s;
}

// Validate y = conv_transpose(x, w): x (N, C_in, *sp), w (C_in, C_out/groups, *k), the adjoint
// of conv(., w) with the same stride/padding/dilation/groups. Returns the geometry of that conv.
inline ConvSpec make_conv_transpose_spec(const Shape& x, const Shape& w, const ConvOptions& o,
                                         index_t bias_len = -1) {
  int nd = detail::check_ranks(x, w, "w");
  ConvSpec s;
  detail::fill_common(s, x, o, nd);
  if (o.pad_same) fail_value("padding='same' is not supported by conv_transpose; give explicit padding");
  if (o.pad_mode != PadMode::zeros || o.fill != 0.0)
    fail_value("padding_mode must be 'zeros' for conv_transpose");
  // (a transposed conv is the adjoint of one correlation; a flipped one has no kernel of its own)
  if (o.flip) fail_value("flip is not supported by conv_transpose (flip the kernel yourself)");
  index_t cx = o.channels_last ? x[nd + 1] : x[1];
  if (w[0] < 1 || w[1] < 1) fail_value("w must have non-empty channel dimensions");
  if (w[0] != cx)
    fail_value("x has ", cx, " channels but conv_transpose's w.shape[0] is ", w[0],
               " (w is (C_in, C_out/groups, *kernel))");
  if (cx % s.groups != 0)
    fail_value("groups (", s.groups, ") must divide the input channels (", cx, ")");
  s.C_out = cx;                // the forward conv's output = this op's input
  // the forward conv's input = this op's output
  s.C_in = checked_mul(w[1], s.groups, "the output channels w.shape[1] * groups");
  for (int d = 0; d < nd; ++d) {
    int t = detail::slot(nd, d);
    s.out[t] = o.channels_last ? x[1 + d] : x[2 + d];
    s.k[t] = w[2 + d];
    if (s.k[t] < 1) fail_value("w has an empty kernel dimension (w.shape[", 2 + d, "] = 0)");
    if (s.out[t] < 1) fail_value("x has an empty spatial dimension ", d);
    s.stride[t] = detail::per_dim(o.stride, nd, d, 1, "stride", 1);
    s.dil[t] = detail::per_dim(o.dilation, nd, d, 1, "dilation", 1);
    index_t lo = detail::per_dim(o.pad_lo, nd, d, 0, "padding", 0);
    index_t hi = detail::per_dim(o.pad_hi.empty() ? o.pad_lo : o.pad_hi, nd, d, 0, "padding", 0);
    index_t op = detail::per_dim(o.output_padding, nd, d, 0, "output_padding", 0);
    index_t lim = s.stride[t] > s.dil[t] ? s.stride[t] : s.dil[t];
    if (op >= lim)
      fail_value("output_padding must be smaller than max(stride, dilation) = ", lim, ", got ", op);
    // full = (out - 1) * stride + (k - 1) * dilation + 1 + output_padding, every step checked.
    const index_t big = std::numeric_limits<index_t>::max();
    const index_t ext = detail::checked_dilated_extent(s.k[t], s.dil[t], d);
    if (op > big - ext || s.out[t] - 1 > (big - ext - op) / s.stride[t])
      fail_value("stride (", s.stride[t], ") is too large for an input of size ", s.out[t],
                 " along spatial dimension ", d, ": the output size (in - 1) * stride + (kernel "
                 "size - 1) * dilation + 1 + output_padding overflows a 64-bit integer");
    const index_t full = (s.out[t] - 1) * s.stride[t] + ext + op;
    if (lo >= full || hi >= full - lo)
      fail_value("padding (", lo, " + ", hi, ") removes the whole output (", full,
                 ") along spatial dimension ", d);
    s.in[t] = full - lo - hi;
    s.pad_lo[t] = lo;
    s.pad_hi[t] = hi - op;  // the forward conv ignores the trailing output_padding rows
    detail::clamp_inert(s, t, full - op);  // the forward conv's padded extent
  }
  detail::check_bias(bias_len, s.C_in, "the output channels w.shape[1] * groups");
  checked_product({s.N, s.C_in, s.in[0], s.in[1], s.in[2]}, "output");
  detail::check_padded_elements(s, s.C_in);
  return s;
}

// Output shape of the op the spec describes, in the user's layout.
inline Shape output_shape(const ConvSpec& s, bool transposed) {
  Shape r{s.N};
  index_t c = transposed ? s.C_in : s.C_out;
  if (!s.channels_last) r.push_back(c);
  for (int d = 0; d < s.nd; ++d) r.push_back(transposed ? s.in[kMaxSpatial - s.nd + d]
                                                        : s.out[kMaxSpatial - s.nd + d]);
  if (s.channels_last) r.push_back(c);
  return r;
}

}  // namespace convcore

namespace convcore {
// Number of elements of the op's output (the product of output_shape).
inline index_t output_elements(const ConvSpec& s, bool transposed) {
  Shape r = output_shape(s, transposed);
  return checked_product(r.begin(), r.end(), "output");
}
}  // namespace convcore
