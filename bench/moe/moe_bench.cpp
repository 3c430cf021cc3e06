// MoE layer benchmarks on the zen5 policy at real shapes, with the router (F32) and random inputs
// (near-uniform routing):
//   gemma4-26b-a4b: hidden 2816, 128 experts × 704, top-8, GELU-tanh; gate/up Q4_K, down Q8_0
//                   (704 is not a multiple of Q4_K's 256, as in llama.cpp's files);
//   qwen35-35b-a3b: hidden 2048, 256 experts × 512, top-8, SwiGLU, plus the sigmoid-gated shared
//                   expert (512); all Q4_K.
// Every expert holds the same quantized numbers (one expert quantized, copied) at its own address,
// so the bytes streamed are real. Counters: tok/s; MB of expert weights streamed per call (active
// experts × their bytes, router and shared expert included); for T = 1 that traffic over the time
// as a fraction of the measured read bandwidth. For T = 64 and 512 the same tokens also go through
// a naive loop (each token through each of its experts on its own) in the same run.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include <strix/device/zen5/zen5.hpp>  // first: brings <immintrin.h> with GCC 12's false warnings silenced
#include <strix/moe/moe_block.hpp>

#include "common/bandwidth_probe.hpp"

using namespace strix;
using strix::bench::bandwidth_for;

namespace {

std::vector<float> noise(std::size_t n, std::uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// `copies` stacked copies of one rows × cols matrix quantized to Format.
template <block_format Format>
struct stacked_matrix {
  std::vector<typename Format::block_type> blocks;
  std::size_t rows;
  std::size_t cols;
  stacked_matrix(std::size_t copies, std::size_t rows_, std::size_t cols_, std::uint32_t seed) : rows(copies * rows_), cols(cols_) {
    std::vector<typename Format::block_type> one(rows_ * cols_ / Format::block_size);
    quantize_row<Format>(noise(rows_ * cols_, seed, 0.05f), one);
    blocks.reserve(one.size() * copies);
    for (std::size_t c = 0; c < copies; ++c) blocks.insert(blocks.end(), one.begin(), one.end());
  }
  [[nodiscard]] weight_matrix matrix() const { return quantized_view<Format>(std::as_bytes(std::span(blocks)), rows, cols, "bench"); }
};

struct moe_shape {
  std::size_t hidden, experts, intermediate, top_k;
  activation act;
  bool shared;
};

template <block_format GateUp, block_format Down>
struct moe_layer {
  moe_shape shape;
  std::vector<float> router = noise(shape.experts * shape.hidden, 1, 0.05f);
  stacked_matrix<GateUp> gate{shape.experts, shape.intermediate, shape.hidden, 2}, up{shape.experts, shape.intermediate, shape.hidden, 3};
  stacked_matrix<Down> down{shape.experts, shape.hidden, shape.intermediate, 4};
  stacked_matrix<GateUp> shared_gate{1, shape.intermediate, shape.hidden, 5}, shared_up{1, shape.intermediate, shape.hidden, 6};
  stacked_matrix<Down> shared_down{1, shape.hidden, shape.intermediate, 7};
  std::vector<float> shared_gate_vector = noise(shape.hidden, 8, 0.05f);

  explicit moe_layer(moe_shape s) : shape(s) {}

  [[nodiscard]] expert_stack stack() const { return {shape.experts, std::nullopt, gate.matrix(), up.matrix(), down.matrix(), {}}; }
  [[nodiscard]] moe_block<zen5> block() const {
    std::optional<shared_expert_weights> shared;
    if (shape.shared) {
      shared = shared_expert_weights{{shared_gate.matrix(), shared_up.matrix(), shared_down.matrix()},
                                     weight_matrix(quantized_view<f32_format>(std::as_bytes(std::span(shared_gate_vector)), 1, shape.hidden))};
    }
    const weight_matrix router_matrix = quantized_view<f32_format>(std::as_bytes(std::span(router)), shape.experts, shape.hidden);
    return moe_block<zen5>({shape.experts, shape.top_k}, {router_matrix, {}, 1.0f, {}}, stack(), shape.act, shared);
  }
  [[nodiscard]] double expert_bytes() const {
    return static_cast<double>(2 * gate.blocks.size() * sizeof(typename GateUp::block_type) + down.blocks.size() * sizeof(typename Down::block_type)) /
           static_cast<double>(shape.experts);
  }
  [[nodiscard]] double fixed_bytes() const {
    return static_cast<double>(router.size() * sizeof(float)) + (shape.shared ? expert_bytes() + static_cast<double>(shape.hidden * 4) : 0.0);
  }
};

const moe_shape gemma_26b{2816, 128, 704, 8, activation::gelu_tanh, false};
const moe_shape qwen_35b{2048, 256, 512, 8, activation::silu, true};

template <block_format GateUp, block_format Down>
const moe_layer<GateUp, Down>& layer_for(const moe_shape& shape) {
  static const moe_layer<GateUp, Down> layer(shape);
  return layer;
}

template <block_format GateUp, block_format Down>
void run_moe(benchmark::State& state, const moe_shape& shape) {
  const auto tokens = static_cast<std::size_t>(state.range(0));
  const auto& layer = layer_for<GateUp, Down>(shape);
  thread_pool pool(2);
  zen5 dev(pool);
  auto block = layer.block();
  const auto x = noise(tokens * shape.hidden, 9, 1.0f);
  std::vector<float> out(x.size());
  const matrix_view<const float> input(x.data(), {tokens, shape.hidden});
  block.forward(dev, input, {out.data(), {tokens, shape.hidden}});  // untimed: scratch
  double seconds = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    block.forward(dev, input, {out.data(), {tokens, shape.hidden}});
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    benchmark::DoNotOptimize(out.data());
  }
  std::size_t active = 0;
  for (std::uint32_t c : block.last_counts()) active += c > 0 ? 1 : 0;
  const double bytes = static_cast<double>(active) * layer.expert_bytes() + layer.fixed_bytes();
  const double per_call = seconds / static_cast<double>(state.iterations());
  state.counters["tok/s"] = static_cast<double>(tokens) / per_call;
  state.counters["active"] = static_cast<double>(active);
  state.counters["MB_streamed"] = bytes / 1e6;
  if (tokens == 1) state.counters["of_bw"] = bytes / per_call / bandwidth_for(2);

  if (tokens < 64) return;
  // The naive loop on the same routing: one expert FFN call per token and choice.
  const const_routing routes = block.last_routing();
  const expert_stack stack = layer.stack();
  gated_ffn_scratch scratch;
  std::vector<float> y(shape.hidden);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t t = 0; t < tokens; ++t) {
    for (std::size_t j = 0; j < shape.top_k; ++j) {
      gated_ffn_forward(dev, stack.expert(static_cast<std::size_t>(routes.experts(t, j))), shape.act,
                        matrix_view<const float>(x.data() + t * shape.hidden, {1, shape.hidden}), {y.data(), {1, shape.hidden}}, scratch);
      for (std::size_t c = 0; c < shape.hidden; ++c) out[t * shape.hidden + c] += routes.weights(t, j) * y[c];
    }
  }
  const double naive = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  state.counters["naive_tok/s"] = static_cast<double>(tokens) / naive;
  state.counters["speedup"] = naive / per_call;
}

void BM_moe_gemma4_26b(benchmark::State& state) { run_moe<q4_k_format, q8_0_format>(state, gemma_26b); }
void BM_moe_qwen35_35b(benchmark::State& state) { run_moe<q4_k_format, q4_k_format>(state, qwen_35b); }
BENCHMARK(BM_moe_gemma4_26b)->Arg(1)->Arg(8)->Arg(64)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_moe_qwen35_35b)->Arg(1)->Arg(8)->Arg(64)->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
