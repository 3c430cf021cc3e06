// Attention benchmarks on the zen5 policy over the paged KV cache (f16 K/V, blocks of 16).
//
// Decode: one token's attention through a Gemma 4 E4B-like stack at contexts 512…32768: 42 layers,
// [5 sliding (window 512, head_dim 256), 1 global (head_dim 512)] × 7, 8 query / 2 KV heads; the
// last 18 layers read the KV of the last owning layer of their type, so 24 layers own KV (20
// sliding, 4 global). The step is timed (K/V writes of the new token included); counters split
// it into sliding and global layers, give the KV bytes each kind holds, and the KV bytes read per
// step as a fraction of the measured read bandwidth. Sliding time and memory must be flat past
// the window.
//
// Prefill: one sliding and one global layer over N new tokens from an empty cache (kernel time
// only), in tokens/s and GFLOP/s of the visible query·key pairs.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include <strix/attention/hybrid_attention.hpp>
#include <strix/device/zen5/zen5.hpp>  // first: brings <immintrin.h> with GCC 12's false warnings silenced

#include "common/bandwidth_probe.hpp"

using namespace strix;
using strix::bench::bandwidth_for;

namespace {

constexpr std::size_t heads = 8;
constexpr std::size_t kv_heads = 2;
constexpr std::size_t sliding_dim = 256;
constexpr std::size_t global_dim = 512;
constexpr std::size_t window = 512;
constexpr std::size_t chunk = 512;

std::vector<float> noise(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(static_cast<std::int32_t>(seed >> 8) - (1 << 23)) / static_cast<float>(1 << 23);
  }
  return v;
}

void write_rows(paged_kv_cache& cache, kv_sequence_id seq, std::size_t layer, std::size_t first, std::size_t rows) {
  const std::size_t width = cache.layout().layer(layer).kv_heads * cache.layout().layer(layer).head_dim;
  static const std::vector<float> values = noise(chunk * kv_heads * global_dim, 7);
  cache.write(seq, layer, first, matrix_view<const float>(values.data(), {rows, width}),
              matrix_view<const float>(values.data(), {rows, width}));
}

struct e4b_stack {
  static constexpr std::size_t layers = 42;
  static constexpr std::size_t owners = 24;
  static bool is_global(std::size_t layer) { return layer % 6 == 5; }
  // The cache layer a model layer reads: its own below 24, else the last owner of its type.
  static std::size_t kv_layer(std::size_t layer) {
    if (layer < owners) return layer;
    return is_global(layer) ? owners - 1 : owners - 2;
  }
  static kv_layout layout() {
    std::vector<kv_layer_spec> specs;
    for (std::size_t i = 0; i < owners; ++i) {
      specs.push_back(is_global(i) ? kv_layer_spec{kv_heads, global_dim, 0} : kv_layer_spec{kv_heads, sliding_dim, window});
    }
    kv_cache_options options;
    options.type = kv_type::f16;
    options.block_size = 16;
    options.max_step_tokens = chunk;
    options.max_rollback = 1;
    return kv_layout(std::move(specs), options);
  }
};

void BM_decode_attention_e4b(benchmark::State& state) {
  const auto context = static_cast<std::size_t>(state.range(0));
  const kv_layout layout = e4b_stack::layout();
  paged_kv_cache cache(layout, layout.budget_for_context(context + chunk));
  const kv_sequence_id seq = cache.create().sequence;
  // Fill the context; sliding layers only need writing where their window will be.
  for (std::size_t at = 0; at < context; at += chunk) {
    const std::size_t n = std::min(chunk, context - at);
    if (cache.append(seq, std::vector<std::int32_t>(n, 1)) != kv_status::ok) state.SkipWithError("KV append failed");
    for (std::size_t layer = 0; layer < e4b_stack::owners; ++layer) {
      if (e4b_stack::is_global(layer) || at + n + window + chunk > context) write_rows(cache, seq, layer, at, n);
    }
  }

  thread_pool pool(2);
  zen5 dev(pool);
  attention_config sliding_config{heads, kv_heads, sliding_dim, 1.0f, 0.0f, 1e-6f, norm_weight::none, false, false, false};
  attention_config global_config = sliding_config;
  global_config.head_dim = global_dim;
  attention<zen5, sliding_window<window>> sliding(sliding_config, {});
  attention<zen5, global_attention> global(global_config, {});
  auto q = noise(heads * global_dim, 3);
  std::vector<float> out(heads * global_dim);
  auto k = noise(kv_heads * global_dim, 4), v = noise(kv_heads * global_dim, 5);
  std::vector<std::int32_t> position{static_cast<std::int32_t>(context)};
  const sequence_rows member{seq, 0, 1};
  const attention_batch batch{std::span(&member, 1), position};

  double sliding_seconds = 0, global_seconds = 0;
  for (auto _ : state) {
    if (cache.append(seq, std::vector<std::int32_t>{2}) != kv_status::ok) state.SkipWithError("KV append failed");
    for (std::size_t layer = 0; layer < e4b_stack::layers; ++layer) {
      const bool is_global = e4b_stack::is_global(layer);
      const std::size_t dim = is_global ? global_dim : sliding_dim;
      std::optional<kv_projections> projections;
      if (layer < e4b_stack::owners) projections = kv_projections{{k.data(), {1, kv_heads * dim}}, {v.data(), {1, kv_heads * dim}}};
      const matrix_view<float> q_view(q.data(), {1, heads * dim});
      const matrix_view<float> out_view(out.data(), {1, heads * dim});
      const auto start = std::chrono::steady_clock::now();
      if (is_global) {
        global.forward(dev, batch, q_view, projections, {}, cache, e4b_stack::kv_layer(layer), out_view);
      } else {
        sliding.forward(dev, batch, q_view, projections, {}, cache, e4b_stack::kv_layer(layer), out_view);
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      (is_global ? global_seconds : sliding_seconds) += seconds;
    }
    benchmark::DoNotOptimize(out.data());
    if (cache.truncate(seq, context) != kv_status::ok) state.SkipWithError("KV truncate failed");
  }
  const auto iterations = static_cast<double>(state.iterations());
  const std::size_t sliding_bytes = cache.blocks_held(seq, 0) * layout.groups()[0].block_bytes;
  const std::size_t global_bytes = cache.blocks_held(seq, 1) * layout.groups()[1].block_bytes;
  // Bytes of K and V the 42 layers read for one token at this context.
  const double read = 35.0 * static_cast<double>(std::min(context + 1, window)) * 2 * kv_heads * sliding_dim * 2 +
                      7.0 * static_cast<double>(context + 1) * 2 * kv_heads * global_dim * 2;
  state.counters["sliding_us"] = sliding_seconds / iterations * 1e6;
  state.counters["global_us"] = global_seconds / iterations * 1e6;
  state.counters["sliding_KiB"] = static_cast<double>(sliding_bytes) / 1024;
  state.counters["global_KiB"] = static_cast<double>(global_bytes) / 1024;
  state.counters["tok/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["of_bw"] = benchmark::Counter(read / bandwidth_for(2), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_decode_attention_e4b)->Arg(512)->Arg(1024)->Arg(2048)->Arg(4096)->Arg(8192)->Arg(16384)->Arg(32768)
    ->Unit(benchmark::kMicrosecond)->UseRealTime();

template <class Window>
void BM_prefill_attention(benchmark::State& state) {
  const auto tokens = static_cast<std::size_t>(state.range(0));
  const std::size_t dim = Window::size == 0 ? global_dim : sliding_dim;
  kv_cache_options options;
  options.type = kv_type::f16;
  options.max_step_tokens = tokens;
  const kv_layout layout({{kv_heads, dim, Window::size}}, options);
  paged_kv_cache cache(layout, layout.budget_for_context(tokens));
  thread_pool pool(2);
  zen5 dev(pool);
  const auto q = noise(tokens * heads * dim, 3);
  std::vector<float> out(q.size());
  std::vector<float> kv_values = noise(tokens * kv_heads * dim, 4);
  const matrix_view<const float> kv_rows(kv_values.data(), {tokens, kv_heads * dim});
  for (auto _ : state) {
    const kv_sequence_id seq = cache.create().sequence;
    if (cache.append(seq, std::vector<std::int32_t>(tokens, 1)) != kv_status::ok) state.SkipWithError("KV append failed");
    cache.write(seq, 0, 0, kv_rows, kv_rows);
    const attention_sequence member{cache.sequence_view(seq, 0), 0, tokens};
    const auto start = std::chrono::steady_clock::now();
    dev.attention<Window>({tensor_view<const float, 3>(q.data(), {tokens, heads, dim}), tensor_view<float, 3>(out.data(), {tokens, heads, dim}),
                           std::span(&member, 1), cache.layer_view(0), 1.0f, 0.0f});
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    benchmark::DoNotOptimize(out.data());
    cache.release(seq);
  }
  double pairs = 0;
  for (std::size_t p = 0; p < tokens; ++p) pairs += static_cast<double>(p + 1 - first_visible_key<Window>(p));
  state.counters["tok/s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsIterationInvariantRate);
  // q·k and p·v: 2 · 2 · dim flops per visible pair and query head.
  state.counters["GFLOP/s"] = benchmark::Counter(pairs * heads * 4.0 * static_cast<double>(dim) / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_prefill_attention<sliding_window<window>>)->Arg(512)->Arg(2048)->Arg(8192)->Unit(benchmark::kMillisecond)->UseManualTime();
BENCHMARK(BM_prefill_attention<global_attention>)->Arg(512)->Arg(2048)->Arg(8192)->Unit(benchmark::kMillisecond)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
