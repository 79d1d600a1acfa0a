// Overflow-checked size arithmetic: every element count is computed through these before
// anything is allocated, so absurd shapes are refused instead of wrapping around.
//
// The invariant the ops' validation establishes (ops/options.hpp and friends) and the kernels
// rely on: every element count of an op (its inputs, weights, outputs, and the zero- or
// mode-padded input the kernels index into) is at most kMaxElements. That leaves 2^7 of
// headroom below 2^63 for the kernels' own index and byte arithmetic (offsets, element sizes
// up to 8 bytes, a few extents added or multiplied by small factors), which is then done in
// plain index_t without checks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>

#include "errors.hpp"
#include "hd.hpp"

namespace convcore {

// The largest element count of any array an op reads, writes or indexes (2^56: 64 Pi elements,
// far beyond any machine's memory).
constexpr index_t kMaxElements = index_t(1) << 56;

inline index_t checked_mul(index_t a, index_t b, const char* what) {
  if (a < 0 || b < 0) fail_value(what, " must not be negative");
  if (a != 0 && b > std::numeric_limits<index_t>::max() / a)
    fail_value(what, " is too large: its element count overflows a 64-bit integer");
  return a * b;
}

// a + b for a, b >= 0 (sizes, paddings, extents).
inline index_t checked_add(index_t a, index_t b, const char* what) {
  if (a < 0 || b < 0) fail_value(what, " must not be negative");
  if (b > std::numeric_limits<index_t>::max() - a)
    fail_value(what, " is too large: the size it gives overflows a 64-bit integer");
  return a + b;
}

// The product of a shape's extents (all >= 0). An empty extent makes the product 0, but the
// other extents still count: each of them is an extent the kernels multiply by, so the product
// of the non-zero extents must fit too. Both are at most kMaxElements.
template <class It>
index_t checked_product(It first, It last, const char* what) {
  index_t p = 1;
  bool empty = false;
  for (; first != last; ++first) {
    const index_t v = static_cast<index_t>(*first);
    if (v < 0) fail_value(what, " must not have a negative dimension");
    if (v == 0) {
      empty = true;
      continue;
    }
    if (v > kMaxElements / p)
      fail_value(what, " is too large: its element count overflows the limit of 2**56 elements");
    p *= v;
  }
  return empty ? 0 : p;
}

inline index_t checked_product(std::initializer_list<index_t> v, const char* what) {
  return checked_product(v.begin(), v.end(), what);
}

// Byte size that also fits the address space (the last check before an allocation).
inline std::size_t checked_bytes(index_t elements, std::size_t elem_size, const char* what) {
  index_t bytes = checked_mul(elements, static_cast<index_t>(elem_size), what);
  if (static_cast<std::uint64_t>(bytes) > std::numeric_limits<std::size_t>::max() / 2)
    fail_value(what, " needs more memory than this machine can address");
  return static_cast<std::size_t>(bytes);
}

}  // namespace convcore
