// The one table of Gemma 4's tensors under their Hugging Face and GGUF (llama.cpp) names. The GGUF
// names are llama.cpp's (its gemma4 entry in llama-arch.cpp and the gemma4 loader, read as
// reference): the router's scale vector is stored as is (hidden^-0.5 is applied in the model),
// the per-expert scale is `ffn_down_exps.scale`, the layer scalar `layer_output_scale.weight`,
// and full layers share one `rope_freqs.weight`. Not yet checked against a file the converter
// wrote.
#pragma once

#include <string>

#include "models/weight_source.hpp"

namespace strix::models {

enum class gemma4_tensor {
  embed, ple_embed, ple_projection, ple_norm, final_norm,
  // per layer
  input_norm, post_attention_norm, pre_ff_norm, post_ff_norm, q, k, v, o, q_norm, k_norm, mlp_gate, mlp_up, mlp_down,
  post_ff_norm_1, pre_ff_norm_2, post_ff_norm_2, router, router_scale, expert_scale, experts_gate_up, experts_down,
  ple_gate, ple_layer_projection, ple_post_norm, layer_scalar,
};

struct gemma4_tensor_name {
  gemma4_tensor tensor;
  bool per_layer;
  const char* hugging_face;  // after "model." / "model.language_model." (and "layers.N.")
  const char* gguf;          // after "blk.N." for per-layer tensors
};

inline constexpr gemma4_tensor_name gemma4_tensor_names[] = {
    {gemma4_tensor::embed, false, "embed_tokens.weight", "token_embd.weight"},
    {gemma4_tensor::ple_embed, false, "embed_tokens_per_layer.weight", "per_layer_token_embd.weight"},
    {gemma4_tensor::ple_projection, false, "per_layer_model_projection.weight", "per_layer_model_proj.weight"},
    {gemma4_tensor::ple_norm, false, "per_layer_projection_norm.weight", "per_layer_proj_norm.weight"},
    {gemma4_tensor::final_norm, false, "norm.weight", "output_norm.weight"},
    {gemma4_tensor::input_norm, true, "input_layernorm.weight", "attn_norm.weight"},
    {gemma4_tensor::post_attention_norm, true, "post_attention_layernorm.weight", "post_attention_norm.weight"},
    {gemma4_tensor::pre_ff_norm, true, "pre_feedforward_layernorm.weight", "ffn_norm.weight"},
    {gemma4_tensor::post_ff_norm, true, "post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
    {gemma4_tensor::q, true, "self_attn.q_proj.weight", "attn_q.weight"},
    {gemma4_tensor::k, true, "self_attn.k_proj.weight", "attn_k.weight"},
    {gemma4_tensor::v, true, "self_attn.v_proj.weight", "attn_v.weight"},
    {gemma4_tensor::o, true, "self_attn.o_proj.weight", "attn_output.weight"},
    {gemma4_tensor::q_norm, true, "self_attn.q_norm.weight", "attn_q_norm.weight"},
    {gemma4_tensor::k_norm, true, "self_attn.k_norm.weight", "attn_k_norm.weight"},
    {gemma4_tensor::mlp_gate, true, "mlp.gate_proj.weight", "ffn_gate.weight"},
    {gemma4_tensor::mlp_up, true, "mlp.up_proj.weight", "ffn_up.weight"},
    {gemma4_tensor::mlp_down, true, "mlp.down_proj.weight", "ffn_down.weight"},
    {gemma4_tensor::post_ff_norm_1, true, "post_feedforward_layernorm_1.weight", "post_ffw_norm_1.weight"},
    {gemma4_tensor::pre_ff_norm_2, true, "pre_feedforward_layernorm_2.weight", "pre_ffw_norm_2.weight"},
    {gemma4_tensor::post_ff_norm_2, true, "post_feedforward_layernorm_2.weight", "post_ffw_norm_2.weight"},
    {gemma4_tensor::router, true, "router.proj.weight", "ffn_gate_inp.weight"},
    {gemma4_tensor::router_scale, true, "router.scale", "ffn_gate_inp.scale"},
    {gemma4_tensor::expert_scale, true, "router.per_expert_scale", "ffn_down_exps.scale"},
    {gemma4_tensor::experts_gate_up, true, "experts.gate_up_proj", "ffn_gate_up_exps.weight"},
    {gemma4_tensor::experts_down, true, "experts.down_proj", "ffn_down_exps.weight"},
    {gemma4_tensor::ple_gate, true, "per_layer_input_gate.weight", "inp_gate.weight"},
    {gemma4_tensor::ple_layer_projection, true, "per_layer_projection.weight", "proj.weight"},
    {gemma4_tensor::ple_post_norm, true, "post_per_layer_input_norm.weight", "post_norm.weight"},
    {gemma4_tensor::layer_scalar, true, "layer_scalar", "layer_output_scale.weight"},
};

// The full name of `tensor` (of `layer` for per-layer ones) in a source of `naming`; `hf_prefix` is
// "model." or "model.language_model.".
inline std::string gemma4_tensor_name_in(tensor_naming naming, gemma4_tensor tensor, std::size_t layer, const std::string& hf_prefix) {
  for (const gemma4_tensor_name& n : gemma4_tensor_names) {
    if (n.tensor != tensor) continue;
    if (naming == tensor_naming::gguf) return n.per_layer ? "blk." + std::to_string(layer) + "." + n.gguf : n.gguf;
    return hf_prefix + (n.per_layer ? "layers." + std::to_string(layer) + "." : std::string()) + n.hugging_face;
  }
  return {};
}

}  // namespace strix::models
