// ngram_drafter: prompt-lookup drafting, no second model. Finds the most recent earlier occurrence
// of the longest suffix of the tokens so far (between min_n and max_n tokens long) and proposes
// the tokens that followed it. Strong on inputs that repeat themselves: code edits, summaries,
// quoted documents, structured output.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include <strix/spec/verify.hpp>

namespace strix::spec {

class ngram_drafter {
 public:
  explicit ngram_drafter(std::size_t min_n = 1, std::size_t max_n = 4) : min_n_(std::max<std::size_t>(1, min_n)), max_n_(std::max(min_n_, max_n)) {}

  // Up to k proposed continuations of `history` (none when no suffix recurs).
  [[nodiscard]] std::vector<token_id> propose(std::span<const token_id> history, std::size_t k) const {
    std::vector<token_id> out;
    const std::size_t size = history.size();
    for (std::size_t n = std::min(max_n_, size > 0 ? size - 1 : 0); n >= min_n_ && out.empty(); --n) {
      const auto suffix = history.last(n);
      // The latest earlier match: it most likely continues as the text does now.
      for (std::size_t start = size - n; start-- > 0;) {
        if (!std::equal(suffix.begin(), suffix.end(), history.begin() + static_cast<std::ptrdiff_t>(start))) continue;
        for (std::size_t j = start + n; j < size && out.size() < k; ++j) out.push_back(history[j]);
        break;
      }
      if (n == min_n_) break;
    }
    return out;
  }

 private:
  std::size_t min_n_;
  std::size_t max_n_;
};

}  // namespace strix::spec
