// The weight_source of a Hugging Face checkpoint (config.json and safetensors shards): weight
// matrices viewed in place in the mapping (F32, F16 or BF16, whatever was stored), small vectors
// (norm weights, scales) converted to f32 copies.
#pragma once

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <strix/core/bf16.hpp>
#include <strix/core/error.hpp>
#include <strix/core/f16.hpp>
#include <strix/io/safetensors_reader.hpp>
#include <strix/quant/weight_matrix.hpp>

#include "models/weight_source.hpp"

namespace strix::models {

class hf_tensors final : public weight_source {
 public:
  // `folder` holds config.json and model.safetensors (or an index and shards).
  explicit hf_tensors(const std::filesystem::path& folder)
      : folder_(folder),
        checkpoint_(std::make_shared<const safetensors_checkpoint>(safetensors_checkpoint::open(folder))),
        config_(read_config(folder)) {}

  [[nodiscard]] const nlohmann::json& config() const noexcept { return config_; }
  [[nodiscard]] const std::filesystem::path& folder() const noexcept { return folder_; }
  [[nodiscard]] tensor_naming naming() const noexcept override { return tensor_naming::hugging_face; }
  [[nodiscard]] bool has(const std::string& name) const override { return checkpoint_->find(name).has_value(); }
  [[nodiscard]] std::shared_ptr<const void> owner() const noexcept override { return checkpoint_; }
  [[nodiscard]] std::vector<std::span<const std::byte>> regions() const override {
    std::vector<std::span<const std::byte>> result;
    for (const auto& shard : checkpoint_->shards()) result.push_back(shard->file_bytes());
    return result;
  }

  [[nodiscard]] weight_matrix matrix(const std::string& name, std::size_t rows, std::size_t cols) const override {
    const auto t = checkpoint_->at(name);
    std::size_t elements = 1;
    for (auto d : t.info->shape) elements *= static_cast<std::size_t>(d);
    if (t.info->shape.empty() || t.info->shape.back() != cols || elements != rows * cols) {
      throw error(error_category::shape, describe(name) + " has shape " + shape_of(*t.info) + ", expected " + std::to_string(rows) +
                                             " rows of " + std::to_string(cols));
    }
    return weight_matrix(type_of(*t.info, name), t.data(), rows, cols, describe(name));
  }

  [[nodiscard]] std::vector<float> vector(const std::string& name, std::size_t size) const override {
    const auto t = checkpoint_->at(name);
    std::size_t elements = 1;
    for (auto d : t.info->shape) elements *= static_cast<std::size_t>(d);
    if (elements != size) {
      throw error(error_category::shape, describe(name) + " has shape " + shape_of(*t.info) + ", expected " + std::to_string(size) + " values");
    }
    std::vector<float> out(size);
    const auto bytes = t.data();
    switch (t.info->dtype) {
      case safetensors_dtype::f32: std::memcpy(out.data(), bytes.data(), size * sizeof(float)); break;
      case safetensors_dtype::bf16:
        for (std::size_t i = 0; i < size; ++i) out[i] = load<bf16>(bytes, i).to_float();
        break;
      case safetensors_dtype::f16:
        for (std::size_t i = 0; i < size; ++i) out[i] = load<f16>(bytes, i).to_float();
        break;
      default: throw error(error_category::unsupported, describe(name) + ": dtype " + std::string(traits_of(t.info->dtype).name) + " is not a float type");
    }
    return out;
  }

  [[nodiscard]] ggml_type type(const std::string& name) const override { return type_of(*checkpoint_->at(name).info, name); }

 private:
  static nlohmann::json read_config(const std::filesystem::path& folder) {
    const auto path = folder / "config.json";
    std::ifstream in(path);
    if (!in) throw error(error_category::io, path.string() + ": cannot open (a Hugging Face model folder needs config.json)");
    try {
      return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw error(error_category::format, path.string() + ": " + e.what());
    }
  }

  template <class T>
  static T load(std::span<const std::byte> bytes, std::size_t i) {
    T value;
    std::memcpy(&value, bytes.data() + i * sizeof(T), sizeof(T));
    return value;
  }

  [[nodiscard]] ggml_type type_of(const safetensors_tensor_info& info, const std::string& name) const {
    switch (info.dtype) {
      case safetensors_dtype::f32: return ggml_type::f32;
      case safetensors_dtype::f16: return ggml_type::f16;
      case safetensors_dtype::bf16: return ggml_type::bf16;
      default:
        throw error(error_category::unsupported, describe(name) + ": dtype " + std::string(traits_of(info.dtype).name) +
                                                     " is not a weight type (F32, F16, BF16)");
    }
  }
  static std::string shape_of(const safetensors_tensor_info& info) {
    std::string s = "[";
    for (std::size_t i = 0; i < info.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(info.shape[i]);
    return s + "]";
  }
  [[nodiscard]] std::string describe(const std::string& name) const { return folder_.string() + ": tensor '" + name + "'"; }

  std::filesystem::path folder_;
  std::shared_ptr<const safetensors_checkpoint> checkpoint_;
  nlohmann::json config_;
};

}  // namespace strix::models
