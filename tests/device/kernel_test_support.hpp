// Shared pieces of the device-policy tests: random data, quantized weight matrices of any format,
// and error measures.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include <catch2/catch.hpp>

#include <span>

#include <strix/device/matmul_groups.hpp>
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

// Expert stacks for the grouped matmul tests: `experts` slices of `width` rows, each group's slice
// at weight row expert · stride + offset (stride 2 · width and offset width: the up halves of a
// fused gate_up stack), groups of the sizes given, one per expert.
inline std::vector<matmul_group> expert_groups(std::span<const std::size_t> sizes, std::size_t stride, std::size_t offset) {
  std::vector<matmul_group> groups;
  for (std::size_t e = 0; e < sizes.size(); ++e) groups.push_back({e * stride + offset, sizes[e]});
  return groups;
}
// Group sizes the grouped matmul tests run: decode (one row per routed expert, some experts
// idle), prefill-like groups crossing the GPU's token tile of 8 with tails, a single group, none.
inline std::vector<std::vector<std::size_t>> grouped_matmul_cases() {
  return {{1, 0, 1, 1, 0, 1}, {0, 9, 1, 17, 0, 3}, {0, 0, 0, 0, 0, 2}, {0, 0, 0, 0, 0, 0}};
}

// Checks y (a grouped matmul of x by the groups' slices of `stack`, `width` rows each) against the
// maths, dequantized rows by activations in double, per output scaled by ‖w_row‖·‖x_row‖: within
// `rounding` against the activations the kernel multiplies (`seen`), within `activation_error`
// against x itself.
template <block_format Format>
void check_grouped_matmul(const quantized_view<Format>& stack, std::span<const matmul_group> groups, std::size_t width,
                          const std::vector<float>& x, const std::vector<float>& seen, const std::vector<float>& y, double rounding,
                          double activation_error) {
  const std::size_t cols = stack.row_length();
  auto norm = [](std::span<const float> v) {
    double s = 0;
    for (float e : v) s += static_cast<double>(e) * e;
    return std::sqrt(s);
  };
  std::vector<float> w_row(cols);
  std::size_t first = 0;
  for (std::size_t g = 0; g < groups.size(); first += groups[g++].rows) {
    for (std::size_t o = 0; o < width; ++o) {
      stack.dequantize_row(groups[g].weight_row + o, w_row);
      for (std::size_t r = first; r < first + groups[g].rows; ++r) {
        double exact = 0, ideal = 0;
        for (std::size_t i = 0; i < cols; ++i) {
          exact += static_cast<double>(w_row[i]) * seen[r * cols + i];
          ideal += static_cast<double>(w_row[i]) * x[r * cols + i];
        }
        const double norms = norm(w_row) * norm(std::span(x).subspan(r * cols, cols));
        INFO("group " << g << ", row " << r << ", output " << o);
        CHECK(std::fabs(y[r * width + o] - exact) <= rounding * norms);
        CHECK(std::fabs(y[r * width + o] - ideal) <= activation_error * norms);
      }
    }
  }
}

}  // namespace strix::testing
