// ConvPlan: validate and prepare a layer's weights once, run it many times (FFTW plans,
// oneDNN primitives, XNNPACK operators).
//
// A plan is made from the weights, the bias and the options of conv, conv_transpose or
// depthwise_conv2d (everything but x). It owns copies of w (flipped once when flip) and bias,
// so the caller's arrays may change or go away afterwards. Each form of the weights a kernel
// reads (packed GEMM panels, Winograd-transformed weights, the grouped and depthwise kernels'
// layouts: kernels/prepack.hpp) is made once, on first use, and kept; the plain op makes it on
// every call. The algorithm and the validated spec are cached per input shape.
//
// run() gives exactly what conv_forward (conv_transpose_forward, depthwise_forward) gives for
// the same spec and algorithm, bit for bit: the same flow (detail::conv_run), the same kernels,
// on the same values; only where the prepared weights come from differs.
//
// The forms depend on the kernel table's register blocking, so they are kept per ISA level:
// if the active table changes (set_kernel_table, the extension's _set_isa), the next call
// prepares the forms for the new level and runs its kernels.
//
// A plan is immutable after construction (its caches aside, which do not change results) and
// may be run from several threads at once: the caches are guarded by a mutex, a prepared form
// is published once and never changed, and the kernels' workspace is per thread.
//
// Memory: the weight copy, the bias, and the forms prepared so far (workspace_bytes()): the
// GEMM panels about the size of w, Winograd's forms 4x (36 values per 3x3 kernel).
//
//   convcore::ConvOptions o;
//   o.pad_lo = {1};
//   convcore::ConvPlan<float> plan(convcore::PlanOp::conv, {64, 32, 3, 3}, w, bias, o);
//   plan.run(x, y, {8, 32, 56, 56});  // y: plan.output_shape({8, 32, 56, 56})
#pragma once
#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <stdlib.h>  // posix_memalign
#include <vector>
#if defined(_MSC_VER)
#include <malloc.h>
#endif

#include "../core/checked.hpp"
#include "../kernels/layout.hpp"
#include "../kernels/prepack.hpp"
#include "conv.hpp"
#include "conv_transpose.hpp"
#include "depthwise.hpp"
#include "engine.hpp"
#include "options.hpp"

namespace convcore {

enum class PlanOp : int { conv = 0, conv_transpose = 1, depthwise = 2 };

inline const char* plan_op_name(PlanOp op) {
  switch (op) {
    case PlanOp::conv: return "conv";
    case PlanOp::conv_transpose: return "conv_transpose";
    case PlanOp::depthwise: return "depthwise_conv2d";
  }
  return "?";
}

namespace detail {
// A 64-byte aligned array (the kernels' packed buffers are read with vector loads).
template <class T>
class AlignedArray {
 public:
  explicit AlignedArray(index_t n) {
    const std::size_t bytes = ((static_cast<std::size_t>(n > 0 ? n : 1) * sizeof(T) + 63) / 64) * 64;
    void* q = nullptr;
#if defined(_MSC_VER)
    q = _aligned_malloc(bytes, 64);
#else
    if (posix_memalign(&q, 64, bytes) != 0) q = nullptr;
#endif
    if (!q) throw std::bad_alloc();
    p_.reset(static_cast<T*>(q));
  }
  T* get() const { return p_.get(); }

 private:
  struct Free {
    void operator()(T* p) const {
#if defined(_MSC_VER)
      _aligned_free(p);
#else
      std::free(p);
#endif
    }
  };
  std::unique_ptr<T, Free> p_;
};

// Per dimension d of nd, the value of an option list (empty: dflt, one value: every dim), or
// dflt where the list is malformed (make_conv_spec names that).
inline index_t option_at(const Shape& v, int nd, int d, index_t dflt) {
  if (v.empty()) return dflt;
  if (v.size() == 1) return v[0];
  return static_cast<int>(v.size()) == nd ? v[static_cast<std::size_t>(d)] : dflt;
}
}  // namespace detail

template <class T>
class ConvPlan {
 public:
  // w: w_shape's elements, as the op takes them (conv: (C_out, C_in/groups, *k); conv_transpose:
  // (C_in, C_out/groups, *k); depthwise: (C*m, 1, kh, kw)); bias: bias_len values (by default
  // the op's output channels) or null. Both are copied. The options are validated now, as far
  // as they do not depend on x (on a probe input of the kernel's extent); what does is checked
  // on every call, as the ops check it.
  ConvPlan(PlanOp op, const Shape& w_shape, const T* w, const T* bias, const ConvOptions& o,
           Algorithm algo = Algorithm::automatic, index_t bias_len = -2)
      : op_(op), w_shape_(w_shape), opts_(o), algo_(algo), table_(&active_kernels()) {
    if (op == PlanOp::depthwise) {
      if (w_shape.size() != 4)
        fail_value("w must be 4-D (C*m, 1, kh, kw) for depthwise_conv2d, got ", w_shape.size(),
                   " dimensions");
      if (algo != Algorithm::automatic)
        fail_value("depthwise_conv2d takes no algorithm (its kernels are chosen per shape)");
    } else if (w_shape.size() < 3 || w_shape.size() > 5) {
      fail_value("w must have 3, 4 or 5 dimensions (", op == PlanOp::conv ? "C_out, C_in/groups"
                                                                          : "C_in, C_out/groups",
                 ", *kernel), got ", w_shape.size());
    }
    for (auto v : w_shape)
      if (v < 0) fail_value("w has a negative dimension");
    nd_ = static_cast<int>(w_shape.size()) - 2;
    const index_t wn = checked_product(w_shape.begin(), w_shape.end(), "w");
    bias_len_ = !bias ? -1 : bias_len == -2 ? bias_channels() : bias_len;
    probe();
    if (bias_len_ >= 0)
      detail::check_bias(bias_len_, bias_channels(),
                         op == PlanOp::conv_transpose ? "the output channels w.shape[1] * groups"
                                                      : "w.shape[0]");
    w_ = detail::workspace<T>(wn, "the plan's copy of w");
    index_t ks = 1;
    for (std::size_t d = 2; d < w_shape.size(); ++d) ks *= w_shape[d];
    if (o.flip && op == PlanOp::conv && wn > 0)  // flipped once here, not per call
      kernels::flip_kernels(w, w_.data(), wn / ks, ks);
    else if (wn > 0)
      std::copy(w, w + wn, w_.data());
    if (bias) bias_.assign(bias, bias + bias_len_);
  }

  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;

  PlanOp op() const { return op_; }
  int rank() const { return nd_; }
  const Shape& weight_shape() const { return w_shape_; }
  const ConvOptions& options() const { return opts_; }
  Algorithm requested_algorithm() const { return algo_; }
  bool has_bias() const { return bias_len_ >= 0; }
  const std::vector<T>& bias() const { return bias_; }
  // The level of the kernel table active when the plan was made (the forms are made per level,
  // see the header comment).
  IsaLevel level() const { return table_->level; }
  // The channels x must have: conv w[1] * groups, conv_transpose w[0], depthwise w[0] (depth
  // multiplier 1; run(x, y, x_shape) takes any channel count that divides w[0]).
  index_t in_channels() const {
    if (op_ == PlanOp::conv) return w_shape_[1] * opts_.groups;
    return w_shape_[0];
  }

  // The weights as the user gave them (a copy; unflipped).
  std::vector<T> weights() const {
    std::vector<T> r(w_.begin(), w_.end());
    if (opts_.flip && op_ == PlanOp::conv && !r.empty()) {
      index_t ks = 1;
      for (std::size_t d = 2; d < w_shape_.size(); ++d) ks *= w_shape_[d];
      kernels::flip_kernels(w_.data(), r.data(), index_t(r.size()) / ks, ks);
    }
    return r;
  }

  // The validated spec for an x of this shape (in the options' layout): the op's own checks,
  // cached per shape.
  ConvSpec spec(const Shape& x_shape) const { return lookup(x_shape).spec; }
  Shape output_shape(const Shape& x_shape) const {
    return convcore::output_shape(spec(x_shape), op_ == PlanOp::conv_transpose);
  }
  // What runs for an x of this shape: "im2col", "winograd", "grouped", "direct", "reference",
  // "depthwise".
  const char* algorithm(const Shape& x_shape) const { return lookup(x_shape).algorithm; }

  // y = the op on x (x_shape in the options' layout; y holds output_shape(x_shape)).
  void run(const T* x, T* y, const Shape& x_shape) const {
    const Entry e = lookup(x_shape);
    run_spec(e.spec, x, y);
  }
  // The same for x of shape (N, in_channels(), *spatial) (or channels-last).
  void run(const T* x, T* y, index_t N, const Shape& spatial) const {
    run(x, y, x_shape_of(N, spatial));
  }
  // Runs a spec from spec() (the binding's fast path caches it itself).
  void run_spec(const ConvSpec& s, const T* x, T* y) const {
    const kernels::KernelTable& kt = active_kernels();
    const detail::WeightForms<T> wf{w_.data(), opts_.flip && op_ == PlanOp::conv, this,
                                    &ConvPlan::form_of};
    const T* b = bias_len_ >= 0 ? bias_.data() : nullptr;
    switch (op_) {
      case PlanOp::conv: detail::conv_run(s, x, wf, b, y, algo_, kt); break;
      case PlanOp::conv_transpose: detail::conv_transpose_run(s, x, wf, b, y, algo_, kt); break;
      case PlanOp::depthwise: detail::depthwise_run(s, x, wf, b, y, kt); break;
    }
  }

  // Makes the forms an x of this shape reads now (otherwise its first run does).
  void prepare(const Shape& x_shape) const { prepare_for(spec(x_shape)); }

  // Bytes held by the plan: the copies of w and bias and every form prepared so far.
  std::size_t workspace_bytes() const {
    return (w_.size() + bias_.size()) * sizeof(T) + form_bytes_.load(std::memory_order_relaxed);
  }

  Shape x_shape_of(index_t N, const Shape& spatial) const {
    Shape x{N};
    if (!opts_.channels_last) x.push_back(in_channels());
    x.insert(x.end(), spatial.begin(), spatial.end());
    if (opts_.channels_last) x.push_back(in_channels());
    return x;
  }

 private:
  static constexpr int kLevels = 4;
  static constexpr int kForms = static_cast<int>(kernels::PackForm::count);
  static constexpr int kCache = 16;

  struct Entry {
    Shape key;
    ConvSpec spec;
    const char* algorithm = "";
  };

  index_t bias_channels() const {
    if (op_ == PlanOp::conv_transpose)
      return w_shape_.size() > 1 ? checked_mul(w_shape_[1], opts_.groups > 0 ? opts_.groups : 1,
                                               "the output channels w.shape[1] * groups")
                                 : 0;
    return w_shape_.empty() ? 0 : w_shape_[0];
  }

  // The op's validation on an input of the kernel's extent (plus the padding, so every padding
  // mode reaches), where that input is of a modest size; the errors are the op's own.
  void probe() {
    Shape sp;
    index_t elems = in_channels() > 0 ? in_channels() : 1;
    for (int d = 0; d < nd_; ++d) {
      const index_t lo = detail::option_at(opts_.pad_lo, nd_, d, 0);
      const index_t hi = detail::option_at(opts_.pad_hi.empty() ? opts_.pad_lo : opts_.pad_hi, nd_, d, 0);
      const index_t k = w_shape_[static_cast<std::size_t>(2 + d)];
      const index_t dil = detail::option_at(opts_.dilation, nd_, d, 1);
      index_t n = 1;
      const index_t cap = index_t(1) << 20;
      if (lo >= 0 && hi >= 0 && lo < cap && hi < cap && k >= 1 && k < cap && dil >= 1 &&
          dil < cap) {
        n = op_ == PlanOp::conv_transpose ? lo + hi + 1
                                          : (k - 1) * dil + 1 + (opts_.pad_same ? 0 : lo + hi);
      }
      elems = n > 0 && elems <= (index_t(1) << 40) / n ? elems * n : (index_t(1) << 40);
      sp.push_back(n);
    }
    if (elems > (index_t(1) << 26)) return;  // checked per call instead
    const Shape x = x_shape_of(1, sp);
    switch (op_) {
      case PlanOp::conv: make_conv_spec(x, w_shape_, opts_, bias_len_); break;
      case PlanOp::conv_transpose: make_conv_transpose_spec(x, w_shape_, opts_, bias_len_); break;
      case PlanOp::depthwise: make_depthwise_spec(x, w_shape_, opts_, bias_len_); break;
    }
  }

  Entry make_entry(const Shape& x_shape) const {
    Entry e;
    e.key = x_shape;
    switch (op_) {
      case PlanOp::conv:
        e.spec = make_conv_spec(x_shape, w_shape_, opts_, bias_len_);
        if (algo_ == Algorithm::automatic && conv_is_depthwise(e.spec)) {
          e.algorithm = depthwise_span_dwarfs_input(e.spec) ? "direct" : "depthwise";
        } else {
          const ConvRoute r = conv_route(e.spec, algo_);
          check_conv_algorithm(r.algo, r.ks);
          e.algorithm = algorithm_name(r.algo);
        }
        break;
      case PlanOp::conv_transpose:
        e.spec = make_conv_transpose_spec(x_shape, w_shape_, opts_, bias_len_);
        if (algo_ == Algorithm::grouped)
          fail_value("algorithm='grouped' is not available for conv_transpose (use 'auto', "
                     "'direct', 'im2col', 'reference' or 'winograd')");
        e.algorithm = algorithm_name(algo_ == Algorithm::automatic
                                         ? choose_conv_transpose_algorithm(e.spec)
                                         : algo_);
        break;
      case PlanOp::depthwise:
        e.spec = make_depthwise_spec(x_shape, w_shape_, opts_, bias_len_);
        e.algorithm = depthwise_span_dwarfs_input(e.spec) ? "direct" : "depthwise";
        break;
    }
    return e;
  }

  Entry lookup(const Shape& x_shape) const {
    {
      std::lock_guard<std::mutex> g(cache_mu_);
      for (const Entry& e : cache_)
        if (e.key == x_shape) return e;
    }
    Entry e = make_entry(x_shape);  // (throws for a bad shape: nothing cached)
    std::lock_guard<std::mutex> g(cache_mu_);
    if (static_cast<int>(cache_.size()) < kCache) {
      cache_.push_back(e);
    } else {
      cache_[static_cast<std::size_t>(next_slot_)] = e;
      next_slot_ = (next_slot_ + 1) % kCache;
    }
    return e;
  }

  // The forms the flow will ask for on this spec, made now.
  void prepare_for(const ConvSpec& spec) const {
    if (spec.N == 0) return;
    const kernels::KernelTable& kt = active_kernels();
    const auto& fns = kt.fns(static_cast<T*>(nullptr));
    using kernels::PackForm;
    const T* w = w_.data();
    auto make = [&](PackForm f, const ConvSpec& s) {
      kernels::PrepareArgs<T> a{f, &s, w};
      form_of(this, kt, a);
    };
    if (op_ == PlanOp::conv_transpose) {
      const Algorithm a = algo_ == Algorithm::automatic ? choose_conv_transpose_algorithm(spec) : algo_;
      if (a == Algorithm::im2col) make(PackForm::transpose_gemm, spec);
      // (the sub-pixel forms need the tap table: made by the first run)
      return;
    }
    if (op_ == PlanOp::depthwise || (algo_ == Algorithm::automatic && conv_is_depthwise(spec))) {
      make(PackForm::depthwise, spec);
      return;
    }
    const ConvRoute r = conv_route(spec, algo_);
    ConvSpec ks = r.ks;
    ks.flip = false;
    if (r.algo == Algorithm::im2col) make(PackForm::gemm, ks);
    if (r.algo == Algorithm::grouped) make(PackForm::grouped, ks);
    if (r.algo == Algorithm::winograd)
      make(fns.winograd_few(ks) ? PackForm::winograd_b : PackForm::winograd_a, ks);
  }

  // detail::WeightForms::get: the form for (table, form), made on first use.
  static const T* form_of(const void* self, const kernels::KernelTable& kt,
                          const kernels::PrepareArgs<T>& a) {
    const ConvPlan* p = static_cast<const ConvPlan*>(self);
    const int l = static_cast<int>(kt.level), f = static_cast<int>(a.form);
    if (l < 0 || l >= kLevels || f < 0 || f >= kForms) return nullptr;
    std::atomic<const T*>& slot = p->ready_[l][f];
    if (const T* r = slot.load(std::memory_order_acquire)) return r;
    std::lock_guard<std::mutex> g(p->prepare_mu_);
    if (const T* r = slot.load(std::memory_order_relaxed)) return r;
    const auto& fns = kt.fns(static_cast<T*>(nullptr));
    const index_t n = fns.prepare(a, nullptr);
    checked_bytes(n, sizeof(T), "the plan's prepared weights");
    detail::AlignedArray<T> buf(n);
    fns.prepare(a, buf.get());
    const T* r = buf.get();
    p->owned_.push_back(std::move(buf));
    p->form_bytes_.fetch_add(static_cast<std::size_t>(n) * sizeof(T), std::memory_order_relaxed);
    slot.store(r, std::memory_order_release);
    return r;
  }

  PlanOp op_;
  Shape w_shape_;
  ConvOptions opts_;
  Algorithm algo_;
  const kernels::KernelTable* table_;
  int nd_ = 2;
  index_t bias_len_ = -1;
  std::vector<T> w_, bias_;

  mutable std::mutex cache_mu_;
  mutable std::vector<Entry> cache_;
  mutable int next_slot_ = 0;

  mutable std::mutex prepare_mu_;
  mutable std::atomic<const T*> ready_[kLevels][kForms] = {};
  mutable std::vector<detail::AlignedArray<T>> owned_;
  mutable std::atomic<std::size_t> form_bytes_{0};
};

}  // namespace convcore
