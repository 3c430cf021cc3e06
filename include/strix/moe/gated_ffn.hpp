// The gated feed-forward network of dense layers, shared experts and each routed expert:
// out = down · (act(gate · x) ⊙ (up · x)), with act silu (SwiGLU, Qwen3.5) or GELU-tanh (Gemma 4).
// Weights stored fused (gate and up stacked, gate rows first, as transformers and some GGUF files
// keep experts) are viewed as their two halves, so either layout runs as two products into
// contiguous rows and one gated activation over all of them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/core/tensor_view.hpp>
#include <strix/device/concepts.hpp>
#include <strix/device/device_batch.hpp>
#include <strix/quant/weight_matrix.hpp>

namespace strix {

struct gated_ffn_weights {
  weight_matrix gate;  // [intermediate][hidden]
  weight_matrix up;    // [intermediate][hidden]
  weight_matrix down;  // [hidden][intermediate]

  // The halves of a fused [2 · intermediate][hidden] gate_up matrix.
  static gated_ffn_weights from_fused(const weight_matrix& gate_up, const weight_matrix& down) {
    const std::size_t intermediate = gate_up.rows() / 2;
    return {gate_up.rows_between(0, intermediate), gate_up.rows_between(intermediate, 2 * intermediate), down};
  }

  [[nodiscard]] std::size_t hidden() const noexcept { return down.rows(); }
  [[nodiscard]] std::size_t intermediate() const noexcept { return down.row_length(); }

  // Shapes agree: gate and up [intermediate][hidden], down [hidden][intermediate]. `what` names the
  // block in errors.
  void validate(const std::string& what) const {
    if (gate.rows() != intermediate() || up.rows() != intermediate() || gate.row_length() != hidden() || up.row_length() != hidden()) {
      throw error(error_category::shape, what + ": gate and up must be [" + std::to_string(intermediate()) + "][" +
                                             std::to_string(hidden()) + "] to match down [" + std::to_string(hidden()) + "][" +
                                             std::to_string(intermediate()) + "], got [" + std::to_string(gate.rows()) + "][" +
                                             std::to_string(gate.row_length()) + "] and [" + std::to_string(up.rows()) + "][" +
                                             std::to_string(up.row_length()) + "]");
    }
  }
};

// Scratch of gated_ffn_forward, grown to the largest call and kept by the caller.
struct gated_ffn_scratch {
  std::vector<float> gate, up;
};

// out[n][hidden] = ffn(x[n][hidden]).
template <device_policy Device>
void gated_ffn_forward(Device& dev, const gated_ffn_weights& w, activation act, matrix_view<const float> x, matrix_view<float> out,
                       gated_ffn_scratch& scratch) {
  const std::size_t rows = x.extent(0), width = w.intermediate();
  grow_scratch(dev, scratch.gate, rows * width);
  grow_scratch(dev, scratch.up, rows * width);
  const matrix_view<float> gate(scratch.gate.data(), {rows, width}), up(scratch.up.data(), {rows, width});
  multiply_pair(dev, w.gate, w.up, x, gate, up);
  dev.gated_activation(act, gate.span(), std::span<const float>(up.span()), up.span());
  multiply(dev, w.down, matrix_view<const float>(up), out);
}

}  // namespace strix
