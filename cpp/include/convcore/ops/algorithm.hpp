// Algorithm names users can force; "auto" lets the op choose.
#pragma once
#include <string>

#include "../core/errors.hpp"

namespace convcore {

enum class Algorithm : int { automatic = 0, reference = 1, direct = 2 };

inline Algorithm parse_algorithm(const std::string& s) {
  if (s.empty() || s == "auto") return Algorithm::automatic;
  if (s == "reference") return Algorithm::reference;
  if (s == "direct") return Algorithm::direct;
  fail_value("algorithm must be one of 'auto', 'direct', 'reference', got '", s, "'");
}

inline const char* algorithm_name(Algorithm a) {
  switch (a) {
    case Algorithm::automatic: return "auto";
    case Algorithm::reference: return "reference";
    case Algorithm::direct: return "direct";
  }
  return "?";
}

}  // namespace convcore
