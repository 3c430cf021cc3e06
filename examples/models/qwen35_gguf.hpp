// Qwen3.5 in GGUF (llama.cpp's archs qwen35 and qwen35moe), both ways: the config from a file's
// metadata, and a writer that turns a Hugging Face folder into such a file. llama.cpp's converter
// does more than rename, and so does this writer (the reader takes the file as it is):
//  - RMSNorm weights are stored as 1 + w (all but the DeltaNet output norm), so the loader applies
//    them as plain weights;
//  - A is stored as −exp(A_log) (`ssm_a`), dt_bias as `ssm_dt.bias`, conv1d as [channels][kernel];
//  - the DeltaNet value heads are tiled (head j·key_heads + k is the j-th value head of key head k)
//    instead of grouped by key head, in every per-value-head tensor: the v rows of attn_qkv and the
//    v channels of ssm_conv1d, attn_gate, ssm_alpha, ssm_beta, ssm_a, ssm_dt and the columns of
//    ssm_out. The DeltaNet kernels read either order, so GGUF weights stay in place.
//  - layers are full attention where (i + 1) % full_attention_interval == 0, else DeltaNet; layers
//    past block_count − nextn_predict_layers are multi-token-prediction heads, not used here.
// llama.cpp assumes the DeltaNet value head dim equals the key head dim (ssm.state_size); strix
// reads the value dim as ssm.inner_size / ssm.time_step_rank, so files where they differ (such as
// the tiny test models) load here but not there.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/io/gguf_reader.hpp>
#include <strix/io/gguf_writer.hpp>
#include <strix/text/tokenizer_gguf.hpp>

#include "models/gguf_convert.hpp"
#include "models/gguf_metadata.hpp"
#include "models/qwen35.hpp"
#include "models/qwen35_tensors.hpp"

namespace strix::models {

inline bool is_qwen35_architecture(const std::string& architecture) { return architecture == "qwen35" || architecture == "qwen35moe"; }

inline qwen35_config qwen35_config_from_gguf(const gguf_file& f) {
  const std::string architecture = f.find("general.architecture") ? f.get<std::string>("general.architecture") : std::string();
  if (!is_qwen35_architecture(architecture)) {
    throw error(error_category::format, f.source() + ": general.architecture '" + architecture + "' is not qwen35 or qwen35moe");
  }
  const gguf_metadata m(f, architecture);
  qwen35_config c;
  c.moe = architecture == "qwen35moe";
  c.hidden = m.count("embedding_length");
  c.heads = m.count("attention.head_count");
  c.head_dim = m.count("attention.key_length");
  if (m.count_or("attention.value_length", c.head_dim) != c.head_dim) m.fail(m.key("attention.value_length") + " must equal key_length");
  c.norm_eps = m.real("attention.layer_norm_rms_epsilon");
  c.context_length = m.count_or("context_length", 262144);
  c.vocab = static_cast<std::size_t>(f.tensor("token_embd.weight").ne[1]);
  c.tied = f.find_tensor("output.weight") == nullptr;

  const std::size_t blocks = m.count("block_count"), prediction_heads = m.count_or("nextn_predict_layers", 0);
  if (prediction_heads >= blocks) m.fail(m.key("nextn_predict_layers") + " leaves no layers");
  const std::size_t n = blocks - prediction_heads;
  const std::size_t interval = m.count_or("full_attention_interval", 4);
  if (interval == 0) m.fail(m.key("full_attention_interval") + " is 0");
  for (std::size_t i = 0; i < n; ++i) c.linear_layer.push_back((i + 1) % interval != 0);

  // Full-attention layers hold the kv heads; DeltaNet layers may be listed with 0.
  std::size_t kv_heads = 0;
  const std::vector<std::size_t> kv_heads_per_layer = m.per_layer("attention.head_count_kv", blocks);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t heads = kv_heads_per_layer[i];
    if (c.linear_layer[i]) continue;
    if (kv_heads != 0 && heads != kv_heads) m.fail(m.key("attention.head_count_kv") + " differs between full-attention layers");
    kv_heads = heads;
  }
  c.kv_heads = kv_heads;
  if (c.kv_heads == 0 || c.heads % c.kv_heads != 0) m.fail(m.key("attention.head_count") + " must be a multiple of a non-zero head_count_kv");

  const std::size_t value_heads = m.count("ssm.time_step_rank"), inner = m.count("ssm.inner_size");
  if (value_heads == 0 || inner % value_heads != 0) m.fail(m.key("ssm.inner_size") + " must be a multiple of ssm.time_step_rank");
  c.linear = {m.count("ssm.group_count"), value_heads, m.count("ssm.state_size"), inner / value_heads, m.count("ssm.conv_kernel"),
              value_head_order::tiled};
  if (c.linear.key_heads == 0 || value_heads % c.linear.key_heads != 0) m.fail(m.key("ssm.time_step_rank") + " must be a multiple of ssm.group_count");

  if (c.moe) {
    c.experts = m.count("expert_count");
    c.top_k = m.count("expert_used_count");
    c.moe_intermediate = m.count("expert_feed_forward_length");
    c.shared_intermediate = m.count("expert_shared_feed_forward_length");
    if (c.top_k == 0 || c.top_k > c.experts) m.fail(m.key("expert_used_count") + " must be in 1…expert_count");
  } else {
    c.intermediate = m.per_layer("feed_forward_length", blocks).front();
  }
  const std::size_t rotary = m.count("rope.dimension_count");
  if (rotary == 0 || rotary % 2 != 0 || rotary > c.head_dim) m.fail(m.key("rope.dimension_count") + " must be even and at most the head dim");
  c.set_rope(m.real("rope.freq_base"), rotary);
  if (m.has("rope.dimension_sections")) c.mrope_sections = m.counts("rope.dimension_sections");
  return c;
}

// Writes the Hugging Face model `source` as a GGUF file for llama.cpp's qwen35 / qwen35moe
// architecture. Matrices are stored as `matrix_type` where their row length allows it (else F32);
// norms, the router, A, dt and conv weights stay F32. `vocabulary`, when given, is written as the
// file's tokenizer metadata.
inline void write_qwen35_gguf(const weight_source& source, const qwen35_config& c, ggml_type matrix_type, const std::filesystem::path& out,
                              const std::function<void(std::size_t, std::size_t)>& progress = {},
                              const text::vocabulary* vocabulary = nullptr) {
  auto fail = [&](const std::string& what) { throw error(error_category::unsupported, out.string() + ": " + what); };
  if (source.naming() != tensor_naming::hugging_face || c.linear.order != value_head_order::grouped) {
    fail("Qwen3.5 GGUF files are written from Hugging Face folders");
  }
  std::size_t interval = 0;
  while (interval < c.layer_count() && c.linear_layer[interval]) ++interval;
  ++interval;
  for (std::size_t i = 0; i < c.layer_count(); ++i) {
    if (c.linear_layer[i] != ((i + 1) % interval != 0)) fail("the layer pattern is not one full-attention layer every N (full_attention_interval)");
  }

  gguf_writer w;
  const std::string architecture = c.moe ? "qwen35moe" : "qwen35";
  const std::string a = architecture + ".";
  auto u32 = [](std::size_t v) { return gguf_value(static_cast<std::uint32_t>(v)); };
  w.set("general.architecture", gguf_value(architecture));
  w.set(a + "context_length", u32(c.context_length));
  w.set(a + "embedding_length", u32(c.hidden));
  w.set(a + "block_count", u32(c.layer_count()));
  if (!c.moe) w.set(a + "feed_forward_length", u32(c.intermediate));
  w.set(a + "attention.head_count", u32(c.heads));
  w.set(a + "attention.head_count_kv", u32(c.kv_heads));
  w.set(a + "attention.key_length", u32(c.head_dim));
  w.set(a + "attention.value_length", u32(c.head_dim));
  w.set(a + "attention.layer_norm_rms_epsilon", gguf_value(c.norm_eps));
  w.set(a + "rope.freq_base", gguf_value(c.rope_theta));
  w.set(a + "rope.dimension_count", u32(c.rotary_dims));
  std::vector<std::int32_t> sections(4, 0);
  if (c.mrope_sections.empty()) sections[0] = static_cast<std::int32_t>(c.rotary_dims / 2);
  for (std::size_t i = 0; i < std::min<std::size_t>(4, c.mrope_sections.size()); ++i) sections[i] = static_cast<std::int32_t>(c.mrope_sections[i]);
  w.set(a + "rope.dimension_sections", gguf_value::array(std::span<const std::int32_t>(sections)));
  w.set(a + "ssm.conv_kernel", u32(c.linear.conv_kernel));
  w.set(a + "ssm.state_size", u32(c.linear.key_dim));
  w.set(a + "ssm.group_count", u32(c.linear.key_heads));
  w.set(a + "ssm.time_step_rank", u32(c.linear.value_heads));
  w.set(a + "ssm.inner_size", u32(c.linear.value_width()));
  w.set(a + "full_attention_interval", u32(interval));
  if (c.moe) {
    w.set(a + "expert_count", u32(c.experts));
    w.set(a + "expert_used_count", u32(c.top_k));
    w.set(a + "expert_feed_forward_length", u32(c.moe_intermediate));
    w.set(a + "expert_shared_feed_forward_length", u32(c.shared_intermediate));
  }
  if (vocabulary != nullptr) text::write_vocabulary_gguf(*vocabulary, w);

  const std::string prefix = qwen35_hf_prefix(source);
  auto from = [&](qwen35_tensor t, std::size_t layer) { return qwen35_tensor_name_in(tensor_naming::hugging_face, t, layer, prefix); };
  auto to = [&](qwen35_tensor t, std::size_t layer) { return qwen35_tensor_name_in(tensor_naming::gguf, t, layer, ""); };
  using rows_fn = std::function<void(std::size_t, std::span<float>)>;
  std::vector<converted_tensor> tensors;
  auto add = [&](qwen35_tensor t, std::size_t layer, std::vector<std::uint64_t> ne, bool matrix, rows_fn rows) {
    tensors.push_back({to(t, layer), std::move(ne), matrix, std::move(rows)});
  };
  auto add_matrix = [&](qwen35_tensor t, std::size_t layer, std::size_t rows, std::size_t cols) {
    add(t, layer, {cols, rows}, true, matrix_rows(source, from(t, layer), rows, cols));
  };
  // An RMSNorm weight as llama.cpp stores it: 1 + w.
  auto add_norm = [&](qwen35_tensor t, std::size_t layer, std::size_t size) {
    add(t, layer, {size}, false, [values = source.vector(from(t, layer), size)](std::size_t, std::span<float> row) {
      for (std::size_t i = 0; i < row.size(); ++i) row[i] = 1.0f + values[i];
    });
  };

  // Grouped → tiled value heads: tiled head p is grouped head (p mod K)·r + p div K.
  const deltanet_shape& s = c.linear;
  const std::size_t per_key = s.value_heads / s.key_heads, dv = s.value_dim, keys = 2 * s.key_width();
  auto grouped_head = [&](std::size_t p) { return p % s.key_heads * per_key + p / s.key_heads; };
  auto grouped_value_row = [&](std::size_t r) { return grouped_head(r / dv) * dv + r % dv; };  // within the v block
  auto permuted_rows = [](rows_fn rows, std::function<std::size_t(std::size_t)> source_row) -> rows_fn {
    return [rows = std::move(rows), source_row = std::move(source_row)](std::size_t r, std::span<float> row) { rows(source_row(r), row); };
  };

  add_matrix(qwen35_tensor::embed, 0, c.vocab, c.hidden);
  if (!c.tied && source.has(from(qwen35_tensor::output, 0))) add_matrix(qwen35_tensor::output, 0, c.vocab, c.hidden);
  add_norm(qwen35_tensor::final_norm, 0, c.hidden);
  const std::size_t h = c.hidden;
  for (std::size_t i = 0; i < c.layer_count(); ++i) {
    add_norm(qwen35_tensor::input_norm, i, h);
    add_norm(qwen35_tensor::post_attention_norm, i, h);
    if (c.linear_layer[i]) {
      add(qwen35_tensor::qkv, i, {h, s.channels()}, true,
          permuted_rows(matrix_rows(source, from(qwen35_tensor::qkv, i), s.channels(), h),
                        [=](std::size_t r) { return r < keys ? r : keys + grouped_value_row(r - keys); }));
      add(qwen35_tensor::z, i, {h, s.value_width()}, true,
          permuted_rows(matrix_rows(source, from(qwen35_tensor::z, i), s.value_width(), h), grouped_value_row));
      for (qwen35_tensor t : {qwen35_tensor::a, qwen35_tensor::b}) {
        add(t, i, {h, s.value_heads}, true, permuted_rows(matrix_rows(source, from(t, i), s.value_heads, h), grouped_head));
      }
      add(qwen35_tensor::out, i, {s.value_width(), h}, true,
          [m = source.matrix(from(qwen35_tensor::out, i), h, s.value_width()), grouped_value_row, grouped = std::vector<float>()](
              std::size_t r, std::span<float> row) mutable {
            grouped.resize(row.size());
            m.dequantize_row(r, grouped);
            for (std::size_t col = 0; col < row.size(); ++col) row[col] = grouped[grouped_value_row(col)];
          });
      add(qwen35_tensor::conv, i, {s.conv_kernel, s.channels()}, false,
          permuted_rows(vector_rows(source, from(qwen35_tensor::conv, i), s.channels() * s.conv_kernel, s.conv_kernel),
                        [=](std::size_t r) { return r < keys ? r : keys + grouped_value_row(r - keys); }));
      const std::vector<float> a_log = source.vector(from(qwen35_tensor::a_log, i), s.value_heads),
                               dt_bias = source.vector(from(qwen35_tensor::dt_bias, i), s.value_heads);
      add(qwen35_tensor::a_log, i, {s.value_heads}, false, [=](std::size_t, std::span<float> row) {
        for (std::size_t p = 0; p < row.size(); ++p) row[p] = -std::exp(a_log[grouped_head(p)]);
      });
      add(qwen35_tensor::dt_bias, i, {s.value_heads}, false, [=](std::size_t, std::span<float> row) {
        for (std::size_t p = 0; p < row.size(); ++p) row[p] = dt_bias[grouped_head(p)];
      });
      add(qwen35_tensor::linear_norm, i, {dv}, false, vector_rows(source, from(qwen35_tensor::linear_norm, i), dv, dv));
    } else {
      add_matrix(qwen35_tensor::q, i, 2 * c.heads * c.head_dim, h);
      add_matrix(qwen35_tensor::k, i, c.kv_heads * c.head_dim, h);
      add_matrix(qwen35_tensor::v, i, c.kv_heads * c.head_dim, h);
      add_matrix(qwen35_tensor::o, i, h, c.heads * c.head_dim);
      add_norm(qwen35_tensor::q_norm, i, c.head_dim);
      add_norm(qwen35_tensor::k_norm, i, c.head_dim);
    }
    if (!c.moe) {
      add_matrix(qwen35_tensor::mlp_gate, i, c.intermediate, h);
      add_matrix(qwen35_tensor::mlp_up, i, c.intermediate, h);
      add_matrix(qwen35_tensor::mlp_down, i, h, c.intermediate);
      continue;
    }
    const std::size_t e = c.experts, m = c.moe_intermediate, si = c.shared_intermediate;
    add(qwen35_tensor::router, i, {h, e}, false, matrix_rows(source, from(qwen35_tensor::router, i), e, h));
    if (source.has(from(qwen35_tensor::experts_gate_up, i))) {
      add(qwen35_tensor::experts_gate_up, i, {h, 2 * m, e}, true, matrix_rows(source, from(qwen35_tensor::experts_gate_up, i), e * 2 * m, h));
      add(qwen35_tensor::experts_down, i, {m, h, e}, true, matrix_rows(source, from(qwen35_tensor::experts_down, i), e * h, m));
    } else {  // one tensor per expert (Qwen3_5MoeForCausalLM as transformers saves it): stacked here
      std::vector<weight_matrix> gate, up, down;
      for (std::size_t x = 0; x < e; ++x) {
        const std::string p = prefix + "layers." + std::to_string(i) + ".mlp.experts." + std::to_string(x) + ".";
        gate.push_back(source.matrix(p + "gate_proj.weight", m, h));
        up.push_back(source.matrix(p + "up_proj.weight", m, h));
        down.push_back(source.matrix(p + "down_proj.weight", h, m));
      }
      add(qwen35_tensor::experts_gate_up, i, {h, 2 * m, e}, true, [gate, up, m](std::size_t r, std::span<float> row) {
        const std::size_t x = r / (2 * m), j = r % (2 * m);
        (j < m ? gate[x] : up[x]).dequantize_row(j % m, row);
      });
      add(qwen35_tensor::experts_down, i, {m, h, e}, true, [down, h](std::size_t r, std::span<float> row) { down[r / h].dequantize_row(r % h, row); });
    }
    add_matrix(qwen35_tensor::shared_gate, i, si, h);
    add_matrix(qwen35_tensor::shared_up, i, si, h);
    add_matrix(qwen35_tensor::shared_down, i, h, si);
    add(qwen35_tensor::shared_expert_gate, i, {h}, false, matrix_rows(source, from(qwen35_tensor::shared_expert_gate, i), 1, h));
  }

  std::deque<std::vector<std::byte>> storage;  // the writer keeps spans into these
  add_converted_tensors(w, storage, tensors, matrix_type, progress);
  w.write(out);
}

}  // namespace strix::models
