// tensor_view<T, Rank>: a non-owning, trivially copyable view of a strided array (pointer, extents,
// strides in elements; row-major by default). Like std::mdspan with fewer knobs; slicing and row
// access return views, never copies.
#pragma once

#include <array>
#include <cassert>
#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>

namespace strix {

template <class T, std::size_t Rank>
class tensor_view {
  static_assert(Rank >= 1, "tensor_view needs at least one dimension");

 public:
  using element_type = T;
  using extents_type = std::array<std::size_t, Rank>;
  static constexpr std::size_t rank = Rank;

  constexpr tensor_view() noexcept = default;

  constexpr tensor_view(T* data, const extents_type& extents) noexcept
      : data_(data), extents_(extents), strides_(row_major_strides(extents)) {}

  constexpr tensor_view(T* data, const extents_type& extents, const extents_type& strides) noexcept
      : data_(data), extents_(extents), strides_(strides) {}

  // A view of const elements from a view of mutable ones.
  template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
  constexpr tensor_view(const tensor_view<U, Rank>& other) noexcept  // NOLINT(google-explicit-constructor)
      : data_(other.data()), extents_(other.extents()), strides_(other.strides()) {}

  [[nodiscard]] constexpr T* data() const noexcept { return data_; }
  [[nodiscard]] constexpr const extents_type& extents() const noexcept { return extents_; }
  [[nodiscard]] constexpr const extents_type& strides() const noexcept { return strides_; }
  [[nodiscard]] constexpr std::size_t extent(std::size_t dim) const noexcept { return extents_[dim]; }
  [[nodiscard]] constexpr std::size_t stride(std::size_t dim) const noexcept { return strides_[dim]; }

  [[nodiscard]] constexpr std::size_t size() const noexcept {
    std::size_t n = 1;
    for (std::size_t e : extents_) n *= e;
    return n;
  }
  [[nodiscard]] constexpr bool empty() const noexcept { return size() == 0; }

  [[nodiscard]] constexpr bool is_contiguous() const noexcept { return strides_ == row_major_strides(extents_); }

  template <std::integral... Index>
    requires(sizeof...(Index) == Rank)
  [[nodiscard]] constexpr T& operator()(Index... index) const noexcept {
    const std::array<std::size_t, Rank> at{static_cast<std::size_t>(index)...};
    std::size_t offset = 0;
    for (std::size_t d = 0; d < Rank; ++d) {
      assert(at[d] < extents_[d]);
      offset += at[d] * strides_[d];
    }
    return data_[offset];
  }

  // Row i along the first dimension: a view of rank Rank-1 (for a rank-1 view, use operator()).
  [[nodiscard]] constexpr auto row(std::size_t i) const noexcept
    requires(Rank > 1)
  {
    assert(i < extents_[0]);
    std::array<std::size_t, Rank - 1> extents{};
    std::array<std::size_t, Rank - 1> strides{};
    for (std::size_t d = 1; d < Rank; ++d) {
      extents[d - 1] = extents_[d];
      strides[d - 1] = strides_[d];
    }
    return tensor_view<T, Rank - 1>(data_ + i * strides_[0], extents, strides);
  }

  // Rows [begin, end) along the first dimension, same rank.
  [[nodiscard]] constexpr tensor_view slice(std::size_t begin, std::size_t end) const noexcept {
    assert(begin <= end && end <= extents_[0]);
    extents_type extents = extents_;
    extents[0] = end - begin;
    return tensor_view(data_ + begin * strides_[0], extents, strides_);
  }

  // The elements as one span; only for contiguous views.
  [[nodiscard]] constexpr std::span<T> span() const noexcept {
    assert(is_contiguous());
    return {data_, size()};
  }

  // The memory the view reaches, from its first element to its last, gaps between rows included
  // (empty for an empty view): what a device policy must hand back to the host before the host
  // touches the view (device_policy's host_access).
  [[nodiscard]] constexpr std::span<T> footprint() const noexcept {
    if (empty()) return {};
    std::size_t last = 0;
    for (std::size_t d = 0; d < Rank; ++d) last += (extents_[d] - 1) * strides_[d];
    return {data_, last + 1};
  }

  static constexpr extents_type row_major_strides(const extents_type& extents) noexcept {
    extents_type strides{};
    std::size_t stride = 1;
    for (std::size_t d = Rank; d-- > 0;) {
      strides[d] = stride;
      stride *= extents[d];
    }
    return strides;
  }

 private:
  T* data_ = nullptr;
  extents_type extents_{};
  extents_type strides_{};
};

template <class T>
using vector_view = tensor_view<T, 1>;
template <class T>
using matrix_view = tensor_view<T, 2>;

static_assert(std::is_trivially_copyable_v<tensor_view<float, 3>>);

}  // namespace strix
