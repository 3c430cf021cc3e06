// The chunked Gated DeltaNet form against the recurrence (its definition) on the reference policy:
// the same outputs and final state for every length 1…300 at chunk 64, for odd chunk sizes,
// from a non-zero state, across split calls, with value heads sharing key heads.
#include <catch2/catch.hpp>

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
