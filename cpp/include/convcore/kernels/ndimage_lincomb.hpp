// The line driver shared by convcore.ndimage's three lincomb engines (double: ndimage_lines.hpp,
// float32: ndimage_f32.hpp, int32: ndimage_int.hpp). Each engine E gives the arithmetic for
// its type, in its own order (see ndimage_lines.hpp's header for the three tap orders):
//   E::kVec, E::kAcc, E::C = kVec * kAcc: lanes per vector, accumulators per chunk, chunk width;
//   E::chunk<Pairing, NA>(p, w, ntaps, x, y): NA vectors of outputs from x;
//   E::one(p, w, ntaps, pairing, x): output x alone.
// The driver only decides which outputs each of them computes, so every output gets its own
// engine's sequence of operations whichever call computes it.
#pragma once
#include "../core/hd.hpp"

namespace convcore {
namespace kernels {

// y[x], x < n: the body in chunks of C outputs, then the remaining whole vectors as one chunk
// (independent accumulators, not one chain); the last partial vector is recomputed as the
// vector ending at n (the same values again: y never aliases the taps' rows); lines shorter
// than a vector output by output.
template <class E, int Pairing, class T>
void lincomb_line(const T* const* p, const T* w, index_t ntaps, index_t n, T* y) {
  constexpr int kVec = E::kVec, kAcc = E::kAcc;
  index_t x = 0;
  for (; x + E::C <= n; x += E::C) E::template chunk<Pairing>(p, w, ntaps, x, y);
  switch ((n - x) / kVec) {
    case 7: E::template chunk<Pairing, (7 < kAcc ? 7 : 1)>(p, w, ntaps, x, y); break;
    case 6: E::template chunk<Pairing, (6 < kAcc ? 6 : 1)>(p, w, ntaps, x, y); break;
    case 5: E::template chunk<Pairing, (5 < kAcc ? 5 : 1)>(p, w, ntaps, x, y); break;
    case 4: E::template chunk<Pairing, (4 < kAcc ? 4 : 1)>(p, w, ntaps, x, y); break;
    case 3: E::template chunk<Pairing, (3 < kAcc ? 3 : 1)>(p, w, ntaps, x, y); break;
    case 2: E::template chunk<Pairing, 2>(p, w, ntaps, x, y); break;
    case 1: E::template chunk<Pairing, 1>(p, w, ntaps, x, y); break;
    default: break;
  }
  x += (n - x) / kVec * kVec;
  if (x < n && n >= kVec) return E::template chunk<Pairing, 1>(p, w, ntaps, n - kVec, y);
  for (; x < n; ++x) y[x] = E::one(p, w, ntaps, Pairing, x);
}

// lincomb_line for a pairing given at run time (0, > 0, < 0).
template <class E, class T>
void lincomb_lines(const T* const* p, const T* w, index_t ntaps, int pairing, index_t n, T* y) {
  if (pairing == 0)
    lincomb_line<E, 0>(p, w, ntaps, n, y);
  else if (pairing > 0)
    lincomb_line<E, 1>(p, w, ntaps, n, y);
  else
    lincomb_line<E, -1>(p, w, ntaps, n, y);
}

}  // namespace kernels
}  // namespace convcore
