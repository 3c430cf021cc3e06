// gemma4_config: the shape of a Gemma 4 text decoder, read from a Hugging Face config.json
// (model_type gemma4_text, or gemma4 with the text config under text_config), resolved per layer:
// attention type, head dim and kv heads (full layers may differ: per_layer_config, or the
// global_head_dim / num_global_key_value_heads keys), KV sharing, MLP width, MoE, and the RoPE
// frequency tables of the two layer types. Unsupported values are errors naming the field.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <strix/core/error.hpp>

#include "models/config_fields.hpp"

namespace strix::models {

struct gemma4_layer {
  bool sliding = true;
  std::size_t head_dim = 0;
  std::size_t kv_heads = 0;
  std::size_t intermediate = 0;   // dense MLP width
  bool values_from_keys = false;  // keys-equal-values (full layers of 26B/31B)
  bool owns_kv = true;            // false: reads the KV of layer kv_source
  std::size_t kv_source = 0;      // the layer whose KV this one attends over (itself when it owns KV)
};

struct gemma4_config {
  std::size_t vocab = 0, hidden = 0, heads = 0, window = 0;
  float norm_eps = 1e-6f;
  float final_softcap = 0.0f;  // 0: none
  std::size_t ple_width = 0, ple_vocab = 0;  // per-layer embeddings; 0: none
  bool moe = false;
  std::size_t experts = 0, top_k = 0, moe_intermediate = 0;
  std::size_t context_length = 0;  // max_position_embeddings
  std::vector<gemma4_layer> layers;
  // RoPE: sliding layers rotate every pair; full layers the first full_rope_pairs ("proportional").
  float sliding_rope_theta = 10000.0f, full_rope_theta = 1000000.0f;
  std::size_t full_rope_pairs = 0;
  std::vector<float> sliding_inv_freq, full_inv_freq;  // the tables (half the head dim each)

  [[nodiscard]] std::size_t layer_count() const noexcept { return layers.size(); }

  static gemma4_config from_json(const nlohmann::json& root, const std::string& source) {
    const nlohmann::json& j = root.contains("text_config") ? root.at("text_config") : root;
    const config_fields fields(j, source);
    auto fail = [&](const std::string& what) { fields.fail(what); };

    const std::string type = j.value("model_type", std::string());
    if (type != "gemma4_text" && type != "gemma4") fail("model_type '" + type + "' is not Gemma 4 (gemma4_text)");
    gemma4_config c;
    c.vocab = fields.count("vocab_size");
    c.hidden = fields.count("hidden_size");
    c.heads = fields.count("num_attention_heads");
    c.window = fields.count("sliding_window");
    c.norm_eps = j.value("rms_norm_eps", 1e-6f);
    if (j.contains("final_logit_softcapping") && !j.at("final_logit_softcapping").is_null()) c.final_softcap = j.at("final_logit_softcapping").get<float>();
    if (j.value("hidden_activation", std::string("gelu_pytorch_tanh")) != "gelu_pytorch_tanh") fail("hidden_activation must be gelu_pytorch_tanh");
    if (j.contains("use_bidirectional_attention") && !j.at("use_bidirectional_attention").is_null()) {
      fail("use_bidirectional_attention is not supported (text decoders are causal)");
    }
    c.ple_width = fields.count_or("hidden_size_per_layer_input", 0);
    c.ple_vocab = c.ple_width ? fields.count("vocab_size_per_layer_input") : 0;
    c.moe = fields.flag("enable_moe_block");
    if (c.moe) {
      c.experts = fields.count("num_experts");
      c.top_k = fields.count("top_k_experts");
      c.moe_intermediate = fields.count("moe_intermediate_size");
    }

    const std::size_t n = fields.count("num_hidden_layers");
    if (n == 0) fail("num_hidden_layers is 0");
    const std::size_t head_dim = fields.count("head_dim"), kv_heads = fields.count("num_key_value_heads");
    const std::size_t intermediate = fields.count("intermediate_size");
    const bool k_eq_v = fields.flag("attention_k_eq_v");
    const std::size_t global_head_dim = fields.count_or("global_head_dim", 512);
    const std::size_t global_kv_heads = fields.count_or("num_global_key_value_heads", kv_heads);
    const std::size_t shared = fields.count_or("num_kv_shared_layers", 0);
    if (shared >= n && shared > 0) fail("num_kv_shared_layers must be below num_hidden_layers");
    const std::size_t first_shared = n - shared;

    std::vector<std::string> types;
    if (j.contains("layer_types") && j.at("layer_types").is_array()) {
      types = j.at("layer_types").get<std::vector<std::string>>();
      if (types.size() != n) fail("layer_types has " + std::to_string(types.size()) + " entries for " + std::to_string(n) + " layers");
    } else {
      for (std::size_t i = 0; i < n; ++i) types.push_back((i + 1) % 6 ? "sliding_attention" : "full_attention");
    }
    types.back() = "full_attention";  // transformers forces the last layer to full attention

    const bool has_overrides = j.contains("per_layer_config");
    const nlohmann::json overrides = j.contains("per_layer_config") && j.at("per_layer_config").is_object() ? j.at("per_layer_config")
                                                                                                          : nlohmann::json::object();
    for (std::size_t i = 0; i < n; ++i) {
      gemma4_layer layer;
      if (types[i] != "sliding_attention" && types[i] != "full_attention") fail("layer_types[" + std::to_string(i) + "] is '" + types[i] + "'");
      layer.sliding = types[i] == "sliding_attention";
      // As transformers reads it: a config that has per_layer_config gives every layer head_dim and
      // num_key_value_heads unless overridden there; one without derives the full layers' from
      // global_head_dim and num_global_key_value_heads.
      const bool global_keys = !has_overrides && !layer.sliding;
      layer.head_dim = global_keys ? global_head_dim : head_dim;
      layer.kv_heads = global_keys && k_eq_v ? global_kv_heads : kv_heads;
      if (const auto o = overrides.find(std::to_string(i)); o != overrides.end()) {
        layer.head_dim = o->value("head_dim", layer.head_dim);
        layer.kv_heads = o->value("num_key_value_heads", layer.kv_heads);
      }
      layer.values_from_keys = k_eq_v && !layer.sliding;
      layer.intermediate = intermediate * (fields.flag("use_double_wide_mlp") && i >= first_shared ? 2 : 1);
      if (layer.kv_heads == 0 || c.heads % layer.kv_heads != 0) fail("layer " + std::to_string(i) + ": heads must be a multiple of kv heads");
      c.layers.push_back(layer);
    }
    c.share_kv_from(first_shared, fail);

    c.context_length = fields.count_or("max_position_embeddings", 131072);
    const nlohmann::json rope = j.contains("rope_parameters") && j.at("rope_parameters").is_object() ? j.at("rope_parameters") : nlohmann::json::object();
    const std::size_t sliding_pairs = rope_pairs(rope, "sliding_attention", head_dim, {"default", 10000.0, 1.0}, c.sliding_rope_theta, fail);
    if (sliding_pairs != head_dim / 2) fail("rope_parameters.sliding_attention must rotate every pair");
    c.full_rope_pairs = rope_pairs(rope, "full_attention", c.full_head_dim(), {"proportional", 1000000.0, 0.25}, c.full_rope_theta, fail);
    c.make_rope_tables();
    return c;
  }

  [[nodiscard]] std::size_t sliding_head_dim() const noexcept {
    for (const gemma4_layer& l : layers) {
      if (l.sliding) return l.head_dim;
    }
    return 0;
  }
  [[nodiscard]] std::size_t full_head_dim() const noexcept {
    for (const gemma4_layer& l : layers) {
      if (!l.sliding) return l.head_dim;
    }
    return 0;
  }

  // inv_freq for rotate-half RoPE over a head of `dim`: the first `pairs` pairs get θ^(−2j/dim)
  // (computed as transformers does, in f32), the rest frequency zero.
  void make_rope_tables() {
    auto table = [](float theta, std::size_t dim, std::size_t pairs) {
      std::vector<float> inv_freq(dim / 2, 0.0f);
      for (std::size_t i = 0; i < pairs && i < dim / 2; ++i) {
        inv_freq[i] = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(dim));
      }
      return inv_freq;
    };
    sliding_inv_freq = table(sliding_rope_theta, sliding_head_dim(), sliding_head_dim() / 2);
    full_inv_freq = table(full_rope_theta, full_head_dim(), full_rope_pairs);
  }

  // Marks the layers from `first_shared` on as reading the KV of the last earlier layer of their
  // type, and checks that they can.
  template <class Fail>
  void share_kv_from(std::size_t first_shared, Fail& fail) {
    for (std::size_t i = 0; i < layers.size(); ++i) {
      gemma4_layer& layer = layers[i];
      layer.owns_kv = i < first_shared;
      layer.kv_source = i;
      if (layer.owns_kv) continue;
      bool found = false;
      for (std::size_t s = first_shared; s-- > 0;) {
        if (layers[s].sliding == layer.sliding) {
          layer.kv_source = s;
          found = true;
          break;
        }
      }
      if (!found) fail("layer " + std::to_string(i) + " shares KV but no earlier layer of its type owns any");
      if (layers[layer.kv_source].head_dim != layer.head_dim || layers[layer.kv_source].kv_heads != layer.kv_heads) {
        fail("a KV-sharing layer must have its source layer's head dim and kv heads");
      }
    }
  }

 private:
  struct rope_defaults {
    const char* type;
    double theta;
    double partial;
  };

  // How many leading pairs a layer type's RoPE rotates: all of them for "default", the first
  // ⌊partial · dim / 2⌋ for "proportional"; θ goes to `theta`.
  template <class Fail>
  static std::size_t rope_pairs(const nlohmann::json& rope, const char* layer_type, std::size_t dim, rope_defaults d, float& theta, Fail& fail) {
    const nlohmann::json p = rope.contains(layer_type) ? rope.at(layer_type) : nlohmann::json::object();
    const std::string type = p.value("rope_type", std::string(d.type));
    theta = static_cast<float>(p.value("rope_theta", d.theta));
    if (p.contains("factor") && p.at("factor").get<double>() != 1.0) fail(std::string("rope_parameters.") + layer_type + ".factor is not supported");
    if (type == "default") return dim / 2;
    if (type != "proportional") fail(std::string("rope_parameters.") + layer_type + ".rope_type '" + type + "' is not supported (default, proportional)");
    return static_cast<std::size_t>(p.value("partial_rotary_factor", d.partial) * static_cast<double>(dim) / 2.0);
  }
};

}  // namespace strix::models
