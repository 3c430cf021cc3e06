// Q4_0, Q4_1, Q5_0, Q5_1: ggml's original 32-element formats, one algorithm parameterised by bit
// width (4 or 5) and by whether the block has an offset (min) beside its scale. Quantizers are
// bit-exact with ggml's quantize_row_*_ref (what llama-quantize uses without an imatrix);
// dequantizers are bit-exact with ggml's to_float.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <strix/core/f16.hpp>
#include <strix/core/rounded_product.hpp>
#include <strix/quant/block_format.hpp>

namespace strix {

struct block_q4_0 {
  f16 d;
  std::uint8_t qs[16];
};
struct block_q4_1 {
  f16 d;
  f16 m;
  std::uint8_t qs[16];
};
struct block_q5_0 {
  f16 d;
  std::uint8_t qh[4];
  std::uint8_t qs[16];
};
struct block_q5_1 {
  f16 d;
  f16 m;
  std::uint8_t qh[4];
  std::uint8_t qs[16];
};

// Bits: 4 or 5. WithMin: value = q*d + m (q unsigned); otherwise value = (q - 2^(Bits-1))*d.
template <ggml_type Type, class Block, int Bits, bool WithMin>
struct legacy_format {
  using block_type = Block;
  static constexpr ggml_type type = Type;
  static constexpr std::size_t block_size = 32;
  static constexpr int levels = 1 << Bits;
  static constexpr int zero_point = WithMin ? 0 : levels / 2;

  static void dequantize(const block_type& b, float* y) noexcept {
    const float d = b.d.to_float();
    const std::uint32_t high = high_bits(b);
    for (int j = 0; j < 16; ++j) {
      int q0 = b.qs[j] & 0x0f;
      int q1 = b.qs[j] >> 4;
      if constexpr (Bits == 5) {
        q0 |= static_cast<int>((high >> j) & 1u) << 4;
        q1 |= static_cast<int>((high >> (j + 16)) & 1u) << 4;
      }
      if constexpr (WithMin) {
        const float m = b.m.to_float();
        y[j] = rounded_product(static_cast<float>(q0), d) + m;
        y[j + 16] = rounded_product(static_cast<float>(q1), d) + m;
      } else {
        y[j] = static_cast<float>(q0 - zero_point) * d;
        y[j + 16] = static_cast<float>(q1 - zero_point) * d;
      }
    }
  }

  static void quantize(const float* x, block_type& out) noexcept {
    float d = 0.0f;
    float origin = 0.0f;  // value subtracted before scaling: the min, for formats with one
    float bias = 0.5f;    // added before truncation: rounds, and moves to the zero point
    if constexpr (WithMin) {
      float lo = FLT_MAX;
      float hi = -FLT_MAX;
      for (std::size_t j = 0; j < block_size; ++j) {
        lo = std::min(lo, x[j]);
        hi = std::max(hi, x[j]);
      }
      d = (hi - lo) / static_cast<float>(levels - 1);
      origin = lo;
      out.m = f16::from_float(lo);
    } else {
      // The element of largest magnitude (the first on ties) keeps its sign and maps to -2^(Bits-1).
      float amax = 0.0f;
      float pivot = 0.0f;
      for (std::size_t j = 0; j < block_size; ++j) {
        if (amax < std::fabs(x[j])) {
          amax = std::fabs(x[j]);
          pivot = x[j];
        }
      }
      d = pivot / static_cast<float>(-zero_point);
      bias = static_cast<float>(zero_point) + 0.5f;
    }
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out.d = f16::from_float(d);
    std::uint32_t high = 0;
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(levels - 1, static_cast<int>(static_cast<std::int8_t>(rounded_product(x[j] - origin, id) + bias)));
      const int q1 = std::min(levels - 1, static_cast<int>(static_cast<std::int8_t>(rounded_product(x[j + 16] - origin, id) + bias)));
      out.qs[j] = static_cast<std::uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
      high |= static_cast<std::uint32_t>((q0 >> 4) & 1) << j;
      high |= static_cast<std::uint32_t>((q1 >> 4) & 1) << (j + 16);
    }
    if constexpr (Bits == 5) std::memcpy(out.qh, &high, 4);
  }

 private:
  static std::uint32_t high_bits(const block_type& b) noexcept {
    std::uint32_t high = 0;
    if constexpr (Bits == 5) std::memcpy(&high, b.qh, 4);
    else (void)b;
    return high;
  }
};

using q4_0_format = legacy_format<ggml_type::q4_0, block_q4_0, 4, false>;
using q4_1_format = legacy_format<ggml_type::q4_1, block_q4_1, 4, true>;
using q5_0_format = legacy_format<ggml_type::q5_0, block_q5_0, 5, false>;
using q5_1_format = legacy_format<ggml_type::q5_1, block_q5_1, 5, true>;

static_assert(block_format<q4_0_format> && block_format<q4_1_format> && block_format<q5_0_format> &&
              block_format<q5_1_format>);

}  // namespace strix
