// The element types a paged KV cache stores K and V in, one type for both (mixed K/V types are
// the source of misbehaviour in the field and buy little). Quantized on write, dequantized by the
// attention kernel, one row of head_dim elements per head and token.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <strix/core/error.hpp>
#include <strix/quant/float_formats.hpp>
#include <strix/quant/legacy_formats.hpp>
#include <strix/quant/q8_formats.hpp>

namespace strix {

enum class kv_type { f32, f16, bf16, q8_0, q4_0 };

inline constexpr std::string_view kv_type_names = "f32, f16, bf16, q8_0, q4_0";

constexpr std::string_view to_string(kv_type type) noexcept {
  switch (type) {
    case kv_type::f32: return "f32";
    case kv_type::f16: return "f16";
    case kv_type::bf16: return "bf16";
    case kv_type::q8_0: return "q8_0";
    case kv_type::q4_0: return "q4_0";
  }
  return "unknown";
}

inline kv_type parse_kv_type(std::string_view name) {
  for (kv_type type : {kv_type::f32, kv_type::f16, kv_type::bf16, kv_type::q8_0, kv_type::q4_0}) {
    if (to_string(type) == name) return type;
  }
  throw error(error_category::unsupported,
              "unknown KV cache type '" + std::string(name) + "' (supported: " + std::string(kv_type_names) + ")");
}

// Calls visitor.template operator()<Format>() with the block format that stores `type`.
template <class Visitor>
constexpr decltype(auto) visit_kv_type(kv_type type, Visitor&& visitor) {
  switch (type) {
    case kv_type::f16: return visitor.template operator()<f16_format>();
    case kv_type::bf16: return visitor.template operator()<bf16_format>();
    case kv_type::q8_0: return visitor.template operator()<q8_0_format>();
    case kv_type::q4_0: return visitor.template operator()<q4_0_format>();
    case kv_type::f32: break;
  }
  return visitor.template operator()<f32_format>();
}

// Elements per quantization block: head dims must be a multiple of it.
constexpr std::size_t kv_block_elements(kv_type type) noexcept {
  return visit_kv_type(type, []<class Format>() { return Format::block_size; });
}

// Bytes of one stored row of `elements` values (elements a multiple of kv_block_elements).
constexpr std::size_t kv_row_bytes(kv_type type, std::size_t elements) noexcept {
  return visit_kv_type(type, [&]<class Format>() {
    return elements / Format::block_size * sizeof(typename Format::block_type);
  });
}

}  // namespace strix
