// weight_census: a weight_source that maps nothing and reads nothing — it records the bytes each
// tensor a loader asks for would occupy, by storage type, and hands back empty matrices. Running a
// model's own load() over it gives the planner the exact tensor set that loader would use, with
// the types of a file (delegated to its source) or of a weight_scheme (presets).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/weight_scheme.hpp"
#include "models/weight_source.hpp"

namespace strix::models {

struct weight_bytes {
  std::map<ggml_type, std::uint64_t> matrices_by_type;  // used in place (mapped) from a file
  std::map<std::string, std::uint64_t> by_name;          // matrices
  std::uint64_t vectors = 0;                             // f32 copies of norm weights and scales
  std::uint64_t parameters = 0;
  std::size_t max_row_length = 0;                        // the widest matmul input

  [[nodiscard]] std::uint64_t matrices() const {
    std::uint64_t total = 0;
    for (const auto& [type, bytes] : matrices_by_type) total += bytes;
    return total;
  }
  [[nodiscard]] std::uint64_t total() const { return matrices() + vectors; }
};

class weight_census final : public weight_source {
 public:
  // Types, names and presence from a real source (nothing is mapped or read through it).
  explicit weight_census(const weight_source& file) : file_(&file), naming_(file.naming()) {}
  // Every tensor present, typed by `scheme`.
  weight_census(tensor_naming naming, weight_scheme scheme) : naming_(naming), scheme_(std::move(scheme)) {}

  [[nodiscard]] const weight_bytes& bytes() const noexcept { return bytes_; }

  [[nodiscard]] tensor_naming naming() const noexcept override { return naming_; }
  [[nodiscard]] bool has(const std::string& name) const override { return file_ == nullptr || file_->has(name); }
  [[nodiscard]] std::shared_ptr<const void> owner() const noexcept override { return nullptr; }
  [[nodiscard]] std::vector<std::span<const std::byte>> regions() const override { return {}; }
  [[nodiscard]] ggml_type type(const std::string& name) const override { return file_ ? file_->type(name) : scheme_->type_for(name, 256); }

  [[nodiscard]] weight_matrix matrix(const std::string& name, std::size_t rows, std::size_t cols) const override {
    const ggml_type t = file_ ? file_->type(name) : scheme_->type_for(name, cols);
    const ggml_type_traits& traits = traits_of(t);
    const std::uint64_t bytes = static_cast<std::uint64_t>(rows) * (cols / traits.block_size) * traits.block_bytes;
    bytes_.matrices_by_type[t] += bytes;
    bytes_.by_name[name] += bytes;
    bytes_.parameters += static_cast<std::uint64_t>(rows) * cols;
    bytes_.max_row_length = std::max(bytes_.max_row_length, cols);
    return {};
  }

  [[nodiscard]] std::vector<float> vector(const std::string&, std::size_t size) const override {
    bytes_.vectors += size * sizeof(float);
    bytes_.parameters += size;
    return std::vector<float>(size, 0.0f);
  }

 private:
  const weight_source* file_ = nullptr;
  tensor_naming naming_;
  std::optional<weight_scheme> scheme_;
  mutable weight_bytes bytes_;
};

}  // namespace strix::models
