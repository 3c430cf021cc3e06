// weight_source: where a model's tensors come from — a Hugging Face folder (hf_tensors) or a GGUF
// file (gguf_tensors). Matrices are views into the source's mapping; small vectors come as f32
// copies; every lookup checks the shape and names the tensor and the file in its errors.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
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
  // The mapped files' bytes the matrices view (none for weights held apart), for policies that read
  // host memory in place once it is registered with them (offer_weight_memory).
  [[nodiscard]] virtual std::vector<std::span<const std::byte>> regions() const = 0;
};

// Offers a policy that reads registered host memory in place (the hip policy's registered mode:
// use_in_place) the regions a model's matrices lie in; a call for regions already registered is a
// lookup. Other policies have nothing to do.
template <class Device>
void offer_weight_memory(Device& dev, std::span<const std::span<const std::byte>> regions) {
  if constexpr (requires(std::span<const std::byte> region) { dev.use_in_place(region); }) {
    for (const std::span<const std::byte> region : regions) dev.use_in_place(region);
  }
}

}  // namespace strix::models
