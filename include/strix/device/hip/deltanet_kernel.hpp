// The hip policy's Gated DeltaNet kernels (deltanet_params.hpp has the maths): the recurrence for
// decode, and its chunked form for prefill (below). Every column j of
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
  gpu::follow_previous_kernel();
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

// The chunked form for prefill (reference/deltanet.hpp derives it): per chunk of Chunk tokens, with
// Γ the running sum of g over the chunk, the written values W_i = β_i (v_i − e^{Γ_i} S0ᵀk_i) −
// Σ_{p<i} β_i e^{Γ_i−Γ_p} (k_i·k_p) W_p by forward substitution, the outputs o_i = e^{Γ_i} S0ᵀq_i +
// Σ_{p≤i} e^{Γ_i−Γ_p} (q_i·k_p) W_p, and the state e^{Γ_last} S0 + Σ_p e^{Γ_last−Γ_p} k_p W_pᵀ. The
// recurrent kernel's chain of 2 barriers and 2 column sums per token becomes, per chunk, two
// Gram matrices and state products that every lane works on at once, leaving only the
// substitution sequential (a column's 8 lanes, no block barrier). Same grid and lane layout as the
// recurrent kernel (8 lanes per column), but a lane holds rows 32r + 4·part … + 3 of its column so
// its key and query reads are 16-byte loads; the chunk's keys and queries sit in shared memory
// with rows 16 bytes longer than a key so the Gram's lanes (one key row each) hit distinct banks.
inline constexpr std::size_t deltanet_chunk_max_key_dim = 128;
// Tokens per chunk: 32 keys and queries of 128 dims, the Gram matrices and W fill 46 KB of the 48
// KB of static shared memory both vendors give a block.
inline constexpr int deltanet_chunk_tokens = 32;

// Grid: (value heads, column tiles of BlockThreads / 8).
template <int BlockThreads, int Chunk>
__global__ void __launch_bounds__(BlockThreads) deltanet_chunk_kernel(deltanet_problem a) {
  gpu::follow_previous_kernel();
  constexpr int lanes = deltanet_lanes_per_column;
  constexpr int columns = BlockThreads / lanes;
  constexpr int max_dk = static_cast<int>(deltanet_chunk_max_key_dim);
  constexpr int row_vectors = max_dk / 4 + 1;          // float4s per stored key row, one of padding
  constexpr int row_groups = max_dk / (4 * lanes);     // a lane's 4-row groups of its column
  constexpr int tokens_per_lane = Chunk / lanes;       // tokens a lane finishes: part, part + 8, ...
  constexpr int gram_entries = Chunk * Chunk / BlockThreads;
  static_assert(Chunk <= gpu::warp_size && Chunk % lanes == 0 && BlockThreads % Chunk == 0 && Chunk * Chunk % BlockThreads == 0,
                "a chunk fits a warp's scan, whole tokens per lane and whole Gram entries per thread");
  __shared__ float4 keys[Chunk][row_vectors];
  __shared__ float4 queries[Chunk][row_vectors];
  __shared__ float kk[Chunk][Chunk + 1];  // β_i e^{Γ_i−Γ_p} k_i·k_p for p < i, else 0
  __shared__ float qk[Chunk][Chunk + 1];  // e^{Γ_i−Γ_p} q_i·k_p for p ≤ i, else 0
  __shared__ float written[Chunk][columns];
  __shared__ float gamma[Chunk];
  __shared__ float carry[Chunk];  // e^{Γ_last−Γ_p}
  __shared__ float beta[Chunk];

  const std::uint32_t head = blockIdx.x;
  const std::uint32_t key_head = a.order == value_head_order::grouped ? head / (a.value_heads / a.key_heads) : head % a.key_heads;
  const int part = static_cast<int>(threadIdx.x) % lanes;
  const int tile_column = static_cast<int>(threadIdx.x) / lanes;
  const std::uint32_t column = blockIdx.y * columns + static_cast<std::uint32_t>(tile_column);
  const bool owns_column = column < a.value_dim;
  const int dk = static_cast<int>(a.key_dim);
  const int groups = (dk + 4 * lanes - 1) / (4 * lanes);  // of row_groups, those holding rows < dk
  float* state = a.state + static_cast<std::size_t>(head) * a.key_dim * a.value_dim + column;

  float s[row_groups][4];
#pragma unroll
  for (int r = 0; r < row_groups; ++r) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = 4 * (lanes * r + part) + e;
      s[r][e] = owns_column && i < dk ? state[static_cast<std::size_t>(i) * a.value_dim] : 0.0f;
    }
  }
  for (std::uint32_t first = 0; first < a.tokens; first += Chunk) {
    const int n = a.tokens - first < static_cast<std::uint32_t>(Chunk) ? static_cast<int>(a.tokens - first) : Chunk;
    __syncthreads();  // the previous chunk's shared values are no longer read
    // Keys and queries, zero past the key dim and the chunk's tokens, so sums may run over whole
    // vectors and whole chunks.
    for (int index = static_cast<int>(threadIdx.x); index < Chunk * max_dk; index += BlockThreads) {
      const int t = index / max_dk;
      const int d = index % max_dk;
      const bool inside = t < n && d < dk;
      reinterpret_cast<float*>(keys[t])[d] = inside ? a.k.at(first + t, key_head)[d] : 0.0f;
      reinterpret_cast<float*>(queries[t])[d] = inside ? a.q.at(first + t, key_head)[d] : 0.0f;
    }
    // The values of the lane's tokens, loaded now so their latency passes during the Gram matrices
    // (loaded where they are used, one token after another, they were a third of the kernel's time).
    float own_v[tokens_per_lane];
#pragma unroll
    for (int m = 0; m < tokens_per_lane; ++m) {
      const int i = lanes * m + part;
      own_v[m] = owns_column && i < n ? a.v.at(first + i, head)[column] : 0.0f;
    }
    if (threadIdx.x < gpu::warp_size) {
      const int t = static_cast<int>(threadIdx.x);
      float g = t < n ? a.log_decay[(first + t) * a.decay_stride + head] : 0.0f;
      for (int offset = 1; offset < gpu::warp_size; offset *= 2) {
        const float before = gpu::shuffle(g, t >= offset ? t - offset : t);
        if (t >= offset) g += before;
      }
      const float last = gpu::shuffle(g, n - 1);
      if (t < Chunk) {
        gamma[t] = g;
        carry[t] = expf(last - g);
        beta[t] = t < n ? a.beta[(first + t) * a.beta_stride + head] : 0.0f;
      }
    }
    __syncthreads();

    // The Gram matrices: entry (i, p) of both per thread and entry slot, lanes along p.
    {
      float kdot[gram_entries] = {};
      float qdot[gram_entries] = {};
      const int p = static_cast<int>(threadIdx.x) % Chunk;
      for (int v = 0; v < (dk + 3) / 4; ++v) {
        const float4 kp = keys[p][v];
#pragma unroll
        for (int m = 0; m < gram_entries; ++m) {
          const int i = (static_cast<int>(threadIdx.x) + m * BlockThreads) / Chunk;
          const float4 ki = keys[i][v];
          const float4 qi = queries[i][v];
          kdot[m] = fmaf(ki.x, kp.x, fmaf(ki.y, kp.y, fmaf(ki.z, kp.z, fmaf(ki.w, kp.w, kdot[m]))));
          qdot[m] = fmaf(qi.x, kp.x, fmaf(qi.y, kp.y, fmaf(qi.z, kp.z, fmaf(qi.w, kp.w, qdot[m]))));
        }
      }
#pragma unroll
      for (int m = 0; m < gram_entries; ++m) {
        const int i = (static_cast<int>(threadIdx.x) + m * BlockThreads) / Chunk;
        const float decay = p <= i ? expf(gamma[i] - gamma[p]) : 0.0f;
        kk[i][p] = p < i ? beta[i] * decay * kdot[m] : 0.0f;
        qk[i][p] = decay * qdot[m];
      }
    }

    // S0ᵀk_i and S0ᵀq_i for every token i = lanes·m + j, the tokens of one j at once (m unrolled, so
    // the lane finishing token i, lane j of the column, keeps its W and output terms in registers;
    // j not unrolled: its shared loads were hoisted and the kernel spilled registers on gfx1151).
    float own_written[tokens_per_lane] = {};
    float own_out[tokens_per_lane] = {};
#pragma unroll 1
    for (int j = 0; j < lanes; ++j) {
#pragma unroll
      for (int m = 0; m < tokens_per_lane; ++m) {
        const int i = lanes * m + j;
        if (i < n) {
          float sk = 0.0f;
          float sq = 0.0f;
#pragma unroll
          for (int r = 0; r < row_groups; ++r) {
            if (r < groups) {
              const float4 kv = keys[i][r * lanes + part];
              const float4 qv = queries[i][r * lanes + part];
              sk = fmaf(s[r][0], kv.x, fmaf(s[r][1], kv.y, fmaf(s[r][2], kv.z, fmaf(s[r][3], kv.w, sk))));
              sq = fmaf(s[r][0], qv.x, fmaf(s[r][1], qv.y, fmaf(s[r][2], qv.z, fmaf(s[r][3], qv.w, sq))));
            }
          }
          sk = column_sum(sk);
          sq = column_sum(sq);
          if (part == j) {
            const float from_state = expf(gamma[i]);
            own_written[m] = beta[i] * (own_v[m] - from_state * sk);
            own_out[m] = from_state * sq;
          }
        }
      }
    }
    __syncthreads();  // kk and qk are complete

    // Forward substitution, token by token: the lane finishing token i forms W_i from the sum it
    // kept, hands it to its column's lanes by a shuffle, and each lane adds W_i's term to the sums
    // of its own later tokens (kk is zero on and above the diagonal, so earlier ones add nothing).
    const int column_lanes = static_cast<int>(threadIdx.x) % gpu::warp_size / lanes * lanes;
    float pending[tokens_per_lane] = {};
#pragma unroll
    for (int m = 0; m < tokens_per_lane; ++m) {
      for (int j = 0; j < lanes; ++j) {
        const int i = lanes * m + j;
        if (i >= n) break;
        const float w = gpu::shuffle(own_written[m] - pending[m], column_lanes + j);
        if (part == j) written[i][tile_column] = w;
#pragma unroll
        for (int later = 0; later < tokens_per_lane; ++later) pending[later] = fmaf(kk[lanes * later + part][i], w, pending[later]);
      }
    }
    gpu::sync_warp();  // the column's W is in shared memory

    // Outputs and the state after the chunk, in one pass over the chunk's W (qk is zero above the
    // diagonal, and on rows past the chunk's tokens, so every row may run over every token).
    const float keep = expf(gamma[n - 1]);
    float o[tokens_per_lane];
#pragma unroll
    for (int m = 0; m < tokens_per_lane; ++m) o[m] = own_out[m];
#pragma unroll
    for (int r = 0; r < row_groups; ++r) {
#pragma unroll
      for (int e = 0; e < 4; ++e) s[r][e] *= keep;
    }
    for (int p = 0; p < n; ++p) {
      const float w = written[p][tile_column];
#pragma unroll
      for (int m = 0; m < tokens_per_lane; ++m) o[m] = fmaf(qk[lanes * m + part][p], w, o[m]);
      const float carried = carry[p] * w;
#pragma unroll
      for (int r = 0; r < row_groups; ++r) {
        if (r < groups) {
          const float4 kv = keys[p][r * lanes + part];
          s[r][0] = fmaf(kv.x, carried, s[r][0]);
          s[r][1] = fmaf(kv.y, carried, s[r][1]);
          s[r][2] = fmaf(kv.z, carried, s[r][2]);
          s[r][3] = fmaf(kv.w, carried, s[r][3]);
        }
      }
    }
#pragma unroll
    for (int m = 0; m < tokens_per_lane; ++m) {
      const int i = lanes * m + part;
      if (owns_column && i < n) a.out.at(first + i, head)[column] = o[m];
    }
  }
#pragma unroll
  for (int r = 0; r < row_groups; ++r) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = 4 * (lanes * r + part) + e;
      if (owns_column && i < dk) state[static_cast<std::size_t>(i) * a.value_dim] = s[r][e];
    }
  }
}

}  // namespace strix::hip_kernels
