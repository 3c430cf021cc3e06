// MXFP4 (OCP microscaling FP4 as ggml stores it): 32 E2M1 values under one E8M0 power-of-two
// scale. ggml keeps the E2M1 table doubled and the scale halved; the products are the same.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>

#include <strix/quant/block_format.hpp>

namespace strix {

// Doubled E2M1 values by 4-bit code (sign in bit 3).
inline constexpr std::array<std::int8_t, 16> mxfp4_code_table{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

struct block_mxfp4 {
  std::uint8_t e;  // E8M0 exponent
  std::uint8_t qs[16];
};

// Half of the E8M0 scale 2^(e-127), i.e. 2^(e-128); e < 2 gives the subnormals 2^-128 and 2^-127.
constexpr float mxfp4_half_scale(std::uint8_t e) noexcept {
  const std::uint32_t bits = e < 2 ? (0x00200000u << e) : (static_cast<std::uint32_t>(e - 1) << 23);
  return std::bit_cast<float>(bits);
}

struct mxfp4_format {
  using block_type = block_mxfp4;
  static constexpr ggml_type type = ggml_type::mxfp4;
  static constexpr std::size_t block_size = 32;

  static void dequantize(const block_type& b, float* y) noexcept {
    const float d = mxfp4_half_scale(b.e);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(mxfp4_code_table[b.qs[j] & 0x0f]) * d;
      y[j + 16] = static_cast<float>(mxfp4_code_table[b.qs[j] >> 4]) * d;
    }
  }

  // Tries the exponents around the one that puts the largest value near the top of the table
  // and keeps the one with the smallest squared error.
  static void quantize(const float* x, block_type& out) noexcept {
    float amax = 0.0f;
    for (std::size_t j = 0; j < block_size; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const int centre = !(amax > 0.0f)        ? 0
                       : !std::isfinite(amax) ? 254
                                              : static_cast<int>(std::floor(std::log2(amax))) - 2 + 127;
    double best_error = INFINITY;
    for (int e = std::max(0, centre - 1); e <= std::min(254, centre + 1); ++e) {
      block_type trial{};
      trial.e = static_cast<std::uint8_t>(e);
      const float d = mxfp4_half_scale(trial.e);
      double err = 0.0;
      std::uint8_t codes[32];
      for (std::size_t j = 0; j < block_size; ++j) {
        codes[j] = nearest_code(x[j] / d);
        const double r = x[j] - static_cast<double>(mxfp4_code_table[codes[j]]) * d;
        err += r * r;
      }
      if (err < best_error) {
        best_error = err;
        for (int j = 0; j < 16; ++j) trial.qs[j] = static_cast<std::uint8_t>(codes[j] | (codes[j + 16] << 4));
        out = trial;
      }
    }
  }

 private:
  static std::uint8_t nearest_code(float v) noexcept {
    std::uint8_t best = 0;
    float best_distance = INFINITY;
    for (std::uint8_t c = 0; c < 16; ++c) {
      const float distance = std::fabs(v - static_cast<float>(mxfp4_code_table[c]));
      if (distance < best_distance) {
        best_distance = distance;
        best = c;
      }
    }
    return best;
  }
};

static_assert(block_format<mxfp4_format>);

}  // namespace strix
