// Algorithm names users can force; "auto" lets the op choose (choose_conv_algorithm).
#pragma once
#include <string>

#include "../core/errors.hpp"
#include "../core/spec.hpp"

namespace convcore {

// gemm and im2col are one engine (kernels/im2col.hpp): a 1x1 stride-1 conv is a plain GEMM
// there, anything else packs its im2col columns on the fly.
enum class Algorithm : int { automatic = 0, reference = 1, direct = 2, im2col = 3 };

inline Algorithm parse_algorithm(const std::string& s) {
  if (s.empty() || s == "auto") return Algorithm::automatic;
  if (s == "reference") return Algorithm::reference;
  if (s == "direct") return Algorithm::direct;
  if (s == "im2col" || s == "gemm") return Algorithm::im2col;
  fail_value("algorithm must be one of 'auto', 'direct', 'gemm', 'im2col', 'reference', got '", s,
             "'");
}

inline const char* algorithm_name(Algorithm a) {
  switch (a) {
    case Algorithm::automatic: return "auto";
    case Algorithm::reference: return "reference";
    case Algorithm::direct: return "direct";
    case Algorithm::im2col: return "im2col";
  }
  return "?";
}

// The cost model behind algorithm="auto" for conv (docs/architecture.md, "Algorithm choice").
// The GEMM engine runs near the FMA peak once its microkernel tile is filled: it needs enough
// output channels per group (rows of the MR x NR tile) and a reduction long enough to amortise
// packing the input (each packed element is reused C_out/groups times). The direct kernel is
// one axpy per tap and output row: no packing, no tile padding, so it wins when each group
// has few output channels (depthwise, single-channel filtering) or a tiny reduction.
// Thresholds measured on one core (AVX-512/AVX2, float32): im2col overtakes direct from 3-4
// output channels per group with a reduction of 9 or more; a 1x1 conv over 4 channels is still
// 4x faster direct.
inline Algorithm choose_conv_algorithm(const ConvSpec& s) {
  const index_t opg = s.cout_per_group(), red = s.cin_per_group() * s.k_size();
  if (opg < 3 || red < 8) return Algorithm::direct;
  return Algorithm::im2col;
}

// Transposed conv: the GEMM + col2im engine needs the same filled tile (C_in/groups x kernel
// rows, C_out/groups reduction); the gather kernel otherwise.
inline Algorithm choose_conv_transpose_algorithm(const ConvSpec& s) {
  const index_t rows = s.cin_per_group() * s.k_size(), red = s.cout_per_group();
  if (rows < 8 || red < 3) return Algorithm::direct;
  return Algorithm::im2col;
}

}  // namespace convcore
