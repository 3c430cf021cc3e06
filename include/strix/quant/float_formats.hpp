// F32, F16 and BF16 as block formats of one element, so unquantized weights go through the same
// views, kernels and tests as quantized ones.
#pragma once

#include <strix/core/bf16.hpp>
#include <strix/core/f16.hpp>
#include <strix/quant/block_format.hpp>

namespace strix {

template <ggml_type Type, class Storage>
struct float_format {
  using block_type = Storage;
  static constexpr ggml_type type = Type;
  static constexpr std::size_t block_size = 1;

  static void dequantize(const block_type& block, float* y) noexcept {
    if constexpr (std::is_same_v<Storage, float>) y[0] = block;
    else y[0] = block.to_float();
  }
  static void quantize(const float* x, block_type& out) noexcept {
    if constexpr (std::is_same_v<Storage, float>) out = x[0];
    else out = Storage::from_float(x[0]);
  }
};

using f32_format = float_format<ggml_type::f32, float>;
using f16_format = float_format<ggml_type::f16, f16>;
using bf16_format = float_format<ggml_type::bf16, bf16>;

static_assert(block_format<f32_format> && block_format<f16_format> && block_format<bf16_format>);

}  // namespace strix
