// The KV cache's quantizers (one unit: an element, or a block of 32) in a form both GPU compilers
// build for the device and a plain C++ compiler builds for the host, with the arithmetic of each
// KV type's Format::quantize (quant/): the GPU writes the bytes the host would, which the CPU test
// suite checks on every CI run.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include <strix/device/hip/host_device.hpp>
#include <strix/quant/kv_type.hpp>

namespace strix::hip_kernels {

template <class Format>
STRIX_HOST_DEVICE inline void quantize_kv_unit(const float* x, typename Format::block_type& out) {
  if constexpr (std::is_same_v<Format, f32_format>) {
    out = x[0];
  } else if constexpr (std::is_same_v<Format, f16_format>) {
    out.bits = gpu::float_to_half_bits(x[0]);
  } else if constexpr (std::is_same_v<Format, bf16_format>) {
    out.bits = gpu::float_to_bf16_bits(x[0]);
  } else if constexpr (std::is_same_v<Format, q8_0_format>) {
    // quantize_int8_absmax: d = absmax / 127, codes round(x / d), half away from zero.
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; ++j) out.qs[j] = static_cast<std::int8_t>(roundf(x[j] * inverse));
    out.d.bits = gpu::float_to_half_bits(d);
  } else {
    static_assert(std::is_same_v<Format, q4_0_format>, "a KV type without a GPU quantizer");
    // legacy_format's Q4_0: the element of largest magnitude (the first on ties) maps to -8.
    float amax = 0.0f;
    float pivot = 0.0f;
    for (int j = 0; j < 32; ++j) {
      if (amax < fabsf(x[j])) {
        amax = fabsf(x[j]);
        pivot = x[j];
      }
    }
    const float d = pivot / -8.0f;
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    out.d.bits = gpu::float_to_half_bits(d);
    for (int j = 0; j < 16; ++j) {
      const int q0 = static_cast<std::int8_t>(gpu::rounded_product(x[j], inverse) + 8.5f);
      const int q1 = static_cast<std::int8_t>(gpu::rounded_product(x[j + 16], inverse) + 8.5f);
      out.qs[j] = static_cast<std::uint8_t>(((q0 < 15 ? q0 : 15) & 0x0f) | (((q1 < 15 ? q1 : 15) & 0x0f) << 4));
    }
  }
}

}  // namespace strix::hip_kernels
