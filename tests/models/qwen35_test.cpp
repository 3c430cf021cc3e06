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
#include "models/model_test_support.hpp"
#include "models/qwen35.hpp"
#include "models/sequence_runner.hpp"
#include "fixture_runners.hpp"

using namespace strix;
using namespace strix::models;
using namespace strix::testing;

namespace {

template <class Device>
qwen35_runner<Device> open_runner(const std::string& name, std::size_t max_rollback) {
  return open_qwen35_runner<Device>(name, max_rollback);
}

template <class Device>
void check_model(Device& dev, const std::string& name, float relative) {
  INFO(name << " on " << Device::name);
  check_against_transformers(dev, expected_run(name), [&] { return open_runner<Device>(name, 0); }, 30, relative);
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
    auto s = open_runner<reference>("qwen35-tiny", 40);
    s.run(ref, std::span(e.tokens).first(40), true);
    REQUIRE(s.cache().truncate(s.sequence(), back_to) == kv_status::ok);
    std::vector<float> logits;
    for (std::size_t t = back_to; t < back_to + 4; ++t) {
      const auto row = s.run(ref, std::span(e.tokens).subspan(t, 1), true);
      logits.insert(logits.end(), row.begin(), row.end());
    }
    require_rows_near(logits, e, back_to, 1e-4f);
  }
  // Without room to roll back, a truncate changes neither cache.
  auto s = open_runner<reference>("qwen35-tiny", 0);
  s.run(ref, std::span(e.tokens).first(10), true);
  REQUIRE(s.cache().truncate(s.sequence(), 5) == kv_status::rollback_too_deep);
  REQUIRE(s.cache().length(s.sequence()) == 10);
  require_rows_near(s.run(ref, std::span(e.tokens).subspan(10, 1), true), e, 10, 1e-4f);
}
