// Winograd F(4x4, 3x3) (Lavin & Gray 2016) for 2-D 3x3 stride-1 undilated convs, groups = 1.
//
// Per 4x4 output tile: Y = A^T [ (G g G^T) . (B^T d B) ] A over the 6x6 input tile d. The 36
// element-wise products summed over input channels are 36 GEMMs (C_out x C_in by C_in x tiles)
// on the packed GEMM engine: 2.25x fewer multiplications than the direct form (36 per 16
// outputs instead of 144). Tiles are processed in batches of Tb (64 or 32) per work item; the
// transforms run across the batch's tiles, so they vectorise at the unit's ISA.
//
// Accuracy: the transforms have entries up to 8 (A) and 1/24 (G), so float32 rounding grows:
// measured against float64, max |error| / max |y| is about 1e-6 (C_in = 64, N(0,1) data),
// about 10x the im2col engine's (docs/architecture.md has the table). float64 is exact to ~1e-15.
//
// Workspace: the transformed weights (36 x C_out x C_in, 4x the weights) on the calling thread,
// and per worker the transformed input (36 x C_in x Tb) and products (36 x C_out x Tb).
#pragma once
#include "../core/spec.hpp"
#include "gemm.hpp"

namespace convcore {
namespace kernels {

inline bool winograd_applicable(const ConvSpec& s) {
  return s.in[0] == 1 && s.k[0] == 1 && s.k[1] == 3 && s.k[2] == 3 && s.stride[1] == 1 &&
         s.stride[2] == 1 && s.dil[1] == 1 && s.dil[2] == 1 && s.groups == 1;
}

template <class T, class ISA>
struct winograd_engine {
  using G = gemm_engine<T, ISA>;

  // B^T applied to 6 rows of n values: out[i][t] = sum_k BT[i][k] in[k][t]
  static void bt(const T* const in[6], T* const out[6], index_t n) {
    const T* d0 = in[0];
    const T* d1 = in[1];
    const T* d2 = in[2];
    const T* d3 = in[3];
    const T* d4 = in[4];
    const T* d5 = in[5];
    for (index_t t = 0; t < n; ++t) {
      out[0][t] = T(4) * d0[t] - T(5) * d2[t] + d4[t];
      out[1][t] = -T(4) * (d1[t] + d2[t]) + d3[t] + d4[t];
      out[2][t] = T(4) * (d1[t] - d2[t]) - d3[t] + d4[t];
      out[3][t] = T(2) * (d3[t] - d1[t]) - d2[t] + d4[t];
      out[4][t] = T(2) * (d1[t] - d3[t]) - d2[t] + d4[t];
      out[5][t] = T(4) * d1[t] - T(5) * d3[t] + d5[t];
    }
  }

  // G applied to one column (g0, g1, g2): out[i * step] for i < 6 (multiplications only)
  static void g_rows(T g0, T g1, T g2, T* out, int step) {
    const T q = T(1) / T(4), s6 = T(1) / T(6), s12 = T(1) / T(12), s24 = T(1) / T(24);
    out[0] = g0 * q;
    out[step] = -(g0 + g1 + g2) * s6;
    out[2 * step] = -(g0 - g1 + g2) * s6;
    out[3 * step] = g0 * s24 + g1 * s12 + g2 * s6;
    out[4 * step] = g0 * s24 - g1 * s12 + g2 * s6;
    out[5 * step] = g2;
  }

  // A^T applied to 6 rows of n values: out[a][t] for a < 4
  static void at(const T* const m[6], T* const out[4], index_t n) {
    for (index_t t = 0; t < n; ++t) {
      const T p12 = m[1][t] + m[2][t], n12 = m[1][t] - m[2][t];
      const T p34 = m[3][t] + m[4][t], n34 = m[3][t] - m[4][t];
      out[0][t] = m[0][t] + p12 + p34;
      out[1][t] = n12 + T(2) * n34;
      out[2][t] = p12 + T(4) * p34;
      out[3][t] = n12 + T(8) * n34 + m[5][t];
    }
  }

  static void run(const ConvSpec& s, const T* x, const T* w, const T* bias, T* y) {
    const index_t C = s.C_in, O = s.C_out, H = s.in[1], W = s.in[2];
    const index_t OH = s.out[1], OW = s.out[2];
    if (s.N == 0 || O == 0 || OH == 0 || OW == 0) return;
    const index_t TH = (OH + 3) / 4, TW = (OW + 3) / 4, TT = TH * TW;
    const index_t Tb = (C > 128 || O > 128) ? 32 : 64;
    const index_t asz = G::packed_a_size(O, C);
    T* upack = G::scratch(0, checked_mul(36 * asz, 1, "winograd weights"));
    {
      // U_xi (O x C) = (G g G^T)[xi], transformed and packed one xi at a time
      T* u = G::scratch(2, 36 * O * C);
      parallel_for(O, [&](index_t o) {
        for (index_t c = 0; c < C; ++c) {
          const T* g = w + (o * C + c) * 9;
          T tmp[6][3];
          for (int j = 0; j < 3; ++j) g_rows(g[j], g[3 + j], g[6 + j], &tmp[0][j], 3);
          for (int i = 0; i < 6; ++i) {
            T r[6];
            g_rows(tmp[i][0], tmp[i][1], tmp[i][2], r, 1);
            for (int j = 0; j < 6; ++j) u[((i * 6 + j) * O + o) * C + c] = r[j];
          }
        }
      });
      parallel_for(36, [&](index_t xi) { G::pack_a(u + xi * O * C, C, 1, O, C, upack + xi * asz); });
    }
    const index_t chunks = (TT + Tb - 1) / Tb;
    const index_t kb = C < G::KC ? C : G::KC;
    parallel_for_dynamic(s.N * chunks, [&](index_t item) {
      const index_t n = item / chunks, t0 = (item % chunks) * Tb;
      const index_t nb = TT - t0 < Tb ? TT - t0 : Tb;
      T* V = G::scratch(2, 36 * C * Tb + 36 * 2 * Tb);
      T* d = V + 36 * C * Tb;  // 36 x Tb gathered tile values, then 36 x Tb row-transformed
      T* e = d + 36 * Tb;
      T* M = G::scratch(3, 36 * O * Tb);
      T* bbuf = G::scratch(1, kb * G::round_up(Tb, G::NR));
      // input transform: V[xi][c][t]
      for (index_t c = 0; c < C; ++c) {
        const T* xc = x + (n * C + c) * H * W;
        for (index_t t = 0; t < nb; ++t) {
          const index_t th = (t0 + t) / TW, tw = (t0 + t) % TW;
          const index_t r0 = th * 4 - s.pad_lo[1], q0 = tw * 4 - s.pad_lo[2];
          for (int i = 0; i < 6; ++i) {
            const index_t r = r0 + i;
            const bool rv = r >= 0 && r < H;
            for (int j = 0; j < 6; ++j) {
              const index_t q = q0 + j;
              d[(i * 6 + j) * Tb + t] = rv && q >= 0 && q < W ? xc[r * W + q] : T(0);
            }
          }
        }
        // columns: e[i][j] = sum_k BT[i][k] d[k][j]; then rows: V[i][j] = sum_k e[i][k] BT[j][k]
        for (int j = 0; j < 6; ++j) {
          const T* in[6];
          T* out[6];
          for (int k = 0; k < 6; ++k) {
            in[k] = d + (k * 6 + j) * Tb;
            out[k] = e + (k * 6 + j) * Tb;
          }
          bt(in, out, nb);
        }
        for (int i = 0; i < 6; ++i) {
          const T* in[6];
          T* out[6];
          for (int k = 0; k < 6; ++k) {
            in[k] = e + (i * 6 + k) * Tb;
            out[k] = V + ((i * 6 + k) * C + c) * Tb;
          }
          bt(in, out, nb);
        }
      }
      for (index_t xi = 0; xi < 36; ++xi) {
        const typename G::matrix_b_packer pb{V + xi * C * Tb, Tb, 1};
        G::run_block(upack + xi * asz, O, C, 0, O, 0, nb, pb, bbuf, M + xi * O * Tb, Tb, typename G::Cols{},
                     false, nullptr, nullptr, Activation::none);
      }
      // output transform, bias, activation
      for (index_t o = 0; o < O; ++o) {
        for (int j = 0; j < 6; ++j) {
          const T* in[6];
          T* out[4];
          for (int k = 0; k < 6; ++k) in[k] = M + ((k * 6 + j) * O + o) * Tb;
          for (int a = 0; a < 4; ++a) out[a] = d + (a * 6 + j) * Tb;
          at(in, out, nb);
        }
        for (int a = 0; a < 4; ++a) {
          const T* in[6];
          T* out[4];
          for (int k = 0; k < 6; ++k) in[k] = d + (a * 6 + k) * Tb;
          for (int b = 0; b < 4; ++b) out[b] = e + (a * 4 + b) * Tb;
          at(in, out, nb);
        }
        const T bv = bias ? bias[o] : T(0);
        T* yo = y + (n * O + o) * OH * OW;
        for (index_t t = 0; t < nb; ++t) {
          const index_t th = (t0 + t) / TW, tw = (t0 + t) % TW;
          for (int a = 0; a < 4 && th * 4 + a < OH; ++a)
            for (int b = 0; b < 4 && tw * 4 + b < OW; ++b)
              yo[(th * 4 + a) * OW + tw * 4 + b] =
                  apply_activation(s.act, e[(a * 4 + b) * Tb + t] + bv);
        }
      }
    });
  }
};

}  // namespace kernels
}  // namespace convcore
