// What a Gemma 4 model costs in memory: its weights by storage type (as mapped from the file; the
// f32 copies of norm vectors count as f32), and its KV cache per token, split into the global
// layers (which grow with the context) and the sliding ones (which stop growing at the window).
// `strix plan` builds on this.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>

#include <strix/kv/kv_layout.hpp>
#include <strix/quant/kv_type.hpp>

#include "models/gemma4.hpp"

namespace strix::models {

struct model_memory {
  std::map<ggml_type, std::uint64_t> weight_bytes;  // by storage type
  std::uint64_t kv_bytes_per_token_global = 0;      // every KV-owning full-attention layer, one position
  std::uint64_t kv_bytes_per_token_sliding = 0;     // every KV-owning sliding layer, one position
  std::size_t window = 0;

  [[nodiscard]] std::uint64_t weight_total() const {
    std::uint64_t total = 0;
    for (const auto& [type, bytes] : weight_bytes) total += bytes;
    return total;
  }
  // K and V of one sequence of `context` tokens (sliding layers hold at most the window).
  [[nodiscard]] std::uint64_t kv_bytes(std::size_t context) const {
    return kv_bytes_per_token_global * context + kv_bytes_per_token_sliding * std::min(context, window);
  }
};

inline model_memory gemma4_memory(const gemma4_config& c, const gemma4_weights& w, kv_type kv) {
  model_memory m;
  w.for_each_tensor([&](const weight_matrix& matrix) { if (matrix.rows() > 0) m.weight_bytes[matrix.type()] += matrix.rows() * matrix.row_bytes(); },
                    [&](const std::vector<float>& values) {
                      if (!values.empty()) m.weight_bytes[ggml_type::f32] += values.size() * sizeof(float);
                    });
  kv_cache_options options;
  options.type = kv;
  const kv_layout layout = gemma4_cache_layout(c, options);
  for (const kv_group& g : layout.groups()) (g.window == 0 ? m.kv_bytes_per_token_global : m.kv_bytes_per_token_sliding) += layout.bytes_per_token(g);
  m.window = c.window;
  return m;
}

}  // namespace strix::models
