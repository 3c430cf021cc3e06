// What an attention kernel is asked to compute: the window type (a compile-time width, so sliding
// loops have constant bounds), and one batch of query rows against a paged KV cache.
//
// Visibility, as transformers' causal and sliding-window masks define it: query position q sees key
// position k when k ≤ q and, for a window of W, q - k < W, i.e. k > q - W: itself and the W - 1
// positions before it.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>

#include <strix/core/tensor_view.hpp>
#include <strix/device/paged_kv_view.hpp>

namespace strix {

// Largest head dim the attention kernels take (Gemma 4's global layers use 512).
inline constexpr std::size_t max_attention_head_dim = 512;

template <std::size_t W>
struct sliding_window {
  static_assert(W > 0, "a sliding window covers at least the query's own position");
  static constexpr std::size_t size = W;
};

struct global_attention {
  static constexpr std::size_t size = 0;
};

template <class T>
concept attention_window = requires {
  { T::size } -> std::convertible_to<std::size_t>;
};

// First key position query position q sees under Window.
template <attention_window Window>
constexpr std::size_t first_visible_key(std::size_t q) noexcept {
  if constexpr (Window::size == 0) {
    return 0;
  } else {
    return q + 1 > Window::size ? q + 1 - Window::size : 0;
  }
}

// A sequence's query rows in a batch: rows [first_row, first_row + rows) of the query tensor are its
// newest positions, kv.length - rows … kv.length - 1, already written to the cache.
struct attention_sequence {
  kv_sequence_view kv;
  std::size_t first_row = 0;
  std::size_t rows = 0;
};

struct attention_args {
  tensor_view<const float, 3> q;  // [rows][heads][head_dim]; heads a multiple of kv.kv_heads
  tensor_view<float, 3> out;      // same shape: softmax(scale · q·kᵀ, soft-capped) · v per head
  std::span<const attention_sequence> sequences;
  kv_layer_view kv;
  float scale = 1.0f;
  float softcap = 0.0f;  // 0: none; else scores become softcap · tanh(score / softcap)
};

}  // namespace strix
