// Plain descriptors the kernel set shares across device policies: how a norm applies its weight,
// which activation a gated product uses, and the rotary-embedding frequency table.
#pragma once

#include <cstddef>
#include <span>

namespace strix {

// RMSNorm output = rms(x) · scale, where scale is 1, w (Gemma 4) or 1 + w (Qwen3.5, Gemma 1-3).
enum class norm_weight { none, plain, one_plus };

enum class activation { silu, gelu_tanh, sigmoid };

// Rotate-half RoPE over the first rotary_dims of each head: dimension j pairs with j + rotary_dims/2
// for j < rotary_dims/2, rotated by position · inv_freq[j]; dimensions ≥ rotary_dims pass through.
// Gemma 4's proportional RoPE is rotary_dims = head_dim with zero frequencies past the rotated
// ones; Qwen3.5's partial RoPE is rotary_dims = head_dim / 4.
struct rope_frequencies {
  std::span<const float> inv_freq;  // rotary_dims / 2 entries
  [[nodiscard]] std::size_t rotary_dims() const noexcept { return inv_freq.size() * 2; }
};

}  // namespace strix
