// Greedy speculative decoding must give plain greedy decoding's tokens, exactly, on the real model
// code: Gemma 4 (sliding window 8 and 16, KV sharing, MoE) and Qwen3.5 (Gated DeltaNet states,
// MoE) fixture models as targets; drafts from the same model (acceptance ~100 %), another model
// (~0 %), the same model with a share of its proposals corrupted (in between), and n-gram lookup;
// draft lengths 1…8; and two consecutive requests on the same sessions, the second continuing the
// first conversation (the failure mode where acceptance or state goes wrong after one request).
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <strix/device/reference/reference.hpp>
#include <strix/spec/speculative_decoder.hpp>

#include "models/fixture_runners.hpp"
#include "models/spec_session.hpp"

using namespace strix;
using namespace strix::testing;
using spec::token_id;

namespace {

using device = reference;

template <class Runner>
std::vector<token_id> plain_greedy(device& dev, Runner& runner, const std::vector<token_id>& prompt, std::size_t n) {
  REQUIRE(runner.truncate(0) == 0);
  std::vector<token_id> out;
  std::vector<float> logits = runner.run(dev, prompt, false);
  while (out.size() < n) {
    out.push_back(sample::sampler::argmax(logits));
    logits = runner.run(dev, std::span(&out.back(), 1), false);
  }
  return out;
}

std::vector<token_id> random_prompt(std::uint32_t seed, std::size_t length) {
  std::mt19937 rng(seed);
  std::vector<token_id> p(length);
  for (auto& t : p) t = static_cast<token_id>(3 + rng() % 500);
  return p;
}

enum class draft_kind { self, other, corrupted, ngram };

struct counters {
  std::size_t cases = 0;
  std::size_t drafted[4] = {};
  std::size_t accepted[4] = {};
  [[nodiscard]] double acceptance(draft_kind kind) const {
    const auto i = static_cast<std::size_t>(kind);
    return static_cast<double>(accepted[i]) / static_cast<double>(std::max<std::size_t>(1, drafted[i]));
  }
};

// Sanitizer builds run every target and drafter on one prompt; the release build runs all four
// prompts (512 cases).
#if defined(__SANITIZE_ADDRESS__)
constexpr std::uint32_t prompt_count = 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr std::uint32_t prompt_count = 1;
#else
constexpr std::uint32_t prompt_count = 4;
#endif
#else
constexpr std::uint32_t prompt_count = 4;
#endif

// Runs every drafter and draft length on one target; `open(max_rollback)` opens a runner of the
// target model, `open_other` one of a different model with the same vocabulary.
template <class OpenTarget, class OpenOther>
void check_target(const std::string& name, OpenTarget&& open, OpenOther&& open_other, counters& total) {
  device dev;
  const std::size_t first_length = 64;
  const std::size_t second_length = 16;
  auto plain_runner = open(0);
  auto target_runner = open(9);
  auto self_runner = open(9);
  auto other_runner = open_other();
  models::spec_session target(dev, target_runner);
  models::spec_session self(dev, self_runner);
  models::spec_session other(dev, other_runner);

  for (std::uint32_t prompt_seed = 11; prompt_seed < 11 + prompt_count; ++prompt_seed) {
    // The second request continues the first conversation: prompt + reply + new user tokens.
    const auto prompt = random_prompt(prompt_seed, 12);
    const auto expected_first = plain_greedy(dev, plain_runner, prompt, first_length);
    std::vector<token_id> second_prompt = prompt;
    second_prompt.insert(second_prompt.end(), expected_first.begin(), expected_first.end());
    const auto more = random_prompt(prompt_seed + 100, 6);
    second_prompt.insert(second_prompt.end(), more.begin(), more.end());
    const auto expected_second = plain_greedy(dev, plain_runner, second_prompt, second_length);

    for (const draft_kind kind : {draft_kind::self, draft_kind::other, draft_kind::corrupted, draft_kind::ngram}) {
      for (std::size_t k = 1; k <= 8; ++k) {
        INFO(name << " prompt " << prompt_seed << " drafter " << static_cast<int>(kind) << " k " << k);
        spec::speculative_decoder decoder(target, sample::sampler({.temperature = 0.0f}),
                                          {.max_draft = k, .adaptive = k == 8, .first_draft = k});
        spec::model_drafter self_drafter(self, sample::sampler({.temperature = 0.0f}));
        spec::model_drafter other_drafter(other, sample::sampler({.temperature = 0.0f}));
        std::mt19937 corrupt(static_cast<std::uint32_t>(k * 31 + prompt_seed));
        const spec::ngram_drafter ngram(1, 3);
        const auto propose = [&](std::span<const token_id> committed, std::size_t n, bool with_q, std::vector<float>& q) {
          if (kind == draft_kind::ngram) return ngram.propose(committed, n);
          auto drafts = kind == draft_kind::other ? other_drafter.propose(committed, n, with_q, q)
                                                  : self_drafter.propose(committed, n, with_q, q);
          if (kind == draft_kind::corrupted) {
            for (auto& t : drafts) {
              if (corrupt() % 3 == 0) t = static_cast<token_id>((t + 1 + corrupt() % 500) % 512);
            }
          }
          return drafts;
        };
        const auto first = decoder.generate(prompt, first_length, {}, propose);
        REQUIRE(first == expected_first);
        const auto second = decoder.generate(second_prompt, second_length, {}, propose);
        REQUIRE(second == expected_second);
        total.cases += 1;
        total.drafted[static_cast<std::size_t>(kind)] += decoder.stats().drafted;
        total.accepted[static_cast<std::size_t>(kind)] += decoder.stats().accepted;
      }
    }
  }
}

}  // namespace

TEST_CASE("greedy speculative decoding equals plain greedy decoding on Gemma 4 and Qwen3.5 fixture models") {
  counters total;
  const auto gemma = [](const char* name) { return [name](std::size_t rollback) { return open_gemma4_runner<device>(data_path(name), rollback); }; };
  const auto qwen = [](const char* name) { return [name](std::size_t rollback) { return open_qwen35_runner<device>(data_path(name), rollback); }; };
  check_target("gemma4-e-tiny", gemma("gemma4-e-tiny"), [] { return open_qwen35_runner<device>(data_path("qwen35-tiny"), 9); }, total);
  check_target("gemma4-moe-tiny", gemma("gemma4-moe-tiny"), [] { return open_gemma4_runner<device>(data_path("gemma4-e-tiny"), 9); }, total);
  check_target("qwen35-tiny", qwen("qwen35-tiny"), [] { return open_gemma4_runner<device>(data_path("gemma4-moe-tiny"), 9); }, total);
  check_target("qwen35-moe-tiny", qwen("qwen35-moe-tiny"), [] { return open_qwen35_runner<device>(data_path("qwen35-tiny"), 9); }, total);
  CHECK(total.cases == 4 * prompt_count * 4 * 8);
  // The drafters span the acceptance range the property is meant to cover.
  INFO("acceptance: self " << total.acceptance(draft_kind::self) << ", other " << total.acceptance(draft_kind::other)
                           << ", corrupted " << total.acceptance(draft_kind::corrupted) << ", n-gram "
                           << total.acceptance(draft_kind::ngram));
  CHECK(total.acceptance(draft_kind::self) > 0.95);
  CHECK(total.acceptance(draft_kind::other) < 0.2);
  CHECK(total.acceptance(draft_kind::corrupted) > 0.2);
  CHECK(total.acceptance(draft_kind::corrupted) < 0.8);
  WARN("speculative cases " << total.cases << "; acceptance: self " << total.acceptance(draft_kind::self) << ", other "
                            << total.acceptance(draft_kind::other) << ", corrupted " << total.acceptance(draft_kind::corrupted)
                            << ", n-gram " << total.acceptance(draft_kind::ngram));
}
