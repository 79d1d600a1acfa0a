// Single-channel sliding-window correlation (and the separable shortcut) for convolve /
// correlate: y[oz][oy][ox] = sum_{d,i,j} k[d][i][j] * A(oz - front + d, oy - top + i,
// ox - left + j), A being the input extended by a constant `fill` outside (other boundaries
// are padded by the caller). 2-D is the one-plane case, 1-D the one-row case.
//
// Work: the output rows (all planes) are cut into bands, the columns into strips of ~2048
// outputs; band x strip items run on a dynamic schedule. Each output row is computed in chunks
// of C contiguous outputs (8 vectors) whose accumulators stay in registers while every tap is
// applied: per tap and vector one load and one FMA, no stores in the inner loop. A chunk reads
// kd * kh input rows through row pointers: straight from the input when its columns lie inside
// it, else from a ring of padded rows (the item copies only the border columns of each input
// row it needs, with the fill value outside the input), or from a row of fill values for rows
// outside the input; so the hot loop has no bounds checks. The separable shortcut (2-D only)
// runs a vertical kh-tap pass into one row buffer, then a horizontal kw-tap pass from it:
// kh + kw multiplications per output instead of kh * kw.
//
// filter2d_engine<T, ISA> is instantiated per ISA level in the kernel table (table.hpp).
// Workspace per work item (freed when the item ends): kd * kh + 2 rows of about strip +
// kw + 2 C elements, plus row pointers and indices; callers check filter2d_item_bytes against
// kFilterMaxItemBytes (16 MiB) first and take the general conv path beyond it.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../core/checked.hpp"
#include "../core/parallel.hpp"
#include "../core/simd.hpp"

namespace convcore {
namespace kernels {

namespace filter2d_detail {

// The chunk holds kAccVectors vectors of accumulators: enough independent FMA chains to cover
// the FMA latency on two pipes, few enough to stay in registers with the broadcast tap.
constexpr int kAccVectors = 8;
constexpr int kMaxVecBytes = 64;  // for the workspace bound, whatever the level

// Vector bytes per ISA level. AVX-512 keeps 256-bit vectors: on CPUs that split 512-bit
// operations in two (AMD Zen 4, this project's test machine) the 64-byte chunks measured
// slower (wider border chunks, same FMA rate), and 8 x 256-bit is the AVX2 sweet spot.
template <class ISA>
struct vec_bytes {
  static constexpr int value = 16;
};
template <>
struct vec_bytes<isa::avx2> {
  static constexpr int value = 32;
};
template <>
struct vec_bytes<isa::avx512> {
  static constexpr int value = 32;
};

template <class T, int VB>
constexpr index_t chunk_len() {
  return kAccVectors * VB / static_cast<index_t>(sizeof(T));
}

inline constexpr index_t round_up(index_t v, index_t m) { return (v + m - 1) / m * m; }

// Strip width (outputs): the whole row when it is short, else ~2048 outputs so that the ring
// of kh rows stays in the L2 cache.
constexpr index_t strip_width(index_t OW, index_t C) {
  return OW <= 3072 ? round_up(OW, C) : round_up(2048, C);
}

constexpr index_t row_len(index_t strip, index_t kw, index_t C) {
  return round_up(strip + kw - 1, C) + C;
}

}  // namespace filter2d_detail

constexpr index_t kFilterMaxItemBytes = index_t(16) << 20;

// Bytes of one work item's workspace for the widest vectors (saturating on overflow), for
// kh window rows (kd * kh in 3-D) of kw taps.
template <class T>
index_t filter2d_item_bytes(index_t OW, index_t kh, index_t kw) {
  using namespace filter2d_detail;
  const index_t Cmax = chunk_len<T, kMaxVecBytes>();
  const index_t S = strip_width(OW, Cmax);
  const index_t lim = std::numeric_limits<index_t>::max() / 4;
  if (kw > lim / 2 || kh > lim / 2) return lim;
  const index_t R = row_len(S, kw, Cmax);
  if (R > 0 && (kh + 3) > lim / R / static_cast<index_t>(sizeof(T))) return lim;
  return (kh + 3) * R * static_cast<index_t>(sizeof(T)) +
         kh * static_cast<index_t>(sizeof(void*) + 2 * sizeof(index_t));
}

// Rank-1 test of a kh x kw kernel: pivot on its largest |k| element (r, c); col = k[:, c],
// row = k[r, :] / k[r, c]; accepted when max |k - outer(col, row)| <= tol * max |k| (computed in
// double). A zero kernel is not rank-1 here (the direct path handles it).
template <class T>
bool rank1_factors(const T* k, index_t kh, index_t kw, double tol, T* col, T* row) {
  index_t r = 0, c = 0;
  double m = 0.0;
  for (index_t i = 0; i < kh; ++i)
    for (index_t j = 0; j < kw; ++j) {
      const double v = std::fabs(static_cast<double>(k[i * kw + j]));
      if (v > m) {
        m = v;
        r = i;
        c = j;
      }
    }
  if (!(m > 0.0) || !std::isfinite(m)) return false;
  const double p = static_cast<double>(k[r * kw + c]);
  for (index_t i = 0; i < kh; ++i) col[i] = k[i * kw + c];
  for (index_t j = 0; j < kw; ++j) row[j] = static_cast<T>(static_cast<double>(k[r * kw + j]) / p);
  double worst = 0.0;
  for (index_t i = 0; i < kh; ++i)
    for (index_t j = 0; j < kw; ++j) {
      const double e = std::fabs(static_cast<double>(k[i * kw + j]) -
                                 static_cast<double>(col[i]) * static_cast<double>(row[j]));
      if (!(e <= worst)) worst = e;  // NaN-safe: a NaN residual makes worst NaN
    }
  return worst <= tol * m;
}

// Geometry of one sliding-window correlation: a (D x H x W) read at
// (oz - front + d, oy - top + i, ox - left + j), `fill` outside; y (OD x OH x OW); k
// (kd x kh x kw). 1-D and 2-D are D = kd = OD = 1 (and H = kh = OH = 1 for 1-D).
struct Filter2DGeom {
  index_t D = 1, H = 1, W = 1;
  index_t kd = 1, kh = 1, kw = 1;
  index_t OD = 1, OH = 1, OW = 1;
  index_t front = 0, top = 0, left = 0;
};

// The sliding-window kernel of one ISA level. Everything with vector code is a member of this
// class template, so each level's translation unit (cpp/src/isa_*.cpp) instantiates symbols of
// its own (docs/architecture.md, "Runtime ISA dispatch").
template <class T, class ISA>
struct filter2d_engine {
  static constexpr int VB = filter2d_detail::vec_bytes<ISA>::value;
  static constexpr index_t C = filter2d_detail::chunk_len<T, VB>();

#if (defined(__GNUC__) || defined(__clang__)) && !defined(CONVCORE_NO_VECTOR_EXTENSIONS) && \
    !defined(CONVCORE_SIMD_GENERIC)
  // GCC/Clang vector extensions: explicit register accumulators (the auto-vectoriser does not
  // reliably keep a local accumulator array in registers across the tap loops). V, unaligned
  // and may_alias, only for loads and stores through pointers at any float position; locals are
  // VR, naturally aligned: a spilled local of type V may get an aligned vector move to a slot
  // aligned only to sizeof(T) (seen under GCC's ASan in the ndimage kernels).
  typedef T V __attribute__((vector_size(VB), aligned(sizeof(T)), may_alias));
  typedef T VR __attribute__((vector_size(VB)));

  // out[t] = sum_{i < nr} sum_{j < kw} k[i * kw + j] * rows[i][t + j], t < C.
  static void chunk(const T* const* rows, index_t nr, const T* k, index_t kw, T* out) {
    constexpr int L = VB / static_cast<int>(sizeof(T));
    constexpr int NV = filter2d_detail::kAccVectors;
    VR acc[NV];
    for (int v = 0; v < NV; ++v) acc[v] = VR{};
    for (index_t i = 0; i < nr; ++i) {
      const T* r = rows[i];
      const T* ki = k + i * kw;
      for (index_t j = 0; j < kw; ++j) {
        const T kv = ki[j];
        const T* src = r + j;
        for (int v = 0; v < NV; ++v) acc[v] += kv * *reinterpret_cast<const V*>(src + v * L);
      }
    }
    for (int v = 0; v < NV; ++v) *reinterpret_cast<V*>(out + v * L) = acc[v];
  }
#else
  // Portable form (MSVC, CONVCORE_SIMD_GENERIC): constant trip counts the compiler can unroll
  // and vectorise for the unit's flags.
  static void chunk(const T* const* rows, index_t nr, const T* k, index_t kw, T* out) {
    T acc[C];
    for (index_t t = 0; t < C; ++t) acc[t] = T(0);
    for (index_t i = 0; i < nr; ++i) {
      const T* r = rows[i];
      const T* ki = k + i * kw;
      for (index_t j = 0; j < kw; ++j) {
        const T kv = ki[j];
        const T* src = r + j;
        for (index_t t = 0; t < C; ++t) acc[t] += kv * src[t];
      }
    }
    for (index_t t = 0; t < C; ++t) out[t] = acc[t];
  }
#endif

  static void set(T* p, index_t n, T v) {
    for (index_t t = 0; t < n; ++t) p[t] = v;
  }

  // y = correlation of a with k (all row-major). When col and row are given (2-D only,
  // kd = 1), k is their outer product and the separable passes are used (k itself is not
  // read). A 3-D kernel is kd * kh rows of kw taps, each row read from its own plane: the same
  // chunks.
  static void run(const Filter2DGeom& g, const T* a, const T* k, const T* col, const T* row,
                  T* y, T fill);
};

template <class T, class ISA>
void filter2d_engine<T, ISA>::run(const Filter2DGeom& g, const T* a, const T* k, const T* col,
                                  const T* row, T* y, T fill) {
  using filter2d_detail::round_up;
  const index_t H = g.H, W = g.W, OH = g.OH, OW = g.OW, kh = g.kh, kw = g.kw;
  const index_t pad_top = g.top, pad_left = g.left;
  const index_t OR = g.OD * OH;  // output rows, all planes
  const index_t nr = g.kd * kh;  // input rows per output row
  if (OR <= 0 || OW <= 0) return;
  const index_t S = filter2d_detail::strip_width(OW, C);
  const index_t R = filter2d_detail::row_len(S, kw, C);
  const index_t nstrips = (OW + S - 1) / S;
  // Bands: many small items (16 per thread) for the dynamic schedule, so that a thread the OS
  // preempts holds little work, each band still long enough that refilling the border columns
  // of its ring (kh - 1 rows) is a small part of its work.
  const index_t nt = get_num_threads();
  index_t nbands = std::max<index_t>(1, std::min<index_t>(OR, 16 * nt));
  while (nbands > nt && OR / nbands < 4 * kh) --nbands;
  const index_t band = (OR + nbands - 1) / nbands;
  nbands = (OR + band - 1) / band;
  const bool separable = col != nullptr && row != nullptr && g.kd == 1;

  const index_t vlen = round_up(S + kw - 1, C);  // columns of the separable vertical pass
  // Chunks read `reach` padded columns; in the 2-D pass directly from the image when those
  // columns lie inside it, from the ring (the border chunks) otherwise.
  const index_t reach = separable ? C : C + kw - 1;

  parallel_for_dynamic(nbands * nstrips, [&](index_t item) {
    const index_t b = item / nstrips, st = item % nstrips;
    const index_t r0 = b * band, r1 = std::min(OR, r0 + band);
    const index_t sx = st * S, sw = std::min(S, OW - sx);
    std::vector<T> buf(static_cast<std::size_t>((nr + 2) * R + C));
    T* ring = buf.data();  // slot d * kh + (input row % kh): plane d's rows of the window
    T* fill_row = ring + nr * R;
    T* tmp = fill_row + R;
    T* tail = tmp + R;
    set(fill_row, R, fill);
    // Rows are numbered across planes: plane * H + row. slot_row: the row a ring slot holds;
    // base: the row each window row reads (-1: outside the image), and its slot.
    std::vector<index_t> slot_row(static_cast<std::size_t>(nr), -1);
    std::vector<index_t> base(static_cast<std::size_t>(nr)), slot(static_cast<std::size_t>(nr));
    std::vector<const T*> ptr(static_cast<std::size_t>(nr));
    // Padded column c of this strip is image column sx + c - pad_left. Chunk x is interior
    // when its columns [x, x + reach) map inside [0, W): lo <= x <= hi.
    const index_t lo = pad_left - sx, hi = W + pad_left - sx - reach;
    const index_t xend = separable ? vlen : sw;
    index_t pre_end = 0, suf_begin = -1, suf_end = 0;  // the ring columns border chunks read
    {
      bool seen_interior = false;
      for (index_t x = 0; x < xend; x += C) {
        if (x >= lo && x <= hi) {
          seen_interior = true;
        } else if (!seen_interior) {
          pre_end = x + reach;
        } else {
          if (suf_begin < 0) suf_begin = x;
          suf_end = x + reach;
        }
      }
    }
    auto load = [&](T* dst, index_t ir, index_t from, index_t to) {
      const index_t c0 = std::min(to, std::max(from, lo));
      const index_t c1 = std::max(c0, std::min(to, lo + W));
      set(dst + from, c0 - from, fill);
      if (c1 > c0)
        std::memcpy(dst + c0, a + ir * W + (c0 - lo), static_cast<std::size_t>(c1 - c0) * sizeof(T));
      set(dst + c1, to - c1, fill);
    };
    auto rows_at = [&](index_t x) {
      const bool interior = x >= lo && x <= hi;
      for (index_t i = 0; i < nr; ++i) {
        const index_t bi = base[static_cast<std::size_t>(i)];
        ptr[static_cast<std::size_t>(i)] =
            bi < 0 ? fill_row + x
                   : interior ? a + (bi * W + (x - lo))
                              : ring + slot[static_cast<std::size_t>(i)] * R + x;
      }
      return ptr.data();
    };
    for (index_t orow = r0; orow < r1; ++orow) {
      const index_t oz = orow / OH, oy = orow % OH;
      for (index_t d = 0; d < g.kd; ++d) {
        const index_t pz = oz - g.front + d;
        for (index_t i = 0; i < kh; ++i) {
          const std::size_t w = static_cast<std::size_t>(d * kh + i);
          const index_t ir = oy - pad_top + i;
          if (pz < 0 || pz >= g.D || ir < 0 || ir >= H) {
            base[w] = -1;
            continue;
          }
          const index_t gr = pz * H + ir;
          const index_t sl = d * kh + ir % kh;
          base[w] = gr;
          slot[w] = sl;
          if (slot_row[static_cast<std::size_t>(sl)] != gr) {
            slot_row[static_cast<std::size_t>(sl)] = gr;
            T* dst = ring + sl * R;
            if (pre_end > 0) load(dst, gr, 0, pre_end);
            if (suf_begin >= 0) load(dst, gr, suf_begin, suf_end);
          }
        }
      }
      T* yr = y + orow * OW + sx;
      if (separable) {
        for (index_t x = 0; x < vlen; x += C) chunk(rows_at(x), kh, col, 1, tmp + x);
        for (index_t x = 0; x < sw; x += C) {
          T* dst = x + C <= sw ? yr + x : tail;
          const T* tr[1] = {tmp + x};
          chunk(tr, 1, row, kw, dst);
          if (dst == tail) std::memcpy(yr + x, tail, static_cast<std::size_t>(sw - x) * sizeof(T));
        }
      } else {
        for (index_t x = 0; x < sw; x += C) {
          T* dst = x + C <= sw ? yr + x : tail;
          chunk(rows_at(x), nr, k, kw, dst);
          if (dst == tail) std::memcpy(yr + x, tail, static_cast<std::size_t>(sw - x) * sizeof(T));
        }
      }
    }
  });
}

}  // namespace kernels
}  // namespace convcore
