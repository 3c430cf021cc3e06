// generation_scheduler: continuous batching over one model and one multi-sequence cache. Requests
// arrive from any thread; one thread runs the steps. Each step admits waiting requests while
// sequences are free (reusing cached prompt prefixes where the cache keeps them), gives every
// decoding sequence one token and the prefilling ones the rest of the step's token budget (oldest
// first, in chunks), runs them as one forward pass, samples each sequence that reached its last
// position, and streams the tokens out. A request is admitted only while the free blocks hold it
// and one more block per running request. When the KV blocks run out anyway, the youngest request is
// preempted — its sequence freed, the request queued first again with its tokens so far — and
// recomputed later, instead of failing anyone.
//
// Speculative decoding per sequence, with a drafter (n-gram lookup or a draft model): each decoding
// request gets drafts appended after its newest token, the target scores them in the same forward
// pass as everyone else's rows, verify keeps the accepted prefix plus one token (greedy, or by
// rejection sampling so that sampled replies keep the target's distribution), and the cache —
// paged KV and recurrent state alike — is truncated to exactly the committed tokens. The draft
// length adapts per request to its acceptance.
//
// Batched rows are computed as a lone row would be (the policies are batch-invariant), so a
// greedy request produces the same tokens whatever runs beside it, with or without speculation.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <strix/core/sequence_rows.hpp>
#include <strix/kv/paged_kv_cache.hpp>
#include <strix/kv/kv_status.hpp>
#include <strix/sample/sampler.hpp>
#include <strix/spec/speculative_decoder.hpp>
#include <strix/spec/verify.hpp>

#include "models/logit_rows.hpp"
#include "serve/generation_stream.hpp"
#include "serve/sequence_drafter.hpp"

namespace strix::serve {

struct generation_request {
  std::vector<std::int32_t> prompt;
  sample::sampling_params sampling;
  std::size_t max_tokens = 16;
  std::vector<std::int32_t> stop_tokens;  // end the reply (not emitted)
  std::shared_ptr<generation_stream> stream;
};

struct scheduler_options {
  std::size_t max_sequences = 8;
  std::size_t step_tokens = 512;  // tokens per forward pass across the batch (the prefill chunk)
  std::size_t context = 4096;     // most tokens one sequence may hold
  // With a drafter: draft lengths per request (the cache's max_rollback must cover max_draft + 1).
  spec::speculation_options speculation{};
};

// Counters and gauges for /metrics (seconds are summed; divide by the counts).
struct scheduler_metrics {
  std::uint64_t requests = 0, finished = 0, cancelled = 0, prompt_tokens = 0, generated_tokens = 0, prefix_hit_tokens = 0, preemptions = 0, steps = 0;
  std::uint64_t draft_tokens = 0, accepted_tokens = 0;  // speculative decoding
  double time_to_first_token_s = 0, time_per_output_token_s = 0;
  std::uint64_t first_tokens = 0, later_tokens = 0;
  std::size_t running = 0, waiting = 0, kv_blocks_in_use = 0, kv_blocks_total = 0;
};

template <class Device, class Model, class Cache>
class generation_scheduler {
 public:
  using clock = std::chrono::steady_clock;

  // `drafter`: speculative decoding for every request (none when null).
  generation_scheduler(Model& model, Cache& cache, scheduler_options options, sequence_drafter* drafter = nullptr)
      : model_(model), cache_(cache), options_(options), drafter_(drafter) {
    if (drafter_ && (options_.speculation.min_draft == 0 || options_.speculation.min_draft > options_.speculation.max_draft)) {
      throw error(error_category::shape, "speculation: draft lengths must satisfy 1 <= min_draft <= max_draft");
    }
  }

  // Thread-safe: queues a request (its prompt must be shorter than the context).
  void submit(generation_request request) {
    {
      const std::lock_guard lock(mutex_);
      submitted_.push_back(std::move(request));
      ++metrics_.requests;
    }
    wake_.notify_one();
  }

  // Runs steps until stop(); sleeps while there is nothing to do.
  void run(Device& dev) {
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !submitted_.empty() || !running_.empty() || !waiting_.empty(); });
        if (stopping_) break;
        for (generation_request& r : submitted_) waiting_.push_back(entry_for(std::move(r)));
        submitted_.clear();
      }
      step(dev);
    }
    for (running_request& r : running_) r.request.stream->push({-1, finish_reason::cancelled, "server stopping"});
  }

  void stop() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
  }

  [[nodiscard]] scheduler_metrics metrics() const {
    const std::lock_guard lock(mutex_);
    return metrics_;
  }

 private:
  struct running_request {
    generation_request request;
    std::vector<std::int32_t> tokens;  // prompt and generated so far
    std::size_t prompt_length = 0;
    std::size_t fed = 0;               // tokens in the cache
    std::size_t generated = 0;
    std::size_t drafts = 0;            // speculative tokens after the newest committed one, this step
    std::size_t draft_length = 0;      // drafts to ask for next
    std::uint64_t order = 0;           // arrival: smaller is older
    std::uint32_t sequence = 0;
    sample::sampler sampler;
    clock::time_point submitted, last_token;
  };

  struct batch_entry {
    running_request* request;
    std::size_t tokens;
  };

  running_request entry_for(generation_request r) {
    running_request e{std::move(r), {}, 0, 0, 0, 0, 0, next_order_++, 0, sample::sampler(sample::sampling_params{}), clock::now(), {}};
    e.draft_length = std::clamp(options_.speculation.first_draft, options_.speculation.min_draft, options_.speculation.max_draft);
    e.tokens = e.request.prompt;
    e.prompt_length = e.tokens.size();
    e.sampler = sample::sampler(e.request.sampling);
    return e;
  }

  void step(Device& dev) {
    drop_cancelled();
    admit();
    if (drafter_) draft();
    std::vector<batch_entry> batch = plan_batch();
    append_or_preempt(batch);
    if (batch.empty()) {
      std::erase_if(running_, [](const running_request& r) { return !holds_sequence(r); });
      publish_gauges();
      return;
    }
    std::vector<std::int32_t> tokens, positions;
    std::vector<sequence_rows> rows;
    std::vector<std::size_t> scored_rows;  // a decoding request's drafts are scored with its newest token
    for (const batch_entry& e : batch) {
      rows.push_back({e.request->sequence, tokens.size(), e.tokens});
      scored_rows.push_back(decoding(*e.request) ? e.request->drafts + 1 : 1);
      for (std::size_t i = 0; i < e.tokens; ++i) {
        tokens.push_back(e.request->tokens[e.request->fed + i]);
        positions.push_back(static_cast<std::int32_t>(e.request->fed + i));
      }
    }
    const std::size_t vocab = model_.config().vocab;
    const models::logit_rows which = models::logit_rows::newest(scored_rows);
    const std::size_t scored = which.count(rows);
    logits_.resize(scored * vocab);
    model_.forward(dev, tokens, positions, rows, cache_, {logits_.data(), {scored, vocab}}, which);
    std::size_t first_logit = 0;
    for (std::size_t b = 0; b < batch.size(); ++b) {
      running_request& r = *batch[b].request;
      const std::span<const float> logits(logits_.data() + first_logit * vocab, scored_rows[b] * vocab);
      first_logit += scored_rows[b];
      r.fed += batch[b].tokens;
      if (r.fed != r.tokens.size()) continue;
      if (r.drafts > 0) {
        verify(r, logits);
      } else {
        emit(r, logits);
      }
    }
    std::erase_if(running_, [](const running_request& r) { return !holds_sequence(r); });
    publish_gauges();
  }

  void drop_cancelled() {
    for (running_request& r : running_) {
      if (r.request.stream->cancelled()) finish(r, finish_reason::cancelled);
    }
    std::erase_if(running_, [](const running_request& r) { return !holds_sequence(r); });
    std::erase_if(waiting_, [](const running_request& r) { return r.request.stream->cancelled(); });
  }

  // The paged attention cache: the cache itself, or the attention part of a hybrid model's cache.
  [[nodiscard]] const paged_kv_cache& attention_cache() const noexcept {
    if constexpr (std::is_same_v<Cache, paged_kv_cache>) {
      return cache_;
    } else {
      return cache_.kv();
    }
  }

  // Whether the global-attention blocks left hold `r` and one more block for every running request
  // (their coming decode steps): admitting beyond that would only preempt someone at once.
  [[nodiscard]] bool has_room_for(const running_request& r) const {
    const paged_kv_cache& kv = attention_cache();
    const std::size_t block = kv.layout().options().block_size;
    for (std::size_t g = 0; g < kv.layout().groups().size(); ++g) {
      if (kv.layout().groups()[g].window != 0) continue;
      const kv_group_stats stats = kv.group_stats(g);
      if ((r.tokens.size() + block) / block + running_.size() > stats.free + stats.evictable) return false;
    }
    return true;
  }

  void admit() {
    while (!waiting_.empty() && running_.size() < options_.max_sequences && (running_.empty() || has_room_for(waiting_.front()))) {
      const auto created = cache_.create();
      if (!created) break;
      running_request r = std::move(waiting_.front());
      waiting_.pop_front();
      r.sequence = created.sequence;
      r.fed = 0;
      if constexpr (requires { cache_.reuse_prefix(r.sequence, std::span<const std::int32_t>(r.tokens), std::size_t{}); }) {
        const std::size_t reused = cache_.reuse_prefix(r.sequence, r.tokens, r.tokens.size() - 1);
        r.fed = reused;
        const std::lock_guard lock(mutex_);
        metrics_.prefix_hit_tokens += reused;
      }
      running_.push_back(std::move(r));
    }
    std::sort(running_.begin(), running_.end(), [](const running_request& a, const running_request& b) { return a.order < b.order; });
  }

  // A request whose only pending tokens are its newest one and its drafts.
  [[nodiscard]] static bool decoding(const running_request& r) noexcept { return r.tokens.size() - r.fed == r.drafts + 1; }

  // Drafts for every decoding request, appended to its tokens: as many as its adaptive length
  // asks, but never past its max_tokens or the context (the step also commits one more token).
  void draft() {
    std::vector<draft_job> jobs;
    std::vector<running_request*> owners;
    for (running_request& r : running_) {
      if (!holds_sequence(r) || !decoding(r)) continue;
      const std::size_t room = std::min(r.request.max_tokens - std::min(r.request.max_tokens, r.generated + 1),
                                        options_.context - std::min(options_.context, r.tokens.size() + 1));
      const std::size_t count = std::min(r.draft_length, room);
      if (count == 0) continue;
      jobs.push_back({r.order, r.tokens, count, {}});
      owners.push_back(&r);
    }
    if (jobs.empty()) return;
    drafter_->propose(jobs);
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      std::vector<std::int32_t>& drafts = jobs[j].drafts;
      drafts.resize(std::min(drafts.size(), jobs[j].count));
      owners[j]->tokens.insert(owners[j]->tokens.end(), drafts.begin(), drafts.end());
      owners[j]->drafts = drafts.size();
    }
  }

  // Every decoding request whole (its newest token and drafts), the rest of the budget to
  // prefills, oldest first.
  std::vector<batch_entry> plan_batch() {
    std::vector<batch_entry> batch;
    std::size_t decoding_tokens = 0;
    for (const running_request& r : running_) decoding_tokens += decoding(r) ? r.drafts + 1 : 0;
    std::size_t budget = options_.step_tokens > decoding_tokens ? options_.step_tokens - decoding_tokens : 0;
    for (running_request& r : running_) {
      const std::size_t pending = r.tokens.size() - r.fed;
      if (decoding(r)) {
        batch.push_back({&r, pending});
      } else if (budget > 0) {
        const std::size_t n = std::min(pending, budget);
        budget -= n;
        batch.push_back({&r, n});
      }
    }
    return batch;
  }

  // Appends each entry's tokens; out of blocks, frees the youngest request holding a sequence (the
  // entry itself when it is the youngest) and requeues it first. Entries are oldest first, so a
  // victim other than the entry has not been appended this step.
  void append_or_preempt(std::vector<batch_entry>& batch) {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      running_request* r = batch[i].request;
      for (;;) {
        const kv_status s = cache_.append(r->sequence, std::span<const std::int32_t>(r->tokens).subspan(r->fed, batch[i].tokens));
        if (s == kv_status::ok) break;
        const auto holders = std::count_if(running_.begin(), running_.end(), [](const running_request& o) { return holds_sequence(o); });
        if (s != kv_status::out_of_blocks || holders == 1) {
          finish(*r, finish_reason::error, "the KV cache cannot hold this request (" + std::string(to_string(s)) + ")");
          batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(i--));
          break;
        }
        running_request& victim = *std::max_element(running_.begin(), running_.end(), [](const running_request& a, const running_request& b) {
          return holds_sequence(a) != holds_sequence(b) ? !holds_sequence(a) : a.order < b.order;
        });
        const bool self = &victim == r;
        std::erase_if(batch, [&](const batch_entry& e) { return e.request == &victim; });
        preempt(victim);
        if (self) {
          --i;
          break;
        }
      }
    }
  }

  // Frees the request's sequence and queues it first, to be recomputed (from the prefix cache
  // where its blocks survive). The moved-from entry stays in running_ until the step ends.
  void preempt(running_request& r) {
    cache_.release(r.sequence);
    r.tokens.resize(r.tokens.size() - r.drafts);
    r.drafts = 0;
    if (drafter_) drafter_->forget(r.order);
    running_request requeued = std::move(r);
    requeued.sequence = no_sequence;
    requeued.fed = 0;
    r.sequence = preempted_sequence;
    waiting_.push_front(std::move(requeued));
    const std::lock_guard lock(mutex_);
    ++metrics_.preemptions;
  }

  // Samples the next token of a request whose every position is in the cache.
  void emit(running_request& r, std::span<const float> logits) {
    commit(r, r.sampler.sample(logits, generated_before(r, r.tokens.size())));
  }

  // The request's generated tokens among its first `end` tokens (what penalties look at).
  [[nodiscard]] static std::span<const std::int32_t> generated_before(const running_request& r, std::size_t end) noexcept {
    return {r.tokens.data() + r.prompt_length, end - r.prompt_length};
  }

  // A decoding request's drafts were scored (`logits`: its newest token's row, then one row per
  // draft): keeps the accepted drafts and one more token, and rolls the cache back to exactly the
  // committed tokens. Drafts are one-hot proposals (sequence_drafter), so sampled replies follow
  // the target's distribution.
  void verify(running_request& r, std::span<const float> logits) {
    const std::size_t vocab = model_.config().vocab, d = r.drafts, newest = r.tokens.size() - d - 1;
    const std::span<const std::int32_t> drafts(r.tokens.data() + newest + 1, d);
    spec::verify_result v;
    if (r.sampler.greedy()) {
      choice_.clear();
      for (std::size_t i = 0; i <= d; ++i) choice_.push_back(r.sampler.sample(logits.subspan(i * vocab, vocab), generated_before(r, newest + 1 + i)));
      v = spec::verify_greedy(drafts, choice_);
    } else {
      target_p_.clear();
      for (std::size_t i = 0; i <= d; ++i) {
        r.sampler.distribution(logits.subspan(i * vocab, vocab), generated_before(r, newest + 1 + i), row_);
        target_p_.insert(target_p_.end(), row_.begin(), row_.end());
      }
      draft_q_.assign(d * vocab, 0.0f);
      for (std::size_t i = 0; i < d; ++i) draft_q_[i * vocab + static_cast<std::size_t>(drafts[i])] = 1.0f;
      v = spec::verify_sampled(drafts, target_p_, draft_q_, vocab, r.sampler, residual_);
    }
    std::vector<std::int32_t> committed(drafts.begin(), drafts.begin() + static_cast<std::ptrdiff_t>(v.accepted));
    committed.push_back(v.next);
    const std::size_t keep = newest + 1 + v.accepted;
    if (keep < r.fed) {
      if (const kv_status s = cache_.truncate(r.sequence, keep); s != kv_status::ok) {
        finish(r, finish_reason::error, "speculative rollback failed (" + std::string(to_string(s)) + ")");
        return;
      }
    }
    r.tokens.resize(newest + 1);
    r.fed = keep;
    r.drafts = 0;
    r.draft_length = spec::adapted_draft_length(r.draft_length, d, v.accepted, options_.speculation);
    {
      const std::lock_guard lock(mutex_);
      metrics_.draft_tokens += d;
      metrics_.accepted_tokens += v.accepted;
    }
    for (const std::int32_t t : committed) {
      commit(r, t);
      if (!holds_sequence(r)) break;
    }
  }

  // Sends the request's next token (or finishes it on a stop token, max_tokens or the context).
  void commit(running_request& r, std::int32_t next) {
    const clock::time_point now = clock::now();
    {
      const std::lock_guard lock(mutex_);
      if (r.generated == 0) {
        metrics_.time_to_first_token_s += std::chrono::duration<double>(now - r.submitted).count();
        ++metrics_.first_tokens;
        metrics_.prompt_tokens += r.prompt_length;
      } else {
        metrics_.time_per_output_token_s += std::chrono::duration<double>(now - r.last_token).count();
        ++metrics_.later_tokens;
      }
    }
    r.last_token = now;
    if (std::find(r.request.stop_tokens.begin(), r.request.stop_tokens.end(), next) != r.request.stop_tokens.end()) {
      finish(r, finish_reason::stop);
      return;
    }
    ++r.generated;
    r.request.stream->push({next, finish_reason::none, {}});
    {
      const std::lock_guard lock(mutex_);
      ++metrics_.generated_tokens;
    }
    if (r.generated >= r.request.max_tokens || r.tokens.size() + 1 >= options_.context) {
      finish(r, finish_reason::length);
      return;
    }
    r.tokens.push_back(next);
  }

  void finish(running_request& r, finish_reason why, std::string message = {}) {
    if (holds_sequence(r)) cache_.release(r.sequence);
    if (drafter_) drafter_->forget(r.order);
    r.sequence = finished_sequence;
    r.request.stream->push({-1, why, std::move(message)});
    const std::lock_guard lock(mutex_);
    ++metrics_.finished;
    if (why == finish_reason::cancelled) ++metrics_.cancelled;
  }

  [[nodiscard]] static bool holds_sequence(const running_request& r) noexcept { return r.sequence < preempted_sequence; }

  void publish_gauges() {
    std::size_t in_use = 0, total = 0;
    const paged_kv_cache& kv = attention_cache();
    for (std::size_t g = 0; g < kv.layout().groups().size(); ++g) {
      const kv_group_stats stats = kv.group_stats(g);
      in_use += stats.in_use;
      total += stats.capacity;
    }
    const std::lock_guard lock(mutex_);
    ++metrics_.steps;
    metrics_.running = running_.size();
    metrics_.waiting = waiting_.size() + submitted_.size();
    metrics_.kv_blocks_in_use = in_use;
    metrics_.kv_blocks_total = total;
  }

  // Sequence ids that mark a request without one: not admitted yet, moved back to the queue in
  // this step, finished in this step.
  static constexpr std::uint32_t no_sequence = 0xffffffffu;
  static constexpr std::uint32_t finished_sequence = 0xfffffffeu;
  static constexpr std::uint32_t preempted_sequence = 0xfffffffdu;

  Model& model_;
  Cache& cache_;
  scheduler_options options_;
  sequence_drafter* drafter_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<generation_request> submitted_;  // guarded by mutex_
  std::deque<running_request> waiting_;
  std::deque<running_request> running_;        // oldest first
  std::uint64_t next_order_ = 0;
  std::vector<float> logits_;
  std::vector<std::int32_t> choice_;                       // verify's scratch
  std::vector<float> target_p_, draft_q_, row_, residual_;
  scheduler_metrics metrics_;                  // guarded by mutex_
};

}  // namespace strix::serve
