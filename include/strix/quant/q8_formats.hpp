// Q8_0 (weights), Q8_1 and Q8_K (activation formats for integer dot products against 32- and
// 256-element weight blocks). Q8_0's quantizer is bit-exact with ggml's quantize_row_q8_0_ref.
#pragma once

#include <cmath>
#include <cstdint>

#include <strix/core/f16.hpp>
#include <strix/quant/block_format.hpp>

namespace strix {

struct block_q8_0 {
  f16 d;
  std::int8_t qs[32];
};
struct block_q8_1 {
  f16 d;
  f16 s;  // d * sum(qs): lets a dot product against a block with an offset skip a pass
  std::int8_t qs[32];
};
struct block_q8_k {
  float d;
  std::int8_t qs[256];
  std::int16_t bsums[16];  // sums of each 16 qs, for the K-quants' min terms
};

namespace detail {
// Symmetric 8-bit quantization of n values with scale amax/127, rounding half away from zero.
inline float quantize_int8_absmax(const float* x, std::size_t n, std::int8_t* qs) noexcept {
  float amax = 0.0f;
  for (std::size_t j = 0; j < n; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (std::size_t j = 0; j < n; ++j) qs[j] = static_cast<std::int8_t>(std::roundf(x[j] * id));
  return d;
}
}  // namespace detail

template <ggml_type Type, class Block>
struct q8_format {
  using block_type = Block;
  static constexpr ggml_type type = Type;
  static constexpr std::size_t block_size = 32;

  static void dequantize(const block_type& b, float* y) noexcept {
    const float d = b.d.to_float();
    for (std::size_t j = 0; j < block_size; ++j) y[j] = static_cast<float>(b.qs[j]) * d;
  }

  static void quantize(const float* x, block_type& out) noexcept {
    const float d = detail::quantize_int8_absmax(x, block_size, out.qs);
    out.d = f16::from_float(d);
    if constexpr (requires { out.s; }) {
      int sum = 0;
      for (auto q : out.qs) sum += q;
      out.s = f16::from_float(static_cast<float>(sum) * d);
    }
  }
};

using q8_0_format = q8_format<ggml_type::q8_0, block_q8_0>;
using q8_1_format = q8_format<ggml_type::q8_1, block_q8_1>;

struct q8_k_format {
  using block_type = block_q8_k;
  static constexpr ggml_type type = ggml_type::q8_k;
  static constexpr std::size_t block_size = 256;

  static void dequantize(const block_type& b, float* y) noexcept {
    for (std::size_t j = 0; j < block_size; ++j) y[j] = b.d * static_cast<float>(b.qs[j]);
  }

  static void quantize(const float* x, block_type& out) noexcept {
    // f32 scale: no fp16 rounding of d, so the full int8 range is used exactly.
    out.d = detail::quantize_int8_absmax(x, block_size, out.qs);
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += out.qs[g * 16 + j];
      out.bsums[g] = static_cast<std::int16_t>(sum);
    }
  }
};

static_assert(block_format<q8_0_format> && block_format<q8_1_format> && block_format<q8_k_format>);

}  // namespace strix
