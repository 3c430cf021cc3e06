// Activation formats the zen5 matmul quantizes its input into, once per call and token, so that
// weight blocks can be multiplied with integer dot products (vpdpbusd): int8 blocks of 32 with an
// f32 scale and the sum of the codes (for the offset terms of Q4_0 and MXFP4), Q8_K for the
// 256-element K-quant and IQ4_XS super-blocks, and bf16 rows for BF16 weights.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>

#include <strix/core/bf16.hpp>
#include <strix/quant/block_format.hpp>
#include <strix/quant/q8_formats.hpp>

namespace strix::zen5_kernels {

struct act_q8_32 {
  std::int8_t qs[32];
  float d;
  std::int32_t sum;  // Σ qs
};

inline void quantize_act_q8_32(std::span<const float> x, act_q8_32* out) noexcept {
  for (std::size_t b = 0; b < x.size() / 32; ++b) {
    const float* v = x.data() + 32 * b;
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(v[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    std::int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      out[b].qs[j] = static_cast<std::int8_t>(nearest_int(v[j] * id));
      sum += out[b].qs[j];
    }
    out[b].d = d;
    out[b].sum = sum;
  }
}

inline void quantize_act_q8_k(std::span<const float> x, block_q8_k* out) noexcept {
  for (std::size_t b = 0; b < x.size() / 256; ++b) q8_k_format::quantize(x.data() + 256 * b, out[b]);
}

inline void convert_act_bf16(std::span<const float> x, bf16* out) noexcept {
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = bf16::from_float(x[i]);
}

}  // namespace strix::zen5_kernels
