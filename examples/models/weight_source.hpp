// weight_source: where a model's tensors come from — a Hugging Face folder (hf_tensors) or a GGUF
// file (gguf_tensors). Matrices are views into the source's mapping; small vectors come as f32
// copies; every lookup checks the shape and names the tensor and the file in its errors.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <strix/quant/ggml_type.hpp>
#include <strix/quant/weight_matrix.hpp>

namespace strix::models {

enum class tensor_naming { hugging_face, gguf };

class weight_source {
 public:
  virtual ~weight_source() = default;
  [[nodiscard]] virtual tensor_naming naming() const noexcept = 0;
  [[nodiscard]] virtual bool has(const std::string& name) const = 0;
  // rows × cols, or a stack of matrices flattened to rows (expert tensors).
  [[nodiscard]] virtual weight_matrix matrix(const std::string& name, std::size_t rows, std::size_t cols) const = 0;
  [[nodiscard]] virtual std::vector<float> vector(const std::string& name, std::size_t size) const = 0;
  [[nodiscard]] virtual ggml_type type(const std::string& name) const = 0;
  // Keeps the mapped files alive: weights viewed from them hold a copy.
  [[nodiscard]] virtual std::shared_ptr<const void> owner() const noexcept = 0;
};

}  // namespace strix::models
