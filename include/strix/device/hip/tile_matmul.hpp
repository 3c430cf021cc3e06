// The prefill matmul on the GPU's matrix units (matrix_units.hpp): weights decoded to f16 tiles in
// shared memory once per 64 activation rows, activations converted to f16 once per call, products
// summed in f32 by mma / WMMA. The dp4a kernel (kernels.hpp, matmul_kernel) decodes every weight
// once per 8 tokens and spends an instruction per four products; here a decoded tile feeds 64 tokens
// and a warp instruction makes 2048 or 4096 of them. f16 keeps 11 significant bits of each weight
// and activation (int8 activations keep 7 per 32); each activation row is scaled by a power of two
// so that no value overflows f16's 65504, and the result scaled back.
#pragma once

#include <cstddef>
#include <cstdint>

#include <strix/device/hip/code_decoders.hpp>
#include <strix/device/hip/kernels.hpp>
#include <strix/device/hip/matrix_units.hpp>

namespace strix::hip_kernels {

inline constexpr int tile_rows = 64;                    // weight rows per block
inline constexpr int tile_tokens = 64;                  // activation rows per block
inline constexpr int tile_units = 4;                    // units of 32 weights per row and step
inline constexpr int tile_depth = tile_units * unit_size;
// f16 values per staged row: 16-byte aligned, and the mma fragment loads of 8 rows 68 words apart
// fall in 8 distinct groups of 4 banks.
inline constexpr int tile_stride = tile_depth + 8;
static_assert(tile_rows * tile_units == block_threads, "a thread decodes one unit per step");

// The grid of a tile matmul: blocks of tile_rows weight rows along x, of tile_tokens activation
// rows along y, a slice (group) each along z.
inline dim3 tile_grid(std::size_t rows, std::size_t tokens, std::size_t slices) {
  return {static_cast<unsigned>((rows + tile_rows - 1) / tile_rows), static_cast<unsigned>((tokens + tile_tokens - 1) / tile_tokens),
          static_cast<unsigned>(slices)};
}

// Largest magnitude an activation keeps after its row's scaling (f16 ends at 65504).
inline constexpr float half_row_limit = 32768.0f;

// x rows → f16 rows, row_length apart, each multiplied by 2^-e with the smallest e ≥ 0 that brings
// its largest finite magnitude below half_row_limit; restore[row] = 2^e. One block per row. A row
// holding NaN or infinity keeps e = 0 and carries them into the products, as the reference does.
template <int BlockThreads>
__global__ void half_rows_kernel(const float* __restrict__ x, std::size_t x_stride, std::size_t row_length, std::uint16_t* __restrict__ out,
                                 float* __restrict__ restore) {
  gpu::follow_previous_kernel();
  __shared__ float partial[BlockThreads / gpu::warp_size];
  const float* in = x + blockIdx.x * x_stride;
  float largest = 0.0f;
  for (std::size_t i = threadIdx.x; i < row_length; i += BlockThreads) largest = max_or_nan(largest, fabsf(in[i]));
  largest = block_max(largest, partial);
  int exponent = 0;
  if (isfinite(largest) && largest >= half_row_limit) (void)frexpf(largest / half_row_limit, &exponent);
  const float scale = ldexpf(1.0f, -exponent);
  std::uint16_t* row = out + blockIdx.x * row_length;
  for (std::size_t i = threadIdx.x; i < row_length; i += BlockThreads) row[i] = gpu::float_to_half_bits(in[i] * scale);
  if (threadIdx.x == 0) restore[blockIdx.x] = ldexpf(1.0f, exponent);
}

// y = w · x for tile_rows weight rows × tile_tokens activation rows per block, tile_depth weights
// of each row per step: every thread decodes one unit of 32 weights (gpu_codes) into the shared
// weight tile as f16, the block copies its activation rows' slice beside it, and the 8 warps — 4
// along the weight rows × 2 along the tokens, 16 rows × 32 tokens each — multiply on the matrix
// units. Rows, tokens and units past the ends are zeros in the tiles and never written. x: f16 rows
// of row_length (half_rows_kernel), restore: their scales. A grouped matmul passes `groups`: blocks
// along z take one group each, as in matmul_kernel.
template <class Format>
__global__ void __launch_bounds__(block_threads) tile_matmul_kernel(const typename Format::block_type* __restrict__ weights, std::size_t rows,
                                                                    std::size_t row_length, const std::uint16_t* __restrict__ x,
                                                                    const float* __restrict__ restore, matmul_output out,
                                                                    const matmul_group_rows* __restrict__ groups) {
  gpu::follow_previous_kernel();
  static_assert(has_gpu_codes<Format>, "the tile matmul decodes weights through gpu_codes (formats with integer codes)");
  // As 16-byte vectors, so that every row of the tiles is 16-byte aligned.
  __shared__ uint4 weight_vectors[tile_rows * tile_stride / 8];
  __shared__ uint4 token_vectors[tile_tokens * tile_stride / 8];
  auto* weight_tile = reinterpret_cast<std::uint16_t*>(weight_vectors);
  auto* token_tile = reinterpret_cast<std::uint16_t*>(token_vectors);
  const int thread = static_cast<int>(threadIdx.x);
  const int warp = thread / gpu::warp_size;
  const int lane = thread % gpu::warp_size;
  const std::size_t first_token = enter_group(groups, row_length / Format::block_size, weights, out) + static_cast<std::size_t>(blockIdx.y) * tile_tokens;
  if (first_token >= out.tokens) return;  // the whole block, before any barrier
  const std::size_t first_row = static_cast<std::size_t>(blockIdx.x) * tile_rows;
  const auto units = static_cast<row_index>(row_length / unit_size);

  // This thread's unit of each step, and where it goes in the weight tile.
  const int unit_row = thread / tile_units;
  const int unit_column = thread % tile_units;
  const bool row_exists = first_row + static_cast<std::size_t>(unit_row) < rows;
  const auto* weight_row = weights + (row_exists ? first_row + static_cast<std::size_t>(unit_row) : 0) * (row_length / Format::block_size);
  auto* weight_slot = reinterpret_cast<uint4*>(weight_tile + unit_row * tile_stride + unit_column * unit_size);

  // The activation tile is tile_tokens rows of tile_depth / 8 vectors of 8 values.
  constexpr int row_vectors = tile_depth / 8;
  constexpr int vectors_per_thread = tile_tokens * row_vectors / block_threads;

  const int warp_row = (warp % 4) * 16;
  const int warp_token = (warp / 4) * 32;
  float acc[2][8] = {};
  for (row_index first_unit = 0; first_unit < units; first_unit += tile_units) {
    const row_index unit = first_unit + static_cast<row_index>(unit_column);
    std::uint32_t halves[unit_size / 2] = {};
    if (row_exists && unit < units) {
      const unit_codes u = gpu_codes<Format>::decode(weight_row, unit);
#pragma unroll
      for (int k = 0; k < unit_size; k += 2) {
        float w[2];
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const int code = static_cast<std::int8_t>(u.words[(k + j) / 4] >> (8 * ((k + j) % 4)));
          w[j] = fmaf(u.scale[k / 16], static_cast<float>(code), -u.offset[k / 16]);
        }
        halves[k / 2] = gpu::float_to_half_bits(w[0]) | static_cast<std::uint32_t>(gpu::float_to_half_bits(w[1])) << 16;
      }
    }
    uint4 tokens_part[vectors_per_thread];
#pragma unroll
    for (int v = 0; v < vectors_per_thread; ++v) {
      const int index = thread + v * block_threads;
      const std::size_t token = first_token + static_cast<std::size_t>(index / row_vectors);
      const std::size_t k = static_cast<std::size_t>(first_unit) * unit_size + static_cast<std::size_t>(index % row_vectors) * 8;
      tokens_part[v] = token < out.tokens && k < row_length ? *reinterpret_cast<const uint4*>(x + token * row_length + k) : uint4{0, 0, 0, 0};
    }
    __syncthreads();  // every warp is done multiplying the previous step's tiles
#pragma unroll
    for (int q = 0; q < unit_size / 8; ++q) {
      weight_slot[q] = uint4{halves[4 * q], halves[4 * q + 1], halves[4 * q + 2], halves[4 * q + 3]};
    }
#pragma unroll
    for (int v = 0; v < vectors_per_thread; ++v) {
      const int index = thread + v * block_threads;
      *reinterpret_cast<uint4*>(token_tile + (index / row_vectors) * tile_stride + (index % row_vectors) * 8) = tokens_part[v];
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < tile_depth; k += 16) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        gpu::mma_16x16x16(weight_tile + warp_row * tile_stride + k, tile_stride, token_tile + (warp_token + 16 * half) * tile_stride + k,
                          tile_stride, acc[half]);
      }
    }
  }
#pragma unroll
  for (int half = 0; half < 2; ++half) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      int m = 0;
      int n = 0;
      gpu::mma_position(lane, i, m, n);
      const std::size_t row = first_row + static_cast<std::size_t>(warp_row + m);
      const std::size_t token = first_token + static_cast<std::size_t>(warp_token + 16 * half + n);
      if (row < rows && token < out.tokens) out.y[token * out.stride + row] = acc[half][i] * restore[token];
    }
  }
}

}  // namespace strix::hip_kernels
