#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstdint>

#include <strix/core/bf16.hpp>

using strix::bf16;

TEST_CASE("bf16 to f32 is exact and f32 to bf16 round-trips all 65536 bit patterns", "[core][bf16]") {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    const float f = bf16::from_bits(h).to_float();
    REQUIRE(std::bit_cast<std::uint32_t>(f) == bits << 16);
    const bool nan = (h & 0x7f80u) == 0x7f80u && (h & 0x7fu) != 0;
    if (nan) {
      CHECK(std::isnan(bf16::from_float(f).to_float()));
      continue;
    }
    REQUIRE(bf16::from_float(f).bits == h);
  }
}

TEST_CASE("f32 to bf16 rounds to nearest, ties to even, for every bf16 interval", "[core][bf16]") {
  for (std::uint32_t bits = 0; bits < 0xffff; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    if ((h & 0x7fffu) >= 0x7f7fu) continue;  // largest finite and beyond: no finite successor
    const std::uint32_t lo = bits << 16;
    const std::uint32_t mid = lo | 0x8000u;
    const std::uint16_t even = (h & 1u) == 0 ? h : static_cast<std::uint16_t>(h + 1);
    CHECK(bf16::from_float(std::bit_cast<float>(mid)).bits == even);
    CHECK(bf16::from_float(std::bit_cast<float>(mid - 1)).bits == h);
    CHECK(bf16::from_float(std::bit_cast<float>(mid + 1)).bits == static_cast<std::uint16_t>(h + 1));
  }
}

TEST_CASE("f32 to bf16 keeps NaN quiet and overflows to infinity", "[core][bf16]") {
  const auto signalling = std::bit_cast<float>(0x7f800001u);
  const auto h = bf16::from_float(signalling).bits;
  CHECK((h & 0x7f80u) == 0x7f80u);
  CHECK((h & 0x40u) != 0);
  CHECK(bf16::from_float(std::bit_cast<float>(0x7f7fffffu)).bits == 0x7f80);  // FLT_MAX rounds up to inf
  CHECK(bf16::from_float(-INFINITY).bits == 0xff80);
}
