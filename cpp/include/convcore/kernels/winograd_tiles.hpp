// Where Winograd F(4x4, 3x3) applies and how many tiles a batch has (kernels/winograd.hpp):
// shared by the kernel and by the algorithm choice (ops/algorithm.hpp), which counts tiles.
// Plain arithmetic only: everything with loops lives in the ISA-tagged engine.
#pragma once
#include "../core/spec.hpp"

namespace convcore {
namespace kernels {

// 3x3 in H and W with stride 1 there; in 3-D any depth kernel, stride, dilation and padding
// (the depth taps join the GEMM reduction) with groups 1; grouped in 2-D.
inline bool winograd_applicable(const ConvSpec& s) {
  return s.k[1] == 3 && s.k[2] == 3 && s.stride[1] == 1 && s.stride[2] == 1 &&
         (s.groups == 1 || s.planar());
}

// Tiles per dilation phase along one axis: a phase holds every d-th of the `out` outputs,
// covered by 4-wide tiles.
inline index_t winograd_grid(index_t out, index_t d) { return ((out + d - 1) / d + 3) / 4; }

// Dilation phases along one axis that hold outputs: d, or fewer when out < d.
inline index_t winograd_phases(index_t out, index_t d) { return out < d ? out : d; }

// Tiles of one output slice (a 2-D image, or one depth of a 3-D one): phases(OH) x
// phases(OW) of grid(OH) x grid(OW) tiles (the walk over them is winograd_engine::Tile).
inline index_t winograd_tiles_per_slice(const ConvSpec& s) {
  return winograd_phases(s.out[1], s.dil[1]) * winograd_phases(s.out[2], s.dil[2]) *
         winograd_grid(s.out[1], s.dil[1]) * winograd_grid(s.out[2], s.dil[2]);
}

}  // namespace kernels
}  // namespace convcore
