// AVX-512 attention over a paged KV cache, flash-attention style: a task takes one sequence, one
// KV head and a tile of query vectors (query rows × the query heads sharing that KV head), walks
// the visible keys in chunks that stay inside one cache block, dequantizes each K and V row once
// for the whole tile, and keeps a running max, sum and fp32 accumulator per query (online
// softmax). Tiles are sized so their accumulators stay in L1; tasks spread over the thread pool.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include <strix/core/thread_pool.hpp>
#include <strix/device/attention_params.hpp>
#include <strix/device/zen5/dot_kernels.hpp>
#include <strix/device/zen5/intrinsics.hpp>
#include <strix/quant/float_formats.hpp>
#include <strix/quant/legacy_formats.hpp>
#include <strix/quant/q8_formats.hpp>

namespace strix::zen5_kernels {

// One stored K/V row of `dim` elements to fp32 in 16-lane steps; lanes past dim become zero.
template <class Format>
struct kv_row_loader;

template <class Storage>
struct float_row_loader {
  static void load(const std::byte* row, std::size_t dim, float* out) noexcept {
    const auto* x = reinterpret_cast<const Storage*>(row);
    for (std::size_t i = 0; i < dim; i += 16) _mm512_store_ps(out + i, float_elements<Storage>::widen(x + i, simd::tail_mask16(dim - i)));
  }
};
template <>
struct kv_row_loader<f32_format> : float_row_loader<float> {};
template <>
struct kv_row_loader<f16_format> : float_row_loader<f16> {};

template <>
struct kv_row_loader<bf16_format> {
  static void load(const std::byte* row, std::size_t dim, float* out) noexcept {
    const auto* x = reinterpret_cast<const std::uint16_t*>(row);
    for (std::size_t i = 0; i < dim; i += 16) {
      const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(simd::tail_mask16(dim - i), x + i));
      _mm512_store_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
    }
  }
};

template <>
struct kv_row_loader<q8_0_format> {
  static void load(const std::byte* row, std::size_t dim, float* out) noexcept {
    const auto* blocks = reinterpret_cast<const block_q8_0*>(row);
    for (std::size_t b = 0; b < dim / 32; ++b) {
      const __m512 d = _mm512_set1_ps(blocks[b].d.to_float());
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blocks[b].qs));
      const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q)));
      const __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1)));
      _mm512_store_ps(out + b * 32, _mm512_mul_ps(lo, d));
      _mm512_store_ps(out + b * 32 + 16, _mm512_mul_ps(hi, d));
    }
  }
};

template <>
struct kv_row_loader<q4_0_format> {
  static void load(const std::byte* row, std::size_t dim, float* out) noexcept {
    const auto* blocks = reinterpret_cast<const block_q4_0*>(row);
    const __m512i eight = _mm512_set1_epi32(8);
    const __m512i nibble = _mm512_set1_epi32(0xf);
    for (std::size_t b = 0; b < dim / 32; ++b) {
      const __m512 d = _mm512_set1_ps(blocks[b].d.to_float());
      // Element j is the low nibble of byte j, element j + 16 the high nibble.
      const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[b].qs)));
      const __m512i lo = _mm512_sub_epi32(_mm512_and_si512(bytes, nibble), eight);
      const __m512i hi = _mm512_sub_epi32(_mm512_srli_epi32(bytes, 4), eight);
      _mm512_store_ps(out + b * 32, _mm512_mul_ps(_mm512_cvtepi32_ps(lo), d));
      _mm512_store_ps(out + b * 32 + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(hi), d));
    }
  }
};

struct attention_tiling {
  static constexpr std::size_t max_head_dim = max_attention_head_dim;
  static constexpr std::size_t accumulator_floats = 8192;  // 32 KiB of accumulators per task
  static constexpr std::size_t max_tile = 64;              // query vectors per task
  static constexpr std::size_t key_chunk = 32;             // keys scored before each softmax update
  static constexpr std::size_t prefetch_distance = 8;      // key rows fetched ahead

  static std::size_t padded(std::size_t dim) noexcept { return (dim + 15) / 16 * 16; }
  static std::size_t tile(std::size_t dim) noexcept { return std::clamp<std::size_t>(accumulator_floats / padded(dim), 1, max_tile); }
};

// dots[m] = queries[m] · key for every query vector of a tile, four at a time so the key is
// loaded once per four and four FMA chains are in flight.
inline void dot_queries(const float* queries, std::size_t stride, std::size_t vectors, const float* key, float* dots) noexcept {
  std::size_t m = 0;
  for (; m + 4 <= vectors; m += 4) {
    const float* q = queries + m * stride;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (std::size_t d = 0; d < stride; d += 16) {
      const __m512 k = _mm512_load_ps(key + d);
      s0 = _mm512_fmadd_ps(_mm512_load_ps(q + d), k, s0);
      s1 = _mm512_fmadd_ps(_mm512_load_ps(q + stride + d), k, s1);
      s2 = _mm512_fmadd_ps(_mm512_load_ps(q + 2 * stride + d), k, s2);
      s3 = _mm512_fmadd_ps(_mm512_load_ps(q + 3 * stride + d), k, s3);
    }
    dots[m] = _mm512_reduce_add_ps(s0);
    dots[m + 1] = _mm512_reduce_add_ps(s1);
    dots[m + 2] = _mm512_reduce_add_ps(s2);
    dots[m + 3] = _mm512_reduce_add_ps(s3);
  }
  // The same single FMA chain per vector as above, so a query's score does not depend on how many
  // others share its tile (speculative verification compares multi-row passes with decode).
  for (; m < vectors; ++m) {
    const float* q = queries + m * stride;
    __m512 s0 = _mm512_setzero_ps();
    for (std::size_t d = 0; d < stride; d += 16) s0 = _mm512_fmadd_ps(_mm512_load_ps(q + d), _mm512_load_ps(key + d), s0);
    dots[m] = _mm512_reduce_add_ps(s0);
  }
}

// acc[m] += weights[m] · value for every query vector with a positive weight (masked keys have 0).
inline void accumulate_value(float* acc, std::size_t stride, std::size_t vectors, const float* weights, const float* value) noexcept {
  for (std::size_t d = 0; d < stride; d += 16) {
    const __m512 v = _mm512_load_ps(value + d);
    for (std::size_t m = 0; m < vectors; ++m) {
      if (!(weights[m] > 0.0f)) continue;
      float* a = acc + m * stride + d;
      _mm512_store_ps(a, _mm512_fmadd_ps(_mm512_set1_ps(weights[m]), v, _mm512_load_ps(a)));
    }
  }
}

template <attention_window Window, class Format>
void attention_tile(const attention_args& args, const attention_sequence& seq, std::size_t kv_head, std::size_t first_vector,
                    std::size_t vectors) noexcept {
  using tiling = attention_tiling;
  const kv_layer_view& kv = args.kv;
  const std::size_t dim = kv.head_dim;
  const std::size_t stride = tiling::padded(dim);
  const std::size_t group = args.q.extent(1) / kv.kv_heads;

  alignas(64) float queries[tiling::accumulator_floats];
  alignas(64) float acc[tiling::accumulator_floats];
  alignas(64) float key[tiling::max_head_dim];
  alignas(64) float value[tiling::max_head_dim];
  float scores[tiling::max_tile][tiling::key_chunk];
  float running_max[tiling::max_tile];
  float running_sum[tiling::max_tile];
  std::size_t first_key[tiling::max_tile];
  std::size_t last_key[tiling::max_tile];

  // Vector m of the tile is query row first_row + (first_vector + m) / group, head kv_head · group + its remainder.
  auto row_of = [&](std::size_t m) { return (first_vector + m) / group; };
  auto head_of = [&](std::size_t m) { return kv_head * group + (first_vector + m) % group; };
  std::size_t lo = static_cast<std::size_t>(-1), hi = 0;
  for (std::size_t m = 0; m < vectors; ++m) {
    const std::size_t position = seq.kv.length - seq.rows + row_of(m);
    first_key[m] = first_visible_key<Window>(position);
    last_key[m] = position;
    lo = std::min(lo, first_key[m]);
    hi = std::max(hi, position);
    const float* q = &args.q(seq.first_row + row_of(m), head_of(m), 0);
    float* dst = queries + m * stride;
    for (std::size_t d = 0; d < stride; ++d) dst[d] = d < dim ? q[d] * args.scale : 0.0f;
    std::fill(acc + m * stride, acc + (m + 1) * stride, 0.0f);
    running_max[m] = -INFINITY;
    running_sum[m] = 0.0f;
  }

  auto row_at = [&](std::size_t position, bool values) {
    const kv_block_id b = seq.kv.blocks[position / kv.block_size];
    return (values ? kv.v_rows(b, kv_head) : kv.k_rows(b, kv_head)) + (position % kv.block_size) * kv.row_bytes;
  };
  for (std::size_t k0 = lo; k0 <= hi;) {
    // Chunks end at absolute multiples of key_chunk (and at block ends), not relative to the
    // tile's first key: a query then sees the same chunks, and the same online-softmax rounding,
    // whichever other queries share its tile.
    const std::size_t block_end = (k0 / kv.block_size + 1) * kv.block_size;
    const std::size_t chunk_end = (k0 / tiling::key_chunk + 1) * tiling::key_chunk;
    const std::size_t k1 = std::min({block_end, chunk_end, hi + 1});

    for (std::size_t k = k0; k < k1; ++k) {
      // Paged rows defeat the hardware prefetcher at every block and page edge: fetch the key a
      // few positions ahead, and this position's value, which the chunk's value pass reads next.
      if (k + tiling::prefetch_distance <= hi) simd::prefetch(row_at(k + tiling::prefetch_distance, false), kv.row_bytes);
      simd::prefetch(row_at(k, true), kv.row_bytes);
      kv_row_loader<Format>::load(row_at(k, false), dim, key);
      float dots[tiling::max_tile];
      dot_queries(queries, stride, vectors, key, dots);
      for (std::size_t m = 0; m < vectors; ++m) {
        float s = -INFINITY;
        if (k >= first_key[m] && k <= last_key[m]) {
          s = dots[m];
          if (args.softcap != 0.0f) s = args.softcap * std::tanh(s / args.softcap);
        }
        scores[m][k - k0] = s;
      }
    }
    for (std::size_t m = 0; m < vectors; ++m) {
      float chunk_max = -INFINITY;
      for (std::size_t j = 0; j < k1 - k0; ++j) chunk_max = std::max(chunk_max, scores[m][j]);
      if (chunk_max == -INFINITY) continue;
      const float new_max = std::max(running_max[m], chunk_max);
      const float correction = std::exp(running_max[m] - new_max);
      running_max[m] = new_max;
      if (correction != 1.0f) {
        float* a = acc + m * stride;
        const __m512 c = _mm512_set1_ps(correction);
        for (std::size_t d = 0; d < stride; d += 16) _mm512_store_ps(a + d, _mm512_mul_ps(_mm512_load_ps(a + d), c));
      }
      float sum = running_sum[m] * correction;
      for (std::size_t j = 0; j < k1 - k0; ++j) sum += (scores[m][j] = std::exp(scores[m][j] - new_max));
      running_sum[m] = sum;
    }
    for (std::size_t k = k0; k < k1; ++k) {
      kv_row_loader<Format>::load(row_at(k, true), dim, value);
      float weights[tiling::max_tile];
      for (std::size_t m = 0; m < vectors; ++m) weights[m] = scores[m][k - k0];
      accumulate_value(acc, stride, vectors, weights, value);
    }
    k0 = k1;
  }

  for (std::size_t m = 0; m < vectors; ++m) {
    float* out = &args.out(seq.first_row + row_of(m), head_of(m), 0);
    const float inv = 1.0f / running_sum[m];
    for (std::size_t d = 0; d < dim; ++d) out[d] = acc[m * stride + d] * inv;
  }
}

template <attention_window Window>
void attention(thread_pool& pool, const attention_args& args) {
  const std::size_t group = args.q.extent(1) / args.kv.kv_heads;
  const std::size_t tile = attention_tiling::tile(args.kv.head_dim);
  // Tasks: for each sequence, for each KV head, tiles of its rows × group query vectors.
  auto tiles_of = [&](const attention_sequence& seq) { return (seq.rows * group + tile - 1) / tile; };
  std::size_t tasks = 0;
  for (const attention_sequence& seq : args.sequences) tasks += args.kv.kv_heads * tiles_of(seq);
  visit_kv_type(args.kv.type, [&]<class Format>() {
    pool.parallel_for(0, tasks, 1, [&](std::size_t begin, std::size_t end) {
      for (std::size_t task = begin; task < end; ++task) {
        std::size_t rest = task;
        for (const attention_sequence& seq : args.sequences) {
          const std::size_t count = args.kv.kv_heads * tiles_of(seq);
          if (rest >= count) {
            rest -= count;
            continue;
          }
          const std::size_t first_vector = rest % tiles_of(seq) * tile;
          attention_tile<Window, Format>(args, seq, rest / tiles_of(seq), first_vector,
                                         std::min(tile, seq.rows * group - first_vector));
          break;
        }
      }
    });
  });
}

}  // namespace strix::zen5_kernels
