// Overflow-checked size arithmetic: every element count is computed through these before
// anything is allocated, so absurd shapes are refused instead of wrapping around.
#pragma once
#include <cstdint>
#include <limits>

#include "errors.hpp"
#include "hd.hpp"

namespace convcore {

inline index_t checked_mul(index_t a, index_t b, const char* what) {
  if (a < 0 || b < 0) fail_value(what, " must not be negative");
  if (a != 0 && b > std::numeric_limits<index_t>::max() / a)
    fail_value(what, " is too large: its element count overflows a 64-bit integer");
  return a * b;
}

template <class It>
index_t checked_product(It first, It last, const char* what) {
  index_t p = 1;
  for (; first != last; ++first) p = checked_mul(p, static_cast<index_t>(*first), what);
  return p;
}

// Byte size that also fits the address space (the last check before an allocation).
inline std::size_t checked_bytes(index_t elements, std::size_t elem_size, const char* what) {
  index_t bytes = checked_mul(elements, static_cast<index_t>(elem_size), what);
  if (static_cast<std::uint64_t>(bytes) > std::numeric_limits<std::size_t>::max() / 2)
    fail_value(what, " needs more memory than this machine can address");
  return static_cast<std::size_t>(bytes);
}

}  // namespace convcore
