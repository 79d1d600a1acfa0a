// CPU feature detection and the SIMD levels the engine can run at.
//
// Levels: scalar < avx2 (AVX2 + FMA) < avx512 (F, BW, DQ, VL) on x86; neon on aarch64 (always
// present there). A level is usable when the CPU has the instructions AND the OS saves the
// register state (XGETBV), which is what a VM or an old kernel can withhold.
//
// The environment variable CONVCORE_ISA ("scalar", "avx2", "avx512", "neon") forces a lower
// level, for testing and for working around a misbehaving CPU. An unknown name, or a level the
// CPU (or the build) cannot run, falls back to the best available one; isa_choice() says so in
// its note, and info()["simd"] shows it.
#pragma once
#include <cstdlib>
#include <string>

#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#include <intrin.h>
#define CONVCORE_X86 1
#elif defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define CONVCORE_X86 1
#endif

namespace convcore {

enum class IsaLevel : int { scalar = 0, neon = 1, avx2 = 2, avx512 = 3 };

inline const char* isa_name(IsaLevel l) {
  switch (l) {
    case IsaLevel::scalar: return "scalar";
    case IsaLevel::neon: return "neon";
    case IsaLevel::avx2: return "avx2";
    case IsaLevel::avx512: return "avx512";
  }
  return "?";
}

// false when the name is unknown
inline bool parse_isa(const std::string& s, IsaLevel* out) {
  if (s == "scalar") *out = IsaLevel::scalar;
  else if (s == "neon") *out = IsaLevel::neon;
  else if (s == "avx2") *out = IsaLevel::avx2;
  else if (s == "avx512") *out = IsaLevel::avx512;
  else return false;
  return true;
}

struct CpuFeatures {
  bool avx2 = false;    // AVX2 + FMA + OS-saved YMM state
  bool avx512 = false;  // AVX-512 F/BW/DQ/VL + OS-saved ZMM/opmask state
  bool avx512_vnni = false;  // avx512 + VNNI (vpdpbusd): the INT8 engine's dot product
  bool neon = false;
};

namespace detail {
#if defined(CONVCORE_X86)
inline void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
#if defined(_MSC_VER)
  int v[4];
  __cpuidex(v, static_cast<int>(leaf), static_cast<int>(sub));
  for (int i = 0; i < 4; ++i) r[i] = static_cast<unsigned>(v[i]);
#else
  r[0] = r[1] = r[2] = r[3] = 0;
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#endif
}

inline unsigned long long xgetbv0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  // Raw opcode use of xgetbv needs no -mxsave on this translation unit.
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
#endif
}

inline CpuFeatures detect_x86() {
  CpuFeatures f;
  unsigned r[4];
  cpuid(0, 0, r);
  const unsigned max_leaf = r[0];
  if (max_leaf < 7) return f;
  cpuid(1, 0, r);
  const bool osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1, fma = (r[2] >> 12) & 1;
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = xgetbv0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;
  const bool zmm_state = (xcr0 & 0xE6) == 0xE6;
  cpuid(7, 0, r);
  const bool avx2 = (r[1] >> 5) & 1;
  const bool f512 = (r[1] >> 16) & 1, dq = (r[1] >> 17) & 1, bw = (r[1] >> 30) & 1,
             vl = (r[1] >> 31) & 1;
  f.avx2 = ymm_state && avx2 && fma;
  f.avx512 = f.avx2 && zmm_state && f512 && dq && bw && vl;
  f.avx512_vnni = f.avx512 && ((r[2] >> 11) & 1);
  return f;
}
#endif
}  // namespace detail

inline const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
#if defined(CONVCORE_X86)
    return detail::detect_x86();
#else
    CpuFeatures c;
#if defined(__aarch64__) || defined(_M_ARM64)
    c.neon = true;  // Advanced SIMD is mandatory in AArch64
#endif
    return c;
#endif
  }();
  return f;
}

inline bool cpu_supports(IsaLevel l) {
  const CpuFeatures& f = cpu_features();
  switch (l) {
    case IsaLevel::scalar: return true;
    case IsaLevel::neon: return f.neon;
    case IsaLevel::avx2: return f.avx2;
    case IsaLevel::avx512: return f.avx512;
  }
  return false;
}

// The level to run at, given the levels this build has kernels for (`compiled`, a bit mask
// over IsaLevel values) and CONVCORE_ISA.
struct IsaChoice {
  IsaLevel level = IsaLevel::scalar;
  std::string note;  // empty unless CONVCORE_ISA was ignored
};

inline unsigned isa_bit(IsaLevel l) { return 1u << static_cast<int>(l); }

inline bool isa_usable(IsaLevel l, unsigned compiled) {
  return (compiled & isa_bit(l)) && cpu_supports(l);
}

inline IsaLevel best_isa(unsigned compiled) {
  const IsaLevel order[] = {IsaLevel::avx512, IsaLevel::avx2, IsaLevel::neon, IsaLevel::scalar};
  for (IsaLevel l : order)
    if (isa_usable(l, compiled)) return l;
  return IsaLevel::scalar;
}

inline IsaChoice choose_isa(unsigned compiled, const char* requested) {
  IsaChoice c;
  c.level = best_isa(compiled);
  if (!requested || !*requested) return c;
  IsaLevel want;
  if (!parse_isa(requested, &want)) {
    c.note = std::string("CONVCORE_ISA='") + requested +
             "' is not one of scalar, avx2, avx512, neon; using " + isa_name(c.level);
  } else if (!isa_usable(want, compiled)) {
    c.note = std::string("CONVCORE_ISA='") + requested +
             "' is not supported by this CPU or build; using " + isa_name(c.level);
  } else if (static_cast<int>(want) > static_cast<int>(c.level)) {
    c.note = std::string("CONVCORE_ISA='") + requested + "' is above the best level; using " +
             isa_name(c.level);
  } else {
    c.level = want;
  }
  return c;
}

inline IsaChoice choose_isa_from_env(unsigned compiled) {
#if defined(_MSC_VER)
#pragma warning(suppress : 4996)  // getenv is fine: read once, never written by us
#endif
  const char* e = std::getenv("CONVCORE_ISA");
  return choose_isa(compiled, e);
}

}  // namespace convcore
