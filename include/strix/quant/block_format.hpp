// The block_format concept: what every GGUF weight format provides, on every device policy. A
// format is a stateless type naming its ggml type id, its block (a struct whose size is checked
// against the GGUF type table) and scalar reference codecs for one block. Fast kernels live in the
// device policies and are tested against these.
#pragma once

#include <concepts>
#include <cstddef>
#include <type_traits>

#include <strix/quant/ggml_type.hpp>

namespace strix {

template <class F>
concept block_format =
    requires {
      typename F::block_type;
      { F::type } -> std::convertible_to<ggml_type>;
      { F::block_size } -> std::convertible_to<std::size_t>;
    } && std::is_trivially_copyable_v<typename F::block_type> &&
    sizeof(typename F::block_type) == traits_of(F::type).block_bytes &&
    F::block_size == traits_of(F::type).block_size &&
    requires(const typename F::block_type& block, typename F::block_type& out, float* y, const float* x) {
      { F::dequantize(block, y) } noexcept;  // writes block_size floats to y
      { F::quantize(x, out) } noexcept;      // reads block_size floats from x
    };

// Round to nearest, ties to even, as an int (the quantizers' rounding when bit-exactness with ggml
// is not at stake).
inline int nearest_int(float x) noexcept {
  return static_cast<int>(__builtin_lrintf(x));
}

}  // namespace strix
