// The weight_source of a GGUF file: tensors of any implemented type viewed in place in the mapping
// (ne = [row length, rows, stack...] as ggml stores them), small vectors dequantized to f32.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/io/gguf_reader.hpp>
#include <strix/quant/weight_matrix.hpp>

#include "models/weight_source.hpp"

namespace strix::models {

class gguf_tensors final : public weight_source {
 public:
  explicit gguf_tensors(const std::filesystem::path& path) : file_(std::make_shared<const gguf_file>(gguf_file::open(path))) {}

  [[nodiscard]] const gguf_file& file() const noexcept { return *file_; }
  [[nodiscard]] tensor_naming naming() const noexcept override { return tensor_naming::gguf; }
  [[nodiscard]] bool has(const std::string& name) const override { return file_->find_tensor(name) != nullptr; }
  [[nodiscard]] std::shared_ptr<const void> owner() const noexcept override { return file_; }
  [[nodiscard]] std::vector<std::span<const std::byte>> regions() const override { return {file_->file_bytes()}; }
  [[nodiscard]] ggml_type type(const std::string& name) const override { return file_->tensor(name).type; }

  [[nodiscard]] weight_matrix matrix(const std::string& name, std::size_t rows, std::size_t cols) const override {
    const gguf_tensor_info& t = file_->tensor(name);
    if (t.ne[0] != cols || t.row_count() != rows) {
      throw error(error_category::shape, describe(name) + " has ne [" + std::to_string(t.ne[0]) + ", " + std::to_string(t.ne[1]) + ", " +
                                             std::to_string(t.ne[2]) + ", " + std::to_string(t.ne[3]) + "], expected " +
                                             std::to_string(rows) + " rows of " + std::to_string(cols));
    }
    return weight_matrix(t.type, file_->tensor_data(t), rows, cols, describe(name));
  }

  [[nodiscard]] std::vector<float> vector(const std::string& name, std::size_t size) const override {
    const gguf_tensor_info& t = file_->tensor(name);
    if (t.element_count() != size) {
      throw error(error_category::shape, describe(name) + " has " + std::to_string(t.element_count()) + " values, expected " + std::to_string(size));
    }
    const weight_matrix m = matrix(name, static_cast<std::size_t>(t.row_count()), static_cast<std::size_t>(t.ne[0]));
    std::vector<float> out(size);
    for (std::size_t r = 0; r < m.rows(); ++r) m.dequantize_row(r, std::span(out).subspan(r * m.row_length(), m.row_length()));
    return out;
  }

 private:
  [[nodiscard]] std::string describe(const std::string& name) const { return file_->source() + ": tensor '" + name + "'"; }

  std::shared_ptr<const gguf_file> file_;
};

}  // namespace strix::models
