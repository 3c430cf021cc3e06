// The MoE block against transformers: Qwen3.5-MoE's sparse block (softmax router, fused experts,
// sigmoid-gated shared expert) and Gemma 4's router (input norm and scale, per-expert scales) with
// its experts; grouped dispatch against a per-token loop; zen5 against reference on random
// routings (k = 1…8, idle experts, every token to one expert, T = 1, T = 37) in Q8_0 and Q4_K,
// fused and separate gate/up; statistics; and misuse errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include <strix/device/reference/reference.hpp>
#include <strix/moe/moe_block.hpp>
#if STRIX_TEST_ZEN5
#include <strix/device/zen5/zen5.hpp>

#include "device/zen5_test_support.hpp"
#endif

#include "block_fixture.hpp"
#include "device/kernel_test_support.hpp"

using namespace strix;
using namespace strix::testing;

namespace {

weight_matrix f32_matrix(const std::vector<float>& values, std::size_t rows) {
  return quantized_view<f32_format>(std::as_bytes(std::span(values)), rows, values.size() / rows, "fixture");
}

void require_near(const std::vector<float>& actual, const std::vector<float>& expected, float relative) {
  REQUIRE(actual.size() == expected.size());
  float scale = 0;
  for (float x : expected) scale = std::max(scale, std::abs(x));
  for (std::size_t i = 0; i < actual.size(); ++i) {
    INFO("element " << i);
    REQUIRE(std::abs(actual[i] - expected[i]) <= relative * scale);
  }
}

struct qwen_moe_fixture {
  block_fixture f{"qwen35_moe_block.safetensors"};
  std::size_t experts = f.size("num_experts"), k = f.size("num_experts_per_tok"), hidden = f.size("hidden_size");
  std::size_t tokens = f.size("tokens"), intermediate = f.size("moe_intermediate_size");
  std::vector<float> router = f.tensor("mlp.gate.weight"), gate_up = f.tensor("mlp.experts.gate_up_proj"),
                     down = f.tensor("mlp.experts.down_proj"), shared_gate = f.tensor("mlp.shared_expert.gate_proj.weight"),
                     shared_up = f.tensor("mlp.shared_expert.up_proj.weight"), shared_down = f.tensor("mlp.shared_expert.down_proj.weight"),
                     shared_expert_gate = f.tensor("mlp.shared_expert_gate.weight"), input = f.tensor("input"),
                     output = f.tensor("output"), router_weights = f.tensor("router_weights"), router_experts = f.tensor("router_experts");

  template <class Device>
  moe_block<Device> block() const {
    expert_stack stack{experts, f32_matrix(gate_up, experts * 2 * intermediate), std::nullopt, std::nullopt, f32_matrix(down, experts * hidden), {}};
    const std::size_t shared_width = shared_gate.size() / hidden;
    shared_expert_weights shared{{f32_matrix(shared_gate, shared_width), f32_matrix(shared_up, shared_width), f32_matrix(shared_down, hidden)},
                                 f32_matrix(shared_expert_gate, 1)};
    return moe_block<Device>({experts, k}, {f32_matrix(router, experts), {}, 1.0f, {}}, std::move(stack), activation::silu, std::move(shared));
  }
};

template <class Device>
std::vector<float> run_qwen(Device& dev, const qwen_moe_fixture& q, moe_statistics* stats = nullptr) {
  auto block = q.block<Device>();
  std::vector<float> out(q.tokens * q.hidden, NAN);
  block.forward(dev, matrix_view<const float>(q.input.data(), {q.tokens, q.hidden}), {out.data(), {q.tokens, q.hidden}}, stats);
  const const_routing r = block.last_routing();
  for (std::size_t t = 0; t < q.tokens; ++t) {
    for (std::size_t j = 0; j < q.k; ++j) {
      INFO("token " << t << ", choice " << j);
      REQUIRE(r.experts(t, j) == static_cast<std::int32_t>(q.router_experts[t * q.k + j]));
      REQUIRE(r.weights(t, j) == Approx(q.router_weights[t * q.k + j]).margin(1e-6));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("MoE block matches transformers' Qwen3.5-MoE sparse block", "[moe]") {
  const qwen_moe_fixture q;
  reference ref;
  moe_statistics stats;
  require_near(run_qwen(ref, q, &stats), q.output, 1e-5f);
  REQUIRE(stats.batches == 1);
  REQUIRE(stats.tokens == q.tokens);
  std::vector<std::uint64_t> counts(q.experts);
  for (float e : q.router_experts) ++counts[static_cast<std::size_t>(e)];
  REQUIRE(stats.tokens_per_expert == counts);
}

namespace {

// Gemma 4's router and experts from the fixture on `dev`, against transformers.
template <class Device>
void check_gemma4_moe(Device& dev, float tolerance) {
  block_fixture f{"gemma4_moe_block.safetensors"};
  const std::size_t experts = f.size("num_experts"), k = f.size("top_k_experts"), hidden = f.size("hidden_size");
  const std::size_t tokens = f.size("tokens"), intermediate = f.size("moe_intermediate_size");
  const auto proj = f.tensor("router.proj.weight"), scale = f.tensor("router.scale"), per_expert = f.tensor("router.per_expert_scale");
  const auto gate_up = f.tensor("experts.gate_up_proj"), down = f.tensor("experts.down_proj");
  const auto router_input = f.tensor("router_input"), experts_input = f.tensor("experts_input"), expected = f.tensor("output");
  const auto expected_weights = f.tensor("router_weights"), expected_experts = f.tensor("router_experts");
  router_config config{experts, k, router_scoring::softmax, true, 1e-6f};
  router_weights weights{f32_matrix(proj, experts), scale, 1.0f / std::sqrt(static_cast<float>(hidden)), per_expert};
  expert_stack stack{experts, f32_matrix(gate_up, experts * 2 * intermediate), std::nullopt, std::nullopt, f32_matrix(down, experts * hidden), {}};
  moe_block<Device> block(config, weights, std::move(stack), activation::gelu_tanh);
  std::vector<float> out(tokens * hidden, NAN);
  block.forward(dev, {router_input.data(), {tokens, hidden}}, {experts_input.data(), {tokens, hidden}}, {out.data(), {tokens, hidden}});
  const const_routing r = block.last_routing();
  for (std::size_t i = 0; i < tokens * k; ++i) {
    REQUIRE(r.experts.data()[i] == static_cast<std::int32_t>(expected_experts[i]));
    REQUIRE(r.weights.data()[i] == Approx(expected_weights[i]).margin(1e-6));
  }
  require_near(out, expected, tolerance);
}

}  // namespace

TEST_CASE("MoE router and experts match transformers' Gemma 4 router and experts", "[moe]") {
  reference ref;
  check_gemma4_moe(ref, 1e-5f);
}

namespace {

// Random experts in one format, stored both fused and separately, and random routings.
template <block_format Format>
struct random_experts {
  std::size_t experts, hidden, intermediate;
  quantized_matrix<Format> gate_up, gate, up, down;

  random_experts(std::size_t e, std::size_t h, std::size_t i)
      : experts(e), hidden(h), intermediate(i), gate_up(e * 2 * i, h, 1, 0.1f), gate(e * i, h, 2, 0.1f), up(e * i, h, 3, 0.1f),
        down(e * h, i, 4, 0.1f) {
    // The separate layout holds the same numbers as the fused one: copy each expert's halves.
    const std::size_t row_blocks = h / Format::block_size;
    for (std::size_t x = 0; x < e; ++x) {
      std::copy_n(gate_up.blocks.begin() + static_cast<std::ptrdiff_t>(x * 2 * i * row_blocks), i * row_blocks,
                  gate.blocks.begin() + static_cast<std::ptrdiff_t>(x * i * row_blocks));
      std::copy_n(gate_up.blocks.begin() + static_cast<std::ptrdiff_t>((x * 2 + 1) * i * row_blocks), i * row_blocks,
                  up.blocks.begin() + static_cast<std::ptrdiff_t>(x * i * row_blocks));
    }
  }
  [[nodiscard]] expert_stack stack(bool fused) const {
    if (fused) return {experts, weight_matrix(gate_up.view()), std::nullopt, std::nullopt, down.view(), {}};
    return {experts, std::nullopt, weight_matrix(gate.view()), weight_matrix(up.view()), down.view(), {}};
  }
  // Each expert as its own tensors (transformers' per-expert layout): the same numbers again.
  [[nodiscard]] expert_stack listed() const {
    const expert_stack fused = stack(true);
    expert_stack each{experts, std::nullopt, std::nullopt, std::nullopt, down.view(), {}};
    for (std::size_t x = 0; x < experts; ++x) each.listed.push_back(fused.expert(x));
    return each;
  }
};

struct random_routing {
  std::vector<std::int32_t> experts;
  std::vector<float> weights;
  std::size_t tokens, k;

  // Choices among experts 0…n_experts − 1 (the others stay idle); `only` ≥ 0 makes that expert
  // every token's first choice.
  random_routing(std::size_t tokens_, std::size_t k_, std::size_t n_experts, std::uint32_t seed, int only = -1)
      : tokens(tokens_), k(k_) {
    std::mt19937 rng(seed);
    std::vector<std::int32_t> ids(n_experts);
    for (std::size_t t = 0; t < tokens; ++t) {
      std::iota(ids.begin(), ids.end(), 0);
      std::shuffle(ids.begin(), ids.end(), rng);
      if (only >= 0) std::swap(*std::find(ids.begin(), ids.end(), only), ids[0]);
      for (std::size_t j = 0; j < k; ++j) experts.push_back(ids[j]);
      for (std::size_t j = 0; j < k; ++j) weights.push_back(std::uniform_real_distribution<float>(0.1f, 1.0f)(rng));
    }
  }
  [[nodiscard]] const_routing view() const { return {{experts.data(), {tokens, k}}, {weights.data(), {tokens, k}}}; }
};

template <class Device>
std::vector<float> dispatch(Device& dev, const expert_stack& stack, const random_routing& r, const std::vector<float>& x, activation act) {
  expert_dispatch<Device> d(stack, act);
  std::vector<float> out(x.size(), NAN);
  d.forward(dev, {x.data(), {r.tokens, stack.hidden()}}, r.view(), {out.data(), {r.tokens, stack.hidden()}});
  std::size_t routed = 0;
  for (std::uint32_t c : d.last_counts()) routed += c;
  REQUIRE(routed == r.tokens * r.k);
  return out;
}

// The definition: each token through each of its experts on its own.
std::vector<float> per_token(reference& dev, const expert_stack& stack, const random_routing& r, const std::vector<float>& x, activation act) {
  const std::size_t h = stack.hidden();
  std::vector<float> out(x.size(), 0.0f), y(h);
  gated_ffn_scratch scratch;
  for (std::size_t t = 0; t < r.tokens; ++t) {
    for (std::size_t j = 0; j < r.k; ++j) {
      gated_ffn_forward(dev, stack.expert(static_cast<std::size_t>(r.experts[t * r.k + j])), act, {x.data() + t * h, {1, h}}, {y.data(), {1, h}}, scratch);
      for (std::size_t c = 0; c < h; ++c) out[t * h + c] += r.weights[t * r.k + j] * y[c];
    }
  }
  return out;
}

// Grouped dispatch over random experts and routings: on reference, fused, separate and listed
// experts against the per-token definition; with `other`, that policy against reference instead.
template <block_format Format, class Other = reference>
void check_dispatch(std::size_t hidden, std::size_t intermediate, Other* other = nullptr) {
  const random_experts<Format> e(12, hidden, intermediate);
  reference ref;
  std::uint32_t seed = 10;
  for (std::size_t tokens : {std::size_t{1}, std::size_t{2}, std::size_t{37}}) {
    for (std::size_t k = 1; k <= 8; ++k) {
      for (int only : {-1, 5}) {
        const random_routing r(tokens, k, only >= 0 ? 12 : k + 3, seed++, only);  // experts ≥ k + 3 stay idle
        const auto x = gaussian(tokens * hidden, seed++);
        INFO(name_of(Format::type) << ": tokens " << tokens << ", k " << k << ", all to one " << (only >= 0));
        const auto expected = dispatch(ref, e.stack(true), r, x, activation::silu);
        if (other == nullptr) {
          require_near(dispatch(ref, e.stack(false), r, x, activation::silu), expected, 1e-6f);
          require_near(dispatch(ref, e.listed(), r, x, activation::silu), expected, 1e-6f);
          require_near(per_token(ref, e.stack(true), r, x, activation::silu), expected, 1e-6f);
          continue;
        }
        // zen5 quantizes activations to 8 bits for these formats (per 32 values for Q8_0, per 256 for
        // Q4_K), twice over: nmse up to a few 1e-4 on one token; a wrong expert or weight gives ~1.
        REQUIRE(nmse(dispatch(*other, e.stack(true), r, x, activation::silu), expected) < 1e-3);
        REQUIRE(nmse(dispatch(*other, e.stack(false), r, x, activation::gelu_tanh),
                     dispatch(ref, e.stack(false), r, x, activation::gelu_tanh)) < 1e-3);
      }
    }
  }
}

}  // namespace

namespace {
// The reference policy with a matmul_pair that counts its calls and multiplies both matrices with
// its own matmul, so multiply_pair's choice shows and its results can be checked.
struct pairing_reference : reference {
  std::size_t pairs = 0;
  template <block_format Format>
  void matmul_pair(const quantized_view<Format>& a, const quantized_view<Format>& b, matrix_view<const float> x, matrix_view<float> ya,
                   matrix_view<float> yb) {
    ++pairs;
    matmul(a, x, ya);
    matmul(b, x, yb);
  }
};
}  // namespace

TEST_CASE("gated FFN multiplies gate and up as a pair where the policy can and their formats agree", "[moe]") {
  const std::size_t hidden = 64, width = 96, tokens = 3;
  const quantized_matrix<q8_0_format> gate(width, hidden, 1), up(width, hidden, 2), down(hidden, width, 3);
  const quantized_matrix<q4_0_format> up_q4(width, hidden, 2);
  const auto x = gaussian(tokens * hidden, 4);
  const auto run = [&](auto& dev, const weight_matrix& up_matrix) {
    gated_ffn_scratch scratch;
    std::vector<float> y(tokens * hidden);
    gated_ffn_forward(dev, {gate.view(), up_matrix, down.view()}, activation::silu, {x.data(), {tokens, hidden}}, {y.data(), {tokens, hidden}},
                      scratch);
    return y;
  };
  reference plain;
  pairing_reference pairing;
  CHECK(run(pairing, up.view()) == run(plain, up.view()));
  CHECK(pairing.pairs == 1);
  CHECK(run(pairing, up_q4.view()) == run(plain, up_q4.view()));  // Q8_0 gate, Q4_0 up: two products
  CHECK(pairing.pairs == 1);
}

TEST_CASE("grouped dispatch equals the per-token definition", "[moe]") {
  check_dispatch<q8_0_format>(64, 96);
  check_dispatch<q4_k_format>(256, 256);
}

#if STRIX_TEST_ZEN5
TEST_CASE("zen5: the MoE block, router and grouped dispatch agree with transformers and reference", "[moe]") {
  if (!zen5_cpu_ready()) return;
  thread_pool pool(3);
  zen5 fast(pool);
  const qwen_moe_fixture q;
  require_near(run_qwen(fast, q, nullptr), q.output, 1e-4f);
  check_gemma4_moe(fast, 1e-4f);
  check_dispatch<q8_0_format>(64, 96, &fast);
  check_dispatch<q4_k_format>(256, 256, &fast);
}
#endif

TEST_CASE("router: ties go to the lower expert, sigmoid scoring, no renormalisation, k = experts", "[moe]") {
  reference ref;
  // Identity projection: the logits are the inputs.
  std::vector<float> eye(4 * 4, 0.0f);
  for (std::size_t i = 0; i < 4; ++i) eye[i * 4 + i] = 1.0f;
  const std::vector<float> x{1.0f, 3.0f, 3.0f, 0.5f};
  std::vector<std::int32_t> ids(2);
  std::vector<float> w(2);
  router<reference> softmax_router({4, 2}, {f32_matrix(eye, 4), {}, 1.0f, {}});
  softmax_router.route(ref, {x.data(), {1, 4}}, {{ids.data(), {1, 2}}, {w.data(), {1, 2}}});
  CHECK(ids == std::vector<std::int32_t>{1, 2});
  CHECK(w[0] == Approx(0.5f));
  router<reference> sigmoid_router({4, 2, router_scoring::sigmoid, false}, {f32_matrix(eye, 4), {}, 1.0f, {}});
  sigmoid_router.route(ref, {x.data(), {1, 4}}, {{ids.data(), {1, 2}}, {w.data(), {1, 2}}});
  CHECK(w[0] == Approx(1.0f / (1.0f + std::exp(-3.0f))));
  std::vector<std::int32_t> all(4);
  std::vector<float> all_w(4);
  router<reference> everyone({4, 4}, {f32_matrix(eye, 4), {}, 1.0f, {}});
  everyone.route(ref, {x.data(), {1, 4}}, {{all.data(), {1, 4}}, {all_w.data(), {1, 4}}});
  CHECK(all == std::vector<std::int32_t>{1, 2, 0, 3});
  CHECK(all_w[0] + all_w[1] + all_w[2] + all_w[3] == Approx(1.0f));
}

TEST_CASE("MoE misuse is an error naming what is wrong", "[moe]") {
  reference ref;
  const random_experts<q8_0_format> e(4, 32, 32);
  std::vector<float> eye(4 * 32, 0.0f);
  REQUIRE_THROWS_WITH(router<reference>({4, 5}, {f32_matrix(eye, 4), {}, 1.0f, {}}), Catch::Contains("top_k (5)"));
  REQUIRE_THROWS_WITH(router<reference>({5, 2}, {f32_matrix(eye, 4), {}, 1.0f, {}}), Catch::Contains("4 rows for 5 experts"));
  expert_stack broken = e.stack(true);
  broken.gate = broken.gate_up;
  REQUIRE_THROWS_WITH(expert_dispatch<reference>(broken, activation::silu), Catch::Contains("either gate_up or both"));
  REQUIRE_THROWS_WITH(moe_block<reference>({3, 2}, {f32_matrix(std::vector<float>(3 * 32), 3), {}, 1.0f, {}}, e.stack(true), activation::silu),
                      Catch::Contains("3 experts, the stack has 4"));
  expert_dispatch<reference> d(e.stack(true), activation::silu);
  const std::vector<std::int32_t> bad{0, 9};
  const std::vector<float> w{0.5f, 0.5f}, x(32);
  std::vector<float> out(32);
  REQUIRE_THROWS_WITH(d.forward(ref, {x.data(), {1, 32}}, {{bad.data(), {1, 2}}, {w.data(), {1, 2}}}, {out.data(), {1, 32}}),
                      Catch::Contains("routed to expert 9 of 4"));
}
