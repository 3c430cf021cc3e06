// The hip policy's kernels, one source for AMD (hipcc / clang -x hip) and NVIDIA (nvcc). Pointers
// are device-readable (see hip.hpp for where they come from); row strides are in elements. Every
// kernel is launched on the policy's stream by the host-side wrapper of the same name in hip.hpp.
// Every kernel is a template (the row-wise ones over the block size their shared-memory
// reductions are sized for): a plain __global__ function in a header would be defined once per
// translation unit that includes it, and `inline` does not apply to kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <strix/device/hip/code_decoders.hpp>
#include <strix/device/hip/portability.hpp>
#include <strix/device/hip/unit_decoders.hpp>
#include <strix/device/kernel_params.hpp>

namespace strix::hip_kernels {

inline constexpr int block_threads = 256;
inline constexpr int warps_per_block = block_threads / gpu::warp_size;

// Where a matmul writes: `tokens` rows of y, `stride` apart.
struct matmul_output {
  float* y;
  std::size_t stride;
  std::size_t tokens;
};

// A non-empty group of a grouped matmul (matmul_groups.hpp) as the kernel reads it: its slice of
// the stacked weights starts at row weight_row; its activation and output rows are
// [first, first + count).
struct matmul_group_rows {
  std::uint32_t weight_row;
  std::uint32_t first;
  std::uint32_t count;
};

// A grouped matmul block's group (blockIdx.z; none without `groups`): moves `weights` to the
// group's slice of the stack and ends `out` at its last row; returns its first activation row.
template <class BlockPointer>
__device__ inline std::size_t enter_group(const matmul_group_rows* groups, std::size_t blocks_per_row, BlockPointer& weights,
                                          matmul_output& out) {
  if (groups == nullptr) return 0;
  const matmul_group_rows group = groups[blockIdx.z];
  weights += static_cast<std::size_t>(group.weight_row) * blocks_per_row;
  out.tokens = static_cast<std::size_t>(group.first) + group.count;
  return group.first;
}

// The 8 activations of one slice: two 16-byte loads when the rows allow (VectorX), else eight.
template <bool VectorX>
__device__ inline void load_slice(const float* __restrict__ x, float* out) {
  if constexpr (VectorX) {
    const float4 a = reinterpret_cast<const float4*>(x)[0];
    const float4 b = reinterpret_cast<const float4*>(x)[1];
    out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w, out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
  } else {
#pragma unroll
    for (int k = 0; k < slice_size; ++k) out[k] = x[k];
  }
}

struct float_slice {
  float w[slice_size];
};

// Activations as f32 rows, `stride` apart, for weights decoded to floats (every format; the only
// path for F32 / F16 / BF16), a slice of 8 weights per lane and step. VectorX: rows start 16-byte
// aligned (x and stride), so a slice's activations are two float4.
template <bool VectorX>
struct f32_activations {
  static constexpr int step = slice_size;
  const float* __restrict__ x;
  std::size_t stride;

  template <class Format>
  __device__ static float_slice decode(const typename Format::block_type* row, row_index slice) {
    float_slice s;
    gpu_format<Format>::decode(row, slice, s.w);
    return s;
  }

  // acc[r] += the slice of weight row r · the slice of activation row `token`.
  template <class Format, int Rows>
  __device__ void accumulate(std::size_t token, row_index slice, const float_slice (&w)[Rows], float (&acc)[Rows]) const {
    float v[slice_size];
    load_slice<VectorX>(x + token * stride + slice * slice_size, v);
#pragma unroll
    for (int r = 0; r < Rows; ++r) {
#pragma unroll
      for (int k = 0; k < slice_size; ++k) acc[r] = fmaf(w[r].w[k], v[k], acc[r]);
    }
  }

  // F32 / F16 / BF16 rows may end in a partial unit: elements `first`, first + 32, ... of each row.
  template <class Format, int Rows, int Tokens>
  __device__ void accumulate_tail(const typename Format::block_type* const (&rows)[Rows], std::size_t first, std::size_t row_length,
                                  std::size_t first_token, std::size_t tokens, float (&acc)[Tokens][Rows]) const {
    for (std::size_t i = first; i < row_length; i += gpu::warp_size) {
#pragma unroll
      for (int r = 0; r < Rows; ++r) {
        const float wi = gpu_format<Format>::element(rows[r], i);
#pragma unroll
        for (int t = 0; t < Tokens; ++t) {
          if (first_token + t >= tokens) break;
          acc[t][r] = fmaf(wi, x[(first_token + t) * stride + i], acc[t][r]);
        }
      }
    }
  }
};

// What quantize_q8_kernel writes per 32 activations beside their codes: the scale, and the sums of
// the codes of the unit's two halves (each a signed 16-bit field: |sum| ≤ 16 · 127), which the
// formats with offsets need — summing them in the matmul cost two dot products per row and unit.
struct alignas(8) q8_unit {
  float d;
  std::int32_t half_sums;  // Σ codes 0-15 in the low 16 bits, Σ codes 16-31 in the high

  __device__ int first_sum() const { return static_cast<std::int16_t>(half_sums & 0xffff); }
  __device__ int second_sum() const { return half_sums >> 16; }
};

// Where the 16 codes of half `half` of unit `unit` lie in a row of `units` units of int8
// activations: units are interleaved in groups of 32 (a group's first halves, then its second
// halves), so the 32 lanes of a warp, each multiplying one unit, read 512 contiguous bytes per
// 16-byte load; with units in order each load used half of every 32-byte sector it touched.
__device__ inline row_index q8_code_offset(row_index units, row_index unit, int half) {
  const row_index group = unit / gpu::warp_size * gpu::warp_size;
  const row_index group_units = units - group < gpu::warp_size ? units - group : gpu::warp_size;
  return group * unit_size + static_cast<row_index>(half) * 16 * group_units + 16 * (unit - group);
}

// Activations quantized by quantize_q8_kernel: per row, row_length int8 codes (q8_code_offset) and
// (elsewhere) a q8_unit per 32. Weights come as integer codes (code_decoders.hpp), a unit of 32 per
// lane and step: eight dot4_i8 per weight row.
struct q8_activations {
  static constexpr int step = unit_size;
  const std::int8_t* __restrict__ codes;
  const q8_unit* __restrict__ units;
  std::size_t row_length;

  template <class Format>
  __device__ static unit_codes decode(const typename Format::block_type* row, row_index unit) {
    return gpu_codes<Format>::decode(row, unit);
  }

  template <class Format, int Rows>
  __device__ void accumulate(std::size_t token, row_index unit, const unit_codes (&w)[Rows], float (&acc)[Rows]) const {
    const auto units_per_row = static_cast<row_index>(row_length / unit_size);
    const std::int8_t* row = codes + token * row_length;
    const int4 low = *reinterpret_cast<const int4*>(row + q8_code_offset(units_per_row, unit, 0));
    const int4 high = *reinterpret_cast<const int4*>(row + q8_code_offset(units_per_row, unit, 1));
    const int x[unit_size / 4] = {low.x, low.y, low.z, low.w, high.x, high.y, high.z, high.w};
    const q8_unit a = units[token * units_per_row + unit];
#pragma unroll
    for (int r = 0; r < Rows; ++r) {
      int first = 0;
      int second = 0;
#pragma unroll
      for (int i = 0; i < unit_size / 8; ++i) {
        first = gpu::dot4_i8(static_cast<int>(w[r].words[i]), x[i], first);
        second = gpu::dot4_i8(static_cast<int>(w[r].words[i + unit_size / 8]), x[i + unit_size / 8], second);
      }
      float sum = w[r].scale[0] * static_cast<float>(first) + w[r].scale[1] * static_cast<float>(second);
      if constexpr (gpu_codes<Format>::has_offset) {
        sum -= w[r].offset[0] * static_cast<float>(a.first_sum()) + w[r].offset[1] * static_cast<float>(a.second_sum());
      }
      acc[r] = fmaf(a.d, sum, acc[r]);
    }
  }
};

// Lanes quantize_q8_kernel gives each 32 activations, and so the threads it runs for `tokens` rows.
inline constexpr int quantize_q8_lanes = unit_size / 4;
constexpr std::size_t quantize_q8_threads(std::size_t tokens, std::size_t row_length) noexcept {
  return tokens * (row_length / unit_size) * quantize_q8_lanes;
}

// The int8 codes of 4 of a unit's 32 activations, quantized by the unit's 8 lanes together
// (consecutive lanes, 8-aligned, all of the warp taking part): its scale d = absmax / 127, codes
// round(x / d) packed into `word`, exactly as the host's quantize_int8_absmax (so tests can form the
// same operands), and the sums of the codes of this lane's half of the unit and of the other half.
struct q8_lane_codes {
  float d;
  std::uint32_t word;
  int half_sum;
  int other_half_sum;
};

__device__ inline q8_lane_codes quantize_q8_lane(const float (&v)[4]) {
  float amax = fmaxf(fmaxf(fabsf(v[0]), fabsf(v[1])), fmaxf(fabsf(v[2]), fabsf(v[3])));
#pragma unroll
  for (int mask = 1; mask < quantize_q8_lanes; mask *= 2) amax = fmaxf(amax, gpu::shuffle_xor(amax, mask));
  q8_lane_codes q{amax / 127.0f, 0, 0, 0};
  const float inverse = q.d != 0.0f ? 1.0f / q.d : 0.0f;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const int code = static_cast<int>(roundf(v[k] * inverse));
    q.half_sum += code;
    q.word |= (static_cast<std::uint32_t>(code) & 0xffu) << (8 * k);
  }
  // Sums over the four lanes of each half, then the other half's.
  q.half_sum += gpu::shuffle_xor(q.half_sum, 1);
  q.half_sum += gpu::shuffle_xor(q.half_sum, 2);
  q.other_half_sum = gpu::shuffle_xor(q.half_sum, 4);
  return q;
}

// x rows → what q8_activations reads: per 32 activations the scale, the codes and their half sums
// (quantize_q8_lane). Eight lanes per 32 activations, four each, so a warp's loads are contiguous
// (one thread per 32 took 6.8 µs for a row of 14336 on the H100, a fifth of the decode matmul after
// it); groups of eight lanes are wholly in or out of range, and all lanes take part in the
// shuffles. row_length a multiple of 32, `codes` 16-byte aligned.
template <int BlockThreads>
__global__ void quantize_q8_kernel(const float* __restrict__ x, std::size_t x_stride, std::size_t tokens, std::size_t row_length,
                                   std::int8_t* __restrict__ codes, q8_unit* __restrict__ units_out) {
  gpu::follow_previous_kernel();
  const auto units = static_cast<row_index>(row_length / unit_size);
  const std::size_t thread = static_cast<std::size_t>(blockIdx.x) * BlockThreads + threadIdx.x;
  const std::size_t index = thread / quantize_q8_lanes;
  const int part = static_cast<int>(thread % quantize_q8_lanes);
  const bool active = index < tokens * units;
  const std::size_t token = active ? index / units : 0;
  const auto unit = static_cast<row_index>(active ? index % units : 0);
  float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  if (active) {
    const float* src = x + token * x_stride + unit * unit_size + 4 * part;
#pragma unroll
    for (int k = 0; k < 4; ++k) v[k] = src[k];
  }
  const q8_lane_codes q = quantize_q8_lane(v);
  if (!active) return;
  std::int8_t* row = codes + token * row_length;
  *reinterpret_cast<std::uint32_t*>(row + q8_code_offset(units, unit, part / 4) + 4 * (part % 4)) = q.word;
  if (part == 0) {
    const auto packed = (static_cast<std::uint32_t>(q.half_sum) & 0xffffu) | (static_cast<std::uint32_t>(q.other_half_sum) << 16);
    units_out[token * units + unit] = q8_unit{q.d, static_cast<std::int32_t>(packed)};
  }
}

// How the matmul stages weights: a warp copies each of its rows chunk by chunk from global memory
// into shared memory with 16-byte loads, the next chunk's loads in flight while its lanes decode
// the current one there. Decoding straight from global memory took 2-8 bytes per load (block
// layouts are only 1-4-byte aligned) and left too few bytes in flight per warp to cover DRAM
// latency: 18 % of HBM for Q4_K, 75 % for BF16 on the H100 (docs/performance.md). A chunk is
// gpu::warp_size · steps_per_lane steps of Step weights (a lane's grain: 8 with f32 activations, 32
// with int8 ones), whole blocks, about LaneBytes per lane. F32 / F16 / BF16 are not staged: a slice
// is 16-32 contiguous bytes of one lane already, and the copy through shared memory made BF16
// decode 18 % slower (49.9 → 59.1 µs at 4096x14336).
template <class Format, int LaneBytes, int Step>
struct weight_chunk {
  static constexpr std::size_t block_bytes = sizeof(typename Format::block_type);
  static constexpr std::size_t block_weights = Format::block_size;  // 1 for F32 / F16 / BF16
  static constexpr bool staged = block_weights > 1;
  static constexpr int steps_per_lane = std::max<int>(1, static_cast<int>(LaneBytes * block_weights / (Step * block_bytes)));
  static constexpr int steps = gpu::warp_size * steps_per_lane;
  static_assert(steps * Step % block_weights == 0, "a chunk must be whole blocks");
  static constexpr std::size_t bytes = steps * Step / block_weights * block_bytes;
  // 16-byte vectors per lane covering a chunk at any offset from 16-byte alignment.
  static constexpr int vectors_per_lane = static_cast<int>((bytes + 15 + 15) / 16 + gpu::warp_size - 1) / gpu::warp_size;
  static constexpr int vectors = vectors_per_lane * gpu::warp_size;

  // Where chunk `chunk` of a row of `staged_bytes` (whole steps) starts and how long it is.
  __device__ static const std::uint8_t* begin(const std::uint8_t* row, row_index chunk) { return row + chunk * static_cast<row_index>(bytes); }
  __device__ static row_index length(row_index staged_bytes, row_index chunk) {
    const row_index rest = staged_bytes - chunk * static_cast<row_index>(bytes);
    return rest < bytes ? rest : bytes;
  }
};

// The lane's share of the 16-byte vectors that cover [begin, begin + length): the aligned
// vectors containing the first and last byte may reach up to 15 bytes beyond the range — within
// one 16-byte-aligned span, so never into another page — and those bytes are never decoded.
template <int VectorsPerLane>
__device__ inline void fetch_vectors(const std::uint8_t* begin, row_index length, int lane, int4 (&v)[VectorsPerLane]) {
  // Pointer arithmetic rather than an integer mask keeps the pointer's provenance, so AMD's
  // compiler still knows it is global memory (global_load, not flat_load).
  const auto misalignment = reinterpret_cast<std::uintptr_t>(begin) & 15;
  const auto* first = reinterpret_cast<const int4*>(begin - misalignment);
  const auto count = static_cast<int>((misalignment + length + 15) / 16);
#pragma unroll
  for (int i = 0; i < VectorsPerLane; ++i) {
    const int index = lane + i * gpu::warp_size;
    if (index < count) v[i] = first[index];
  }
}

// f(std::integral_constant<int, W>{}) for W = warps, one of the warps-per-row counts matmul_kernel
// is instantiated for (1, 2, 4, 8): a runtime choice turned into the kernel's template argument.
template <class F>
decltype(auto) with_warps_per_row(int warps, F&& f) {
  switch (warps) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 4: return f(std::integral_constant<int, 4>{});
    default: return f(std::integral_constant<int, 8>{});
  }
}

// WarpsPerRow warps per RowsPerWarp weight rows, TokenTile tokens. Each row's weights pass through
// shared memory in chunks (weight_chunk), warp p of a row's group taking chunks p, p + WarpsPerRow,
// ...; in a chunk, lane l decodes steps l, l + 32, ... of each row (Activations::step weights each:
// an 8-weight slice decoded to floats, or a 32-weight unit of integer codes) and multiplies them
// with the same step of TokenTile activation rows. Warp sums, then (WarpsPerRow > 1) a sum
// over the group's warps in a fixed order, finish each output. Decode (one token) streams each
// weight once, its activation loads shared by the warp's rows; more warps per row keep enough
// loads in flight when a matrix has few rows (an expert's 704); TokenTile > 1 reuses the decoded
// weights across a prefill tile. Activations: f32_activations (weights decoded to floats) or
// q8_activations (integer codes). A grouped matmul passes `groups`: blocks along z take one group
// each, `rows` rows of its slice of the stacked weights by its rows of activations.
template <class Format, int RowsPerWarp, int WarpsPerRow, int TokenTile, int LaneBytes, class Activations>
__global__ void matmul_kernel(const typename Format::block_type* __restrict__ weights, std::size_t rows, std::size_t row_length,
                              Activations x, matmul_output out, const matmul_group_rows* __restrict__ groups) {
  static_assert(warps_per_block % WarpsPerRow == 0, "a block holds whole row groups");
  using block = typename Format::block_type;
  using chunk = weight_chunk<Format, LaneBytes, Activations::step>;
  using step_weights = decltype(Activations::template decode<Format>(weights, 0));
  __shared__ int4 staged[warps_per_block][RowsPerWarp][chunk::staged ? chunk::vectors : 1];
  const int warp = static_cast<int>(threadIdx.x / gpu::warp_size);
  const int lane = static_cast<int>(threadIdx.x % gpu::warp_size);
  const int part = warp % WarpsPerRow;
  const std::size_t first_row = (static_cast<std::size_t>(blockIdx.x) * (warps_per_block / WarpsPerRow) + warp / WarpsPerRow) * RowsPerWarp;
  const std::size_t first_token = enter_group(groups, row_length / Format::block_size, weights, out) + static_cast<std::size_t>(blockIdx.y) * TokenTile;
  // Token tiles past a smaller group's rows have nothing to do (the whole block).
  const bool has_tokens = first_token < out.tokens;
  const bool active = first_row < rows;
  const std::size_t row_bytes = row_length / chunk::block_weights * chunk::block_bytes;
  // Whole units only; F32 / F16 / BF16 rows may end in a shorter tail, read below from global memory.
  const auto steps = static_cast<row_index>(row_length / unit_size * (unit_size / Activations::step));
  const auto staged_bytes = static_cast<row_index>(steps * Activations::step / chunk::block_weights * chunk::block_bytes);
  const row_index chunks = active && has_tokens ? (steps + chunk::steps - 1) / chunk::steps : 0;
  // A last group with fewer rows re-reads its last row rather than branching in the loop.
  const std::uint8_t* w_rows[RowsPerWarp];
#pragma unroll
  for (int r = 0; r < RowsPerWarp; ++r) {
    const std::size_t row = first_row + r < rows ? first_row + r : rows - 1;
    w_rows[r] = reinterpret_cast<const std::uint8_t*>(weights) + row * row_bytes;
  }

  float acc[TokenTile][RowsPerWarp];
#pragma unroll
  for (int t = 0; t < TokenTile; ++t) {
#pragma unroll
    for (int r = 0; r < RowsPerWarp; ++r) acc[t][r] = 0.0f;
  }
  int4 fetched[RowsPerWarp][chunk::staged ? chunk::vectors_per_lane : 1];
  if constexpr (chunk::staged) {
    if (static_cast<row_index>(part) < chunks) {
#pragma unroll
      for (int r = 0; r < RowsPerWarp; ++r) fetch_vectors(chunk::begin(w_rows[r], part), chunk::length(staged_bytes, part), lane, fetched[r]);
    }
  }
  // Only weights (and the host's group table) were read so far: the first chunk's loads overlap
  // the end of the kernel before, which may still write x. A block with nothing to do waits too,
  // so that this kernel never ends before the one before it (the next waits for this one alone).
  gpu::follow_previous_kernel();
  if (!has_tokens) return;
  // A group past the last row still reaches the block barrier below (WarpsPerRow > 1) but reads
  // and writes nothing.
  if (WarpsPerRow == 1 && !active) return;
  for (auto c = static_cast<row_index>(part); c < chunks; c += WarpsPerRow) {
    // Where the lanes decode chunk c: its staged copy, which keeps each row's offset from 16-byte
    // alignment so blocks keep theirs, or (not staged) the weights themselves.
    const block* chunk_rows[RowsPerWarp];
    if constexpr (chunk::staged) {
      gpu::sync_warp();  // every lane is done decoding the previous chunk
#pragma unroll
      for (int r = 0; r < RowsPerWarp; ++r) {
#pragma unroll
        for (int i = 0; i < chunk::vectors_per_lane; ++i) staged[warp][r][lane + i * gpu::warp_size] = fetched[r][i];
      }
      gpu::sync_warp();
#pragma unroll
      for (int r = 0; r < RowsPerWarp; ++r) {
        const auto misalignment = reinterpret_cast<std::uintptr_t>(chunk::begin(w_rows[r], c)) & 15;
        chunk_rows[r] = reinterpret_cast<const block*>(reinterpret_cast<const std::uint8_t*>(staged[warp][r]) + misalignment);
      }
      const row_index next = c + WarpsPerRow;
      if (next < chunks) {
#pragma unroll
        for (int r = 0; r < RowsPerWarp; ++r) fetch_vectors(chunk::begin(w_rows[r], next), chunk::length(staged_bytes, next), lane, fetched[r]);
      }
    } else {
#pragma unroll
      for (int r = 0; r < RowsPerWarp; ++r) chunk_rows[r] = reinterpret_cast<const block*>(chunk::begin(w_rows[r], c));
    }
    const row_index first_step = c * chunk::steps;
    const row_index count = steps - first_step < chunk::steps ? steps - first_step : chunk::steps;
#pragma unroll
    for (int i = 0; i < chunk::steps_per_lane; ++i) {
      const auto step = static_cast<row_index>(lane + i * gpu::warp_size);
      if (step >= count) break;
      step_weights w[RowsPerWarp];
#pragma unroll
      for (int r = 0; r < RowsPerWarp; ++r) w[r] = Activations::template decode<Format>(chunk_rows[r], step);
#pragma unroll
      for (int t = 0; t < TokenTile; ++t) {
        if (first_token + t >= out.tokens) break;
        x.template accumulate<Format>(first_token + t, first_step + step, w, acc[t]);
      }
    }
  }
  if constexpr (gpu_format<Format>::units_per_block == 0) {
    if (active && part == WarpsPerRow - 1) {
      const block* rows_tail[RowsPerWarp];
#pragma unroll
      for (int r = 0; r < RowsPerWarp; ++r) rows_tail[r] = reinterpret_cast<const block*>(w_rows[r]);
      x.template accumulate_tail<Format>(rows_tail, steps * Activations::step + static_cast<std::size_t>(lane), row_length, first_token, out.tokens, acc);
    }
  }
#pragma unroll
  for (int t = 0; t < TokenTile; ++t) {
#pragma unroll
    for (int r = 0; r < RowsPerWarp; ++r) acc[t][r] = gpu::warp_sum(acc[t][r]);
  }
  if constexpr (WarpsPerRow > 1) {
    __shared__ float partial[warps_per_block][TokenTile][RowsPerWarp];
    if (lane == 0) {
#pragma unroll
      for (int t = 0; t < TokenTile; ++t) {
#pragma unroll
        for (int r = 0; r < RowsPerWarp; ++r) partial[warp][t][r] = acc[t][r];
      }
    }
    __syncthreads();
    if (part != 0) return;
#pragma unroll
    for (int t = 0; t < TokenTile; ++t) {
#pragma unroll
      for (int r = 0; r < RowsPerWarp; ++r) {
        for (int p = 1; p < WarpsPerRow; ++p) acc[t][r] += partial[warp + p][t][r];
      }
    }
  }
#pragma unroll
  for (int t = 0; t < TokenTile; ++t) {
#pragma unroll
    for (int r = 0; r < RowsPerWarp; ++r) {
      if (lane == 0 && first_row + r < rows && first_token + t < out.tokens) out.y[(first_token + t) * out.stride + first_row + r] = acc[t][r];
    }
  }
}

// out[t] = table[ids[t]] · scale; one thread per (token, slice), or per element for F32/F16/BF16.
template <class Format>
__global__ void embedding_kernel(const typename Format::block_type* table, std::size_t row_length, const std::int32_t* ids,
                                 std::size_t tokens, float scale, float* out, std::size_t out_stride) {
  gpu::follow_previous_kernel();
  using decoder = gpu_format<Format>;
  const std::size_t token = blockIdx.y;
  if (token >= tokens) return;
  const auto id = static_cast<std::size_t>(ids[token]);
  float* y = out + token * out_stride;
  if constexpr (decoder::units_per_block == 0) {
    const auto* row = table + id * row_length;
    for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < row_length;
         i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
      y[i] = decoder::element(row, i) * scale;
    }
  } else {
    const auto* row = table + id * (row_length / (unit_size * decoder::units_per_block));
    float w[slice_size];
    for (std::size_t slice = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; slice < row_length / slice_size;
         slice += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
      decoder::decode(row, static_cast<row_index>(slice), w);
#pragma unroll
      for (int k = 0; k < slice_size; ++k) y[slice * slice_size + k] = w[k] * scale;
    }
  }
}

// Sum over the block of one value per thread; every thread gets the total.
__device__ inline float block_sum(float value, float* shared) {
  const int warp = static_cast<int>(threadIdx.x) / gpu::warp_size;
  const int lane = static_cast<int>(threadIdx.x) % gpu::warp_size;
  value = gpu::warp_sum(value);
  __syncthreads();  // `shared` may still be read from a previous reduction
  if (lane == 0) shared[warp] = value;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < static_cast<int>(blockDim.x) / gpu::warp_size; ++w) total += shared[w];
  return total;
}

// NaN-aware maximum: NaN wins, so a row holding NaN normalises to NaN as on the CPU.
__device__ inline float max_or_nan(float a, float b) { return (b > a || isnan(b)) && !isnan(a) ? b : a; }

__device__ inline float block_max(float value, float* shared) {
  const int warp = static_cast<int>(threadIdx.x) / gpu::warp_size;
  const int lane = static_cast<int>(threadIdx.x) % gpu::warp_size;
  for (int mask = gpu::warp_size / 2; mask > 0; mask /= 2) value = max_or_nan(value, gpu::shuffle_xor(value, mask));
  __syncthreads();
  if (lane == 0) shared[warp] = value;
  __syncthreads();
  float result = shared[0];
  for (int w = 1; w < static_cast<int>(blockDim.x) / gpu::warp_size; ++w) result = max_or_nan(result, shared[w]);
  return result;
}

// Values of a row each thread of an rmsnorm block loads before it uses any: a decode step's
// rows (a few thousand values, one block) then take one or two rounds of memory latency per pass
// instead of one per BlockThreads values.
inline constexpr int rmsnorm_loads_in_flight = 8;
// f(threads) with the threads of an rmsnorm block for rows of `width` values as a
// std::integral_constant: the fewest (a power of two from one warp) that take the row in one round
// of 8 loads each, so no thread of a narrow row's block idles (the per-head q/k norms over head
// dims of 256: one warp), up to 512, which take a row of up to 4096 values (the hidden sizes of
// Gemma 4 E4B and 26B-A4B, 2560 and 2816, and Qwen3.5-35B-A3B's 2048) in one round.
template <class F>
decltype(auto) with_rmsnorm_block_threads(std::size_t width, F&& f) {
  const auto fits = [&](int threads) { return width <= static_cast<std::size_t>(threads) * rmsnorm_loads_in_flight; };
  if (fits(gpu::warp_size)) return f(std::integral_constant<int, gpu::warp_size>{});
  if (fits(64)) return f(std::integral_constant<int, 64>{});
  if (fits(128)) return f(std::integral_constant<int, 128>{});
  if (fits(256)) return f(std::integral_constant<int, 256>{});
  return f(std::integral_constant<int, 512>{});
}

// One block per row. add_to_y: y = (y + the normalised row) · y_scale (rmsnorm_add), else y = it.
// Launch BlockThreads threads per block.
template <int BlockThreads>
__global__ void __launch_bounds__(BlockThreads)
    rmsnorm_kernel(const float* x, std::size_t x_stride, const float* weight, norm_weight kind, float eps, std::size_t width, float* y,
                   std::size_t y_stride, bool add_to_y, float y_scale) {
  gpu::follow_previous_kernel();
  constexpr int batch = rmsnorm_loads_in_flight;
  constexpr std::size_t round = static_cast<std::size_t>(batch) * BlockThreads;
  __shared__ float partial[BlockThreads / gpu::warp_size];
  const float* in = x + blockIdx.x * x_stride;
  float* out = y + blockIdx.x * y_stride;
  float sum_sq = 0.0f;
  for (std::size_t start = threadIdx.x; start < width; start += round) {
    float v[batch];
#pragma unroll
    for (int k = 0; k < batch; ++k) {
      const std::size_t i = start + static_cast<std::size_t>(k) * BlockThreads;
      v[k] = i < width ? in[i] : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < batch; ++k) sum_sq = fmaf(v[k], v[k], sum_sq);
  }
  const float inv_rms = rsqrtf(block_sum(sum_sq, partial) / static_cast<float>(width) + eps);
  for (std::size_t start = threadIdx.x; start < width; start += round) {
    float v[batch];
    float scale[batch];
    float before[batch];
#pragma unroll
    for (int k = 0; k < batch; ++k) {
      const std::size_t i = start + static_cast<std::size_t>(k) * BlockThreads;
      const bool inside = i < width;
      v[k] = inside ? in[i] : 0.0f;
      scale[k] = kind == norm_weight::none || !inside ? 1.0f : kind == norm_weight::plain ? weight[i] : 1.0f + weight[i];
      before[k] = add_to_y && inside ? out[i] : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < batch; ++k) {
      const std::size_t i = start + static_cast<std::size_t>(k) * BlockThreads;
      const float normed = v[k] * inv_rms * scale[k];
      if (i < width) out[i] = add_to_y ? (before[k] + normed) * y_scale : normed;
    }
  }
}

// x[token][head][dim] in place: one thread per (token, head, pair j), so a token's heads rotate in
// parallel rather than one after another.
template <int BlockThreads>
__global__ void rope_kernel(float* x, std::size_t token_stride, std::size_t head_stride, std::size_t tokens,
                            std::size_t heads, const std::int32_t* positions, const float* inv_freq, std::size_t half) {
  gpu::follow_previous_kernel();
  const std::size_t index = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= tokens * heads * half) return;
  const std::size_t j = index % half;
  const std::size_t h = index / half % heads;
  const std::size_t t = index / half / heads;
  float s = 0.0f;
  float c = 0.0f;
  sincosf(static_cast<float>(positions[t]) * inv_freq[j], &s, &c);
  float* head = x + t * token_stride + h * head_stride;
  const float a = head[j];
  const float b = head[j + half];
  head[j] = a * c - b * s;
  head[j + half] = b * c + a * s;
}

__device__ inline float apply(activation act, float v) {
  if (act == activation::silu) return v / (1.0f + expf(-v));
  if (act == activation::sigmoid) return 1.0f / (1.0f + expf(-v));
  constexpr float sqrt_2_over_pi = 0.7978845608028654f;
  return 0.5f * v * (1.0f + tanhf(sqrt_2_over_pi * (v + 0.044715f * v * v * v)));
}

// Element-wise kernels over n values: out = act(a) (b == nullptr) or act(a) · b.
template <int BlockThreads>
__global__ void activation_kernel(activation act, const float* a, const float* b, float* out, std::size_t n) {
  gpu::follow_previous_kernel();
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = b == nullptr ? apply(act, a[i]) : apply(act, a[i]) * b[i];
}

enum class elementwise { add, scale, softcap };

// add: out = a + b; scale: out = a · factor; softcap: out = factor · tanh(a / factor).
template <int BlockThreads>
__global__ void elementwise_kernel(elementwise op, const float* a, const float* b, float factor, float* out, std::size_t n) {
  gpu::follow_previous_kernel();
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  out[i] = op == elementwise::add ? a[i] + b[i] : op == elementwise::scale ? a[i] * factor : factor * tanhf(a[i] / factor);
}

// One block per row, in place.
template <int BlockThreads>
__global__ void softmax_kernel(float* x, std::size_t stride, std::size_t width, float cap) {
  gpu::follow_previous_kernel();
  __shared__ float partial[BlockThreads / gpu::warp_size];
  float* row = x + blockIdx.x * stride;
  float max = -INFINITY;
  for (std::size_t i = threadIdx.x; i < width; i += blockDim.x) {
    if (cap != 0.0f) row[i] = cap * tanhf(row[i] / cap);
    max = max_or_nan(max, row[i]);
  }
  max = block_max(max, partial);
  float sum = 0.0f;
  for (std::size_t i = threadIdx.x; i < width; i += blockDim.x) {
    row[i] = expf(row[i] - max);
    sum += row[i];
  }
  const float inv = 1.0f / block_sum(sum, partial);
  for (std::size_t i = threadIdx.x; i < width; i += blockDim.x) row[i] *= inv;
}

// out[i] = x[rows[i]]: one block per output row.
template <int BlockThreads>
__global__ void gather_rows_kernel(const float* x, std::size_t x_stride, const std::int32_t* rows, std::size_t width,
                                   float* out, std::size_t out_stride) {
  gpu::follow_previous_kernel();
  const float* in = x + static_cast<std::size_t>(rows[blockIdx.x]) * x_stride;
  for (std::size_t c = threadIdx.x; c < width; c += blockDim.x) out[blockIdx.x * out_stride + c] = in[c];
}

// out[rows[i]] += weights[i] · x[i] for i in order: one thread per column walks all i, so the sums
// are added in the reference order whatever rows repeat.
template <int BlockThreads>
__global__ void scatter_add_rows_kernel(const float* x, std::size_t x_stride, const std::int32_t* rows, const float* weights,
                                        std::size_t count, std::size_t width, float* out, std::size_t out_stride) {
  gpu::follow_previous_kernel();
  const std::size_t c = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= width) return;
  for (std::size_t i = 0; i < count; ++i) {
    out[static_cast<std::size_t>(rows[i]) * out_stride + c] += weights[i] * x[i * x_stride + c];
  }
}

// True when (va, ia) ranks before (vb, ib): larger first, NaN last, lower index on ties.
__device__ inline bool ranks_before(float va, std::int64_t ia, float vb, std::int64_t ib) {
  if (isnan(va) != isnan(vb)) return isnan(vb);
  if (va != vb && !isnan(va)) return va > vb;
  return ia < ib;
}

// Argmax in one block (a vocabulary row of 262144 is 1 MiB: one pass, no second launch).
template <int BlockThreads>
__global__ void argmax_kernel(const float* x, std::size_t n, std::int64_t* result) {
  gpu::follow_previous_kernel();
  __shared__ float best_value[BlockThreads];
  __shared__ std::int64_t best_index[BlockThreads];
  float value = NAN;
  std::int64_t index = static_cast<std::int64_t>(n);
  for (std::size_t i = threadIdx.x; i < n; i += blockDim.x) {
    if (index == static_cast<std::int64_t>(n) || ranks_before(x[i], static_cast<std::int64_t>(i), value, index)) {
      value = x[i];
      index = static_cast<std::int64_t>(i);
    }
  }
  best_value[threadIdx.x] = value;
  best_index[threadIdx.x] = index;
  __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      const float other = best_value[threadIdx.x + stride];
      const std::int64_t other_index = best_index[threadIdx.x + stride];
      if (other_index < static_cast<std::int64_t>(n) &&
          (best_index[threadIdx.x] == static_cast<std::int64_t>(n) ||
           ranks_before(other, other_index, best_value[threadIdx.x], best_index[threadIdx.x]))) {
        best_value[threadIdx.x] = other;
        best_index[threadIdx.x] = other_index;
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) *result = best_index[0];
}

}  // namespace strix::hip_kernels
