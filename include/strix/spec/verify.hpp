// Speculative verification: given the target's view of k drafted positions plus one, decide how
// many drafts to keep and which token comes next. Always emits exactly one more token (the
// target's correction at the first rejected position, or a bonus token after k acceptances), so
// every target step makes progress.
//
// Greedy: keep the longest prefix of drafts equal to the target's argmax at each position.
// Sampled (Leviathan et al. 2023; Chen et al. 2023): accept draft x at position i with probability
// min(1, p_i(x) / q_i(x)); on rejection draw from max(0, p_i - q_i) renormalised; the output then
// follows p exactly, whatever q is. p is the target sampler's full distribution
// (sampler::distribution), q the draft's; a deterministic drafter (n-gram) has a one-hot q.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/sample/sampler.hpp>

namespace strix::spec {

using token_id = std::int32_t;

struct verify_result {
  std::size_t accepted = 0;  // drafts kept
  token_id next = 0;         // the token after them
};

// `target_choice[i]`: the target's greedy token at position i (k + 1 entries for k drafts).
inline verify_result verify_greedy(std::span<const token_id> drafts, std::span<const token_id> target_choice) {
  if (target_choice.size() != drafts.size() + 1) {
    throw error(error_category::shape, "verify: " + std::to_string(target_choice.size()) + " target positions for " +
                                           std::to_string(drafts.size()) + " drafts (need drafts + 1)");
  }
  std::size_t n = 0;
  while (n < drafts.size() && drafts[n] == target_choice[n]) ++n;
  return {n, target_choice[n]};
}

// `p`: (k + 1) rows of the target's distribution; `q`: k rows of the draft's (each row `vocab`
// entries). Randomness comes from `rng` (the target's sampler, so one seed drives a run).
inline verify_result verify_sampled(std::span<const token_id> drafts, std::span<const float> p, std::span<const float> q,
                                    std::size_t vocab, sample::sampler& rng, std::vector<float>& residual) {
  const std::size_t k = drafts.size();
  if (p.size() != (k + 1) * vocab || q.size() != k * vocab) {
    throw error(error_category::shape, "verify: distributions of " + std::to_string(p.size()) + " and " + std::to_string(q.size()) +
                                           " entries for " + std::to_string(k) + " drafts over " + std::to_string(vocab) + " tokens");
  }
  for (std::size_t i = 0; i < k; ++i) {
    const auto x = static_cast<std::size_t>(drafts[i]);
    if (x >= vocab) throw error(error_category::shape, "verify: draft token " + std::to_string(drafts[i]) + " is outside the vocabulary");
    const auto p_i = p.subspan(i * vocab, vocab);
    const auto q_i = q.subspan(i * vocab, vocab);
    const double px = p_i[x];
    const double qx = q_i[x];
    if (qx > 0.0 && rng.uniform() * qx < px) continue;  // accepted with probability min(1, p/q)
    residual.resize(vocab);
    double mass = 0.0;
    for (std::size_t t = 0; t < vocab; ++t) mass += residual[t] = std::max(0.0f, p_i[t] - q_i[t]);
    // p == q everywhere (mass 0) cannot reject; guard rounding by falling back to p.
    return {i, mass > 0.0 ? rng.draw(residual) : rng.draw(p_i)};
  }
  return {k, rng.draw(p.subspan(k * vocab, vocab))};
}

}  // namespace strix::spec
