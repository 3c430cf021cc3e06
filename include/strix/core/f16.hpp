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

  static constexpr f16 from_float(float value) noexcept {
    const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
    const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
    const std::uint32_t magnitude = x & 0x7fffffffu;
    if (magnitude >= 0x7f800000u) {  // infinity or NaN
      if (magnitude == 0x7f800000u) return f16{static_cast<std::uint16_t>(sign | 0x7c00u)};
      return f16{static_cast<std::uint16_t>(sign | 0x7e00u | ((magnitude >> 13) & 0x3ffu))};
    }
    if (magnitude >= 0x477ff000u) return f16{static_cast<std::uint16_t>(sign | 0x7c00u)};  // >= 65520 rounds to inf
    const std::uint32_t exponent = magnitude >> 23;
    if (exponent < 113) {  // below 2^-14: f16 subnormal or zero, unit 2^-24
      const std::uint32_t shift = 126 - exponent;
      if (shift > 24) return f16{sign};
      const std::uint32_t mantissa = (magnitude & 0x7fffffu) | 0x800000u;
      return f16{static_cast<std::uint16_t>(sign | round_shift_right(mantissa, shift))};
    }
    // Normal: rebias the exponent, round away 13 mantissa bits; a carry moves into the exponent.
    const std::uint32_t rebased = magnitude - (112u << 23);
    return f16{static_cast<std::uint16_t>(sign | round_shift_right(rebased, 13))};
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

 private:
  static constexpr std::uint32_t round_shift_right(std::uint32_t value, std::uint32_t shift) noexcept {
    const std::uint32_t kept = value >> shift;
    const std::uint32_t rest = value & ((1u << shift) - 1);
    const std::uint32_t half = 1u << (shift - 1);
    return kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
  }
};

static_assert(sizeof(f16) == 2);

}  // namespace strix
