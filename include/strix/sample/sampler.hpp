// sampler: picks the next token from a row of logits. Greedy when temperature is 0; otherwise, in
// this order: repetition / presence / frequency penalties over the recent tokens, temperature,
// top-k, top-p (nucleus), min-p (relative to the most likely token), then one draw from a seeded
// generator, so a run with the same seed reproduces exactly. Work is proportional to the vocabulary
// only for one max/exp pass; sorting touches the few hundred candidates that can matter, so a
// 262k-entry vocabulary costs well under a decode step. Scratch is allocated once per sampler.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <strix/core/error.hpp>

namespace strix::sample {

struct sampling_params {
  float temperature = 1.0f;  // 0: greedy
  std::size_t top_k = 0;     // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repetition_penalty = 1.0f;  // CTRL-style: positive logits divided, negative multiplied
  float presence_penalty = 0.0f;    // OpenAI-style: subtracted once per token present
  float frequency_penalty = 0.0f;   // subtracted per occurrence
  std::size_t penalty_window = 64;  // how many recent tokens the penalties look at
  std::uint64_t seed = 0;

  void validate() const {
    const auto bad = [](const std::string& what) { throw error(error_category::shape, "sampling: " + what); };
    if (!(temperature >= 0.0f) || !std::isfinite(temperature)) bad("temperature must be >= 0");
    if (!(top_p > 0.0f && top_p <= 1.0f)) bad("top_p must be in (0, 1]");
    if (!(min_p >= 0.0f && min_p <= 1.0f)) bad("min_p must be in [0, 1]");
    if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty)) bad("repetition penalty must be > 0");
    if (!std::isfinite(presence_penalty) || !std::isfinite(frequency_penalty)) bad("presence/frequency penalties must be finite");
  }
};

class sampler {
 public:
  explicit sampler(sampling_params params) : params_(params), rng_(params.seed) { params_.validate(); }

  [[nodiscard]] const sampling_params& params() const noexcept { return params_; }

  [[nodiscard]] bool greedy() const noexcept { return params_.temperature == 0.0f; }

  // The next token for `logits` (one row), given the tokens so far (the last penalty_window of
  // `history` are penalised). NaN logits are never chosen.
  std::int32_t sample(std::span<const float> logits, std::span<const std::int32_t> history = {}) {
    const std::span<const float> row = penalised(logits, history);
    if (greedy()) return argmax(row);
    const candidate_set c = candidates(row);
    return c.ids == nullptr && c.weights.size() == 1 ? c.only : pick(c.weights, c.total, c.ids);
  }

  // The whole distribution sample() draws from for this row, as dense probabilities over the
  // vocabulary (zero for the tokens the truncation drops; one-hot when greedy). Speculative
  // sampling verifies drafts against exactly this.
  void distribution(std::span<const float> logits, std::span<const std::int32_t> history, std::vector<float>& probs) {
    const std::span<const float> row = penalised(logits, history);
    probs.assign(row.size(), 0.0f);
    if (greedy()) {
      probs[static_cast<std::size_t>(argmax(row))] = 1.0f;
      return;
    }
    const candidate_set c = candidates(row);
    if (c.ids == nullptr && c.weights.size() == 1) {
      probs[static_cast<std::size_t>(c.only)] = 1.0f;
      return;
    }
    for (std::size_t i = 0; i < c.weights.size(); ++i) {
      probs[c.ids ? static_cast<std::size_t>(c.ids[i]) : i] = static_cast<float>(c.weights[i] / c.total);
    }
  }

  // One draw from a dense distribution (need not be normalised), with this sampler's generator.
  std::int32_t draw(std::span<const float> probs) {
    double total = 0.0;
    for (const float p : probs) total += p;
    if (!(total > 0.0)) throw error(error_category::shape, "sampling: the distribution has no mass");
    return pick(probs, total, nullptr);
  }

  // A uniform number in [0, 1) from this sampler's generator.
  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

  static std::int32_t argmax(std::span<const float> row) {
    std::size_t best = 0;
    bool found = false;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (std::isnan(row[i])) continue;
      if (!found || row[i] > row[best]) best = i;
      found = true;
    }
    return static_cast<std::int32_t>(best);
  }

 private:
  void apply_penalties(std::vector<float>& row, std::span<const std::int32_t> recent) {
    counts_.clear();
    for (const auto t : recent) {
      if (t >= 0 && static_cast<std::size_t>(t) < row.size()) ++counts_[t];
    }
    for (const auto& [token, count] : counts_) {
      float& l = row[static_cast<std::size_t>(token)];
      l = l > 0.0f ? l / params_.repetition_penalty : l * params_.repetition_penalty;
      l -= params_.presence_penalty + params_.frequency_penalty * static_cast<float>(count);
    }
  }

  std::span<const float> penalised(std::span<const float> logits, std::span<const std::int32_t> history) {
    if (logits.empty()) throw error(error_category::shape, "sampling: empty logits row");
    const bool any = params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f;
    if (!any || history.empty()) return logits;
    adjusted_.assign(logits.begin(), logits.end());
    apply_penalties(adjusted_, history.last(std::min(history.size(), params_.penalty_window)));
    return adjusted_;
  }

  // The tokens left after temperature, top-k, top-p and min-p, with unnormalised weights (the best
  // token has weight 1). `ids` null means the weights are indexed by token; a single surviving
  // token (a row whose best logit is not finite) is `only`.
  struct candidate_set {
    std::span<const float> weights;
    double total = 0.0;
    const std::int32_t* ids = nullptr;
    std::int32_t only = 0;
  };

  candidate_set candidates(std::span<const float> row) {
    const std::int32_t top = argmax(row);
    const float max_logit = row[static_cast<std::size_t>(top)];
    if (!std::isfinite(max_logit)) {
      single_ = 1.0f;
      return {std::span<const float>(&single_, 1), 1.0, nullptr, top};
    }
    const float inv_t = 1.0f / params_.temperature;
    weights_.resize(row.size());
    double total = 0.0;
    for (std::size_t i = 0; i < row.size(); ++i) {
      const float w = std::isnan(row[i]) ? 0.0f : std::exp((row[i] - max_logit) * inv_t);
      weights_[i] = w;
      total += w;
    }
    // min-p keeps tokens with p >= min_p * p_max, i.e. weight >= min_p.
    const float min_weight = params_.min_p;
    const bool truncating = params_.top_k > 0 || params_.top_p < 1.0f || min_weight > 0.0f;
    if (!truncating) return {weights_, total, nullptr, 0};

    // Candidates in descending weight: grow a partially sorted prefix until it covers top-k,
    // top-p of the mass, and everything above min-p.
    order_.resize(row.size());
    for (std::size_t i = 0; i < row.size(); ++i) order_[i] = static_cast<std::int32_t>(i);
    const auto heavier = [&](std::int32_t a, std::int32_t b) {
      const float wa = weights_[static_cast<std::size_t>(a)];
      const float wb = weights_[static_cast<std::size_t>(b)];
      return wa != wb ? wa > wb : a < b;
    };
    const std::size_t limit = params_.top_k > 0 ? std::min(params_.top_k, row.size()) : row.size();
    std::size_t sorted = 0;
    std::size_t keep = 0;
    double kept_mass = 0.0;
    const double mass_target = params_.top_p * total;
    while (keep < limit) {
      if (keep == sorted) {
        const std::size_t grow = std::min(limit, std::max<std::size_t>(64, sorted * 2));
        std::partial_sort(order_.begin() + static_cast<std::ptrdiff_t>(sorted), order_.begin() + static_cast<std::ptrdiff_t>(grow),
                          order_.end(), heavier);
        sorted = grow;
      }
      const float w = weights_[static_cast<std::size_t>(order_[keep])];
      if (keep > 0 && (w < min_weight || w == 0.0f)) break;
      kept_mass += w;
      ++keep;
      if (params_.top_p < 1.0f && kept_mass >= mass_target) break;
    }
    candidates_.resize(keep);
    for (std::size_t i = 0; i < keep; ++i) candidates_[i] = weights_[static_cast<std::size_t>(order_[i])];
    return {candidates_, kept_mass, order_.data(), 0};
  }

  // Draws index i with probability weights[i] / total; `ids` maps indices to tokens (or identity).
  std::int32_t pick(std::span<const float> weights, double total, const std::int32_t* ids) {
    const double u = uniform() * total;
    double acc = 0.0;
    std::size_t chosen = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      if (weights[i] <= 0.0f) continue;
      chosen = i;
      acc += weights[i];
      if (u < acc) break;
    }
    return ids ? ids[chosen] : static_cast<std::int32_t>(chosen);
  }

  sampling_params params_;
  std::mt19937_64 rng_;
  std::vector<float> adjusted_;
  std::vector<float> weights_;
  std::vector<std::int32_t> order_;
  std::vector<float> candidates_;
  float single_ = 1.0f;
  std::unordered_map<std::int32_t, std::size_t> counts_;
};

}  // namespace strix::sample
