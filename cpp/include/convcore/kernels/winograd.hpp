// Winograd F(4x4, 3x3) (Lavin & Gray 2016) for convs that are 3x3 with stride 1 in H and W:
// 2-D, any groups (run_grouped); dilated (d x d undilated convs over the output phases,
// struct Tile); 3-D with k x 3 x 3 kernels and groups 1 (the k depth taps join the GEMM
// reduction; any depth stride, dilation and padding).
//
// Per 4x4 output tile: Y = A^T [ (G g G^T) . (B^T d B) ] A over the 6x6 input tile d. The 36
// element-wise products summed over input channels are 36 GEMMs (C_out x C_in by C_in x tiles)
// on the packed GEMM engine: 2.25x fewer multiplications than the direct form (36 per 16
// outputs instead of 144).
//
// The tiles of every image of the batch share one column space (tile t of image n is column
// n * tiles_per_image + t), so 7x7 and 14x14 images (4 and 16 tiles) still fill the GEMM's
// column panels. Three ways to run (docs/architecture.md has the measurements behind them):
// - many tiles, one block of output channels: each worker takes chunks of 64 tiles through
//   the input transform, the 36 GEMMs and the output transform in its own cache;
// - otherwise three parallel phases per chunk of tiles: the input transform (items: input
//   channels) writes V (36 x C_in x tiles), the 36 GEMMs (items: transform point x column
//   tile x row chunk) write M (36 x C_out x tiles), the output transform (items: output
//   channels) adds bias and activation and scatters the 4x4 tiles into y;
// - fewer tiles than a column panel (2-D): the operands swap and the weights are transformed
//   inside the GEMM (run_few).
// Otherwise the weights are transformed once per call (per block of output channels) straight
// into the GEMM's packed-A layout (one pass, vectorised across the rows of a panel).
//
// Accuracy: the transforms have entries up to 8 (A) and 1/24 (G), so float32 rounding grows:
// measured against float64, max |error| / max |y| is 1e-6 to 1e-5 (growing with C_in: 64 to
// 256, N(0,1) data), 10-25x the im2col engine's (docs/architecture.md has the table).
// float64 is exact to ~1e-14.
//
// Workspace (calling thread): the transformed weights of a block of output channels (36 x
// block x kd x C_in, the block chosen so that this stays under 12 MiB; 4x the block's weights)
// and V and M for one chunk of tiles (together under 16 MiB); per worker two 36 x 64 tile
// buffers and the GEMM engine's packed B tile (run_few: 36 B panels of 64 x NR; run_grouped:
// each worker's own U block, V and M, under 4 + 16 MiB).
#pragma once
#include "../core/geometry.hpp"
#include "gemm.hpp"
#include "winograd_tiles.hpp"

#include <type_traits>

namespace convcore {
namespace kernels {

// Transformed weights (36 values per 3x3 kernel, 4x the weights) that stay in the last-level
// cache between the transform and the GEMMs: run_with's blocks of output channels, and the
// largest transformed form a plan keeps (prepack.hpp, form_pays).
constexpr index_t kWinogradCacheBytes = index_t(12) * 1024 * 1024;

template <class T, class ISA>
struct winograd_engine {
  using G = gemm_engine<T, ISA>;
  static constexpr int MR = G::MR;
  static constexpr int W = G::W;
  static constexpr index_t TB = 64;  // tiles per transform pass (the per-worker buffers)

  // Slot 0: transformed weights (calling thread; run_few: each worker's transformed channels,
  // then its B panels; run_grouped: each worker's U block), 1: V, 2: M (calling thread, or
  // each worker's chunk); 3: tile buffers (every worker).
  static T* scratch(int slot, index_t n) {
    return thread_scratch<T, winograd_engine, 4>::get(slot, n);
  }

  // B^T applied to 6 rows of n values: out[i][t] = sum_k BT[i][k] in[k][t]. The rows never
  // overlap; restrict-qualified parameters let the loop over t vectorise without alias checks.
  static void bt(const T* const in[6], T* const out[6], index_t n) {
    bt_rows(in[0], in[1], in[2], in[3], in[4], in[5], out[0], out[1], out[2], out[3], out[4],
            out[5], n);
  }
  static void bt_rows(const T* __restrict d0, const T* __restrict d1, const T* __restrict d2,
                      const T* __restrict d3, const T* __restrict d4, const T* __restrict d5,
                      T* __restrict o0, T* __restrict o1, T* __restrict o2, T* __restrict o3,
                      T* __restrict o4, T* __restrict o5, index_t n) {
    for (index_t t = 0; t < n; ++t) {
      o0[t] = T(4) * d0[t] - T(5) * d2[t] + d4[t];
      o1[t] = -T(4) * (d1[t] + d2[t]) + d3[t] + d4[t];
      o2[t] = T(4) * (d1[t] - d2[t]) - d3[t] + d4[t];
      o3[t] = T(2) * (d3[t] - d1[t]) - d2[t] + d4[t];
      o4[t] = T(2) * (d1[t] - d3[t]) - d2[t] + d4[t];
      o5[t] = T(4) * d1[t] - T(5) * d3[t] + d5[t];
    }
  }

  // Vectors of the weight transform for panels of R output channels: the ISA's, or AVX2's
  // for a panel narrower than a vector (MR = 8 with AVX-512).
  template <int R>
  using panel_isa = typename std::conditional<R % W != 0 && ISA::level == IsaLevel::avx512,
                                              isa::avx2, ISA>::type;

  // G applied to R columns at once: out[i * os + r] = sum_k G[i][k] g[k][r] (G is 6 x 3), in
  // registers straight to the six (strided) rows of out.
  template <int R>
  static void g_apply(const T* g0, const T* g1, const T* g2, T* out, index_t os) {
    using GV = vec<T, panel_isa<R>>;
    constexpr int L = GV::width;
    const T q = T(1) / T(4), s6 = T(1) / T(6), s12 = T(1) / T(12), s24 = T(1) / T(24);
    int r = 0;
    if (R % L == 0) {
      const GV vq = GV::broadcast(q), v6 = GV::broadcast(s6), n6 = GV::broadcast(-s6);
      const GV v12 = GV::broadcast(s12), n12 = GV::broadcast(-s12), v24 = GV::broadcast(s24);
      for (; r < R; r += L) {
        const GV a = GV::load(g0 + r), b = GV::load(g1 + r), c = GV::load(g2 + r);
        const GV ac = a + c, c6 = c * v6;
        (a * vq).store(out + r);
        ((ac + b) * n6).store(out + os + r);
        fma(b, v6, ac * n6).store(out + 2 * os + r);
        fma(a, v24, fma(b, v12, c6)).store(out + 3 * os + r);
        fma(a, v24, fma(b, n12, c6)).store(out + 4 * os + r);
        c.store(out + 5 * os + r);
      }
    }
    for (; r < R; ++r) {  // panels of MR = 6 rows (AVX2, SSE2)
      const T a = g0[r], b = g1[r], c = g2[r];
      out[r] = a * q;
      out[os + r] = -(a + b + c) * s6;
      out[2 * os + r] = -(a - b + c) * s6;
      out[3 * os + r] = a * s24 + b * s12 + c * s6;
      out[4 * os + r] = a * s24 - b * s12 + c * s6;
      out[5 * os + r] = c;
    }
  }

  // A^T applied to 6 rows of n values: out[a][t] for a < 4 (rows never overlap, as in bt)
  static void at(const T* const m[6], T* const out[4], index_t n) {
    at_rows(m[0], m[1], m[2], m[3], m[4], m[5], out[0], out[1], out[2], out[3], n);
  }
  static void at_rows(const T* __restrict m0, const T* __restrict m1, const T* __restrict m2,
                      const T* __restrict m3, const T* __restrict m4, const T* __restrict m5,
                      T* __restrict o0, T* __restrict o1, T* __restrict o2, T* __restrict o3,
                      index_t n) {
    for (index_t t = 0; t < n; ++t) {
      const T p12 = m1[t] + m2[t], n12 = m1[t] - m2[t];
      const T p34 = m3[t] + m4[t], n34 = m3[t] - m4[t];
      o0[t] = m0[t] + p12 + p34;
      o1[t] = n12 + T(2) * n34;
      o2[t] = p12 + T(4) * p34;
      o3[t] = n12 + T(8) * n34 + m5[t];
    }
  }

  // A^T M A for n tiles: M's 36 rows of n values at m + xi * ms; e[a * 4 + b][t] (rows of
  // TB), with e[16 * TB...] as the scratch of the first pass (buffer of 2 x 36 x TB).
  static void untile(const T* m, index_t ms, index_t n, T* e) {
    T* d = e + 16 * TB;
    for (int j = 0; j < 6; ++j) {
      const T* in[6];
      T* out[4];
      for (int k = 0; k < 6; ++k) in[k] = m + (k * 6 + j) * ms;
      for (int a = 0; a < 4; ++a) out[a] = d + (a * 6 + j) * TB;
      at(in, out, n);
    }
    for (int a = 0; a < 4; ++a) {
      const T* in[6];
      T* out[4];
      for (int k = 0; k < 6; ++k) in[k] = d + (a * 6 + k) * TB;
      for (int b = 0; b < 4; ++b) out[b] = e + (a * 4 + b) * TB;
      at(in, out, n);
    }
  }

  // U[xi] = (G g G^T)[xi] for output channels [o0, o0 + rows) (rows <= R, the other lanes
  // zero) and the kernels p in [p_begin, p_end) of each, in memory order: p = c * kd + tap
  // over input channel c and depth tap (kd taps of a 3-D kernel; kd = 1 in 2-D), reduction
  // index k = tap * C + c. The R kernels of one p (a GEMM panel's worth of output channels)
  // are transformed together, the loops over r vectorised, straight into the GEMM's layout:
  // U[xi][r] for k at dst(k) + xi * xs + r.
  // Where the transform reads the weights: gather<R, KP>(g, o0, rows, pb, np, p_end) fills
  // g[j][q][r] with tap q of kernel pb + j of output channel o0 + r (zero for r >= rows).
  //
  // The conv's own weights (O x C x kd x 3 x 3). The R kernels of one p lie a weight row
  // apart, and rows of 9 x kd x C values are often a multiple of 2 KiB apart, so all R map to
  // a few L1 sets: a 9-value gather per kernel missed L1 on every load (70% of the transform
  // at C = 512). Each row's run of KP kernels (contiguous in memory) is read in order instead
  // and turned over into g[p][q][r], about 18 KiB (fp32) of L1.
  struct dense_weights {
    const T* w;
    index_t row;  // C x kd x 9
    template <int R, int KP>
    void gather(T (&g)[KP][9][R], index_t o0, index_t rows, index_t pb, int np,
                index_t p_end) const {
      using TI = panel_isa<R>;  // the register transpose: TW x TW blocks
      constexpr int TW = vec<T, TI>::width;
      const T* src = w + o0 * row + pb * 9;
      if (pb + 2 * KP <= p_end)  // each row's next run, while this one is worked on
        for (index_t r = 0; r < rows; ++r)
          for (int m = 0; m < 9 * KP; m += 64 / int(sizeof(T)))
            prefetch(src + r * row + 9 * KP + m);
      if (rows == R && np == KP && R % TW == 0 && 9 * KP % TW == 0) {
        for (int r = 0; r < R; r += TW)  // TW x TW blocks turned over in registers
          for (int m = 0; m < 9 * KP; m += TW)
            transpose_block<T, TI>(src + r * row + m, row, &g[0][0][r] + m * R, R);
        return;
      }
      for (int r = 0; r < R; ++r)
        for (int j = 0; j < np; ++j)
          for (int q = 0; q < 9; ++q) g[j][q][r] = r < rows ? src[r * row + j * 9 + q] : T(0);
    }
  };

  // A transposed conv's sub-pixel phase conv (kernels/subpixel.hpp) read in place from the
  // transposed conv's w (C x Y x ks: C = the phase conv's input channels): output channel
  // o = ph x Y + c, kernel p = i x kd + depth tap t, tap q reads w[i][c][at[(ph x kd + t) x 9
  // + q]] (-1: zero). The R kernels of one (p, phase) are R consecutive c: R x ks contiguous
  // values, turned over in registers like the conv's own weights.
  struct subpixel_weights {
    const T* w;
    index_t Y, ks, kd;
    const index_t* at;
    template <int R, int KP>
    void gather(T (&g)[KP][9][R], index_t o0, index_t rows, index_t pb, int np,
                index_t) const {
      using TI = panel_isa<R>;
      constexpr int TW = vec<T, TI>::width;
      const index_t ph = o0 / Y, c0 = o0 % Y;
      if (rows == R && c0 + R <= Y && kd == 1 && R % TW == 0 && ks % TW == 0 && ks <= 64) {
        T t[64][R];  // t[tap][r] of one input channel
        const index_t* a = at + ph * 9;
        for (int j = 0; j < np; ++j) {
          const T* src = w + ((pb + j) * Y + c0) * ks;
          for (int r = 0; r < R; r += TW)
            for (index_t m = 0; m < ks; m += TW)
              transpose_block<T, TI>(src + r * ks + m, ks, &t[m][r], R);
          for (int q = 0; q < 9; ++q) {
            if (a[q] < 0)
              for (int r = 0; r < R; ++r) g[j][q][r] = T(0);
            else
              for (int r = 0; r < R; ++r) g[j][q][r] = t[a[q]][r];
          }
        }
        return;
      }
      for (int r = 0; r < R; ++r) {
        // lanes past the panel's rows are zero, and their phase (o / Y) may lie past the tap
        // table: it is not read for them
        if (r >= rows) {
          for (int j = 0; j < np; ++j)
            for (int q = 0; q < 9; ++q) g[j][q][r] = T(0);
          continue;
        }
        const index_t o = o0 + r, c = o % Y;
        const index_t* a = at + (o / Y) * kd * 9;
        for (int j = 0; j < np; ++j) {
          const index_t i = (pb + j) / kd, dt = (pb + j) % kd;
          const T* src = w + (i * Y + c) * ks;
          for (int q = 0; q < 9; ++q) {
            const index_t off = a[dt * 9 + q];
            g[j][q][r] = off >= 0 ? src[off] : T(0);
          }
        }
      }
    }
  };

  template <int R, class Src, class Dst>
  static void transform_group(const Src& w, index_t C, index_t kd, index_t o0, index_t rows,
                              index_t p_begin, index_t p_end, const Dst& dst, index_t xs) {
    constexpr int KP = R >= 32 ? 16 : 512 / R;
    T g[KP][9][R], h[3][6][R];
    for (index_t pb = p_begin; pb < p_end; pb += KP) {
      const int np = p_end - pb < KP ? int(p_end - pb) : KP;
      w.template gather<R, KP>(g, o0, rows, pb, np, p_end);
      for (int j = 0; j < np; ++j) {
        const index_t p = pb + j;
        for (int i = 0; i < 3; ++i) g_apply<R>(g[j][i], g[j][3 + i], g[j][6 + i], h[i][0], R);
        T* u = dst(p % kd * C + p / kd);
        for (int i = 0; i < 6; ++i) g_apply<R>(h[0][i], h[1][i], h[2][i], u + 6 * i * xs, xs);
      }
    }
  }

  // ... into 36 matrices in the packed-A layout (ob x K each, asz elements apart): MR
  // contiguous values per panel and k. One work item per panel of output channels.
  template <class Src>
  static void transform_weights(const Src& w, index_t C, index_t kd, index_t o0, index_t ob,
                                T* upack, index_t asz) {
    const index_t K = kd * C;
    parallel_for_dynamic((ob + MR - 1) / MR, [&](index_t ip) {
      const index_t rows = ob - ip * MR < MR ? ob - ip * MR : MR;
      transform_group<MR>(w, C, kd, o0 + ip * MR, rows, 0, K,
                          [&](index_t k) { return upack + ip * MR * K + k * MR; }, asz);
    });
  }

  // ---- Weights transformed once (a plan's, ops/plan.hpp), read in place by the runs below.
  // A form (every run but run_few): per transform point xi, at xi * a_stride(s), the packed-A
  // layout of the C_out x (kd x C_in/groups) matrix, group after group (each group's rows
  // rounded up to MR). A block of output channels starting on a panel boundary is a pointer
  // offset into it, so the runs use the blocks they would have transformed themselves.
  // B form (run_few): per group and NR-wide column group of its output channels, the 36 B
  // panels (C_in/groups x NR each) that run_few transforms block by block.
  // The values are those the runs compute (the same transform, panel width and order), so a
  // plan's results are the plain call's, bit for bit.
  static index_t a_group(const ConvSpec& s) {
    return G::packed_a_size(s.cout_per_group(), s.k[0] * s.cin_per_group());
  }
  static index_t a_stride(const ConvSpec& s) {
    return apart(checked_mul(s.groups, a_group(s), "winograd weights"));
  }
  static index_t b_groups(const ConvSpec& s) { return (s.cout_per_group() + G::NR - 1) / G::NR; }
  static index_t b_panels(const ConvSpec& s) { return s.cin_per_group() * G::NR; }

  // Whether run() takes run_few for this spec (its weights in the B form).
  static bool few_form(const ConvSpec& s) {
    return s.planar() && s.C_in > 0 &&
           few_tiles(checked_mul(s.N, winograd_tiles_per_slice(s), "winograd tiles"));
  }

  // The A or B form of the weights read through w (dense_weights, subpixel_weights): its size
  // in elements with dst null, else written to dst.
  template <class Src>
  static index_t prepare(const ConvSpec& s, const Src& w, bool b_form, T* dst) {
    const index_t G_ = s.groups, cpg = s.cin_per_group(), opg = s.cout_per_group();
    const index_t kd = s.k[0];
    if (!b_form) {
      const index_t us = a_stride(s), ag = a_group(s);
      if (dst)
        for (index_t g = 0; g < G_; ++g)
          transform_weights(w, cpg, kd, g * opg, opg, dst + g * ag, us);
      return checked_mul(36, us, "winograd weights");
    }
    const index_t npg = b_groups(s), bp = b_panels(s);
    const index_t n = checked_mul(checked_mul(G_ * npg, 36, "winograd weights"), bp,
                                  "winograd weights");
    if (dst)
      parallel_for_dynamic(G_ * npg, [&](index_t item) {
        const index_t gi = item / npg, o0 = gi * opg + item % npg * G::NR;
        const index_t cols = gi * opg + opg - o0 < G::NR ? gi * opg + opg - o0 : G::NR;
        T* d = dst + item * 36 * bp;
        transform_group<G::NR>(w, cpg, 1, o0, cols, 0, cpg,
                               [&](index_t k) { return d + k * G::NR; }, bp);
      });
    return n;
  }

  // B of the 3-D GEMMs: row k = tap * C + c, column j = output tile (od0 + j / rw, r0 + j %
  // rw) of image n, reading V's column (id - id_lo) * rw + j % rw of channel c, where id =
  // od * stride + tap * dilation - pad is the input slice of that depth tap (zero outside).
  struct depth_b_packer {
    const T* v;  // V of one transform point: row c at v + c * ts
    index_t ts, C, rw, od0, id_lo, D, sd, dd, pd;
    void operator()(index_t k0, index_t kl, index_t n0, index_t n1, T* dst) const {
      index_t lane[G::NR + 1];
      for (index_t j0 = n0; j0 < n1; j0 += G::NR) {
        const index_t nl = n1 - j0 < G::NR ? n1 - j0 : G::NR;
        T* d = dst + ((j0 - n0) / G::NR) * G::NR * kl;
        index_t c = k0 % C, tap = k0 / C;
        if (sd == 1) {
          // column j reads V column (shift - id_lo) * rw + j, shift = od0 + tap * dd - pd:
          // one contiguous run per tap, zero where its input slice is outside the volume
          for (index_t k = 0; k < kl; ++k) {
            T* dk = d + k * G::NR;
            const index_t shift = od0 + tap * dd - pd;
            index_t ja = (shift < 0 ? -shift : 0) * rw, jb = D > shift ? (D - shift) * rw : 0;
            ja = ja < j0 ? j0 : ja > j0 + nl ? j0 + nl : ja;
            jb = jb > j0 + nl ? j0 + nl : jb < ja ? ja : jb;
            const index_t base = c * ts + (shift - id_lo) * rw;
            for (index_t j = j0; j < ja; ++j) dk[j - j0] = T(0);
            for (index_t j = ja; j < jb; ++j) dk[j - j0] = v[base + j];
            for (index_t j = jb - j0; j < G::NR; ++j) dk[j] = T(0);
            if (++c == C) {
              c = 0;
              ++tap;
            }
          }
          continue;
        }
        const index_t runs = segment_runs(j0, nl, rw, lane);
        for (index_t k = 0; k < kl; ++k) {
          T* dk = d + k * G::NR;
          for (index_t g = 0; g < runs; ++g) {
            const index_t j = j0 + lane[g], len = lane[g + 1] - lane[g];
            const index_t id = (od0 + j / rw) * sd + tap * dd - pd;
            if (id < 0 || id >= D) {
              for (index_t q = 0; q < len; ++q) dk[lane[g] + q] = T(0);
            } else {
              const T* src = v + c * ts + (id - id_lo) * rw + j % rw;
              for (index_t q = 0; q < len; ++q) dk[lane[g] + q] = src[q];
            }
          }
          for (index_t q = nl; q < G::NR; ++q) dk[q] = T(0);
          if (++c == C) {
            c = 0;
            ++tap;
          }
        }
      }
    }
  };

  // The tiles of a run of slices in column order: slice (a 2-D image; image x depth in 3-D,
  // n below), dilation phase (ry, rx), tile row, tile column. With dilation d the outputs
  // split into d x d phases (rows ry, ry + d, ...; only the first `out` phases when out < d)
  // and each phase is an undilated 3x3 conv over every d-th input row and column: tile (th,
  // tw) of phase (ry, rx) covers outputs (oy + d a, ox + d b), a, b < 4, and reads inputs
  // (oy + d i - pad, ox + d j - pad), i, j < 6, with oy = ry + 4 d th, ox = rx + 4 d tw.
  struct Tile {
    index_t dh, dw, PH, PW, TH, TW;  // dilation, phases, per-phase tile grid
    index_t n, ry, rx, th, tw;       // this tile
    Tile(const ConvSpec& s, index_t g)
        : dh(s.dil[1]), dw(s.dil[2]), PH(winograd_phases(s.out[1], dh)),
          PW(winograd_phases(s.out[2], dw)), TH(winograd_grid(s.out[1], dh)),
          TW(winograd_grid(s.out[2], dw)) {
      const index_t pt = TH * TW, pi = PH * PW * pt, ph = (g % pi) / pt;
      n = g / pi;
      ry = ph / PW;
      rx = ph % PW;
      th = (g % pt) / TW;
      tw = g % TW;
    }
    index_t oy() const { return ry + 4 * dh * th; }
    index_t ox() const { return rx + 4 * dw * tw; }
    // The tile's outputs inside an OH x OW slice: ar rows x bc columns (oy + dh a < OH, ox +
    // dw b < OW); false when none (a phase with fewer rows or columns than the grid).
    bool extent(index_t OH, index_t OW, int& ar, int& bc) const {
      if (oy() >= OH || ox() >= OW) return false;
      const index_t rows = dh == 1 ? OH - oy() : (OH - oy() + dh - 1) / dh;
      const index_t cols = dw == 1 ? OW - ox() : (OW - ox() + dw - 1) / dw;
      ar = rows < 4 ? int(rows) : 4;
      bc = cols < 4 ? int(cols) : 4;
      return true;
    }
    void next() {
      if (++tw < TW) return;
      tw = 0;
      if (++th < TH) return;
      th = 0;
      if (++rx < PW) return;
      rx = 0;
      if (++ry < PH) return;
      ry = 0;
      ++n;
    }
  };


  // The distance between two of the 36 matrices of U, V or M holding n elements: whole cache
  // lines plus one, since at a power-of-two distance the transforms' 36 streams all fall in
  // one L1 set (measured 3x slower).
  static index_t apart(index_t n) {
    const index_t line = 64 / index_t(sizeof(T));
    return G::round_up(n, line) + line;
  }

  // pre: the weights prepared by prepare() (the B form when few_form(s), else the A form), or
  // null: transformed on this call.
  static void run(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y,
                  const T* pre = nullptr) {
    if (s.groups > 1 && !few_form(s))
      run_grouped(s, x, w, bias, y, pre);
    else
      run_with(s, x, dense_weights{w, s.cin_per_group() * s.k[0] * 9}, bias, y, pre);
  }

  // Grouped 2-D convs (ResNeXt: 16..64 channels per group). Each work item is one group's
  // block of output channels over a run of tile chunks, on one worker from start to end: the
  // block's weights transformed into the worker's buffer, then per chunk of tiles the input
  // transform of the group's channels, the 36 GEMMs (block x C_in/groups x tiles) and the
  // output transform, all in that worker's cache. A group's weights are transformed once per
  // item: enough items for the threads come from the groups first, then from splitting the
  // chunks. Per worker: the block's U (under 4 MiB), V and M of a chunk (under 16 MiB).
  static void run_grouped(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y,
                          const T* pre) {
    const index_t g = s.groups, cpg = s.cin_per_group(), opg = s.cout_per_group();
    if (s.N == 0 || opg == 0 || s.out_size() == 0) return;
    const index_t ntiles = checked_mul(s.N, winograd_tiles_per_slice(s), "winograd tiles");
    const index_t Kc = cpg > 0 ? cpg : 1, sz = index_t(sizeof(T));
    const index_t umax = index_t(4) * 1024 * 1024 / sz / (36 * Kc);
    const index_t OB = umax >= opg ? opg : umax / MR * MR > MR ? umax / MR * MR : MR;
    const index_t nob = (opg + OB - 1) / OB;
    index_t tw = TB;  // tiles per chunk
    while (tw > 4 && 36 * (Kc + OB) * tw > index_t(16) * 1024 * 1024 / sz) tw /= 2;
    const index_t nchunks = (ntiles + tw - 1) / tw, want = 3 * index_t(get_num_threads());
    const index_t blocks = g * nob;
    const index_t split = blocks >= want ? 1 : (want + blocks - 1) / blocks;
    const index_t per = (nchunks + split - 1) / split;  // chunks per item
    const index_t parts = (nchunks + per - 1) / per;
    const index_t asz = apart(G::packed_a_size(OB, Kc)), vs = apart(Kc * tw), ms = apart(OB * tw);
    const dense_weights wsrc{w, cpg * 9};
    parallel_for_dynamic(checked_mul(blocks, parts, "winograd work items"), [&](index_t item) {
      const index_t b = item / parts, ch0 = (item % parts) * per;
      const index_t gi = b / nob, o0 = gi * opg + (b % nob) * OB;
      const index_t ob = gi * opg + opg - o0 < OB ? gi * opg + opg - o0 : OB;
      T* Vb = scratch(1, 36 * vs);
      T* Mb = scratch(2, 36 * ms);
      const T* up = pre ? pre + gi * a_group(s) + (o0 - gi * opg) * Kc : nullptr;
      if (!up) {
        T* u = scratch(0, 36 * asz);
        transform_weights(wsrc, cpg, 1, o0, ob, u, asz);  // (serial inside the item)
        up = u;
      }
      const index_t us = pre ? a_stride(s) : asz;
      for (index_t ch = ch0; ch < ch0 + per && ch < nchunks; ++ch) {
        const index_t t0 = ch * tw, nt = ntiles - t0 < tw ? ntiles - t0 : tw;
        one_worker_chunk(s, x, gi * cpg, gi * cpg + cpg, up, us, o0, ob, t0, nt, tw, Vb, vs, Mb,
                         ms, bias, y);
      }
    });
  }

  // The phase conv f of a transposed conv's sub-pixel form (kernels/subpixel.hpp), its
  // weights read from the transposed conv's w (C x Y x ks) through the tap table `at`.
  static void run_subpixel(const ConvSpec& f, const T* x, const T* w, const index_t* at,
                           index_t Y, index_t ks, const T* bias, T* z, const T* pre = nullptr) {
    run_with(f, x, subpixel_weights{w, Y, ks, f.k[0], at}, bias, z, pre);
  }

  template <class Src>
  static void run_with(const ConvSpec& s, const T* x, const Src& w, const T* bias, T* y,
                       const T* pre) {
    const index_t C = s.C_in, O = s.C_out, KD = s.k[0];
    if (s.N == 0 || O == 0 || s.out_size() == 0) return;
    // 2-D (or 3-D reading exactly one input slice at depth 0)
    const bool flat = s.planar();
    if (few_form(s)) {
      run_few(s, x, w, bias, y, s.N * winograd_tiles_per_slice(s), pre);
      return;
    }
    const index_t Cc = C > 0 ? C : 1, K = KD * Cc;
    // Output channels in blocks whose transformed weights (36 per kernel) stay under 12 MiB,
    // so they are still in the last-level cache when the GEMMs read them (512 x 512 weights
    // transformed whole are 38 MB: written to and re-read from memory, 2x slower).
    const index_t wmax = kWinogradCacheBytes / index_t(sizeof(T)) / (36 * K);
    index_t nob = wmax >= O ? 1 : (O + wmax - 1) / (wmax > MR ? wmax : MR);
    const index_t even = G::round_up((O + nob - 1) / nob, MR);  // blocks of equal size
    const index_t OB = even < O ? even : O;
    nob = (O + OB - 1) / OB;
    // The transformed weights of the block of output channels at o0: the plan's (pre), or
    // transformed into upack (once for all when there is one block).
    const index_t asz = pre ? a_stride(s) : apart(G::packed_a_size(OB, KD * C));
    T* upack = pre ? nullptr : scratch(0, checked_mul(36, asz, "winograd weights"));
    const auto block = [&](index_t o0, index_t ob) -> const T* {
      if (pre) return pre + o0 * K;
      transform_weights(w, C, KD, o0, ob, upack, asz);
      return upack;
    };
    // V and M of a chunk of tiles together at most 16 MiB
    const index_t budget = index_t(16) * 1024 * 1024 / index_t(sizeof(T)) / 36;
    if (flat) {
      run_2d(s, x, bias, y, block, asz, OB, nob, budget);
      return;
    }
    // 3-D: a chunk is whole output slices (or part of one) of one image; its V holds the
    // tiles of every input slice they read, transformed once per chunk.
    const index_t D = s.in[0], OD = s.out[0], T2 = winograd_tiles_per_slice(s);
    const index_t sd = s.stride[0], dd = s.dil[0], pd = s.pad_lo[0];
    const index_t reach = (KD - 1) * dd + 1;  // input slices one output slice reads
    // slices per chunk: V = C x ((odc - 1) sd + reach) x rw, M = OB x odc x rw
    index_t rw = T2, odc = 1;
    if (Cc * reach * T2 + OB * T2 <= budget) {
      const index_t per = T2 * (Cc * sd + OB), fixed = T2 * Cc * (reach - sd);
      odc = budget > fixed ? (budget - fixed) / per : 1;
      odc = odc < 1 ? 1 : odc > OD ? OD : odc;
    } else {
      rw = budget / (Cc * reach + OB) / TB * TB;
      rw = rw < TB ? TB : rw;
      rw = rw > T2 ? T2 : rw;
    }
    const index_t nv = ((odc - 1) * sd + reach) * rw, nm = odc * rw;
    const index_t vs = apart(Cc * nv), ms = apart(OB * nm);
    T* Vb = scratch(1, checked_mul(36, vs, "winograd input tiles"));
    T* Mb = scratch(2, checked_mul(36, ms, "winograd products"));
    const T* u1 = nob == 1 ? block(0, O) : nullptr;
    for (index_t n = 0; n < s.N; ++n)
      for (index_t od0 = 0; od0 < OD; od0 += odc) {
        const index_t od1 = od0 + odc < OD ? od0 + odc : OD;
        for (index_t r0 = 0; r0 < T2; r0 += rw) {
          const index_t cw = T2 - r0 < rw ? T2 - r0 : rw;  // tiles per slice in this chunk
          index_t id_lo = od0 * sd - pd, id_hi = (od1 - 1) * sd + (KD - 1) * dd - pd;
          id_lo = id_lo < 0 ? 0 : id_lo;
          id_hi = id_hi >= D ? D - 1 : id_hi;
          const index_t t0 = (n * OD + od0) * T2 + r0, nt = (od1 - od0) * cw;
          if (C > 0 && id_lo <= id_hi)
            over_channels(C, [&](index_t c0, index_t c1) {
              for (index_t id = id_lo; id <= id_hi; ++id)
                input_channels(s, x, c0, c1, (n * D + id) * T2 + r0, cw, nv, vs,
                               Vb + (id - id_lo) * cw);
            });
          const depth_b_packer pk{nullptr, nv, Cc, cw, od0, id_lo, D, sd, dd, pd};
          for (index_t o0 = 0; o0 < O; o0 += OB) {
            const index_t ob = O - o0 < OB ? O - o0 : OB;
            products(nob == 1 ? u1 : block(o0, ob), asz, ob, KD * C, nt, nm, Mb, ms, [&](index_t xi) {
              depth_b_packer p = pk;
              p.v = Vb + xi * vs;
              return p;
            });
            output_transform(s, o0, ob, t0, nt, nm, Mb, ms, bias, y);
          }
        }
      }
  }

  // Few tiles (N=1 deep layers: 16 tiles at 14x14): the GEMMs swap operands, tiles as the MR
  // rows and output channels as the NR columns (M^T = V^T U^T), so 16 tiles fill two whole
  // 8-row panels instead of half of a 32-column one; and the weights are transformed inside
  // the GEMM, a group of NR output channels and KB input channels at a time into a per-thread
  // block of 36 B panels that the microkernel uses at once. Each transformed weight is used by
  // only a few tiles here, so writing all of U to memory and reading it back (4x the weights)
  // would cost more than the products (measured 2x slower for 256 -> 256 at 14x14).
  static bool few_tiles(index_t ntiles) {
    return ntiles < G::NR && G::round_up(ntiles, MR) < G::round_up(ntiles, G::NR);
  }

  template <class Src>
  static void run_few(const ConvSpec& s, const T* x, const Src& w, const T* bias, T* y,
                      index_t ntiles, const T* pre) {
    constexpr int NR = int(G::NR);
    constexpr index_t KB = 64;  // input channels per transformed block (divides KC)
    // groups: V^T of each group is its own packed A (Tp x cpg, KC blocks within the group),
    // M^T is shared (rows of all C_out), each group writes its own columns
    const index_t C = s.C_in, O = s.C_out, Tp = G::round_up(ntiles, MR);
    const index_t cpg = s.cin_per_group(), opg = s.cout_per_group();
    const index_t as = apart(Tp * C), ms = apart(ntiles * O);
    T* Va = scratch(1, checked_mul(36, as, "winograd input tiles"));  // V^T, packed A
    T* Mb = scratch(2, checked_mul(36, ms, "winograd products"));     // M^T, rows of O
    // runs of channels (the transform places its tiles once per run), RC at a time through
    // a 36 x RC x NR buffer, then each channel's rows into the packed A, MR tiles per panel
    constexpr index_t RC = 16;
    const index_t vs = apart(RC * G::NR);
    over_channels(C, [&](index_t c0, index_t c1) {
      T* v = scratch(0, 36 * vs);
      for (index_t ca = c0; ca < c1; ca += RC) {
        const index_t cb = c1 - ca < RC ? c1 : ca + RC;
        input_channels(s, x, ca, cb, 0, ntiles, G::NR, vs, v, ca);
        for (index_t c = ca; c < cb; ++c) {
          const index_t cl = c % cpg, k0 = cl / G::KC * G::KC;
          const index_t kl = cpg - k0 < G::KC ? cpg - k0 : G::KC;
          for (int xi = 0; xi < 36; ++xi) {
            const T* src = v + xi * vs + (c - ca) * G::NR;
            T* d = Va + xi * as + (c - cl) * Tp + k0 * Tp + (cl - k0) * MR;
            for (index_t p = 0; p < Tp; p += MR, d += MR * kl)
              for (int l = 0; l < MR; ++l) d[l] = p + l < ntiles ? src[p + l] : T(0);
          }
        }
      }
    });
    const index_t npg = (opg + NR - 1) / NR;  // NR-wide column groups per group
    parallel_for_dynamic(s.groups * npg, [&](index_t item) {
      // bp[xi][k][lane], the 36 panels one line further apart than 8 KiB (stores that fell
      // in one L1 set)
      constexpr index_t BS = KB * NR + 64 / sizeof(T);
      T* bp = pre ? nullptr : scratch(0, 36 * BS);
      const index_t gi = item / npg, o0 = gi * opg + item % npg * NR;
      const index_t cols = gi * opg + opg - o0 < NR ? gi * opg + opg - o0 : NR;
      const T* Vg = Va + gi * cpg * Tp;
      // the 36 B panels of this block of input channels: the plan's, or transformed here
      const T* ub = pre ? pre + item * 36 * b_panels(s) : bp;
      const index_t ubs = pre ? b_panels(s) : BS;
      for (index_t k0 = 0; k0 < cpg; k0 += KB) {
        const index_t kb = cpg - k0 < KB ? cpg - k0 : KB;
        if (!pre)
          transform_group<NR>(w, cpg, 1, o0, cols, k0, k0 + kb,
                              [&](index_t k) { return bp + (k - k0) * NR; }, BS);
        const T* ubk = pre ? ub + k0 * NR : bp;
        const index_t K0 = k0 / G::KC * G::KC, kl = cpg - K0 < G::KC ? cpg - K0 : G::KC;
        const typename G::Store st{k0 == 0, false, nullptr, nullptr, Activation::none};
        for (int xi = 0; xi < 36; ++xi)
          for (index_t i = 0; i < ntiles; i += MR) {
            const T* a = Vg + xi * as + K0 * Tp + i * kl + (k0 - K0) * MR;
            T* c = Mb + xi * ms + i * O + o0;
            const index_t rows = ntiles - i < MR ? ntiles - i : MR;
            if (rows <= MR / 2)
              G::template micro<MR / 2>(kb, a, ubk + xi * ubs, c, O, 1, rows, cols, st);
            else
              G::micro(kb, a, ubk + xi * ubs, c, O, 1, rows, cols, st);
          }
      }
    });
    const index_t nch = (O + TB - 1) / TB;
    parallel_for_dynamic(ntiles * nch, [&](index_t item) {
      output_tile(s, item / nch, (item % nch) * TB, Mb, ms, bias, y);
    });
  }

  // y for one tile and output channels [oc0, oc0 + TB) from M^T (rows of C_out).
  static void output_tile(const ConvSpec& s, index_t t, index_t oc0, const T* Mb, index_t ms,
                          const T* bias, T* y) {
    const index_t O = s.C_out, nb = O - oc0 < TB ? O - oc0 : TB;
    T* e = scratch(3, 2 * 36 * TB);
    untile(Mb + t * O + oc0, ms, nb, e);
    const Tile tl(s, t);
    int ar, bc;
    if (!tl.extent(s.out[1], s.out[2], ar, bc)) return;
    finish(s.act, e, nb, bias ? bias + oc0 : nullptr, T(0));
    const index_t plane = s.out_size();
    T* at = y + spot(s, tl) + oc0 * plane;
    T* base[TB];
    signed char ars[TB], bcs[TB];
    for (index_t q = 0; q < nb; ++q) {
      base[q] = at + q * plane;
      ars[q] = static_cast<signed char>(ar);
      bcs[q] = static_cast<signed char>(bc);
    }
    scatter(s, e, nb, base, ars, bcs);
  }

  // Offset in y of tile tl's first output in output channel 0 (channel o adds o x OD x OH x OW).
  static index_t spot(const ConvSpec& s, const Tile& tl) {
    const index_t OD = s.out[0], OH = s.out[1], OW = s.out[2];
    return ((tl.n / OD * s.C_out * OD + tl.n % OD) * OH + tl.oy()) * OW + tl.ox();
  }

  // Bias and activation on the 16 rows of n untiled values: e[i * TB + l] += bias[l] (per
  // lane) or bv, then the activation (a loop per activation, so that each vectorises).
  static void finish(Activation act, T* e, index_t n, const T* bias, T bv) {
    auto rows = [&](auto f) {
      for (int i = 0; i < 16; ++i) {
        T* r = e + i * TB;
        if (bias)
          for (index_t l = 0; l < n; ++l) r[l] = f(r[l] + bias[l]);
        else
          for (index_t l = 0; l < n; ++l) r[l] = f(r[l] + bv);
      }
    };
    switch (act) {
      case Activation::none: rows([](T v) { return v; }); break;
      case Activation::relu: rows([](T v) { return apply_activation(Activation::relu, v); }); break;
      case Activation::relu6: rows([](T v) { return apply_activation(Activation::relu6, v); }); break;
      default: rows([act](T v) { return apply_activation(act, v); });
    }
  }

  // y from n untiled lanes (a tile or an output channel each): lane l's ar[l] x bc[l] outputs
  // e[(a * 4 + b) * TB + l] go to base[l] + a * dh * OW + b * dw. Runs of four lanes that are
  // whole tiles (with dw = 1) are turned over in registers, a tile row of four lanes at a time:
  // four 4-value stores instead of 16 scalar ones.
  static void scatter(const ConvSpec& s, const T* e, index_t n, T* const* base,
                      const signed char* ar, const signed char* bc) {
    const index_t rs = s.dil[1] * s.out[2], dw = s.dil[2];
    auto whole = [&](index_t l) { return ar[l] == 4 && bc[l] == 4; };
    index_t l = 0;
    while (l < n) {
      if (dw == 1 && l + 4 <= n && whole(l) && whole(l + 1) && whole(l + 2) && whole(l + 3)) {
        for (int a = 0; a < 4; ++a) {
          const T* src[4] = {e + (a * 4) * TB + l, e + (a * 4 + 1) * TB + l,
                             e + (a * 4 + 2) * TB + l, e + (a * 4 + 3) * TB + l};
          T* const dst[4] = {base[l] + a * rs, base[l + 1] + a * rs, base[l + 2] + a * rs,
                             base[l + 3] + a * rs};
          transpose4<T, ISA>(src, dst);
        }
        l += 4;
        continue;
      }
      for (int a = 0; a < ar[l]; ++a)
        for (int b = 0; b < bc[l]; ++b) base[l][a * rs + b * dw] = e[(a * 4 + b) * TB + l];
      ++l;
    }
  }

  // Tiles [t0, t0 + nt) (at most tw) of input channels [c0, c1) through all three phases on
  // the calling worker: the input transform into Vb, the 36 GEMMs with the transformed
  // weights u of output channels [o0, o0 + ob) into Mb, the output transform into y.
  static void one_worker_chunk(const ConvSpec& s, const T* x, index_t c0, index_t c1,
                               const T* u, index_t asz, index_t o0, index_t ob, index_t t0,
                               index_t nt, index_t tw, T* Vb, index_t vs, T* Mb, index_t ms,
                               const T* bias, T* y) {
    input_channels(s, x, c0, c1, t0, nt, tw, vs, Vb, c0);
    for (index_t xi = 0; xi < 36; ++xi)
      product(u + xi * asz, ob, c1 - c0, 0, ob, 0, nt, tw,
              typename G::matrix_b_packer{Vb + xi * vs, tw, 1}, Mb + xi * ms, tw);
    output_channels(s, o0, 0, ob, t0, nt, tw, Mb, ms, bias, y);
  }

  // block(o0, ob): the transformed weights of output channels [o0, o0 + ob) (run_with).
  template <class Block>
  static void run_2d(const ConvSpec& s, const T* x, const T* bias, T* y, const Block& block,
                     index_t asz, index_t OB, index_t nob, index_t budget) {
    const index_t C = s.C_in, O = s.C_out, Cc = C > 0 ? C : 1;
    const index_t ntiles = checked_mul(s.N, winograd_tiles_per_slice(s), "winograd tiles");
    // Many tiles and one block of output channels: each worker takes chunks of tw tiles
    // through all three phases on its own, with V and M of its chunk in its own cache
    // (measured 1.1-1.4x faster than the phases below for 64..256 channels), from three
    // chunks per thread (2 threads, 6-7 chunks: 1.2-1.3x at 128 channels (28x28 N=8, 72x72
    // N=1), 1.05x at 64, even at 256; at two chunks per thread the phases win at 64@56 N=1).
    // Otherwise (few tiles: N=1 deep layers; or several channel blocks, where every block
    // would transform the input again): three parallel phases over chunks of up to ts tiles,
    // the GEMMs split by point as well (1.5x faster at 512 channels).
    const index_t tw = 64, nchunks = (ntiles + tw - 1) / tw;
    if (nob == 1 && nchunks >= 3 * index_t(get_num_threads())) {
      const index_t vs = apart(Cc * tw), ms = apart(O * tw);
      const T* upack = block(0, O);
      parallel_for_dynamic(nchunks, [&](index_t ch) {
        const index_t t0 = ch * tw, nt = ntiles - t0 < tw ? ntiles - t0 : tw;
        T* Vb = scratch(1, 36 * vs);
        T* Mb = scratch(2, 36 * ms);
        one_worker_chunk(s, x, 0, C, upack, asz, 0, O, t0, nt, tw, Vb, vs, Mb, ms, bias, y);
      });
      return;
    }
    // tiles per chunk, a multiple of TB
    index_t ts = budget / (Cc + OB) / TB * TB;
    if (ts < TB) ts = TB;
    if (ts > G::round_up(ntiles, TB)) ts = G::round_up(ntiles, TB);
    const index_t vs = apart(Cc * ts), ms = apart(OB * ts);
    T* Vb = scratch(1, checked_mul(36, vs, "winograd input tiles"));
    T* Mb = scratch(2, checked_mul(36, ms, "winograd products"));
    const T* u1 = nob == 1 ? block(0, O) : nullptr;
    for (index_t t0 = 0; t0 < ntiles; t0 += ts) {
      const index_t nt = ntiles - t0 < ts ? ntiles - t0 : ts;
      if (C > 0)
        over_channels(C, [&](index_t c0, index_t c1) {
          input_channels(s, x, c0, c1, t0, nt, ts, vs, Vb);
        });
      for (index_t o0 = 0; o0 < O; o0 += OB) {
        const index_t ob = O - o0 < OB ? O - o0 : OB;
        products(nob == 1 ? u1 : block(o0, ob), asz, ob, C, nt, ts, Mb, ms, [&](index_t xi) {
          return typename G::matrix_b_packer{Vb + xi * vs, ts, 1};
        });
        output_transform(s, o0, ob, t0, nt, ts, Mb, ms, bias, y);
      }
    }
  }

  // f(c0, c1) over runs of the n channels, about four runs per thread (the transforms place
  // their tiles once per run).
  template <class F>
  static void over_channels(index_t n, const F& f) {
    const index_t want = 4 * static_cast<index_t>(get_num_threads());
    const index_t run = n > want ? (n + want - 1) / want : 1;
    parallel_for_dynamic((n + run - 1) / run, [&](index_t it) {
      const index_t a = it * run;
      f(a, a + run < n ? a + run : n);
    });
  }

  // V[xi][c][t] for input tiles [t0, t0 + nt) (global column: input slice x per-slice tile;
  // row length ts) and input channels [c0, c1). Each block of tiles is placed once for all of
  // the channels.
  static void input_channels(const ConvSpec& s, const T* x, index_t c0, index_t c1, index_t t0,
                             index_t nt, index_t ts, index_t vs, T* Vb, index_t vrow0 = 0) {
    const index_t C = s.C_in, D = s.in[0], H = s.in[1], W = s.in[2], plane = D * H * W;
    const index_t rs = s.dil[1] * W, dw = s.dil[2];
    T* d = scratch(3, 2 * 36 * TB);  // 36 x TB gathered tile values, then column-transformed
    T* e = d + 36 * TB;
    for (index_t b0 = 0; b0 < nt; b0 += TB) {
      const index_t nb = nt - b0 < TB ? nt - b0 : TB;
      // tile t reads rows [ilo, ihi) x columns [jlo, jhi) of its 6 x 6 inputs (the rest is
      // padding) from offset off[t] of input channel 0
      index_t off[TB];
      signed char ilo[TB], ihi[TB], jlo[TB], jhi[TB];
      Tile tl(s, t0 + b0);
      for (index_t t = 0; t < nb; ++t, tl.next()) {
        const index_t r0 = tl.oy() - s.pad_lo[1], q0 = tl.ox() - s.pad_lo[2];
        index_t lo, hi;
        valid_out_range(H, 6, 0, tl.dh, 1, -r0, &lo, &hi);
        ilo[t] = static_cast<signed char>(lo);
        ihi[t] = static_cast<signed char>(hi);
        valid_out_range(W, 6, 0, tl.dw, 1, -q0, &lo, &hi);
        jlo[t] = static_cast<signed char>(lo);
        jhi[t] = static_cast<signed char>(hi);
        off[t] = ((tl.n / D * C * D + tl.n % D) * H + r0) * W + q0;  // input slice tl.n
      }
      auto inside = [&](index_t t) {
        return ilo[t] == 0 && ihi[t] == 6 && jlo[t] == 0 && jhi[t] == 6;
      };
      for (index_t c = c0; c < c1; ++c) {
        const T* xc = x + c * plane;
        // Four tiles at a time, their 6 x 6 inputs turned over in registers (columns 0-3,
        // then 2-5) into d's columns t..t+3. A tile inside the plane (undilated along W) is
        // read in place; one that reaches into the padding, a dilated one, or a lane past
        // the last tile goes through a zero-padded 6 x 8 copy.
        alignas(64) T stage[4][6][8];
        for (index_t t = 0; t < nb; t += 4) {
          const T* p[4];
          index_t ps[4];
          for (int l = 0; l < 4; ++l) {
            const index_t u = t + l;
            if (u < nb && dw == 1 && inside(u)) {
              p[l] = xc + off[u];
              ps[l] = rs;
              continue;
            }
            T* g = &stage[l][0][0];
            for (int q = 0; q < 48; ++q) g[q] = T(0);
            if (u < nb && jlo[u] < jhi[u]) {
              // all six columns, each read at a valid one (a fixed count: no libc call for
              // a run of two to five values)
              for (int i = ilo[u]; i < ihi[u]; ++i)
                for (int j = 0; j < 6; ++j) {
                  const int jc = j < jlo[u] ? jlo[u] : j >= jhi[u] ? jhi[u] - 1 : j;
                  const T v = xc[off[u] + i * rs + jc * dw];  // (off < 0 at the top left)
                  g[i * 8 + j] = j == jc ? v : T(0);
                }
            }
            p[l] = g;
            ps[l] = 8;
          }
          for (int i = 0; i < 6; ++i)
            for (int j0 = 0; j0 <= 2; j0 += 2) {
              const T* src[4] = {p[0] + i * ps[0] + j0, p[1] + i * ps[1] + j0,
                                 p[2] + i * ps[2] + j0, p[3] + i * ps[3] + j0};
              T* const dst[4] = {d + (i * 6 + j0) * TB + t, d + (i * 6 + j0 + 1) * TB + t,
                                 d + (i * 6 + j0 + 2) * TB + t, d + (i * 6 + j0 + 3) * TB + t};
              transpose4<T, ISA>(src, dst);
            }
        }
        // columns: e[i][j] = sum_k BT[i][k] d[k][j]; then rows: V[i][j] = sum_k e[i][k] BT[j][k]
        for (int j = 0; j < 6; ++j) {
          const T* in[6];
          T* out[6];
          for (int k = 0; k < 6; ++k) {
            in[k] = d + (k * 6 + j) * TB;
            out[k] = e + (k * 6 + j) * TB;
          }
          bt(in, out, nb);
        }
        for (int i = 0; i < 6; ++i) {
          const T* in[6];
          T* out[6];
          for (int k = 0; k < 6; ++k) {
            in[k] = e + (i * 6 + k) * TB;
            out[k] = Vb + (i * 6 + k) * vs + (c - vrow0) * ts + b0;
          }
          bt(in, out, nb);
        }
      }
    }
  }

  // M[xi] (ob x nt, row length ts) = U[xi] B[xi] for the 36 points (B[xi] from packer(xi)),
  // one GEMM engine item each (transform point x column tile x row chunk), so that even a
  // few tiles keep every thread busy.
  template <class MakePacker>
  static void products(const T* upack, index_t asz, index_t ob, index_t K, index_t nt,
                       index_t ts, T* Mb, index_t ms, const MakePacker& packer) {
    const typename G::Split sp = G::split(ob, nt, 36, get_num_threads());
    const index_t per = sp.ntiles * sp.mchunks;
    parallel_for_dynamic(36 * per, [&](index_t item) {
      const index_t xi = item / per, t = (item % per) / sp.mchunks, mcn = item % sp.mchunks;
      const index_t n0 = t * sp.nc, n1 = n0 + sp.nc < nt ? n0 + sp.nc : nt;
      const index_t m0 = mcn * sp.mc, m1 = m0 + sp.mc < ob ? m0 + sp.mc : ob;
      product(upack + xi * asz, ob, K, m0, m1, n0, n1, sp.nc, packer(xi), Mb + xi * ms, ts);
    });
  }

  // One point's GEMM: rows [m0, m1) x columns [n0, n1) of M = U B (rows of M ts long).
  template <class PackB>
  static void product(const T* u, index_t ob, index_t K, index_t m0, index_t m1, index_t n0,
                      index_t n1, index_t nc, const PackB& pb, T* m, index_t ts) {
    const index_t kb = K < G::KC ? (K > 0 ? K : 1) : G::KC;
    T* bbuf = G::scratch(1, kb * G::round_up(nc, G::NR));
    G::run_block(u, ob, K, m0, m1, n0, n1, pb, bbuf, m + n0, ts, typename G::Cols{}, false,
                 nullptr, nullptr, Activation::none);
  }

  // y for output channels [o0, o0 + ob) and tiles [t0, t0 + nt), items: runs of output
  // channels (each item places its tiles once for all of its channels).
  static void output_transform(const ConvSpec& s, index_t o0, index_t ob, index_t t0,
                               index_t nt, index_t ts, const T* Mb, index_t ms, const T* bias,
                               T* y) {
    over_channels(ob, [&](index_t a, index_t b) {
      output_channels(s, o0, a, b, t0, nt, ts, Mb, ms, bias, y);
    });
  }

  // ... output channels o0 + [oa, ob) (M rows [oa, ob)).
  static void output_channels(const ConvSpec& s, index_t o0, index_t oa, index_t ob,
                              index_t t0, index_t nt, index_t ts, const T* Mb, index_t ms,
                              const T* bias, T* y) {
    T* e = scratch(3, 2 * 36 * TB);
    const index_t plane = s.out_size();
    for (index_t b0 = 0; b0 < nt; b0 += TB) {
      const index_t nb = nt - b0 < TB ? nt - b0 : TB;
      index_t off[TB];
      signed char ar[TB], bc[TB];
      Tile tl(s, t0 + b0);
      for (index_t t = 0; t < nb; ++t, tl.next()) {
        int a = 0, b = 0;
        tl.extent(s.out[1], s.out[2], a, b);
        ar[t] = static_cast<signed char>(a);
        bc[t] = static_cast<signed char>(b);
        off[t] = spot(s, tl);
      }
      for (index_t o = oa; o < ob; ++o) {
        untile(Mb + o * ts + b0, ms, nb, e);
        finish(s.act, e, nb, nullptr, bias ? bias[o0 + o] : T(0));
        T* yo = y + (o0 + o) * plane;
        T* base[TB];
        for (index_t t = 0; t < nb; ++t) base[t] = ar[t] > 0 ? yo + off[t] : yo;  // (none: unused)
        scatter(s, e, nb, base, ar, bc);
      }
    }
  }
};

}  // namespace kernels
}  // namespace convcore
