// The Gated DeltaNet layer against transformers' Qwen3_5GatedDeltaNet (a fixture of 150 tokens:
// one prefill crossing the 64-token chunk twice), on both policies and in any split into steps;
// exact rollback through the state cache (speculative-verify patterns, every depth within
// max_rollback, refusals beyond it); several sequences in one batch; forks; misuse errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include <strix/device/reference/reference.hpp>
#include <strix/linear/gated_deltanet.hpp>
#if STRIX_TEST_ZEN5
#include <strix/device/zen5/zen5.hpp>

#include "device/zen5_test_support.hpp"
#endif

#include "block_fixture.hpp"

using namespace strix;
using namespace strix::testing;

namespace {

// The fixture's layer: weights, and the projections of its input (and of noise: "draft" tokens
// that get rolled back).
struct deltanet_layer_data {
  block_fixture fixture{"qwen35_deltanet_layer.safetensors"};
  std::size_t tokens = fixture.size("tokens"), hidden = fixture.size("hidden_size");
  deltanet_shape shape{fixture.size("linear_num_key_heads"), fixture.size("linear_num_value_heads"),
                       fixture.size("linear_key_head_dim"), fixture.size("linear_value_head_dim"), fixture.size("linear_conv_kernel_dim")};
  std::vector<float> conv = fixture.tensor("linear_attn.conv1d.weight"), a_log = fixture.tensor("linear_attn.A_log"),
                     dt_bias = fixture.tensor("linear_attn.dt_bias"), norm = fixture.tensor("linear_attn.norm.weight"),
                     out_proj = fixture.tensor("linear_attn.out_proj.weight"), expected = fixture.tensor("output");
  // Token i's projections are row i; rows [tokens, 2·tokens) are noise.
  std::vector<float> qkv, z, a, b;

  deltanet_layer_data() {
    const std::vector<float> input = fixture.tensor("input");
    std::vector<float> noise = gaussian(input.size(), 77);
    auto both = [&](const char* name, std::size_t features) {
      auto real = project(fixture.tensor(name), input, features);
      const auto fake = project(fixture.tensor(name), noise, features);
      real.insert(real.end(), fake.begin(), fake.end());
      return real;
    };
    qkv = both("linear_attn.in_proj_qkv.weight", shape.channels());
    z = both("linear_attn.in_proj_z.weight", shape.value_width());
    a = both("linear_attn.in_proj_a.weight", shape.value_heads);
    b = both("linear_attn.in_proj_b.weight", shape.value_heads);
  }

  [[nodiscard]] deltanet_weights weights() const {
    return {{conv.data(), {shape.channels(), shape.conv_kernel}}, a_log, dt_bias, norm};
  }
  [[nodiscard]] deltanet_config config() const { return {shape, 1e-6f, 64, 16}; }
};

const deltanet_layer_data& data() {
  static const deltanet_layer_data d;
  return d;
}

// One step: for each sequence, the source rows of its new tokens.
using step_rows = std::vector<std::pair<std::uint32_t, std::vector<std::size_t>>>;

// Runs one batch through the layer (after appending its positions, unless a previous layer of
// the same step did); returns its core outputs, [rows][value_width].
template <class Device>
std::vector<float> run_step(Device& dev, gated_deltanet<Device>& layer, deltanet_state_cache& states, const step_rows& step,
                            std::size_t layer_index = 0, bool append = true) {
  const deltanet_layer_data& d = data();
  const deltanet_shape& s = d.shape;
  std::vector<float> qkv, z, a, b;
  std::vector<sequence_rows> sequences;
  std::size_t rows = 0;
  for (const auto& [seq, source] : step) {
    for (std::size_t r : source) {
      qkv.insert(qkv.end(), d.qkv.begin() + r * s.channels(), d.qkv.begin() + (r + 1) * s.channels());
      z.insert(z.end(), d.z.begin() + r * s.value_width(), d.z.begin() + (r + 1) * s.value_width());
      a.insert(a.end(), d.a.begin() + r * s.value_heads, d.a.begin() + (r + 1) * s.value_heads);
      b.insert(b.end(), d.b.begin() + r * s.value_heads, d.b.begin() + (r + 1) * s.value_heads);
    }
    if (append) states.append(seq, source.size());
    sequences.push_back({seq, rows, source.size()});
    rows += source.size();
  }
  std::vector<float> out(rows * s.value_width(), NAN);
  const deltanet_projections in{{qkv.data(), {rows, s.channels()}}, {z.data(), {rows, s.value_width()}},
                                {a.data(), {rows, s.value_heads}}, {b.data(), {rows, s.value_heads}}};
  layer.forward(dev, sequences, in, states, layer_index, {out.data(), {rows, s.value_width()}});
  return out;
}

std::vector<std::size_t> range(std::size_t begin, std::size_t end) {
  std::vector<std::size_t> r;
  for (std::size_t i = begin; i < end; ++i) r.push_back(i);
  return r;
}

// Runs the fixture's tokens in steps of the given sizes; returns the layer output (after out_proj).
template <class Device>
std::vector<float> run_in_steps(Device& dev, const std::vector<std::size_t>& steps) {
  const deltanet_layer_data& d = data();
  const deltanet_shape shapes[] = {d.shape};
  deltanet_state_cache states(shapes, {1, 4});
  gated_deltanet<Device> layer(d.config(), d.weights());
  std::vector<float> core;
  std::size_t done = 0;
  for (std::size_t n : steps) {
    const auto out = run_step(dev, layer, states, {{0, range(done, done + n)}});
    core.insert(core.end(), out.begin(), out.end());
    done += n;
  }
  return project(d.out_proj, core, d.hidden);
}

void require_matches(const std::vector<float>& actual, const std::vector<float>& expected, float relative) {
  REQUIRE(actual.size() == expected.size());
  float scale = 0;
  for (float x : expected) scale = std::max(scale, std::abs(x));
  for (std::size_t i = 0; i < actual.size(); ++i) {
    INFO("element " << i << " (token " << i / data().hidden << ")");
    REQUIRE(std::abs(actual[i] - expected[i]) <= relative * scale);
  }
}

}  // namespace

TEST_CASE("Gated DeltaNet layer matches transformers' Qwen3.5 layer", "[linear][deltanet]") {
  const deltanet_layer_data& d = data();
  reference ref;
  require_matches(run_in_steps(ref, {d.tokens}), d.expected, 1e-4f);
  // Decode steps, a verify-sized step and chunked prefills in between give the same outputs.
  require_matches(run_in_steps(ref, {37, 1, 1, 1, 5, 65, 1, 39}), d.expected, 1e-4f);
}

#if STRIX_TEST_ZEN5
TEST_CASE("Gated DeltaNet layer on zen5 matches transformers' Qwen3.5 layer", "[linear][deltanet]") {
  if (!zen5_cpu_ready()) return;
  const deltanet_layer_data& d = data();
  thread_pool pool(3);
  zen5 fast(pool);
  require_matches(run_in_steps(fast, {d.tokens}), d.expected, 1e-4f);
  require_matches(run_in_steps(fast, {1, 2, 3, 17, 64, 1, 62}), d.expected, 1e-4f);
}
#endif

TEST_CASE("Gated DeltaNet rollback: speculative verify steps with rejected drafts", "[linear][deltanet][rollback]") {
  const deltanet_layer_data& d = data();
  reference ref;
  const deltanet_shape shapes[] = {d.shape};
  deltanet_state_cache states(shapes, {1, 6});
  gated_deltanet<reference> layer(d.config(), d.weights());
  const auto expected_core_run = [&] {
    deltanet_state_cache fresh(shapes, {1, 0});
    gated_deltanet<reference> plain(d.config(), d.weights());
    return run_step(ref, plain, fresh, {{0, range(0, d.tokens)}});
  }();
  const std::size_t width = d.shape.value_width();
  auto expect_rows = [&](const std::vector<float>& out, std::size_t first_token, std::size_t count) {
    for (std::size_t i = 0; i < count * width; ++i) {
      REQUIRE(std::abs(out[i] - expected_core_run[first_token * width + i]) <= 1e-5f * (1.0f + std::abs(expected_core_run[first_token * width + i])));
    }
  };
  expect_rows(run_step(ref, layer, states, {{0, range(0, 30)}}), 0, 30);
  std::size_t position = 30, round = 0;
  while (position + 6 <= d.tokens) {
    // Draft of 5 plus the bonus position: `accepted` true tokens, then noise.
    const std::size_t accepted = round++ % 7;
    std::vector<std::size_t> verify = range(position, position + accepted);
    for (std::size_t i = accepted; i < 6; ++i) verify.push_back(d.tokens + position + i);
    const auto out = run_step(ref, layer, states, {{0, verify}});
    INFO("position " << position << ", accepted " << accepted);
    expect_rows(out, position, accepted);
    REQUIRE(states.truncate(0, position + accepted) == kv_status::ok);
    position += accepted;
    if (accepted == 0) {  // the corrected token
      expect_rows(run_step(ref, layer, states, {{0, {position}}}), position, 1);
      ++position;
    }
  }
}

TEST_CASE("Gated DeltaNet rollback to every depth within max_rollback, and no deeper", "[linear][deltanet][rollback]") {
  const deltanet_layer_data& d = data();
  reference ref;
  const deltanet_shape shapes[] = {d.shape};
  const std::size_t keep = 5;
  deltanet_state_cache states(shapes, {2, keep});
  gated_deltanet<reference> layer(d.config(), d.weights());
  deltanet_state_cache fresh_states(shapes, {1, 0});
  gated_deltanet<reference> fresh_layer(d.config(), d.weights());
  const auto expected = run_step(ref, fresh_layer, fresh_states, {{0, range(0, 60)}});
  const std::size_t width = d.shape.value_width();
  // Prefill 40, then single-token decode steps: the base moves as the journal fills.
  run_step(ref, layer, states, {{0, range(0, 40)}});
  for (std::size_t p = 40; p < 50; ++p) run_step(ref, layer, states, {{0, {p}}});
  for (std::size_t back = 0; back <= keep; ++back) {
    states.copy(0, 1);
    REQUIRE(states.truncate(1, 50 - back) == kv_status::ok);
    const auto out = run_step(ref, layer, states, {{1, range(50 - back, 60)}});
    INFO("rolled back " << back);
    for (std::size_t i = 0; i < out.size(); ++i) {
      const float e = expected[(50 - back) * width + i];
      REQUIRE(std::abs(out[i] - e) <= 1e-5f * (1.0f + std::abs(e)));
    }
  }
  // Rollbacks reach back to the base (max_rollback to 2 · max_rollback behind); one past it is
  // refused and changes nothing: the sequence continues as if never asked.
  const std::size_t base = states.layer(0, 0).base_position;
  REQUIRE(base + keep <= 50);
  REQUIRE(base > 0);
  REQUIRE(states.truncate(0, base - 1) == kv_status::rollback_too_deep);
  REQUIRE(states.length(0) == 50);
  const auto out = run_step(ref, layer, states, {{0, range(50, 60)}});
  for (std::size_t i = 0; i < out.size(); ++i) REQUIRE(std::abs(out[i] - expected[50 * width + i]) <= 1e-5f * (1.0f + std::abs(expected[50 * width + i])));
}

TEST_CASE("Gated DeltaNet: sequences in one batch keep their own states", "[linear][deltanet]") {
  const deltanet_layer_data& d = data();
  reference ref;
  const deltanet_shape shapes[] = {d.shape};
  deltanet_state_cache together(shapes, {3, 2}), apart(shapes, {3, 2});
  gated_deltanet<reference> layer(d.config(), d.weights());
  // Sequence 0 reads tokens 0…, sequence 2 reads noise rows; sequence 1 is idle.
  const std::size_t noise = d.tokens;
  const std::vector<std::pair<std::size_t, std::size_t>> steps{{20, 3}, {1, 1}, {1, 70}, {9, 1}};
  std::size_t p0 = 0, p2 = 0;
  for (const auto& [n0, n2] : steps) {
    const auto batch = run_step(ref, layer, together, {{2, range(noise + p2, noise + p2 + n2)}, {0, range(p0, p0 + n0)}});
    const auto first = run_step(ref, layer, apart, {{2, range(noise + p2, noise + p2 + n2)}});
    const auto second = run_step(ref, layer, apart, {{0, range(p0, p0 + n0)}});
    std::vector<float> separate = first;
    separate.insert(separate.end(), second.begin(), second.end());
    REQUIRE(batch == separate);
    p0 += n0;
    p2 += n2;
  }
  REQUIRE(together.length(1) == 0);
}

TEST_CASE("Gated DeltaNet refuses steps it cannot continue exactly", "[linear][deltanet][rollback]") {
  const deltanet_layer_data& d = data();
  reference ref;
  const deltanet_shape shapes[] = {d.shape, d.shape};
  gated_deltanet<reference> layer(d.config(), d.weights());
  SECTION("without max_rollback only the current length is a valid truncation") {
    deltanet_state_cache states(shapes, {1, 0});
    run_step(ref, layer, states, {{0, range(0, 5)}});
    REQUIRE(states.truncate(0, 4) == kv_status::rollback_too_deep);
    REQUIRE(states.truncate(0, 5) == kv_status::ok);
  }
  SECTION("a step that skipped this layer") {
    deltanet_state_cache states(shapes, {1, 4});
    states.append(0, 3);  // positions the layer never ran
    REQUIRE_THROWS_WITH(run_step(ref, layer, states, {{0, range(0, 2)}}), Catch::Contains("has run only 0"));
  }
  SECTION("a rollback made while a layer was behind") {
    deltanet_state_cache states(shapes, {1, 8});
    run_step(ref, layer, states, {{0, range(0, 5)}}, 0);
    run_step(ref, layer, states, {{0, range(0, 5)}}, 1, false);
    run_step(ref, layer, states, {{0, range(5, 8)}}, 0);  // layer 1 has not run this step yet
    REQUIRE(states.truncate(0, 6) == kv_status::ok);      // so only 5 of its tokens still stand
    run_step(ref, layer, states, {{0, range(6, 8)}}, 0);  // layer 0 restores and continues
    REQUIRE_THROWS_WITH(run_step(ref, layer, states, {{0, range(6, 8)}}, 1, false), Catch::Contains("has run only 5"));
  }
  SECTION("shapes that do not fit") {
    deltanet_state_cache states(shapes, {1, 0});
    std::vector<float> out(5);
    const deltanet_projections empty{};
    REQUIRE_THROWS_WITH(layer.forward(ref, {}, empty, states, 0, {out.data(), {1, 5}}), Catch::Contains("layer 0"));
    REQUIRE_THROWS_AS(deltanet_state_cache(shapes, {0, 0}), error);
    deltanet_shape odd = d.shape;
    odd.value_heads = 3;
    REQUIRE_THROWS_WITH(gated_deltanet<reference>({odd}, d.weights()), Catch::Contains("multiple of key_heads"));
  }
}
