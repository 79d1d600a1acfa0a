// The INT8 depthwise engine (groups = C_in = C_out, 1-D or 2-D): channels-last, vectorised
// across channels.
//
//   acc[c] = bias[c] - zx * sum_t ws[c, t] + sum_t xu[p_t, c] * ws[c, t]      (mod 2^32)
// over all taps t, where (x - x_zp)(w - w_zp) = (xu - zx)(ws - zw) as in the GEMM engine
// (quantized_pack.hpp): the int16 kernels take xu = x, zx = x_zp, ws = w - w_zp (zw = 0); the
// VNNI kernel xu = x (+128 when int8), ws = w (-128 when uint8), zx = x_zp (+128), when every
// zw is 0. A tap in the padding reads xu = zx, adding zx * ws - zx * ws = 0: exactly the real
// 0 padding, so every output runs every tap, and the first two terms are one int32 per channel
// (corr), computed when packing.
//
// Each worker builds, per input row it needs (a small per-worker cache of rows), a "tap row":
// for every padded column pc and channel c the KQ values xu[pc + i * dil, c], i < KQ, side by
// side in one 32-bit lane (KQ = 2 int16 for vpmaddwd, KQ = 4 bytes for vpdpbusd), from a
// padded copy of the row (zx outside the input). An output pixel then takes, per kernel row
// and group of KQ column taps, one vector load of its tap row and one multiply-accumulate with
// the packed weights (KQ taps of one channel per lane, 0 past the kernel): 3 vpdpbusd or 6
// vpmaddwd per vector of outputs for a 3x3 kernel, against 9 products and their shuffles per
// tap without the rows. vpmaddwd's operands are xu in [-128, 255] and ws in [-255, 255]: its
// pair sums (at most 2 * 255^2) cannot saturate; vpdpbusd does not saturate.
//
// The tap rows are built with in-lane unpacks (vpunpck{l,h}{bw,wd}), so a block of CB channels
// sits in its NACC accumulators in the order q8_dw_perm below: the weights, corrections and
// multipliers are packed in that order, and the requantised bytes are put back in channel
// order before the store (the GEMM engine's fused requantisation, quantized_micro.hpp). The
// rows and weights are padded to whole blocks (weight 0, never stored).
#pragma once
#include <cstdint>
#include <cstring>

#include "../core/parallel.hpp"
#include "../core/scratch.hpp"
#include "quantized_args.hpp"
#include "quantized_micro.hpp"
#include "quantized_pack.hpp"

namespace convcore {
namespace kernels {

// True for the specs the depthwise engine runs.
inline bool q8_depthwise_applicable(const ConvSpec& s) {
  return s.groups == s.C_in && s.C_out == s.C_in && s.groups > 1 && s.planar();
}

// Channel (within its block) of lane j of accumulator h: each 128-bit lane of an unpacked
// vector holds 4 channels, lane j / 4 of the vectors covering channels 4 * NACC * (j / 4) on.
template <int NACC>
constexpr int q8_dw_perm(int h, int j) { return 4 * NACC * (j / 4) + 4 * h + j % 4; }

// The packed form: per block b of CB channels, kernel row t1, group q of KQ column taps and
// accumulator h, one vector of lanes (KQ weights each); then corr and mult per block in
// accumulator order.
template <class V>
struct q8_dw_layout {
  index_t nblk, K1, nq;
  std::size_t wbytes, cbytes, mbytes;
  explicit q8_dw_layout(const ConvSpec& s) {
    nblk = (s.C_in + V::CB - 1) / V::CB;
    K1 = s.k[1];
    nq = (s.k[2] + V::KQ - 1) / V::KQ;
    wbytes = q8_align64(static_cast<std::size_t>(nblk * K1 * nq * V::CB) * 4);
    cbytes = q8_align64(static_cast<std::size_t>(nblk * V::CB) * 4);
    mbytes = q8_align64(static_cast<std::size_t>(nblk * V::CB) * 8);
  }
};

template <class V>
std::size_t q8_depthwise_bytes(const QConvArgs& a) {
  const q8_dw_layout<V> D(*a.s);
  return D.wbytes + D.cbytes + D.mbytes;
}

template <class V>
void q8_depthwise_run(const QConvArgs& a, const Q8Packed& p);

template <class ISA>
void q8_dw_copy_channels(std::uint8_t* d, const std::uint8_t* s, index_t C, bool flip);

template <class V>
void q8_depthwise_pack(const QConvArgs& a, void* mem, Q8Packed* p) {
  constexpr int CB = V::CB, KQ = V::KQ, NACC = V::NACC, LANES = CB / NACC;
  using W = typename V::W;  // int8_t (vnni) or int16_t
  constexpr bool vnni = sizeof(W) == 1;
  const ConvSpec& s = *a.s;
  const q8_dw_layout<V> D(s);
  const index_t C = s.C_in, taps = s.k_size(), K2 = s.k[2];
  auto* bytes = static_cast<unsigned char*>(mem);
  auto* wp = reinterpret_cast<W*>(bytes);
  auto* corr = reinterpret_cast<std::uint32_t*>(bytes + D.wbytes);
  auto* mult = reinterpret_cast<double*>(bytes + D.wbytes + D.cbytes);
  const auto* w8 = static_cast<const std::uint8_t*>(a.w);
  const bool wsg = a.w_signed;
  const std::int32_t zx = a.x_zp + (vnni && a.x_signed ? 128 : 0);
  // per channel: its slot (block b, accumulator h, lane j) and its taps in groups of KQ;
  // the padding channels and taps keep the zeros
  std::memset(wp, 0, D.wbytes + D.cbytes + D.mbytes);
  for (index_t c = 0; c < C; ++c) {
    const index_t b = c / CB, r = c % CB;
    const int h = static_cast<int>((r % (4 * NACC)) / 4);
    const int j = static_cast<int>(4 * (r / (4 * NACC)) + r % 4);  // q8_dw_perm(h, j) == r
    const std::uint8_t* src = w8 + c * taps;
    const std::int32_t zp = a.w_zp[c];
    const std::uint8_t flip = wsg ? 0 : 0x80;
    std::uint32_t sum = 0;
    for (index_t t1 = 0; t1 < D.K1; ++t1)
      for (index_t t2 = 0; t2 < K2; ++t2) {
        const std::uint8_t raw = src[t1 * K2 + t2];
        const std::int32_t v =
            vnni ? static_cast<std::int8_t>(static_cast<std::uint8_t>(raw ^ flip))
                 : (wsg ? static_cast<std::int32_t>(static_cast<std::int8_t>(raw)) : raw) - zp;
        sum += static_cast<std::uint32_t>(v);
        wp[(((b * D.K1 + t1) * D.nq + t2 / KQ) * NACC + h) * LANES * KQ + j * KQ + t2 % KQ] =
            static_cast<W>(v);
      }
    const index_t slot = b * CB + h * LANES + j;
    corr[slot] = static_cast<std::uint32_t>(a.bias ? a.bias[c] : 0) - static_cast<std::uint32_t>(zx) * sum;
    mult[slot] = a.mult[c];
  }
  p->panel = wp;
  p->corr = corr;
  p->mult = mult;
  p->run = &q8_depthwise_run<V>;
  p->path = V::name();
}

template <class V>
struct q8_dw_tag {};  // owner of the depthwise engine's scratch

// One output row of the depthwise engine: tap rows (per kernel row, the first position's
// lanes), the byte steps to the next output pixel and to the next group of KQ column taps,
// and the packed weights, corrections and multipliers of all blocks.
struct Q8DwRow {
  const unsigned char* const* rows;
  index_t K1, nq, OW, ostep, qstep, C, nblk;
  const void* w;
  const std::uint32_t* corr;
  const double* mult;
  std::uint8_t* y;
};

template <class V>
void q8_depthwise_run(const QConvArgs& a, const Q8Packed& p) {
  constexpr int CB = V::CB, KQ = V::KQ;
  using W = typename V::W;
  constexpr bool vnni = sizeof(W) == 1;
  const ConvSpec& s = *a.s;
  const q8_dw_layout<V> D(s);
  const index_t C = s.C_in, CP = D.nblk * CB, K1 = D.K1, nq = D.nq;
  const index_t OH = s.out[1], OW = s.out[2], IH = s.in[1], IW = s.in[2];
  const index_t S1 = s.stride[1], S2 = s.stride[2], D1 = s.dil[1], D2 = s.dil[2];
  const index_t P1 = s.pad_lo[1], P2 = s.pad_lo[2];
  // tap-row positions (quad / pair starts) and the padded source row's width
  const index_t PQ = (OW - 1) * S2 + (nq - 1) * KQ * D2 + 1;
  const index_t PX = PQ + (KQ - 1) * D2;
  const std::size_t row_bytes = static_cast<std::size_t>(PQ * CP) * 4;
  const index_t R = (K1 - 1) * D1 + 1;  // rows one output row reads, at most
  // xu of the padding: x_zp's byte (flipped like x under vnni)
  const std::uint8_t zbyte =
      static_cast<std::uint8_t>(static_cast<std::uint8_t>(a.x_zp) ^ (vnni && a.x_signed ? 0x80 : 0));
  const bool xs = a.x_signed;
  // the tap row of an input row outside the image: built once, read by every worker
  const index_t cap = (static_cast<index_t>(row_bytes) + 63) / 64 * 64;
  unsigned char* padq = thread_scratch<unsigned char, q8_dw_tag<V>, 3>::get(0, cap + PX * CP);
  {
    std::uint8_t* src = padq + cap;
    std::memset(src, zbyte, static_cast<std::size_t>(PX * CP));
    V::build_row(src, CP, PQ, D2, xs, padq);
  }
  const auto* x8 = static_cast<const std::uint8_t*>(a.x);
  auto* y8 = static_cast<std::uint8_t*>(a.y);
  const W* wp = static_cast<const W*>(p.panel);
  Q8Store base{};
  base.hi = static_cast<double>(a.y_hi - a.y_zp);
  base.lo = a.y_lo - a.y_zp;
  base.zp = a.y_zp;
  base.y_signed = a.y_signed;
  base.mr = 1;
  // bands of output rows (the cached rows are reused down a band): about 4 items per thread
  // or more, the band rounded down so that few images of few rows still split evenly (14 rows
  // on 2 threads: 14 bands of 1, not 7 of 2)
  const index_t want = 4 * static_cast<index_t>(get_num_threads());
  index_t band = s.N * OH / want;
  if (band > OH) band = OH;
  if (band < 1) band = 1;
  const index_t bands = (OH + band - 1) / band;
  parallel_for_dynamic(s.N * bands, [&](index_t item) {
    const index_t n = item / bands, oh0 = (item % bands) * band;
    const index_t oh1 = oh0 + band < OH ? oh0 + band : OH;
    // R cached tap rows (slot ih mod R), then the padded source row
    unsigned char* cache = thread_scratch<unsigned char, q8_dw_tag<V>, 3>::get(1, R * cap + PX * CP);
    std::uint8_t* src = cache + R * cap;
    index_t* held = thread_scratch<index_t, q8_dw_tag<V>, 1>::get(0, R);
    for (index_t r = 0; r < R; ++r) held[r] = -1;
    const unsigned char** rows = thread_scratch<const unsigned char*, q8_dw_tag<V>, 1>::get(0, K1);
    // padded source row's constant parts: zx left and right of the input
    std::memset(src, zbyte, static_cast<std::size_t>(PX * CP));
    const index_t q0 = P2 < PX ? P2 : PX, q1 = P2 + IW < PX ? P2 + IW : PX;
    for (index_t oh = oh0; oh < oh1; ++oh) {
      for (index_t t1 = 0; t1 < K1; ++t1) {
        const index_t ih = oh * S1 - P1 + t1 * D1;
        if (ih < 0 || ih >= IH) {
          rows[t1] = padq;
          continue;
        }
        const index_t slot = ih % R;
        unsigned char* q = cache + slot * cap;
        if (held[slot] != ih) {
          const std::uint8_t* xr = x8 + (n * IH + ih) * IW * C;
          for (index_t pc = q0; pc < q1; ++pc) {
            std::uint8_t* d = src + pc * CP;
            const std::uint8_t* sp = xr + (pc - P2) * C;
            if ((q1 - 1 - pc) * C >= 32) {  // whole vectors: the row's pixels after it are slack
              q8_dw_copy_channels<typename V::isa>(d, sp, C, vnni && xs);
            } else if (vnni && xs) {
              for (index_t c = 0; c < C; ++c) d[c] = static_cast<std::uint8_t>(sp[c] ^ 0x80u);
            } else {
              std::memcpy(d, sp, static_cast<std::size_t>(C));
            }
          }
          V::build_row(src, CP, PQ, D2, xs, q);
          held[slot] = ih;
        }
        rows[t1] = q;
      }
      Q8DwRow rw;
      rw.rows = rows;
      rw.K1 = K1;
      rw.nq = nq;
      rw.OW = OW;
      rw.ostep = S2 * CP * 4;
      rw.qstep = KQ * D2 * CP * 4;
      rw.C = C;
      rw.nblk = D.nblk;
      rw.w = wp;
      rw.corr = p.corr;
      rw.mult = p.mult;
      rw.y = y8 + (n * OH + oh) * OW * C;
      V::row(rw, base);
    }
  });
}

#if defined(CONVCORE_SIMD_AVX2)
// One pixel's C channel bytes into its slot of the padded source row, in whole 32-byte vectors
// (flip: int8 x made unsigned for vpdpbusd). Up to 31 bytes more are read, the next pixels',
// so the caller copies exactly where fewer than 32 bytes of the row follow; and written, into
// the slot's padding lanes (weight 0, never stored) or the next slot's start, which its own
// copy then overwrites. A libc memcpy per pixel (144 bytes, say) was 15% of a MobileNet
// depthwise layer's time.
template <class ISA>
void q8_dw_copy_channels(std::uint8_t* d, const std::uint8_t* s, index_t C, bool flip) {
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(flip ? 0x80 : 0));
  for (index_t c = 0; c < C; c += 32)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + c),
                        _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + c)),
                                         bias));
}

// int16 pairs and vpmaddwd on 256-bit vectors: 16 channels per block, two accumulators (lanes:
// channels 0-3 and 8-11, then 4-7 and 12-15). The AVX-512 level without VNNI runs it too
// (vpmaddwd on 512-bit vectors is no faster per product on the CPUs measured).
template <class ISA>
struct q8_dw_madd {
  using isa = ISA;
  using W = std::int16_t;
  static constexpr int CB = 16, KQ = 2, NACC = 2;
  static const char* name() {
    return ISA::level == IsaLevel::avx2 ? "avx2_depthwise" : "avx512bw_depthwise";
  }
  // src: PQ + D2 positions of CP bytes; out: per position and channel the pair
  // (x[pc], x[pc + D2]) as int16, by blocks of 16 channels in accumulator order
  static void build_row(const std::uint8_t* src, index_t CP, index_t PQ, index_t D2, bool xs,
                        unsigned char* out) {
    auto* o = reinterpret_cast<__m256i*>(out);
    for (index_t pc = 0; pc < PQ; ++pc) {
      const std::uint8_t* a = src + pc * CP;
      const std::uint8_t* b = src + (pc + D2) * CP;
      for (index_t c = 0; c < CP; c += 16, o += 2) {
        const __m128i ba = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + c));
        const __m128i bb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + c));
        const __m256i va = xs ? _mm256_cvtepi8_epi16(ba) : _mm256_cvtepu8_epi16(ba);
        const __m256i vb = xs ? _mm256_cvtepi8_epi16(bb) : _mm256_cvtepu8_epi16(bb);
        _mm256_storeu_si256(o, _mm256_unpacklo_epi16(va, vb));
        _mm256_storeu_si256(o + 1, _mm256_unpackhi_epi16(va, vb));
      }
    }
  }
  static void row(const Q8DwRow& rw, const Q8Store& st) {
    const auto* wall = static_cast<const W*>(rw.w);
    for (index_t ow = 0; ow < rw.OW; ++ow) {
      std::uint8_t* y = rw.y + ow * rw.C;
      for (index_t b = 0; b < rw.nblk; ++b) {
        const index_t c0 = b * CB, off = ow * rw.ostep + c0 * 4;
        const W* w = wall + b * rw.K1 * rw.nq * CB * KQ;
        const std::uint32_t* corr = rw.corr + c0;
        const double* mult = rw.mult + c0;
        __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr));
        __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr + 8));
        for (index_t t1 = 0; t1 < rw.K1; ++t1) {
          const unsigned char* r = rw.rows[t1] + off;
          for (index_t q = 0; q < rw.nq; ++q, r += rw.qstep, w += 32) {
            const auto* v = reinterpret_cast<const __m256i*>(r);
            lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_loadu_si256(v),
                                                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w))));
            hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_loadu_si256(v + 1),
                                                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 16))));
          }
        }
        // lo: channels 0-3, 8-11; hi: 4-7, 12-15 (mult in the same order); the bytes
        // [0-3, 8-11, 4-7, 12-15] back in channel order, in registers (two 8-byte stores
        // read back as one 16-byte load stall the store forwarding)
        const __m128i v = _mm_shuffle_epi32(_mm_unpacklo_epi64(q8_requant8_avx2<ISA>(lo, mult, st),
                                                               q8_requant8_avx2<ISA>(hi, mult + 8, st)),
                                            _MM_SHUFFLE(3, 1, 2, 0));
        const index_t nvalid = rw.C - c0;
        if (nvalid >= 16) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(y + c0), v);
        } else {
          alignas(16) std::uint8_t bytes[16];
          _mm_store_si128(reinterpret_cast<__m128i*>(bytes), v);
          std::memcpy(y + c0, bytes, static_cast<std::size_t>(nvalid));
        }
      }
    }
  }
};
#endif

#if defined(CONVCORE_SIMD_AVX512)
// vpdpbusd on 256-bit vectors: 32 channels per block, four accumulators (lanes: channels
// 4h..4h+3 and 16+4h..16+4h+3).
template <class ISA>
struct q8_dw_vnni {
  using isa = ISA;
  using W = std::int8_t;
  static constexpr int CB = 32, KQ = 4, NACC = 4;
  static const char* name() { return "avx512_vnni_depthwise"; }
  // out: per position and channel the quad (x[pc + i * D2], i < 4), by blocks of 32 channels
  // in accumulator order
  static void build_row(const std::uint8_t* src, index_t CP, index_t PQ, index_t D2, bool,
                        unsigned char* out) {
    auto* o = reinterpret_cast<__m256i*>(out);
    for (index_t pc = 0; pc < PQ; ++pc) {
      const std::uint8_t* p0 = src + pc * CP;
      for (index_t c = 0; c < CP; c += 32, o += 4) {
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0 + c));
        const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0 + D2 * CP + c));
        const __m256i e = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0 + 2 * D2 * CP + c));
        const __m256i f = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0 + 3 * D2 * CP + c));
        const __m256i ablo = _mm256_unpacklo_epi8(a, b), abhi = _mm256_unpackhi_epi8(a, b);
        const __m256i eflo = _mm256_unpacklo_epi8(e, f), efhi = _mm256_unpackhi_epi8(e, f);
        _mm256_storeu_si256(o, _mm256_unpacklo_epi16(ablo, eflo));
        _mm256_storeu_si256(o + 1, _mm256_unpackhi_epi16(ablo, eflo));
        _mm256_storeu_si256(o + 2, _mm256_unpacklo_epi16(abhi, efhi));
        _mm256_storeu_si256(o + 3, _mm256_unpackhi_epi16(abhi, efhi));
      }
    }
  }
  static void row(const Q8DwRow& rw, const Q8Store& st);
};

template <class ISA>
CONVCORE_TARGET_VNNI void q8_dw_vnni_row(const Q8DwRow& rw, const Q8Store& st) {
  const __m512d hi = _mm512_set1_pd(st.hi);
  const __m256i lo = _mm256_set1_epi32(st.lo), zp = _mm256_set1_epi32(st.zp);
  // out dword m = 4k + h (channels 4m..4m+3) comes from accumulator h's dword k
  const __m256i order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  const auto* wall = static_cast<const std::int8_t*>(rw.w);
  for (index_t ow = 0; ow < rw.OW; ++ow) {
    std::uint8_t* y = rw.y + ow * rw.C;
    for (index_t b = 0; b < rw.nblk; ++b) {
      const index_t c0 = b * 32, off = ow * rw.ostep + c0 * 4;
      const std::int8_t* w = wall + b * rw.K1 * rw.nq * 128;
      const std::uint32_t* corr = rw.corr + c0;
      const double* mult = rw.mult + c0;
      __m256i c0v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr));
      __m256i c1v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr + 8));
      __m256i c2v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr + 16));
      __m256i c3v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr + 24));
      for (index_t t1 = 0; t1 < rw.K1; ++t1) {
        const unsigned char* r = rw.rows[t1] + off;
        for (index_t q = 0; q < rw.nq; ++q, r += rw.qstep, w += 128) {
          const auto* v = reinterpret_cast<const __m256i*>(r);
          const auto* wv = reinterpret_cast<const __m256i*>(w);
          c0v = _mm256_dpbusd_epi32(c0v, _mm256_loadu_si256(v), _mm256_loadu_si256(wv));
          c1v = _mm256_dpbusd_epi32(c1v, _mm256_loadu_si256(v + 1), _mm256_loadu_si256(wv + 1));
          c2v = _mm256_dpbusd_epi32(c2v, _mm256_loadu_si256(v + 2), _mm256_loadu_si256(wv + 2));
          c3v = _mm256_dpbusd_epi32(c3v, _mm256_loadu_si256(v + 3), _mm256_loadu_si256(wv + 3));
        }
      }
      // requantise each accumulator (8 lanes: dwords of channels 4h.., 16+4h..)
#define CONVCORE_Q8_RQ(acc, m)                                                                   \
  _mm256_cvtepi32_epi8(_mm256_add_epi32(                                                         \
      _mm256_max_epi32(_mm512_cvt_roundpd_epi32(                                                 \
                           _mm512_min_pd(_mm512_mul_pd(_mm512_cvtepi32_pd(acc), _mm512_loadu_pd(m)), hi), \
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),                        \
                       lo),                                                                      \
      zp))
      const __m128i b01 = _mm_unpacklo_epi64(CONVCORE_Q8_RQ(c0v, mult), CONVCORE_Q8_RQ(c1v, mult + 8));
      const __m128i b23 = _mm_unpacklo_epi64(CONVCORE_Q8_RQ(c2v, mult + 16), CONVCORE_Q8_RQ(c3v, mult + 24));
#undef CONVCORE_Q8_RQ
      const __m256i out = _mm256_permutevar8x32_epi32(
          _mm256_inserti128_si256(_mm256_castsi128_si256(b01), b23, 1), order);
      const index_t nvalid = rw.C - c0;
      if (nvalid >= 32)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + c0), out);
      else
        _mm256_mask_storeu_epi8(y + c0, static_cast<__mmask32>((1u << nvalid) - 1u), out);
    }
  }
}

template <class ISA>
void q8_dw_vnni<ISA>::row(const Q8DwRow& rw, const Q8Store& st) {
  q8_dw_vnni_row<ISA>(rw, st);
}
#endif

}  // namespace kernels
}  // namespace convcore
