// deltanet_state_cache: the per-sequence state of every Gated DeltaNet layer of a model, sized
// once at construction, with exact rollback.
//
// For each sequence and layer it holds the live state (S per value head, fp32, and the causal
// conv's tail: the last conv_kernel − 1 inputs), a base state at an earlier position, and a
// journal of the raw per-token inputs (the qkv projection, a and b) since the base. Rolling back
// restores the base and replays the journal up to the new length, so the state after a rollback is
// the state of a run that never saw the discarded tokens, to fp32 rounding (the replay runs the
// same inputs through the same kernels, possibly grouped into different calls). The layer
// (gated_deltanet.hpp) does that work on its next step; truncate() here only records the new
// length.
//
// What makes the rollback bugs of other engines impossible here:
//  - a base exists from position 0 on (the zero state), so even the first verify can roll back;
//  - the base trails the newest position by max_rollback to 2 · max_rollback, always: truncate()
//    to any length within max_rollback of the newest succeeds, and so does any length down to the
//    base; past the base it is refused (rollback_too_deep) and changes nothing;
//  - storage for base and journal is allocated per sequence up front, never found missing later;
//  - each layer records how much of the sequence's history it has seen; a layer asked to run a
//    step it cannot continue exactly (one skipped, or one whose history was cut by a rollback
//    made while it was behind) throws instead of computing from stale state.
//
// Memory per sequence and layer: (1 + [max_rollback > 0]) · (state + tail) + 2 · max_rollback
// journal rows; the base advances by replaying max_rollback journaled tokens each time the journal
// fills (about one extra state update per decoded token).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <strix/core/buffer.hpp>
#include <strix/core/error.hpp>
#include <strix/core/tensor_view.hpp>
#include <strix/device/deltanet_params.hpp>
#include <strix/kv/kv_status.hpp>

namespace strix {

// The sizes of one Gated DeltaNet layer.
struct deltanet_shape {
  std::size_t key_heads = 0;
  std::size_t value_heads = 0;  // a multiple of key_heads
  std::size_t key_dim = 0;
  std::size_t value_dim = 0;
  std::size_t conv_kernel = 4;
  // How the value heads — and with them the v channels, z, a, b, A and dt_bias — are ordered.
  value_head_order order = value_head_order::grouped;

  [[nodiscard]] constexpr std::size_t key_width() const noexcept { return key_heads * key_dim; }
  [[nodiscard]] constexpr std::size_t value_width() const noexcept { return value_heads * value_dim; }
  // Inputs of the causal conv: q, k and v before the split.
  [[nodiscard]] constexpr std::size_t channels() const noexcept { return 2 * key_width() + value_width(); }
  [[nodiscard]] constexpr std::size_t state_floats() const noexcept { return value_heads * key_dim * value_dim; }
  [[nodiscard]] constexpr std::size_t tail_rows() const noexcept { return conv_kernel - 1; }
  // One token's raw inputs as journaled: qkv (channels), a (value_heads), b (value_heads).
  [[nodiscard]] constexpr std::size_t input_floats() const noexcept { return channels() + 2 * value_heads; }
};

struct deltanet_state_options {
  std::size_t max_sequences = 1;
  std::size_t max_rollback = 0;  // truncate() can always go back this many tokens from the newest
};

// One snapshot of a layer's state for one sequence.
struct deltanet_snapshot {
  tensor_view<float, 3> recurrent;  // [value_heads][key_dim][value_dim]
  matrix_view<float> conv_tail;     // [conv_kernel − 1][channels], oldest first
};

// One layer's state of one sequence, as the layer works with it.
struct deltanet_layer_state {
  deltanet_snapshot live;
  deltanet_snapshot base;        // empty without max_rollback
  matrix_view<float> journal;    // [2 · max_rollback][input_floats]; position p at row p mod rows
  std::size_t live_position = 0; // tokens folded into `live`
  std::size_t base_position = 0; // tokens folded into `base`; the journal holds [base_position, history)
  std::size_t history = 0;       // leading positions of the sequence this layer's journal and state agree with
};

class deltanet_state_cache {
 public:
  deltanet_state_cache(std::span<const deltanet_shape> layers, deltanet_state_options options)
      : shapes_(layers.begin(), layers.end()), options_(options) {
    if (options_.max_sequences == 0) throw error(error_category::shape, "deltanet_state_cache: max_sequences must be at least 1");
    for (std::size_t l = 0; l < shapes_.size(); ++l) {
      const deltanet_shape& s = shapes_[l];
      if (s.key_heads == 0 || s.value_heads % s.key_heads != 0 || s.key_dim == 0 || s.value_dim == 0 || s.conv_kernel == 0) {
        throw error(error_category::shape, "deltanet_state_cache: layer " + std::to_string(l) +
                                               " needs positive dims, conv_kernel ≥ 1 and value_heads a multiple of key_heads");
      }
      offsets_.push_back(floats_per_sequence_);
      floats_per_sequence_ += layer_floats(s, options_);
    }
    storage_ = buffer<float>(floats_per_sequence_ * options_.max_sequences);
    sequences_.resize(options_.max_sequences);
    for (std::uint32_t seq = 0; seq < options_.max_sequences; ++seq) {
      sequence_state& state = sequences_[seq];
      for (std::size_t l = 0; l < shapes_.size(); ++l) state.layers.push_back(carve(seq, l));
      reset(seq);
    }
  }

  [[nodiscard]] std::size_t layer_count() const noexcept { return shapes_.size(); }
  [[nodiscard]] const deltanet_shape& shape(std::size_t layer) const { return shapes_.at(layer); }
  [[nodiscard]] const deltanet_state_options& options() const noexcept { return options_; }
  [[nodiscard]] std::size_t bytes_per_sequence() const noexcept { return floats_per_sequence_ * sizeof(float); }
  // What a cache of these layers and options allocates, without making one (for planners).
  [[nodiscard]] static std::size_t bytes_for(std::span<const deltanet_shape> layers, deltanet_state_options options) noexcept {
    std::size_t floats = 0;
    for (const deltanet_shape& s : layers) floats += layer_floats(s, options);
    return floats * options.max_sequences * sizeof(float);
  }
  [[nodiscard]] std::size_t bytes() const noexcept { return storage_.size() * sizeof(float); }
  // Journal rows per layer: twice max_rollback, so the base moves only every max_rollback tokens.
  [[nodiscard]] std::size_t journal_rows() const noexcept { return 2 * options_.max_rollback; }

  // Starts `seq` afresh: length 0, zero state (the state before any token).
  void reset(std::uint32_t seq) {
    sequence_state& s = checked(seq);
    s.length = 0;
    for (deltanet_layer_state& layer : s.layers) {
      for (deltanet_snapshot* snapshot : {&layer.live, &layer.base}) {
        std::fill_n(snapshot->recurrent.data(), snapshot->recurrent.size(), 0.0f);
        std::fill_n(snapshot->conv_tail.data(), snapshot->conv_tail.size(), 0.0f);
      }
      layer.live_position = layer.base_position = layer.history = 0;
    }
  }

  // Makes `to` an exact copy of `from` (a fork: both continue from the same state).
  void copy(std::uint32_t from, std::uint32_t to) {
    sequence_state& source = checked(from);
    sequence_state& target = checked(to);
    if (from == to) return;
    std::copy_n(storage_.data() + from * floats_per_sequence_, floats_per_sequence_, storage_.data() + to * floats_per_sequence_);
    target.length = source.length;
    for (std::size_t l = 0; l < shapes_.size(); ++l) {
      target.layers[l].live_position = source.layers[l].live_position;
      target.layers[l].base_position = source.layers[l].base_position;
      target.layers[l].history = source.layers[l].history;
    }
  }

  // Positions of `count` new tokens; every DeltaNet layer then runs them as one step.
  void append(std::uint32_t seq, std::size_t count) { checked(seq).length += count; }

  // Whether truncate(seq, length) would succeed (for callers keeping several caches in step).
  [[nodiscard]] bool can_truncate(std::uint32_t seq, std::size_t length) const {
    const sequence_state& s = checked(seq);
    if (length > s.length) return false;
    for (const deltanet_layer_state& layer : s.layers) {
      if (length < layer.base_position) return false;
    }
    return true;
  }

  // Back to the first `length` tokens: exact for any length ≥ length(seq) − max_rollback.
  [[nodiscard]] kv_status truncate(std::uint32_t seq, std::size_t length) {
    sequence_state& s = checked(seq);
    if (length > s.length) {
      throw error(error_category::shape, "deltanet_state_cache: truncate of sequence " + std::to_string(seq) + " to " +
                                                std::to_string(length) + " tokens, but it has " + std::to_string(s.length));
    }
    if (!can_truncate(seq, length)) return kv_status::rollback_too_deep;
    s.length = length;
    for (deltanet_layer_state& layer : s.layers) layer.history = std::min(layer.history, length);
    return kv_status::ok;
  }

  [[nodiscard]] std::size_t length(std::uint32_t seq) const { return checked(seq).length; }

  // The layer's view of its state for `seq`.
  [[nodiscard]] deltanet_layer_state& layer(std::uint32_t seq, std::size_t layer) { return checked(seq).layers.at(layer); }

 private:
  struct sequence_state {
    std::size_t length = 0;
    std::vector<deltanet_layer_state> layers;
  };

  [[nodiscard]] bool has_base() const noexcept { return options_.max_rollback > 0; }
  [[nodiscard]] static std::size_t snapshot_floats(const deltanet_shape& s) noexcept {
    return s.state_floats() + s.tail_rows() * s.channels();
  }
  // One sequence's share for one layer: live state, base state (with rollback) and journal.
  [[nodiscard]] static std::size_t layer_floats(const deltanet_shape& s, deltanet_state_options options) noexcept {
    return snapshot_floats(s) * (options.max_rollback > 0 ? 2 : 1) + 2 * options.max_rollback * s.input_floats();
  }

  [[nodiscard]] deltanet_layer_state carve(std::uint32_t seq, std::size_t l) {
    const deltanet_shape& s = shapes_[l];
    float* p = storage_.data() + seq * floats_per_sequence_ + offsets_[l];
    auto snapshot_at = [&](float*& at) {
      const deltanet_snapshot view{{at, {s.value_heads, s.key_dim, s.value_dim}}, {at + s.state_floats(), {s.tail_rows(), s.channels()}}};
      at += snapshot_floats(s);
      return view;
    };
    deltanet_layer_state state;
    state.live = snapshot_at(p);
    if (has_base()) state.base = snapshot_at(p);
    state.journal = matrix_view<float>(p, {journal_rows(), s.input_floats()});
    return state;
  }

  [[nodiscard]] sequence_state& checked(std::uint32_t seq) {
    if (seq >= sequences_.size()) {
      throw error(error_category::shape, "deltanet_state_cache: no sequence " + std::to_string(seq) + " (max_sequences " +
                                                std::to_string(sequences_.size()) + ")");
    }
    return sequences_[seq];
  }
  [[nodiscard]] const sequence_state& checked(std::uint32_t seq) const { return const_cast<deltanet_state_cache*>(this)->checked(seq); }

  std::vector<deltanet_shape> shapes_;
  deltanet_state_options options_;
  std::vector<std::size_t> offsets_;
  std::size_t floats_per_sequence_ = 0;
  buffer<float> storage_;
  std::vector<sequence_state> sequences_;
};

}  // namespace strix
