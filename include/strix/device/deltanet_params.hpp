// What a Gated DeltaNet kernel is asked to compute: the delta-rule recurrence of one sequence's
// tokens, per value head, from already prepared inputs (after the causal conv1d, L2 norms and
// gates; see strix/linear). With state S ∈ R^{dk×dv} per value head:
//   S ← exp(g_t) · S;   u = v_t − Sᵀ k_t;   S ← S + k_t (β_t u)ᵀ;   o_t = Sᵀ q_t.
// The chunked form computes the same outputs and final state for a whole prefill.
#pragma once

#include <cstddef>

#include <strix/core/tensor_view.hpp>

namespace strix {

struct deltanet_args {
  // Value head h reads key head h / (value_heads / key_heads) (Qwen3.5's repeat_interleave).
  tensor_view<const float, 3> q;      // [tokens][key_heads][key_dim]
  tensor_view<const float, 3> k;      // [tokens][key_heads][key_dim]
  tensor_view<const float, 3> v;      // [tokens][value_heads][value_dim]
  matrix_view<const float> log_decay; // g: [tokens][value_heads], ≤ 0
  matrix_view<const float> beta;      // β: [tokens][value_heads]
  tensor_view<float, 3> state;        // [value_heads][key_dim][value_dim], updated in place
  tensor_view<float, 3> out;          // [tokens][value_heads][value_dim]
};

}  // namespace strix
