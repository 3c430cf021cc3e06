// Reference matmul: y[t][o] = Σ_i W[o][i] · x[t][i] with W a quantized_view, accumulated in
// double: the oracle the fast kernels are measured against. Needs no workspace (one block is
// dequantized at a time onto the stack), so device policies can also use it, split by rows, for
// formats they have no fast kernel for.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>

#include <strix/core/tensor_view.hpp>
#include <strix/device/matmul_groups.hpp>
#include <strix/quant/quantized_view.hpp>

namespace strix::reference_kernels {

template <block_format Format>
void matmul(const quantized_view<Format>& w, matrix_view<const float> x, matrix_view<float> y) noexcept {
  constexpr std::size_t token_tile = 64;  // accumulators on the stack; each block dequantized once per tile
  const std::size_t tokens = x.extent(0);
  for (std::size_t o = 0; o < w.rows(); ++o) {
    const auto blocks = w.row(o);
    for (std::size_t t0 = 0; t0 < tokens; t0 += token_tile) {
      const std::size_t n = std::min(token_tile, tokens - t0);
      double sum[token_tile] = {};
      for (std::size_t b = 0; b < blocks.size(); ++b) {
        float values[Format::block_size];
        Format::dequantize(blocks[b], values);
        for (std::size_t t = 0; t < n; ++t) {
          for (std::size_t j = 0; j < Format::block_size; ++j) {
            sum[t] += static_cast<double>(values[j]) * x(t0 + t, b * Format::block_size + j);
          }
        }
      }
      for (std::size_t t = 0; t < n; ++t) y(t0 + t, o) = static_cast<float>(sum[t]);
    }
  }
}

// Each group's activation rows times its slice of the stacked matrix w (matmul_groups.hpp).
template <block_format Format>
void grouped_matmul(const quantized_view<Format>& w, std::span<const matmul_group> groups, matrix_view<const float> x,
                    matrix_view<float> y) {
  check_matmul_groups(w.rows(), w.row_length(), groups, x, y, "grouped matmul");
  for_each_matmul_group(groups, x, y, [&](std::size_t weight_row, matrix_view<const float> xs, matrix_view<float> ys) {
    matmul(w.rows_between(weight_row, weight_row + y.extent(1)), xs, ys);
  });
}

// out[t] = table[tokens[t]] · scale, dequantized.
template <block_format Format>
void embedding(const quantized_view<Format>& table, std::span<const std::int32_t> tokens, float scale,
               matrix_view<float> out) noexcept {
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    const auto row = out.row(t).span();
    table.dequantize_row(static_cast<std::size_t>(tokens[t]), row);
    if (scale != 1.0f) {
      for (float& v : row) v *= scale;
    }
  }
}

}  // namespace strix::reference_kernels
