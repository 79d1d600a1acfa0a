// Packed GEMM: C = act(A B [+ C] + bias), register-blocked microkernel over cache-blocked,
// packed panels (the BLIS/GotoBLAS scheme), for float and double at every SIMD level.
//
//   A (M x K) is packed into MR-row panels over the whole reduction (panel-major: a panel's KC
//   blocks follow each other, so a run of panels is a pointer offset, whatever the block
//   sizes; a plan packs a conv's weights once and every engine reads them in place, see
//   ops/plan.hpp); B (K x N) is packed per tile of
//   columns (NC) and KC block into NR-column panels by a "B packer": a strided matrix for plain
//   GEMM, or the input of a convolution (kernels/im2col.hpp) - im2col fused into the packing,
//   so no im2col matrix is ever built. The microkernel keeps an MR x NR block of C in
//   registers (AVX2 fp32: 6 x 16 = 12 ymm accumulators) and applies the accumulate flag, the
//   bias (per row or per column) and the activation in its store step.
//
// Everything is a member of gemm_engine<T, ISA>: every symbol carries the ISA tag, so the
// instantiations compiled with different -m flags in the per-ISA translation units of the
// Python extension never collide (docs/architecture.md, "Runtime ISA dispatch").
//
// Workspace: packed A (round_up(M, MR) x K elements) on the calling thread and one packed B
// tile (KC x NC, at most 256 x 512 elements) per worker thread; or, in the shared-B mode
// (run_prepacked), the whole packed B on the calling thread and one A panel per worker. They live in per-thread scratch
// buffers that are kept for the next call (fresh pages cost a page fault each on first touch)
// and freed when the thread exits.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../core/activation.hpp"
#include "../core/checked.hpp"
#include "../core/parallel.hpp"
#include "../core/scratch.hpp"
#include "../core/simd.hpp"

namespace convcore {
namespace kernels {

// Splits columns [j, j + n) into runs that stay inside one segment of seg_len columns (one
// image of a folded batch): run r covers lanes [lane[r], lane[r + 1]) of the range, i.e.
// columns j + lane[r] onwards. lane needs room for n + 1 entries; returns the number of runs.
inline index_t segment_runs(index_t j, index_t n, index_t seg_len, index_t* lane) {
  index_t runs = 0;
  for (index_t q = 0; q < n; ++runs) {
    const index_t left = seg_len - (j + q) % seg_len;
    lane[runs] = q;
    q += n - q < left ? n - q : left;
  }
  lane[runs] = n;
  return runs;
}

// Copies len values of one row of B (src) to lanes [r, r + len) of that row in NR-column
// panels (d: the row's place in panel 0; lane r lives in panel r / NR, `panel` elements on).
// Whole panels go as fixed-width copies, which the compiler turns into vector moves.
template <class T, int NR>
inline void pack_row_run(const T* __restrict src, index_t len, T* __restrict d, index_t r,
                         index_t panel) {
  T* o = d + (r / NR) * panel;
  const index_t lane = r % NR;
  if (lane > 0) {
    const index_t m = len < NR - lane ? len : NR - lane;
    for (index_t j = 0; j < m; ++j) o[lane + j] = src[j];
    src += m;
    len -= m;
    o += panel;
  }
  for (; len >= NR; len -= NR, src += NR, o += panel)
    for (int j = 0; j < NR; ++j) o[j] = src[j];
  for (index_t j = 0; j < len; ++j) o[j] = src[j];
}

// Zeros lanes [n, round_up(n, NR)) of one packed row (d as in pack_row_run).
template <class T, int NR>
inline void pack_row_zero_tail(T* d, index_t n, index_t panel) {
  if (n % NR == 0) return;
  T* o = d + (n / NR) * panel;
  for (index_t l = n % NR; l < NR; ++l) o[l] = T(0);
}

// Packs rows [0, kl) x columns [0, n) of a row-major B (row stride rsb, contiguous columns)
// into NR-column panels (element (k, lane) of panel p at dst + p * NR * kl + k * NR; lanes past
// n are zero), row by row: each row is read once from start to end. Panel by panel instead,
// every panel touched kl rows (a 1x1 layer's channels, each a whole image apart) for NR values
// each, more streams than the prefetchers follow, and the packing waited on memory.
// (NR differs between the levels for a given T, which keeps the instantiations compiled with
// different -m flags apart, as with im2col.hpp's batched_b_packer.)
template <class T, int NR>
void pack_b_rows(const T* b, index_t rsb, index_t kl, index_t n, T* dst) {
  const index_t panel = NR * kl;
  for (index_t k = 0; k < kl; ++k) {
    pack_row_run<T, NR>(b + k * rsb, n, dst + k * NR, 0, panel);
    pack_row_zero_tail<T, NR>(dst + k * NR, n, panel);
  }
}

template <class T>
struct GemmArgs {
  index_t M = 0, N = 0, K = 0;
  const T* a = nullptr;  // A(i, k) = a[i * rsa + k * csa]
  index_t rsa = 0, csa = 1;
  const T* b = nullptr;  // B(k, j) = b[k * rsb + j * csb]
  index_t rsb = 0, csb = 1;
  T* c = nullptr;  // C(i, j) = c[i * ldc + j]
  index_t ldc = 0;
  // A already packed by gemm_engine::pack_a of the active level (a plan's), or null: packed
  // on the call
  const T* apack = nullptr;
  bool accumulate = false;      // C += A B instead of C = A B
  const T* bias_m = nullptr;    // added to row i (length M), or null
  const T* bias_n = nullptr;    // added to column j (length N), or null
  Activation act = Activation::none;
};

template <class T, class ISA>
struct gemm_engine {
  using V = vec<T, ISA>;
  static constexpr int W = V::width;
  static constexpr int NR = 2 * W;
  // MR x 2 accumulators + 2 B vectors + 1 broadcast fit the register file (16 xmm/ymm with
  // SSE2/AVX2, 32 zmm/NEON registers); 8 rows for the 32-register ISAs, because channel
  // counts are mostly multiples of 8.
  static constexpr int MR =
      ISA::level == IsaLevel::avx512 || ISA::level == IsaLevel::neon ? 8 : 6;
  static constexpr index_t KC = 256;
  // Rows of packed A walked per B micro-panel: about 256 KiB of A stays in L2.
  static constexpr index_t MC = ((256 * 1024 / (KC * sizeof(T))) / MR) * MR;
  static constexpr index_t NC_MAX = 512;

  static index_t round_up(index_t v, index_t m) { return (v + m - 1) / m * m; }

  // Per-thread scratch kept between calls. Slot 0: packed A (gemm(), the conv engine; calling
  // thread), slot 1: packed B tile (workers), slot 4: one A panel (run_block_raw_a, workers).
  // Slot 2 holds run_prepacked's whole packed B on the calling thread; callers that do not use
  // run_prepacked (winograd, the row path, the transposed engine) use slots 2 and 3 for their
  // own buffers.
  static T* scratch(int slot, index_t n) {
    return thread_scratch<T, gemm_engine, 5>::get(slot, n);
  }

  struct Store {
    bool first;  // overwrite C (no accumulation from an earlier K block or the caller)
    bool last;   // apply bias and activation
    const T* bias_m;
    const T* bias_n;
    Activation act;
  };

  static T finish_scalar(T v, const Store& st, index_t i, index_t j) {
    if (st.bias_m) v += st.bias_m[i];
    if (st.bias_n) v += st.bias_n[j];
    return apply_activation(st.act, v);
  }

  // C[0:rows, 0:cols] (+)= a_panel (kc x MR) * b_panel (kc x NR), then the store step.
  // (Reading row-major weights in place instead of packing them was tried: on N=1 deep layers,
  // where A streams from memory once, MR strided rows prefetch badly and alias in L1 at
  // power-of-two row lengths - 1.5-2x slower than packing first.)
  // RR < MR computes only the panel's first RR rows (rows <= RR), for a panel that is mostly
  // padding (Winograd's swapped GEMMs on 4 tiles).
  template <int RR = MR>
  static void micro(index_t kc, const T* a, const T* b, T* c, index_t ldc, index_t csc,
                    index_t rows, index_t cols, const Store& st) {
    static_assert(RR >= 1 && RR <= MR, "rows of a panel");
    V acc0[MR], acc1[MR];
    for (int i = 0; i < MR; ++i) {
      acc0[i] = V::zero();
      acc1[i] = V::zero();
    }
    // The C tile's lines, asked for now so that the store step after the reduction finds them
    // in L1: they are MR rows a whole C row apart, which the hardware prefetchers do not
    // foresee (standalone engine, 1024^3, 1 thread, medians of 9: +2.5% AVX-512, +1-16% AVX2).
    if (csc == 1)
      for (index_t i = 0; i < rows; ++i) {
        prefetch(c + i * ldc);
        prefetch(c + i * ldc + NR - 1);
      }
    for (index_t k = 0; k < kc; ++k) {
      const V b0 = V::load(b), b1 = V::load(b + W);
      for (int i = 0; i < RR; ++i) {
        const V ai = V::broadcast(a[i]);
        acc0[i] = fma(ai, b0, acc0[i]);
        acc1[i] = fma(ai, b1, acc1[i]);
      }
      a += MR;
      b += NR;
    }
    store(acc0, acc1, c, ldc, csc, rows, cols, st);
  }

  // The store step: C[0:rows, 0:cols] (+)= acc, then bias and activation on the last K block.
  static void store(const V* acc0, const V* acc1, T* c, index_t ldc, index_t csc, index_t rows,
                    index_t cols, const Store& st) {
    if (cols == NR && csc == 1) {  // whole rows: vector stores
      const bool lin = st.act == Activation::none || st.act == Activation::relu ||
                       st.act == Activation::relu6;
      for (index_t i = 0; i < rows; ++i) {
        T* cr = c + i * ldc;
        V r0 = acc0[i], r1 = acc1[i];
        if (!st.first) {
          r0 = r0 + V::load(cr);
          r1 = r1 + V::load(cr + W);
        }
        if (st.last) {
          if (st.bias_m) {
            const V bm = V::broadcast(st.bias_m[i]);
            r0 = r0 + bm;
            r1 = r1 + bm;
          }
          if (st.bias_n) {
            r0 = r0 + V::load(st.bias_n);
            r1 = r1 + V::load(st.bias_n + W);
          }
          if (st.act == Activation::relu || st.act == Activation::relu6) {
            r0 = max(r0, V::zero());
            r1 = max(r1, V::zero());
            if (st.act == Activation::relu6) {
              r0 = min(r0, V::broadcast(T(6)));
              r1 = min(r1, V::broadcast(T(6)));
            }
          }
        }
        r0.store(cr);
        r1.store(cr + W);
        if (st.last && !lin)
          for (int j = 0; j < NR; ++j) cr[j] = apply_activation(st.act, cr[j]);
      }
      return;
    }
    alignas(64) T tmp[MR * NR];
    for (int i = 0; i < MR; ++i) {
      acc0[i].store(tmp + i * NR);
      acc1[i].store(tmp + i * NR + W);
    }
    // C(i, j) at c[i * ldc + j * csc]; a transposed C (channels-last output: csc > ldc == 1)
    // is written column by column, MR contiguous values at a time.
    for (index_t j = 0; j < cols; ++j)
      for (index_t i = 0; i < rows; ++i) {
        T v = tmp[i * NR + j];
        T& out = c[i * ldc + j * csc];
        if (!st.first) v += out;
        out = st.last ? finish_scalar(v, st, i, j) : v;
      }
  }

  // Packed A: panel p (rows [p * MR, p * MR + MR)) at dst + p * MR * K, element (k, r) at
  // k * MR + r; the KC block at k0 of a panel starts at k0 * MR. Rows past M are zero. Rows
  // [i, ...) with i a multiple of MR are the packing of those rows alone, at dst + i * K.
  static index_t packed_a_size(index_t M, index_t K) { return round_up(M, MR) * (K > 0 ? K : 1); }
  static const T* a_panel(const T* apack, index_t K, index_t i, index_t k0) {
    return apack + (i / MR) * MR * K + k0 * MR;
  }

  // Panels are independent: a large A (deep layers: 512 x 4608 weights) is packed by every
  // thread; inside a parallel region (one pack per group) parallel_for runs serially.
  static void pack_a(const T* a, index_t rsa, index_t csa, index_t M, index_t K, T* dst) {
    const index_t np = round_up(M, MR) / MR;
    if (M * K >= 64 * 1024 && np > 1) {
      parallel_for(np, [&](index_t ip) { pack_a_panel(a, rsa, csa, M, K, ip, dst); });
    } else {
      for (index_t ip = 0; ip < np; ++ip) pack_a_panel(a, rsa, csa, M, K, ip, dst);
    }
  }

  static void pack_a_panel(const T* a, index_t rsa, index_t csa, index_t M, index_t K, index_t ip,
                           T* dst) {
    const index_t rows = M - ip * MR < MR ? M - ip * MR : MR;
    pack_a_block(a + ip * MR * rsa, rsa, csa, rows, K, dst + ip * MR * K);
  }

  // One panel: rows [0, rows) x columns [0, kl) of A into d (element (k, r) at k * MR + r; rows
  // past `rows` are zero).
  static void pack_a_block(const T* src, index_t rsa, index_t csa, index_t rows, index_t kl,
                           T* d) {
    if (rows == MR && csa == 1) {
      // full panel of row-major A (the weights): a compile-time row count lets the compiler
      // unroll the MR streams
      for (index_t k = 0; k < kl; ++k)
        for (int r = 0; r < MR; ++r) d[k * MR + r] = src[r * rsa + k];
      return;
    }
    // k outer, rows inner: MR neighbouring lines either way (row- or column-major A)
    for (index_t k = 0; k < kl; ++k) {
      for (index_t r = 0; r < rows; ++r) d[k * MR + r] = src[r * rsa + k * csa];
      for (index_t r = rows; r < MR; ++r) d[k * MR + r] = T(0);
    }
  }

  // Packed B tile of columns [n0, n1) for the KC block (k0, kl): panels of NR columns at
  // dst + panel * NR * kl, element (k, lane) at k * NR + lane; lanes past n1 are zero.
  struct matrix_b_packer {
    const T* b;
    index_t rsb, csb;
    void operator()(index_t k0, index_t kl, index_t n0, index_t n1, T* dst) const {
      if (csb == 1) {
        pack_b_rows<T, NR>(b + k0 * rsb + n0, rsb, kl, n1 - n0, dst);
        return;
      }
      for (index_t j0 = n0; j0 < n1; j0 += NR) {
        const index_t nl = n1 - j0 < NR ? n1 - j0 : NR;
        T* d = dst + ((j0 - n0) / NR) * NR * kl;
        for (index_t k = 0; k < kl; ++k) {
          const T* src = b + (k0 + k) * rsb + j0 * csb;
          T* dk = d + k * NR;
          for (index_t j = 0; j < nl; ++j) dk[j] = src[j * csb];
          for (index_t j = nl; j < NR; ++j) dk[j] = T(0);
        }
      }
    }
  };

  // Where column j of C lives: c + j * csc, or, with segments (seg_len > 0: the images of a
  // batch folded into the columns, so small images fill whole tiles), c + (j / seg_len) *
  // seg_stride + (j % seg_len) * csc. Columns are counted from the first column of C.
  struct Cols {
    index_t csc = 1, seg_len = 0, seg_stride = 0;
    index_t offset(index_t j) const {
      return seg_len > 0 ? (j / seg_len) * seg_stride + (j % seg_len) * csc : j * csc;
    }
  };

  // One work item: C[m0:m1, n0:n1] from A (all of K) and B packed here, tile by tile.
  // m0 is a multiple of MR; C(i, j) = c[i * ldc + cols.offset(j) - cols.offset(n0)]: c points
  // at column n0; bias_m/bias_n indexed by i/j.
  template <class PackB>
  // (M, the rows of A, is not needed: panels are addressed by row, gemm.hpp's packed layout)
  static void run_block(const T* apack, index_t /*M*/, index_t K, index_t m0, index_t m1,
                        index_t n0, index_t n1, const PackB& packb, T* bbuf, T* c, index_t ldc,
                        const Cols& cols, bool accumulate, const T* bias_m, const T* bias_n,
                        Activation act) {
    run_block_impl(apack, K, m0, m1, n0, n1,
                   [&](index_t k0, index_t kl) -> const T* {
                     packb(k0, kl, n0, n1, bbuf);
                     return bbuf;
                   },
                   c, ldc, cols, accumulate, bias_m, bias_n, act);
  }

  // The same with B already packed for the whole reduction: the KC block at k0 of this tile
  // starts at bpre + k0 * round_up(n1 - n0, NR) (the layout of pack_b_full).
  static void run_block_prepacked(const T* apack, index_t /*M*/, index_t K, index_t m0, index_t m1,
                                  index_t n0, index_t n1, const T* bpre, T* c, index_t ldc,
                                  const Cols& cols, bool accumulate, const T* bias_m,
                                  const T* bias_n, Activation act) {
    const index_t np = round_up(n1 - n0, NR);
    run_block_impl(apack, K, m0, m1, n0, n1,
                   [&](index_t k0, index_t) -> const T* { return bpre + k0 * np; }, c, ldc, cols,
                   accumulate, bias_m, bias_n, act);
  }

  // The same from a row-major A read in place (A(i, k) = a[i * lda + k]): each MR x KC panel
  // is packed into an L1-sized buffer right before its micro-tiles use it, rows outer, so it
  // is packed once per item. For items that cover every column (few-pixel layers: N=1 at 7x7
  // or 14x14) each element of A is used once anyway, and packing all of A first wrote and
  // re-read a deep layer's 9 MB of weights through memory for nothing.
  static void run_block_raw_a(const T* a, index_t lda, index_t K, index_t m0, index_t m1,
                              index_t n0, index_t n1, const T* bpre, T* c, index_t ldc,
                              const Cols& cl, bool accumulate, const T* bias_m, const T* bias_n,
                              Activation act) {
    const index_t np = round_up(n1 - n0, NR);
    T* abuf = scratch(4, MR * KC);
    const index_t base = cl.offset(n0);
    index_t k0 = 0;
    do {
      const index_t kl = K - k0 < KC ? K - k0 : KC;
      const T* bblk = bpre + k0 * np;
      Store st{k0 == 0 && !accumulate, k0 + kl >= K, nullptr, nullptr, act};
      for (index_t i = m0; i < m1; i += MR) {
        const index_t rows = m1 - i < MR ? m1 - i : MR;
        pack_a_block(a + i * lda + k0, lda, 1, rows, kl, abuf);
        st.bias_m = bias_m ? bias_m + i : nullptr;
        for (index_t j = n0; j < n1; j += NR) {
          const index_t cols = n1 - j < NR ? n1 - j : NR;
          st.bias_n = bias_n ? bias_n + j : nullptr;
          micro_cols(kl, abuf, bblk + ((j - n0) / NR) * NR * kl, c + i * ldc, ldc, cl, base, j,
                     rows, cols, st);
        }
      }
      k0 += kl;
    } while (k0 < K);
  }

  // c points at column n0 (base = cl.offset(n0)); this micro-tile starts at column j.
  static void micro_cols(index_t kc, const T* a, const T* b, T* c, index_t ldc,
                         const Cols& cl, index_t base, index_t j, index_t rows, index_t cols,
                         const Store& st) {
    const index_t o0 = cl.offset(j) - base;
    if (cl.seg_len == 0 || j / cl.seg_len == (j + cols - 1) / cl.seg_len) {
      micro(kc, a, b, c + o0, ldc, cl.csc, rows, cols, st);
      return;
    }
    // the micro-tile straddles images: through a small tile, gathered and scattered one
    // contiguous run of columns (one image's part) at a time
    alignas(64) T tmp[MR * NR];
    index_t lane[NR + 1], dst[NR];
    const index_t ns = segment_runs(j, cols, cl.seg_len, lane);
    for (index_t g = 0; g < ns; ++g) dst[g] = cl.offset(j + lane[g]) - base;
    if (!st.first)
      for (index_t i = 0; i < rows; ++i)
        for (index_t g = 0; g < ns; ++g) {
          const T* src = c + i * ldc + dst[g];
          for (index_t q = lane[g]; q < lane[g + 1]; ++q)
            tmp[i * NR + q] = src[(q - lane[g]) * cl.csc];
        }
    micro(kc, a, b, tmp, NR, 1, rows, cols, st);
    for (index_t i = 0; i < rows; ++i)
      for (index_t g = 0; g < ns; ++g) {
        T* out = c + i * ldc + dst[g];
        for (index_t q = lane[g]; q < lane[g + 1]; ++q)
          out[(q - lane[g]) * cl.csc] = tmp[i * NR + q];
      }
  }

  template <class GetB>
  static void run_block_impl(const T* apack, index_t K, index_t m0, index_t m1,
                             index_t n0, index_t n1, const GetB& getb, T* c, index_t ldc,
                             const Cols& cl, bool accumulate, const T* bias_m, const T* bias_n,
                             Activation act) {
    const index_t base = cl.offset(n0);
    index_t k0 = 0;
    do {
      const index_t kl = K - k0 < KC ? K - k0 : KC;
      const T* bbuf = getb(k0, kl);
      Store st{k0 == 0 && !accumulate, k0 + kl >= K, nullptr, nullptr, act};
      for (index_t mc0 = m0; mc0 < m1; mc0 += MC) {
        const index_t mc1 = mc0 + MC < m1 ? mc0 + MC : m1;
        for (index_t j = n0; j < n1; j += NR) {
          const T* bp = bbuf + ((j - n0) / NR) * NR * kl;
          const index_t cols = n1 - j < NR ? n1 - j : NR;
          st.bias_n = bias_n ? bias_n + j : nullptr;
          for (index_t i = mc0; i < mc1; i += MR) {
            st.bias_m = bias_m ? bias_m + i : nullptr;
            const index_t rows = mc1 - i < MR ? mc1 - i : MR;
            micro_cols(kl, a_panel(apack, K, i, k0), bp, c + i * ldc, ldc, cl, base, j, rows,
                       cols, st);
          }
        }
      }
      k0 += kl;
    } while (k0 < K);
  }

  // Splits [0, M) x [0, N) into items: column tiles of at most NC_MAX and, when there are too
  // few tiles for the threads, row chunks too (multiples of MR), so N=1 problems use every core.
  struct Split {
    index_t nc, ntiles, mc, mchunks;
  };
  static Split split(index_t M, index_t N, index_t outer, int threads) {
    Split s;
    const index_t want = 4 * static_cast<index_t>(threads);  // items per call, for balance
    s.nc = N < NC_MAX ? round_up(N, NR) : NC_MAX;
    // Narrower column tiles first: each column is still packed once, and packed A is shared.
    // Row chunks come second: every chunk packs its tile of B again.
    while (outer * ((N + s.nc - 1) / s.nc) < want && s.nc > 2 * NR) s.nc = round_up(s.nc / 2, NR);
    s.ntiles = (N + s.nc - 1) / s.nc;
    const index_t have = outer * s.ntiles;
    const index_t Mp = round_up(M, MR);
    s.mchunks = 1;
    if (have < want) {
      index_t ch = (want + have - 1) / have;
      const index_t max_ch = Mp / (4 * MR) > 0 ? Mp / (4 * MR) : 1;  // keep >= 4 panels each
      s.mchunks = ch < max_ch ? ch : max_ch;
    }
    s.mc = round_up((Mp + s.mchunks - 1) / s.mchunks, MR);
    s.mchunks = (M + s.mc - 1) / s.mc;
    if (s.mchunks < 1) s.mchunks = 1;
    return s;
  }

  // Pre-packed mode, for GEMMs with few columns and many rows (N=1 layers at 14x14 or 7x7 with
  // hundreds of channels): the tile split would give every row chunk its own copy of a B tile
  // to pack (for a conv, the whole im2col gather done twice or more), so instead all threads
  // pack B once for the whole reduction (items: tile x KC block), then all threads share it
  // (items: tile x row chunk, as many as balance wants, at no extra packing). Workspace: B
  // rounded up to NR columns, at most PREPACK_MAX elements (16 MiB fp32), on the calling
  // thread (scratch slot 2). Returns false, doing nothing, when B is larger than that.
  static constexpr index_t PREPACK_MAX = index_t(4) * 1024 * 1024;

  static bool prepack_fits(index_t K, index_t N) {
    return K > 0 && N > 0 && K <= PREPACK_MAX / round_up(N, NR);
  }

  template <class PackB>
  // apack: A packed by pack_a, or null with a_raw: a row-major A (leading dimension lda) that
  // is packed panel by panel as the items use it (run_block_raw_a).
  static bool run_prepacked(const T* apack, index_t M, index_t K, index_t N, const PackB& packb,
                            T* c, index_t ldc, const Cols& cols, bool accumulate, const T* bias_m,
                            const T* bias_n, Activation act, const T* a_raw = nullptr,
                            index_t lda = 0) {
    if (M <= 0 || !prepack_fits(K, N)) return false;
    const index_t nc = N < NC_MAX ? round_up(N, NR) : NC_MAX;
    const index_t ntiles = (N + nc - 1) / nc, nkb = (K + KC - 1) / KC;
    T* bfull = scratch(2, ntiles * nc * K);
    parallel_for_dynamic(ntiles * nkb, [&](index_t item) {
      const index_t t = item / nkb, k0 = (item % nkb) * KC;
      const index_t kl = K - k0 < KC ? K - k0 : KC;
      const index_t n0 = t * nc, n1 = n0 + nc < N ? n0 + nc : N;
      packb(k0, kl, n0, n1, bfull + t * nc * K + k0 * round_up(n1 - n0, NR));
    });
    const index_t want = 4 * static_cast<index_t>(get_num_threads());
    const index_t Mp = round_up(M, MR);
    index_t ch = (want + ntiles - 1) / ntiles;
    const index_t max_ch = Mp / (2 * MR) > 0 ? Mp / (2 * MR) : 1;  // >= 2 panels per chunk
    if (ch > max_ch) ch = max_ch;
    const index_t mc = round_up((Mp + ch - 1) / ch, MR), mchunks = (M + mc - 1) / mc;
    parallel_for_dynamic(ntiles * mchunks, [&](index_t item) {
      const index_t t = item / mchunks, mcn = item % mchunks;
      const index_t n0 = t * nc, n1 = n0 + nc < N ? n0 + nc : N;
      const index_t m0 = mcn * mc, m1 = m0 + mc < M ? m0 + mc : M;
      if (apack)
        run_block_prepacked(apack, M, K, m0, m1, n0, n1, bfull + t * nc * K, c + cols.offset(n0),
                            ldc, cols, accumulate, bias_m, bias_n, act);
      else
        run_block_raw_a(a_raw, lda, K, m0, m1, n0, n1, bfull + t * nc * K, c + cols.offset(n0),
                        ldc, cols, accumulate, bias_m, bias_n, act);
    });
    return true;
  }

  static void gemm(const GemmArgs<T>& g) {
    if (g.M <= 0 || g.N <= 0) return;
    const T* apack = g.apack;
    if (!apack) {
      T* buf = scratch(0, packed_a_size(g.M, g.K));
      pack_a(g.a, g.rsa, g.csa, g.M, g.K, buf);
      apack = buf;
    }
    const Split sp = split(g.M, g.N, 1, get_num_threads());
    const matrix_b_packer pb{g.b, g.rsb, g.csb};
    if (sp.mchunks > 1 && run_prepacked(apack, g.M, g.K, g.N, pb, g.c, g.ldc, Cols{}, g.accumulate,
                                        g.bias_m, g.bias_n, g.act))
      return;
    const index_t kb = g.K < KC ? (g.K > 0 ? g.K : 1) : KC;
    parallel_for_dynamic(sp.ntiles * sp.mchunks, [&](index_t item) {
      const index_t t = item / sp.mchunks, mcn = item % sp.mchunks;
      const index_t n0 = t * sp.nc, n1 = n0 + sp.nc < g.N ? n0 + sp.nc : g.N;
      const index_t m0 = mcn * sp.mc, m1 = m0 + sp.mc < g.M ? m0 + sp.mc : g.M;
      T* bbuf = scratch(1, kb * round_up(sp.nc, NR));
      run_block(apack, g.M, g.K, m0, m1, n0, n1, pb, bbuf, g.c + n0, g.ldc, Cols{}, g.accumulate, g.bias_m,
                g.bias_n, g.act);
    });
  }
};

}  // namespace kernels
}  // namespace convcore
