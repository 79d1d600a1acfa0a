// ConvPlan: validate and prepare a layer's weights once, run it many times (FFTW plans,
// oneDNN primitives, XNNPACK operators).
//
// A plan is made from the weights, the bias and the options of conv, conv_transpose or
// depthwise_conv2d (everything but x): ConvPlan; of pointwise_conv: PointwisePlan; of
// depthwise_separable_conv2d: SeparablePlan. All three implement PlanBase (the Python binding's
// view of a plan). It owns copies of w (flipped once when flip) and bias,
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
#include <vector>

#include "../core/checked.hpp"
#include "../core/scratch.hpp"
#include "../kernels/layout.hpp"
#include "../kernels/prepack.hpp"
#include "conv.hpp"
#include "conv_transpose.hpp"
#include "depthwise.hpp"
#include "depthwise_separable.hpp"
#include "engine.hpp"
#include "options.hpp"
#include "pointwise.hpp"

namespace convcore {

enum class PlanOp : int {
  conv = 0,
  conv_transpose = 1,
  depthwise = 2,
  pointwise = 3,
  depthwise_separable = 4
};

inline const char* plan_op_name(PlanOp op) {
  switch (op) {
    case PlanOp::conv: return "conv";
    case PlanOp::conv_transpose: return "conv_transpose";
    case PlanOp::depthwise: return "depthwise_conv2d";
    case PlanOp::pointwise: return "pointwise_conv";
    case PlanOp::depthwise_separable: return "depthwise_separable_conv2d";
  }
  return "?";
}

// What every plan offers (the Python binding holds one of these).
template <class T>
class PlanBase {
 public:
  // One of the arrays a plan was made from, as given (a copy; bias arrays may be absent).
  struct Array {
    const char* name;
    bool present;
    Shape shape;
    std::vector<T> values;
  };

  virtual ~PlanBase() = default;
  virtual PlanOp op() const = 0;
  // The output shape for an x of this shape (in the options' layout), after the op's checks.
  virtual Shape output_shape(const Shape& x_shape) const = 0;
  // What runs for an x of this shape: "im2col", "winograd", "grouped", "direct", "reference",
  // "depthwise", "gemm" (pointwise), "depthwise+gemm" (separable).
  virtual const char* algorithm(const Shape& x_shape) const = 0;
  // y = the op on x (y holds output_shape(x_shape)).
  virtual void run(const T* x, T* y, const Shape& x_shape) const = 0;
  // Makes the weight forms an x of this shape reads now (otherwise its first run does).
  virtual void prepare(const Shape& x_shape) const = 0;
  // Bytes held: the copies of the arrays and every form prepared so far.
  virtual std::size_t workspace_bytes() const = 0;
  // The level of the kernel table active when the plan was made.
  virtual IsaLevel level() const = 0;
  // The channels x must have (-1: any the op accepts), and x's spatial rank (-1: any).
  virtual index_t in_channels() const = 0;
  virtual int rank() const = 0;
  virtual Algorithm requested_algorithm() const { return Algorithm::automatic; }
  virtual std::vector<Array> arrays() const = 0;
};

namespace detail {
// A 64-byte aligned array (the kernels' packed buffers are read with vector loads).
template <class T>
class AlignedArray {
 public:
  explicit AlignedArray(index_t n) {
    const std::size_t bytes = ((static_cast<std::size_t>(n > 0 ? n : 1) * sizeof(T) + 63) / 64) * 64;
    p_.reset(static_cast<T*>(aligned_bytes(bytes)));
  }
  T* get() const { return p_.get(); }

 private:
  struct Free {
    void operator()(T* p) const { aligned_free(p); }
  };
  std::unique_ptr<T, Free> p_;
};

// The validated spec (and whatever goes with it) per input shape: the last 16 shapes, round
// robin. Thread-safe; a shape the op refuses is not cached (make throws).
template <class Entry>
class ShapeCache {
 public:
  template <class Make>
  Entry get(const Shape& key, const Make& make) const {
    {
      std::lock_guard<std::mutex> g(mu_);
      for (const auto& e : v_)
        if (e.first == key) return e.second;
    }
    Entry e = make(key);
    std::lock_guard<std::mutex> g(mu_);
    if (v_.size() < kSize) {
      v_.emplace_back(key, e);
    } else {
      v_[next_] = {key, e};
      next_ = (next_ + 1) % kSize;
    }
    return e;
  }

 private:
  static constexpr std::size_t kSize = 16;
  mutable std::mutex mu_;
  mutable std::vector<std::pair<Shape, Entry>> v_;
  mutable std::size_t next_ = 0;
};

// Prepared forms of a plan's weights per (kernel-table level, form), each made on first use by
// the table's `prepare` and published once (an atomic pointer, under a mutex): readers never
// lock once a form exists. A form that does not pay (kernels::form_pays: Winograd's beyond the
// last-level cache) is declined: null, so the engine makes it on the call as a plain call does
// (the same values either way).
template <class T>
class FormStore {
 public:
  const T* get(const kernels::KernelTable& kt, const kernels::PrepareArgs<T>& a) const {
    const int l = static_cast<int>(kt.level), f = static_cast<int>(a.form);
    if (l < 0 || l >= kLevels || f < 0 || f >= kForms) return nullptr;
    std::atomic<const T*>& slot = ready_[l][f];
    if (const T* r = slot.load(std::memory_order_acquire)) return r == declined() ? nullptr : r;
    std::lock_guard<std::mutex> g(mu_);
    if (const T* r = slot.load(std::memory_order_relaxed)) return r == declined() ? nullptr : r;
    const auto& fns = kt.fns(static_cast<T*>(nullptr));
    const index_t n = fns.prepare(a, nullptr);
    const auto bytes = static_cast<index_t>(checked_bytes(n, sizeof(T), "the plan's prepared weights"));
    if (!kernels::form_pays(a.form, bytes)) {
      slot.store(declined(), std::memory_order_release);
      return nullptr;
    }
    AlignedArray<T> buf(n);
    fns.prepare(a, buf.get());
    const T* r = buf.get();
    owned_.push_back(std::move(buf));
    bytes_.fetch_add(static_cast<std::size_t>(n) * sizeof(T), std::memory_order_relaxed);
    slot.store(r, std::memory_order_release);
    return r;
  }
  std::size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  // the mark of a declined form (never dereferenced)
  const T* declined() const { return reinterpret_cast<const T*>(&bytes_); }

  static constexpr int kLevels = 4;
  static constexpr int kForms = static_cast<int>(kernels::PackForm::count);
  mutable std::mutex mu_;
  mutable std::atomic<const T*> ready_[kLevels][kForms] = {};
  mutable std::vector<AlignedArray<T>> owned_;
  mutable std::atomic<std::size_t> bytes_{0};
};

// A copy of n values (none when n is 0 or v is null).
template <class T>
std::vector<T> copy_of(const T* v, index_t n, const char* what) {
  std::vector<T> r = workspace<T>(v ? n : 0, what);
  if (v && n > 0) std::copy(v, v + n, r.data());
  return r;
}

// Per dimension d of nd, the value of an option list (empty: dflt, one value: every dim), or
// dflt where the list is malformed (make_conv_spec names that).
inline index_t option_at(const Shape& v, int nd, int d, index_t dflt) {
  if (v.empty()) return dflt;
  if (v.size() == 1) return v[0];
  return static_cast<int>(v.size()) == nd ? v[static_cast<std::size_t>(d)] : dflt;
}
}  // namespace detail

template <class T>
class ConvPlan : public PlanBase<T> {
 public:
  using Array = typename PlanBase<T>::Array;

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
    } else if (op != PlanOp::conv && op != PlanOp::conv_transpose) {
      fail_value("ConvPlan runs conv, conv_transpose and depthwise_conv2d, not ",
                 plan_op_name(op));
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
    w_ = detail::copy_of(w, wn, "the plan's copy of w");
    if (flipped() && wn > 0)  // flipped once here, not per call
      kernels::flip_kernels(w, w_.data(), wn / kernel_size(), kernel_size());
    bias_ = detail::copy_of(bias, bias_len_, "the plan's copy of bias");
  }

  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;

  PlanOp op() const override { return op_; }
  int rank() const override { return nd_; }
  const Shape& weight_shape() const { return w_shape_; }
  const ConvOptions& options() const { return opts_; }
  Algorithm requested_algorithm() const override { return algo_; }
  IsaLevel level() const override { return table_->level; }
  // The channels x must have: conv w[1] * groups, conv_transpose w[0], depthwise w[0] (depth
  // multiplier 1; run(x, y, x_shape) takes any channel count that divides w[0]).
  index_t in_channels() const override {
    if (op_ == PlanOp::conv) return w_shape_[1] * opts_.groups;
    return w_shape_[0];
  }

  // w and bias as the user gave them (copies; w unflipped).
  std::vector<Array> arrays() const override {
    std::vector<T> w(w_.begin(), w_.end());
    if (flipped() && !w.empty())
      kernels::flip_kernels(w_.data(), w.data(), index_t(w.size()) / kernel_size(), kernel_size());
    return {Array{"w", true, w_shape_, std::move(w)},
            Array{"bias", bias_len_ >= 0, Shape{bias_len_ >= 0 ? bias_len_ : 0}, bias_}};
  }

  // The validated spec for an x of this shape (in the options' layout): the op's own checks,
  // cached per shape.
  ConvSpec spec(const Shape& x_shape) const { return lookup(x_shape).spec; }
  Shape output_shape(const Shape& x_shape) const override {
    return convcore::output_shape(spec(x_shape), op_ == PlanOp::conv_transpose);
  }
  const char* algorithm(const Shape& x_shape) const override {
    return lookup(x_shape).algorithm;
  }

  void run(const T* x, T* y, const Shape& x_shape) const override {
    run_spec(spec(x_shape), x, y);
  }
  // The same for x of shape (N, in_channels(), *spatial) (or channels-last).
  void run(const T* x, T* y, index_t N, const Shape& spatial) const {
    run(x, y, x_shape_of(N, spatial));
  }
  // Runs a spec from spec().
  void run_spec(const ConvSpec& s, const T* x, T* y) const {
    const kernels::KernelTable& kt = active_kernels();
    const detail::WeightForms<T> wf{w_.data(), flipped(), &forms_, &ConvPlan::form_of};
    const T* b = bias_len_ >= 0 ? bias_.data() : nullptr;
    switch (op_) {
      case PlanOp::conv: detail::conv_run(s, x, wf, b, y, algo_, kt); break;
      case PlanOp::conv_transpose: detail::conv_transpose_run(s, x, wf, b, y, algo_, kt); break;
      default: detail::depthwise_run(s, x, wf, b, y, kt); break;
    }
  }

  void prepare(const Shape& x_shape) const override { prepare_for(spec(x_shape)); }

  std::size_t workspace_bytes() const override {
    return (w_.size() + bias_.size()) * sizeof(T) + forms_.bytes();
  }

  Shape x_shape_of(index_t N, const Shape& spatial) const {
    Shape x{N};
    if (!opts_.channels_last) x.push_back(in_channels());
    x.insert(x.end(), spatial.begin(), spatial.end());
    if (opts_.channels_last) x.push_back(in_channels());
    return x;
  }

 private:
  struct Entry {
    ConvSpec spec;
    const char* algorithm = "";
  };

  bool flipped() const { return opts_.flip && op_ == PlanOp::conv; }
  index_t kernel_size() const {
    index_t ks = 1;
    for (std::size_t d = 2; d < w_shape_.size(); ++d) ks *= w_shape_[d];
    return ks > 0 ? ks : 1;
  }

  index_t bias_channels() const {
    if (op_ == PlanOp::conv_transpose)
      return w_shape_.size() > 1 ? checked_mul(w_shape_[1], opts_.groups > 0 ? opts_.groups : 1,
                                               "the output channels w.shape[1] * groups")
                                 : 0;
    return w_shape_.empty() ? 0 : w_shape_[0];
  }

  // The op's validation on an input of the kernel's extent (plus the padding, so every padding
  // mode reaches), where that input is of a modest size; the errors are the op's own.
  void probe() const {
    Shape sp;
    index_t elems = in_channels() > 0 ? in_channels() : 1;
    for (int d = 0; d < nd_; ++d) {
      const index_t lo = detail::option_at(opts_.pad_lo, nd_, d, 0);
      const index_t hi =
          detail::option_at(opts_.pad_hi.empty() ? opts_.pad_lo : opts_.pad_hi, nd_, d, 0);
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
      default: make_depthwise_spec(x, w_shape_, opts_, bias_len_); break;
    }
  }

  Entry make_entry(const Shape& x_shape) const {
    Entry e;
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
      default:
        e.spec = make_depthwise_spec(x_shape, w_shape_, opts_, bias_len_);
        e.algorithm = depthwise_span_dwarfs_input(e.spec) ? "direct" : "depthwise";
        break;
    }
    return e;
  }

  Entry lookup(const Shape& x_shape) const {
    return cache_.get(x_shape, [this](const Shape& k) { return make_entry(k); });
  }

  // The forms the flow will ask for on this spec, made now.
  void prepare_for(const ConvSpec& spec) const {
    if (spec.N == 0) return;
    const kernels::KernelTable& kt = active_kernels();
    const auto& fns = kt.fns(static_cast<T*>(nullptr));
    using kernels::PackForm;
    auto make = [&](PackForm f, const ConvSpec& s) { forms_.get(kt, {f, &s, w_.data()}); };
    if (op_ == PlanOp::conv_transpose) {
      const Algorithm a =
          algo_ == Algorithm::automatic ? choose_conv_transpose_algorithm(spec) : algo_;
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

  // detail::WeightForms::get
  static const T* form_of(const void* forms, const kernels::KernelTable& kt,
                          const kernels::PrepareArgs<T>& a) {
    return static_cast<const detail::FormStore<T>*>(forms)->get(kt, a);
  }

  PlanOp op_;
  Shape w_shape_;
  ConvOptions opts_;
  Algorithm algo_;
  const kernels::KernelTable* table_;
  int nd_ = 2;
  index_t bias_len_ = -1;
  std::vector<T> w_, bias_;
  detail::ShapeCache<Entry> cache_;
  detail::FormStore<T> forms_;
};

// A plan of pointwise_conv: w (C_out, C_in/groups) or with trailing 1s, any spatial rank per
// call. Channels-first, the GEMM's A is w: its panels are prepared once (PackForm::gemm of
// pointwise_weight_spec); channels-last A is x itself and w is packed as B per tile, as in the
// plain call (the plan then saves the validation and the Python overhead).
template <class T>
class PointwisePlan : public PlanBase<T> {
 public:
  using Array = typename PlanBase<T>::Array;

  PointwisePlan(const Shape& w_shape, const T* w, const T* bias, index_t groups,
                bool channels_last, Activation act, index_t bias_len = -2)
      : w_shape_(w_shape), groups_(groups), cl_(channels_last), act_(act),
        table_(&active_kernels()) {
    bias_len_ = !bias ? -1 : bias_len == -2 ? (w_shape.empty() ? 0 : w_shape[0]) : bias_len;
    // the op's checks on a probe (N=1, C_in, no spatial dims), which every x shares
    const index_t cin = w_shape.size() >= 2 ? checked_mul(w_shape[1], groups > 0 ? groups : 1,
                                                          "C_in = w.shape[1] * groups")
                                            : 0;
    const Shape probe = w_shape.size() > 2 ? Shape(w_shape.size(), 1) : Shape{1, 1};
    Shape xp = probe;
    xp[cl_ ? xp.size() - 1 : 1] = cin;
    make_pointwise_spec(xp, w_shape_, groups_, cl_, act_, bias_len_);
    const index_t wn = checked_product(w_shape.begin(), w_shape.end(), "w");
    w_ = detail::copy_of(w, wn, "the plan's copy of w");
    bias_ = detail::copy_of(bias, bias_len_, "the plan's copy of bias");
  }

  PlanOp op() const override { return PlanOp::pointwise; }
  int rank() const override { return w_shape_.size() > 2 ? int(w_shape_.size()) - 2 : -1; }
  IsaLevel level() const override { return table_->level; }
  index_t in_channels() const override { return w_shape_[1] * groups_; }
  std::vector<Array> arrays() const override {
    return {Array{"w", true, w_shape_, w_},
            Array{"bias", bias_len_ >= 0, Shape{bias_len_ >= 0 ? bias_len_ : 0}, bias_}};
  }
  PointwiseSpec spec(const Shape& x_shape) const {
    return cache_.get(x_shape, [this](const Shape& k) {
      return make_pointwise_spec(k, w_shape_, groups_, cl_, act_, bias_len_);
    });
  }
  Shape output_shape(const Shape& x_shape) const override {
    return convcore::output_shape(spec(x_shape));
  }
  const char* algorithm(const Shape& x_shape) const override {
    spec(x_shape);
    return "gemm";
  }
  void run(const T* x, T* y, const Shape& x_shape) const override {
    const PointwiseSpec s = spec(x_shape);
    const kernels::KernelTable& kt = active_kernels();
    detail::pointwise_run(s, x, w_.data(), cl_ ? nullptr : packed(kt, s), bias_ptr(), y, kt);
  }
  void prepare(const Shape& x_shape) const override {
    const PointwiseSpec s = spec(x_shape);
    if (!cl_) packed(active_kernels(), s);
  }
  std::size_t workspace_bytes() const override {
    return (w_.size() + bias_.size()) * sizeof(T) + forms_.bytes();
  }

 private:
  const T* bias_ptr() const { return bias_len_ >= 0 ? bias_.data() : nullptr; }
  const T* packed(const kernels::KernelTable& kt, const PointwiseSpec& s) const {
    const ConvSpec ws = pointwise_weight_spec(s.C_in, s.C_out, s.groups);
    return forms_.get(kt, {kernels::PackForm::gemm, &ws, w_.data()});
  }

  Shape w_shape_;
  index_t groups_;
  bool cl_;
  Activation act_;
  const kernels::KernelTable* table_;
  index_t bias_len_ = -1;
  std::vector<T> w_, bias_;
  detail::ShapeCache<PointwiseSpec> cache_;
  detail::FormStore<T> forms_;
};

// A plan of depthwise_separable_conv2d: the depthwise weights packed once for the
// channels-last kernel the op runs on every band, and channels-first the pointwise weights as
// the GEMM's A panels.
template <class T>
class SeparablePlan : public PlanBase<T> {
 public:
  using Array = typename PlanBase<T>::Array;

  SeparablePlan(const Shape& wd_shape, const T* wd, const Shape& wp_shape, const T* wp,
                const T* bd, const T* bp, const ConvOptions& o, Activation mid_act,
                index_t bd_len = -2, index_t bp_len = -2)
      : wd_shape_(wd_shape), wp_shape_(wp_shape), opts_(o), mid_(mid_act),
        table_(&active_kernels()) {
    bd_len_ = !bd ? -1 : bd_len == -2 ? (wd_shape.empty() ? 0 : wd_shape[0]) : bd_len;
    bp_len_ = !bp ? -1 : bp_len == -2 ? (wp_shape.empty() ? 0 : wp_shape[0]) : bp_len;
    if (wd_shape.size() != 4)
      fail_value("w_depthwise must be 4-D (C*m, 1, kh, kw) for depthwise_conv2d, got ",
                 wd_shape.size(), " dimensions");
    // the op's checks on a probe of the kernel's extent (plus padding), depth multiplier 1
    Shape sp;
    for (int d = 0; d < 2; ++d) {
      const index_t lo = detail::option_at(opts_.pad_lo, 2, d, 0);
      const index_t hi =
          detail::option_at(opts_.pad_hi.empty() ? opts_.pad_lo : opts_.pad_hi, 2, d, 0);
      const index_t k = wd_shape[static_cast<std::size_t>(2 + d)];
      const index_t dil = detail::option_at(opts_.dilation, 2, d, 1);
      const index_t cap = index_t(1) << 12;
      const bool small = lo >= 0 && hi >= 0 && lo < cap && hi < cap && k >= 1 && k < cap &&
                         dil >= 1 && dil < cap;
      sp.push_back(small ? (k - 1) * dil + 1 + (opts_.pad_same ? 0 : lo + hi) : 1);
    }
    const index_t C = wd_shape[0];
    if (C > 0 && C <= (index_t(1) << 16) && sp[0] * sp[1] <= (index_t(1) << 20)) {
      const Shape x = cl() ? Shape{1, sp[0], sp[1], C} : Shape{1, C, sp[0], sp[1]};
      make_depthwise_separable_spec(x, wd_shape_, wp_shape_, opts_, mid_, bd_len_, bp_len_);
    }
    wd_ = detail::copy_of(wd, checked_product(wd_shape.begin(), wd_shape.end(), "w_depthwise"),
                          "the plan's copy of w_depthwise");
    wp_ = detail::copy_of(wp, checked_product(wp_shape.begin(), wp_shape.end(), "w_pointwise"),
                          "the plan's copy of w_pointwise");
    bd_ = detail::copy_of(bd, bd_len_, "the plan's copy of b_depthwise");
    bp_ = detail::copy_of(bp, bp_len_, "the plan's copy of b_pointwise");
  }

  PlanOp op() const override { return PlanOp::depthwise_separable; }
  int rank() const override { return 2; }
  IsaLevel level() const override { return table_->level; }
  index_t in_channels() const override { return wd_shape_[0]; }
  std::vector<Array> arrays() const override {
    return {Array{"w_depthwise", true, wd_shape_, wd_},
            Array{"w_pointwise", true, wp_shape_, wp_},
            Array{"b_depthwise", bd_len_ >= 0, Shape{bd_len_ >= 0 ? bd_len_ : 0}, bd_},
            Array{"b_pointwise", bp_len_ >= 0, Shape{bp_len_ >= 0 ? bp_len_ : 0}, bp_}};
  }
  DepthwiseSeparableSpec spec(const Shape& x_shape) const {
    return cache_.get(x_shape, [this](const Shape& k) {
      return make_depthwise_separable_spec(k, wd_shape_, wp_shape_, opts_, mid_, bd_len_,
                                           bp_len_);
    });
  }
  Shape output_shape(const Shape& x_shape) const override {
    return convcore::output_shape(spec(x_shape));
  }
  const char* algorithm(const Shape& x_shape) const override {
    spec(x_shape);
    return "depthwise+gemm";
  }
  void run(const T* x, T* y, const Shape& x_shape) const override {
    const DepthwiseSeparableSpec s = spec(x_shape);
    const kernels::KernelTable& kt = active_kernels();
    const T* ap = nullptr;
    const T* wt = forms(kt, s, &ap);
    detail::depthwise_separable_run(s, x, wd_.data(), wt, wp_.data(), ap, ptr(bd_len_, bd_),
                                    ptr(bp_len_, bp_), y, kt);
  }
  void prepare(const Shape& x_shape) const override {
    const T* ap = nullptr;
    forms(active_kernels(), spec(x_shape), &ap);
  }
  std::size_t workspace_bytes() const override {
    return (wd_.size() + wp_.size() + bd_.size() + bp_.size()) * sizeof(T) + forms_.bytes();
  }

 private:
  bool cl() const { return opts_.channels_last; }
  static const T* ptr(index_t len, const std::vector<T>& v) { return len >= 0 ? v.data() : nullptr; }
  // The packed depthwise weights, and channels-first the pointwise GEMM's A (*ap).
  const T* forms(const kernels::KernelTable& kt, const DepthwiseSeparableSpec& s,
                 const T** ap) const {
    if (!cl()) {
      const ConvSpec ws = pointwise_weight_spec(s.dw.C_out, s.C_out, 1);
      *ap = forms_.get(kt, {kernels::PackForm::gemm, &ws, wp_.data()});
    }
    return forms_.get(kt, {kernels::PackForm::depthwise, &s.dw, wd_.data()});
  }

  Shape wd_shape_, wp_shape_;
  ConvOptions opts_;
  Activation mid_;
  const kernels::KernelTable* table_;
  index_t bd_len_ = -1, bp_len_ = -1;
  std::vector<T> wd_, wp_, bd_, bp_;
  detail::ShapeCache<DepthwiseSeparableSpec> cache_;
  detail::FormStore<T> forms_;
};

}  // namespace convcore
