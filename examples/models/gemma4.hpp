// The Gemma 4 text decoder assembled from strix blocks, for every released variant through its
// config: E2B/E4B (per-layer embeddings, KV shared by the last layers, double-wide MLP there),
// 26B-A4B (MoE beside the dense MLP, keys-equal-values full layers with their own kv heads) and 31B.
// Sliding layers run attention<Device, sliding_window<W>> for W among the instantiated Windows
// (a config with another window is an error listing them). Weights are used where the checkpoint
// maps them (gemma4_weights); the KV lives in a paged_kv_cache laid out by cache_layout().
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <strix/attention/hybrid_attention.hpp>
#include <strix/attention/window.hpp>
#include <strix/core/bf16.hpp>
#include <strix/core/f16.hpp>
#include <strix/core/sequence_rows.hpp>
#include <strix/device/device_batch.hpp>
#include <strix/kv/paged_kv_cache.hpp>
#include <strix/moe/moe_block.hpp>
#include <strix/quant/weight_matrix.hpp>

#include "models/gemma4_config.hpp"
#include "models/gemma4_tensors.hpp"
#include "models/logit_rows.hpp"
#include "models/weight_source.hpp"

namespace strix::models {

struct gemma4_layer_weights {
  std::vector<float> input_norm, post_attention_norm, pre_ff_norm, post_ff_norm, q_norm, k_norm;
  weight_matrix q, k, v, o;  // k and v empty on KV-sharing layers; v empty on keys-equal-values layers
  gated_ffn_weights mlp;
  // MoE layers
  std::vector<float> post_ff_norm_1, pre_ff_norm_2, post_ff_norm_2, router_scale, expert_scale;
  weight_matrix router;
  expert_stack experts;
  // Per-layer embeddings
  weight_matrix ple_gate, ple_projection;
  std::vector<float> ple_post_norm;
  float layer_scalar = 1.0f;
};

struct gemma4_weights {
  std::shared_ptr<const void> owner;  // the mapped files the matrices view
  std::vector<std::span<const std::byte>> regions;  // their bytes (weight_source::regions)
  weight_matrix embed;  // [vocab][hidden], tied output projection
  float embed_scale = 1.0f;
  weight_matrix ple_embed, ple_projection;  // [ple_vocab][layers · P], [layers · P][hidden]
  float ple_embed_scale = 1.0f;
  std::vector<float> ple_norm, final_norm;
  std::vector<gemma4_layer_weights> layers;

  // Calls f(matrix) for every weight matrix (empty ones included: rows() == 0), and g(values) for
  // every f32 vector (norm weights, scales).
  template <class F, class G>
  void for_each_tensor(F&& f, G&& g) const {
    for (const weight_matrix* m : {&embed, &ple_embed, &ple_projection}) f(*m);
    for (const std::vector<float>* v : {&ple_norm, &final_norm}) g(*v);
    for (const gemma4_layer_weights& l : layers) {
      for (const weight_matrix* m : {&l.q, &l.k, &l.v, &l.o, &l.mlp.gate, &l.mlp.up, &l.mlp.down, &l.router, &l.experts.down, &l.ple_gate,
                                     &l.ple_projection}) {
        f(*m);
      }
      for (const auto* m : {&l.experts.gate_up, &l.experts.gate, &l.experts.up}) {
        if (m->has_value()) f(**m);
      }
      for (const std::vector<float>* v : {&l.input_norm, &l.post_attention_norm, &l.pre_ff_norm, &l.post_ff_norm, &l.q_norm, &l.k_norm,
                                          &l.post_ff_norm_1, &l.pre_ff_norm_2, &l.post_ff_norm_2, &l.router_scale, &l.expert_scale,
                                          &l.ple_post_norm}) {
        g(*v);
      }
      g(std::vector<float>{l.layer_scalar});
    }
  }

  // From a Hugging Face folder (Gemma4ForCausalLM or Gemma4ForConditionalGeneration names) or a
  // GGUF file (llama.cpp's names), through the one name table of gemma4_tensors.hpp.
  static gemma4_weights load(const weight_source& t, const gemma4_config& c) {
    const std::string hf_prefix = t.naming() == tensor_naming::hugging_face && t.has("model.language_model.embed_tokens.weight")
                                      ? "model.language_model."
                                      : "model.";
    std::size_t layer = 0;
    auto name = [&](gemma4_tensor tensor) { return gemma4_tensor_name_in(t.naming(), tensor, layer, hf_prefix); };
    auto matrix = [&](gemma4_tensor tensor, std::size_t rows, std::size_t cols) { return t.matrix(name(tensor), rows, cols); };
    auto vector = [&](gemma4_tensor tensor, std::size_t size) { return t.vector(name(tensor), size); };
    const std::size_t h = c.hidden;
    gemma4_weights w;
    w.owner = t.owner();
    w.regions = t.regions();
    w.embed = matrix(gemma4_tensor::embed, c.vocab, h);
    w.embed_scale = rounded_to(t.type(name(gemma4_tensor::embed)), std::sqrt(static_cast<float>(h)));
    if (c.ple_width) {
      const std::size_t width = c.layer_count() * c.ple_width;
      w.ple_embed = matrix(gemma4_tensor::ple_embed, c.ple_vocab, width);
      w.ple_embed_scale = rounded_to(t.type(name(gemma4_tensor::ple_embed)), std::sqrt(static_cast<float>(c.ple_width)));
      w.ple_projection = matrix(gemma4_tensor::ple_projection, width, h);
      w.ple_norm = vector(gemma4_tensor::ple_norm, c.ple_width);
    }
    w.final_norm = vector(gemma4_tensor::final_norm, h);
    w.layers.reserve(c.layer_count());
    for (layer = 0; layer < c.layer_count(); ++layer) {
      const gemma4_layer& l = c.layers[layer];
      gemma4_layer_weights lw;
      lw.input_norm = vector(gemma4_tensor::input_norm, h);
      lw.post_attention_norm = vector(gemma4_tensor::post_attention_norm, h);
      lw.pre_ff_norm = vector(gemma4_tensor::pre_ff_norm, h);
      lw.post_ff_norm = vector(gemma4_tensor::post_ff_norm, h);
      lw.q = matrix(gemma4_tensor::q, c.heads * l.head_dim, h);
      lw.o = matrix(gemma4_tensor::o, h, c.heads * l.head_dim);
      lw.q_norm = vector(gemma4_tensor::q_norm, l.head_dim);
      if (l.owns_kv) {
        lw.k = matrix(gemma4_tensor::k, l.kv_heads * l.head_dim, h);
        if (!l.values_from_keys) lw.v = matrix(gemma4_tensor::v, l.kv_heads * l.head_dim, h);
        lw.k_norm = vector(gemma4_tensor::k_norm, l.head_dim);
      }
      lw.mlp = {matrix(gemma4_tensor::mlp_gate, l.intermediate, h), matrix(gemma4_tensor::mlp_up, l.intermediate, h),
                matrix(gemma4_tensor::mlp_down, h, l.intermediate)};
      if (c.moe) {
        lw.post_ff_norm_1 = vector(gemma4_tensor::post_ff_norm_1, h);
        lw.pre_ff_norm_2 = vector(gemma4_tensor::pre_ff_norm_2, h);
        lw.post_ff_norm_2 = vector(gemma4_tensor::post_ff_norm_2, h);
        lw.router = matrix(gemma4_tensor::router, c.experts, h);
        lw.router_scale = vector(gemma4_tensor::router_scale, h);
        lw.expert_scale = vector(gemma4_tensor::expert_scale, c.experts);
        lw.experts = {c.experts, matrix(gemma4_tensor::experts_gate_up, c.experts * 2 * c.moe_intermediate, h), std::nullopt,
                      std::nullopt, matrix(gemma4_tensor::experts_down, c.experts * h, c.moe_intermediate), {}};
      }
      if (c.ple_width) {
        lw.ple_gate = matrix(gemma4_tensor::ple_gate, c.ple_width, h);
        lw.ple_projection = matrix(gemma4_tensor::ple_layer_projection, h, c.ple_width);
        lw.ple_post_norm = vector(gemma4_tensor::ple_post_norm, h);
      }
      lw.layer_scalar = t.has(name(gemma4_tensor::layer_scalar)) ? vector(gemma4_tensor::layer_scalar, 1)[0] : 1.0f;
      w.layers.push_back(std::move(lw));
    }
    return w;
  }

 private:
  // transformers multiplies by the scale cast to the table's dtype (sqrt(2560) is 50.5 in bf16).
  static float rounded_to(ggml_type type, float x) {
    if (type == ggml_type::bf16) return bf16::from_float(x).to_float();
    if (type == ggml_type::f16) return f16::from_float(x).to_float();
    return x;
  }
};

// The paged-cache layout a Gemma 4 model needs: one cache layer per KV-owning layer, in order.
inline kv_layout gemma4_cache_layout(const gemma4_config& c, kv_cache_options options) {
  std::vector<kv_layer_spec> specs;
  for (const gemma4_layer& l : c.layers) {
    if (l.owns_kv) specs.push_back({l.kv_heads, l.head_dim, l.sliding ? c.window : 0});
  }
  return kv_layout(std::move(specs), options);
}

template <device_policy Device, std::size_t... Windows>
class gemma4 {
 public:
  gemma4(gemma4_config config, gemma4_weights weights) : config_(std::move(config)), weights_(std::move(weights)) {
    for (std::size_t i = 0; i < config_.layer_count(); ++i) {
      const gemma4_layer& l = config_.layers[i];
      gemma4_layer_weights& w = weights_.layers[i];
      const attention_config ac{config_.heads, l.kv_heads, l.head_dim, 1.0f, 0.0f, config_.norm_eps, norm_weight::plain,
                                true, l.values_from_keys, false};
      // A KV-sharing layer normalises no keys: its q_norm stands in for the absent k_norm.
      const attention_weights aw{w.q_norm, l.owns_kv ? std::span<const float>(w.k_norm) : std::span<const float>(w.q_norm),
                                 {l.sliding ? config_.sliding_inv_freq : config_.full_inv_freq}};
      attention_.push_back(with_window<Windows...>(l.sliding ? config_.window : 0, [&](auto window) {
        return attention_variant(std::in_place_type<attention<Device, decltype(window)>>, ac, aw);
      }));
      if (config_.moe) {
        moe_.emplace_back(router_config{config_.experts, config_.top_k, router_scoring::softmax, true, config_.norm_eps},
                          router_weights{w.router, w.router_scale, 1.0f / std::sqrt(static_cast<float>(config_.hidden)), w.expert_scale},
                          w.experts, activation::gelu_tanh);
      }
    }
    for (std::size_t i = 0; i < config_.layer_count(); ++i) {
      if (config_.layers[i].owns_kv) cache_layer_.push_back(owners_++);
      else cache_layer_.push_back(cache_layer_[config_.layers[i].kv_source]);
    }
  }

  [[nodiscard]] const gemma4_config& config() const noexcept { return config_; }

  [[nodiscard]] kv_layout cache_layout(kv_cache_options options) const { return gemma4_cache_layout(config_, options); }

  // Bytes of the model's own activation buffers, as reserved for the largest batch so far (the
  // planner's formula is checked against this).
  [[nodiscard]] std::size_t activation_bytes() const noexcept {
    std::size_t floats = ffn_scratch_.gate.capacity() + ffn_scratch_.up.capacity();
    for (const std::vector<float>* v : {&hidden_, &normed_, &mlp_out_, &experts_out_, &q_, &attended_, &k_, &v_, &ple_context_,
                                        &ple_tokens_, &ple_, &ple_gate_}) {
      floats += v->capacity();
    }
    return floats * sizeof(float);
  }

  // Runs a batch: rows are the sequences' new tokens (already appended to `cache`), with their
  // positions. logits: [which.count(sequences)][vocab], the chosen rows in batch order.
  void forward(Device& dev, std::span<const std::int32_t> tokens, std::span<const std::int32_t> positions,
               std::span<const sequence_rows> sequences, paged_kv_cache& cache, matrix_view<float> logits,
               logit_rows which = logit_rows::all()) {
    const std::size_t rows = tokens.size(), h = config_.hidden;
    device_batch<Device> batch_end(dev);
    resize(rows);
    // hidden is the residual stream: each sub-block reads it, works in other buffers, and adds its
    // result back only at its end.
    const matrix_view<float> hidden(hidden_.data(), {rows, h}), normed(normed_.data(), {rows, h});
    offer_weight_memory(dev, weights_.regions);
    embed(dev, weights_.embed, tokens, weights_.embed_scale, hidden);
    if (config_.ple_width) per_layer_inputs(dev, tokens, hidden);
    const attention_batch batch{sequences, positions};

    for (std::size_t i = 0; i < config_.layer_count(); ++i) {
      const gemma4_layer& l = config_.layers[i];
      gemma4_layer_weights& w = weights_.layers[i];
      norm(dev, hidden, w.input_norm, normed);
      const std::size_t q_width = config_.heads * l.head_dim, kv_width = l.kv_heads * l.head_dim;
      const matrix_view<float> q(q_.data(), {rows, q_width}), attended(attended_.data(), {rows, q_width});
      multiply(dev, w.q, normed, q);
      std::optional<kv_projections> projections;
      if (l.owns_kv) {
        const matrix_view<float> k(k_.data(), {rows, kv_width}), v(v_.data(), {rows, kv_width});
        multiply(dev, w.k, normed, k);
        if (!l.values_from_keys) multiply(dev, w.v, normed, v);
        projections = kv_projections{k, v};
      }
      std::visit([&](auto& layer) { layer.forward(dev, batch, q, projections, {}, cache, cache_layer_[i], attended); }, attention_[i]);
      multiply(dev, w.o, attended, normed);
      add_normed(dev, normed, w.post_attention_norm, 1.0f, hidden);

      norm(dev, hidden, w.pre_ff_norm, normed);
      const matrix_view<float> mlp_out(mlp_out_.data(), {rows, h});
      gated_ffn_forward(dev, w.mlp, activation::gelu_tanh, normed, mlp_out, ffn_scratch_);
      if (config_.moe) {
        norm(dev, mlp_out, w.post_ff_norm_1, mlp_out);
        norm(dev, hidden, w.pre_ff_norm_2, normed);
        const matrix_view<float> experts_out(experts_out_.data(), {rows, h});
        moe_[i].forward(dev, hidden, normed, experts_out);
        add_normed(dev, experts_out, w.post_ff_norm_2, 1.0f, mlp_out);
      }
      // The layer scalar goes with the layer's last addition to the residual stream.
      add_normed(dev, mlp_out, w.post_ff_norm, config_.ple_width ? 1.0f : w.layer_scalar, hidden);

      if (config_.ple_width) {
        const std::size_t p = config_.ple_width;
        const matrix_view<float> gate(ple_gate_.data(), {rows, p});
        multiply(dev, w.ple_gate, hidden, gate);
        dev.gated_activation(activation::gelu_tanh, gate.span(), std::span<const float>(ple_.data() + i * rows * p, rows * p), gate.span());
        multiply(dev, w.ple_projection, gate, normed);
        add_normed(dev, normed, w.ple_post_norm, w.layer_scalar, hidden);
      }
    }

    norm(dev, hidden, weights_.final_norm, normed);
    output(dev, which.gather(dev, normed, sequences, hidden), logits);
    batch_end.finish();
  }

 private:
  using attention_variant = std::variant<attention<Device, global_attention>, attention<Device, sliding_window<Windows>>...>;

  void norm(Device& dev, matrix_view<const float> x, const std::vector<float>& weight, matrix_view<float> out) {
    dev.rmsnorm(x, weight, norm_weight::plain, config_.norm_eps, out);
  }
  // residual = (residual + rms_norm(x) · weight) · scale.
  void add_normed(Device& dev, matrix_view<const float> x, const std::vector<float>& weight, float scale, matrix_view<float> residual) {
    dev.rmsnorm_add(x, weight, norm_weight::plain, config_.norm_eps, scale, residual);
  }

  void output(Device& dev, matrix_view<const float> normed, matrix_view<float> logits) {
    multiply(dev, weights_.embed, normed, logits);
    if (config_.final_softcap > 0.0f) dev.softcap(logits.span(), config_.final_softcap);
  }

  // ple_[layer][row][P] = (rms_P(W_proj h0 · hidden^-0.5) + E_ple[token] · sqrt(P)) · 2^-0.5.
  void per_layer_inputs(Device& dev, std::span<const std::int32_t> tokens, matrix_view<const float> h0) {
    const std::size_t rows = tokens.size(), layers = config_.layer_count(), p = config_.ple_width;
    const matrix_view<float> context(ple_context_.data(), {rows, layers * p}), token_part(ple_tokens_.data(), {rows, layers * p});
    multiply(dev, weights_.ple_projection, h0, context);
    dev.scale(context.span(), 1.0f / std::sqrt(static_cast<float>(config_.hidden)));
    const matrix_view<float> chunks(ple_context_.data(), {rows * layers, p});
    dev.rmsnorm(chunks, weights_.ple_norm, norm_weight::plain, config_.norm_eps, chunks);
    embed(dev, weights_.ple_embed, tokens, weights_.ple_embed_scale, token_part);
    dev.add(context.span(), token_part.span(), context.span());
    dev.scale(context.span(), 1.0f / std::sqrt(2.0f));
    dev.host_access(context.span());  // rearranged per layer on the host
    dev.host_access(ple_);
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t l = 0; l < layers; ++l) std::copy_n(&context(r, l * p), p, ple_.data() + (l * rows + r) * p);
    }
  }

  void resize(std::size_t rows) {
    const std::size_t h = config_.hidden;
    std::size_t q_width = 0, kv_width = 0;
    for (const gemma4_layer& l : config_.layers) {
      q_width = std::max(q_width, config_.heads * l.head_dim);
      kv_width = std::max(kv_width, l.kv_heads * l.head_dim);
    }
    for (std::vector<float>* v : {&hidden_, &normed_, &mlp_out_, &experts_out_}) v->resize(rows * h);
    q_.resize(rows * q_width);
    attended_.resize(rows * q_width);
    k_.resize(rows * kv_width);
    v_.resize(rows * kv_width);
    if (config_.ple_width) {
      const std::size_t width = config_.layer_count() * config_.ple_width;
      ple_context_.resize(rows * width);
      ple_tokens_.resize(rows * width);
      ple_.resize(rows * width);
      ple_gate_.resize(rows * config_.ple_width);
    }
  }

  gemma4_config config_;
  gemma4_weights weights_;
  std::vector<attention_variant> attention_;
  std::vector<moe_block<Device>> moe_;
  std::vector<std::size_t> cache_layer_;
  std::size_t owners_ = 0;
  std::vector<float> hidden_, normed_, mlp_out_, experts_out_, q_, attended_, k_, v_;
  std::vector<float> ple_context_, ple_tokens_, ple_, ple_gate_;
  gated_ffn_scratch ffn_scratch_;
};

}  // namespace strix::models
