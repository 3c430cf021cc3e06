// Shared pieces of the device-policy tests: random data, quantized weight matrices of any format,
// and error measures.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include <strix/quant/quantized_view.hpp>

#include "test_data.hpp"

namespace strix::testing {

template <block_format Format>
struct quantized_matrix {
  std::vector<typename Format::block_type> blocks;
  std::size_t rows;
  std::size_t cols;

  quantized_matrix(std::size_t rows_, std::size_t cols_, std::uint32_t seed, float sigma = 1.0f)
      : blocks(rows_ * cols_ / Format::block_size), rows(rows_), cols(cols_) {
    const auto values = gaussian(rows * cols, seed, sigma);
    quantize_row<Format>(values, blocks);
  }
  [[nodiscard]] quantized_view<Format> view() const {
    return {std::as_bytes(std::span(blocks)), rows, cols, "test weights"};
  }
};

// Normalised mean squared error: Σ(a−b)² / Σb², the measure ggml's backend tests use.
inline double nmse(const std::vector<float>& actual, const std::vector<float>& expected) {
  double err = 0.0;
  double norm = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    err += (static_cast<double>(actual[i]) - expected[i]) * (static_cast<double>(actual[i]) - expected[i]);
    norm += static_cast<double>(expected[i]) * expected[i];
  }
  return norm == 0.0 ? err : err / norm;
}

}  // namespace strix::testing
