// sequence_runner: one model, one cache and one sequence in it — what the tool and the model tests
// need to feed tokens and read logits. Works for any model with forward(dev, tokens, positions,
// sequences, cache, logits, all_rows) and a cache with create / append / length.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/core/sequence_rows.hpp>
#include <strix/kv/kv_status.hpp>

#include "models/logit_rows.hpp"

namespace strix::models {

template <class Device, class Model, class Cache>
class sequence_runner {
 public:
  // `chunk`: most tokens per forward (the prefill step).
  sequence_runner(Model model, Cache cache, std::size_t chunk = std::numeric_limits<std::size_t>::max())
      : model_(std::move(model)), cache_(std::move(cache)), chunk_(chunk) {
    const auto created = cache_.create();
    if (created.status != kv_status::ok) throw error(error_category::memory, "cache: " + std::string(to_string(created.status)));
    sequence_ = created.sequence;
  }

  [[nodiscard]] Model& model() noexcept { return model_; }
  [[nodiscard]] Cache& cache() noexcept { return cache_; }
  [[nodiscard]] std::uint32_t sequence() const noexcept { return sequence_; }
  [[nodiscard]] std::size_t vocab() const { return model_.config().vocab; }
  [[nodiscard]] std::size_t length() const { return cache_.length(sequence_); }

  // Keeps exactly the first `length` tokens, or returns false (and changes nothing) when the
  // cache cannot roll back that far.
  [[nodiscard]] bool try_truncate(std::size_t length) {
    if (length >= cache_.length(sequence_)) return length == cache_.length(sequence_);
    return cache_.truncate(sequence_, length) == kv_status::ok;
  }

  // Keeps the first `length` tokens when the cache can roll back that far; otherwise starts the
  // sequence afresh. Returns the length kept.
  std::size_t truncate(std::size_t length) {
    if (length >= cache_.length(sequence_)) return cache_.length(sequence_);
    if (try_truncate(length)) return length;
    cache_.release(sequence_);
    const auto created = cache_.create();
    if (created.status != kv_status::ok) throw error(error_category::memory, "cache: " + std::string(to_string(created.status)));
    sequence_ = created.sequence;
    return 0;
  }

  // Appends `tokens` and runs them in chunks; returns the logits of every new row (all_rows) or
  // of the last one.
  std::vector<float> run(Device& dev, std::span<const std::int32_t> tokens, bool all_rows) {
    std::vector<float> out;
    for (std::size_t at = 0; at < tokens.size(); at += chunk_) {
      const auto part = tokens.subspan(at, std::min(chunk_, tokens.size() - at));
      const std::size_t first = cache_.length(sequence_);
      if (const kv_status s = cache_.append(sequence_, part); s != kv_status::ok) {
        throw error(error_category::memory, "KV cache: " + std::string(to_string(s)));
      }
      std::vector<std::int32_t> positions(part.size());
      for (std::size_t i = 0; i < part.size(); ++i) positions[i] = static_cast<std::int32_t>(first + i);
      const sequence_rows rows{sequence_, 0, part.size()};
      const std::size_t n = all_rows ? part.size() : 1;
      // Logits that are returned are written in place; an earlier chunk's last row into scratch.
      float* logits = nullptr;
      if (all_rows || at + part.size() == tokens.size()) {
        out.resize(out.size() + n * vocab());
        logits = out.data() + out.size() - n * vocab();
      } else {
        unreturned_logits_.resize(vocab());
        logits = unreturned_logits_.data();
      }
      model_.forward(dev, part, positions, std::span(&rows, 1), cache_, {logits, {n, vocab()}},
                     all_rows ? logit_rows::all() : logit_rows::last());
    }
    return out;
  }

 private:
  Model model_;
  Cache cache_;
  std::uint32_t sequence_ = 0;
  std::size_t chunk_;
  std::vector<float> unreturned_logits_;
};

}  // namespace strix::models
