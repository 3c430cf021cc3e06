// The one table of Qwen3.5's tensors under their Hugging Face and GGUF (llama.cpp: archs qwen35 and
// qwen35moe) names. What differs beyond the names is the converter's business (qwen35_gguf.hpp):
// llama.cpp stores every RMSNorm weight but the DeltaNet output norm as 1 + w, A as −exp(A_log),
// and the value heads of DeltaNet layers tiled instead of grouped by key head.
#pragma once

#include <string>

#include "models/weight_source.hpp"

namespace strix::models {

enum class qwen35_tensor {
  embed, output, final_norm,
  // per layer
  input_norm, post_attention_norm,
  q, k, v, o, q_norm, k_norm,                                    // gated full attention
  qkv, z, a, b, out, conv, a_log, dt_bias, linear_norm,          // Gated DeltaNet
  mlp_gate, mlp_up, mlp_down,                                    // dense MLP
  router, experts_gate_up, experts_gate, experts_up, experts_down,  // routed experts
  shared_gate, shared_up, shared_down, shared_expert_gate,       // shared expert
};

struct qwen35_tensor_name {
  qwen35_tensor tensor;
  bool per_layer;
  const char* hugging_face;  // after "model." / "model.language_model." (and "layers.N."); lm_head at the root
  const char* gguf;          // after "blk.N." for per-layer tensors
};

inline constexpr qwen35_tensor_name qwen35_tensor_names[] = {
    {qwen35_tensor::embed, false, "embed_tokens.weight", "token_embd.weight"},
    {qwen35_tensor::output, false, "lm_head.weight", "output.weight"},
    {qwen35_tensor::final_norm, false, "norm.weight", "output_norm.weight"},
    {qwen35_tensor::input_norm, true, "input_layernorm.weight", "attn_norm.weight"},
    {qwen35_tensor::post_attention_norm, true, "post_attention_layernorm.weight", "post_attention_norm.weight"},
    {qwen35_tensor::q, true, "self_attn.q_proj.weight", "attn_q.weight"},
    {qwen35_tensor::k, true, "self_attn.k_proj.weight", "attn_k.weight"},
    {qwen35_tensor::v, true, "self_attn.v_proj.weight", "attn_v.weight"},
    {qwen35_tensor::o, true, "self_attn.o_proj.weight", "attn_output.weight"},
    {qwen35_tensor::q_norm, true, "self_attn.q_norm.weight", "attn_q_norm.weight"},
    {qwen35_tensor::k_norm, true, "self_attn.k_norm.weight", "attn_k_norm.weight"},
    {qwen35_tensor::qkv, true, "linear_attn.in_proj_qkv.weight", "attn_qkv.weight"},
    {qwen35_tensor::z, true, "linear_attn.in_proj_z.weight", "attn_gate.weight"},
    {qwen35_tensor::a, true, "linear_attn.in_proj_a.weight", "ssm_alpha.weight"},
    {qwen35_tensor::b, true, "linear_attn.in_proj_b.weight", "ssm_beta.weight"},
    {qwen35_tensor::out, true, "linear_attn.out_proj.weight", "ssm_out.weight"},
    {qwen35_tensor::conv, true, "linear_attn.conv1d.weight", "ssm_conv1d.weight"},
    {qwen35_tensor::a_log, true, "linear_attn.A_log", "ssm_a"},
    {qwen35_tensor::dt_bias, true, "linear_attn.dt_bias", "ssm_dt.bias"},
    {qwen35_tensor::linear_norm, true, "linear_attn.norm.weight", "ssm_norm.weight"},
    {qwen35_tensor::mlp_gate, true, "mlp.gate_proj.weight", "ffn_gate.weight"},
    {qwen35_tensor::mlp_up, true, "mlp.up_proj.weight", "ffn_up.weight"},
    {qwen35_tensor::mlp_down, true, "mlp.down_proj.weight", "ffn_down.weight"},
    {qwen35_tensor::router, true, "mlp.gate.weight", "ffn_gate_inp.weight"},
    {qwen35_tensor::experts_gate_up, true, "mlp.experts.gate_up_proj", "ffn_gate_up_exps.weight"},
    {qwen35_tensor::experts_gate, true, "", "ffn_gate_exps.weight"},
    {qwen35_tensor::experts_up, true, "", "ffn_up_exps.weight"},
    {qwen35_tensor::experts_down, true, "mlp.experts.down_proj", "ffn_down_exps.weight"},
    {qwen35_tensor::shared_gate, true, "mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"},
    {qwen35_tensor::shared_up, true, "mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight"},
    {qwen35_tensor::shared_down, true, "mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight"},
    {qwen35_tensor::shared_expert_gate, true, "mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight"},
};

// The full name of `tensor` (of `layer` for per-layer ones) in a source of `naming`; `hf_prefix` is
// "model." or "model.language_model.".
inline std::string qwen35_tensor_name_in(tensor_naming naming, qwen35_tensor tensor, std::size_t layer, const std::string& hf_prefix) {
  for (const qwen35_tensor_name& n : qwen35_tensor_names) {
    if (n.tensor != tensor) continue;
    if (naming == tensor_naming::gguf) return n.per_layer ? "blk." + std::to_string(layer) + "." + n.gguf : n.gguf;
    if (tensor == qwen35_tensor::output) return n.hugging_face;
    return hf_prefix + (n.per_layer ? "layers." + std::to_string(layer) + "." : std::string()) + n.hugging_face;
  }
  return {};
}

// Hugging Face's prefix of the text model's tensors in `source`.
inline std::string qwen35_hf_prefix(const weight_source& source) {
  return source.has("model.language_model.embed_tokens.weight") ? "model.language_model." : "model.";
}

}  // namespace strix::models
