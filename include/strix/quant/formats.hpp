// Every block format strix implements, and the bridge from a type id read from a file to the
// compile-time format type: visit_format(type, visitor) calls visitor.template operator()<Format>().
#pragma once

#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <strix/core/error.hpp>
#include <strix/quant/float_formats.hpp>
#include <strix/quant/iq4_formats.hpp>
#include <strix/quant/k_quants.hpp>
#include <strix/quant/legacy_formats.hpp>
#include <strix/quant/mxfp4.hpp>
#include <strix/quant/q8_formats.hpp>

namespace strix {

using all_block_formats =
    std::tuple<f32_format, f16_format, bf16_format, q4_0_format, q4_1_format, q5_0_format, q5_1_format, q8_0_format,
               q8_1_format, q2_k_format, q3_k_format, q4_k_format, q5_k_format, q6_k_format, q8_k_format,
               iq4_nl_format, iq4_xs_format, mxfp4_format>;

constexpr bool is_implemented(ggml_type type) noexcept {
  return std::apply([type](auto... formats) { return ((decltype(formats)::type == type) || ...); }, all_block_formats{});
}

[[noreturn]] inline void unsupported_type(ggml_type type, const std::string& context) {
  std::string supported;
  std::apply([&](auto... formats) {
    ((supported += (supported.empty() ? "" : ", ") + std::string(name_of(decltype(formats)::type))), ...);
  }, all_block_formats{});
  throw error(error_category::unsupported, (context.empty() ? std::string() : context + ": ") + "ggml type " +
                                               std::string(name_of(type)) + " (id " +
                                               std::to_string(static_cast<unsigned>(type)) +
                                               ") is not supported; supported types: " + supported);
}

namespace detail {
template <std::size_t I, class Visitor>
auto visit_format_from(ggml_type type, Visitor& visitor, const std::string& context)
    -> decltype(visitor.template operator()<f32_format>()) {
  if constexpr (I < std::tuple_size_v<all_block_formats>) {
    using format = std::tuple_element_t<I, all_block_formats>;
    if (format::type == type) return visitor.template operator()<format>();
    return visit_format_from<I + 1>(type, visitor, context);
  } else {
    unsupported_type(type, context);
  }
}
}  // namespace detail

// Calls visitor.template operator()<Format>() for the format of `type` and returns its result; a
// type strix does not implement is an `unsupported` error naming it and `context` (file, tensor).
template <class Visitor>
auto visit_format(ggml_type type, Visitor&& visitor, const std::string& context = {}) {
  return detail::visit_format_from<0>(type, visitor, context);
}

}  // namespace strix
