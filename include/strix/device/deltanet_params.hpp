// What a Gated DeltaNet kernel is asked to compute: the delta-rule recurrence of one sequence's
// tokens, per value head, from already prepared inputs (after the causal conv1d, L2 norms and
// gates; see strix/linear). With state S ∈ R^{dk×dv} per value head:
//   S ← exp(g_t) · S;   u = v_t − Sᵀ k_t;   S ← S + k_t (β_t u)ᵀ;   o_t = Sᵀ q_t.
// The chunked form computes the same outputs and final state for a whole prefill.
#pragma once

#include <cstddef>
#include <cstdint>

#include <strix/core/tensor_view.hpp>

namespace strix {

// Which key head a value head reads when value heads outnumber key heads. Hugging Face checkpoints
// group value heads by key head (Qwen3.5's repeat_interleave: h / (value_heads / key_heads));
// llama.cpp's converter tiles them (h % key_heads, so ggml broadcasts with a plain repeat) and
// permutes every per-value-head tensor to match. Supporting both lets GGUF weights stay in place.
enum class value_head_order : std::uint8_t { grouped, tiled };

[[nodiscard]] constexpr std::size_t key_head_of(value_head_order order, std::size_t value_head, std::size_t key_heads,
                                                std::size_t value_heads) noexcept {
  return order == value_head_order::grouped ? value_head / (value_heads / key_heads) : value_head % key_heads;
}

struct deltanet_args {
  tensor_view<const float, 3> q;      // [tokens][key_heads][key_dim]
  tensor_view<const float, 3> k;      // [tokens][key_heads][key_dim]
  tensor_view<const float, 3> v;      // [tokens][value_heads][value_dim]
  matrix_view<const float> log_decay; // g: [tokens][value_heads], ≤ 0
  matrix_view<const float> beta;      // β: [tokens][value_heads]
  tensor_view<float, 3> state;        // [value_heads][key_dim][value_dim], updated in place
  tensor_view<float, 3> out;          // [tokens][value_heads][value_dim]
  value_head_order order = value_head_order::grouped;

  [[nodiscard]] std::size_t key_head(std::size_t value_head) const noexcept {
    return key_head_of(order, value_head, k.extent(1), v.extent(1));
  }
};

}  // namespace strix
