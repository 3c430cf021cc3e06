// IEEE 754 binary16 storage type with exact conversions: f16 -> f32 is exact, f32 -> f16 rounds to
// nearest, ties to even, overflow to infinity, NaN stays a quiet NaN. Bit-compatible with F16C
// (vcvtps2ph with round-to-nearest) and with ggml's fp16 quantization.
#pragma once

#include <bit>
#include <cstdint>

namespace strix {

struct f16 {
  std::uint16_t bits = 0;

  static constexpr f16 from_bits(std::uint16_t b) noexcept { return f16{b}; }

  // Without branches, so that loops over rows (KV cache writes) vectorize: every case is computed
  // and the right one selected.
  static constexpr f16 from_float(float value) noexcept {
    const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
    const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
    const std::uint32_t magnitude = x & 0x7fffffffu;
    // Normal: rebias the exponent, round away 13 mantissa bits to nearest even; a carry moves into
    // the exponent.
    const std::uint32_t normal = (magnitude - (112u << 23) + 0xfffu + ((magnitude >> 13) & 1u)) >> 13;
    // Below 2^-14, an f16 subnormal or zero in units of 2^-24: the f32 sum 0.5 + |value| has
    // exactly that unit in its mantissa, so the FPU's addition does the rounding to nearest even.
    const std::uint32_t subnormal = std::bit_cast<std::uint32_t>(std::bit_cast<float>(magnitude) + 0.5f) - 0x3f000000u;
    const std::uint32_t quiet_nan = 0x7e00u | ((magnitude >> 13) & 0x3ffu);
    std::uint32_t bits = magnitude < 0x38800000u ? subnormal : normal;
    bits = magnitude >= 0x477ff000u ? 0x7c00u : bits;  // >= 65520 rounds to infinity
    bits = magnitude > 0x7f800000u ? quiet_nan : bits;
    return f16{static_cast<std::uint16_t>(sign | bits)};
  }

  [[nodiscard]] constexpr float to_float() const noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
    const std::uint32_t exponent = (bits >> 10) & 0x1fu;
    std::uint32_t mantissa = bits & 0x3ffu;
    if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
    if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
    if (mantissa == 0) return std::bit_cast<float>(sign);
    int shift = 0;  // subnormal: normalise
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    return std::bit_cast<float>(sign | static_cast<std::uint32_t>(113 - shift) << 23 | ((mantissa & 0x3ffu) << 13));
  }

  friend constexpr bool operator==(f16 a, f16 b) noexcept { return a.bits == b.bits; }
};

static_assert(sizeof(f16) == 2);

}  // namespace strix
