// The continuous-batching scheduler on the fixture models: several greedy requests at once, with
// chunked prefill beside decodes, queueing beyond max_sequences and preemption on a tight KV
// budget, must each produce the tokens plain greedy decoding gives alone — without speculation and
// with per-request speculation from n-gram lookup, a draft model equal to the target (acceptance
// near 100 %) and a different draft model (near 0 %), on Gemma 4 (sliding windows, shared KV) and
// Qwen3.5 (Gated DeltaNet states rolled back with the KV).
#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <strix/device/reference/reference.hpp>
#include <strix/sample/sampler.hpp>

#include "models/fixture_runners.hpp"
#include "serve/generation_scheduler.hpp"
#include "serve/sequence_drafter.hpp"

using namespace strix;
using namespace strix::testing;

namespace {

using device = reference;
constexpr std::size_t max_sequences = 3, max_draft = 6, context = 96;

std::vector<std::int32_t> random_prompt(std::uint32_t seed, std::size_t length) {
  std::mt19937 rng(seed);
  std::vector<std::int32_t> p(length);
  // A repeated phrase in half the prompts gives the n-gram drafter something to find.
  for (std::size_t i = 0; i < length; ++i) p[i] = static_cast<std::int32_t>(seed % 2 == 0 && i >= 8 ? p[i % 8] : 3 + rng() % 500);
  return p;
}

template <class Runner>
std::vector<std::int32_t> plain_greedy(device& dev, Runner& runner, const std::vector<std::int32_t>& prompt, std::size_t n) {
  REQUIRE(runner.truncate(0) == 0);
  std::vector<std::int32_t> out;
  std::vector<float> logits = runner.run(dev, prompt, false);
  while (out.size() < n) {
    out.push_back(sample::sampler::argmax(logits));
    logits = runner.run(dev, std::span(&out.back(), 1), false);
  }
  return out;
}

// The tokens a stream delivered, waiting for its finish.
std::vector<std::int32_t> collect(serve::generation_stream& stream, serve::finish_reason& why) {
  std::vector<std::int32_t> tokens;
  for (;;) {
    const auto event = stream.pop(std::chrono::milliseconds(100));
    if (!event) continue;
    if (event->finish != serve::finish_reason::none) {
      why = event->finish;
      return tokens;
    }
    tokens.push_back(event->token);
  }
}

enum class drafting { none, ngram, self, other };

// The fixture models with caches for max_sequences sequences at `budget_share` of the full context
// each (0.4 forces preemptions here; 0.3 cannot hold the longest request).
struct gemma4_parts {
  tiny_gemma4<device> model;
  paged_kv_cache cache;
};
gemma4_parts open_gemma4(const char* name, double budget_share = 1.0) {
  models::gemma4_files files = models::open_gemma4(data_path(name));
  models::gemma4_weights weights = models::gemma4_weights::load(*files.source, files.config);
  tiny_gemma4<device> model(std::move(files.config), std::move(weights));
  const kv_layout layout = model.cache_layout({kv_type::f32, 16, max_sequences, 16, max_draft + 1});
  const auto budget = static_cast<std::size_t>(budget_share * static_cast<double>(max_sequences * layout.budget_for_context(context)));
  return {std::move(model), paged_kv_cache(layout, budget)};
}

struct qwen35_parts {
  models::qwen35<device> model;
  models::qwen35_cache cache;
};
qwen35_parts open_qwen35(const char* name, double budget_share = 1.0) {
  models::qwen35_files files = models::open_qwen35(data_path(name));
  models::qwen35_weights weights = models::qwen35_weights::load(*files.source, files.config);
  const kv_cache_options options{kv_type::f32, 16, max_sequences, 16, max_draft + 1};
  const auto budget = static_cast<std::size_t>(
      budget_share * static_cast<double>(max_sequences * models::qwen35_cache::layout_for(files.config, options).budget_for_context(context)));
  models::qwen35_cache cache(files.config, options, budget);
  return {models::qwen35<device>(std::move(files.config), std::move(weights)), std::move(cache)};
}

// Runs `prompts` through a scheduler over `parts` (all submitted at once, greedy, `length` tokens
// each) and checks each against `expected`; returns the scheduler's metrics.
template <class Parts>
serve::scheduler_metrics run_all(Parts& parts, serve::sequence_drafter* drafter, const std::vector<std::vector<std::int32_t>>& prompts,
                                 const std::vector<std::vector<std::int32_t>>& expected, std::size_t length) {
  device dev;
  using model_type = decltype(parts.model);
  using cache_type = decltype(parts.cache);
  serve::generation_scheduler<device, model_type, cache_type> scheduler(
      parts.model, parts.cache, {max_sequences, 16, context, {.max_draft = max_draft, .first_draft = 3}}, drafter);
  std::vector<std::shared_ptr<serve::generation_stream>> streams;
  for (const auto& prompt : prompts) {
    streams.push_back(std::make_shared<serve::generation_stream>());
    scheduler.submit({prompt, sample::sampling_params{.temperature = 0.0f}, length, {}, streams.back()});
  }
  std::thread model_thread([&] { scheduler.run(dev); });
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    serve::finish_reason why = serve::finish_reason::none;
    const std::vector<std::int32_t> got = collect(*streams[i], why);
    INFO("request " << i);
    CHECK(why == serve::finish_reason::length);
    CHECK(got == expected[i]);
  }
  scheduler.stop();
  model_thread.join();
  return scheduler.metrics();
}

template <class Open, class OpenOther, class OpenRunner>
void check_model(const char* name, Open&& open, OpenOther&& open_other, OpenRunner&& open_runner) {
  device dev;
  const std::size_t length = 40;
  std::vector<std::vector<std::int32_t>> prompts, expected;
  auto runner = open_runner();
  for (std::uint32_t seed = 1; seed <= 5; ++seed) {
    prompts.push_back(random_prompt(seed, 6 + 9 * seed));  // 15…51 tokens: prefills of 1…4 chunks, 91 with the reply
    expected.push_back(plain_greedy(dev, runner, prompts.back(), length));
  }
  for (const drafting kind : {drafting::none, drafting::ngram, drafting::self, drafting::other}) {
    for (const double budget_share : {1.0, 0.4}) {
      INFO(name << ", drafting " << static_cast<int>(kind) << ", KV budget share " << budget_share);
      auto parts = open(budget_share);
      std::unique_ptr<serve::sequence_drafter> drafter;
      if (kind == drafting::ngram) drafter = std::make_unique<serve::ngram_sequence_drafter>();
      if (kind == drafting::self || kind == drafting::other) {
        auto draft = kind == drafting::self ? open(1.0) : open_other();
        using model_type = decltype(draft.model);
        using cache_type = decltype(draft.cache);
        drafter = std::make_unique<serve::model_sequence_drafter<device, model_type, cache_type>>(dev, std::move(draft.model), std::move(draft.cache), 16);
      }
      const serve::scheduler_metrics m = run_all(parts, drafter.get(), prompts, expected, length);
      if (budget_share < 1.0) CHECK(m.preemptions > 0);
      if (kind == drafting::none) CHECK(m.draft_tokens == 0);
      if (kind == drafting::ngram) CHECK(m.draft_tokens > 0);
      const double acceptance = static_cast<double>(m.accepted_tokens) / static_cast<double>(std::max<std::uint64_t>(1, m.draft_tokens));
      if (kind == drafting::self) CHECK(acceptance > 0.9);
      if (kind == drafting::other) CHECK(acceptance < 0.3);
      // Fewer target steps than tokens when the drafts are good.
      if (kind == drafting::self) CHECK(m.steps < 5 * length);
    }
  }
}

}  // namespace

TEST_CASE("scheduler: concurrent greedy requests equal plain greedy, with and without per-request speculation (Gemma 4)") {
  check_model(
      "gemma4-e-tiny", [](double share) { return open_gemma4("gemma4-e-tiny", share); }, [] { return open_gemma4("gemma4-moe-tiny"); },
      [] { return open_gemma4_runner<device>(data_path("gemma4-e-tiny")); });
}

TEST_CASE("scheduler: concurrent greedy requests equal plain greedy, with and without per-request speculation (Qwen3.5)") {
  check_model(
      "qwen35-tiny", [](double share) { return open_qwen35("qwen35-tiny", share); }, [] { return open_qwen35("qwen35-moe-tiny"); },
      [] { return open_qwen35_runner<device>(data_path("qwen35-tiny"), 0); });
}

TEST_CASE("scheduler: sampled speculative requests finish with the requested length") {
  device dev;
  auto parts = open_gemma4("gemma4-e-tiny");
  serve::ngram_sequence_drafter drafter;
  serve::generation_scheduler<device, tiny_gemma4<device>, paged_kv_cache> scheduler(
      parts.model, parts.cache, {max_sequences, 16, context, {.max_draft = max_draft, .first_draft = 3}}, &drafter);
  std::vector<std::shared_ptr<serve::generation_stream>> streams;
  for (std::uint32_t seed = 2; seed <= 8; seed += 2) {
    streams.push_back(std::make_shared<serve::generation_stream>());
    scheduler.submit({random_prompt(seed, 30), sample::sampling_params{.temperature = 0.8f, .seed = seed}, 20, {}, streams.back()});
  }
  std::thread model_thread([&] { scheduler.run(dev); });
  for (auto& stream : streams) {
    serve::finish_reason why = serve::finish_reason::none;
    const auto tokens = collect(*stream, why);
    CHECK(why == serve::finish_reason::length);
    CHECK(tokens.size() == 20);
    CHECK(std::all_of(tokens.begin(), tokens.end(), [&](std::int32_t t) { return t >= 0 && static_cast<std::size_t>(t) < parts.model.config().vocab; }));
  }
  scheduler.stop();
  model_thread.join();
  CHECK(scheduler.metrics().draft_tokens > 0);
}
