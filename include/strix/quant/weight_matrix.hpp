// weight_matrix: a quantized_view of whichever block format a file stored, chosen at run time.
// Blocks whose tensors come from a file (expert stacks, routers, shared experts) hold these and
// multiply through multiply(dev, w, x, y) and multiply_pair (and look rows up through embed), which call the policy's
// kernel for the stored format;
// so a model does not instantiate a block per combination of its tensors' formats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <variant>

#include <strix/core/tensor_view.hpp>
#include <strix/device/matmul_groups.hpp>
#include <strix/quant/formats.hpp>
#include <strix/quant/quantized_view.hpp>

namespace strix {

namespace detail {
template <class Formats>
struct views_of;
template <class... Formats>
struct views_of<std::tuple<Formats...>> {
  using type = std::variant<quantized_view<Formats>...>;
};
}  // namespace detail

class weight_matrix {
 public:
  using variant_type = typename detail::views_of<all_block_formats>::type;

  weight_matrix() = default;
  template <block_format Format>
  weight_matrix(quantized_view<Format> view) : view_(view) {}  // NOLINT(google-explicit-constructor)

  // Views `rows` × `row_length` values of `type` stored in `bytes` (a tensor's data in a file);
  // `what` names the tensor in errors (an unsupported type, a size that does not match).
  weight_matrix(ggml_type type, std::span<const std::byte> bytes, std::size_t rows, std::size_t row_length, const std::string& what)
      : view_(visit_format(type, [&]<class Format>() -> variant_type { return quantized_view<Format>(bytes, rows, row_length, what); },
                           what)) {}

  [[nodiscard]] std::size_t rows() const noexcept {
    return std::visit([](const auto& v) { return v.rows(); }, view_);
  }
  [[nodiscard]] std::size_t row_length() const noexcept {
    return std::visit([](const auto& v) { return v.row_length(); }, view_);
  }
  [[nodiscard]] ggml_type type() const noexcept {
    return std::visit([](const auto& v) { return std::decay_t<decltype(v)>::format::type; }, view_);
  }
  // Bytes of one row, and so of what a product with the matrix streams per row.
  [[nodiscard]] std::size_t row_bytes() const noexcept {
    return std::visit([](const auto& v) { return v.blocks_per_row() * sizeof(typename std::decay_t<decltype(v)>::block_type); }, view_);
  }
  // The stored bytes, in place.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept {
    return std::visit([&](const auto& v) {
      return v.rows() == 0 ? std::span<const std::byte>() : std::as_bytes(std::span(v.row(0).data(), v.rows() * v.blocks_per_row()));
    }, view_);
  }
  // Rows [begin, end): one expert's slice of a stack of expert matrices.
  [[nodiscard]] weight_matrix rows_between(std::size_t begin, std::size_t end) const noexcept {
    return std::visit([&](const auto& v) { return weight_matrix(v.rows_between(begin, end)); }, view_);
  }
  // Row i as f32 (out holds row_length() values).
  void dequantize_row(std::size_t i, std::span<float> out) const {
    std::visit([&](const auto& v) { v.dequantize_row(i, out); }, view_);
  }
  [[nodiscard]] const variant_type& view() const noexcept { return view_; }

 private:
  variant_type view_;
};

// y[t][o] = Σ_i W[o][i] · x[t][i] on `dev`, for the format `w` holds.
template <class Device>
void multiply(Device& dev, const weight_matrix& w, matrix_view<const float> x, matrix_view<float> y) {
  std::visit([&](const auto& view) { dev.matmul(view, x, y); }, w.view());
}

// ya = A · x and yb = B · x on `dev`: one call of the policy's matmul_pair where it has one and
// both matrices are stored in one format (a gated FFN's gate and up; the hip policy multiplies a
// decode token's two in one launch), else two products.
template <class Device>
void multiply_pair(Device& dev, const weight_matrix& a, const weight_matrix& b, matrix_view<const float> x, matrix_view<float> ya,
                   matrix_view<float> yb) {
  constexpr bool pairs = requires(Device& d, const quantized_view<q8_0_format>& w) { d.matmul_pair(w, w, x, ya, yb); };
  if constexpr (pairs) {
    if (a.type() == b.type()) {
      std::visit([&]<class View>(const View& first) { dev.matmul_pair(first, std::get<View>(b.view()), x, ya, yb); }, a.view());
      return;
    }
  }
  multiply(dev, a, x, ya);
  multiply(dev, b, x, yb);
}

// Each group's rows of x times its slice of the stacked matrix w, on `dev` (matmul_groups.hpp).
template <class Device>
void multiply_grouped(Device& dev, const weight_matrix& w, std::span<const matmul_group> groups, matrix_view<const float> x,
                      matrix_view<float> y) {
  std::visit([&](const auto& view) { dev.grouped_matmul(view, groups, x, y); }, w.view());
}

// out[t] = W[tokens[t]] · scale on `dev` (an embedding lookup), for the format `w` holds.
template <class Device>
void embed(Device& dev, const weight_matrix& w, std::span<const std::int32_t> tokens, float scale, matrix_view<float> out) {
  std::visit([&](const auto& view) { dev.embedding(view, tokens, scale, out); }, w.view());
}

}  // namespace strix
