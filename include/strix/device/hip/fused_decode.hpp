// The decode matmul (one activation row) of Q4_K weights, whose 16-byte-aligned blocks a lane
// loads straight into registers. Against matmul_kernel (kernels.hpp), which pays ~150 instructions
// per 32 weights for staging and bookkeeping and leaves the activations to a quantizing launch of
// their own (4 µs on the H100, a fifth of a 4096x14336 Q4_K decode), this kernel
// - quantizes the activation row itself, each block into its shared memory (the same arithmetic as
//   quantize_q8_kernel: quantize_q8_lane), so a matmul is one launch;
// - keeps only as many blocks as the GPU holds at once, each warp walking rows gridDim.x · warps
//   apart, so the row is quantized once per block rather than per row group;
// - has Depth loads per lane in flight ahead of the one it multiplies, across row boundaries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <strix/device/hip/host_device.hpp>
#include <strix/device/hip/kernels.hpp>

namespace strix::hip_kernels {

// Where the fused decode's tasks find the activation codes they multiply, 16 bytes per piece: the
// block's quantized activation row in shared memory. Piece `piece` of task `task` is stored so that
// the 32 lanes of a warp reading the same piece of 32 consecutive tasks read 512 contiguous bytes
// (no bank conflicts); beside the codes, per unit and half of 16 its scale and the sum of the
// half's codes (exact in a float: at most 16 · 127).
template <int Pieces>
struct shared_q8_row {
  int4* codes;
  float2* halves;

  // 16-byte pieces the codes of `tasks` tasks take (whole groups of 32 tasks), then the halves'.
  STRIX_HOST_DEVICE static constexpr std::size_t code_pieces(std::size_t tasks) {
    return (tasks + gpu::warp_size - 1) / gpu::warp_size * gpu::warp_size * Pieces;
  }
  STRIX_HOST_DEVICE static constexpr std::size_t row_pieces(std::size_t tasks, std::size_t row_length) {
    return code_pieces(tasks) + (row_length / 16 * sizeof(float2) + 15) / 16;
  }

  __device__ static row_index piece_index(row_index task, int piece) {
    return (task / gpu::warp_size * Pieces + static_cast<row_index>(piece)) * gpu::warp_size + task % gpu::warp_size;
  }
  __device__ int4 piece(row_index task, int piece) const { return codes[piece_index(task, piece)]; }
  __device__ float2 half(row_index unit, int half) const { return halves[2 * unit + static_cast<row_index>(half)]; }
};

// Which task and which of its pieces take the codes of one half of a unit.
struct code_slot {
  row_index task;
  int piece;
};

// x (row_length activations, a multiple of 32) → the block's shared_q8_row, by all its threads;
// Task::code_slot(unit, half) says which task and piece take the 16 codes of a unit's half.
template <int BlockThreads, class Task>
__device__ void quantize_to_shared(const float* __restrict__ x, row_index row_length, const shared_q8_row<Task::pieces>& row) {
  constexpr int groups = BlockThreads / quantize_q8_lanes;
  const row_index units = row_length / unit_size;
  const int part = static_cast<int>(threadIdx.x) % quantize_q8_lanes;
  for (row_index first = 0; first < units; first += groups) {
    const row_index unit = first + threadIdx.x / quantize_q8_lanes;
    const bool active = unit < units;
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (active) {
#pragma unroll
      for (int k = 0; k < 4; ++k) v[k] = x[unit * unit_size + 4 * part + k];
    }
    const q8_lane_codes q = quantize_q8_lane(v);  // every lane takes part in its shuffles
    if (!active) continue;
    const int half = part / 4;
    const code_slot slot = Task::code_slot(unit, half);
    reinterpret_cast<std::uint32_t*>(row.codes + row.piece_index(slot.task, slot.piece))[part % 4] = q.word;
    if (part % 4 == 0) row.halves[2 * unit + static_cast<row_index>(half)] = make_float2(q.d, static_cast<float>(q.half_sum));
  }
}

// Q4_K's 6-bit scales and mins of sub-blocks 2p and 2p + 1 from a block's 16-byte header (d, dmin,
// scales; k4_scale_min reads the same bytes one by one), as floats d·scale and dmin·min.
struct k4_pair_scales {
  float scale[2];
  float min[2];
  __device__ k4_pair_scales(int4 header, int p) {
    const auto s0 = static_cast<std::uint32_t>(header.y);
    const auto s1 = static_cast<std::uint32_t>(header.z);
    const auto s2 = static_cast<std::uint32_t>(header.w);
    // All 8 sub-blocks' scales and mins, four to a word, then this pair's two bytes of each.
    const bool upper = p >= 2;
    const std::uint32_t scales = upper ? (s2 & 0x0f0f0f0fu) | ((s0 >> 2) & 0x30303030u) : s0 & 0x3f3f3f3fu;
    const std::uint32_t mins = upper ? ((s2 >> 4) & 0x0f0f0f0fu) | ((s1 >> 2) & 0x30303030u) : s1 & 0x3f3f3f3fu;
    const int shift = 16 * (p % 2);
    const auto ds = static_cast<std::uint32_t>(header.x);
    const float d = gpu::half_bits_to_float(static_cast<std::uint16_t>(ds & 0xffffu));
    const float dmin = gpu::half_bits_to_float(static_cast<std::uint16_t>(ds >> 16));
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      scale[s] = d * static_cast<float>((scales >> (shift + 8 * s)) & 0xffu);
      min[s] = dmin * static_cast<float>((mins >> (shift + 8 * s)) & 0xffu);
    }
  }
};

// Q4_K: a task is sub-blocks 2p and 2p + 1 of a block (p = task % 4), whose codes share the 32
// bytes qs[32p …] (low nibbles: 2p, high: 2p + 1), loaded as two aligned 16-byte vectors with the
// block's 16-byte header; lanes 4b … 4b + 3 take block b, so a warp's loads cover 8 consecutive
// blocks. (A task per 16 bytes, two lanes per sector, measured slower: 19.4 against 17.7 µs at
// 4096x14336 on the H100.) Rows and weights 16-byte aligned (144-byte blocks keep it; the policy
// checks the weights' address).
struct q4_k_pair_task {
  using format = q4_k_format;
  static constexpr int pieces = 4;
  static constexpr std::size_t weights = 64;
  static constexpr row_index codes_vector = offsetof(block_q4_k, qs) / 16;
  static_assert(sizeof(block_q4_k) % 16 == 0 && offsetof(block_q4_k, qs) % 16 == 0 && offsetof(block_q4_k, scales) == 4);

  struct fetched {
    int4 header;
    int4 codes[2];
  };

  // Unit u is sub-block u % 8 of block u / 8, in task u / 2; its halves are the task's pieces
  // 2·(u % 2) and 2·(u % 2) + 1.
  __device__ static code_slot code_slot(row_index unit, int half) { return {unit / 2, 2 * static_cast<int>(unit % 2) + half}; }

  __device__ static fetched fetch(const std::uint8_t* row, row_index task) {
    const auto* b = reinterpret_cast<const int4*>(row + task / 4 * static_cast<row_index>(sizeof(block_q4_k)));
    return {b[0], {b[codes_vector + 2 * (task % 4)], b[codes_vector + 2 * (task % 4) + 1]}};
  }

  __device__ static float dot(const fetched& f, row_index task, const shared_q8_row<pieces>& x) {
    const k4_pair_scales sm(f.header, static_cast<int>(task % 4));
    float sum = 0.0f;
#pragma unroll
    for (int s = 0; s < 2; ++s) {  // sub-block 2p + s
      int products = 0;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int4 c = f.codes[h];
        const int4 a = x.piece(task, 2 * s + h);
        const int words[4][2] = {{c.x, a.x}, {c.y, a.y}, {c.z, a.z}, {c.w, a.w}};
#pragma unroll
        for (const auto& w : words) products = gpu::dot4_i8(static_cast<int>((static_cast<std::uint32_t>(w[0]) >> (4 * s)) & low_nibbles), w[1], products);
      }
      const float2 first = x.half(2 * task + static_cast<row_index>(s), 0);
      const float2 second = x.half(2 * task + static_cast<row_index>(s), 1);
      sum = fmaf(first.x, sm.scale[s] * static_cast<float>(products) - sm.min[s] * (first.y + second.y), sum);
    }
    return sum;
  }
};

template <class Format>
struct fused_decode_task;
template <>
struct fused_decode_task<q4_k_format> : q4_k_pair_task {};

template <class Format>
concept has_fused_decode = requires { fused_decode_task<Format>::weights; };

inline constexpr int fused_decode_threads = 1024;

// Shared memory of a fused decode block: the quantized activation row.
template <class Task>
constexpr std::size_t fused_decode_shared_bytes(std::size_t row_length) {
  return 16 * shared_q8_row<Task::pieces>::row_pieces(row_length / Task::weights, row_length);
}

// y[r] = weight row r · x for the `rows` rows: each warp takes rows first, first + gridDim.x · warps,
// …, 32 tasks of a row per iteration, with Depth iterations' loads in flight ahead of the one it
// multiplies (the first ones issued before the block quantizes x). Launch fused_decode_threads
// threads per block with fused_decode_shared_bytes<Task>(row_length) of shared memory and at most
// as many blocks as the GPU holds at once (a block that waited for another's end would quantize x
// again and finish late).
template <class Task, int Depth>
__global__ void __launch_bounds__(fused_decode_threads)
    fused_decode_kernel(const std::uint8_t* __restrict__ weights, std::size_t rows, std::size_t row_length, const float* __restrict__ x,
                        float* __restrict__ y) {
  using fetched = typename Task::fetched;
  constexpr int warps = fused_decode_threads / gpu::warp_size;
  extern __shared__ int4 shared[];
  const auto tasks = static_cast<row_index>(row_length / Task::weights);
  const row_index iterations = (tasks + gpu::warp_size - 1) / gpu::warp_size;
  const std::size_t row_bytes = row_length / Task::format::block_size * sizeof(typename Task::format::block_type);
  const shared_q8_row<Task::pieces> activations{shared, reinterpret_cast<float2*>(shared + shared_q8_row<Task::pieces>::code_pieces(tasks))};
  const int warp = static_cast<int>(threadIdx.x) / gpu::warp_size;
  const int lane = static_cast<int>(threadIdx.x) % gpu::warp_size;
  const std::size_t row_step = static_cast<std::size_t>(gridDim.x) * warps;

  // A position in the warp's walk: a row and the lane's task in it.
  struct position {
    std::size_t row;
    row_index task;
  };
  const auto advance = [&](position& p) {
    p.task += gpu::warp_size;
    if (p.task - static_cast<row_index>(lane) >= iterations * gpu::warp_size) {
      p.task = static_cast<row_index>(lane);
      p.row += row_step;
    }
  };
  const auto fetch = [&](const position& p) { return p.row < rows && p.task < tasks ? Task::fetch(weights + p.row * row_bytes, p.task) : fetched{}; };

  position at{static_cast<std::size_t>(blockIdx.x) * warps + static_cast<std::size_t>(warp), static_cast<row_index>(lane)};
  position ahead = at;
  fetched in_flight[Depth];
#pragma unroll
  for (int d = 0; d < Depth; ++d) {
    in_flight[d] = fetch(ahead);
    advance(ahead);
  }
  quantize_to_shared<fused_decode_threads, Task>(x, static_cast<row_index>(row_length), activations);
  __syncthreads();
  float acc = 0.0f;
  while (at.row < rows) {
    const fetched current = in_flight[0];
#pragma unroll
    for (int d = 0; d + 1 < Depth; ++d) in_flight[d] = in_flight[d + 1];
    in_flight[Depth - 1] = fetch(ahead);
    advance(ahead);
    if (at.task < tasks) acc += Task::dot(current, at.task, activations);
    const std::size_t row = at.row;
    advance(at);
    if (at.row != row) {
      acc = gpu::warp_sum(acc);
      if (lane == 0) y[row] = acc;
      acc = 0.0f;
    }
  }
}

}  // namespace strix::hip_kernels
