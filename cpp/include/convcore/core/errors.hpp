// The two kinds of user error. The Python bindings translate them to ValueError / TypeError;
// messages always name the offending parameter and what was expected.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace convcore {

struct value_error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct type_error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

namespace detail {
template <class... A>
std::string cat(A&&... a) {
  std::ostringstream s;
  (s << ... << std::forward<A>(a));
  return s.str();
}
}  // namespace detail

template <class... A>
[[noreturn]] void fail_value(A&&... a) {
  throw value_error(detail::cat(std::forward<A>(a)...));
}
template <class... A>
[[noreturn]] void fail_type(A&&... a) {
  throw type_error(detail::cat(std::forward<A>(a)...));
}

}  // namespace convcore
