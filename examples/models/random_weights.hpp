// random_weights: a weight_source of random tensors at a model's real shapes, typed by a
// weight_scheme, so anyone can measure real shapes without a checkpoint. Each matrix repeats one
// randomly quantized 64-row pattern at its own address: the bytes a kernel streams are real and
// distinct, and making them costs a copy, not a quantization of every row. Vectors (norm weights,
// scales) are drawn near 1.
#pragma once

#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <strix/quant/formats.hpp>

#include "models/weight_scheme.hpp"
#include "models/weight_source.hpp"

namespace strix::models {

class random_weights final : public weight_source {
 public:
  random_weights(tensor_naming naming, weight_scheme scheme) : naming_(naming), scheme_(std::move(scheme)) {}

  [[nodiscard]] const weight_scheme& scheme() const noexcept { return scheme_; }
  [[nodiscard]] tensor_naming naming() const noexcept override { return naming_; }
  [[nodiscard]] bool has(const std::string&) const override { return true; }
  [[nodiscard]] std::shared_ptr<const void> owner() const noexcept override { return storage_; }
  // Each matrix has its own allocation, which may share pages with other heap memory: none is
  // offered for registration (the hip policy's registered mode uploads these matrices).
  [[nodiscard]] std::vector<std::span<const std::byte>> regions() const override { return {}; }
  [[nodiscard]] ggml_type type(const std::string& name) const override { return scheme_.type_for(name, 256); }

  [[nodiscard]] weight_matrix matrix(const std::string& name, std::size_t rows, std::size_t cols) const override {
    const ggml_type t = scheme_.type_for(name, cols);
    const ggml_type_traits& traits = traits_of(t);
    const std::size_t row_bytes = cols / traits.block_size * traits.block_bytes;
    std::vector<std::byte>& bytes = storage_->emplace_back(rows * row_bytes);
    const std::vector<std::byte>& pattern = pattern_for(t, cols);
    const std::size_t pattern_rows = pattern.size() / row_bytes;
    for (std::size_t r = 0; r < rows; ++r) std::memcpy(bytes.data() + r * row_bytes, pattern.data() + (r % pattern_rows) * row_bytes, row_bytes);
    return weight_matrix(t, bytes, rows, cols, "random " + name);
  }

  [[nodiscard]] std::vector<float> vector(const std::string& name, std::size_t size) const override {
    std::mt19937 rng(static_cast<std::uint32_t>(std::hash<std::string>{}(name)));
    std::normal_distribution<float> dist(1.0f, 0.1f);
    std::vector<float> v(size);
    for (float& x : v) x = dist(rng);
    return v;
  }

 private:
  const std::vector<std::byte>& pattern_for(ggml_type t, std::size_t cols) const {
    std::vector<std::byte>& p = patterns_[{t, cols}];
    if (!p.empty()) return p;
    constexpr std::size_t rows = 64;
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    std::vector<float> values(rows * cols);
    for (float& x : values) x = dist(rng);
    const ggml_type_traits& traits = traits_of(t);
    p.resize(rows * cols / traits.block_size * traits.block_bytes);
    visit_format(t, [&]<class Format>() {
      quantize_row<Format>(values, std::span(reinterpret_cast<typename Format::block_type*>(p.data()), rows * cols / Format::block_size));
    });
    return p;
  }

  tensor_naming naming_;
  weight_scheme scheme_;
  std::shared_ptr<std::deque<std::vector<std::byte>>> storage_ = std::make_shared<std::deque<std::vector<std::byte>>>();
  mutable std::map<std::pair<ggml_type, std::size_t>, std::vector<std::byte>> patterns_;
};

}  // namespace strix::models
