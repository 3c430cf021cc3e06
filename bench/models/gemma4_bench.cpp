// Gemma 4 end to end on the zen5 policy with random weights at real shapes, llama-bench style:
// prefill of 512 tokens and decode of 128 tokens after it, 2 threads, f16 KV.
//   e4b:      the gemma4-e4b preset (models/presets.hpp: 42 layers, hidden 2560, PLE 256, KV
//             shared by the last 18 layers, double-wide MLP there, window 512, vocab 262144);
//   26b-a4b:  the gemma4-26b-a4b preset (hidden 2816, 128 experts × 704 top-8 beside a 2112 MLP,
//             K=V full layers with 2 kv heads, window 1024) cut to 6 of its 30 layers (5 sliding,
//             1 full) so the weights fit this machine; per-layer figures scale by 5.
// Weights are random_weights in the q4_k_m scheme (models/weight_scheme.hpp). Decode is also given
// as the weight bytes it reads per token (memory_plan's decode_weight_bytes: every matrix but one
// row of the per-layer embedding table, and for MoE only the 8 routed experts) over the time,
// against the measured read bandwidth. `strix bench` measures the same end to end; this bench
// adds the cost of speculative verification passes, and (e4b_speculative) end-to-end speculative
// decoding against plain greedy decoding on a repetitive prompt.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <strix/device/zen5/zen5.hpp>  // first: brings <immintrin.h> with GCC 12's false warnings silenced

#include <nlohmann/json.hpp>

#include "common/bandwidth_probe.hpp"
#include "models/gemma4.hpp"
#include "models/memory_plan.hpp"
#include "models/presets.hpp"
#include "models/random_weights.hpp"
#include "models/sequence_runner.hpp"
#include "models/spec_session.hpp"

using namespace strix;
using namespace strix::models;
using strix::bench::bandwidth_for;

namespace {

// The 26B-A4B preset cut to its first 6 layers (5 sliding, 1 full).
nlohmann::json a4b_6_layers() {
  nlohmann::json c = find_preset("gemma4-26b-a4b").config;
  c["num_hidden_layers"] = 6;
  c["layer_types"] = std::vector<nlohmann::json>(c["layer_types"].begin(), c["layer_types"].begin() + 6);
  return c;
}

// With `verify`: after the decode, the cost of one speculative verification pass over k + 1 tokens
// (all rows' logits, then the cache truncated back), k = 2, 4, 8, as a multiple of a decode step.
void run(benchmark::State& state, const nlohmann::json& json, bool verify = false) {
  const gemma4_config config = gemma4_config::from_json(json, "preset");
  const weight_scheme scheme = weight_scheme::named("q4_k_m");
  random_weights source(tensor_naming::gguf, scheme);
  gemma4_weights weights = gemma4_weights::load(source, config);
  weight_census census(tensor_naming::gguf, scheme);
  (void)gemma4_weights::load(census, config);
  const auto read_per_token = static_cast<double>(plan_gemma4(config, census, {}).decode_weight_bytes);
  gemma4<zen5, 512, 1024> model(config, std::move(weights));
  thread_pool pool(2);
  zen5 dev(pool);
  constexpr std::size_t prompt = 512, generated = 128;
  constexpr std::size_t max_verify = 9;
  const kv_layout layout = model.cache_layout({kv_type::f16, 16, 1, prompt, max_verify});
  std::vector<std::int32_t> tokens(prompt);
  std::mt19937 rng(1);
  for (auto& t : tokens) t = static_cast<std::int32_t>(rng() % config.vocab);
  std::vector<float> logits(config.vocab * max_verify);
  double prefill_s = 0, decode_s = 0;
  double verify_s[3] = {};
  constexpr std::size_t verify_ks[3] = {2, 4, 8};
  constexpr std::size_t verify_repeats = 8;
  for (auto _ : state) {
    paged_kv_cache cache(layout, layout.budget_for_context(prompt + generated + max_verify));
    const kv_sequence_id seq = cache.create().sequence;
    auto step = [&](std::span<const std::int32_t> part, bool all_rows = false) {
      const std::size_t first = cache.length(seq);
      if (cache.append(seq, part) != kv_status::ok) state.SkipWithError("KV append failed");
      std::vector<std::int32_t> positions(part.size());
      for (std::size_t i = 0; i < part.size(); ++i) positions[i] = static_cast<std::int32_t>(first + i);
      const sequence_rows rows{seq, 0, part.size()};
      const std::size_t n = all_rows ? part.size() : 1;
      model.forward(dev, part, positions, std::span(&rows, 1), cache, {logits.data(), {n, config.vocab}},
                    all_rows ? models::logit_rows::all() : models::logit_rows::last());
      return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.begin() + static_cast<std::ptrdiff_t>(config.vocab)) -
                                       logits.begin());
    };
    auto start = std::chrono::steady_clock::now();
    std::int32_t next = step(tokens);
    prefill_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    start = std::chrono::steady_clock::now();
    for (std::size_t n = 0; n < generated; ++n) next = step(std::span(&next, 1));
    decode_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!verify) continue;
    const std::size_t length = cache.length(seq);
    for (std::size_t i = 0; i < 3; ++i) {
      const std::vector<std::int32_t> drafts(verify_ks[i] + 1, next);
      start = std::chrono::steady_clock::now();
      for (std::size_t r = 0; r < verify_repeats; ++r) {
        step(drafts, true);
        if (cache.truncate(seq, length) != kv_status::ok) state.SkipWithError("truncate failed");
      }
      verify_s[i] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  }
  const double iterations = static_cast<double>(state.iterations());
  state.counters["pp512_tok/s"] = prompt * iterations / prefill_s;
  state.counters["tg128_tok/s"] = generated * iterations / decode_s;
  state.counters["GB_per_token"] = read_per_token / 1e9;
  state.counters["decode_of_bw"] = read_per_token * generated * iterations / decode_s / bandwidth_for(2);
  if (verify) {
    const double decode_step = decode_s / (generated * iterations);
    for (std::size_t i = 0; i < 3; ++i) {
      state.counters["verify_k" + std::to_string(verify_ks[i]) + "_x_decode"] = verify_s[i] / (verify_repeats * iterations) / decode_step;
    }
  }
}

// E4B shapes, a repetitive prompt (a 32-token phrase four times) and 64 greedy tokens: tokens/s
// of plain decoding, of n-gram drafting, and of self-drafting (a second copy of the same weights
// as the draft, so every draft is accepted: the loop's overhead at full acceptance, with a draft
// as costly as the target). Prefills are outside the timings; the outputs must be equal.
void BM_gemma4_e4b_speculative(benchmark::State& state) {
  using model_type = gemma4<zen5, 512, 1024>;
  using runner_type = sequence_runner<zen5, model_type, paged_kv_cache>;
  constexpr std::size_t max_draft = 8, phrase = 32, prompt_length = 4 * phrase, generated = 64;
  const gemma4_config config = gemma4_config::from_json(find_preset("gemma4-e4b").config, "preset");
  const auto open = [&] {
    const random_weights source(tensor_naming::gguf, weight_scheme::named("q4_k_m"));
    model_type model(config, gemma4_weights::load(source, config));
    const kv_layout layout = model.cache_layout({kv_type::f16, 16, 1, prompt_length, max_draft + 1});
    return runner_type(std::move(model), paged_kv_cache(layout, layout.budget_for_context(prompt_length + generated + max_draft + 1)),
                       prompt_length);
  };
  thread_pool pool(2);
  zen5 dev(pool);
  runner_type target_runner = open();
  runner_type draft_runner = open();
  spec_session target(dev, target_runner);
  spec_session draft(dev, draft_runner);
  std::vector<std::int32_t> prompt(prompt_length);
  std::mt19937 rng(7);
  for (std::size_t i = 0; i < prompt_length; ++i) prompt[i] = i < phrase ? static_cast<std::int32_t>(rng() % config.vocab) : prompt[i % phrase];

  const sample::sampler greedy({.temperature = 0.0f});
  const spec::speculation_options options{.max_draft = max_draft, .first_draft = 4};
  const spec::ngram_drafter lookup(1, 4);
  spec::model_drafter self(draft, greedy);
  const auto no_drafts = [](std::span<const std::int32_t>, std::size_t, bool, std::vector<float>&) { return std::vector<std::int32_t>{}; };
  const auto ngram = [&](std::span<const std::int32_t> committed, std::size_t k, bool, std::vector<float>&) { return lookup.propose(committed, k); };
  const auto self_draft = [&](std::span<const std::int32_t> committed, std::size_t k, bool with_q, std::vector<float>& q) {
    return self.propose(committed, k, with_q, q);
  };
  // Generates with `propose`, the target (and draft) already holding the prompt; seconds, output, stats.
  const auto timed = [&](const auto& propose, std::vector<std::int32_t>& out) {
    spec::speculative_decoder decoder(target, greedy, options);
    decoder.prefill(prompt);
    std::vector<float> q;
    (void)self.propose(prompt, 1, false, q);  // the draft's prefill, untimed
    const auto start = std::chrono::steady_clock::now();
    out = decoder.generate(prompt, generated, {}, propose);
    return std::pair(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), decoder.stats());
  };
  for (auto _ : state) {
    std::vector<std::int32_t> plain_out, ngram_out, self_out;
    const auto [plain_s, plain_stats] = timed(no_drafts, plain_out);
    const auto [ngram_s, ngram_stats] = timed(ngram, ngram_out);
    const auto [self_s, self_stats] = timed(self_draft, self_out);
    if (ngram_out != plain_out || self_out != plain_out) state.SkipWithError("speculative output differs from plain greedy decoding");
    state.counters["plain_tok/s"] = static_cast<double>(plain_out.size()) / plain_s;
    state.counters["ngram_tok/s"] = static_cast<double>(ngram_out.size()) / ngram_s;
    state.counters["ngram_acceptance"] = ngram_stats.acceptance();
    state.counters["ngram_tokens_per_step"] = ngram_stats.tokens_per_step();
    state.counters["self_tok/s"] = static_cast<double>(self_out.size()) / self_s;
    state.counters["self_acceptance"] = self_stats.acceptance();
    state.counters["self_tokens_per_step"] = self_stats.tokens_per_step();
    (void)plain_stats;
  }
}

void BM_gemma4_e4b(benchmark::State& state) { run(state, find_preset("gemma4-e4b").config, true); }
void BM_gemma4_26b_a4b_6_layers(benchmark::State& state) { run(state, a4b_6_layers()); }
BENCHMARK(BM_gemma4_e4b)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
BENCHMARK(BM_gemma4_26b_a4b_6_layers)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
BENCHMARK(BM_gemma4_e4b_speculative)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
