// The hip policy's attention over a paged KV cache (decode, verify and prefill rows alike): one
// block per query row, group of query heads sharing a KV head, and key split, online softmax
// (flash-attention style) so the scores never leave registers. Lanes own slices of 8 dims (lane l:
// dims 8l…8l+7, and 256 on for head dims over 256), so every K and V row is read by one contiguous
// warp-wide load, decoded once for all the block's query heads (GQA: 2 or 4 heads per block where
// the group allows, so K/V traffic and decoding fall by that factor). Each warp takes its own
// batches of 8 keys — their loads in flight together, the 8 partial dot products of each head
// summed over the warp by one transposing butterfly that leaves each lane one key's score (9
// shuffles instead of 40), so each lane takes one exponential per head and batch — rescales its
// running maxima and sums, and accumulates the batch's value rows. The warps' partial results meet
// in shared memory at the end. When a batch has too few rows and heads to fill the GPU (decode),
// the visible keys are split over several blocks (flash-decoding), each writing its unnormalised
// partial result, and attention_combine_kernel merges them.
// write_kv_kernel writes new K and V rows into the cache's blocks with the host's quantizers.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <strix/device/attention_params.hpp>
#include <strix/device/hip/head_rows.hpp>
#include <strix/device/hip/host_device.hpp>
#include <strix/device/hip/kv_quantizers.hpp>
#include <strix/device/hip/portability.hpp>
#include <strix/device/hip/unit_decoders.hpp>

namespace strix::hip_kernels {

// One query row: where its sequence's block table starts in the launch's table array, and its
// position (the newest key it sees).
struct attention_query_row {
  // A row no sequence claims: its block leaves the output untouched, as the reference does.
  static constexpr std::uint32_t no_position = 0xffffffffu;
  std::uint32_t table = 0;
  std::uint32_t position = 0;
};

// One layer's KV storage as the kernels address it (paged_kv_view.hpp's layout): the row in slot
// `slot` of KV head h in block b starts at base + b·block_bytes + offset + (h·block_size + slot)·
// row_bytes, with offset k_offset for K and v_offset for V. Byte: const for attention, which reads.
template <class Byte>
struct kv_storage {
  Byte* base = nullptr;
  std::size_t block_bytes = 0;
  std::size_t k_offset = 0;
  std::size_t v_offset = 0;
  std::size_t row_bytes = 0;
  std::uint32_t block_size = 0;

  __device__ Byte* row(kv_block_id block, std::size_t offset, std::size_t head, std::size_t slot) const {
    return base + block * block_bytes + offset + (head * block_size + slot) * row_bytes;
  }
};

struct attention_problem {
  head_rows<const float> q;
  head_rows<float> out;
  std::uint32_t group = 0;   // query heads per KV head
  std::uint32_t head_dim = 0;
  const attention_query_row* rows = nullptr;
  const kv_block_id* tables = nullptr;
  kv_storage<const std::byte> kv;
  float scale = 1.0f;
  float softcap = 0.0f;
  // Key splits (grid z): split z takes keys [first + z·keys_per_split, +keys_per_split) of each
  // row's visible range. With more than one, blocks write partials: per (row, head, split) the
  // maximum and sum of the split's softmax terms and its dim unnormalised sums.
  std::uint32_t splits = 1;
  std::uint32_t keys_per_split = 0;
  float* partial_max = nullptr;  // [row][head][split]
  float* partial_sum = nullptr;
  float* partial_acc = nullptr;  // [row][head][split][head_dim]
  std::uint32_t heads = 0;
};

// Keys a warp scores together.
inline constexpr int attention_key_batch = 8;
// Head dims one slice of 8 per lane covers; longer ones (up to max_attention_head_dim) take two.
inline constexpr int attention_slice_dims = slice_size * gpu::warp_size;
static_assert(max_attention_head_dim <= 2 * attention_slice_dims);

// How an attention block is cut: LaneSlices slices of 8 dims per lane (1 for head dims up to 256,
// else 2) and Heads query heads of one KV head (1, or up to the largest power of two dividing the
// group, at most 4 with one slice and 2 with two, which bounds registers and the shared memory the
// warps' results meet in; hip_device::attention_heads_per_block chooses).
STRIX_HOST_DEVICE constexpr int attention_lane_slices(std::size_t head_dim) { return head_dim <= attention_slice_dims ? 1 : 2; }
STRIX_HOST_DEVICE constexpr int attention_most_heads_per_block(std::size_t group, std::size_t head_dim) {
  const int most = attention_lane_slices(head_dim) == 1 ? 4 : 2;
  int heads = 1;
  while (heads < most && group % static_cast<std::size_t>(2 * heads) == 0) heads *= 2;
  return heads;
}

// f(heads, lane_slices) with both as std::integral_constant, for blocks of `heads` query heads
// (1 or at most attention_most_heads_per_block).
template <class F>
decltype(auto) with_attention_cut(int heads, std::size_t head_dim, F&& f) {
  if (attention_lane_slices(head_dim) == 2) {
    if (heads == 2) return f(std::integral_constant<int, 2>{}, std::integral_constant<int, 2>{});
    return f(std::integral_constant<int, 1>{}, std::integral_constant<int, 2>{});
  }
  if (heads == 4) return f(std::integral_constant<int, 4>{}, std::integral_constant<int, 1>{});
  if (heads == 2) return f(std::integral_constant<int, 2>{}, std::integral_constant<int, 1>{});
  return f(std::integral_constant<int, 1>{}, std::integral_constant<int, 1>{});
}

// The warp sums of 8 values at once: lanes exchange the halves they do not keep (xor 16: 4 values,
// xor 8: 2, xor 4: 1), then finish the one left (xor 2, 1), so lane l ends with the sum over the
// warp of v[(l >> 2) & 7] — 9 shuffles instead of 8 warp sums of 5 each.
__device__ inline int transposed_key(int lane) { return (lane >> 2) & 7; }
__device__ inline float transposed_warp_sums(const float (&v)[8], int lane) {
  const bool upper4 = (lane & 16) != 0;
  float four[4];
#pragma unroll
  for (int k = 0; k < 4; ++k) four[k] = (upper4 ? v[k + 4] : v[k]) + gpu::shuffle_xor(upper4 ? v[k] : v[k + 4], 16);
  const bool upper2 = (lane & 8) != 0;
  float two[2];
#pragma unroll
  for (int k = 0; k < 2; ++k) two[k] = (upper2 ? four[k + 2] : four[k]) + gpu::shuffle_xor(upper2 ? four[k] : four[k + 2], 8);
  const bool upper1 = (lane & 4) != 0;
  float one = (upper1 ? two[1] : two[0]) + gpu::shuffle_xor(upper1 ? two[0] : two[1], 4);
  one += gpu::shuffle_xor(one, 2);
  return one + gpu::shuffle_xor(one, 1);
}

// Over the 8 lane groups that hold different keys after transposed_warp_sums (lanes of one group
// hold the same value).
__device__ inline float sum_over_keys(float v) {
  for (int mask = 4; mask < gpu::warp_size; mask *= 2) v += gpu::shuffle_xor(v, mask);
  return v;
}
__device__ inline float max_over_keys(float v) {
  for (int mask = 4; mask < gpu::warp_size; mask *= 2) v = fmaxf(v, gpu::shuffle_xor(v, mask));
  return v;
}

// Slice `slice` of a stored K or V row of `dim` elements; for element formats the last slice may be
// partial (head dims that are not a multiple of 8), its missing elements read as 0.
template <class Format>
__device__ inline void decode_kv_slice(const typename Format::block_type* row, int slice, int dim, float* w) {
  using decoder = gpu_format<Format>;
  if constexpr (decoder::units_per_block == 0) {
    if ((slice + 1) * slice_size > dim) {
#pragma unroll
      for (int k = 0; k < slice_size; ++k) {
        const int i = slice * slice_size + k;
        w[k] = i < dim ? decoder::element(row, static_cast<std::size_t>(i)) : 0.0f;
      }
      return;
    }
  }
  if constexpr (decoder::units_per_block == 0) {
    // Element rows are usually 16-byte aligned (head dims of 8k f16 / 4k f32): one load per slice.
    const auto* first = row + slice * slice_size;
    if ((reinterpret_cast<std::uintptr_t>(first) & 15) == 0) {
      if constexpr (sizeof(typename Format::block_type) == 2) {
        const uint4 v = *reinterpret_cast<const uint4*>(first);
        const std::uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          if constexpr (std::is_same_v<Format, f16_format>) {
            w[2 * k] = gpu::half_bits_to_float(static_cast<std::uint16_t>(words[k]));
            w[2 * k + 1] = gpu::half_bits_to_float(static_cast<std::uint16_t>(words[k] >> 16));
          } else {
            w[2 * k] = gpu::float_from_bits(words[k] << 16);
            w[2 * k + 1] = gpu::float_from_bits(words[k] & 0xffff0000u);
          }
        }
      } else {
        const float4 a = reinterpret_cast<const float4*>(first)[0];
        const float4 b = reinterpret_cast<const float4*>(first)[1];
        w[0] = a.x, w[1] = a.y, w[2] = a.z, w[3] = a.w, w[4] = b.x, w[5] = b.y, w[6] = b.z, w[7] = b.w;
      }
      return;
    }
  }
  decoder::decode(row, static_cast<row_index>(slice), w);
}

// Grid (rows, heads / Heads, splits); Heads and LaneSlices as with_attention_cut chooses them.
template <class Format, std::size_t Window, int BlockThreads, int Heads, int LaneSlices>
__global__ void __launch_bounds__(BlockThreads) attention_kernel(attention_problem a) {
  gpu::follow_previous_kernel();
  using block_type = typename Format::block_type;
  constexpr int warps = BlockThreads / gpu::warp_size;
  constexpr int max_dim = LaneSlices * attention_slice_dims;
  __shared__ float partial_acc[warps][Heads][max_dim];
  __shared__ float partial_max[warps][Heads];
  __shared__ float partial_sum[warps][Heads];

  const int warp = static_cast<int>(threadIdx.x) / gpu::warp_size;
  const int lane = static_cast<int>(threadIdx.x) % gpu::warp_size;
  const int dim = static_cast<int>(a.head_dim);
  const int slices = (dim + slice_size - 1) / slice_size;
  const attention_query_row row = a.rows[blockIdx.x];
  if (row.position == attention_query_row::no_position) return;
  const std::uint32_t first_head = blockIdx.y * Heads;

  const std::uint32_t position = row.position;
  const std::uint32_t first = Window == 0 || position + 1 <= Window ? 0u : position + 1 - static_cast<std::uint32_t>(Window);
  // This block's keys: [begin, end), empty for splits past the row's visible range.
  const std::uint32_t visible = position + 1 - first;
  const std::uint32_t skip = blockIdx.z * a.keys_per_split;
  const std::uint32_t begin = first + (skip < visible ? skip : visible);
  const std::uint32_t end = first + (skip + a.keys_per_split < visible ? skip + a.keys_per_split : visible);
  const std::uint32_t kv_head = first_head / a.group;
  auto stored_row = [&](std::uint32_t p, std::size_t offset) {
    return reinterpret_cast<const block_type*>(a.kv.row(a.tables[row.table + p / a.kv.block_size], offset, kv_head, p % a.kv.block_size));
  };

  // f(i, w) with w the decoded values of the lane's slice i of a stored row.
  auto for_lane_slices = [&](const block_type* stored, auto&& f) {
#pragma unroll
    for (int i = 0; i < LaneSlices; ++i) {
      const int s = lane + i * gpu::warp_size;
      if (s < slices) {
        float w[slice_size];
        decode_kv_slice<Format>(stored, s, dim, w);
        f(i, w);
      }
    }
  };

  // The lane's slices of each head's query; zeros past the head dim (where a partial slice of an
  // element format reads zeros too).
  float query_slices[Heads][LaneSlices][slice_size];
#pragma unroll
  for (int h = 0; h < Heads; ++h) {
    const float* q = a.q.at(blockIdx.x, first_head + static_cast<std::uint32_t>(h));
#pragma unroll
    for (int i = 0; i < LaneSlices; ++i) {
      const int s = lane + i * gpu::warp_size;
#pragma unroll
      for (int e = 0; e < slice_size; ++e) query_slices[h][i][e] = s * slice_size + e < dim ? q[s * slice_size + e] : 0.0f;
    }
  }

  // Per head: the running maximum, and the sum of the softmax terms of this lane's key of each
  // batch (transposed_key; summed over the keys at the end).
  float running_max[Heads];
  float running_sum[Heads];
  float acc[Heads][LaneSlices][slice_size] = {};
#pragma unroll
  for (int h = 0; h < Heads; ++h) running_max[h] = -INFINITY, running_sum[h] = 0.0f;
  const int key = transposed_key(lane);
  constexpr auto block_keys = static_cast<std::uint32_t>(warps * attention_key_batch);
  for (std::uint32_t batch = begin + static_cast<std::uint32_t>(warp * attention_key_batch); batch < end; batch += block_keys) {
    const int keys = static_cast<int>(end - batch < static_cast<std::uint32_t>(attention_key_batch) ? end - batch : attention_key_batch);
    float dots[Heads][attention_key_batch];
#pragma unroll
    for (int j = 0; j < attention_key_batch; ++j) {
#pragma unroll
      for (int h = 0; h < Heads; ++h) dots[h][j] = 0.0f;
      if (j < keys) {
        for_lane_slices(stored_row(batch + static_cast<std::uint32_t>(j), a.kv.k_offset), [&](int i, const float* w) {
#pragma unroll
          for (int h = 0; h < Heads; ++h) {
#pragma unroll
            for (int e = 0; e < slice_size; ++e) dots[h][j] = fmaf(query_slices[h][i][e], w[e], dots[h][j]);
          }
        });
      }
    }
    // Key 0 of the batch is visible, so each maximum is a number (unless scores are NaN).
    float terms[Heads];
#pragma unroll
    for (int h = 0; h < Heads; ++h) {
      float score = transposed_warp_sums(dots[h], lane) * a.scale;
      if (a.softcap != 0.0f) score = a.softcap * tanhf(score / a.softcap);
      score = key < keys ? score : -INFINITY;
      const float new_max = fmaxf(running_max[h], max_over_keys(score));
      const float correction = expf(running_max[h] - new_max);
      running_max[h] = new_max;
      terms[h] = key < keys ? expf(score - new_max) : 0.0f;
      running_sum[h] = fmaf(running_sum[h], correction, terms[h]);
#pragma unroll
      for (int i = 0; i < LaneSlices; ++i) {
#pragma unroll
        for (int e = 0; e < slice_size; ++e) acc[h][i][e] *= correction;
      }
    }
#pragma unroll
    for (int j = 0; j < attention_key_batch; ++j) {
      if (j < keys) {
        float p[Heads];
#pragma unroll
        for (int h = 0; h < Heads; ++h) p[h] = gpu::shuffle(terms[h], 4 * j);  // a lane that holds key j
        for_lane_slices(stored_row(batch + static_cast<std::uint32_t>(j), a.kv.v_offset), [&](int i, const float* w) {
#pragma unroll
          for (int h = 0; h < Heads; ++h) {
#pragma unroll
            for (int e = 0; e < slice_size; ++e) acc[h][i][e] = fmaf(p[h], w[e], acc[h][i][e]);
          }
        });
      }
    }
  }

#pragma unroll
  for (int h = 0; h < Heads; ++h) {
    const float sum = sum_over_keys(running_sum[h]);
    if (lane == 0) {
      partial_max[warp][h] = running_max[h];
      partial_sum[warp][h] = sum;
    }
#pragma unroll
    for (int i = 0; i < LaneSlices; ++i) {
      const int s = lane + i * gpu::warp_size;
#pragma unroll
      for (int e = 0; e < slice_size; ++e) {
        if (s * slice_size + e < dim) partial_acc[warp][h][s * slice_size + e] = acc[h][i][e];
      }
    }
  }
  __syncthreads();
  // Warps that had no batch hold max -inf and sum 0: their factor is 0 (and every factor is 0 in a
  // block whose split is empty).
#pragma unroll
  for (int h = 0; h < Heads; ++h) {
    const std::uint32_t head = first_head + static_cast<std::uint32_t>(h);
    float block_max = -INFINITY;
    for (int w = 0; w < warps; ++w) block_max = fmaxf(block_max, partial_max[w][h]);
    float factor[warps];
    float total = 0.0f;
    for (int w = 0; w < warps; ++w) {
      factor[w] = partial_max[w][h] == -INFINITY ? 0.0f : expf(partial_max[w][h] - block_max);
      total += partial_sum[w][h] * factor[w];
    }
    const std::size_t split = (static_cast<std::size_t>(blockIdx.x) * a.heads + head) * a.splits + blockIdx.z;
    if (a.splits > 1 && threadIdx.x == 0) {
      a.partial_max[split] = block_max;
      a.partial_sum[split] = total;
    }
    float* out = a.splits > 1 ? a.partial_acc + split * a.head_dim : a.out.at(blockIdx.x, head);
    const float normaliser = a.splits > 1 ? 1.0f : 1.0f / total;
    for (int d = static_cast<int>(threadIdx.x); d < dim; d += BlockThreads) {
      float sum = 0.0f;
      for (int w = 0; w < warps; ++w) sum = fmaf(partial_acc[w][h][d], factor[w], sum);
      out[d] = sum * normaliser;
    }
  }
}

// Merges the key splits of each (row, head): grid (rows, heads).
template <int BlockThreads>
__global__ void __launch_bounds__(BlockThreads) attention_combine_kernel(attention_problem a) {
  gpu::follow_previous_kernel();
  if (a.rows[blockIdx.x].position == attention_query_row::no_position) return;
  const std::size_t first_split = (static_cast<std::size_t>(blockIdx.x) * a.heads + blockIdx.y) * a.splits;
  float max = -INFINITY;
  for (std::uint32_t z = 0; z < a.splits; ++z) max = fmaxf(max, a.partial_max[first_split + z]);
  float total = 0.0f;
  for (std::uint32_t z = 0; z < a.splits; ++z) {
    const float m = a.partial_max[first_split + z];
    if (m != -INFINITY) total += a.partial_sum[first_split + z] * expf(m - max);
  }
  float* out = a.out.at(blockIdx.x, blockIdx.y);
  for (std::uint32_t d = threadIdx.x; d < a.head_dim; d += BlockThreads) {
    float sum = 0.0f;
    for (std::uint32_t z = 0; z < a.splits; ++z) {
      const float m = a.partial_max[first_split + z];
      if (m != -INFINITY) sum = fmaf(a.partial_acc[(first_split + z) * a.head_dim + d], expf(m - max), sum);
    }
    out[d] = sum / total;
  }
}

// write_kv_kernel's launch: row r of K and V ([row][kv_heads · head_dim] values, row strides in
// floats) goes to slot slots[r] of the blocks of `kv`.
struct kv_write_problem {
  const float* k = nullptr;
  std::size_t k_stride = 0;
  const float* v = nullptr;
  std::size_t v_stride = 0;
  const kv_row_slot* slots = nullptr;
  std::uint32_t rows = 0;
  std::uint32_t kv_heads = 0;
  std::uint32_t head_dim = 0;
  kv_storage<std::byte> kv;
};

// Threads that write `rows` rows: one per unit (element, or block of 32) of each head's K and V row.
template <class Format>
inline std::size_t kv_write_threads(std::size_t rows, std::size_t kv_heads, std::size_t head_dim) noexcept {
  return 2 * rows * kv_heads * (head_dim / Format::block_size);
}

// K's units first, then V's; within each, row-major, so neighbouring threads read neighbouring values.
template <class Format, int BlockThreads>
__global__ void __launch_bounds__(BlockThreads) write_kv_kernel(kv_write_problem p) {
  gpu::follow_previous_kernel();
  using block_type = typename Format::block_type;
  const std::size_t units = p.head_dim / Format::block_size;
  const std::size_t per_side = std::size_t{p.rows} * p.kv_heads * units;
  const std::size_t index = static_cast<std::size_t>(blockIdx.x) * BlockThreads + threadIdx.x;
  if (index >= 2 * per_side) return;
  const bool value = index >= per_side;
  const std::size_t i = value ? index - per_side : index;
  const std::size_t unit = i % units;
  const std::size_t head = i / units % p.kv_heads;
  const std::size_t row = i / units / p.kv_heads;
  const float* x = (value ? p.v + row * p.v_stride : p.k + row * p.k_stride) + head * p.head_dim + unit * Format::block_size;
  const kv_row_slot target = p.slots[row];
  std::byte* stored = p.kv.row(target.block, value ? p.kv.v_offset : p.kv.k_offset, head, target.slot);
  quantize_kv_unit<Format>(x, reinterpret_cast<block_type*>(stored)[unit]);
}

}  // namespace strix::hip_kernels
