#include <cmath>
#include <map>
#include <vector>

#include <catch2/catch.hpp>

#include <strix/spec/speculative_decoder.hpp>

using namespace strix;
using namespace strix::spec;

TEST_CASE("greedy verify keeps the matching prefix and emits the target's next token") {
  CHECK(verify_greedy(std::vector<token_id>{5, 6, 7}, std::vector<token_id>{5, 6, 7, 9}).accepted == 3);
  CHECK(verify_greedy(std::vector<token_id>{5, 6, 7}, std::vector<token_id>{5, 6, 7, 9}).next == 9);
  const auto r = verify_greedy(std::vector<token_id>{5, 6, 7}, std::vector<token_id>{5, 1, 7, 9});
  CHECK(r.accepted == 1);
  CHECK(r.next == 1);
  CHECK(verify_greedy({}, std::vector<token_id>{4}).next == 4);
  CHECK_THROWS(verify_greedy(std::vector<token_id>{1}, std::vector<token_id>{1}));
}

TEST_CASE("sampled verify: equal distributions always accept, disjoint ones never do") {
  sample::sampler rng({.seed = 3});
  std::vector<float> residual;
  const std::vector<float> p_rows{0.2f, 0.8f, 0.0f, 0.1f, 0.1f, 0.8f};  // k = 1: two rows over 3 tokens
  const std::vector<float> q_same{0.2f, 0.8f, 0.0f};
  for (int i = 0; i < 100; ++i) CHECK(verify_sampled(std::vector<token_id>{1}, p_rows, q_same, 3, rng, residual).accepted == 1);
  const std::vector<float> q_other{0.0f, 0.0f, 1.0f};
  for (int i = 0; i < 100; ++i) {
    const auto r = verify_sampled(std::vector<token_id>{2}, p_rows, q_other, 3, rng, residual);
    CHECK(r.accepted == 0);
    CHECK(r.next != 2);  // the residual max(0, p - q) has no mass on the rejected token
  }
  CHECK_THROWS(verify_sampled(std::vector<token_id>{1}, q_same, q_same, 3, rng, residual));
  CHECK_THROWS(verify_sampled(std::vector<token_id>{7}, p_rows, q_same, 3, rng, residual));
}

TEST_CASE("the n-gram drafter proposes what followed the latest earlier occurrence of the suffix") {
  const ngram_drafter d(1, 3);
  const std::vector<token_id> h{1, 2, 3, 4, 9, 1, 2, 3, 5, 7, 1, 2, 3};
  CHECK(d.propose(h, 2) == std::vector<token_id>{5, 7});  // "1 2 3" last seen before 5 7
  CHECK(d.propose(std::vector<token_id>{4, 5, 6}, 3).empty());
  CHECK(d.propose(std::vector<token_id>{8}, 3).empty());
  CHECK(d.propose(std::vector<token_id>{}, 3).empty());
  CHECK(d.propose(std::vector<token_id>{6, 6, 6}, 4) == std::vector<token_id>{6});
}

namespace {

// A toy language model over 5 tokens whose logits depend on the last two tokens; `variant`
// changes the function (a different model for drafting).
struct toy_session {
  int variant = 0;
  std::vector<token_id> tokens;

  std::vector<float> logits_after(std::size_t end) const {
    const int a = end >= 2 ? tokens[end - 2] : 7;
    const int b = end >= 1 ? tokens[end - 1] : 3;
    std::vector<float> row(5);
    for (int t = 0; t < 5; ++t) row[static_cast<std::size_t>(t)] = 1.5f * static_cast<float>(std::sin(0.7 * (a * 5 + b * 3 + t * 11) + variant));
    return row;
  }
  std::vector<float> feed(std::span<const token_id> fed, bool all_rows = true) {
    std::vector<float> out;
    for (const token_id t : fed) {
      tokens.push_back(t);
      const auto row = logits_after(tokens.size());
      if (!all_rows) out.clear();
      out.insert(out.end(), row.begin(), row.end());
    }
    return out;
  }
  [[nodiscard]] std::size_t length() const { return tokens.size(); }
  bool truncate(std::size_t n) {
    if (n > tokens.size()) return false;
    tokens.resize(n);
    return true;
  }
  [[nodiscard]] std::size_t vocab() const { return 5; }
};
static_assert(decoding_session<toy_session>);

}  // namespace

// Speculative sampling must leave the output distribution exactly the target's. Over 20,000 seeded
// runs of two generated tokens (25 outcomes), the empirical distribution must pass a chi-square
// test against the exact target distribution at significance 0.001 (critical value 51.18 for 24
// degrees of freedom).
TEST_CASE("speculative sampling reproduces the target's distribution (chi-square)") {
  const sample::sampling_params target_params{.temperature = 0.9f, .top_k = 4};
  const std::vector<token_id> prompt{1, 2};
  // Exact: p(t1 | prompt) * p(t2 | prompt, t1) from the target sampler's own distribution.
  std::vector<double> expected(25, 0.0);
  {
    sample::sampler s(target_params);
    toy_session t;
    t.feed(prompt);
    std::vector<float> p1, p2;
    s.distribution(t.logits_after(2), prompt, p1);
    for (token_id a = 0; a < 5; ++a) {
      toy_session u;
      u.feed(prompt);
      u.feed(std::vector<token_id>{a});
      std::vector<token_id> history{1, 2, a};
      s.distribution(u.logits_after(3), history, p2);
      for (token_id b = 0; b < 5; ++b) expected[static_cast<std::size_t>(a * 5 + b)] = p1[static_cast<std::size_t>(a)] * p2[static_cast<std::size_t>(b)];
    }
  }
  for (const std::size_t k : {1u, 2u, 4u}) {
    std::vector<int> counts(25, 0);
    const int runs = 20000;
    toy_session target;
    toy_session draft{.variant = 2, .tokens = {}};
    for (int run = 0; run < runs; ++run) {
      sample::sampling_params p = target_params;
      p.seed = static_cast<std::uint64_t>(run) * 7919 + k;
      speculative_decoder<toy_session> decoder(target, sample::sampler(p), {.max_draft = k, .adaptive = false, .first_draft = k});
      model_drafter<toy_session> drafter(draft, sample::sampler({.temperature = 1.0f, .seed = static_cast<std::uint64_t>(run) + 1}));
      const auto out = decoder.generate(prompt, 2, {}, [&](auto committed, std::size_t n, bool with_q, std::vector<float>& q) {
        return drafter.propose(committed, n, with_q, q);
      });
      REQUIRE(out.size() == 2);
      ++counts[static_cast<std::size_t>(out[0] * 5 + out[1])];
    }
    double chi2 = 0;
    for (std::size_t i = 0; i < 25; ++i) {
      if (expected[i] == 0) {
        CHECK(counts[i] == 0);
        continue;
      }
      const double e = expected[i] * runs;
      chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    INFO("k " << k << " chi2 " << chi2);
    CHECK(chi2 < 51.18);
  }
}
