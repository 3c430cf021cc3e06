// logit_rows: which rows of a batch a model projects onto the vocabulary. Every row (scoring a
// text, verifying one sequence's drafts), or the newest n rows of each sequence: n = 1 for a
// prefill chunk or a plain decode step, n = 1 + drafts for a sequence that verifies speculative
// drafts beside others in a continuous batch. The vocabulary projection is the largest matrix of
// a small model, so rows nobody reads are not projected.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>

#include <strix/core/error.hpp>
#include <strix/core/sequence_rows.hpp>
#include <strix/core/tensor_view.hpp>
#include <strix/device/concepts.hpp>

namespace strix::models {

class logit_rows {
 public:
  [[nodiscard]] static logit_rows all() noexcept { return logit_rows(true, {}); }
  [[nodiscard]] static logit_rows last() noexcept { return logit_rows(false, {}); }
  // newest[s]: how many of sequence s's newest rows (1 … its rows in the batch).
  [[nodiscard]] static logit_rows newest(std::span<const std::size_t> newest) noexcept { return logit_rows(false, newest); }

  // Rows of logits the batch produces, in batch order.
  [[nodiscard]] std::size_t count(std::span<const sequence_rows> sequences) const {
    check(sequences);
    std::size_t n = 0;
    for (std::size_t s = 0; s < sequences.size(); ++s) n += rows_of(sequences, s);
    return n;
  }

  // The rows to project: `x` itself when every row is, else the chosen rows copied into `scratch`
  // by the device (count() rows or more; it may be a buffer the model no longer needs, but not `x`).
  template <device_policy Device>
  [[nodiscard]] matrix_view<const float> gather(Device& dev, matrix_view<const float> x, std::span<const sequence_rows> sequences,
                                                matrix_view<float> scratch) const {
    if (all_) return x;
    check(sequences);
    std::size_t out = 0;
    for (std::size_t s = 0; s < sequences.size(); ++s) {
      const std::size_t n = rows_of(sequences, s), first = sequences[s].first_row + sequences[s].rows - n;
      dev.copy(x.slice(first, first + n), scratch.slice(out, out + n));
      out += n;
    }
    return scratch.slice(0, out);
  }

 private:
  logit_rows(bool all, std::span<const std::size_t> newest) noexcept : all_(all), newest_(newest) {}

  [[nodiscard]] std::size_t rows_of(std::span<const sequence_rows> sequences, std::size_t s) const noexcept {
    if (all_) return sequences[s].rows;
    return newest_.empty() ? 1 : newest_[s];
  }

  void check(std::span<const sequence_rows> sequences) const {
    if (all_ || newest_.empty()) return;
    if (newest_.size() != sequences.size()) {
      throw error(error_category::shape, "logit rows: " + std::to_string(newest_.size()) + " counts for " + std::to_string(sequences.size()) + " sequences");
    }
    for (std::size_t s = 0; s < sequences.size(); ++s) {
      if (newest_[s] == 0 || newest_[s] > sequences[s].rows) {
        throw error(error_category::shape, "logit rows: " + std::to_string(newest_[s]) + " newest rows of sequence " + std::to_string(s) +
                                               ", which has " + std::to_string(sequences[s].rows) + " in the batch");
      }
    }
  }

  bool all_;
  std::span<const std::size_t> newest_;
};

}  // namespace strix::models
