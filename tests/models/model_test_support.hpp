// What the model tests share: the transformers outputs of a fixture model (expected.safetensors:
// prompt tokens, logits of every prompt position, greedy continuation), the logits comparison, and
// the check every model makes against them.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <strix/io/safetensors_reader.hpp>

#include "block_fixture.hpp"
#include "test_data.hpp"

namespace strix::testing {

struct expected_run {
  std::vector<std::int32_t> tokens, greedy;
  std::vector<float> logits;  // [tokens][vocab]

  explicit expected_run(const std::string& name) {
    const auto file = safetensors_file::open(data_path((name + "/expected.safetensors").c_str()));
    for (float t : f32_tensor(file, "tokens")) tokens.push_back(static_cast<std::int32_t>(t));
    for (float t : f32_tensor(file, "greedy")) greedy.push_back(static_cast<std::int32_t>(t));
    logits = f32_tensor(file, "logits");
  }
  [[nodiscard]] std::size_t vocab() const { return logits.size() / tokens.size(); }
};

// `actual` against rows [first, first + rows) of the expected logits: the largest difference,
// against the largest expected logit.
inline void require_rows_near(const std::vector<float>& actual, const expected_run& e, std::size_t first, float relative) {
  REQUIRE(first * e.vocab() + actual.size() <= e.logits.size());
  float scale = 0;
  for (float x : e.logits) scale = std::max(scale, std::abs(x));
  float worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const float d = std::abs(actual[i] - e.logits[first * e.vocab() + i]);
    if (d > worst) worst = d, at = i;
  }
  INFO("largest difference " << worst << " at row " << first + at / e.vocab() << ", scale " << scale);
  REQUIRE(worst <= relative * scale);
}

// Every prompt position's logits.
inline void require_all_rows_near(const std::vector<float>& actual, const expected_run& e, float relative) {
  REQUIRE(actual.size() == e.logits.size());
  require_rows_near(actual, e, 0, relative);
}

// A fresh runner from open() (a sequence_runner over the fixture model): the prompt's logits in
// one prefill, and after a prefill of `prefill` tokens then one token at a time; then the greedy
// continuation from the full prefill.
template <class Device, class Open>
void check_against_transformers(Device& dev, const expected_run& e, Open&& open, std::size_t prefill, float relative) {
  auto full = open();
  require_all_rows_near(full.run(dev, e.tokens, true), e, relative);

  auto incremental = open();
  std::vector<float> logits = incremental.run(dev, std::span(e.tokens).first(prefill), true);
  for (std::size_t t = prefill; t < e.tokens.size(); ++t) {
    const auto row = incremental.run(dev, std::span(e.tokens).subspan(t, 1), true);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  require_all_rows_near(logits, e, relative);

  std::vector<float> last(e.logits.end() - static_cast<std::ptrdiff_t>(e.vocab()), e.logits.end());
  std::vector<std::int32_t> greedy;
  for (std::size_t n = 0; n < e.greedy.size(); ++n) {
    greedy.push_back(static_cast<std::int32_t>(std::max_element(last.begin(), last.end()) - last.begin()));
    last = full.run(dev, std::span(&greedy.back(), 1), true);
  }
  REQUIRE(greedy == e.greedy);
}

}  // namespace strix::testing
