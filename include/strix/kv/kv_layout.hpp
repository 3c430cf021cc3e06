// kv_layout: which layers own KV, how their rows are laid out in paged blocks, and the memory
// arithmetic built on it. Layers with the same window (0 = global attention) form one group that
// shares block tables and a block pool; a block of a group holds block_size tokens of every layer in
// it, as [layer][K, V][kv_head][slot][row bytes], so one head's keys in a block are contiguous.
// Sliding groups get a fixed reserve sized for the most positions a sequence can hold there; the
// global group gets the rest of the byte budget.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/quant/kv_type.hpp>

namespace strix {

struct kv_layer_spec {
  std::size_t kv_heads = 0;
  std::size_t head_dim = 0;
  std::size_t window = 0;  // sliding-window width in positions; 0 for global attention
};

struct kv_cache_options {
  kv_type type = kv_type::f16;
  std::size_t block_size = 16;
  std::size_t max_sequences = 1;      // live sequences, forks included
  std::size_t max_step_tokens = 512;  // most tokens one append may add (the prefill chunk)
  // Positions a truncate may roll back past the newest append without losing sliding-window KV
  // (the longest speculative draft). Sliding layers keep this many positions beyond their window.
  std::size_t max_rollback = 0;
};

struct kv_layer_placement {
  std::size_t group = 0;
  std::size_t k_offset = 0;  // bytes from the start of a block
  std::size_t v_offset = 0;
  std::size_t index_in_group = 0;  // where the layer is in its group's `layers`
};

struct kv_group {
  std::size_t window = 0;
  std::vector<std::size_t> layers;
  std::size_t block_bytes = 0;
};

class kv_layout {
 public:
  kv_layout(std::vector<kv_layer_spec> layers, kv_cache_options options)
      : layers_(std::move(layers)), options_(options), placement_(layers_.size()) {
    if (options_.block_size == 0) throw error(error_category::shape, "kv cache: block_size must be positive");
    if (options_.max_sequences == 0) throw error(error_category::shape, "kv cache: max_sequences must be positive");
    if (options_.max_step_tokens == 0) throw error(error_category::shape, "kv cache: max_step_tokens must be positive");
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      const kv_layer_spec& layer = layers_[i];
      const std::size_t granule = kv_block_elements(options_.type);
      if (layer.kv_heads == 0 || layer.head_dim == 0 || layer.head_dim % granule != 0) {
        throw error(error_category::shape, "kv cache layer " + std::to_string(i) + ": head_dim " +
                                               std::to_string(layer.head_dim) + " × kv_heads " + std::to_string(layer.kv_heads) +
                                               " cannot be stored as " + std::string(to_string(options_.type)) +
                                               " (head_dim must be a positive multiple of " + std::to_string(granule) + ")");
      }
      const auto found = std::find_if(groups_.begin(), groups_.end(), [&](const kv_group& g) { return g.window == layer.window; });
      kv_group& group = found != groups_.end() ? *found : groups_.emplace_back(kv_group{layer.window, {}, 0});
      const std::size_t head_block_bytes = options_.block_size * row_bytes(i);
      placement_[i] = {static_cast<std::size_t>(&group - groups_.data()), group.block_bytes,
                       group.block_bytes + layer.kv_heads * head_block_bytes, group.layers.size()};
      group.layers.push_back(i);
      group.block_bytes += 2 * layer.kv_heads * head_block_bytes;
    }
  }

  [[nodiscard]] const kv_cache_options& options() const noexcept { return options_; }
  [[nodiscard]] std::size_t layer_count() const noexcept { return layers_.size(); }
  [[nodiscard]] const kv_layer_spec& layer(std::size_t i) const { return layers_.at(i); }
  [[nodiscard]] const kv_layer_placement& placement(std::size_t i) const { return placement_.at(i); }
  [[nodiscard]] const std::vector<kv_group>& groups() const noexcept { return groups_; }
  [[nodiscard]] std::size_t row_bytes(std::size_t layer) const { return kv_row_bytes(options_.type, layers_.at(layer).head_dim); }

  // K and V bytes one position costs across all layers of a group.
  [[nodiscard]] std::size_t bytes_per_token(const kv_group& group) const noexcept {
    return group.block_bytes / options_.block_size;
  }

  // Most blocks one sequence can hold in a sliding group: the window and rollback reach behind the
  // newest append, the append itself, and block misalignment at both ends.
  [[nodiscard]] std::size_t sliding_blocks_per_sequence(const kv_group& group) const noexcept {
    const std::size_t reach = group.window + options_.max_rollback + options_.max_step_tokens;
    return (reach - 1) / options_.block_size + 2;
  }

  // Bytes set aside for all sliding groups at max_sequences.
  [[nodiscard]] std::size_t sliding_reserve_bytes() const noexcept {
    std::size_t bytes = 0;
    for (const kv_group& g : groups_) {
      if (g.window != 0) bytes += options_.max_sequences * sliding_blocks_per_sequence(g) * g.block_bytes;
    }
    return bytes;
  }

  [[nodiscard]] const kv_group* global_group() const noexcept {
    const auto it = std::find_if(groups_.begin(), groups_.end(), [](const kv_group& g) { return g.window == 0; });
    return it == groups_.end() ? nullptr : &*it;
  }

  // Blocks each group gets from a byte budget; throws (memory) naming what is needed when the
  // sliding reserve alone does not fit.
  [[nodiscard]] std::vector<std::size_t> blocks_for_budget(std::size_t budget_bytes) const {
    const std::size_t reserve = sliding_reserve_bytes();
    if (reserve > budget_bytes || (global_group() != nullptr && budget_bytes - reserve < global_group()->block_bytes)) {
      const std::size_t needed = reserve + (global_group() != nullptr ? global_group()->block_bytes : 0);
      throw error(error_category::memory,
                  "kv cache: a budget of " + std::to_string(budget_bytes) + " bytes is too small; sliding-window layers need " +
                      std::to_string(reserve) + " bytes for " + std::to_string(options_.max_sequences) +
                      " sequences, at least " + std::to_string(needed) + " bytes in all (fewer sequences, a smaller step or " +
                      "a smaller KV type would fit)");
    }
    std::vector<std::size_t> blocks;
    for (const kv_group& g : groups_) {
      blocks.push_back(g.window != 0 ? options_.max_sequences * sliding_blocks_per_sequence(g)
                                     : (budget_bytes - reserve) / g.block_bytes);
    }
    return blocks;
  }

  // Tokens of context (summed over sequences) the global layers can hold within a byte budget;
  // unbounded (SIZE_MAX) for a model whose layers all slide.
  [[nodiscard]] std::size_t context_tokens_for_budget(std::size_t budget_bytes) const {
    const std::vector<std::size_t> blocks = blocks_for_budget(budget_bytes);
    const kv_group* global = global_group();
    if (global == nullptr) return static_cast<std::size_t>(-1);
    return blocks[static_cast<std::size_t>(global - groups_.data())] * options_.block_size;
  }

  // Bytes a budget must have for one sequence of `tokens` context at max_sequences (the inverse).
  [[nodiscard]] std::size_t budget_for_context(std::size_t tokens) const noexcept {
    const kv_group* global = global_group();
    const std::size_t global_blocks = global == nullptr ? 0 : (tokens + options_.block_size - 1) / options_.block_size;
    return sliding_reserve_bytes() + (global == nullptr ? 0 : std::max<std::size_t>(global_blocks, 1) * global->block_bytes);
  }

 private:
  std::vector<kv_layer_spec> layers_;
  kv_cache_options options_;
  std::vector<kv_layer_placement> placement_;
  std::vector<kv_group> groups_;
};

}  // namespace strix
