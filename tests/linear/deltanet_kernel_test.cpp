// The chunked Gated DeltaNet form against the recurrence (its definition) on the reference policy:
// the same outputs and final state for every length 1…300 at chunk 64, for odd chunk sizes,
// from a non-zero state, across split calls, with value heads sharing key heads.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <strix/device/reference/reference.hpp>

#include "test_data.hpp"

using namespace strix;
using namespace strix::testing;

namespace {

struct deltanet_inputs {
  std::size_t tokens, key_heads, heads, dk, dv;
  std::vector<float> q, k, v, g, beta;

  deltanet_inputs(std::size_t tokens_, std::size_t key_heads_, std::size_t heads_, std::size_t dk_, std::size_t dv_, std::uint32_t seed)
      : tokens(tokens_), key_heads(key_heads_), heads(heads_), dk(dk_), dv(dv_) {
    q = gaussian(tokens * key_heads * dk, seed);
    k = gaussian(tokens * key_heads * dk, seed + 1);
    v = gaussian(tokens * heads * dv, seed + 2);
    // As the layer prepares them: q and k L2-normalised per head (q also scaled by dk^-0.5),
    // β = sigmoid(b) ∈ (0, 1), g = -exp(A_log) · softplus(a + dt_bias) < 0.
    for (std::size_t r = 0; r < tokens * key_heads; ++r) {
      double nq = 0, nk = 0;
      for (std::size_t d = 0; d < dk; ++d) nq += q[r * dk + d] * q[r * dk + d], nk += k[r * dk + d] * k[r * dk + d];
      for (std::size_t d = 0; d < dk; ++d) {
        q[r * dk + d] = static_cast<float>(q[r * dk + d] / std::sqrt(nq + 1e-6) / std::sqrt(static_cast<double>(dk)));
        k[r * dk + d] = static_cast<float>(k[r * dk + d] / std::sqrt(nk + 1e-6));
      }
    }
    const auto a = gaussian(tokens * heads, seed + 3);
    const auto b = gaussian(tokens * heads, seed + 4, 2.0f);
    for (std::size_t i = 0; i < tokens * heads; ++i) {
      g.push_back(-std::exp(-0.5f) * std::log1p(std::exp(a[i] + 0.3f)));
      beta.push_back(1.0f / (1.0f + std::exp(-b[i])));
    }
  }

  deltanet_args args(std::vector<float>& state, std::vector<float>& out, std::size_t first = 0, std::size_t count = SIZE_MAX) const {
    count = std::min(count, tokens - first);
    return {{q.data() + first * key_heads * dk, {count, key_heads, dk}},
            {k.data() + first * key_heads * dk, {count, key_heads, dk}},
            {v.data() + first * heads * dv, {count, heads, dv}},
            {g.data() + first * heads, {count, heads}},
            {beta.data() + first * heads, {count, heads}},
            {state.data(), {heads, dk, dv}},
            {out.data() + first * heads * dv, {count, heads, dv}}};
  }
};

void require_close(const std::vector<float>& a, const std::vector<float>& b, float tolerance) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(std::abs(a[i] - b[i]) <= tolerance * (1.0f + std::abs(b[i])));
}

}  // namespace

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
