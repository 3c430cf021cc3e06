// The hip policy's Gated DeltaNet recurrence (deltanet_params.hpp has the maths). Every column j of
// a value head's state evolves on its own — u_j = β (v_j − Σ_i S_ij k_i), S_:j += k u_j,
// o_j = Σ_i S_ij q_i — so a block takes one value head and 32 columns, eight lanes per column each
// holding every eighth row of it in registers; the key and query of each token pass through
// shared memory, and the two column sums are three shuffles each. The state is read once and
// written once per call, whatever the number of tokens.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include <strix/device/deltanet_params.hpp>
#include <strix/device/hip/head_rows.hpp>
#include <strix/device/hip/portability.hpp>

namespace strix::hip_kernels {

inline constexpr int deltanet_lanes_per_column = 8;
// Longest key head the kernel holds in registers (Qwen3.5: 128); longer ones use the reference.
inline constexpr std::size_t deltanet_max_key_dim = 256;

struct deltanet_problem {
  head_rows<const float> q, k, v;  // [token][key head or value head][dim]
  const float* log_decay = nullptr;  // [token][value head], rows decay_stride (beta_stride) apart
  const float* beta = nullptr;
  std::size_t decay_stride = 0;
  std::size_t beta_stride = 0;
  float* state = nullptr;  // [value head][key_dim][value_dim], contiguous
  head_rows<float> out;
  std::uint32_t tokens = 0;
  std::uint32_t key_heads = 0;
  std::uint32_t value_heads = 0;
  std::uint32_t key_dim = 0;
  std::uint32_t value_dim = 0;
  value_head_order order = value_head_order::grouped;
};

// Sum over the eight lanes of a column (consecutive lanes of one warp).
__device__ inline float column_sum(float value) {
  for (int mask = deltanet_lanes_per_column / 2; mask > 0; mask /= 2) value += gpu::shuffle_xor(value, mask);
  return value;
}

// Grid: (value heads, column tiles of BlockThreads / 8).
template <int BlockThreads>
__global__ void __launch_bounds__(BlockThreads) deltanet_kernel(deltanet_problem a) {
  constexpr int max_dk = static_cast<int>(deltanet_max_key_dim);
  constexpr int rows_per_lane = max_dk / deltanet_lanes_per_column;
  __shared__ float key[max_dk];
  __shared__ float query[max_dk];
  const std::uint32_t head = blockIdx.x;
  // key_head_of's rule (a host function: nvcc would need relaxed constexpr to call it here).
  const std::uint32_t key_head = a.order == value_head_order::grouped ? head / (a.value_heads / a.key_heads) : head % a.key_heads;
  const int part = static_cast<int>(threadIdx.x) % deltanet_lanes_per_column;
  const std::uint32_t column = blockIdx.y * (BlockThreads / deltanet_lanes_per_column) + threadIdx.x / deltanet_lanes_per_column;
  const bool owns_column = column < a.value_dim;
  const int dk = static_cast<int>(a.key_dim);
  float* state = a.state + static_cast<std::size_t>(head) * a.key_dim * a.value_dim + column;

  float s[rows_per_lane];
#pragma unroll
  for (int r = 0; r < rows_per_lane; ++r) {
    const int i = part + r * deltanet_lanes_per_column;
    s[r] = owns_column && i < dk ? state[static_cast<std::size_t>(i) * a.value_dim] : 0.0f;
  }
  for (std::uint32_t t = 0; t < a.tokens; ++t) {
    __syncthreads();  // the previous token's key and query are no longer read
    const float* k = a.k.at(t, key_head);
    const float* q = a.q.at(t, key_head);
    for (int d = static_cast<int>(threadIdx.x); d < dk; d += BlockThreads) {
      key[d] = k[d];
      query[d] = q[d];
    }
    __syncthreads();
    const float decay = expf(a.log_decay[t * a.decay_stride + head]);
    float sk = 0.0f;
#pragma unroll
    for (int r = 0; r < rows_per_lane; ++r) {
      const int i = part + r * deltanet_lanes_per_column;
      if (i < dk) {
        s[r] *= decay;
        sk = fmaf(s[r], key[i], sk);
      }
    }
    sk = column_sum(sk);
    const float u = owns_column ? (a.v.at(t, head)[column] - sk) * a.beta[t * a.beta_stride + head] : 0.0f;
    float o = 0.0f;
#pragma unroll
    for (int r = 0; r < rows_per_lane; ++r) {
      const int i = part + r * deltanet_lanes_per_column;
      if (i < dk) {
        s[r] = fmaf(key[i], u, s[r]);
        o = fmaf(s[r], query[i], o);
      }
    }
    o = column_sum(o);
    if (owns_column && part == 0) a.out.at(t, head)[column] = o;
  }
#pragma unroll
  for (int r = 0; r < rows_per_lane; ++r) {
    const int i = part + r * deltanet_lanes_per_column;
    if (owns_column && i < dk) state[static_cast<std::size_t>(i) * a.value_dim] = s[r];
  }
}

}  // namespace strix::hip_kernels
