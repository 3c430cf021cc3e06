// Reference argmax and top-k over a row (logits over a 262144-entry vocabulary, router scores
// over 128-512 experts). Ties go to the lower index; NaN is never selected while a number is left.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>

#include <strix/core/error.hpp>
#include <strix/core/tensor_view.hpp>

namespace strix::reference_kernels {

// True when a ranks before b: larger value first, NaN last, lower index on ties.
inline bool ranks_before(float va, std::int32_t ia, float vb, std::int32_t ib) noexcept {
  if (std::isnan(va) != std::isnan(vb)) return std::isnan(vb);
  if (va != vb && !std::isnan(va)) return va > vb;
  return ia < ib;
}

inline std::size_t argmax(std::span<const float> x) noexcept {
  std::size_t best = 0;
  for (std::size_t i = 1; i < x.size(); ++i) {
    if (ranks_before(x[i], static_cast<std::int32_t>(i), x[best], static_cast<std::int32_t>(best))) best = i;
  }
  return best;
}

// The k best entries, best first: indices[i] and values[i] for i < k (k ≤ x.size()).
inline void top_k(std::span<const float> x, std::span<std::int32_t> indices, std::span<float> values) noexcept {
  const std::size_t k = indices.size();
  // Insertion into a sorted list of k: O(n·k) worst case, simple and exact.
  std::size_t filled = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const auto id = static_cast<std::int32_t>(i);
    if (filled == k && !ranks_before(x[i], id, values[k - 1], indices[k - 1])) continue;
    std::size_t at = filled < k ? filled++ : k - 1;
    while (at > 0 && ranks_before(x[i], id, values[at - 1], indices[at - 1])) {
      values[at] = values[at - 1];
      indices[at] = indices[at - 1];
      --at;
    }
    values[at] = x[i];
    indices[at] = id;
  }
}

// Throws a shape error naming `what` unless indices and values are [rows of x][k], k at most x's
// columns, every row contiguous.
inline void check_top_k_shapes(matrix_view<const float> x, matrix_view<std::int32_t> indices, matrix_view<float> values, const char* what) {
  const std::size_t k = indices.extent(1);
  const auto contiguous_rows = [](const auto& m) { return m.extent(1) <= 1 || m.stride(1) == 1; };
  if (indices.extent(0) != x.extent(0) || values.extent(0) != x.extent(0) || values.extent(1) != k || k > x.extent(1) ||
      !contiguous_rows(x) || !contiguous_rows(indices) || !contiguous_rows(values)) {
    throw error(error_category::shape, std::string(what) + ": indices and values must be [" + std::to_string(x.extent(0)) + "][k] with k ≤ " +
                                           std::to_string(x.extent(1)) + " (the rows' length), rows contiguous");
  }
}

// top_k of each row of x (router scores of a batch of tokens: one call, not one per token).
inline void top_k_rows(matrix_view<const float> x, matrix_view<std::int32_t> indices, matrix_view<float> values) {
  for (std::size_t r = 0; r < x.extent(0); ++r) {
    top_k(std::span(&x(r, 0), x.extent(1)), std::span(&indices(r, 0), indices.extent(1)), std::span(&values(r, 0), values.extent(1)));
  }
}

}  // namespace strix::reference_kernels
