// Pointwise (1x1) convolution as a matrix product. All of it goes through pointwise_matmul, one
// register/cache-blocked product with the bias and activation fused into the store, so that it
// can be switched to the packed SIMD GEMM of kernels/gemm.hpp in one place.
#pragma once
#include "../core/activation.hpp"
#include "../core/parallel.hpp"

#ifndef CONVCORE_OMP_SIMD
#if defined(_OPENMP)
#define CONVCORE_OMP_SIMD _Pragma("omp simd")
#else
#define CONVCORE_OMP_SIMD
#endif
#endif

namespace convcore {
namespace kernels {

namespace detail {
constexpr index_t kPwRows = 4;   // rows of C held in one block of accumulators
constexpr index_t kPwCols = 64;  // columns of C per block: one B panel of K x 64 stays in L2

template <class T, index_t MR>
inline void pw_block(index_t nb, index_t K, const T* A, index_t lda, const T* B, index_t ldb,
                     T* C, index_t ldc, const T* bias, bool bias_per_row, Activation act) {
  T acc[MR][kPwCols];
  for (index_t r = 0; r < MR; ++r)
    for (index_t j = 0; j < nb; ++j)
      acc[r][j] = bias ? (bias_per_row ? bias[r] : bias[j]) : T(0);
  // Four reduction steps per pass over the accumulators: one load/store of acc per 4 products.
  index_t k = 0;
  for (; k + 4 <= K; k += 4) {
    const T* __restrict b0 = B + k * ldb;
    const T* __restrict b1 = b0 + ldb;
    const T* __restrict b2 = b1 + ldb;
    const T* __restrict b3 = b2 + ldb;
    for (index_t r = 0; r < MR; ++r) {
      const T* ak = A + r * lda + k;
      const T a0 = ak[0], a1 = ak[1], a2 = ak[2], a3 = ak[3];
      T* __restrict ar = acc[r];
      CONVCORE_OMP_SIMD
      for (index_t j = 0; j < nb; ++j) ar[j] += a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j];
    }
  }
  for (; k < K; ++k) {
    const T* __restrict b = B + k * ldb;
    for (index_t r = 0; r < MR; ++r) {
      const T a = A[r * lda + k];
      T* __restrict ar = acc[r];
      CONVCORE_OMP_SIMD
      for (index_t j = 0; j < nb; ++j) ar[j] += a * b[j];
    }
  }
  for (index_t r = 0; r < MR; ++r) {
    T* c = C + r * ldc;
    if (act == Activation::none) {
      for (index_t j = 0; j < nb; ++j) c[j] = acc[r][j];
    } else {
      for (index_t j = 0; j < nb; ++j) c[j] = apply_activation(act, acc[r][j]);
    }
  }
}
}  // namespace detail

// C[i, j] = act(bias + sum_k A[i, k] B[k, j]) for i < M, j < Nc; row-major with leading
// dimensions lda, ldb, ldc. bias (may be null) is indexed by i when bias_per_row, else by j.
// Serial: callers split the columns (or rows) over threads. No workspace beyond the stack block.
template <class T>
void pointwise_matmul(index_t M, index_t Nc, index_t K, const T* A, index_t lda, const T* B,
                      index_t ldb, T* C, index_t ldc, const T* bias, bool bias_per_row,
                      Activation act) {
  using detail::kPwCols;
  using detail::kPwRows;
  for (index_t j0 = 0; j0 < Nc; j0 += kPwCols) {
    const index_t nb = Nc - j0 < kPwCols ? Nc - j0 : kPwCols;
    const T* bj = bias && !bias_per_row ? bias + j0 : bias;
    index_t i0 = 0;
    for (; i0 + kPwRows <= M; i0 += kPwRows)
      detail::pw_block<T, kPwRows>(nb, K, A + i0 * lda, lda, B + j0, ldb, C + i0 * ldc + j0, ldc,
                                   bias_per_row && bias ? bias + i0 : bj, bias_per_row, act);
    for (; i0 < M; ++i0)
      detail::pw_block<T, 1>(nb, K, A + i0 * lda, lda, B + j0, ldb, C + i0 * ldc + j0, ldc,
                             bias_per_row && bias ? bias + i0 : bj, bias_per_row, act);
  }
}

// Columns (pixels) per work item of the channels-first pointwise conv.
constexpr index_t kPwPixelsPerItem = 256;

// Channels-first: per image and group, y_g (opg x P) = w_g (opg x cpg) @ x_g (cpg x P).
template <class T>
void pointwise_nchw(index_t N, index_t C_in, index_t C_out, index_t groups, index_t P, const T* x,
                    const T* w, const T* bias, Activation act, T* y) {
  const index_t cpg = C_in / groups, opg = C_out / groups;
  const index_t nchunk = (P + kPwPixelsPerItem - 1) / kPwPixelsPerItem;
  parallel_for(N * groups * nchunk, [&](index_t item) {
    const index_t ng = item / nchunk, p0 = (item % nchunk) * kPwPixelsPerItem;
    const index_t n = ng / groups, g = ng % groups;
    const index_t np = P - p0 < kPwPixelsPerItem ? P - p0 : kPwPixelsPerItem;
    pointwise_matmul(opg, np, cpg, w + g * opg * cpg, cpg, x + (n * C_in + g * cpg) * P + p0, P,
                     y + (n * C_out + g * opg) * P + p0, P, bias ? bias + g * opg : nullptr, true,
                     act);
  });
}

// Channels-last: rows are pixels. y (R x C_out), x (R x C_in), wt the transposed weights
// (groups x cpg x opg): y[:, g] = x[:, g] @ wt_g.
template <class T>
void pointwise_nhwc(index_t R, index_t C_in, index_t C_out, index_t groups, const T* x,
                    const T* wt, const T* bias, Activation act, T* y) {
  const index_t cpg = C_in / groups, opg = C_out / groups;
  const index_t rows = 64;
  const index_t nchunk = (R + rows - 1) / rows;
  parallel_for(groups * nchunk, [&](index_t item) {
    const index_t g = item / nchunk, r0 = (item % nchunk) * rows;
    const index_t nr = R - r0 < rows ? R - r0 : rows;
    pointwise_matmul(nr, opg, cpg, x + r0 * C_in + g * cpg, C_in, wt + g * cpg * opg, opg,
                     y + r0 * C_out + g * opg, C_out, bias ? bias + g * opg : nullptr, false, act);
  });
}

// w (C_out, cpg) -> per group (cpg x opg).
template <class T>
void pointwise_transpose_weights(index_t C_out, index_t groups, index_t cpg, const T* w, T* wt) {
  const index_t opg = C_out / groups;
  for (index_t g = 0; g < groups; ++g)
    for (index_t o = 0; o < opg; ++o)
      for (index_t c = 0; c < cpg; ++c) wt[(g * cpg + c) * opg + o] = w[(g * opg + o) * cpg + c];
}

}  // namespace kernels
}  // namespace convcore
