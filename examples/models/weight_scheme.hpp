// weight_scheme: which storage type each tensor of a model gets when there is no file to say —
// for random-weight benchmarks and for planning a preset. Either one type for every matrix, or
// "q4_k_m": a Q4_K_M-like mix (Q4_K, with Q6_K for value projections, FFN down projections and
// embedding/output tables). A row length the chosen type's block does not divide falls back to
// Q8_0, else F16 (as quantizers do for odd shapes). Names of both namings are understood.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include <strix/core/error.hpp>
#include <strix/quant/formats.hpp>
#include <strix/quant/ggml_type.hpp>

namespace strix::models {

class weight_scheme {
 public:
  // "q4_k_m" or a ggml type name with a quantizer (f32, f16, bf16, q8_0, q4_0, q4_K, q5_K, q6_K, ...).
  static weight_scheme named(std::string_view name) {
    if (name == "q4_k_m" || name == "Q4_K_M") return weight_scheme(ggml_type::q4_k, true, "q4_k_m");
    const ggml_type type = ggml_type_named(name);
    if (!is_implemented(type)) throw error(error_category::unsupported, "weight type '" + std::string(name) + "' has no quantizer in strix");
    return weight_scheme(type, false, std::string(name_of(type)));
  }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  [[nodiscard]] ggml_type type_for(const std::string& tensor, std::size_t row_length) const {
    const ggml_type wanted = mixed_ && is_sensitive(tensor) ? ggml_type::q6_k : base_;
    if (row_length % traits_of(wanted).block_size == 0) return wanted;
    return row_length % traits_of(ggml_type::q8_0).block_size == 0 ? ggml_type::q8_0 : ggml_type::f16;
  }

 private:
  weight_scheme(ggml_type base, bool mixed, std::string name) : base_(base), mixed_(mixed), name_(std::move(name)) {}

  // The tensors a K-quant mix keeps at higher precision.
  static bool is_sensitive(const std::string& tensor) {
    constexpr std::array<std::string_view, 7> markers{"attn_v", "v_proj", "ffn_down", "down_proj", "token_embd", "embed_tokens", "lm_head"};
    for (std::string_view m : markers) {
      if (tensor.find(m) != std::string::npos) return true;
    }
    return tensor == "output.weight";  // GGUF's untied output projection
  }

  ggml_type base_;
  bool mixed_;
  std::string name_;
};

}  // namespace strix::models
