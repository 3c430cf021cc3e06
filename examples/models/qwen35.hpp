// The Qwen3.5 text decoder (dense and MoE) assembled from strix blocks: Gated DeltaNet layers and
// gated full-attention layers in the config's pattern, partial RoPE, (1 + w) RMSNorms, a dense
// SwiGLU MLP or the MoE block with its sigmoid-gated shared expert. State lives in a
// qwen35_cache: the paged KV cache of the attention layers beside the DeltaNet state cache, with
// one append / truncate for both, so a sequence rolls back as a whole.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <strix/attention/hybrid_attention.hpp>
#include <strix/core/error.hpp>
#include <strix/core/sequence_rows.hpp>
#include <strix/device/device_batch.hpp>
#include <strix/kv/paged_kv_cache.hpp>
#include <strix/linear/deltanet_state.hpp>
#include <strix/linear/gated_deltanet.hpp>
#include <strix/moe/moe_block.hpp>
#include <strix/quant/weight_matrix.hpp>

#include "models/config_fields.hpp"
#include "models/logit_rows.hpp"
#include "models/qwen35_tensors.hpp"
#include "models/weight_source.hpp"

namespace strix::models {

struct qwen35_config {
  std::size_t vocab = 0, hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, intermediate = 0;
  float norm_eps = 1e-6f;
  bool tied = false;
  deltanet_shape linear;
  bool moe = false;
  std::size_t experts = 0, top_k = 0, moe_intermediate = 0, shared_intermediate = 0;
  std::size_t context_length = 0;  // max_position_embeddings
  std::vector<bool> linear_layer;  // per layer: Gated DeltaNet (true) or full attention
  float rope_theta = 10000000.0f;
  std::size_t rotary_dims = 0;                // partial RoPE: the first rotary_dims of each head
  std::vector<std::size_t> mrope_sections;    // M-RoPE's split of the rotary pairs (text: no effect)
  std::vector<float> inv_freq;                // rotary_dims / 2 entries

  [[nodiscard]] std::size_t layer_count() const noexcept { return linear_layer.size(); }

  // Text-only positions are equal in every M-RoPE section, so M-RoPE is plain RoPE here.
  void set_rope(float theta, std::size_t rotary) {
    rope_theta = theta;
    rotary_dims = rotary;
    inv_freq.clear();
    for (std::size_t i = 0; i < rotary / 2; ++i) {
      inv_freq.push_back(1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(rotary)));
    }
  }

  static qwen35_config from_json(const nlohmann::json& root, const std::string& source) {
    const nlohmann::json& j = root.contains("text_config") ? root.at("text_config") : root;
    const config_fields fields(j, source);
    auto fail = [&](const std::string& what) { fields.fail(what); };
    const std::string type = j.value("model_type", std::string());
    qwen35_config c;
    if (type == "qwen3_5_moe_text" || type == "qwen3_5_moe") {
      c.moe = true;
    } else if (type != "qwen3_5_text" && type != "qwen3_5") {
      fail("model_type '" + type + "' is not Qwen3.5 (qwen3_5_text, qwen3_5_moe_text)");
    }
    if (j.value("hidden_act", std::string("silu")) != "silu") fail("hidden_act must be silu");
    c.vocab = fields.count("vocab_size");
    c.hidden = fields.count("hidden_size");
    c.heads = fields.count("num_attention_heads");
    c.kv_heads = fields.count("num_key_value_heads");
    c.head_dim = fields.count("head_dim");
    c.norm_eps = j.value("rms_norm_eps", 1e-6f);
    c.context_length = fields.count_or("max_position_embeddings", 262144);
    c.tied = j.value("tie_word_embeddings", false);
    c.linear = {fields.count("linear_num_key_heads"), fields.count("linear_num_value_heads"), fields.count("linear_key_head_dim"),
                fields.count("linear_value_head_dim"), fields.count("linear_conv_kernel_dim")};
    if (c.moe) {
      c.experts = fields.count("num_experts");
      c.top_k = fields.count("num_experts_per_tok");
      c.moe_intermediate = fields.count("moe_intermediate_size");
      c.shared_intermediate = fields.count("shared_expert_intermediate_size");
    } else {
      c.intermediate = fields.count("intermediate_size");
    }
    if (c.kv_heads == 0 || c.heads % c.kv_heads != 0) fail("num_attention_heads must be a multiple of num_key_value_heads");
    const std::size_t n = fields.count("num_hidden_layers");
    if (!j.contains("layer_types") || !j.at("layer_types").is_array()) fail("config field 'layer_types' is missing");
    const auto types = j.at("layer_types").get<std::vector<std::string>>();
    if (types.size() != n) fail("layer_types has " + std::to_string(types.size()) + " entries for " + std::to_string(n) + " layers");
    for (const std::string& t : types) {
      if (t != "linear_attention" && t != "full_attention") fail("layer type '" + t + "' is not linear_attention or full_attention");
      c.linear_layer.push_back(t == "linear_attention");
    }
    const nlohmann::json rope = j.value("rope_parameters", nlohmann::json::object());
    if (rope.value("rope_type", std::string("default")) != "default") fail("rope_parameters.rope_type must be default");
    const auto theta = static_cast<float>(rope.value("rope_theta", 10000000.0));
    const double partial = rope.value("partial_rotary_factor", j.value("partial_rotary_factor", 1.0));
    const auto rotary = static_cast<std::size_t>(static_cast<double>(c.head_dim) * partial);
    if (rotary == 0 || rotary % 2 != 0 || rotary > c.head_dim) fail("partial_rotary_factor gives " + std::to_string(rotary) + " rotary dims");
    c.set_rope(theta, rotary);
    if (rope.contains("mrope_section") && rope.at("mrope_section").is_array()) {
      c.mrope_sections = rope.at("mrope_section").get<std::vector<std::size_t>>();
    }
    return c;
  }
};

// The attention layers' paged KV cache and the DeltaNet layers' state cache of one model, kept in
// step: sequences are created, appended and truncated in both at once.
class qwen35_cache {
 public:
  qwen35_cache(const qwen35_config& c, kv_cache_options options, std::size_t kv_budget_bytes)
      : kv_(layout_for(c, options), kv_budget_bytes), states_(linear_shapes(c), {options.max_sequences, options.max_rollback}) {}

  [[nodiscard]] paged_kv_cache& kv() noexcept { return kv_; }
  [[nodiscard]] const paged_kv_cache& kv() const noexcept { return kv_; }
  [[nodiscard]] deltanet_state_cache& states() noexcept { return states_; }

  [[nodiscard]] kv_sequence_result create() {
    const kv_sequence_result r = kv_.create();
    if (r) states_.reset(r.sequence);
    return r;
  }
  [[nodiscard]] kv_status append(kv_sequence_id seq, std::span<const std::int32_t> tokens) {
    const kv_status s = kv_.append(seq, tokens);
    if (s == kv_status::ok) states_.append(seq, tokens.size());
    return s;
  }
  // Back to the first `length` tokens in both caches, or in neither.
  [[nodiscard]] kv_status truncate(kv_sequence_id seq, std::size_t length) {
    if (!states_.can_truncate(seq, length)) return kv_status::rollback_too_deep;
    if (const kv_status s = kv_.truncate(seq, length); s != kv_status::ok) return s;
    return states_.truncate(seq, length);
  }
  void release(kv_sequence_id seq) { kv_.release(seq); }
  [[nodiscard]] std::size_t length(kv_sequence_id seq) const { return kv_.length(seq); }

  static kv_layout layout_for(const qwen35_config& c, kv_cache_options options) {
    std::vector<kv_layer_spec> specs;
    for (bool linear : c.linear_layer) {
      if (!linear) specs.push_back({c.kv_heads, c.head_dim, 0});
    }
    return kv_layout(std::move(specs), options);
  }

  static std::vector<deltanet_shape> linear_shapes(const qwen35_config& c) {
    std::vector<deltanet_shape> shapes;
    for (bool linear : c.linear_layer) {
      if (linear) shapes.push_back(c.linear);
    }
    return shapes;
  }

 private:
  paged_kv_cache kv_;
  deltanet_state_cache states_;
};

struct qwen35_layer_weights {
  std::vector<float> input_norm, post_attention_norm;
  // full attention: q projects to [heads][q, gate] interleaved per head
  weight_matrix q, k, v, o;
  std::vector<float> q_norm, k_norm;
  // Gated DeltaNet
  weight_matrix qkv, z, a, b, out;
  std::vector<float> conv, a_log, dt_bias, norm;
  // FFN
  gated_ffn_weights mlp;
  weight_matrix router;
  expert_stack experts;
  std::optional<shared_expert_weights> shared;
};

struct qwen35_weights {
  std::shared_ptr<const void> owner;
  std::vector<std::span<const std::byte>> regions;  // the bytes of the files the matrices view
  // How the RMSNorm weights are stored: w (Hugging Face, applied as 1 + w) or 1 + w (GGUF). The
  // DeltaNet output norm is a plain weight in both.
  norm_weight norms = norm_weight::one_plus;
  weight_matrix embed, output;
  std::vector<float> final_norm;
  std::vector<qwen35_layer_weights> layers;

  // Calls f(matrix) for every weight matrix (empty ones included: rows() == 0; a tied output
  // projection once, as the embedding), and g(values) for every f32 vector.
  template <class F, class G>
  void for_each_tensor(F&& f, G&& g) const {
    f(embed);
    if (output.bytes().data() != embed.bytes().data()) f(output);
    g(final_norm);
    auto ffn = [&](const gated_ffn_weights& w) {
      for (const weight_matrix* m : {&w.gate, &w.up, &w.down}) f(*m);
    };
    for (const qwen35_layer_weights& l : layers) {
      for (const weight_matrix* m : {&l.q, &l.k, &l.v, &l.o, &l.qkv, &l.z, &l.a, &l.b, &l.out, &l.router, &l.experts.down}) f(*m);
      for (const auto* m : {&l.experts.gate_up, &l.experts.gate, &l.experts.up}) {
        if (m->has_value()) f(**m);
      }
      for (const gated_ffn_weights& e : l.experts.listed) ffn(e);
      ffn(l.mlp);
      if (l.shared) {
        ffn(l.shared->ffn);
        if (l.shared->gate) f(*l.shared->gate);
      }
      for (const std::vector<float>* v : {&l.input_norm, &l.post_attention_norm, &l.q_norm, &l.k_norm, &l.conv, &l.a_log, &l.dt_bias, &l.norm}) g(*v);
    }
  }

  // From a Hugging Face folder (Qwen3_5ForCausalLM / Qwen3_5MoeForCausalLM names, or the
  // vision-language wrapper's model.language_model.*) or a llama.cpp GGUF file, in place.
  static qwen35_weights load(const weight_source& t, const qwen35_config& c) {
    const bool gguf = t.naming() == tensor_naming::gguf;
    const std::string prefix = qwen35_hf_prefix(t);
    auto name = [&](qwen35_tensor tensor, std::size_t layer = 0) { return qwen35_tensor_name_in(t.naming(), tensor, layer, prefix); };
    auto matrix = [&](qwen35_tensor tensor, std::size_t layer, std::size_t rows, std::size_t cols) { return t.matrix(name(tensor, layer), rows, cols); };
    auto vector = [&](qwen35_tensor tensor, std::size_t layer, std::size_t size) { return t.vector(name(tensor, layer), size); };
    const std::size_t h = c.hidden;
    qwen35_weights w;
    w.owner = t.owner();
    w.regions = t.regions();
    w.norms = gguf ? norm_weight::plain : norm_weight::one_plus;
    w.embed = matrix(qwen35_tensor::embed, 0, c.vocab, h);
    w.output = c.tied || !t.has(name(qwen35_tensor::output)) ? w.embed : matrix(qwen35_tensor::output, 0, c.vocab, h);
    w.final_norm = vector(qwen35_tensor::final_norm, 0, h);
    const deltanet_shape& s = c.linear;
    if (gguf != (s.order == value_head_order::tiled)) {
      throw error(error_category::format, "Qwen3.5: the config's value-head order does not match the weights' (GGUF files are tiled)");
    }
    for (std::size_t i = 0; i < c.layer_count(); ++i) {
      qwen35_layer_weights l;
      l.input_norm = vector(qwen35_tensor::input_norm, i, h);
      l.post_attention_norm = vector(qwen35_tensor::post_attention_norm, i, h);
      if (c.linear_layer[i]) {
        l.qkv = matrix(qwen35_tensor::qkv, i, s.channels(), h);
        l.z = matrix(qwen35_tensor::z, i, s.value_width(), h);
        l.a = matrix(qwen35_tensor::a, i, s.value_heads, h);
        l.b = matrix(qwen35_tensor::b, i, s.value_heads, h);
        l.out = matrix(qwen35_tensor::out, i, h, s.value_width());
        l.conv = vector(qwen35_tensor::conv, i, s.channels() * s.conv_kernel);
        l.a_log = vector(qwen35_tensor::a_log, i, s.value_heads);
        if (gguf) l.a_log = a_log_from_gguf(l.a_log, name(qwen35_tensor::a_log, i));
        l.dt_bias = vector(qwen35_tensor::dt_bias, i, s.value_heads);
        l.norm = vector(qwen35_tensor::linear_norm, i, s.value_dim);
      } else {
        l.q = matrix(qwen35_tensor::q, i, 2 * c.heads * c.head_dim, h);
        l.k = matrix(qwen35_tensor::k, i, c.kv_heads * c.head_dim, h);
        l.v = matrix(qwen35_tensor::v, i, c.kv_heads * c.head_dim, h);
        l.o = matrix(qwen35_tensor::o, i, h, c.heads * c.head_dim);
        l.q_norm = vector(qwen35_tensor::q_norm, i, c.head_dim);
        l.k_norm = vector(qwen35_tensor::k_norm, i, c.head_dim);
      }
      if (c.moe) {
        const std::size_t e = c.experts, m = c.moe_intermediate;
        l.router = matrix(qwen35_tensor::router, i, e, h);
        l.experts.experts = e;
        if (t.has(name(qwen35_tensor::experts_gate_up, i))) {
          l.experts.gate_up = matrix(qwen35_tensor::experts_gate_up, i, e * 2 * m, h);
          l.experts.down = matrix(qwen35_tensor::experts_down, i, e * h, m);
        } else if (gguf) {
          l.experts.gate = matrix(qwen35_tensor::experts_gate, i, e * m, h);
          l.experts.up = matrix(qwen35_tensor::experts_up, i, e * m, h);
          l.experts.down = matrix(qwen35_tensor::experts_down, i, e * h, m);
        } else {
          const std::string experts = prefix + "layers." + std::to_string(i) + ".mlp.experts.";
          for (std::size_t x = 0; x < e; ++x) {
            const std::string p = experts + std::to_string(x) + ".";
            l.experts.listed.push_back({t.matrix(p + "gate_proj.weight", m, h), t.matrix(p + "up_proj.weight", m, h), t.matrix(p + "down_proj.weight", h, m)});
          }
        }
        const std::size_t si = c.shared_intermediate;
        l.shared = shared_expert_weights{{matrix(qwen35_tensor::shared_gate, i, si, h), matrix(qwen35_tensor::shared_up, i, si, h),
                                          matrix(qwen35_tensor::shared_down, i, h, si)},
                                         matrix(qwen35_tensor::shared_expert_gate, i, 1, h)};
      } else {
        l.mlp = {matrix(qwen35_tensor::mlp_gate, i, c.intermediate, h), matrix(qwen35_tensor::mlp_up, i, c.intermediate, h),
                 matrix(qwen35_tensor::mlp_down, i, h, c.intermediate)};
      }
      w.layers.push_back(std::move(l));
    }
    return w;
  }

 private:
  // GGUF stores A = −exp(A_log); the layer takes A_log. A must be ≤ 0 (0: no decay).
  static std::vector<float> a_log_from_gguf(std::vector<float> a, const std::string& tensor) {
    for (float& x : a) {
      if (!(x <= 0.0f)) throw error(error_category::format, "tensor '" + tensor + "': A must be negative (it is −exp(A_log)), found " + std::to_string(x));
      x = std::log(-x);
    }
    return a;
  }
};

template <device_policy Device>
class qwen35 {
 public:
  qwen35(qwen35_config config, qwen35_weights weights) : config_(std::move(config)), weights_(std::move(weights)) {
    const attention_config ac{config_.heads, config_.kv_heads, config_.head_dim, 1.0f / std::sqrt(static_cast<float>(config_.head_dim)),
                              0.0f, config_.norm_eps, weights_.norms, false, false, true};
    for (std::size_t i = 0; i < config_.layer_count(); ++i) {
      qwen35_layer_weights& w = weights_.layers[i];
      if (config_.linear_layer[i]) {
        linear_index_.push_back(linear_.size());
        linear_.emplace_back(deltanet_config{config_.linear, config_.norm_eps, 64, 16},
                             deltanet_weights{{w.conv.data(), {config_.linear.channels(), config_.linear.conv_kernel}}, w.a_log, w.dt_bias, w.norm});
      } else {
        linear_index_.push_back(attention_.size());
        attention_.emplace_back(ac, attention_weights{w.q_norm, w.k_norm, {config_.inv_freq}});
      }
      if (config_.moe) {
        moe_.emplace_back(router_config{config_.experts, config_.top_k, router_scoring::softmax, true, config_.norm_eps},
                          router_weights{w.router, {}, 1.0f, {}}, w.experts, activation::silu, w.shared);
      }
    }
  }

  [[nodiscard]] const qwen35_config& config() const noexcept { return config_; }

  // Bytes of the model's own activation buffers, as reserved for the largest batch so far (the
  // planner's formula is checked against this).
  [[nodiscard]] std::size_t activation_bytes() const noexcept {
    std::size_t floats = ffn_scratch_.gate.capacity() + ffn_scratch_.up.capacity();
    for (const std::vector<float>* v : {&hidden_, &normed_, &mixed_, &qkv_, &z_, &a_, &b_, &core_, &projected_, &q_, &gate_, &k_, &v_}) {
      floats += v->capacity();
    }
    return floats * sizeof(float);
  }

  // As gemma4::forward: rows are the sequences' new tokens, already appended to `cache`.
  void forward(Device& dev, std::span<const std::int32_t> tokens, std::span<const std::int32_t> positions,
               std::span<const sequence_rows> sequences, qwen35_cache& cache, matrix_view<float> logits,
               logit_rows which = logit_rows::all()) {
    const std::size_t rows = tokens.size(), h = config_.hidden;
    device_batch<Device> batch_end(dev);
    resize(rows);
    const matrix_view<float> hidden(hidden_.data(), {rows, h}), normed(normed_.data(), {rows, h}), mixed(mixed_.data(), {rows, h});
    offer_weight_memory(dev, weights_.regions);
    embed(dev, weights_.embed, tokens, 1.0f, hidden);
    const attention_batch batch{sequences, positions};
    const deltanet_shape& s = config_.linear;
    for (std::size_t i = 0; i < config_.layer_count(); ++i) {
      qwen35_layer_weights& w = weights_.layers[i];
      norm(dev, hidden, w.input_norm, normed);
      if (config_.linear_layer[i]) {
        const matrix_view<float> qkv(qkv_.data(), {rows, s.channels()}), z(z_.data(), {rows, s.value_width()}),
            a(a_.data(), {rows, s.value_heads}), b(b_.data(), {rows, s.value_heads}), core(core_.data(), {rows, s.value_width()});
        multiply(dev, w.qkv, normed, qkv);
        multiply(dev, w.z, normed, z);
        multiply(dev, w.a, normed, a);
        multiply(dev, w.b, normed, b);
        linear_[linear_index_[i]].forward(dev, sequences, {qkv, z, a, b}, cache.states(), linear_index_[i], core);
        multiply(dev, w.out, core, mixed);
      } else {
        const std::size_t width = config_.heads * config_.head_dim, d = config_.head_dim, kv_width = config_.kv_heads * d;
        const matrix_view<float> projected(projected_.data(), {rows, 2 * width}), q(q_.data(), {rows, width}), gate(gate_.data(), {rows, width}),
            k(k_.data(), {rows, kv_width}), v(v_.data(), {rows, kv_width}), attended(core_.data(), {rows, width});
        multiply(dev, w.q, normed, projected);
        // [q_h, gate_h] per head → q and gate: the projection as rows of heads, each half taken.
        const std::size_t head_rows = rows * config_.heads;
        dev.copy(matrix_view<const float>(projected.data(), {head_rows, d}, {2 * d, 1}), matrix_view<float>(q.data(), {head_rows, d}));
        dev.copy(matrix_view<const float>(projected.data() + d, {head_rows, d}, {2 * d, 1}), matrix_view<float>(gate.data(), {head_rows, d}));
        multiply(dev, w.k, normed, k);
        multiply(dev, w.v, normed, v);
        attention_[linear_index_[i]].forward(dev, batch, q, kv_projections{k, v}, gate, cache.kv(), linear_index_[i], attended);
        multiply(dev, w.o, attended, mixed);
      }
      dev.add(hidden.span(), mixed.span(), hidden.span());
      norm(dev, hidden, w.post_attention_norm, normed);
      if (config_.moe) {
        moe_[i].forward(dev, normed, mixed);
      } else {
        gated_ffn_forward(dev, w.mlp, activation::silu, normed, mixed, ffn_scratch_);
      }
      dev.add(hidden.span(), mixed.span(), hidden.span());
    }
    norm(dev, hidden, weights_.final_norm, normed);
    multiply(dev, weights_.output, which.gather(dev, normed, sequences, hidden), logits);
    batch_end.finish();
  }

 private:
  void norm(Device& dev, matrix_view<const float> x, const std::vector<float>& weight, matrix_view<float> out) {
    dev.rmsnorm(x, weight, weights_.norms, config_.norm_eps, out);
  }
  void resize(std::size_t rows) {
    const deltanet_shape& s = config_.linear;
    const std::size_t width = config_.heads * config_.head_dim;
    for (std::vector<float>* v : {&hidden_, &normed_, &mixed_}) v->resize(rows * config_.hidden);
    qkv_.resize(rows * s.channels());
    z_.resize(rows * s.value_width());
    a_.resize(rows * s.value_heads);
    b_.resize(rows * s.value_heads);
    core_.resize(rows * std::max(s.value_width(), width));
    projected_.resize(rows * 2 * width);
    q_.resize(rows * width);
    gate_.resize(rows * width);
    k_.resize(rows * config_.kv_heads * config_.head_dim);
    v_.resize(rows * config_.kv_heads * config_.head_dim);
  }

  qwen35_config config_;
  qwen35_weights weights_;
  std::vector<gated_deltanet<Device>> linear_;
  std::vector<attention<Device, global_attention>> attention_;
  std::vector<std::size_t> linear_index_;  // per layer: its index among layers of its kind (cache layer)
  std::vector<moe_block<Device>> moe_;
  std::vector<float> hidden_, normed_, mixed_, qkv_, z_, a_, b_, core_, projected_, q_, gate_, k_, v_;
  gated_ffn_scratch ffn_scratch_;
};

}  // namespace strix::models
