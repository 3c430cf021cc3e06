// Choosing a compile-time window from a runtime config: with_window<512, 1024>(w, f) calls f with
// sliding_window<w> (or global_attention for w = 0) when w is one of the instantiated widths, and
// fails with the list of supported ones otherwise.
#pragma once

#include <cstddef>
#include <string>

#include <strix/core/error.hpp>
#include <strix/device/attention_params.hpp>

namespace strix {

namespace detail {

template <std::size_t Width, std::size_t... Rest, class Visitor, class Fail>
decltype(auto) with_sliding_window(std::size_t window, Visitor& visitor, Fail& fail) {
  if (window == Width) return visitor(sliding_window<Width>{});
  if constexpr (sizeof...(Rest) == 0) {
    fail();
  } else {
    return with_sliding_window<Rest...>(window, visitor, fail);
  }
  return visitor(sliding_window<Width>{});  // not reached: fail() throws
}

}  // namespace detail

template <std::size_t... Widths, class Visitor>
decltype(auto) with_window(std::size_t window, Visitor&& visitor) {
  static_assert(((Widths > 0) && ...), "list sliding widths only; 0 (global attention) is always supported");
  auto fail = [window] {
    std::string supported = "0 (global)";
    ((supported += ", " + std::to_string(Widths)), ...);
    throw error(error_category::unsupported,
                "sliding window " + std::to_string(window) + " is not instantiated (supported: " + supported + ")");
  };
  if constexpr (sizeof...(Widths) == 0) {
    if (window != 0) fail();
    return visitor(global_attention{});
  } else {
    if (window == 0) return visitor(global_attention{});
    return detail::with_sliding_window<Widths...>(window, visitor, fail);
  }
}

}  // namespace strix
