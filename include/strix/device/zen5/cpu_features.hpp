// The instruction sets the zen5 policy is compiled for, checked at run time so that a binary
// started on a CPU without them fails with a clear error instead of SIGILL. Zen 5 has AVX-512
// F/BW/DQ/VL/VNNI/BF16; it lacks AVX512-FP16 and AMX, which strix therefore never uses.
#pragma once

#include <string>

#include <strix/core/error.hpp>

#if !(defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__) && \
      defined(__AVX512VNNI__) && defined(__AVX512BF16__) && defined(__FMA__) && defined(__F16C__))
#error "the zen5 policy needs AVX-512 F/BW/DQ/VL/VNNI/BF16, FMA and F16C: link the strix::zen5 CMake target (or pass -march=znver5 / -march=znver4)"
#endif

namespace strix {

// The features this CPU lacks of those the zen5 policy needs, comma-separated; empty when none.
inline std::string missing_zen5_features() {
  std::string missing;
  auto need = [&](bool present, const char* name) {
    if (!present) missing += (missing.empty() ? "" : ", ") + std::string(name);
  };
  __builtin_cpu_init();
  need(__builtin_cpu_supports("avx512f"), "avx512f");
  need(__builtin_cpu_supports("avx512bw"), "avx512bw");
  need(__builtin_cpu_supports("avx512dq"), "avx512dq");
  need(__builtin_cpu_supports("avx512vl"), "avx512vl");
  need(__builtin_cpu_supports("avx512vnni"), "avx512vnni");
  need(__builtin_cpu_supports("avx512bf16"), "avx512bf16");
  need(__builtin_cpu_supports("fma"), "fma");
  need(__builtin_cpu_supports("f16c"), "f16c");
  return missing;
}

inline void require_zen5_features() {
  const std::string missing = missing_zen5_features();
  if (!missing.empty()) {
    throw error(error_category::unsupported, "this CPU lacks " + missing +
                                                 ", which the zen5 device policy was compiled for; use the reference policy "
                                                 "or a build without strix::zen5");
  }
}

}  // namespace strix
