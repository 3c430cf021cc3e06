// attention<Device, Window>: one attention layer's core between its projections, for sliding-window
// (Window = sliding_window<W>) and global (global_attention) layers. Given the projected q, k, v of
// a batch of sequences it applies the per-head q/k RMSNorm, the weightless value norm, RoPE (full,
// partial or proportional, through the frequency table), writes K and V to the paged cache, runs
// the device's attention kernel over the cache, and applies Qwen3.5's sigmoid output gate. The
// output projection is the caller's. Grouped-query attention takes any heads / kv_heads ratio.
//
// Layer variants: keys-equal-values layers (values_from_keys: v is the key projection before k_norm
// and RoPE); layers that read an earlier layer's KV pass no projections and name that layer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/core/sequence_rows.hpp>
#include <strix/core/tensor_view.hpp>
#include <strix/device/attention_params.hpp>
#include <strix/device/concepts.hpp>
#include <strix/kv/paged_kv_cache.hpp>

namespace strix {

struct attention_config {
  std::size_t heads = 0;
  std::size_t kv_heads = 0;
  std::size_t head_dim = 0;
  float scale = 1.0f;      // Gemma 4: 1 (the q/k norms carry it); Qwen3.5: 1 / sqrt(head_dim)
  float softcap = 0.0f;    // attention-logit soft cap; 0: none
  float norm_eps = 1e-6f;
  norm_weight qk_norm = norm_weight::none;  // how q_norm / k_norm weights apply; none: no q/k norm
  bool value_norm = false;                  // weightless RMSNorm per value head (Gemma 4)
  bool values_from_keys = false;            // K=V layers
  bool output_gate = false;                 // out · sigmoid(gate), Qwen3.5
};

struct attention_weights {
  std::span<const float> q_norm;  // head_dim each, when qk_norm is not none
  std::span<const float> k_norm;
  rope_frequencies rope;          // empty: no rotary embedding
};

// Each sequence's rows are its newest positions, appended to the cache before the layer runs.
struct attention_batch {
  std::span<const sequence_rows> sequences;
  std::span<const std::int32_t> positions;  // one per row
};

// The layer's own K/V projections, [rows][kv_heads · head_dim] each, normalised and rotated in place.
struct kv_projections {
  matrix_view<float> k;
  matrix_view<float> v;  // for values_from_keys layers: scratch of k's shape, overwritten
};

template <device_policy Device, attention_window Window>
class attention {
 public:
  attention(attention_config config, attention_weights weights) : config_(config), weights_(weights) {
    if (config_.heads == 0 || config_.kv_heads == 0 || config_.heads % config_.kv_heads != 0) {
      throw error(error_category::shape, "attention: heads (" + std::to_string(config_.heads) +
                                             ") must be a positive multiple of kv_heads (" + std::to_string(config_.kv_heads) + ")");
    }
    if (config_.head_dim == 0 || config_.head_dim > max_attention_head_dim) {
      throw error(error_category::unsupported, "attention: head_dim " + std::to_string(config_.head_dim) +
                                                   " is outside 1…" + std::to_string(max_attention_head_dim));
    }
    if (config_.qk_norm != norm_weight::none &&
        (weights_.q_norm.size() != config_.head_dim || weights_.k_norm.size() != config_.head_dim)) {
      throw error(error_category::shape, "attention: q_norm and k_norm need head_dim (" + std::to_string(config_.head_dim) + ") weights");
    }
    if (weights_.rope.rotary_dims() > config_.head_dim) {
      throw error(error_category::shape, "attention: rotary dims exceed head_dim");
    }
  }

  [[nodiscard]] const attention_config& config() const noexcept { return config_; }

  // q: [rows][heads · head_dim], normalised and rotated in place; gate: [rows][heads · head_dim]
  // when output_gate; out: [rows][heads · head_dim]. kv_layer is the cache layer written (with
  // projections) or read (without: a KV-sharing layer).
  void forward(Device& dev, const attention_batch& batch, matrix_view<float> q, std::optional<kv_projections> projections,
               matrix_view<const float> gate, paged_kv_cache& cache, std::size_t kv_layer, matrix_view<float> out) {
    const std::size_t rows = q.extent(0);
    validate(batch, q, projections, gate, cache, kv_layer, out);

    const tensor_view<float, 3> q_heads(q.data(), {rows, config_.heads, config_.head_dim});
    if (config_.qk_norm != norm_weight::none) normalise(dev, q.data(), rows * config_.heads, weights_.q_norm, config_.qk_norm);
    if (!weights_.rope.inv_freq.empty()) dev.rope(q_heads, batch.positions, weights_.rope);

    if (projections) {
      matrix_view<float> k = projections->k;
      matrix_view<float> v = projections->v;
      if (config_.values_from_keys) dev.copy(k, v);
      if (config_.qk_norm != norm_weight::none) normalise(dev, k.data(), rows * config_.kv_heads, weights_.k_norm, config_.qk_norm);
      if (config_.value_norm) normalise(dev, v.data(), rows * config_.kv_heads, {}, norm_weight::none);
      if (!weights_.rope.inv_freq.empty()) {
        dev.rope(tensor_view<float, 3>(k.data(), {rows, config_.kv_heads, config_.head_dim}), batch.positions, weights_.rope);
      }
      write_slots_.resize(rows);
      written_blocks_.clear();
      for (const sequence_rows& s : batch.sequences) {
        if (s.rows == 0) continue;
        cache.plan_write(s.sequence, kv_layer, cache.length(s.sequence) - s.rows,
                         std::span(write_slots_).subspan(s.first_row, s.rows), written_blocks_);
      }
      dev.write_kv({cache.layer_view(kv_layer), write_slots_, written_blocks_, k, v});
    }

    sequences_.clear();
    for (const sequence_rows& s : batch.sequences) {
      sequences_.push_back({cache.sequence_view(s.sequence, kv_layer), s.first_row, s.rows});
    }
    const attention_args args{q_heads, tensor_view<float, 3>(out.data(), {rows, config_.heads, config_.head_dim}), sequences_,
                              cache.layer_view(kv_layer), config_.scale, config_.softcap};
    dev.template attention<Window>(args);
    if (config_.output_gate) {
      dev.gated_activation(activation::sigmoid, gate.span(), std::span<const float>(out.span()), out.span());
    }
  }

 private:
  void normalise(Device& dev, float* data, std::size_t heads, std::span<const float> weight, norm_weight kind) {
    const matrix_view<float> rows(data, {heads, config_.head_dim});
    dev.rmsnorm(rows, weight, kind, config_.norm_eps, rows);
  }

  void validate(const attention_batch& batch, matrix_view<float> q, const std::optional<kv_projections>& projections,
                matrix_view<const float> gate, const paged_kv_cache& cache, std::size_t kv_layer, matrix_view<float> out) const {
    const std::size_t rows = q.extent(0);
    const std::size_t width = config_.heads * config_.head_dim;
    const std::size_t kv_width = config_.kv_heads * config_.head_dim;
    auto fail = [&](const std::string& what) {
      throw error(error_category::shape, "attention (kv layer " + std::to_string(kv_layer) + "): " + what);
    };
    auto matrix_ok = [](const auto& m, std::size_t r, std::size_t c) { return m.extent(0) == r && m.extent(1) == c && m.is_contiguous(); };
    if (!matrix_ok(q, rows, width) || !matrix_ok(out, rows, width)) fail("q and out must be contiguous [rows][heads · head_dim]");
    if (config_.output_gate && !matrix_ok(gate, rows, width)) fail("the output gate must be contiguous [rows][heads · head_dim]");
    if (projections && (!matrix_ok(projections->k, rows, kv_width) || !matrix_ok(projections->v, rows, kv_width))) {
      fail("k and v must be contiguous [rows][kv_heads · head_dim]");
    }
    if (batch.positions.size() != rows) fail("one position per row is needed");
    if (kv_layer >= cache.layout().layer_count()) fail("no such cache layer");
    const kv_layer_spec& spec = cache.layout().layer(kv_layer);
    if (spec.kv_heads != config_.kv_heads || spec.head_dim != config_.head_dim || spec.window != Window::size) {
      fail("the cache layer holds " + std::to_string(spec.kv_heads) + " heads of " + std::to_string(spec.head_dim) +
           " with window " + std::to_string(spec.window) + "; this layer has " + std::to_string(config_.kv_heads) + " of " +
           std::to_string(config_.head_dim) + " with window " + std::to_string(Window::size));
    }
    std::size_t covered = 0;
    for (const sequence_rows& s : batch.sequences) {
      if (s.first_row + s.rows > rows) fail("a sequence's rows run past the batch");
      covered += s.rows;
      const kv_sequence_view view = cache.sequence_view(s.sequence, kv_layer);
      if (s.rows > view.length) fail("sequence " + std::to_string(s.sequence) + " has fewer cached positions than rows");
      if (s.rows == 0) continue;
      const std::size_t first = first_visible_key<Window>(view.length - s.rows);
      for (std::size_t b = first / cache.block_size(); b * cache.block_size() < view.length; ++b) {
        if (view.blocks[b] == no_kv_block) fail("sequence " + std::to_string(s.sequence) + " no longer holds its window");
      }
    }
    if (covered != rows) fail("the sequences must cover every row once");
  }

  attention_config config_;
  attention_weights weights_;
  std::vector<attention_sequence> sequences_;
  std::vector<kv_row_slot> write_slots_;  // a forward's K/V destinations, kept for their capacity
  std::vector<kv_block_write> written_blocks_;
};

}  // namespace strix
