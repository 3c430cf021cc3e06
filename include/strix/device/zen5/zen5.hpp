// The zen5 device policy: AVX-512 (F/BW/DQ/VL/VNNI/BF16) kernels on a caller-owned thread pool.
// Matmul has fast paths for F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, IQ4_XS and MXFP4 (the
// formats of released Gemma 4 / Qwen3.5 GGUF files); other block formats use the reference matmul,
// split over the pool. Activations, gated products and the soft-cap are vectorised (pointwise.hpp);
// the other row-wise kernels (norms, RoPE, softmax, selection) are the reference ones, split over
// the pool by rows where a call has several. Attention is a tiled
// online-softmax kernel over the paged KV cache (attention.hpp); Gated DeltaNet has recurrent and
// chunked kernels (deltanet.hpp). Not thread-safe: one
// workspace per policy object, sized by plan() (a larger call than planned grows it once).
// Construction fails with a clear error on a CPU without the instruction sets this code was
// compiled for.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <strix/core/buffer.hpp>
#include <strix/core/thread_pool.hpp>
#include <strix/device/concepts.hpp>
#include <strix/device/results_in_host_memory.hpp>
#include <strix/device/reference/kv_write.hpp>
#include <strix/device/reference/matmul.hpp>
#include <strix/device/reference/pointwise.hpp>
#include <strix/device/reference/selection.hpp>
#include <strix/device/zen5/attention.hpp>
#include <strix/device/zen5/cpu_features.hpp>
#include <strix/device/zen5/deltanet.hpp>
#include <strix/device/zen5/dot_kernels.hpp>
#include <strix/device/zen5/pointwise.hpp>

namespace strix {

class zen5 : public results_in_host_memory {
 public:
  using memory_space = host_memory;
  static constexpr std::string_view name = "zen5";
  // Weight rows per task: small enough to balance two cores, large enough to amortise the hand-out.
  static constexpr std::size_t rows_per_task = 16;

  explicit zen5(thread_pool& pool) : pool_(&pool) { require_zen5_features(); }

  [[nodiscard]] thread_pool& pool() const noexcept { return *pool_; }

  void plan(const kernel_limits& limits) {
    // The largest activation layout is f32 (for F32/F16 weights): 4 bytes per element, rows padded to 64.
    ensure_workspace(limits.max_tokens * (limits.max_row_length * sizeof(float) + 64));
  }

  template <block_format Format>
  void matmul(const quantized_view<Format>& w, matrix_view<const float> x, matrix_view<float> y) {
    const matmul_group whole{0, x.extent(0)};
    check_matmul_groups(w.rows(), w.row_length(), std::span(&whole, 1), x, y, "zen5 matmul");
    grouped(w, std::span(&whole, 1), x, y);
  }
  // All groups' rows in one pass of the pool (a decode step's routed experts share one hand-out).
  template <block_format Format>
  void grouped_matmul(const quantized_view<Format>& w, std::span<const matmul_group> groups, matrix_view<const float> x,
                      matrix_view<float> y) {
    check_matmul_groups(w.rows(), w.row_length(), groups, x, y, "zen5 grouped matmul");
    grouped(w, groups, x, y);
  }

  template <block_format Format>
  void embedding(const quantized_view<Format>& table, std::span<const std::int32_t> tokens, float scale, matrix_view<float> out) {
    pool_->parallel_for(0, tokens.size(), 16, [&](std::size_t begin, std::size_t end) {
      reference_kernels::embedding(table, tokens.subspan(begin, end - begin), scale, out.slice(begin, end));
    });
  }
  void rmsnorm(matrix_view<const float> x, std::span<const float> weight, norm_weight kind, float eps, matrix_view<float> y) {
    pool_->parallel_for(0, x.extent(0), 8, [&](std::size_t begin, std::size_t end) {
      reference_kernels::rmsnorm(x.slice(begin, end), weight, kind, eps, y.slice(begin, end));
    });
  }
  void rmsnorm_add(matrix_view<const float> x, std::span<const float> weight, norm_weight kind, float eps, float scale,
                   matrix_view<float> residual) {
    reference_kernels::check_rmsnorm_add_shapes(x, weight, kind, residual);
    pool_->parallel_for(0, x.extent(0), 8, [&](std::size_t begin, std::size_t end) {
      reference_kernels::rmsnorm_add(x.slice(begin, end), weight, kind, eps, scale, residual.slice(begin, end));
    });
  }
  void rope(tensor_view<float, 3> x, std::span<const std::int32_t> positions, rope_frequencies freq) {
    pool_->parallel_for(0, x.extent(0), 8, [&](std::size_t begin, std::size_t end) {
      reference_kernels::rope(x.slice(begin, end), positions.subspan(begin, end - begin), freq);
    });
  }
  void apply_activation(activation act, std::span<const float> x, std::span<float> y) {
    zen5_kernels::apply_activation(*pool_, act, x, y);
  }
  void gated_activation(activation act, std::span<const float> gate, std::span<const float> up, std::span<float> out) {
    zen5_kernels::gated_activation(*pool_, act, gate, up, out);
  }
  void softcap(std::span<float> x, float cap) { zen5_kernels::softcap(*pool_, x, cap); }
  void gather_rows(matrix_view<const float> x, std::span<const std::int32_t> rows, matrix_view<float> out) {
    zen5_kernels::gather_rows(*pool_, x, rows, out);
  }
  void scatter_add_rows(matrix_view<const float> x, std::span<const std::int32_t> rows, std::span<const float> weights,
                        matrix_view<float> out) {
    zen5_kernels::scatter_add_rows(*pool_, x, rows, weights, out);
  }
  void softmax(matrix_view<float> rows, float cap) {
    pool_->parallel_for(0, rows.extent(0), 4, [&](std::size_t begin, std::size_t end) {
      reference_kernels::softmax(rows.slice(begin, end), cap);
    });
  }
  std::size_t argmax(std::span<const float> x) { return reference_kernels::argmax(x); }
  void top_k(matrix_view<const float> x, matrix_view<std::int32_t> indices, matrix_view<float> values) {
    reference_kernels::check_top_k_shapes(x, indices, values, "zen5 top_k");
    pool_->parallel_for(0, x.extent(0), 16, [&](std::size_t begin, std::size_t end) {
      reference_kernels::top_k_rows(x.slice(begin, end), indices.slice(begin, end), values.slice(begin, end));
    });
  }
  void add(std::span<const float> a, std::span<const float> b, std::span<float> out) { reference_kernels::add(a, b, out); }
  void scale(std::span<float> x, float factor) { reference_kernels::scale(x, factor); }
  void copy(matrix_view<const float> in, matrix_view<float> out) { reference_kernels::copy(in, out); }
  // The reference quantizers, rows split over the threads.
  void write_kv(const kv_write_args& args) {
    check_kv_write_shapes(args, "zen5 kv write");
    pool_->parallel_for(0, args.rows.size(), 16, [&](std::size_t begin, std::size_t end) {
      reference_kernels::write_kv_rows({args.kv, args.rows.subspan(begin, end - begin), args.blocks, args.k.slice(begin, end), args.v.slice(begin, end)});
    });
  }
  // Head dims up to zen5_kernels::attention_tiling::max_head_dim (512).
  template <attention_window Window>
  void attention(const attention_args& args) {
    zen5_kernels::attention<Window>(*pool_, args);
  }
  // Gated DeltaNet: parallel over value heads (and, for decode, 128-column blocks of the state).
  void deltanet_recurrent(const deltanet_args& args) { zen5_kernels::deltanet_recurrent(*pool_, args); }
  void deltanet_chunked(const deltanet_args& args, std::size_t chunk) {
    chunk = std::max<std::size_t>(chunk, 1);
    const std::size_t floats = args.v.extent(1) * zen5_kernels::deltanet_chunk_workspace_floats(chunk, args.k.extent(2), args.v.extent(2));
    ensure_workspace(floats * sizeof(float));
    zen5_kernels::deltanet_chunked(*pool_, args, chunk, reinterpret_cast<float*>(workspace_.data()));
  }

 private:
  // y = the groups' slices of w times their rows of x (one group: a plain matmul, y as wide as w).
  // Tasks are runs of rows_per_task output rows of the groups laid end to end.
  template <block_format Format>
  void grouped(const quantized_view<Format>& w, std::span<const matmul_group> groups, matrix_view<const float> x,
               matrix_view<float> y) {
    const std::size_t width = y.extent(1);
    if (width == 0 || x.extent(0) == 0) return;
    // The non-empty groups and where their rows start: a decode step routes 8 of 128-256 experts.
    busy_groups_.clear();
    for (std::size_t g = 0, first = 0; g < groups.size(); first += groups[g++].rows) {
      if (groups[g].rows != 0) busy_groups_.push_back({groups[g].weight_row, first, groups[g].rows});
    }
    if constexpr (zen5_kernels::has_dot_kernel<Format>) {
      using kernel = zen5_kernels::dot_kernel<Format>;
      using activations = typename kernel::activations;
      using activation_view = typename activations::view;
      const std::size_t tokens = x.extent(0);
      const std::size_t cols = w.row_length();
      const std::size_t stride = (activations::bytes(cols) + 63) / 64 * 64;
      ensure_workspace(tokens * stride);
      std::byte* workspace = workspace_.data();
      pool_->parallel_for(0, tokens, 1, [&](std::size_t begin, std::size_t end) {
        for (std::size_t t = begin; t < end; ++t) activations::fill(x.row(t).span(), workspace + t * stride);
      });
      const std::size_t blocks = w.blocks_per_row();
      // Activation rows multiplied per weight row unpack: each weight vector is unpacked once for
      // this many tokens.
      constexpr std::size_t token_tile = zen5_kernels::max_tokens_per_call<kernel>;
      constexpr std::size_t decode_rows = zen5_kernels::decode_rows_per_call<kernel>;
      for_each_task(width, [&](const busy_group& group, std::size_t begin, std::size_t end) {
        const auto* weights = w.row(group.weight_row).data();
        const std::size_t first = group.first, count = group.rows;
        // Tiles of as even a size as their count allows (9 tokens: 5 + 4, not 8 + 1): a weight row
        // costs one unpack per tile plus a share per token, and a lone token pays a whole unpack.
        const std::size_t tiles = (count + token_tile - 1) / token_tile;
        for (std::size_t i = 0, t0 = 0; i < tiles; ++i) {
          const std::size_t n = count / tiles + (i < count % tiles);
          activation_view tile[token_tile];
          for (std::size_t t = 0; t < n; ++t) tile[t] = activations::at(workspace + (first + t0 + t) * stride, cols);
          float out[std::max(token_tile, decode_rows)];
          for (std::size_t o = begin; o < end;) {
            const auto* row = weights + o * blocks;
            if constexpr (decode_rows > 1) {
              if (n == 1 && end - o >= decode_rows) {
                kernel::template tile<decode_rows, 1>(row, blocks, tile, blocks, out);
                for (std::size_t r = 0; r < decode_rows; ++r) y(first + t0, o + r) = out[r];
                o += decode_rows;
                continue;
              }
            }
            // One row by n tokens: the instantiation for this n (1 … token_tile).
            [&]<std::size_t... N>(std::index_sequence<N...>) {
              (void)((n == N + 1 && (kernel::template tile<1, N + 1>(row, blocks, tile, blocks, out), true)) || ...);
            }(std::make_index_sequence<token_tile>{});
            for (std::size_t t = 0; t < n; ++t) y(first + t0 + t, o) = out[t];
            ++o;
          }
          t0 += n;
        }
      });
    } else {
      // No fast path for this format: reference rows, split over the pool.
      for_each_task(width, [&](const busy_group& group, std::size_t begin, std::size_t end) {
        const std::size_t first = group.first, count = group.rows;
        reference_kernels::matmul(w.rows_between(group.weight_row + begin, group.weight_row + end), x.slice(first, first + count),
                                  columns(y.slice(first, first + count), begin, end));
      });
    }
  }

  // A non-empty group of a grouped matmul: its slice, and its activation rows [first, first + rows).
  struct busy_group {
    std::size_t weight_row;
    std::size_t first;
    std::size_t rows;
  };

  // f(group, begin, end) for output rows [begin, end) of each of busy_groups_, in tasks of about
  // rows_per_task rows spread over the pool.
  template <class F>
  void for_each_task(std::size_t width, F&& f) {
    pool_->parallel_for(0, busy_groups_.size() * width, rows_per_task, [&](std::size_t begin, std::size_t end) {
      for (std::size_t at = begin; at < end;) {
        const std::size_t row = at % width, last = std::min(width, row + (end - at));
        f(busy_groups_[at / width], row, last);
        at += last - row;
      }
    });
  }

  // Columns [begin, end) of y; by pointer arithmetic, not y(0, begin), which a y of no rows forbids.
  static matrix_view<float> columns(matrix_view<float> y, std::size_t begin, std::size_t end) noexcept {
    return {y.data() + begin * y.stride(1), {y.extent(0), end - begin}, y.strides()};
  }
  void ensure_workspace(std::size_t bytes) {
    if (workspace_.size() < bytes) workspace_ = buffer<std::byte>(bytes);
  }

  thread_pool* pool_;
  buffer<std::byte> workspace_;
  std::vector<busy_group> busy_groups_;
};

static_assert(device_policy<zen5>);

}  // namespace strix
