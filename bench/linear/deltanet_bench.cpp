// Gated DeltaNet benchmarks on the zen5 policy at Qwen3.5-35B-A3B's shape (16 key heads, 32 value
// heads, key/value dims 128, conv kernel 4): the layer between its projections (conv, gates, the
// recurrence, the gated norm); the projections are matmuls, measured by matmul_bench.
//
// Prefill: one sequence of N tokens from the zero state, the chunked kernel (chunk 64) against the
// recurrent one in the same run, in tokens/s and GFLOP/s of the chunked algebra's useful work
// (6 · dk · dv flops per token and head, the recurrence's count).
//
// Decode: one token through all 30 DeltaNet layers of the model, each with its own 2 MiB state
// (60 MiB: past the caches, as in the real model), with max_rollback 0 and 8 (the cost of
// keeping speculative decoding exact). Counters: µs per layer, and the state bytes read and
// written per token as a fraction of the measured read bandwidth.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include <strix/device/zen5/zen5.hpp>  // first: brings <immintrin.h> with GCC 12's false warnings silenced
#include <strix/linear/gated_deltanet.hpp>

#include "common/bandwidth_probe.hpp"

using namespace strix;
using strix::bench::bandwidth_for;

namespace {

constexpr deltanet_shape qwen35_shape{16, 32, 128, 128, 4};
constexpr std::size_t model_layers = 30;

std::vector<float> noise(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = scale * static_cast<float>(static_cast<std::int32_t>(seed >> 8) - (1 << 23)) / static_cast<float>(1 << 23);
  }
  return v;
}

struct layer_inputs {
  std::vector<float> conv = noise(qwen35_shape.channels() * qwen35_shape.conv_kernel, 1, 0.5f);
  std::vector<float> a_log = noise(qwen35_shape.value_heads, 2), dt_bias = noise(qwen35_shape.value_heads, 3);
  std::vector<float> norm = noise(qwen35_shape.value_dim, 4);
  std::vector<float> qkv, z, a, b, out;

  explicit layer_inputs(std::size_t rows)
      : qkv(noise(rows * qwen35_shape.channels(), 5)), z(noise(rows * qwen35_shape.value_width(), 6)),
        a(noise(rows * qwen35_shape.value_heads, 7)), b(noise(rows * qwen35_shape.value_heads, 8)),
        out(rows * qwen35_shape.value_width()) {}

  [[nodiscard]] deltanet_weights weights() const {
    return {{conv.data(), {qwen35_shape.channels(), qwen35_shape.conv_kernel}}, a_log, dt_bias, norm};
  }
  [[nodiscard]] deltanet_projections projections(std::size_t rows) const {
    return {{qkv.data(), {rows, qwen35_shape.channels()}}, {z.data(), {rows, qwen35_shape.value_width()}},
            {a.data(), {rows, qwen35_shape.value_heads}}, {b.data(), {rows, qwen35_shape.value_heads}}};
  }
};

template <bool Chunked>
void BM_deltanet_prefill(benchmark::State& state) {
  const auto tokens = static_cast<std::size_t>(state.range(0));
  const layer_inputs in(tokens);
  thread_pool pool(2);
  zen5 dev(pool);
  deltanet_config config{qwen35_shape, 1e-6f, 64, Chunked ? 16 : tokens};
  gated_deltanet<zen5> layer(config, in.weights());
  const deltanet_shape shapes[] = {qwen35_shape};
  deltanet_state_cache states(shapes, {1, 0});
  const sequence_rows member{0, 0, tokens};
  auto prefill = [&] {
    states.reset(0);
    states.append(0, tokens);
    layer.forward(dev, std::span(&member, 1), in.projections(tokens), states, 0,
                  {const_cast<float*>(in.out.data()), {tokens, qwen35_shape.value_width()}});
  };
  prefill();  // untimed: sizes the layer's scratch and the policy's workspace
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    prefill();
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    benchmark::DoNotOptimize(in.out.data());
  }
  const double flops = 6.0 * qwen35_shape.key_dim * qwen35_shape.value_dim * qwen35_shape.value_heads * static_cast<double>(tokens);
  state.counters["tok/s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_deltanet_prefill<true>)->Name("deltanet_prefill/chunked")->Arg(512)->Arg(8192)->Unit(benchmark::kMillisecond)->UseManualTime();
BENCHMARK(BM_deltanet_prefill<false>)->Name("deltanet_prefill/recurrent")->Arg(512)->Arg(8192)->Unit(benchmark::kMillisecond)->UseManualTime();

void BM_deltanet_decode(benchmark::State& state) {
  const auto rollback = static_cast<std::size_t>(state.range(0));
  const layer_inputs in(1);
  thread_pool pool(static_cast<unsigned>(state.range(1)));
  zen5 dev(pool);
  gated_deltanet<zen5> layer({qwen35_shape, 1e-6f, 64, 16}, in.weights());
  const std::vector<deltanet_shape> shapes(model_layers, qwen35_shape);
  deltanet_state_cache states(shapes, {1, rollback});
  const sequence_rows member{0, 0, 1};
  auto token = [&] {
    states.append(0, 1);
    for (std::size_t l = 0; l < model_layers; ++l) {
      layer.forward(dev, std::span(&member, 1), in.projections(1), states, l,
                    {const_cast<float*>(in.out.data()), {1, qwen35_shape.value_width()}});
    }
  };
  token();
  double seconds = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    token();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    benchmark::DoNotOptimize(in.out.data());
  }
  const double state_bytes = 2.0 * qwen35_shape.state_floats() * sizeof(float) * model_layers;  // read + write
  state.counters["us/layer"] = seconds * 1e6 / static_cast<double>(state.iterations()) / model_layers;
  state.counters["tok/s"] = benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["of_bw"] = benchmark::Counter(state_bytes / bandwidth_for(2), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_deltanet_decode)->Name("deltanet_decode_30_layers/max_rollback")->Args({0, 1})->Args({0, 2})->Args({8, 2})->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
