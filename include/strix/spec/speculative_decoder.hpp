// speculative_decoder: the generation loop. Each step drafts k tokens (a draft model or n-gram
// lookup), runs the target once over the newest committed token plus the drafts, verifies, and
// rolls the target (and the draft model) back so that their caches hold exactly the committed
// tokens: the KV cache's paged blocks and any recurrent state (Gated DeltaNet) alike, through the
// session's one truncate. Nothing here knows the model: a session is anything that feeds tokens,
// reports its length and truncates exactly (see decoding_session).
//
// Invariant between steps: the target session holds every committed token except the newest,
// whose logits the next step computes together with the drafts.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/sample/sampler.hpp>
#include <strix/spec/ngram_drafter.hpp>
#include <strix/spec/verify.hpp>

namespace strix::spec {

// A model with one sequence: feed(tokens, all_rows) appends tokens and returns the logits of
// every fed row (rows × vocab) or, without all_rows, of the last one only (a prefill need not
// project every prompt row onto the vocabulary); truncate(n) keeps the first n tokens exactly or
// returns false (then nothing changed).
template <class S>
concept decoding_session = requires(S s, std::span<const token_id> tokens, std::size_t n, bool all_rows) {
  { s.feed(tokens, all_rows) } -> std::same_as<std::vector<float>>;
  { s.length() } -> std::convertible_to<std::size_t>;
  { s.truncate(n) } -> std::same_as<bool>;
  { s.vocab() } -> std::convertible_to<std::size_t>;
};

struct speculation_options {
  std::size_t max_draft = 8;   // the most drafts per step (the cache's max_rollback must cover it + 1)
  std::size_t min_draft = 1;
  bool adaptive = true;        // grow the draft after full acceptance, shrink it after poor steps
  std::size_t first_draft = 4;
};

struct speculation_stats {
  std::size_t steps = 0;          // target forward passes during generation
  std::size_t drafted = 0;
  std::size_t accepted = 0;
  std::size_t generated = 0;
  [[nodiscard]] double acceptance() const { return drafted ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0.0; }
  [[nodiscard]] double tokens_per_step() const { return steps ? static_cast<double>(generated) / static_cast<double>(steps) : 0.0; }
};

// The next draft length after a step that kept `accepted` of `drafted` drafts: one more after
// full acceptance, one fewer when fewer than half were kept.
[[nodiscard]] inline std::size_t adapted_draft_length(std::size_t current, std::size_t drafted, std::size_t accepted,
                                                      const speculation_options& options) noexcept {
  if (!options.adaptive || drafted == 0) return current;
  if (accepted == drafted) return std::min(options.max_draft, current + 1);
  if (2 * accepted < drafted) return std::max(options.min_draft, current - 1);
  return current;
}

namespace detail {

inline void require_truncate(bool ok, const char* who, std::size_t length) {
  if (!ok) {
    throw error(error_category::memory, std::string(who) + " session cannot roll back to " + std::to_string(length) +
                                            " tokens; give its cache a max_rollback of at least the draft length + 1");
  }
}

// Brings `session` (holding `fed`) to hold exactly `tokens` and returns the logits after the last
// one; keeps the common prefix, so only what differs is recomputed.
template <decoding_session S>
std::vector<float> sync_to(S& session, std::vector<token_id>& fed, std::span<const token_id> tokens) {
  if (session.length() != fed.size()) {  // someone else used the session: nothing is known to match
    require_truncate(session.truncate(0), "a", 0);
    fed.clear();
  }
  std::size_t common = 0;
  while (common < fed.size() && common < tokens.size() && fed[common] == tokens[common]) ++common;
  if (common == tokens.size()) --common;  // the last token must run to give logits
  if (common < fed.size()) {
    if (!session.truncate(common)) {
      // Deeper than the cache can roll back: start over.
      require_truncate(session.truncate(0), "a", 0);
      common = 0;
    }
    fed.resize(common);
  }
  std::vector<float> last = session.feed(tokens.subspan(common), false);
  fed.assign(tokens.begin(), tokens.end());
  return last;
}

}  // namespace detail

// Drafts with a smaller model that shares the target's tokenizer. Greedy or sampled with its own
// sampler; its distributions are kept for verify_sampled.
template <decoding_session Draft>
class model_drafter {
 public:
  model_drafter(Draft& draft, sample::sampler sampler) : draft_(draft), sampler_(std::move(sampler)) {}

  // Proposes k tokens after `committed`; q (k × vocab) receives the draft's distributions when
  // `with_distributions`.
  std::vector<token_id> propose(std::span<const token_id> committed, std::size_t k, bool with_distributions, std::vector<float>& q) {
    std::vector<token_id> out;
    q.clear();
    if (k == 0 || committed.empty()) return out;
    std::vector<float> logits = detail::sync_to(draft_, fed_, committed);
    history_.assign(committed.begin(), committed.end());
    for (std::size_t j = 0; j < k; ++j) {
      token_id x;
      if (with_distributions) {
        sampler_.distribution(logits, history_, row_);
        x = sampler_.draw(row_);
        q.insert(q.end(), row_.begin(), row_.end());
      } else {
        x = sampler_.sample(logits, history_);
      }
      out.push_back(x);
      history_.push_back(x);
      if (j + 1 < k) {
        logits = draft_.feed(std::span(&out.back(), 1), false);
        fed_.push_back(x);
      }
    }
    return out;
  }

  void forget() {
    detail::require_truncate(draft_.truncate(0), "the draft", 0);
    fed_.clear();
  }

 private:
  Draft& draft_;
  sample::sampler sampler_;
  std::vector<token_id> fed_;
  std::vector<token_id> history_;
  std::vector<float> row_;
};

// Refuses a draft/target pair whose vocabularies differ (ids would mean different tokens).
inline void check_compatible(std::size_t target_vocab, std::size_t draft_vocab, const std::string& what) {
  if (target_vocab != draft_vocab) {
    throw error(error_category::format, what + ": the draft's vocabulary has " + std::to_string(draft_vocab) +
                                            " tokens and the target's " + std::to_string(target_vocab) +
                                            "; speculative decoding needs the same tokenizer");
  }
}

// One request after another on the same target session; each generate() call starts from its own
// prompt and reuses whatever prefix the session already holds.
template <decoding_session Target>
class speculative_decoder {
 public:
  speculative_decoder(Target& target, sample::sampler sampler, speculation_options options = {})
      : target_(target), sampler_(std::move(sampler)), options_(options), draft_length_(options.first_draft) {
    if (options_.max_draft == 0 || options_.min_draft == 0 || options_.min_draft > options_.max_draft) {
      throw error(error_category::shape, "speculation: draft lengths must satisfy 1 <= min_draft <= max_draft");
    }
    draft_length_ = std::clamp(draft_length_, options_.min_draft, options_.max_draft);
  }

  [[nodiscard]] const speculation_stats& stats() const noexcept { return stats_; }

  // Brings the target to hold all of `prompt` but its last token (what generate() starts from),
  // reusing the prefix it already holds; generate() on the same prompt then has nothing to redo.
  void prefill(std::span<const token_id> prompt) {
    if (prompt.empty()) throw error(error_category::shape, "speculation: empty prompt");
    if (prompt.size() > 1) {
      const auto prefix = prompt.first(prompt.size() - 1);
      if (fed_.size() == prefix.size() && target_.length() == fed_.size() && std::equal(prefix.begin(), prefix.end(), fed_.begin())) return;
      detail::sync_to(target_, fed_, prefix);
    } else {
      sync_empty();
    }
  }
  [[nodiscard]] std::size_t draft_length() const noexcept { return draft_length_; }

  // Generates up to `max_tokens` after `prompt`, stopping after any token in `stop` (included in
  // the result). `propose(committed, k, with_distributions, q)` drafts; a drafter returning fewer
  // than k tokens (or none) is fine. `on_tokens(span of the tokens one step committed)`, when
  // given, streams them and returns false to stop early.
  template <class Propose, class OnTokens = bool (*)(std::span<const token_id>)>
  std::vector<token_id> generate(std::span<const token_id> prompt, std::size_t max_tokens, std::span<const token_id> stop,
                                 Propose&& propose, OnTokens&& on_tokens = [](std::span<const token_id>) { return true; }) {
    prefill(prompt);
    std::vector<token_id> committed(prompt.begin(), prompt.end());
    std::vector<token_id> out;
    const std::size_t vocab = target_.vocab();
    const bool sampled = !sampler_.greedy();
    std::vector<float> q;
    std::vector<float> p;
    std::vector<token_id> choice;
    while (out.size() < max_tokens) {
      const std::size_t k = std::min(draft_length_, max_tokens - out.size() - 1);
      std::vector<token_id> drafts = k > 0 ? propose(std::span<const token_id>(committed), k, sampled, q) : std::vector<token_id>{};
      if (drafts.size() > k) drafts.resize(k);
      if (sampled && q.size() != drafts.size() * vocab) {
        // A deterministic drafter: its distribution is one-hot at each proposal.
        q.assign(drafts.size() * vocab, 0.0f);
        for (std::size_t i = 0; i < drafts.size(); ++i) q[i * vocab + static_cast<std::size_t>(drafts[i])] = 1.0f;
      }
      std::vector<token_id> step{committed.back()};
      step.insert(step.end(), drafts.begin(), drafts.end());
      const std::size_t base = fed_.size();
      const std::vector<float> rows = target_.feed(step, true);
      fed_.insert(fed_.end(), step.begin(), step.end());
      ++stats_.steps;

      std::vector<token_id> history(committed);
      verify_result r;
      if (sampled) {
        p.clear();
        for (std::size_t i = 0; i <= drafts.size(); ++i) {
          sampler_.distribution(std::span(rows).subspan(i * vocab, vocab), history, row_);
          p.insert(p.end(), row_.begin(), row_.end());
          if (i < drafts.size()) history.push_back(drafts[i]);
        }
        r = verify_sampled(drafts, p, q, vocab, sampler_, residual_);
      } else {
        choice.clear();
        for (std::size_t i = 0; i <= drafts.size(); ++i) {
          choice.push_back(sampler_.sample(std::span(rows).subspan(i * vocab, vocab), history));
          if (i < drafts.size()) history.push_back(drafts[i]);
        }
        r = verify_greedy(drafts, choice);
      }
      // Keep the newest committed token and the accepted drafts; the next token is not fed yet.
      const std::size_t keep = base + 1 + r.accepted;
      detail::require_truncate(target_.truncate(keep), "the target", keep);
      fed_.resize(keep);

      stats_.drafted += drafts.size();
      stats_.accepted += r.accepted;
      draft_length_ = adapted_draft_length(draft_length_, drafts.size(), r.accepted, options_);
      bool stopped = false;
      const std::size_t step_start = out.size();
      for (std::size_t i = 0; i <= r.accepted && out.size() < max_tokens && !stopped; ++i) {
        const token_id t = i < r.accepted ? drafts[i] : r.next;
        committed.push_back(t);
        out.push_back(t);
        stopped = std::find(stop.begin(), stop.end(), t) != stop.end();
      }
      if (!on_tokens(std::span<const token_id>(out).subspan(step_start))) stopped = true;
      if (stopped) break;
    }
    stats_.generated += out.size();
    return out;
  }


 private:
  void sync_empty() {
    if (!fed_.empty() || target_.length() != 0) {
      detail::require_truncate(target_.truncate(0), "the target", 0);
      fed_.clear();
    }
  }

  Target& target_;
  sample::sampler sampler_;
  speculation_options options_;
  std::size_t draft_length_;
  std::vector<token_id> fed_;  // what the target session holds
  std::vector<float> row_;
  std::vector<float> residual_;
  speculation_stats stats_;
};

}  // namespace strix::spec
