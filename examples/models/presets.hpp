// Named shape presets of the released models (../shared/docs/architectures.md, "Shapes of the
// released models"), as the config.json a checkpoint would carry, so `strix plan` and
// `strix bench --random-weights` can work on real shapes without a download. Values the shape
// table marks unverified, or does not give, are flagged in each preset's note.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <strix/core/error.hpp>

namespace strix::models {

struct model_preset {
  std::string name;
  nlohmann::json config;
  std::string note;
};

namespace detail {

inline nlohmann::json gemma4_preset(std::size_t layers, std::size_t hidden, std::size_t intermediate, std::size_t heads,
                                    std::size_t kv_heads, std::size_t window) {
  std::vector<std::string> types;
  for (std::size_t i = 0; i < layers; ++i) types.emplace_back(i % 6 == 5 ? "full_attention" : "sliding_attention");
  return {{"model_type", "gemma4_text"}, {"vocab_size", 262144}, {"hidden_size", hidden}, {"intermediate_size", intermediate},
          {"num_hidden_layers", layers}, {"num_attention_heads", heads}, {"num_key_value_heads", kv_heads}, {"head_dim", 256},
          {"global_head_dim", 512}, {"sliding_window", window}, {"layer_types", types}, {"final_logit_softcapping", 30.0},
          {"rms_norm_eps", 1e-6}, {"max_position_embeddings", 131072}, {"hidden_size_per_layer_input", 0}};
}

inline nlohmann::json gemma4_e_preset(std::size_t layers, std::size_t hidden, std::size_t intermediate, std::size_t kv_heads,
                                      std::size_t shared_layers) {
  nlohmann::json c = gemma4_preset(layers, hidden, intermediate, 8, kv_heads, 512);
  c["num_kv_shared_layers"] = shared_layers;
  c["use_double_wide_mlp"] = true;
  c["hidden_size_per_layer_input"] = 256;
  c["vocab_size_per_layer_input"] = 262144;
  return c;
}

inline nlohmann::json gemma4_kv_equal_preset(std::size_t layers, std::size_t hidden, std::size_t intermediate, std::size_t heads,
                                             std::size_t kv_heads, std::size_t global_kv_heads) {
  nlohmann::json c = gemma4_preset(layers, hidden, intermediate, heads, kv_heads, 1024);
  c["attention_k_eq_v"] = true;
  c["num_global_key_value_heads"] = global_kv_heads;
  c["max_position_embeddings"] = 262144;
  return c;
}

inline nlohmann::json qwen35_35b_a3b() {
  std::vector<std::string> types;
  for (int i = 0; i < 40; ++i) types.emplace_back(i % 4 == 3 ? "full_attention" : "linear_attention");
  return {{"model_type", "qwen3_5_moe_text"}, {"vocab_size", 248320}, {"hidden_size", 2048}, {"num_hidden_layers", 40},
          {"layer_types", types}, {"num_attention_heads", 16}, {"num_key_value_heads", 2}, {"head_dim", 256},
          {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 10000000.0}, {"partial_rotary_factor", 0.25}}},
          {"rms_norm_eps", 1e-6}, {"linear_num_key_heads", 16}, {"linear_num_value_heads", 32}, {"linear_key_head_dim", 128},
          {"linear_value_head_dim", 128}, {"linear_conv_kernel_dim", 4}, {"num_experts", 256}, {"num_experts_per_tok", 8},
          {"moe_intermediate_size", 512}, {"shared_expert_intermediate_size", 512}, {"tie_word_embeddings", false},
          {"max_position_embeddings", 262144}};
}

}  // namespace detail

inline std::vector<model_preset> model_presets() {
  nlohmann::json a4b = detail::gemma4_kv_equal_preset(30, 2816, 2112, 16, 8, 2);
  a4b["enable_moe_block"] = true;
  a4b["num_experts"] = 128;
  a4b["top_k_experts"] = 8;
  a4b["moe_intermediate_size"] = 704;
  return {
      {"gemma4-e2b", detail::gemma4_e_preset(35, 1536, 6144, 1, 20),
       "not in the shape table: 35 layers, hidden 1536, FFN 6144, 1 kv head, last 20 layers KV-shared are unverified"},
      {"gemma4-e4b", detail::gemma4_e_preset(42, 2560, 10240, 2, 18), ""},
      {"gemma4-26b-a4b", a4b, "layer count 30 unverified"},
      {"gemma4-31b", detail::gemma4_kv_equal_preset(60, 5376, 21504, 32, 16, 4), "layer count 60 unverified; FFN width 21504 not in the table"},
      {"qwen35-35b-a3b", detail::qwen35_35b_a3b(), ""},
  };
}

// The preset called `name` ("gemma4-e4b", or "gemma4:e4b" as ARCH:PRESET); an unknown name is an
// error listing the known ones.
inline model_preset find_preset(std::string_view name) {
  std::string wanted(name);
  if (const auto colon = wanted.find(':'); colon != std::string::npos) wanted[colon] = '-';
  std::string known;
  for (model_preset& p : model_presets()) {
    if (p.name == wanted) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw error(error_category::unsupported, "unknown model preset '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace strix::models
