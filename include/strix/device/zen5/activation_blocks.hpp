// Activation formats the zen5 matmul quantizes its input into, once per call and token, so that
// weight blocks can be multiplied with integer dot products (vpdpbusd): int8 blocks of 32 with an
// f32 scale and the sum of the codes (for the offset terms of Q4_0 and MXFP4), Q8_K for the
// 256-element K-quant and IQ4_XS super-blocks, and bf16 rows for BF16 weights.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <strix/core/bf16.hpp>
#include <strix/quant/q8_formats.hpp>

namespace strix::zen5_kernels {

// A row of int8 activations in blocks of 32, stored as three arrays so that consecutive blocks'
// codes, scales and sums each load as one vector: codes (32 per block), f32 scales, and the sum
// of each block's codes (for the offset terms of Q4_0).
struct act_q8_32_row {
  const std::int8_t* qs;
  const float* d;
  const std::int32_t* sum;

  static std::size_t bytes(std::size_t row_length) noexcept { return row_length / 32 * (32 + 4 + 4); }
  static act_q8_32_row at(const std::byte* p, std::size_t row_length) noexcept {
    const std::size_t blocks = row_length / 32;
    return {reinterpret_cast<const std::int8_t*>(p), reinterpret_cast<const float*>(p + 32 * blocks),
            reinterpret_cast<const std::int32_t*>(p + 36 * blocks)};
  }
};

// Quantizes x (a multiple of 32 long) into the act_q8_32_row layout at dst (4-byte aligned).
inline void quantize_act_q8_32(std::span<const float> x, std::byte* dst) noexcept {
  const std::size_t blocks = x.size() / 32;
  auto* qs = reinterpret_cast<std::int8_t*>(dst);
  auto* d = reinterpret_cast<float*>(dst + 32 * blocks);
  auto* sums = reinterpret_cast<std::int32_t*>(dst + 36 * blocks);
  for (std::size_t b = 0; b < blocks; ++b) {
    d[b] = detail::quantize_int8_absmax(x.data() + 32 * b, 32, qs + 32 * b);
    std::int32_t sum = 0;
    for (int j = 0; j < 32; ++j) sum += qs[32 * b + j];
    sums[b] = sum;
  }
}

inline void quantize_act_q8_k(std::span<const float> x, block_q8_k* out) noexcept {
  for (std::size_t b = 0; b < x.size() / 256; ++b) q8_k_format::quantize(x.data() + 256 * b, out[b]);
}

inline void convert_act_bf16(std::span<const float> x, bf16* out) noexcept {
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = bf16::from_float(x[i]);
}

}  // namespace strix::zen5_kernels
