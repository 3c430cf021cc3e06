// The chunked Gated DeltaNet form against the recurrence (its definition) on the reference policy:
// the same outputs and final state for every length 1…300 at chunk 64, for odd chunk sizes,
// from a non-zero state, across split calls, with value heads sharing key heads, grouped or tiled.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include <strix/device/reference/reference.hpp>

#include "linear/deltanet_test_support.hpp"

using namespace strix;
using namespace strix::testing;

TEST_CASE("chunked Gated DeltaNet equals the recurrence for every length 1…300", "[linear][deltanet]") {
  reference dev;
  for (std::size_t length = 1; length <= 300; ++length) {
    const deltanet_inputs in(length, 2, 4, 8, 12, static_cast<std::uint32_t>(length));
    std::vector<float> state_r(4 * 8 * 12, 0.0f), state_c = state_r, out_r(length * 4 * 12), out_c(out_r.size());
    dev.deltanet_recurrent(in.args(state_r, out_r));
    dev.deltanet_chunked(in.args(state_c, out_c), 64);
    INFO("length " << length);
    require_close(out_c, out_r, 1e-5f);
    require_close(state_c, state_r, 1e-5f);
  }
}

TEST_CASE("chunked Gated DeltaNet: odd chunk sizes, a carried state and split calls", "[linear][deltanet]") {
  reference dev;
  const deltanet_inputs in(157, 1, 3, 32, 16, 99);
  const auto initial = gaussian(3 * 32 * 16, 5, 0.3f);
  std::vector<float> state_r = initial, out_r(157 * 3 * 16);
  dev.deltanet_recurrent(in.args(state_r, out_r));
  for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{157}, std::size_t{500}}) {
    std::vector<float> state = initial, out(out_r.size());
    dev.deltanet_chunked(in.args(state, out), chunk);
    INFO("chunk " << chunk);
    require_close(out, out_r, 1e-5f);
    require_close(state, state_r, 1e-5f);
  }
  // A prefill of 100 tokens in chunks, then decode steps one at a time: the state carries over.
  std::vector<float> state = initial, out(out_r.size());
  dev.deltanet_chunked(in.args(state, out, 0, 100), 64);
  for (std::size_t t = 100; t < 157; ++t) dev.deltanet_recurrent(in.args(state, out, t, 1));
  require_close(out, out_r, 1e-5f);
  require_close(state, state_r, 1e-5f);
}

TEST_CASE("Gated DeltaNet recurrence: a decay of 1 and β of 1 store the value exactly", "[linear][deltanet]") {
  // With S = 0, g = 0, β = 1 and unit k: u = v, S = k vᵀ, and o = Sᵀ q = (q·k) v.
  reference dev;
  std::vector<float> q{0.5f, 0.5f}, k{1.0f, 0.0f}, v{2.0f, -3.0f, 4.0f}, g{0.0f}, beta{1.0f}, state(6, 0.0f), out(3);
  dev.deltanet_recurrent({{q.data(), {1, 1, 2}}, {k.data(), {1, 1, 2}}, {v.data(), {1, 1, 3}}, {g.data(), {1, 1}},
                          {beta.data(), {1, 1}}, {state.data(), {1, 2, 3}}, {out.data(), {1, 1, 3}}});
  CHECK(out == std::vector<float>{1.0f, -1.5f, 2.0f});
  CHECK(state == std::vector<float>{2.0f, -3.0f, 4.0f, 0.0f, 0.0f, 0.0f});
}

TEST_CASE("Gated DeltaNet: tiled value heads equal grouped ones with the heads permuted", "[linear][deltanet]") {
  // Grouped head k·r + j and tiled head j·K + k read the same key head k; permuting v, g, β and the
  // state into tiled order must give the same outputs in tiled order.
  reference dev;
  const std::size_t key_heads = 2, heads = 6, r = heads / key_heads, dk = 8, dv = 5, tokens = 37;
  const deltanet_inputs grouped(tokens, key_heads, heads, dk, dv, 71);
  deltanet_inputs tiled = grouped;
  tiled.order = value_head_order::tiled;
  auto tiled_of = [&](std::size_t h) { return h % r * key_heads + h / r; };  // grouped head → tiled head
  const auto initial = gaussian(heads * dk * dv, 3, 0.3f);
  std::vector<float> initial_tiled(initial.size());
  for (std::size_t h = 0; h < heads; ++h) {
    std::copy_n(&initial[h * dk * dv], dk * dv, &initial_tiled[tiled_of(h) * dk * dv]);
    for (std::size_t t = 0; t < tokens; ++t) {
      std::copy_n(&grouped.v[(t * heads + h) * dv], dv, &tiled.v[(t * heads + tiled_of(h)) * dv]);
      tiled.g[t * heads + tiled_of(h)] = grouped.g[t * heads + h];
      tiled.beta[t * heads + tiled_of(h)] = grouped.beta[t * heads + h];
    }
  }
  std::vector<float> state_g = initial, out_g(tokens * heads * dv);
  dev.deltanet_recurrent(grouped.args(state_g, out_g));
  for (bool chunked : {false, true}) {
    std::vector<float> state_t = initial_tiled, out_t(out_g.size());
    if (chunked) dev.deltanet_chunked(tiled.args(state_t, out_t), 16);
    else dev.deltanet_recurrent(tiled.args(state_t, out_t));
    INFO((chunked ? "chunked" : "recurrent"));
    for (std::size_t h = 0; h < heads; ++h) {
      for (std::size_t t = 0; t < tokens; ++t) {
        for (std::size_t j = 0; j < dv; ++j) {
          const float expected = out_g[(t * heads + h) * dv + j], got = out_t[(t * heads + tiled_of(h)) * dv + j];
          REQUIRE(std::abs(got - expected) <= 1e-5f * (1.0f + std::abs(expected)));
        }
      }
      for (std::size_t i = 0; i < dk * dv; ++i) {
        REQUIRE(std::abs(state_t[tiled_of(h) * dk * dv + i] - state_g[h * dk * dv + i]) <= 1e-5f * (1.0f + std::abs(state_g[h * dk * dv + i])));
      }
    }
  }
}
