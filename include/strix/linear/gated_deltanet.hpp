// gated_deltanet<Device>: one Gated DeltaNet layer (Qwen3.5's linear attention) between its
// projections. From the projections qkv, z, a and b of a batch of sequences it runs the causal
// depthwise conv1d (with each sequence's tail of earlier inputs) and silu, splits q, k, v,
// L2-normalises q and k per head (q also scaled by key_dim^-0.5), forms β = sigmoid(b) and
// g = −exp(A_log) · softplus(a + dt_bias), runs the delta-rule recurrence on the device (the
// recurrent kernel for short steps, the chunked one otherwise) and applies the gated RMSNorm
// rms(o) · norm · silu(z) per value head. The output projection is the caller's.
//
// State lives in a deltanet_state_cache; this layer keeps it exact across rollbacks: a step that
// follows a truncate() first restores the base and replays the journal (see deltanet_state.hpp),
// and every step journals its raw inputs and moves the base forward as the journal fills.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/core/sequence_rows.hpp>
#include <strix/core/tensor_view.hpp>
#include <strix/device/concepts.hpp>
#include <strix/device/deltanet_params.hpp>
#include <strix/linear/deltanet_state.hpp>

namespace strix {

struct deltanet_config {
  deltanet_shape shape;
  float norm_eps = 1e-6f;   // the gated output norm (the model's rms_norm_eps)
  std::size_t chunk = 64;   // tokens per chunk of the chunked kernel
  // Steps of at most this many tokens run the recurrent kernel (decode, speculative verify).
  std::size_t recurrent_up_to = 16;
};

struct deltanet_weights {
  matrix_view<const float> conv;  // [channels][conv_kernel], the depthwise conv1d (no bias)
  std::span<const float> a_log;   // [value_heads]
  std::span<const float> dt_bias; // [value_heads]
  std::span<const float> norm;    // [value_dim], the gated RMSNorm's weight (applied as is)
};

// A batch's projections of the layer input; rows follow the batch's sequence_rows.
struct deltanet_projections {
  matrix_view<const float> qkv;  // [rows][channels], q then k then v
  matrix_view<const float> z;    // [rows][value_heads · value_dim], contiguous
  matrix_view<const float> a;    // [rows][value_heads]
  matrix_view<const float> b;    // [rows][value_heads]
};

template <device_policy Device>
class gated_deltanet {
 public:
  gated_deltanet(deltanet_config config, deltanet_weights weights) : config_(config), weights_(weights) {
    const deltanet_shape& s = config_.shape;
    auto fail = [](const std::string& what) { throw error(error_category::shape, "gated_deltanet: " + what); };
    if (s.key_heads == 0 || s.value_heads % s.key_heads != 0 || s.key_dim == 0 || s.value_dim == 0 || s.conv_kernel == 0) {
      fail("needs positive dims, conv_kernel ≥ 1 and value_heads a multiple of key_heads");
    }
    if (weights_.conv.extent(0) != s.channels() || weights_.conv.extent(1) != s.conv_kernel) {
      fail("conv weight is [" + std::to_string(weights_.conv.extent(0)) + "][" + std::to_string(weights_.conv.extent(1)) +
           "], expected [" + std::to_string(s.channels()) + "][" + std::to_string(s.conv_kernel) + "]");
    }
    if (weights_.a_log.size() != s.value_heads || weights_.dt_bias.size() != s.value_heads) {
      fail("A_log and dt_bias need value_heads (" + std::to_string(s.value_heads) + ") values");
    }
    if (weights_.norm.size() != s.value_dim) fail("the norm weight needs value_dim (" + std::to_string(s.value_dim) + ") values");
    // The conv as [tap][channel], so a token's taps run along contiguous channels.
    conv_by_tap_.resize(s.conv_kernel * s.channels());
    for (std::size_t c = 0; c < s.channels(); ++c) {
      for (std::size_t j = 0; j < s.conv_kernel; ++j) conv_by_tap_[j * s.channels() + c] = weights_.conv(c, j);
    }
    for (std::size_t h = 0; h < s.value_heads; ++h) decay_rate_.push_back(std::exp(weights_.a_log[h]));
  }

  [[nodiscard]] const deltanet_config& config() const noexcept { return config_; }

  // Sizes the scratch for steps (and journal replays) of up to `rows` tokens now, so that no
  // later step allocates; a larger step than reserved grows it once.
  void reserve(std::size_t rows) {
    ensure(mixed_, rows * config_.shape.channels());
    ensure(log_decay_, rows * config_.shape.value_heads);
    ensure(beta_, rows * config_.shape.value_heads);
    ensure(replay_out_, rows * config_.shape.value_width());
  }

  // Runs each sequence's rows as its newest positions (appended to `states` before the call):
  // out[rows][value_heads · value_dim] is the gated, normalised core output.
  void forward(Device& dev, std::span<const sequence_rows> sequences, const deltanet_projections& in, deltanet_state_cache& states,
               std::size_t layer, matrix_view<float> out) {
    validate(sequences, in, states, layer, out);
    // Conv, gates and journal run on the host.
    for (const matrix_view<const float> raw : {in.qkv, in.a, in.b}) dev.host_access(raw.footprint());
    for (const sequence_rows& s : sequences) {
      if (s.rows > 0) step(dev, s, in, states, layer, out);
    }
    const std::size_t rows = out.extent(0), dv = config_.shape.value_dim;
    const matrix_view<float> heads(out.data(), {rows * config_.shape.value_heads, dv});
    dev.rmsnorm(heads, weights_.norm, norm_weight::plain, config_.norm_eps, heads);
    dev.gated_activation(activation::silu, in.z.span(), std::span<const float>(out.span()), out.span());
  }

 private:
  // Raw inputs of consecutive tokens: rows of the projections, or of the journal.
  struct raw_rows {
    matrix_view<const float> qkv, a, b;
    [[nodiscard]] raw_rows slice(std::size_t begin, std::size_t end) const {
      return {qkv.slice(begin, end), a.slice(begin, end), b.slice(begin, end)};
    }
  };

  void step(Device& dev, const sequence_rows& s, const deltanet_projections& in, deltanet_state_cache& states, std::size_t layer,
            matrix_view<float> out) {
    deltanet_layer_state& st = states.layer(s.sequence, layer);
    const std::size_t end = states.length(s.sequence), first = end - s.rows;
    const std::size_t journal = states.journal_rows(), keep = states.options().max_rollback;
    if (st.history < first) {
      throw error(error_category::shape, "gated_deltanet (layer " + std::to_string(layer) + "): sequence " + std::to_string(s.sequence) +
                                             " steps from position " + std::to_string(first) + " but this layer has run only " +
                                             std::to_string(st.history) + " of its tokens");
    }
    const raw_rows fresh{in.qkv.slice(s.first_row, s.first_row + s.rows), in.a.slice(s.first_row, s.first_row + s.rows),
                         in.b.slice(s.first_row, s.first_row + s.rows)};
    const matrix_view<float> fresh_out = out.slice(s.first_row, s.first_row + s.rows);
    if (st.live_position > first) {  // rolled back: the base plus the journal up to `first`
      copy_snapshot(st.base, st.live);
      replay(dev, st, st.live, st.base_position, first);
    }
    std::size_t done = first;
    if (journal > 0 && end - st.base_position > journal) {
      const std::size_t new_base = end - keep;
      if (new_base <= first) {
        replay(dev, st, st.base, st.base_position, new_base);
      } else {
        fold(dev, st.live, fresh.slice(0, new_base - first), fresh_out.slice(0, new_base - first));
        copy_snapshot(st.live, st.base);
        done = new_base;
      }
      st.base_position = new_base;
    }
    fold(dev, st.live, fresh.slice(done - first, s.rows), fresh_out.slice(done - first, s.rows));
    for (std::size_t p = std::max(first, st.base_position); p < end && journal > 0; ++p) {
      float* row = st.journal.row(p % journal).data();
      const std::size_t r = p - first;
      const std::size_t channels = config_.shape.channels(), heads = config_.shape.value_heads;
      std::copy_n(&fresh.qkv(r, 0), channels, row);
      std::copy_n(&fresh.a(r, 0), heads, row + channels);
      std::copy_n(&fresh.b(r, 0), heads, row + channels + heads);
    }
    st.live_position = st.history = end;
    if (journal == 0) st.base_position = end;
  }

  // Folds journaled positions [from, to) into `target` (the ring may wrap once).
  void replay(Device& dev, const deltanet_layer_state& st, const deltanet_snapshot& target, std::size_t from, std::size_t to) {
    const std::size_t rows = st.journal.extent(0);
    while (from < to) {
      const std::size_t begin = from % rows, n = std::min(to - from, rows - begin);
      const std::size_t channels = config_.shape.channels(), heads = config_.shape.value_heads, stride = st.journal.stride(0);
      const float* base = st.journal.row(begin).data();
      const raw_rows journaled{{base, {n, channels}, {stride, 1}}, {base + channels, {n, heads}, {stride, 1}},
                               {base + channels + heads, {n, heads}, {stride, 1}}};
      ensure(replay_out_, n * config_.shape.value_width());
      fold(dev, target, journaled, matrix_view<float>(replay_out_.data(), {n, config_.shape.value_width()}));
      dev.host_access(replay_out_);  // unread, but a later ensure() may move it
      from += n;
    }
  }

  // Runs tokens through conv, gates and the recurrence, from and into `state`; core outputs
  // (before the gated norm) go to out[n][value_width].
  void fold(Device& dev, const deltanet_snapshot& state, const raw_rows& raw, matrix_view<float> out) {
    const deltanet_shape& s = config_.shape;
    const std::size_t n = raw.qkv.extent(0), channels = s.channels(), taps = s.conv_kernel;
    if (n == 0) return;
    ensure(mixed_, n * channels);
    ensure(log_decay_, n * s.value_heads);
    ensure(beta_, n * s.value_heads);
    // Causal depthwise conv over [tail, new rows], then silu.
    const matrix_view<float> tail = state.conv_tail;
    for (std::size_t t = 0; t < n; ++t) {
      float* y = mixed_.data() + t * channels;
      std::fill_n(y, channels, 0.0f);
      for (std::size_t j = 0; j < taps; ++j) {
        const std::size_t at = t + j;  // index into [tail rows, new rows]
        const float* x = at < taps - 1 ? &tail(at, 0) : &raw.qkv(at - (taps - 1), 0);
        const float* w = conv_by_tap_.data() + j * channels;
        for (std::size_t c = 0; c < channels; ++c) y[c] += w[c] * x[c];
      }
    }
    const std::span<float> mixed(mixed_.data(), n * channels);
    dev.apply_activation(activation::silu, mixed, mixed);
    dev.host_access(mixed);  // normalised on the host below
    // The tail becomes the last taps − 1 inputs of [tail, new rows].
    for (std::size_t r = 0; r + 1 < taps; ++r) {
      const std::size_t at = n + r;
      if (at < taps - 1) {
        std::copy_n(&tail(at, 0), channels, &tail(r, 0));
      } else {
        std::copy_n(&raw.qkv(at - (taps - 1), 0), channels, &tail(r, 0));
      }
    }
    // L2 norms of q and k per head; q also scaled by key_dim^-0.5.
    const float q_scale = 1.0f / std::sqrt(static_cast<float>(s.key_dim));
    for (std::size_t t = 0; t < n; ++t) {
      for (std::size_t h = 0; h < 2 * s.key_heads; ++h) {
        float* x = mixed_.data() + t * channels + h * s.key_dim;
        float sum = 0.0f;
        for (std::size_t d = 0; d < s.key_dim; ++d) sum += x[d] * x[d];
        const float factor = (h < s.key_heads ? q_scale : 1.0f) / std::sqrt(sum + 1e-6f);
        for (std::size_t d = 0; d < s.key_dim; ++d) x[d] *= factor;
      }
      for (std::size_t h = 0; h < s.value_heads; ++h) {
        const float a = raw.a(t, h) + weights_.dt_bias[h];
        const float softplus = a > 20.0f ? a : std::log1p(std::exp(a));  // torch's threshold
        log_decay_[t * s.value_heads + h] = -decay_rate_[h] * softplus;
        beta_[t * s.value_heads + h] = 1.0f / (1.0f + std::exp(-raw.b(t, h)));
      }
    }
    const float* q = mixed_.data();
    const deltanet_args args{{q, {n, s.key_heads, s.key_dim}, {channels, s.key_dim, 1}},
                             {q + s.key_width(), {n, s.key_heads, s.key_dim}, {channels, s.key_dim, 1}},
                             {q + 2 * s.key_width(), {n, s.value_heads, s.value_dim}, {channels, s.value_dim, 1}},
                             {log_decay_.data(), {n, s.value_heads}},
                             {beta_.data(), {n, s.value_heads}},
                             state.recurrent,
                             {out.data(), {n, s.value_heads, s.value_dim}, {out.stride(0), s.value_dim, 1}},
                             s.order};
    if (n <= config_.recurrent_up_to) {
      dev.deltanet_recurrent(args);
    } else {
      dev.deltanet_chunked(args, config_.chunk);
    }
  }

  static void copy_snapshot(const deltanet_snapshot& from, const deltanet_snapshot& to) {
    std::copy_n(from.recurrent.data(), from.recurrent.size(), to.recurrent.data());
    std::copy_n(from.conv_tail.data(), from.conv_tail.size(), to.conv_tail.data());
  }
  static void ensure(std::vector<float>& scratch, std::size_t floats) {
    if (scratch.size() < floats) scratch.resize(floats);
  }

  void validate(std::span<const sequence_rows> sequences, const deltanet_projections& in, const deltanet_state_cache& states,
                std::size_t layer, matrix_view<float> out) const {
    const deltanet_shape& s = config_.shape;
    const std::size_t rows = out.extent(0);
    auto fail = [&](const std::string& what) {
      throw error(error_category::shape, "gated_deltanet (layer " + std::to_string(layer) + "): " + what);
    };
    auto has_shape = [](const auto& m, std::size_t r, std::size_t c) { return m.extent(0) == r && m.extent(1) == c && m.stride(1) == 1; };
    if (!has_shape(out, rows, s.value_width()) || !out.is_contiguous()) fail("out must be contiguous [rows][value_heads · value_dim]");
    if (!has_shape(in.z, rows, s.value_width()) || !in.z.is_contiguous()) fail("z must be contiguous [rows][value_heads · value_dim]");
    if (!has_shape(in.qkv, rows, s.channels())) fail("qkv must be [rows][" + std::to_string(s.channels()) + "]");
    if (!has_shape(in.a, rows, s.value_heads) || !has_shape(in.b, rows, s.value_heads)) fail("a and b must be [rows][value_heads]");
    if (layer >= states.layer_count()) fail("no such layer in the state cache");
    const deltanet_shape& held = states.shape(layer);
    if (held.key_heads != s.key_heads || held.value_heads != s.value_heads || held.key_dim != s.key_dim || held.value_dim != s.value_dim ||
        held.conv_kernel != s.conv_kernel) {
      fail("the state cache holds a layer of a different shape");
    }
    std::size_t covered = 0;
    for (const sequence_rows& q : sequences) {
      if (q.first_row + q.rows > rows) fail("a sequence's rows run past the batch");
      if (q.rows > states.length(q.sequence)) fail("sequence " + std::to_string(q.sequence) + " has fewer positions than rows");
      covered += q.rows;
    }
    if (covered != rows) fail("the sequences must cover every row once");
  }

  deltanet_config config_;
  deltanet_weights weights_;
  std::vector<float> conv_by_tap_;
  std::vector<float> decay_rate_;  // exp(A_log)
  std::vector<float> mixed_, log_decay_, beta_, replay_out_;
};

}  // namespace strix
