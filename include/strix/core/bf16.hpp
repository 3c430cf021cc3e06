// bfloat16 storage type: the upper half of an IEEE binary32. f32 -> bf16 rounds to nearest, ties
// to even, and keeps NaN a quiet NaN (the rule ggml and PyTorch use), so converted weights are
// bit-identical to theirs.
#pragma once

#include <bit>
#include <cstdint>

namespace strix {

struct bf16 {
  std::uint16_t bits = 0;

  static constexpr bf16 from_bits(std::uint16_t b) noexcept { return bf16{b}; }

  static constexpr bf16 from_float(float value) noexcept {
    const std::uint32_t x = std::bit_cast<std::uint32_t>(value);
    if ((x & 0x7fffffffu) > 0x7f800000u) return bf16{static_cast<std::uint16_t>((x >> 16) | 0x40u)};
    return bf16{static_cast<std::uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16)};
  }

  [[nodiscard]] constexpr float to_float() const noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
  }

  friend constexpr bool operator==(bf16 a, bf16 b) noexcept { return a.bits == b.bits; }
};

static_assert(sizeof(bf16) == 2);

}  // namespace strix
