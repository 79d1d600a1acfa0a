// Convolution through the packed GEMM (kernels/gemm.hpp): per image and group,
//   Y_g (C_out/g x P) = act(W_g (C_out/g x K) * X_g (K x P) + bias),   K = C_in/g * kernel size,
// where column p of X_g holds the input taps that output pixel p sees (im2col). X_g is never
// built: the B packer reads the taps straight from the input into the packed panels of one tile
// of output pixels and one KC block at a time, writing zeros for padding. A 1x1 stride-1 conv
// packs the input planes as they are (no im2col at all). 1-D, 2-D and 3-D are the same code
// (the spec widens every conv to 3 spatial dims).
//
// Work items are (image, group, pixel tile, row chunk), run in parallel: grouped convs
// (ResNeXt g=32) spread their groups over the threads instead of running one small GEMM after
// another, and a single image with few pixels is split over output channels too. Images with
// fewer pixels than a column tile are folded into one column space (run_packed).
//
// Workspace (kept per thread for reuse, see gemm.hpp): the packed weights (about the size of w,
// rows rounded up to the microkernel height) and one KC x NC tile per thread (at most
// 256 x 512 elements: 512 KiB in float32); with stride 2 along W, a row-split copy of the
// input when it holds at most 4 Mi elements (16 MiB fp32). Whatever the image size, below the
// 64 MB bound.
//
// Zero padding with the kernel unflipped: ops/conv.hpp materialises the other padding modes and
// flips beforehand. Both layouts: channels-last input is packed with its strides and the output
// tile is stored transposed, so no layout copy is made.
#pragma once
#include "../core/geometry.hpp"
#include "../core/spec.hpp"
#include "gemm.hpp"

namespace convcore {
namespace kernels {

// B(k, q) = b[(q / P) * img + k * rsb + q % P]: a row-major K x P matrix per image, the images
// of a batch side by side in the columns (P = 0: one image, B(k, q) = b[k * rsb + q]). Packed
// into NR-column panels like gemm.hpp's pack_b_rows, row by row, each row of B one contiguous
// run per image of the tile. (Panel by panel, a tile of 1x1 layers at 14x14 read every
// channel row 16 or 32 values at a time and waited on memory: 14% of such a layer.)
template <class T, int NR>
struct batched_b_packer {
  const T* x;
  index_t rsb, img, P;
  void operator()(index_t k0, index_t kl, index_t n0, index_t n1, T* dst) const {
    if (n1 > n0 && (P == 0 || n0 / P == (n1 - 1) / P)) {
      // the tile lies in one image: whole rows
      const index_t im = P > 0 ? n0 / P : 0;
      pack_b_rows<T, NR>(x + im * img + (n0 - im * P) + k0 * rsb, rsb, kl, n1 - n0, dst);
      return;
    }
    const index_t panel = NR * kl;
    for (index_t kk = 0; kk < kl; ++kk) {
      const T* xk = x + (k0 + kk) * rsb;
      T* d = dst + kk * NR;
      for (index_t q = n0; q < n1;) {
        const index_t im = q / P, p = q - im * P;
        const index_t len = n1 - q < P - p ? n1 - q : P - p;
        pack_row_run<T, NR>(xk + im * img + p, len, d, q - n0, panel);
        q += len;
      }
      pack_row_zero_tail<T, NR>(d, n1 - n0, panel);
    }
  }
};

template <class T, class ISA>
struct conv_gemm_engine {
  using G = gemm_engine<T, ISA>;
  static constexpr int NR = G::NR;
  using batched_b_packer = kernels::batched_b_packer<T, NR>;

  // 1x1, stride 1, no padding: output pixel p reads input pixel p of every channel.
  static bool pointwise(const ConvSpec& sp) {
    for (int d = 0; d < 3; ++d)
      if (sp.k[d] != 1 || sp.stride[d] != 1 || sp.pad_lo[d] != 0 || sp.out[d] != sp.in[d])
        return false;
    return true;
  }

  // Packs columns [n0, n1) x rows [k0, k0 + kl) of X_g. Column q is output pixel q % P of
  // image q / P (images img elements apart in x): a batch of small images folded into the
  // columns fills whole tiles (P = 0: a single image, q is the pixel).
  struct im2col_packer {
    const ConvSpec* s;
    const T* x;   // first input channel of the group, in the first image
    index_t cs;   // channel stride: in_size (channels-first) or 1 (channels-last)
    index_t es;   // spatial element stride: 1 or C_in
    index_t img = 0, P = 0;
    // > 0: x is a copy whose rows hold the even columns first and the odd ones from `half`
    // (stride 2 along W, channels-first: run_packed), so every run is read contiguously
    index_t half = 0;
    void operator()(index_t k0, index_t kl, index_t n0, index_t n1, T* dst) const {
      const ConvSpec& sp = *s;
      if (es == 1 && pointwise(sp)) {
        // B(k, q) = x[image + k * cs + pixel]: whole NR-wide runs, no per-row segments (1x1
        // layers at 14x14 cut every row of B into 14-element copies otherwise)
        batched_b_packer{x, cs, img, P}(k0, kl, n0, n1, dst);
        return;
      }
      const index_t ks = sp.k_size(), k12 = sp.k[1] * sp.k[2];
      const index_t OW = sp.out[2], O1 = sp.out[1], s2 = half > 0 ? 1 : sp.stride[2] * es;
      const index_t panel = NR * kl;
      for (index_t kk = 0; kk < kl; ++kk) {
        const index_t k = k0 + kk, c = k / ks, t = k % ks;
        const index_t t0 = t / k12, t1 = (t / sp.k[2]) % sp.k[1], t2 = t % sp.k[2];
        index_t lo2, hi2;
        valid_out_range(sp.in[2], OW, t2, sp.stride[2], sp.dil[2], sp.pad_lo[2], &lo2, &hi2);
        const index_t off2 = (t2 * sp.dil[2] - sp.pad_lo[2]) * es;
        T* d = dst + kk * NR;
        index_t lane = 0;
        auto zeros = [&](index_t n) {
          while (n > 0) {
            const index_t m = n < NR - lane ? n : NR - lane;
            for (index_t j = 0; j < m; ++j) d[lane + j] = T(0);
            lane += m;
            n -= m;
            if (lane == NR) {
              lane = 0;
              d += panel;
            }
          }
        };
        auto copy = [&](const T* src, index_t n) {
          while (n > 0) {
            const index_t m = n < NR - lane ? n : NR - lane;
            if (s2 == 1) {
              for (index_t j = 0; j < m; ++j) d[lane + j] = src[j];
            } else {
              for (index_t j = 0; j < m; ++j) d[lane + j] = src[j * s2];
            }
            src += m * s2;
            lane += m;
            n -= m;
            if (lane == NR) {
              lane = 0;
              d += panel;
            }
          }
        };
        index_t q = n0;
        while (q < n1) {
          // one output row (or the part of it in [n0, n1)) of one image at a time
          const index_t im = P > 0 ? q / P : 0, p = q - im * P;
          const index_t r = p / OW, a = p - r * OW;
          const index_t b = n1 - q < OW - a ? a + (n1 - q) : OW;
          const index_t o0 = r / O1, o1 = r - o0 * O1;
          const index_t i0 = conv_in_index(o0, t0, sp.stride[0], sp.dil[0], sp.pad_lo[0]);
          const index_t i1 = conv_in_index(o1, t1, sp.stride[1], sp.dil[1], sp.pad_lo[1]);
          if (i0 < 0 || i0 >= sp.in[0] || i1 < 0 || i1 >= sp.in[1] || hi2 <= lo2) {
            zeros(b - a);
          } else {
            const index_t v0 = lo2 < a ? a : (lo2 > b ? b : lo2);
            const index_t v1 = hi2 < v0 ? v0 : (hi2 > b ? b : hi2);
            zeros(v0 - a);
            if (v1 > v0) {
              const T* row = x + im * img + c * cs + (i0 * sp.in[1] + i1) * sp.in[2] * es;
              const index_t col = v0 * sp.stride[2] * es + off2;
              copy(half > 0 ? row + (col & 1 ? half : 0) + col / 2 : row + col, v1 - v0);
            }
            zeros(b - v1);
          }
          q += b - a;
        }
        if (lane != 0) zeros(NR - lane);
      }
    }
  };

  // pre: the weights packed by pack() (a plan's, ops/plan.hpp), or null: packed on this call.
  static void run(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y,
                  const T* pre = nullptr);

  // The weights as every path of this engine reads them: per group, the C_out/groups x K
  // matrix packed into MR-row panels (gemm.hpp), packed_size(s) elements in all.
  static index_t packed_size(const ConvSpec& s) {
    return checked_mul(s.groups, G::packed_a_size(s.cout_per_group(),
                                                  s.cin_per_group() * s.k_size()),
                       "packed weights");
  }
  static void pack(const ConvSpec& s, const T* w, T* dst) {
    const index_t opg = s.cout_per_group(), K = s.cin_per_group() * s.k_size();
    const index_t asz = G::packed_a_size(opg, K);
    if (s.groups == 1)
      G::pack_a(w, K, 1, opg, K, dst);  // parallel over panels
    else
      parallel_for(s.groups, [&](index_t g) { G::pack_a(w + g * opg * K, K, 1, opg, K, dst + g * asz); });
  }

  static void run_packed(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y,
                         const T* pre) {
    const index_t G_ = s.groups, cpg = s.cin_per_group(), opg = s.cout_per_group();
    const index_t K = cpg * s.k_size(), P = s.out_size();
    if (s.N == 0 || s.C_out == 0 || P == 0) return;
    // Images with fewer pixels than a column tile (deep layers: 7x7, 14x14) are folded into
    // one column space of NB * P columns: per image, a 49-pixel GEMM pads every NR-wide panel
    // and streams the whole weight matrix again for a handful of columns.
    const index_t NB = P < G::NC_MAX ? s.N : 1, Q = NB * P, blocks = s.N / NB;
    const typename G::Split sp = G::split(opg, Q, blocks * G_, get_num_threads());
    const bool cl = s.channels_last;
    const index_t xs = s.C_in * s.in_size();
    // Stride 2 along W, channels-first: each packed run would read every other input element
    // (the ResNet stem 7x7/2: packing was 25% of the layer). The input is copied once (up to
    // 16 MiB fp32), each row split in its even and odd columns, and the runs read contiguously.
    const T* xin = x;
    index_t half = 0;
    const index_t rows = s.N * s.C_in * s.in[0] * s.in[1], W = s.in[2];
    if (!cl && s.stride[2] == 2 && W > 1 && rows * W <= (index_t(4) << 20)) {
      half = (W + 1) / 2;
      T* xsplit = G::scratch(3, rows * W);
      parallel_for((rows + 63) / 64, [&](index_t rb) {
        for (index_t r = rb * 64; r < rows && r < rb * 64 + 64; ++r) {
          const T* a = x + r * W;
          T* d = xsplit + r * W;
          for (index_t j = 0; j < half; ++j) d[j] = a[2 * j];
          for (index_t j = 0; j < W / 2; ++j) d[half + j] = a[2 * j + 1];
        }
      });
      xin = xsplit;
    }
    auto packer = [&](index_t blk, index_t g) {
      return im2col_packer{&s, xin + blk * NB * xs + g * cpg * (cl ? 1 : s.in_size()),
                           cl ? 1 : s.in_size(), cl ? s.C_in : 1, xs, NB > 1 ? P : 0, half};
    };
    // channels-last output is C transposed (rows = channels contiguous, columns C_out apart,
    // images follow each other); channels-first columns jump C_out * P at each image
    const typename G::Cols cols = cl ? typename G::Cols{s.C_out, 0, 0}
                                     : typename G::Cols{1, NB > 1 ? P : 0, s.C_out * P};
    const index_t ldc = cl ? 1 : P;
    auto out = [&](index_t blk, index_t g) {
      return cl ? y + blk * NB * P * s.C_out + g * opg : y + (blk * NB * s.C_out + g * opg) * P;
    };
    const index_t asz = G::packed_a_size(opg, K);
    if (sp.mchunks > 1 && G::prepack_fits(K, Q)) {
      // few pixels, many channels (N=1 deep layers): gather the im2col once and share it
      // between the output-channel chunks, the weights packed panel by panel as they are used
      // (gemm.hpp, run_prepacked and run_block_raw_a) unless a plan packed them already; it
      // declines (nothing written) only when B does not fit, which prepack_fits has ruled out
      // for every block and group alike
      bool done = true;
      for (index_t blk = 0; blk < blocks && done; ++blk)
        for (index_t g = 0; g < G_ && done; ++g)
          done = G::run_prepacked(pre ? pre + g * asz : nullptr, opg, K, Q, packer(blk, g),
                                  out(blk, g), ldc, cols, false,
                                  bias ? bias + g * opg : nullptr, nullptr, s.act,
                                  w + g * opg * K, K);
      if (done) return;
    }
    const T* apack = pre;
    if (!apack) {
      T* buf = G::scratch(0, packed_size(s));
      pack(s, w, buf);
      apack = buf;
    }
    const index_t kb = K < G::KC ? (K > 0 ? K : 1) : G::KC;
    const index_t per_block = G_ * sp.ntiles * sp.mchunks;
    parallel_for_dynamic(blocks * per_block, [&](index_t item) {
      const index_t blk = item / per_block;
      index_t rest = item % per_block;
      const index_t g = rest / (sp.ntiles * sp.mchunks);
      rest %= sp.ntiles * sp.mchunks;
      const index_t t = rest / sp.mchunks, mcn = rest % sp.mchunks;
      const index_t n0 = t * sp.nc, n1 = n0 + sp.nc < Q ? n0 + sp.nc : Q;
      const index_t m0 = mcn * sp.mc, m1 = m0 + sp.mc < opg ? m0 + sp.mc : opg;
      T* bbuf = G::scratch(1, kb * G::round_up(sp.nc, NR));
      G::run_block(apack + g * asz, opg, K, m0, m1, n0, n1, packer(blk, g), bbuf,
                   out(blk, g) + cols.offset(n0), ldc, cols, false,
                   bias ? bias + g * opg : nullptr, nullptr, s.act);
    });
  }
};

// Transposed conv through the same GEMM, then col2im: per image and group,
//   cols (K x P) = W_g^T (K x C_out/g) * X_g (C_out/g x P),   K = C_in/g * kernel size,
//   y[c, o * stride - pad + t * dil] += cols[(c, t), o]   (scatter-add, "col2im").
// No zero-stuffed input, and cols is only ever one tile (rows of a chunk of output channels x
// up to 256 pixels). Work items are (image, group, chunk of output channels): each owns its
// channels of y, so the scatter-adds never race; bias and activation are applied once the
// item has added every tile. Workspace per thread: the chunk's packed weights, one packed B
// tile and one cols tile (each at most about 1 MiB).
template <class T, class ISA>
struct conv_transpose_gemm_engine {
  using G = gemm_engine<T, ISA>;
  static constexpr int NR = G::NR;

  // The weights as run() reads them: per group, W_g^T (C_in/groups x kernel size rows, a
  // row per (channel, tap), C_out/groups columns) packed into MR-row panels (gemm.hpp).
  static index_t packed_size(const ConvSpec& s) {
    return checked_mul(s.groups, G::packed_a_size(s.cin_per_group() * s.k_size(),
                                                  s.cout_per_group()),
                       "packed weights");
  }
  static void pack(const ConvSpec& s, const T* w, T* dst) {
    const index_t cpg = s.cin_per_group(), opg = s.cout_per_group(), Mt = cpg * s.k_size();
    const index_t asz = G::packed_a_size(Mt, opg);
    for (index_t g = 0; g < s.groups; ++g)
      G::pack_a(w + g * opg * Mt, 1, Mt, Mt, opg, dst + g * asz);
  }

  // pre: the weights packed by pack() (a plan's), or null: each item packs its chunk's.
  static void run(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y,
                  const T* pre = nullptr) {
    const index_t G_ = s.groups, cpg = s.cin_per_group(), opg = s.cout_per_group();
    const index_t ks = s.k_size(), P = s.out_size(), Y = s.in_size();
    if (s.N == 0 || s.C_in == 0 || Y == 0) return;
    // The batch is folded into the columns, as the forward engine does for small images: a
    // chunk's weights are then packed once for all images, not once per image (DCGAN layers at
    // N=8: 8x8 inputs, 0.59x PyTorch per image, 0.85x folded). Per-image items remain only
    // when there are too few output channels to make chunks of; the rule does not depend on
    // the thread count, so neither does the order of col2im's additions (nor the result).
    const index_t want = 4 * static_cast<index_t>(get_num_threads());
    const index_t NB = G_ * cpg >= 16 ? s.N : 1, blocks = s.N / NB, Q = NB * P;
    const index_t nc = Q < 256 ? G::round_up(Q > 0 ? Q : 1, NR) : 256;
    // channels per item: cols tile (cc * ks x nc) within ~256 Ki elements, and enough items
    index_t cc = (256 * 1024 / nc) / ks;
    if (cc < 1) cc = 1;
    if (cc > cpg) cc = cpg;
    while (cc > 1 && blocks * G_ * ((cpg + cc - 1) / cc) < want) cc = (cc + 1) / 2;
    // Pre-packed weights are read in place: a chunk must start on a panel boundary (its first
    // row c0 x ks a multiple of MR). The chunks only split the work, each owning whole output
    // channels, so the result does not depend on them.
    if (pre && cc < cpg) {
      index_t a = ks, b = G::MR;
      while (b != 0) {  // a = gcd(ks, MR)
        const index_t r = a % b;
        a = b;
        b = r;
      }
      const index_t u = G::MR / a;  // channels per panel boundary
      cc = cc < u ? u : cc / u * u;
      if (cc > cpg) cc = cpg;
    }
    const index_t chunks = (cpg + cc - 1) / cc;
    parallel_for_dynamic(blocks * G_ * chunks, [&](index_t item) {
      const index_t blk = item / (G_ * chunks), g = (item / chunks) % G_, ch = item % chunks;
      const index_t c0 = ch * cc, c1 = c0 + cc < cpg ? c0 + cc : cpg, Mc = (c1 - c0) * ks;
      auto ybase = [&](index_t n) { return y + (n * s.C_in + g * cpg) * Y; };
      for (index_t n = blk * NB; n < (blk + 1) * NB; ++n)
        for (index_t c = c0; c < c1; ++c) {
          const T b = bias ? bias[g * cpg + c] : T(0);
          T* yc = ybase(n) + c * Y;
          for (index_t i = 0; i < Y; ++i) yc[i] = b;
        }
      if (P > 0 && opg > 0) {
        const T* apack = pre ? pre + g * G::packed_a_size(cpg * ks, opg) + c0 * ks * opg : nullptr;
        if (!apack) {
          T* buf = G::scratch(2, G::packed_a_size(Mc, opg));
          G::pack_a(w + (g * opg * cpg + c0) * ks, 1, cpg * ks, Mc, opg, buf);
          apack = buf;
        }
        const index_t kb = opg < G::KC ? opg : G::KC;
        T* bbuf = G::scratch(1, kb * nc);
        T* cols = G::scratch(3, Mc * nc);
        const batched_b_packer<T, NR> pb{x + (blk * NB * s.C_out + g * opg) * P, P, s.C_out * P,
                                  NB > 1 ? P : 0};
        for (index_t q0 = 0; q0 < Q; q0 += nc) {
          const index_t q1 = q0 + nc < Q ? q0 + nc : Q;
          G::run_block(apack, Mc, opg, 0, Mc, q0, q1, pb, bbuf, cols, nc, typename G::Cols{},
                       false, nullptr, nullptr, Activation::none);
          for (index_t q = q0; q < q1;) {  // one image's pixels at a time
            const index_t im = q / P, p = q - im * P, e = q1 - q < P - p ? q1 - q : P - p;
            col2im(s, cols + (q - q0), nc, c0, c1, p, p + e, ybase(blk * NB + im));
            q += e;
          }
        }
      }
      if (s.act != Activation::none)
        for (index_t n = blk * NB; n < (blk + 1) * NB; ++n)
          for (index_t i = c0 * Y; i < c1 * Y; ++i)
            ybase(n)[i] = apply_activation(s.act, ybase(n)[i]);
    });
  }

  // y[c, i(o, t)] += cols[((c - c0) * ks + t) * ldc + o - p0] for output pixels o in [p0, p1).
  static void col2im(const ConvSpec& s, const T* cols, index_t ldc, index_t c0, index_t c1,
                     index_t p0, index_t p1, T* yb) {
    const index_t ks = s.k_size(), k12 = s.k[1] * s.k[2], Y = s.in_size();
    const index_t OW = s.out[2], O1 = s.out[1], s2 = s.stride[2];
    for (index_t c = c0; c < c1; ++c)
      for (index_t t = 0; t < ks; ++t) {
        const index_t t0 = t / k12, t1 = (t / s.k[2]) % s.k[1], t2 = t % s.k[2];
        const T* cr = cols + ((c - c0) * ks + t) * ldc - p0;
        index_t lo2, hi2;
        valid_out_range(s.in[2], OW, t2, s2, s.dil[2], s.pad_lo[2], &lo2, &hi2);
        if (hi2 <= lo2) continue;
        const index_t off2 = t2 * s.dil[2] - s.pad_lo[2];
        index_t p = p0;
        while (p < p1) {
          const index_t r = p / OW, a = p - r * OW;
          const index_t b = p1 - p < OW - a ? a + (p1 - p) : OW;
          const index_t o0 = r / O1, o1 = r - o0 * O1;
          const index_t i0 = conv_in_index(o0, t0, s.stride[0], s.dil[0], s.pad_lo[0]);
          const index_t i1 = conv_in_index(o1, t1, s.stride[1], s.dil[1], s.pad_lo[1]);
          if (i0 >= 0 && i0 < s.in[0] && i1 >= 0 && i1 < s.in[1]) {
            const index_t v0 = lo2 < a ? a : lo2, v1 = hi2 > b ? b : hi2;
            T* yr = yb + c * Y + (i0 * s.in[1] + i1) * s.in[2] + off2;
            const T* src = cr + r * OW;
            for (index_t o2 = v0; o2 < v1; ++o2) yr[o2 * s2] += src[o2];
          }
          p += b - a;
        }
      }
  }
};

// Implicit GEMM for 1-D/2-D convs with unit stride along the row: the microkernel reads its
// B rows straight from a zero-padded copy of the few input rows a block of output rows needs
// (cpg channels x R rows x Wp columns, about 256 KiB), at the offset of each (channel, tap):
// nothing is packed per pixel tile, so the im2col gather (K x P element copies) disappears; the
// only copy is the padded rows, (rows + kh - 1) / rows times the input. The weights are packed
// into MR-row panels over the whole reduction, so the accumulators stay in registers for all K.
template <class T, class ISA>
struct conv_rows_engine {
  using G = gemm_engine<T, ISA>;
  using V = typename G::V;
  static constexpr int MR = G::MR, NR = G::NR, W = G::W;

  // Rows are computed NR pixels at a time: narrow images (14 wide with NR = 32) would waste
  // lanes, where the packed path tiles across rows; 1x1 convs keep the packed path (its KC
  // blocking suits their long reductions).
  static bool applicable(const ConvSpec& s) {
    const index_t OWp = G::round_up(s.out[2], NR);
    // planar(): the rows are computed for depth slice 0 only, so a depth padding or a second
    // output slice must go elsewhere (a 3-D spec with one input slice and pad (1, 0) in depth
    // once took this path and left half its outputs unwritten).
    return !s.channels_last && s.planar() && s.stride[2] == 1 &&
           s.k_size() > 1 && (OWp - s.out[2]) * 8 <= OWp;
  }

  // acc over k of a[k * MR + i] * xp[off[k] + j], j in [0, NR)
  static void micro(index_t K, const T* a, const T* xp, const index_t* off, T* c, index_t ldc,
                    index_t rows, index_t cols, const typename G::Store& st) {
    V acc0[MR], acc1[MR];
    for (int i = 0; i < MR; ++i) {
      acc0[i] = V::zero();
      acc1[i] = V::zero();
    }
    for (index_t k = 0; k < K; ++k) {
      const T* b = xp + off[k];
      const V b0 = V::load(b), b1 = V::load(b + W);
      for (int i = 0; i < MR; ++i) {
        const V ai = V::broadcast(a[i]);
        acc0[i] = fma(ai, b0, acc0[i]);
        acc1[i] = fma(ai, b1, acc1[i]);
      }
      a += MR;
    }
    G::store(acc0, acc1, c, ldc, 1, rows, cols, st);
  }

  // pre: conv_gemm_engine::pack's weights (the same panels), or null: packed here.
  static void run(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y, const T* pre) {
    const index_t G_ = s.groups, cpg = s.cin_per_group(), opg = s.cout_per_group();
    const index_t ks = s.k_size(), K = cpg * ks, OH = s.out[1], OW = s.out[2];
    const index_t H = s.in[1], Win = s.in[2], P = OH * OW;
    if (s.N == 0 || s.C_out == 0 || P == 0) return;
    const index_t Mp = G::round_up(opg, MR), OWp = G::round_up(OW, NR);
    const index_t ext2 = (s.k[2] - 1) * s.dil[2];
    const index_t kext = (s.k[1] - 1) * s.dil[1];
    // Items are (image, group, block of output rows, chunk of output columns). The padded input
    // rows an item copies stay within ~256 KiB: long 1-D signals (WaveNet, 84350 samples) are
    // cut into column chunks, which also spreads a single row over every thread.
    const index_t budget = 256 * 1024 / static_cast<index_t>(sizeof(T));
    index_t cw = OWp;  // output columns per item, a multiple of NR
    {
      const index_t fit = (budget / (cpg * (kext + 1)) - ext2) / NR * NR;
      if (cw > fit) cw = fit > NR ? fit : NR;
    }
    index_t Wp = cw + ext2;
    index_t rb = ((budget / (cpg * Wp)) - kext) / s.stride[1];
    if (rb < 1) rb = 1;
    if (rb > OH) rb = OH;
    const index_t want = 4 * static_cast<index_t>(get_num_threads());
    while (rb > 1 && s.N * G_ * ((OH + rb - 1) / rb) * ((OW + cw - 1) / cw) < want) rb = (rb + 1) / 2;
    while (cw > NR && s.N * G_ * ((OH + rb - 1) / rb) * ((OW + cw - 1) / cw) < want)
      cw = G::round_up(cw / 2, NR);
    Wp = cw + ext2;
    const index_t nrb = (OH + rb - 1) / rb, ncw = (OW + cw - 1) / cw;
    const index_t Rmax = (rb - 1) * s.stride[1] + kext + 1;
    // weights: per group, MR-row panels over all of K, (k, r) at panel * MR * K + k * MR + r
    const T* apack = pre;
    if (!apack) {
      T* buf = G::scratch(0, checked_mul(G_ * Mp, K, "packed weights"));
      conv_gemm_engine<T, ISA>::pack(s, w, buf);
      apack = buf;
    }
    parallel_for_dynamic(s.N * G_ * nrb * ncw, [&](index_t item) {
      const index_t cwi = item % ncw;
      item /= ncw;
      const index_t n = item / (G_ * nrb), g = (item / nrb) % G_, rbi = item % nrb;
      const index_t j0 = cwi * cw, j1 = j0 + cw < OW ? j0 + cw : OW;
      const index_t r0 = rbi * rb, r1 = r0 + rb < OH ? r0 + rb : OH;
      const index_t i_lo = r0 * s.stride[1] - s.pad_lo[1];
      const index_t R = (r1 - r0 - 1) * s.stride[1] + kext + 1;
      T* xp = G::scratch(2, cpg * Rmax * Wp + K);
      index_t* off = reinterpret_cast<index_t*>(G::scratch(3, (K * sizeof(index_t) + sizeof(T) - 1) / sizeof(T)));
      for (index_t c = 0; c < cpg; ++c) {
        const T* xc = x + (n * s.C_in + g * cpg + c) * H * Win;
        for (index_t rr = 0; rr < R; ++rr) {
          T* d = xp + (c * R + rr) * Wp;
          const index_t i = i_lo + rr;
          if (i < 0 || i >= H) {
            for (index_t q = 0; q < Wp; ++q) d[q] = T(0);
            continue;
          }
          // columns j0 + q - pad of the row: zeros, a plain copy, zeros (a bounds test per
          // element kept the copy scalar: 30% of a WaveNet layer)
          index_t qa = s.pad_lo[2] - j0, qb = Win + s.pad_lo[2] - j0;
          qa = qa < 0 ? 0 : qa > Wp ? Wp : qa;
          qb = qb > Wp ? Wp : qb < qa ? qa : qb;
          for (index_t q = 0; q < qa; ++q) d[q] = T(0);
          // (the row pointer is formed only when the row has columns to copy: an empty input
          // has no buffer to offset)
          if (qb > qa) {
            const T* src = xc + i * Win + (j0 - s.pad_lo[2] + qa);
            for (index_t q = qa; q < qb; ++q) d[q] = src[q - qa];
          }
          for (index_t q = qb; q < Wp; ++q) d[q] = T(0);
        }
      }
      for (index_t k = 0; k < K; ++k) {
        const index_t c = k / ks, t = k % ks, t1 = t / s.k[2], t2 = t % s.k[2];
        off[k] = (c * R + t1 * s.dil[1]) * Wp + t2 * s.dil[2];
      }
      typename G::Store st{true, true, nullptr, nullptr, s.act};
      T* yg = y + (n * s.C_out + g * opg) * P;
      for (index_t r = r0; r < r1; ++r) {
        const T* xrow = xp + (r - r0) * s.stride[1] * Wp;
        for (index_t j = j0; j < j1; j += NR) {
          const index_t cols = j1 - j < NR ? j1 - j : NR;
          for (index_t m = 0; m < opg; m += MR) {
            st.bias_m = bias ? bias + g * opg + m : nullptr;
            micro(K, apack + (g * Mp + m) * K, xrow + (j - j0), off, yg + m * P + r * OW + j, P,
                  opg - m < MR ? opg - m : MR, cols, st);
          }
        }
      }
    });
  }
};

template <class T, class ISA>
void conv_gemm_engine<T, ISA>::run(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y,
                                   const T* pre) {
  if (conv_rows_engine<T, ISA>::applicable(s))
    conv_rows_engine<T, ISA>::run(s, x, w, bias, y, pre);
  else
    run_packed(s, x, w, bias, y, pre);
}

}  // namespace kernels
}  // namespace convcore
