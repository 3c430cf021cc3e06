// Choosing a compile-time window from a runtime config: with_window<512, 1024>(w, f) calls f with
// sliding_window<w> (or global_attention for w = 0) when w is one of the instantiated widths, and
// fails with the list of supported ones otherwise.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>

#include <strix/core/error.hpp>
#include <strix/device/attention_params.hpp>

namespace strix {

template <std::size_t... Widths, class Visitor>
decltype(auto) with_window(std::size_t window, Visitor&& visitor) {
  static_assert(((Widths > 0) && ...), "list sliding widths only; 0 (global attention) is always supported");
  if (window == 0) return visitor(global_attention{});
  using result = decltype(visitor(global_attention{}));
  if constexpr (sizeof...(Widths) > 0) {
    if (((window == Widths) || ...)) {
      if constexpr (std::is_void_v<result>) {
        ((window == Widths ? (visitor(sliding_window<Widths>{}), true) : false) || ...);
        return;
      } else {
        result out{};
        ((window == Widths ? (out = visitor(sliding_window<Widths>{}), true) : false) || ...);
        return out;
      }
    }
  }
  std::string supported = "0 (global)";
  ((supported += ", " + std::to_string(Widths)), ...);
  throw error(error_category::unsupported,
              "sliding window " + std::to_string(window) + " is not instantiated (supported: " + supported + ")");
}

}  // namespace strix
