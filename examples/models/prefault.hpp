// Bringing mapped weights into memory before the first token, with progress: weights are views
// into the file's mapping, so "loading" happens page by page on first use; reading one byte per
// page up front turns a slow first token into a visible load (and fails early on a file that
// cannot be read).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <strix/quant/weight_matrix.hpp>

namespace strix::models {

// Touches every page of `ranges`; progress(bytes_done, bytes_total) about every 1 %.
template <class Progress>
void prefault(const std::vector<std::span<const std::byte>>& ranges, Progress&& progress) {
  constexpr std::size_t page = 4096;
  std::uint64_t total = 0, done = 0, next_report = 0;
  for (const auto& r : ranges) total += r.size();
  volatile std::byte sink{};
  for (const auto& r : ranges) {
    for (std::size_t at = 0; at < r.size(); at += page) {
      sink = r[at];
      done += std::min(page, r.size() - at);
      if (done >= next_report) {
        progress(done, total);
        next_report = done + total / 100 + 1;
      }
    }
  }
  progress(total, total);
  (void)sink;
}

}  // namespace strix::models
