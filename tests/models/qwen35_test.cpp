// The Qwen3.5 model against transformers' Qwen3_5ForCausalLM and Qwen3_5MoeForCausalLM on tiny
// random models (tests/fixtures/make_qwen35_fixtures.py: 3 Gated DeltaNet layers and 1 gated
// attention layer, an 80-token prompt across the 64-token DeltaNet chunk): logits, incremental
// decode, the 16-token greedy continuation, and rollback of the whole model (KV cache and DeltaNet
// states at once) to every position of a 40-token sequence.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <strix/device/reference/reference.hpp>
#include <strix/device/zen5/zen5.hpp>

#include "device/zen5_test_support.hpp"
#include "models/hf_tensors.hpp"
#include "models/qwen35.hpp"
#include "test_data.hpp"

using namespace strix;
using namespace strix::models;
using namespace strix::testing;

namespace {

struct expected_run {
  std::vector<std::int32_t> tokens, greedy;
  std::vector<float> logits;
  explicit expected_run(const std::string& name) {
    const auto file = safetensors_file::open(data_path((name + "/expected.safetensors").c_str()));
    auto floats = [&](const char* tensor) {
      const auto bytes = file.tensor_data(file.tensor(tensor));
      std::vector<float> v(bytes.size() / sizeof(float));
      std::memcpy(v.data(), bytes.data(), bytes.size());
      return v;
    };
    for (float t : floats("tokens")) tokens.push_back(static_cast<std::int32_t>(t));
    for (float t : floats("greedy")) greedy.push_back(static_cast<std::int32_t>(t));
    logits = floats("logits");
  }
};

template <class Device>
struct session {
  qwen35<Device> model;
  qwen35_cache cache;
  kv_sequence_id seq;

  session(const std::string& name, std::size_t max_rollback)
      : model(load(name)), cache(model.config(), {kv_type::f32, 16, 1, 128, max_rollback},
                                 qwen35_cache::layout_for(model.config(), {kv_type::f32, 16, 1, 128, max_rollback}).budget_for_context(160)),
        seq(cache.create().sequence) {}

  static qwen35<Device> load(const std::string& name) {
    const hf_tensors tensors(data_path(name.c_str()));
    qwen35_config config = qwen35_config::from_json(tensors.config(), name);
    qwen35_weights weights = qwen35_weights::load(tensors, config);
    return qwen35<Device>(std::move(config), std::move(weights));
  }

  std::vector<float> step(Device& dev, std::span<const std::int32_t> tokens) {
    const std::size_t first = cache.length(seq), vocab = model.config().vocab;
    REQUIRE(cache.append(seq, tokens) == kv_status::ok);
    std::vector<std::int32_t> positions(tokens.size());
    for (std::size_t i = 0; i < tokens.size(); ++i) positions[i] = static_cast<std::int32_t>(first + i);
    const sequence_rows rows{seq, 0, tokens.size()};
    std::vector<float> logits(tokens.size() * vocab);
    model.forward(dev, tokens, positions, std::span(&rows, 1), cache, {logits.data(), {tokens.size(), vocab}});
    return logits;
  }
};

// Rows [first, first + rows) of the expected logits, compared by the largest difference against
// the logits' scale.
void require_rows_near(const std::vector<float>& actual, const expected_run& e, std::size_t first, float relative) {
  const std::size_t vocab = e.logits.size() / e.tokens.size();
  float scale = 0;
  for (float x : e.logits) scale = std::max(scale, std::abs(x));
  float worst = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) worst = std::max(worst, std::abs(actual[i] - e.logits[first * vocab + i]));
  INFO("largest difference " << worst << ", scale " << scale << ", rows from " << first);
  REQUIRE(worst <= relative * scale);
}

template <class Device>
void check_model(Device& dev, const std::string& name, float relative) {
  INFO(name << " on " << Device::name);
  const expected_run e(name);
  session<Device> full(name, 0);
  require_rows_near(full.step(dev, e.tokens), e, 0, relative);

  session<Device> incremental(name, 0);
  std::vector<float> logits = incremental.step(dev, std::span(e.tokens).first(30));
  for (std::size_t t = 30; t < e.tokens.size(); ++t) {
    const auto row = incremental.step(dev, std::span(e.tokens).subspan(t, 1));
    logits.insert(logits.end(), row.begin(), row.end());
  }
  require_rows_near(logits, e, 0, relative);

  const std::size_t vocab = full.model.config().vocab;
  std::vector<float> last(e.logits.end() - static_cast<std::ptrdiff_t>(vocab), e.logits.end());
  std::vector<std::int32_t> greedy;
  for (std::size_t n = 0; n < e.greedy.size(); ++n) {
    greedy.push_back(static_cast<std::int32_t>(std::max_element(last.begin(), last.end()) - last.begin()));
    last = full.step(dev, std::span(&greedy.back(), 1));
  }
  REQUIRE(greedy == e.greedy);
}

}  // namespace

TEST_CASE("Qwen3.5 dense matches transformers", "[models][qwen35]") {
  reference ref;
  check_model(ref, "qwen35-tiny", 1e-4f);
  if (!zen5_cpu_ready()) return;
  thread_pool pool(2);
  zen5 fast(pool);
  check_model(fast, "qwen35-tiny", 1e-3f);
}

TEST_CASE("Qwen3.5 MoE (per-expert tensors, shared expert) matches transformers", "[models][qwen35]") {
  reference ref;
  check_model(ref, "qwen35-moe-tiny", 1e-4f);
  if (!zen5_cpu_ready()) return;
  thread_pool pool(2);
  zen5 fast(pool);
  check_model(fast, "qwen35-moe-tiny", 1e-3f);
}

TEST_CASE("Qwen3.5 rolls back to every position of a 40-token sequence exactly", "[models][qwen35][rollback]") {
  reference ref;
  const expected_run e("qwen35-tiny");
  for (std::size_t back_to = 0; back_to <= 40; ++back_to) {
    INFO("rolled back to " << back_to);
    session<reference> s("qwen35-tiny", 40);
    s.step(ref, std::span(e.tokens).first(40));
    REQUIRE(s.cache.truncate(s.seq, back_to) == kv_status::ok);
    std::vector<float> logits;
    for (std::size_t t = back_to; t < back_to + 4; ++t) {
      const auto row = s.step(ref, std::span(e.tokens).subspan(t, 1));
      logits.insert(logits.end(), row.begin(), row.end());
    }
    require_rows_near(logits, e, back_to, 1e-4f);
  }
  // Without room to roll back, a truncate changes neither cache.
  session<reference> s("qwen35-tiny", 0);
  s.step(ref, std::span(e.tokens).first(10));
  REQUIRE(s.cache.truncate(s.seq, 5) == kv_status::rollback_too_deep);
  REQUIRE(s.cache.length(s.seq) == 10);
  require_rows_near(s.step(ref, std::span(e.tokens).subspan(10, 1)), e, 10, 1e-4f);
}
