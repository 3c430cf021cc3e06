#include <catch2/catch.hpp>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>

#include <strix/core/f16.hpp>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define STRIX_TEST_HAS_F16C 1
// The hardware conversions (vcvtph2ps / vcvtps2ph, round to nearest even) as an independent oracle.
__attribute__((target("f16c"))) static std::uint16_t hardware_to_f16(float x) {
  return static_cast<std::uint16_t>(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT));
}
__attribute__((target("f16c"))) static float hardware_to_f32(std::uint16_t h) { return _cvtsh_ss(h); }
static bool cpu_has_f16c() { return __builtin_cpu_supports("f16c"); }
#endif

using strix::f16;

namespace {
bool is_nan_f16(std::uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }

// Exact value of a finite f16 from its fields, computed in double.
double exact_value(std::uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  const double magnitude =
      exponent == 0 ? std::ldexp(mantissa, -24) : std::ldexp(1024 + mantissa, exponent - 25);
  return (h & 0x8000u) ? -magnitude : magnitude;
}
}  // namespace

TEST_CASE("f16 to f32 is exact for all 65536 bit patterns", "[core][f16]") {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    const float f = f16::from_bits(h).to_float();
    if (is_nan_f16(h)) {
      CHECK(std::isnan(f));
    } else if ((h & 0x7fffu) == 0x7c00u) {
      CHECK(std::isinf(f));
      CHECK(std::signbit(f) == ((h & 0x8000u) != 0));
    } else {
      REQUIRE(static_cast<double>(f) == exact_value(h));
      REQUIRE(std::signbit(f) == ((h & 0x8000u) != 0));
    }
  }
}

TEST_CASE("f32 to f16 round-trips every f16 and rounds midpoints to even", "[core][f16]") {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    if (is_nan_f16(h)) {
      CHECK(is_nan_f16(f16::from_float(f16::from_bits(h).to_float()).bits));
      continue;
    }
    REQUIRE(f16::from_float(f16::from_bits(h).to_float()).bits == h);
    // Midpoint between h and its successor (same sign), and one f32 ulp either side of it.
    const std::uint16_t next = static_cast<std::uint16_t>(h + 1);
    if ((h & 0x7fffu) >= 0x7bffu) continue;  // the successor of the largest finite is inf
    const double mid = (exact_value(h) + exact_value(next)) / 2;
    const auto mid_f = static_cast<float>(mid);
    REQUIRE(static_cast<double>(mid_f) == mid);  // representable in f32
    const std::uint16_t even = (h & 1u) == 0 ? h : next;
    CHECK(f16::from_float(mid_f).bits == even);
    CHECK(f16::from_float(std::nextafter(mid_f, 0.0f)).bits == h);
    CHECK(f16::from_float(std::nextafter(mid_f, mid_f * 2)).bits == next);
  }
}

TEST_CASE("f32 to f16 handles overflow, underflow, infinities and NaN", "[core][f16]") {
  CHECK(f16::from_float(65504.0f).bits == 0x7bff);
  CHECK(f16::from_float(65519.99f).bits == 0x7bff);
  CHECK(f16::from_float(65520.0f).bits == 0x7c00);
  CHECK(f16::from_float(-1e10f).bits == 0xfc00);
  CHECK(f16::from_float(INFINITY).bits == 0x7c00);
  CHECK(f16::from_float(-0.0f).bits == 0x8000);
  CHECK(f16::from_float(std::ldexp(1.0f, -25)).bits == 0x0000);            // exactly half the smallest subnormal: ties to even
  CHECK(f16::from_float(std::nextafter(std::ldexp(1.0f, -25), 1.0f)).bits == 0x0001);
  CHECK(f16::from_float(1e-30f).bits == 0x0000);
  CHECK(is_nan_f16(f16::from_float(NAN).bits));
  CHECK((f16::from_float(std::bit_cast<float>(0x7f800001u)).bits & 0x0200u) != 0);  // signalling NaN comes back quiet
}

#ifdef STRIX_TEST_HAS_F16C
TEST_CASE("f16 conversions agree with the F16C instructions", "[core][f16]") {
  if (!cpu_has_f16c()) return;
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const auto h = static_cast<std::uint16_t>(bits);
    if (is_nan_f16(h)) continue;
    REQUIRE(std::bit_cast<std::uint32_t>(f16::from_bits(h).to_float()) == std::bit_cast<std::uint32_t>(hardware_to_f32(h)));
  }
  // Every 7th f32 across the range that rounds to neither zero nor infinity (both signs), so every
  // exponent and every pattern of the 13 rounded-away bits is met (all 2^32 agreed in a one-off run).
  std::size_t disagreements = 0;
  std::uint32_t first_disagreement = 0;
  for (std::uint32_t magnitude = 0x33000000u; magnitude <= 0x47800000u; magnitude += 7) {
    for (const std::uint32_t sign : {0u, 0x80000000u}) {
      const float x = std::bit_cast<float>(sign | magnitude);
      if (f16::from_float(x).bits == hardware_to_f16(x)) continue;
      if (disagreements++ == 0) first_disagreement = sign | magnitude;
    }
  }
  INFO("first f32 bit pattern converted differently: " << first_disagreement);
  CHECK(disagreements == 0);
  std::mt19937 rng(42);
  std::uniform_int_distribution<std::uint32_t> any_bits;
  for (int i = 0; i < 2'000'000; ++i) {
    const float x = std::bit_cast<float>(any_bits(rng));
    if (std::isnan(x)) continue;
    REQUIRE(f16::from_float(x).bits == hardware_to_f16(x));
  }
}
#endif
