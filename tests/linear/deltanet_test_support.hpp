// Inputs of the Gated DeltaNet kernels as the layer prepares them, a closeness check, and the sweep
// every fast policy's kernels are held to against the reference ones; shared by the reference
// kernel tests and the zen5 and hip tests.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include <strix/device/deltanet_params.hpp>
#include <strix/device/reference/reference.hpp>

#include "test_data.hpp"

namespace strix::testing {

struct deltanet_inputs {
  std::size_t tokens, key_heads, heads, dk, dv;
  std::vector<float> q, k, v, g, beta;
  value_head_order order = value_head_order::grouped;

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
            {out.data() + first * heads * dv, {count, heads, dv}},
            order};
  }
};

inline void require_close(const std::vector<float>& a, const std::vector<float>& b, float tolerance) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(std::abs(a[i] - b[i]) <= tolerance * (1.0f + std::abs(b[i])));
}

// A fast policy's recurrent and chunked kernels against the reference recurrence, from a random
// carried state.
template <class Policy>
void expect_deltanet_matches_reference(Policy& fast, const deltanet_inputs& in, std::size_t chunk) {
  reference ref;
  const auto initial = gaussian(in.heads * in.dk * in.dv, 17, 0.3f);
  std::vector<float> state_ref = initial, out_ref(in.tokens * in.heads * in.dv, NAN);
  ref.deltanet_recurrent(in.args(state_ref, out_ref));
  INFO(Policy::name << ": tokens " << in.tokens << ", heads " << in.key_heads << "/" << in.heads << ", dk " << in.dk << ", dv " << in.dv);
  {
    std::vector<float> state = initial, out(out_ref.size(), NAN);
    fast.deltanet_recurrent(in.args(state, out));
    require_close(out, out_ref, 1e-4f);
    require_close(state, state_ref, 1e-4f);
  }
  {
    INFO("chunk " << chunk);
    std::vector<float> state = initial, out(out_ref.size(), NAN);
    fast.deltanet_chunked(in.args(state, out), chunk);
    require_close(out, out_ref, 1e-4f);
    require_close(state, state_ref, 1e-4f);
  }
}

// Head dims with and without 16-lane tails and past one 128-column block, value heads sharing key
// heads (grouped and tiled), lengths around the chunk size, chunk sizes 1, 7 and 64, a carried
// state, no tokens at all; Qwen3.5's head dims with long chunks; decays that underflow (g = -60:
// exp(Γ) reaches zero inside a chunk and the state forgets completely); and a chunked prefill
// followed by decode steps that carry its state.
template <class Policy>
void expect_deltanet_sweep_matches_reference(Policy& fast) {
  struct shape {
    std::size_t key_heads, heads, dk, dv;
  };
  const shape shapes[] = {{2, 4, 8, 12}, {1, 3, 20, 130}, {2, 2, 128, 128}, {1, 2, 5, 256}, {2, 6, 33, 17}};
  std::uint32_t seed = 1;
  for (const shape& s : shapes) {
    for (std::size_t tokens : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{63}, std::size_t{64}, std::size_t{65},
                               std::size_t{130}}) {
      for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{64}}) {
        deltanet_inputs in(tokens, s.key_heads, s.heads, s.dk, s.dv, seed++);
        expect_deltanet_matches_reference(fast, in, chunk);
        if (s.heads > s.key_heads) {
          in.order = value_head_order::tiled;
          expect_deltanet_matches_reference(fast, in, chunk);
        }
      }
    }
  }
  expect_deltanet_matches_reference(fast, deltanet_inputs(300, 2, 4, 128, 128, 5), 64);
  expect_deltanet_matches_reference(fast, deltanet_inputs(200, 1, 2, 64, 64, 6), 200);
  deltanet_inputs forgetful(150, 1, 2, 16, 24, 7);
  for (std::size_t i = 0; i < forgetful.g.size(); i += 3) forgetful.g[i] = -60.0f;
  expect_deltanet_matches_reference(fast, forgetful, 64);

  const deltanet_inputs in(90, 2, 4, 32, 48, 11);
  reference ref;
  std::vector<float> state_ref(4 * 32 * 48, 0.0f), out_ref(90 * 4 * 48);
  ref.deltanet_recurrent(in.args(state_ref, out_ref));
  std::vector<float> state(state_ref.size(), 0.0f), out(out_ref.size(), NAN);
  fast.deltanet_chunked(in.args(state, out, 0, 70), 32);
  for (std::size_t t = 70; t < 90; ++t) fast.deltanet_recurrent(in.args(state, out, t, 1));
  require_close(out, out_ref, 1e-4f);
  require_close(state, state_ref, 1e-4f);
}

}  // namespace strix::testing
