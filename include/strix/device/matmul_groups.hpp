// Grouped matmul: the activation rows of a batch, sorted by expert, each group multiplied by its
// own slice of one stacked weight matrix (an expert stack: experts × rows) — so a policy can run
// every expert of a mixture-of-experts layer in one call (one GPU launch, one pass of the thread
// pool) rather than one call per expert.
//
// Groups take x's rows in order: the first group's `rows` rows multiply weight rows
// [weight_row, weight_row + y's width), the next group's rows the next slice, and so on; the group
// sizes add up to x's rows (a group may be empty). y[r] = W_slice(r) · x[r].
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include <strix/core/error.hpp>
#include <strix/core/tensor_view.hpp>

namespace strix {

struct matmul_group {
  std::size_t weight_row;  // first row of the group's slice of the stacked matrix
  std::size_t rows;        // activation rows (tokens) in the group
};

// Throws a shape error naming `what` unless the groups fit a stacked matrix of `stack_rows` rows of
// `row_length` weights and x [rows][row_length] → y [rows][slice rows] as described above.
inline void check_matmul_groups(std::size_t stack_rows, std::size_t row_length, std::span<const matmul_group> groups,
                                matrix_view<const float> x, matrix_view<float> y, const char* what) {
  auto fail = [&](const std::string& message) { throw error(error_category::shape, std::string(what) + ": " + message); };
  if (x.extent(1) != row_length) {
    fail("activation rows of " + std::to_string(x.extent(1)) + " values for weight rows of " + std::to_string(row_length));
  }
  if (y.extent(0) != x.extent(0)) fail(std::to_string(x.extent(0)) + " activation rows but " + std::to_string(y.extent(0)) + " output rows");
  std::size_t rows = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].weight_row > stack_rows || stack_rows - groups[g].weight_row < y.extent(1)) {
      fail("group " + std::to_string(g) + "'s weight rows [" + std::to_string(groups[g].weight_row) + ", " +
           std::to_string(groups[g].weight_row + y.extent(1)) + ") are outside the matrix's " + std::to_string(stack_rows));
    }
    rows += groups[g].rows;
  }
  if (rows != x.extent(0)) fail("the groups hold " + std::to_string(rows) + " rows, the activations " + std::to_string(x.extent(0)));
}

// f(weight_row, x rows, y rows) for each non-empty group, after check_matmul_groups.
template <class F>
void for_each_matmul_group(std::span<const matmul_group> groups, matrix_view<const float> x, matrix_view<float> y, F&& f) {
  std::size_t first = 0;
  for (const matmul_group& g : groups) {
    if (g.rows != 0) f(g.weight_row, x.slice(first, first + g.rows), y.slice(first, first + g.rows));
    first += g.rows;
  }
}

}  // namespace strix
