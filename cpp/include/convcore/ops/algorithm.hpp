// Algorithm names users can force; "auto" lets the op choose (choose_conv_algorithm).
#pragma once
#include <string>

#include "../core/errors.hpp"
#include "../core/spec.hpp"
#include "../kernels/stem.hpp"
#include "../kernels/subpixel.hpp"
#include "../kernels/winograd_tiles.hpp"

namespace convcore {

// gemm and im2col are one engine (kernels/im2col.hpp): a 1x1 stride-1 conv is a plain GEMM
// there, anything else packs its im2col columns on the fly.
enum class Algorithm : int { automatic = 0, reference = 1, direct = 2, im2col = 3, winograd = 4, grouped = 5 };

inline Algorithm parse_algorithm(const std::string& s) {
  if (s == "auto") return Algorithm::automatic;
  if (s == "reference") return Algorithm::reference;
  if (s == "direct") return Algorithm::direct;
  if (s == "im2col" || s == "gemm") return Algorithm::im2col;
  if (s == "winograd") return Algorithm::winograd;
  if (s == "grouped") return Algorithm::grouped;
  fail_value("algorithm must be one of 'auto', 'direct', 'gemm', 'grouped', 'im2col', "
             "'reference', 'winograd', got '", s, "'");
}

inline const char* algorithm_name(Algorithm a) {
  switch (a) {
    case Algorithm::automatic: return "auto";
    case Algorithm::reference: return "reference";
    case Algorithm::direct: return "direct";
    case Algorithm::im2col: return "im2col";
    case Algorithm::winograd: return "winograd";
    case Algorithm::grouped: return "grouped";
  }
  return "?";
}

// The GEMM columns Winograd runs for a spec's tiles (the whole batch): whole panels, 32 wide;
// below 32 tiles 8-row panels (the operands swap); up to 4 tiles of a 2-D conv, half panels.
inline index_t winograd_filled(const ConvSpec& s) {
  const index_t tiles = s.N * s.out[0] * kernels::winograd_tiles_per_slice(s);
  return s.planar() && tiles <= 4 ? 4 : tiles < 32 ? (tiles + 7) / 8 * 8 : (tiles + 31) / 32 * 32;
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
// Winograd F(4x4, 3x3) (3x3 in H and W, stride 1 there, groups 1; any dilation; 2-D or
// k x 3 x 3 3-D) does 36 multiplications per 4x4 output tile instead of 144, but its GEMMs
// run over whole panels of tiles (32 columns; below 32 tiles, 8-row panels: the operands
// swap; up to 4 tiles of a 2-D conv, half panels) and the weights are transformed on every
// call (worth ~200 multiply-adds per kernel, measured: 4-6 ns per kernel on one core). The
// im2col GEMM runs over whole 32-column panels too. Per 3x3 kernel and depth tap: im2col does
// 9 x (N x output pixels, rounded up to 32) multiply-adds, Winograd 36 x (tiles rounded up to
// a panel) + 200; Winograd is taken when that is 1.2x smaller, and with at least 32 channels
// each way (with 16 its transforms outweigh the saving: 0.6-0.96x im2col). Measured (2
// threads, AVX-512, float32, im2col time / Winograd time): ResNet-50 3x3 layers 1.3-1.9x at
// N=1 for 64@56 and 128@28, 1.8-2.0x for 256@14 (16 tiles), 1.35x for 512@7 (4 tiles),
// 1.5-2.1x at N=8; 32..512 channels at 7x7 to 10x10, N=1 and 2, 1.1-2.0x; outputs of 2x2 to
// 5x5 (one to four tiles, one column panel for im2col) 0.9-1.5x, left on im2col; 3-D U-Net
// 256-channel 3x3x3 layers 1.5-1.8x; DeepLab dilated 3x3 (d = 2, 4) at 65x65 1.2-1.6x.
// Grouped convs with 4..64 channels per group each way and >= 9 taps, 1-D or 2-D: the direct
// grouped kernel (kernels/grouped.hpp), whose per-group work is too small to fill the GEMM
// engine's tile. Measured vs the im2col row path, 1 thread, float32, minima of thread CPU time
// on a noisy shared machine, AVX-512 / AVX2: ResNeXt-101 g=32 3x3 layers 1.3 / 1.4x at 16 per
// group @56, 1.2 / 1.3x at 32 @28, 1.5 / 1.0x at 64 @14, 1.7 / 1.9x at 32 @56 stride 2;
// 1.5-1.8x at 8 per group @56 and 1.6-2.9x at 4 per group (g=32, g=64, stride 1 and 2);
// 1.2-1.7x with few groups (g=2, g=4, 32..64 per group). At 128 per group it is a toss-up
// (0.9-1.4x) and on 1x1 convs (0.9-1.3x), so those stay on im2col.
// The direct grouped kernel's shapes (kernels/grouped.hpp): 4..64 channels per group each way
// and >= 9 taps, 1-D or 2-D.
inline bool grouped_direct_fits(const ConvSpec& s) {
  return s.groups > 1 && s.planar() && s.k_size() >= 9 && s.cin_per_group() >= 4 &&
         s.cin_per_group() <= 64 && s.cout_per_group() >= 4 && s.cout_per_group() <= 64;
}

// Grouped 3x3 convs (2-D) on Winograd: each group is its own small problem, so the tile
// transforms are shared by only C/groups channels; per channel pair of a group they cost
// about 1250 x filled tiles x (1 / C_in per group + 1 / C_out per group), the weight
// transform (strided reads) about 900, the products 36 x filled tiles. Against 9 x output
// pixels for the direct grouped kernel, whose rows run in blocks of up to 14 pixels (a 7-wide
// row wastes half), or for im2col 12 x output pixels (rounded up to 32: 75% of the products'
// rate) + 970 for packing the weights, which it does on every call too. Taken when 1.2x
// smaller, on outputs of 6 x 6 and up. Measured (2 threads, AVX-512, float32, minima of
// alternating runs, the model's ratio in brackets): ResNeXt g=32 with 64 per group 1.25
// [1.24] at 28x28 N=1, 1.67 [1.59] at 56x56, 0.84 [0.84] at 14x14 and 0.97 [0.73] at 7x7
// (left); at N=8 1.57-1.88 [1.34-1.90], 2.7 [2.1] at 7x7; 32 per group 1.16 [0.91-1.26] at
// N=8, 2.0 [1.55] at 7x7, 0.6-1.08 at N=1 (left); 16 per group 0.3-0.8 (left); 128 per group
// (g=8) vs im2col 1.6-2.9 [1.55-3.4], but 0.7-0.9 on 3x3 to 5x5 outputs (left); g=2, g=4 with
// 64 per group 1.0-1.8 [1.24-1.9] from 28x28 N=1.
inline bool grouped_winograd_pays(const ConvSpec& s) {
  if (s.groups < 2 || !kernels::winograd_applicable(s) || s.cin_per_group() == 0 ||
      s.out[1] < 6 || s.out[2] < 6)
    return false;
  const double f = double(winograd_filled(s));
  const double per_pair = 1.0 / double(s.cin_per_group()) + 1.0 / double(s.cout_per_group());
  const double wino = 36.0 * f + 900.0 + 1250.0 * f * per_pair;
  const index_t P = s.N * s.out_size(), ow = s.out[2];
  const double other = grouped_direct_fits(s)
                           ? 9.0 * double(P) * double((ow + 13) / 14 * 14) / double(ow)
                           : 12.0 * double((P + 31) / 32 * 32) + 970.0;
  return 1.2 * wino < other;
}

// Few input channels (1..4, groups 1, 8+ output channels) and a spatial kernel of 9+ taps,
// channels-first: the direct stem kernel (kernels/stem.hpp; "direct" runs it for these
// shapes). Measured (2 threads, AVX-512, float32, im2col time / stem time): ResNet 7x7/2
// 3->64 @224 1.23x at N=1 (189 GFLOP/s, 86% of the FMA peak), 1.34x at N=8; 3x3/1 3->64
// @224 1.84x; 3x3/2 3->16..32 @224 0.95-2.25x (1.55x at N=8); 11x11/4 3->96 1.12x; 1->32
// 3x3 @28 1.7x (2.8x at N=64); 5x5/1 3->64 @64 0.87x.
inline Algorithm choose_conv_algorithm(const ConvSpec& s) {
  const index_t opg = s.cout_per_group(), red = s.cin_per_group() * s.k_size();
  if (kernels::stem_shape(s) && s.k_size() >= 9 && !s.channels_last) return Algorithm::direct;
  if (opg < 3 || red < 8) return Algorithm::direct;
  if (grouped_winograd_pays(s)) return Algorithm::winograd;
  if (grouped_direct_fits(s)) return Algorithm::grouped;
  if (s.groups == 1 && kernels::winograd_applicable(s) && s.C_in >= 32 && s.C_out >= 32) {
    const double wino = 36.0 * double(winograd_filled(s)) + 200.0;
    const double cols = double((s.N * s.out_size() + 31) / 32 * 32);
    if (1.2 * wino < 9.0 * cols) return Algorithm::winograd;
  }
  return Algorithm::im2col;
}

// Transposed conv: the GEMM + col2im engine needs the same filled tile (C_in/groups x kernel
// rows, C_out/groups reduction); the gather kernel otherwise. The sub-pixel form (kernels/
// subpixel.hpp: one forward conv of x with a 3x3 window per output phase, on the Winograd
// engine, then a pixel shuffle) is weighed as the forward choice weighs Winograd: per pair of
// channels, col2im does k_size x (N x input pixels, rounded up to 32) multiply-adds, the
// sub-pixel form phases x depth taps x (36 x tiles filled to a panel + 900). The 900 is the
// weight transform read through the phase taps: every phase transforms its own kernels from
// w, so there are 4x as many as the pairs (4x4/2), which only many tiles amortise. Taken when
// 1.2x smaller, with 32+ channels each way of the phase conv, its weights within
// kSubpixelAutoElems (they must stay in the caches: U-Net 1024->256 at 32x32 was 1.0x with 9M)
// and one image's phase outputs too. Measured (2 threads, AVX-512, float32, col2im time /
// sub-pixel time, C++ harness, minima): DCGAN 4x4/2 128->64 32->64 1.36x at N=1, 1.4x at
// N=8; 256->128 16->32 1.1x at N=1 (16 tiles: left on col2im), 1.17x at N=8; 512->256 8->16
// 1.0x at N=8 (32 tiles, left on col2im), 0.5x at N=1.
inline Algorithm choose_conv_transpose_algorithm(const ConvSpec& s) {
  const index_t rows = s.cin_per_group() * s.k_size(), red = s.cout_per_group();
  if (rows < 8 || red < 3) return Algorithm::direct;
  const kernels::SubpixelPlan p = kernels::subpixel_plan(s);
  const ConvSpec& f = p.phase;
  if (p.ok && kernels::winograd_applicable(f) && f.C_in >= 32 && f.C_out >= 32) {
    const double lim = double(kernels::kSubpixelAutoElems);
    if (double(f.C_out) * double(f.C_in) * double(f.k_size()) <= lim &&
        double(f.C_out) * double(f.out_size()) <= lim) {
      const double wino =
          double(p.phases * f.k[0]) * (36.0 * double(winograd_filled(f)) + 900.0);
      const double cols = double(s.k_size()) * double((s.N * s.out_size() + 31) / 32 * 32);
      if (1.2 * wino < cols) return Algorithm::winograd;
    }
  }
  return Algorithm::im2col;
}

}  // namespace convcore
