// Inputs of the Gated DeltaNet kernels as the layer prepares them, and a closeness check; shared by
// the reference kernel tests and the zen5-against-reference tests.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include <strix/device/deltanet_params.hpp>

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


}  // namespace strix::testing
