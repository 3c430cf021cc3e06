// Matmul benchmarks for the zen5 policy.
//
// Decode (GEMV, one token) streams every weight once per token, so its headline figure cycles
// through a working set of several GB of distinct matrices: a single 4096x14336 matrix fits this
// machine's reported 480 MiB L3 and would measure the cache, not DRAM. The cache-resident figure
// (one matrix, repeated) is reported beside it, for comparison with ggml's published numbers.
// Prefill (GEMM, 512 tokens) is compute-bound and reported in GFLOP/s. "kernel/" times the dot
// kernel alone on one thread with its weights in L2: the compute bound of the other two.
//
// Every result carries GB/s of weight bytes and, for decode, the fraction of the read bandwidth
// measured at start-up by a streaming probe on the same threads.
#include <benchmark/benchmark.h>


#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <strix/core/buffer.hpp>
#include <strix/core/thread_pool.hpp>
#include <strix/device/zen5/zen5.hpp>  // brings <immintrin.h> with GCC 12's false warnings silenced
#include <strix/quant/formats.hpp>

#include "common/bandwidth_probe.hpp"
#include "common/matmul_shapes.hpp"

using namespace strix;
using strix::bench::bandwidth_for;

namespace {

constexpr std::size_t working_set_bytes = std::size_t{3} << 30;  // per decode benchmark: 3 GiB

// n_copies distinct copies of one quantized rows x cols matrix; the source is a tile of 64
// quantized random rows repeated (quantizing gigabytes with the reference quantizer takes minutes).
template <class Format>
struct weight_set {
  std::vector<buffer<std::byte>> copies;
  std::size_t rows, cols, bytes;

  weight_set(std::size_t rows_, std::size_t cols_, std::size_t n_copies) : rows(rows_), cols(cols_) {
    const std::size_t tile_rows = std::min<std::size_t>(64, rows);
    std::vector<float> values(tile_rows * cols);
    std::uint32_t state = 12345;
    for (auto& v : values) {
      state = state * 1664525u + 1013904223u;
      v = static_cast<float>(static_cast<std::int32_t>(state >> 8) - (1 << 23)) / static_cast<float>(1 << 23);
    }
    std::vector<typename Format::block_type> tile(values.size() / Format::block_size);
    quantize_row<Format>(values, tile);
    const std::size_t row_bytes = cols / Format::block_size * sizeof(typename Format::block_type);
    bytes = rows * row_bytes;
    for (std::size_t c = 0; c < n_copies; ++c) {
      buffer<std::byte> m(bytes);
      for (std::size_t r = 0; r < rows; r += tile_rows) {
        const std::size_t n = std::min(tile_rows, rows - r);
        std::memcpy(m.data() + r * row_bytes, tile.data(), n * row_bytes);
      }
      copies.push_back(std::move(m));
    }
  }
  quantized_view<Format> view(std::size_t i) const { return {copies[i].span(), rows, cols}; }
};

template <class Format>
void run_matmul(benchmark::State& state, std::size_t rows, std::size_t cols, std::size_t tokens, bool cache_resident,
                unsigned threads) {
  const std::size_t bytes_one = rows * cols / Format::block_size * sizeof(typename Format::block_type);
  const std::size_t copies = cache_resident ? 1 : std::max<std::size_t>(2, working_set_bytes / bytes_one);
  const weight_set<Format> weights(rows, cols, copies);
  thread_pool pool(threads);
  zen5 dev(pool);
  dev.plan({tokens, cols});
  std::vector<float> x(tokens * cols);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 1000) / 1000.0f - 0.5f;
  std::vector<float> y(tokens * rows);
  std::size_t next = 0;
  for (auto _ : state) {
    dev.matmul(weights.view(next), matrix_view<const float>(x.data(), {tokens, cols}), matrix_view<float>(y.data(), {tokens, rows}));
    benchmark::DoNotOptimize(y.data());
    next = (next + 1) % copies;
  }
  const double weight_bytes = static_cast<double>(weights.bytes);
  state.counters["GB/s"] = benchmark::Counter(weight_bytes, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(rows * cols * tokens) / 1e9 * 1e9 / 1e9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tok/s"] = benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsIterationInvariantRate);
  if (tokens == 1) {
    state.counters["of_bw"] = benchmark::Counter(weight_bytes / bandwidth_for(threads), benchmark::Counter::kIsIterationInvariantRate);
  }
}

// The dot kernel alone (`dot_kernel<Format>::tile<1, Tokens>`, or `tile<decode_rows, 1>` for one
// token where the kernel has more than one), one thread, on a 64 x 14336 matrix (2560 x 2560 for
// the K-quants' 9-token tile against 5 + 4) that stays in L2 across repetitions, against Tokens distinct activation rows: the compute rate the
// decode and prefill figures above are bounded by, free of DRAM, the pool and this VM's bandwidth
// swings. Reported per weight byte (GB/s) and per multiply-add over all tokens (GFLOP/s).
template <class Format, std::size_t Tokens>
void run_kernel(benchmark::State& state, std::size_t rows, std::size_t cols) {
  using kernel = zen5_kernels::dot_kernel<Format>;
  using activations = typename kernel::activations;
  const weight_set<Format> weights(rows, cols, 1);
  const std::size_t stride = (activations::bytes(cols) + 63) / 64 * 64;
  buffer<std::byte> workspace(Tokens * stride);
  typename activations::view views[Tokens];
  for (std::size_t t = 0; t < Tokens; ++t) {
    std::vector<float> x(cols);
    for (std::size_t i = 0; i < cols; ++i) x[i] = static_cast<float>((i * 7919 + t * 104729) % 1000) / 1000.0f - 0.5f;
    activations::fill(x, workspace.data() + t * stride);
    views[t] = activations::at(workspace.data() + t * stride, cols);
  }
  const auto* w = reinterpret_cast<const typename Format::block_type*>(weights.copies[0].data());
  // A run-time count, as in the policy (a constant one makes GCC warn about the unreached tail
  // loop). Not through benchmark::DoNotOptimize (libbenchmark 1.7's "+m,r" constraint): with one
  // more kernel shape registered, GCC 12 at -O2 passed the kernel a stack address as the count.
  const volatile std::size_t opaque_blocks = cols / Format::block_size;
  const std::size_t blocks = opaque_blocks;
  // As the policy calls it: decode_rows rows at once for one token where the kernel has them.
  constexpr std::size_t rows_at_once = Tokens == 1 ? zen5_kernels::decode_rows_per_call<kernel> : 1;
  float out[Tokens * rows_at_once];
  for (auto _ : state) {
    for (std::size_t r = 0; r < rows; r += rows_at_once) {
      kernel::template tile<rows_at_once, Tokens>(w + r * blocks, blocks, views, blocks, out);
      benchmark::DoNotOptimize(out);
    }
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(weights.bytes), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(rows * cols * Tokens) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// kernel/<format>/<rows>x<cols>/tokens:<Tokens>
template <class Format, std::size_t Tokens>
void register_kernel_shape(std::size_t rows, std::size_t cols) {
  const std::string name = "kernel/" + std::string(name_of(Format::type)) + "/" + std::to_string(rows) + "x" + std::to_string(cols) +
                           "/tokens:" + std::to_string(Tokens);
  benchmark::RegisterBenchmark(name.c_str(), [rows, cols](benchmark::State& st) { run_kernel<Format, Tokens>(st, rows, cols); })
      ->Unit(benchmark::kMicrosecond);
}

template <class Format>
void register_kernel() {
  constexpr std::size_t max_tokens = zen5_kernels::max_tokens_per_call<zen5_kernels::dot_kernel<Format>>;
  register_kernel_shape<Format, 1>(64, 14336);
  register_kernel_shape<Format, 4>(64, 14336);
  if constexpr (max_tokens >= 9) {
    // A verify pass of 8 drafts at E4B's width: one tile of 9, or the 5 + 4 it would otherwise be.
    register_kernel_shape<Format, 9>(2560, 2560);
    register_kernel_shape<Format, 5>(2560, 2560);
    register_kernel_shape<Format, 4>(2560, 2560);
  }
  if constexpr (max_tokens >= 8) register_kernel_shape<Format, 8>(64, 14336);
}

template <class Format>
void register_format() {
  register_kernel<Format>();
  const std::string type(name_of(Format::type));
  for (const auto& s : bench::decode_shapes) {
    for (unsigned threads : {1u, 2u}) {
      for (bool cached : {false, true}) {
        const std::string name = "decode/" + type + "/" + s.name + "/threads:" + std::to_string(threads) +
                                 (cached ? "/cache-resident" : "/dram");
        benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { run_matmul<Format>(st, s.rows, s.cols, 1, cached, threads); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
      }
    }
  }
}

template <class Format>
void register_prefill() {
  const std::string name = "prefill/" + std::string(name_of(Format::type)) + "/512x4096x14336/threads:2";
  benchmark::RegisterBenchmark(name.c_str(), [](benchmark::State& st) { run_matmul<Format>(st, 4096, 14336, 512, true, 2); })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(2.0);
}

}  // namespace

int main(int argc, char** argv) {
  register_format<q4_k_format>();
  register_format<q6_k_format>();
  register_format<q4_0_format>();
  register_format<q8_0_format>();
  register_format<mxfp4_format>();
  register_format<f16_format>();
  register_format<bf16_format>();
  register_format<q5_k_format>();
  register_format<iq4_xs_format>();
  register_prefill<q4_k_format>();
  register_prefill<q4_0_format>();
  register_prefill<q8_0_format>();
  register_prefill<bf16_format>();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
