// Gemma 4 in GGUF, both ways: the config from a GGUF file's `gemma4.*` metadata (and its tensor
// table: which full layers have no V projection, the per-layer embedding vocabulary, the
// proportional RoPE's `rope_freqs`), and a writer that turns any weight_source (a Hugging Face
// folder) into a GGUF file with llama.cpp's names and keys, matrices stored in a chosen type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/io/gguf_reader.hpp>
#include <strix/io/gguf_writer.hpp>
#include <strix/text/tokenizer_gguf.hpp>
#include <strix/quant/formats.hpp>
#include <strix/quant/weight_matrix.hpp>

#include "models/gemma4_config.hpp"
#include "models/gemma4_tensors.hpp"
#include "models/gguf_metadata.hpp"
#include "models/gguf_convert.hpp"
#include "models/weight_source.hpp"

namespace strix::models {

// rope_freqs entries at or above this leave their pair unrotated (llama.cpp writes 1e30).
inline constexpr float unrotated_rope_factor = 1e20f;

inline gemma4_config gemma4_config_from_gguf(const gguf_file& f) {
  const gguf_metadata m(f, "gemma4");
  auto fail = [&](const std::string& what) { m.fail(what); };
  if (!f.find("general.architecture") || f.get<std::string>("general.architecture") != "gemma4") {
    fail("general.architecture is not gemma4");
  }
  gemma4_config c;
  c.hidden = m.count("embedding_length");
  c.heads = m.count("attention.head_count");
  c.window = m.count("attention.sliding_window");
  c.context_length = m.count_or("context_length", 131072);
  c.norm_eps = m.real("attention.layer_norm_rms_epsilon");
  if (m.has("final_logit_softcapping")) c.final_softcap = m.real("final_logit_softcapping");
  c.vocab = static_cast<std::size_t>(f.tensor("token_embd.weight").ne[1]);
  c.ple_width = m.count_or("embedding_length_per_layer_input", 0);
  if (c.ple_width) c.ple_vocab = static_cast<std::size_t>(f.tensor("per_layer_token_embd.weight").ne[1]);
  c.experts = m.count_or("expert_count", 0);
  c.moe = c.experts > 0;
  if (c.moe) {
    c.top_k = m.count("expert_used_count");
    c.moe_intermediate = m.count("expert_feed_forward_length");
  }
  const std::size_t n = m.count("block_count");
  if (n == 0) fail("gemma4.block_count is 0");
  const auto kv_heads = m.per_layer("attention.head_count_kv", n);
  const auto intermediate = m.per_layer("feed_forward_length", n);
  const auto pattern = f.get_array<bool>(m.key("attention.sliding_window_pattern"));
  if (pattern.size() != n) fail("gemma4.attention.sliding_window_pattern needs one entry per layer");
  const std::size_t shared = m.count_or("attention.shared_kv_layers", 0);
  if (shared >= n && shared > 0) fail("gemma4.attention.shared_kv_layers must be below block_count");
  for (std::size_t i = 0; i < n; ++i) {
    gemma4_layer l;
    l.sliding = pattern[i];
    l.head_dim = l.sliding ? m.count("attention.key_length_swa") : m.count("attention.key_length");
    l.kv_heads = kv_heads[i];
    l.intermediate = intermediate[i];
    l.values_from_keys = !l.sliding && i < n - shared && !f.find_tensor("blk." + std::to_string(i) + ".attn_v.weight");
    if (l.kv_heads == 0 || c.heads % l.kv_heads != 0) fail("layer " + std::to_string(i) + ": heads must be a multiple of kv heads");
    c.layers.push_back(l);
  }
  c.share_kv_from(n - shared, fail);

  c.sliding_rope_theta = m.real("rope.freq_base_swa");
  c.full_rope_theta = m.real("rope.freq_base");
  c.full_rope_pairs = c.full_head_dim() / 2;
  if (const gguf_tensor_info* factors = f.find_tensor("rope_freqs.weight")) {
    if (factors->type != ggml_type::f32 || factors->element_count() != c.full_head_dim() / 2) {
      fail("rope_freqs.weight must be F32 with " + std::to_string(c.full_head_dim() / 2) + " values");
    }
    const auto bytes = f.tensor_data(*factors);
    std::vector<float> values(c.full_head_dim() / 2);
    std::memcpy(values.data(), bytes.data(), bytes.size());
    c.full_rope_pairs = 0;
    while (c.full_rope_pairs < values.size() && values[c.full_rope_pairs] < unrotated_rope_factor) ++c.full_rope_pairs;
    for (std::size_t i = c.full_rope_pairs; i < values.size(); ++i) {
      if (values[i] < unrotated_rope_factor) fail("rope_freqs.weight: rotated pairs must come first");
    }
    for (std::size_t i = 0; i < c.full_rope_pairs; ++i) {
      if (values[i] != 1.0f) fail("rope_freqs.weight: frequency factors other than 1 are not supported");
    }
  }
  c.make_rope_tables();
  return c;
}

// Writes `source` (tensors named as `source.naming()` says) as a GGUF file for llama.cpp's gemma4
// architecture. Matrices are stored as `matrix_type` where their row length allows it (else F32);
// norms, scales and the router stay F32. `progress(done, total)` is called per tensor.
// `vocabulary`, when given, is written as the file's tokenizer metadata.
inline void write_gemma4_gguf(const weight_source& source, const gemma4_config& c, ggml_type matrix_type, const std::filesystem::path& out,
                              const std::function<void(std::size_t, std::size_t)>& progress = {},
                              const text::vocabulary* vocabulary = nullptr) {
  gguf_writer w;
  const std::string a = "gemma4.";
  w.set("general.architecture", gguf_value("gemma4"));
  w.set(a + "context_length", gguf_value(static_cast<std::uint32_t>(c.context_length)));
  w.set(a + "embedding_length", gguf_value(static_cast<std::uint32_t>(c.hidden)));
  w.set(a + "block_count", gguf_value(static_cast<std::uint32_t>(c.layer_count())));
  std::vector<std::uint32_t> widths, kv_heads;
  std::vector<bool> pattern;
  std::size_t shared = 0;
  for (const gemma4_layer& l : c.layers) {
    widths.push_back(static_cast<std::uint32_t>(l.intermediate));
    kv_heads.push_back(static_cast<std::uint32_t>(l.kv_heads));
    pattern.push_back(l.sliding);
    shared += l.owns_kv ? 0 : 1;
  }
  const std::vector<std::uint8_t> pattern_bytes(pattern.begin(), pattern.end());
  w.set(a + "feed_forward_length", gguf_value::array(std::span<const std::uint32_t>(widths)));
  w.set(a + "attention.head_count", gguf_value(static_cast<std::uint32_t>(c.heads)));
  w.set(a + "attention.head_count_kv", gguf_value::array(std::span<const std::uint32_t>(kv_heads)));
  w.set(a + "attention.key_length", gguf_value(static_cast<std::uint32_t>(c.full_head_dim())));
  w.set(a + "attention.value_length", gguf_value(static_cast<std::uint32_t>(c.full_head_dim())));
  w.set(a + "attention.key_length_swa", gguf_value(static_cast<std::uint32_t>(c.sliding_head_dim())));
  w.set(a + "attention.value_length_swa", gguf_value(static_cast<std::uint32_t>(c.sliding_head_dim())));
  w.set(a + "attention.sliding_window", gguf_value(static_cast<std::uint32_t>(c.window)));
  w.set(a + "attention.sliding_window_pattern",
        gguf_value::packed_array(gguf_type::boolean, pattern_bytes.size(), std::as_bytes(std::span(pattern_bytes))));
  w.set(a + "attention.shared_kv_layers", gguf_value(static_cast<std::uint32_t>(shared)));
  w.set(a + "attention.layer_norm_rms_epsilon", gguf_value(c.norm_eps));
  w.set(a + "rope.freq_base", gguf_value(c.full_rope_theta));
  w.set(a + "rope.freq_base_swa", gguf_value(c.sliding_rope_theta));
  w.set(a + "rope.dimension_count", gguf_value(static_cast<std::uint32_t>(c.full_head_dim())));
  w.set(a + "rope.dimension_count_swa", gguf_value(static_cast<std::uint32_t>(c.sliding_head_dim())));
  w.set(a + "embedding_length_per_layer_input", gguf_value(static_cast<std::uint32_t>(c.ple_width)));
  if (c.moe) {
    w.set(a + "expert_count", gguf_value(static_cast<std::uint32_t>(c.experts)));
    w.set(a + "expert_used_count", gguf_value(static_cast<std::uint32_t>(c.top_k)));
    w.set(a + "expert_feed_forward_length", gguf_value(static_cast<std::uint32_t>(c.moe_intermediate)));
  }
  if (c.final_softcap > 0.0f) w.set(a + "final_logit_softcapping", gguf_value(c.final_softcap));
  if (vocabulary != nullptr) text::write_vocabulary_gguf(*vocabulary, w);

  std::deque<std::vector<std::byte>> storage;  // the writer keeps spans into these
  std::vector<float> rope_factors(c.full_head_dim() / 2, 1e30f);
  std::fill_n(rope_factors.begin(), c.full_rope_pairs, 1.0f);
  storage.emplace_back(std::as_bytes(std::span(rope_factors)).begin(), std::as_bytes(std::span(rope_factors)).end());
  const std::uint64_t rope_ne[] = {rope_factors.size()};
  w.add_tensor("rope_freqs.weight", ggml_type::f32, rope_ne, storage.back());

  const std::string hf_prefix = source.naming() == tensor_naming::hugging_face && source.has("model.language_model.embed_tokens.weight")
                                    ? "model.language_model."
                                    : "model.";
  std::vector<converted_tensor> tensors;
  const std::size_t h = c.hidden;
  auto add = [&](gemma4_tensor t, std::size_t layer, std::vector<std::uint64_t> ne, bool matrix) {
    const std::string from = gemma4_tensor_name_in(source.naming(), t, layer, hf_prefix);
    std::size_t rows = 1;
    for (std::size_t d = 1; d < ne.size(); ++d) rows *= ne[d];
    const std::size_t cols = ne[0];
    tensors.push_back({gemma4_tensor_name_in(tensor_naming::gguf, t, layer, ""), ne, matrix,
                       matrix ? matrix_rows(source, from, rows, cols) : vector_rows(source, from, rows * cols, cols)});
  };
  add(gemma4_tensor::embed, 0, {h, c.vocab}, true);
  if (c.ple_width) {
    const std::size_t width = c.layer_count() * c.ple_width;
    add(gemma4_tensor::ple_embed, 0, {width, c.ple_vocab}, true);
    add(gemma4_tensor::ple_projection, 0, {h, width}, true);
    add(gemma4_tensor::ple_norm, 0, {c.ple_width}, false);
  }
  add(gemma4_tensor::final_norm, 0, {h}, false);
  for (std::size_t i = 0; i < c.layer_count(); ++i) {
    const gemma4_layer& l = c.layers[i];
    for (gemma4_tensor t : {gemma4_tensor::input_norm, gemma4_tensor::post_attention_norm, gemma4_tensor::pre_ff_norm, gemma4_tensor::post_ff_norm}) {
      add(t, i, {h}, false);
    }
    add(gemma4_tensor::q, i, {h, c.heads * l.head_dim}, true);
    add(gemma4_tensor::o, i, {c.heads * l.head_dim, h}, true);
    add(gemma4_tensor::q_norm, i, {l.head_dim}, false);
    if (l.owns_kv) {
      add(gemma4_tensor::k, i, {h, l.kv_heads * l.head_dim}, true);
      if (!l.values_from_keys) add(gemma4_tensor::v, i, {h, l.kv_heads * l.head_dim}, true);
      add(gemma4_tensor::k_norm, i, {l.head_dim}, false);
    }
    add(gemma4_tensor::mlp_gate, i, {h, l.intermediate}, true);
    add(gemma4_tensor::mlp_up, i, {h, l.intermediate}, true);
    add(gemma4_tensor::mlp_down, i, {l.intermediate, h}, true);
    if (c.moe) {
      for (gemma4_tensor t : {gemma4_tensor::post_ff_norm_1, gemma4_tensor::pre_ff_norm_2, gemma4_tensor::post_ff_norm_2, gemma4_tensor::router_scale}) {
        add(t, i, {h}, false);
      }
      add(gemma4_tensor::router, i, {h, c.experts}, false);
      add(gemma4_tensor::expert_scale, i, {c.experts}, false);
      add(gemma4_tensor::experts_gate_up, i, {h, 2 * c.moe_intermediate, c.experts}, true);
      add(gemma4_tensor::experts_down, i, {c.moe_intermediate, h, c.experts}, true);
    }
    if (c.ple_width) {
      add(gemma4_tensor::ple_gate, i, {h, c.ple_width}, true);
      add(gemma4_tensor::ple_layer_projection, i, {c.ple_width, h}, true);
      add(gemma4_tensor::ple_post_norm, i, {h}, false);
    }
    if (source.has(gemma4_tensor_name_in(source.naming(), gemma4_tensor::layer_scalar, i, hf_prefix))) add(gemma4_tensor::layer_scalar, i, {1}, false);
  }

  add_converted_tensors(w, storage, tensors, matrix_type, progress);
  w.write(out);
}

}  // namespace strix::models
