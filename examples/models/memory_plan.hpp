// memory_plan: what running a model costs in memory before anything is loaded — weights by
// storage type (from the file's tensor headers, or a preset's shapes and a weight_scheme, through
// the model's own load() over a weight_census), the paged KV cache at a context (the bytes the
// allocator reserves, and the per-token rates of global and sliding layers), the DeltaNet state,
// and scratch. `strix plan` prints it, `strix bench` takes its bytes-per-token for the roofline,
// and the tool's loader refuses a model that does not fit with these numbers.
//
// Exact (what the allocators reserve): weights, kv_bytes, recurrent_state_bytes, and the models'
// own activation buffers. Bounds: per-layer block scratch (MoE routing counted as if every row
// went to one expert) and the zen5 policy's activation workspace (its plan() formula).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <variant>

#include <strix/kv/kv_layout.hpp>
#include <strix/linear/deltanet_state.hpp>

#include "models/gemma4.hpp"
#include "models/qwen35.hpp"
#include "models/weight_census.hpp"

namespace strix::models {

struct plan_options {
  std::size_t context = 4096;    // tokens per sequence
  std::size_t sequences = 1;
  kv_type kv = kv_type::f16;
  std::size_t chunk = 512;       // prefill rows per forward
  std::size_t max_rollback = 0;  // speculative draft + 1
  bool zen5_workspace = true;    // count the zen5 policy's activation workspace
};

struct memory_plan {
  std::string architecture;
  plan_options options;
  std::size_t model_context = 0;  // max_position_embeddings
  std::size_t vocab = 0;
  weight_bytes weights;
  std::uint64_t decode_weight_bytes = 0;  // weight bytes one decoded token reads (routed experts only, one embedding row)
  std::uint64_t kv_bytes_per_token_global = 0;   // all KV-owning global layers, one position
  std::uint64_t kv_bytes_per_token_sliding = 0;  // all KV-owning sliding layers, one position (up to the window)
  std::size_t window = 0;
  std::uint64_t kv_sliding_reserve = 0;  // blocks the allocator sets aside for sliding layers (window + step + rollback)
  std::uint64_t kv_global_block_bytes = 0;
  std::size_t kv_block_size = 16;
  std::uint64_t kv_bytes = 0;               // what the paged cache reserves at options.context
  std::uint64_t recurrent_state_bytes = 0;  // DeltaNet states, snapshots and journals
  std::uint64_t recurrent_read_bytes = 0;   // the live DeltaNet state one decoded token reads
  std::uint64_t activation_bytes = 0;       // the model's own buffers at options.chunk rows
  std::uint64_t layer_scratch_bytes = 0;    // per-layer block scratch: DeltaNet steps, MoE routing (bound)
  std::uint64_t logits_bytes = 0;
  std::uint64_t workspace_bytes = 0;        // the device policy's activation workspace

  [[nodiscard]] std::uint64_t scratch_bytes() const noexcept { return activation_bytes + layer_scratch_bytes + logits_bytes + workspace_bytes; }
  [[nodiscard]] std::uint64_t total_bytes() const { return weights.total() + kv_bytes + recurrent_state_bytes + scratch_bytes(); }
  // Private memory (charged to the commit limit): everything but the mapped weight matrices.
  [[nodiscard]] std::uint64_t anonymous_bytes() const {
    return weights.vectors + kv_bytes + recurrent_state_bytes + scratch_bytes();
  }
  // KV bytes one decoded token reads at `depth` tokens of context.
  [[nodiscard]] std::uint64_t kv_read_bytes(std::size_t depth) const noexcept {
    return kv_bytes_per_token_global * depth + kv_bytes_per_token_sliding * std::min(depth, window);
  }
  // KV bytes the allocator reserves for `context` tokens per sequence.
  [[nodiscard]] std::uint64_t kv_bytes_at(std::size_t context) const noexcept {
    if (kv_global_block_bytes == 0) return kv_sliding_reserve;
    const std::uint64_t blocks = std::max<std::uint64_t>((context + kv_block_size - 1) / kv_block_size, 1);
    return kv_sliding_reserve + options.sequences * blocks * kv_global_block_bytes;
  }
  // The largest context per sequence (a multiple of the block size, at most the model's) whose
  // total fits `budget`; 0 when not even one block does.
  [[nodiscard]] std::size_t max_context(std::uint64_t budget) const {
    const std::uint64_t fixed = total_bytes() - kv_bytes + kv_sliding_reserve;
    if (budget < fixed) return 0;
    if (kv_global_block_bytes == 0) return model_context;
    const std::uint64_t blocks = (budget - fixed) / (options.sequences * kv_global_block_bytes);
    return static_cast<std::size_t>(std::min<std::uint64_t>(blocks * kv_block_size, model_context));
  }
};

namespace detail {

inline void plan_kv(memory_plan& p, const kv_layout& layout) {
  for (const kv_group& g : layout.groups()) (g.window == 0 ? p.kv_bytes_per_token_global : p.kv_bytes_per_token_sliding) += layout.bytes_per_token(g);
  p.kv_sliding_reserve = layout.sliding_reserve_bytes();
  p.kv_global_block_bytes = layout.global_group() ? layout.global_group()->block_bytes : 0;
  p.kv_block_size = layout.options().block_size;
  p.kv_bytes = p.kv_bytes_at(p.options.context);
}

inline kv_cache_options cache_options(const plan_options& o) {
  return {o.kv, 16, o.sequences, o.chunk, o.max_rollback};
}

inline std::uint64_t bytes_named(const weight_bytes& w, const std::string& name) {
  const auto it = w.by_name.find(name);
  return it == w.by_name.end() ? 0 : it->second;
}

// Scratch of one moe_block at `rows` rows: the dispatch's tiles hold a pass of
// max(rows, expert_pass_min_rows) routed rows (stacked experts), or an expert's rows
// (at most `rows`, listed experts).
inline std::uint64_t moe_scratch_bound(std::size_t rows, std::size_t hidden, std::size_t experts, std::size_t top_k,
                                       std::size_t expert_width, bool router_norm, std::size_t shared_width) {
  const std::size_t tile = std::max<std::size_t>(rows, expert_pass_min_rows);
  std::uint64_t floats = rows * experts + 4 * rows * top_k + experts + 2 * tile * hidden + 2 * tile * expert_width +
                         experts * sizeof(matmul_group) / sizeof(float);
  if (router_norm) floats += rows * hidden;
  if (shared_width) floats += rows * hidden + 2 * rows * shared_width + rows;
  return floats * sizeof(float) + experts * sizeof(std::size_t);
}

inline void plan_scratch(memory_plan& p, std::uint64_t activation_floats, std::size_t max_row_length) {
  const std::size_t rows = p.options.chunk;
  p.activation_bytes = activation_floats * sizeof(float);
  p.logits_bytes = (p.options.max_rollback + 1) * p.options.sequences * p.vocab * sizeof(float);
  if (p.options.zen5_workspace) p.workspace_bytes = rows * (max_row_length * sizeof(float) + 64);
}

}  // namespace detail

inline memory_plan plan_gemma4(const gemma4_config& c, const weight_census& census, plan_options o) {
  memory_plan p;
  p.architecture = "gemma4";
  p.options = o;
  p.model_context = c.context_length;
  p.vocab = c.vocab;
  p.weights = census.bytes();
  p.window = c.window;
  detail::plan_kv(p, gemma4_cache_layout(c, detail::cache_options(o)));

  // Decode reads every matrix once, but one row of the per-layer embedding table (the token
  // table is the tied output projection, read whole) and only the routed experts.
  const tensor_naming naming = census.naming();
  const std::string prefix = naming == tensor_naming::hugging_face && census.has("model.language_model.embed_tokens.weight") ? "model.language_model." : "model.";
  const std::uint64_t ple = detail::bytes_named(p.weights, gemma4_tensor_name_in(naming, gemma4_tensor::ple_embed, 0, prefix));
  p.decode_weight_bytes = p.weights.matrices() - ple + (c.ple_vocab ? ple / c.ple_vocab : 0);
  if (c.moe) {
    for (std::size_t l = 0; l < c.layer_count(); ++l) {
      const std::uint64_t stack = detail::bytes_named(p.weights, gemma4_tensor_name_in(naming, gemma4_tensor::experts_gate_up, l, prefix)) +
                                  detail::bytes_named(p.weights, gemma4_tensor_name_in(naming, gemma4_tensor::experts_down, l, prefix));
      p.decode_weight_bytes -= stack - stack * c.top_k / c.experts;
    }
  }

  const std::size_t rows = o.chunk, h = c.hidden;
  std::size_t q_width = 0, kv_width = 0, ffn_width = 0;
  for (const gemma4_layer& l : c.layers) {
    q_width = std::max(q_width, c.heads * l.head_dim);
    kv_width = std::max(kv_width, l.kv_heads * l.head_dim);
    ffn_width = std::max(ffn_width, l.intermediate);
  }
  std::uint64_t floats = rows * (4 * h + 2 * q_width + 2 * kv_width + 2 * ffn_width);
  if (c.ple_width) floats += rows * (3 * c.layer_count() * c.ple_width + c.ple_width);
  detail::plan_scratch(p, floats, census.bytes().max_row_length);
  if (c.moe) p.layer_scratch_bytes = c.layer_count() * detail::moe_scratch_bound(rows, h, c.experts, c.top_k, c.moe_intermediate, true, 0);
  return p;
}

inline memory_plan plan_qwen35(const qwen35_config& c, const weight_census& census, plan_options o) {
  memory_plan p;
  p.architecture = c.moe ? "qwen35moe" : "qwen35";  // as GGUF names them
  p.options = o;
  p.model_context = c.context_length;
  p.vocab = c.vocab;
  p.weights = census.bytes();
  const kv_cache_options options = detail::cache_options(o);
  detail::plan_kv(p, qwen35_cache::layout_for(c, options));
  const std::vector<deltanet_shape> linear = qwen35_cache::linear_shapes(c);
  p.recurrent_state_bytes = deltanet_state_cache::bytes_for(linear, {o.sequences, o.max_rollback});
  p.recurrent_read_bytes = deltanet_state_cache::bytes_for(linear, {1, 0});

  const std::string prefix = census.has("model.language_model.embed_tokens.weight") ? "model.language_model." : "model.";
  const std::uint64_t embed = detail::bytes_named(p.weights, prefix + "embed_tokens.weight");
  const bool tied = c.tied || !census.has("lm_head.weight");
  p.decode_weight_bytes = p.weights.matrices() - (tied ? 0 : embed - embed / c.vocab);
  if (c.moe) {
    for (const auto& [name, bytes] : p.weights.by_name) {
      if (name.find(".mlp.experts.") != std::string::npos) p.decode_weight_bytes -= bytes - bytes * c.top_k / c.experts;
    }
  }

  const deltanet_shape& s = c.linear;
  const std::size_t rows = o.chunk, width = c.heads * c.head_dim, kv_width = c.kv_heads * c.head_dim;
  std::uint64_t floats = rows * (3 * c.hidden + s.channels() + s.value_width() + 2 * s.value_heads + std::max(s.value_width(), width) +
                                 2 * width + width + width + 2 * kv_width);
  if (!c.moe) floats += rows * 2 * c.intermediate;
  detail::plan_scratch(p, floats, census.bytes().max_row_length);
  // Each DeltaNet layer keeps step scratch (conv output, decay, beta) and a journal-replay buffer.
  const std::size_t linear_layers = static_cast<std::size_t>(std::count(c.linear_layer.begin(), c.linear_layer.end(), true));
  p.layer_scratch_bytes = linear_layers * (rows * (s.channels() + 2 * s.value_heads) + std::max(rows, 2 * o.max_rollback) * s.value_width()) *
                          sizeof(float);
  if (c.moe) {
    p.layer_scratch_bytes += c.layer_count() * detail::moe_scratch_bound(rows, c.hidden, c.experts, c.top_k, c.moe_intermediate, false,
                                                                         c.shared_intermediate);
  }
  return p;
}

}  // namespace strix::models
