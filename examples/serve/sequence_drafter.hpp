// sequence_drafter: speculative drafts for the requests of a continuous batch. Once per step the
// scheduler asks for drafts for every decoding request at once, so a draft model runs them as
// one batch (one forward pass per drafted position across requests, not per request). Drafts are
// greedy: the scheduler verifies them with the drafter's distribution one-hot at each proposal,
// which keeps sampled replies exactly distributed as the target's (spec/verify.hpp).
//
// Two drafters: n-gram lookup in the request's own tokens (no second model), and a draft model
// sharing the target's tokenizer, with one sequence per request in its own paged cache, brought
// to the request's tokens by truncating to the common prefix and feeding the rest.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include <strix/core/sequence_rows.hpp>
#include <strix/kv/kv_status.hpp>
#include <strix/spec/ngram_drafter.hpp>

#include "models/logit_rows.hpp"

namespace strix::serve {

struct draft_job {
  std::uint64_t request = 0;                // stable while the request lives
  std::span<const std::int32_t> committed;  // prompt and generated tokens, newest last
  std::size_t count = 0;                    // most drafts wanted (≥ 1)
  std::vector<std::int32_t> drafts;         // filled by propose(); fewer than count (or none) is fine
};

class sequence_drafter {
 public:
  virtual ~sequence_drafter() = default;
  virtual void propose(std::span<draft_job> jobs) = 0;
  // The request finished or was preempted: whatever the drafter keeps for it can go.
  virtual void forget(std::uint64_t request) = 0;
};

class ngram_sequence_drafter final : public sequence_drafter {
 public:
  void propose(std::span<draft_job> jobs) override {
    for (draft_job& job : jobs) job.drafts = lookup_.propose(job.committed, job.count);
  }
  void forget(std::uint64_t) override {}

 private:
  spec::ngram_drafter lookup_{1, 4};
};

// `Cache` needs create / append / truncate / release / length; its max_rollback must cover the
// longest draft + 1, and it should hold a sequence per concurrent request at the full context.
// A request the draft cache cannot hold gets no drafts (its target still decodes it).
template <class Device, class Model, class Cache>
class model_sequence_drafter final : public sequence_drafter {
 public:
  model_sequence_drafter(Device& dev, Model model, Cache cache, std::size_t step_tokens)
      : dev_(dev), model_(std::move(model)), cache_(std::move(cache)), step_tokens_(std::max<std::size_t>(1, step_tokens)) {}

  void propose(std::span<draft_job> jobs) override {
    std::vector<work> active;
    for (draft_job& job : jobs) {
      job.drafts.clear();
      if (job.count == 0 || job.committed.empty()) continue;
      if (const auto pending = sync(job)) active.push_back({&job, *pending});
    }
    // Feed each request's tokens the draft lacks, several requests per forward pass; a request
    // whose last token ran gets its first draft.
    while (!active.empty()) {
      run(active);
      std::erase_if(active, [](const work& w) { return w.job == nullptr || w.pending.empty(); });
    }
  }

  void forget(std::uint64_t request) override {
    if (const auto it = sequences_.find(request); it != sequences_.end()) {
      cache_.release(it->second.sequence);
      sequences_.erase(it);
    }
  }

 private:
  struct draft_sequence {
    std::uint32_t sequence = 0;
    std::vector<std::int32_t> fed;  // what the draft cache holds for it
  };
  struct work {
    draft_job* job;
    std::span<const std::int32_t> pending;  // tokens still to feed before the next draft
  };

  // Brings the request's draft sequence to a prefix of its committed tokens; returns the tokens
  // still to feed (at least the newest one), or nothing when the draft cache cannot hold it.
  std::optional<std::span<const std::int32_t>> sync(draft_job& job) {
    auto it = sequences_.find(job.request);
    if (it == sequences_.end()) {
      const auto created = cache_.create();
      if (created.status != kv_status::ok) return std::nullopt;
      it = sequences_.emplace(job.request, draft_sequence{created.sequence, {}}).first;
    }
    draft_sequence& d = it->second;
    std::size_t common = 0;
    while (common < d.fed.size() && common < job.committed.size() && d.fed[common] == job.committed[common]) ++common;
    common = std::min(common, job.committed.size() - 1);  // the newest token must run to give logits
    if (common < d.fed.size()) {
      if (cache_.truncate(d.sequence, common) != kv_status::ok) {
        forget(job.request);  // deeper than the draft cache rolls back: start the request afresh
        return sync(job);
      }
      d.fed.resize(common);
    }
    return job.committed.subspan(common);
  }

  // One round: the next chunk of every request's pending tokens (at most step_tokens in all) as
  // one forward pass; requests whose pending tokens ran out draft one token, and go on drafting
  // one token per round until they have their count.
  void run(std::vector<work>& active) {
    std::vector<std::int32_t> tokens, positions;
    std::vector<sequence_rows> rows;
    std::vector<work*> in_batch;
    std::size_t budget = step_tokens_;
    for (work& w : active) {
      if (budget == 0) break;
      draft_sequence& d = sequences_.at(w.job->request);
      const auto part = w.pending.first(std::min(budget, w.pending.size()));
      if (cache_.append(d.sequence, part) != kv_status::ok) {
        forget(w.job->request);
        w.job = nullptr;
        continue;
      }
      rows.push_back({d.sequence, tokens.size(), part.size()});
      for (std::size_t i = 0; i < part.size(); ++i) positions.push_back(static_cast<std::int32_t>(d.fed.size() + i));
      tokens.insert(tokens.end(), part.begin(), part.end());
      d.fed.insert(d.fed.end(), part.begin(), part.end());
      w.pending = w.pending.subspan(part.size());
      budget -= part.size();
      in_batch.push_back(&w);
    }
    if (rows.empty()) return;
    const std::size_t vocab = model_.config().vocab;
    logits_.resize(rows.size() * vocab);
    model_.forward(dev_, tokens, positions, rows, cache_, {logits_.data(), {rows.size(), vocab}}, models::logit_rows::last());
    for (std::size_t b = 0; b < in_batch.size(); ++b) {
      work& w = *in_batch[b];
      if (!w.pending.empty()) continue;
      const float* row = logits_.data() + b * vocab;
      const auto next = static_cast<std::int32_t>(std::max_element(row, row + vocab) - row);
      w.job->drafts.push_back(next);
      // The next round feeds this draft, unless it is the last one wanted.
      if (w.job->drafts.size() < w.job->count) w.pending = std::span<const std::int32_t>(&w.job->drafts.back(), 1);
    }
  }

  Device& dev_;
  Model model_;
  Cache cache_;
  std::size_t step_tokens_;
  std::map<std::uint64_t, draft_sequence> sequences_;
  std::vector<float> logits_;
};

}  // namespace strix::serve
