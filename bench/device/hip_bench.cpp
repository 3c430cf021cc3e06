// The hip policy on a GPU, in one run: the device's read bandwidth (a streaming-read kernel), the
// decode GEMV per weight format at real shapes as GB/s of weights streamed and as a fraction of
// that bandwidth (cycling through > 2 GiB of distinct matrices, so L2 cannot serve them; one
// L2-resident matrix beside it; int8 and f32 activations at every warps-per-row count; the
// activation-quantizing launch alone; the streaming-read kernel over the same bytes), the prefill
// GEMM at 512 tokens, the cost of one policy call
// around the kernel (staging and synchronisation), and prefill / decode tokens/s of random-weight
// Gemma 4 E4B and 26B-A4B models on the policy. Built and run by `bash scripts/gpu.sh bench`; plain
// timing with GPU events (Google Benchmark is not on the GPU machine).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <strix/device/hip/hip.hpp>
#include <strix/kv/paged_kv_cache.hpp>
#include <strix/quant/formats.hpp>

#include "common/matmul_shapes.hpp"
#include "common/timed_policy.hpp"
#include "models/gemma4.hpp"
#include "models/gemma4_config.hpp"
#include "models/presets.hpp"
#include "models/random_weights.hpp"
#include "models/sequence_runner.hpp"

using namespace strix;

namespace {

// Milliseconds of GPU time between two events on the default stream.
struct gpu_timer {
  gpu::event_t start{};
  gpu::event_t stop{};
  gpu_timer() {
    gpu::check(gpu::event_create(&start), "creating a GPU event");
    gpu::check(gpu::event_create(&stop), "creating a GPU event");
  }
  gpu_timer(const gpu_timer&) = delete;
  gpu_timer& operator=(const gpu_timer&) = delete;
  ~gpu_timer() {
    (void)gpu::event_destroy(start);
    (void)gpu::event_destroy(stop);
  }
  void begin() { gpu::check(gpu::event_record(start, nullptr), "recording a GPU event"); }
  float end_ms() {
    gpu::check(gpu::event_record(stop, nullptr), "recording a GPU event");
    gpu::check(gpu::event_synchronize(stop), "waiting for a GPU event");
    float ms = 0;
    gpu::check(gpu::event_elapsed_ms(&ms, start, stop), "reading a GPU timer");
    return ms;
  }
};

// Milliseconds per run of f, over `reps` runs on the default stream, after one warm-up run.
template <class F>
double time_ms(int reps, F&& f) {
  gpu_timer timer;
  f(0);
  timer.begin();
  for (int i = 0; i < reps; ++i) f(i + 1);
  return timer.end_ms() / reps;
}

struct device_bytes {
  void* p = nullptr;
  explicit device_bytes(std::size_t bytes) { gpu::check(gpu::allocate(&p, bytes), "allocating benchmark memory"); }
  device_bytes(const device_bytes&) = delete;
  device_bytes& operator=(const device_bytes&) = delete;
  ~device_bytes() { (void)gpu::release(p); }
};

__global__ void read_kernel(const float4* data, std::size_t n, float* sink) {
  float sum = 0;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const float4 v = data[i];
    sum += v.x + v.y + v.z + v.w;
  }
  if (sum == 12345.678f) *sink = sum;  // keeps the loads; practically never true
}

// GB/s of a streaming read over 4 GiB of device memory.
double read_bandwidth_gbps() {
  const std::size_t bytes = std::size_t{4} << 30;
  device_bytes data(bytes);
  device_bytes sink(sizeof(float));
  gpu::check(gpu::fill_zero(data.p, bytes), "clearing the probe buffer");
  const double ms = time_ms(10, [&](int) {
    read_kernel<<<4096, 256>>>(static_cast<const float4*>(data.p), bytes / sizeof(float4), static_cast<float*>(sink.p));
  });
  return static_cast<double>(bytes) / (ms * 1e6);
}

// One random quantized matrix, copied to `copies` distinct device matrices.
template <class Format>
struct device_weights {
  std::size_t rows, cols, bytes, copies;
  device_bytes memory;
  device_weights(std::size_t rows_, std::size_t cols_, std::size_t copies_)
      : rows(rows_), cols(cols_), bytes(rows_ * cols_ / Format::block_size * sizeof(typename Format::block_type)), copies(copies_),
        memory(bytes * copies_) {
    // At most 4096 distinct random rows, repeated: what is read matters here, not what it holds, and
    // a 262144-row output matrix would take the host minutes to draw and quantize.
    const std::size_t distinct = std::min<std::size_t>(rows, 4096);
    std::mt19937 rng(3);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    std::vector<float> values(distinct * cols);
    for (float& v : values) v = dist(rng);
    std::vector<typename Format::block_type> blocks(distinct * cols / Format::block_size);
    quantize_row<Format>(values, blocks);
    const std::size_t distinct_bytes = blocks.size() * sizeof(typename Format::block_type);
    for (std::size_t c = 0; c < copies; ++c) {
      for (std::size_t done = 0; done < bytes; done += distinct_bytes) {
        gpu::check(gpu::copy(static_cast<std::byte*>(memory.p) + c * bytes + done, blocks.data(), std::min(distinct_bytes, bytes - done),
                             gpu::copy_host_to_device),
                   "uploading weights");
      }
    }
  }
  [[nodiscard]] const typename Format::block_type* copy(std::size_t i) const {
    return reinterpret_cast<const typename Format::block_type*>(static_cast<const std::byte*>(memory.p) + (i % copies) * bytes);
  }
};

// Device activations of a matmul: f32 rows in, the int8 codes and scales the integer path
// quantizes them into, and the f16 rows and their scales of the matrix units' path.
struct activation_buffers {
  const float* x;
  std::int8_t* codes;
  hip_kernels::q8_unit* units;
  std::uint16_t* halves;
  float* restore;
  float* y;
};

// The activation-quantizing launch of an int8 matmul with `tokens` rows of `cols` activations.
void quantize_launch(const activation_buffers& a, std::size_t tokens, std::size_t cols) {
  const auto blocks = static_cast<unsigned>((hip_kernels::quantize_q8_threads(tokens, cols) + hip_kernels::block_threads - 1) / hip_kernels::block_threads);
  hip_kernels::quantize_q8_kernel<hip_kernels::block_threads><<<blocks, hip_kernels::block_threads>>>(a.x, cols, tokens, cols, a.codes, a.units);
}

// One matmul as the policy launches it: with int8 activations (Int8, block formats) the activations
// are quantized first (counted in the time), else the kernel reads the f32 rows.
template <class Format, int WarpsPerRow, int TokenTile, bool Int8 = hip_device::int8_matmul<Format>()>
double matmul_ms(const device_weights<Format>& w, std::size_t tokens, bool one_matrix, const activation_buffers& a) {
  const hip_kernels::matmul_output out{a.y, w.rows, tokens};
  constexpr std::size_t rows_per_block = hip_kernels::warps_per_block / WarpsPerRow;
  const dim3 grid(static_cast<unsigned>((w.rows + rows_per_block - 1) / rows_per_block), static_cast<unsigned>((tokens + TokenTile - 1) / TokenTile));
  return time_ms(tokens == 1 ? 200 : 5, [&](int i) {
    const auto* weights = w.copy(one_matrix ? 0 : static_cast<std::size_t>(i));
    if constexpr (Int8) {
      quantize_launch(a, tokens, w.cols);
      hip_kernels::matmul_kernel<Format, 1, WarpsPerRow, TokenTile, hip_device::stage_lane_bytes, hip_kernels::q8_activations>
          <<<grid, hip_kernels::block_threads>>>(weights, w.rows, w.cols, hip_kernels::q8_activations{a.codes, a.units, w.cols}, out, nullptr);
    } else {
      hip_kernels::matmul_kernel<Format, 1, WarpsPerRow, TokenTile, hip_device::stage_lane_bytes, hip_kernels::f32_activations<true>>
          <<<grid, hip_kernels::block_threads>>>(weights, w.rows, w.cols, hip_kernels::f32_activations<true>{a.x, w.cols}, out, nullptr);
    }
  });
}

// A prefill matmul on the matrix units as the policy launches it, the conversion to f16 included.
template <class Format>
double tile_matmul_ms(const device_weights<Format>& w, std::size_t tokens, const activation_buffers& a) {
  const hip_kernels::matmul_output out{a.y, w.rows, tokens};
  const dim3 grid = hip_kernels::tile_grid(w.rows, tokens, 1);
  return time_ms(tokens < 64 ? 50 : 5, [&](int i) {
    hip_kernels::half_rows_kernel<hip_kernels::block_threads><<<static_cast<unsigned>(tokens), hip_kernels::block_threads>>>(a.x, w.cols, w.cols, a.halves, a.restore);
    hip_kernels::tile_matmul_kernel<Format><<<grid, hip_kernels::block_threads>>>(w.copy(static_cast<std::size_t>(i)), w.rows, w.cols, a.halves, a.restore, out, nullptr);
  });
}

// Decode milliseconds with `warps` warps per row and int8 (block formats only) or f32 activations.
template <class Format>
double decode_ms(int warps, bool int8, const device_weights<Format>& w, bool one_matrix, const activation_buffers& a) {
  return hip_kernels::with_warps_per_row(warps, [&](auto count) {
    constexpr int warps_per_row = decltype(count)::value;
    if constexpr (hip_device::int8_matmul<Format>()) {
      if (int8) return matmul_ms<Format, warps_per_row, 1, true>(w, 1, one_matrix, a);
    }
    return matmul_ms<Format, warps_per_row, 1, false>(w, 1, one_matrix, a);
  });
}

// Milliseconds of the streaming-read kernel over the same bytes as one matrix (cycling through its
// copies): what a kernel that only reads this much, launched the same way, achieves.
template <class Format>
double read_ms(const device_weights<Format>& w, float* sink) {
  const std::size_t vectors = w.bytes / sizeof(float4);
  return time_ms(200, [&](int i) {
    read_kernel<<<static_cast<unsigned>(std::min<std::size_t>(4096, (vectors + 255) / 256)), 256>>>(
        reinterpret_cast<const float4*>(w.copy(static_cast<std::size_t>(i))), vectors, sink);
  });
}

template <class Format>
void bench_format(double bandwidth, const hip_device& policy, const std::string& only) {
  const char* type = name_of(Format::type).data();
  if (!only.empty() && only != type) return;
  for (const bench::matmul_shape& s : bench::decode_shapes) {
    const std::size_t bytes = s.rows * s.cols / Format::block_size * sizeof(typename Format::block_type);
    const std::size_t copies = std::max<std::size_t>(2, (std::size_t{2} << 30) / bytes + 1);
    const device_weights<Format> w(s.rows, s.cols, copies);
    const std::size_t max_tokens = 512;
    device_bytes x(max_tokens * s.cols * sizeof(float));
    device_bytes y(max_tokens * s.rows * sizeof(float));
    device_bytes codes(max_tokens * s.cols);
    device_bytes units(max_tokens * s.cols / hip_kernels::unit_size * sizeof(hip_kernels::q8_unit));
    device_bytes halves(max_tokens * s.cols * sizeof(std::uint16_t));
    device_bytes restore(max_tokens * sizeof(float));
    gpu::check(gpu::fill_zero(x.p, max_tokens * s.cols * sizeof(float)), "clearing x");
    const activation_buffers a{static_cast<const float*>(x.p), static_cast<std::int8_t*>(codes.p), static_cast<hip_kernels::q8_unit*>(units.p),
                               static_cast<std::uint16_t*>(halves.p), static_cast<float*>(restore.p), static_cast<float*>(y.p)};
    // The policy's choice of warps per row and activations for this shape, and every other choice
    // beside it.
    const int chosen = policy.decode_warps_per_row(s.rows);
    const bool int8 = policy.matmul_path<Format>(1, s.rows, s.cols) == matmul_activations::int8;
    const double dram = decode_ms(chosen, int8, w, false, a);
    const double l2 = decode_ms(chosen, int8, w, true, a);
    std::printf("| %-7s | %-30s | %d | %s | %8.1f | %6.0f | %5.2f |", type, s.name, chosen, int8 ? "int8" : "f32", dram * 1e3,
                static_cast<double>(bytes) / (dram * 1e6), static_cast<double>(bytes) / (dram * 1e6) / bandwidth);
    for (const bool with_int8 : {true, false}) {
      for (int warps = 1; warps <= hip_kernels::warps_per_block; warps *= 2) {
        if (with_int8 && !hip_device::int8_matmul<Format>()) std::printf("      — |");
        else std::printf(" %6.1f |", decode_ms(warps, with_int8, w, false, a) * 1e3);
      }
    }
    if constexpr (hip_device::int8_matmul<Format>()) {
      const double quantize = time_ms(200, [&](int) { quantize_launch(a, 1, s.cols); });
      std::printf(" %5.1f |", quantize * 1e3);
    } else {
      std::printf("     — |");
    }
    std::printf(" %8.1f | %6.0f |", l2 * 1e3, static_cast<double>(bytes) / (l2 * 1e6));
    device_bytes sink(sizeof(float));
    std::printf(" %6.1f |", read_ms(w, static_cast<float*>(sink.p)) * 1e3);
    const double prefill = matmul_ms<Format, 1, hip_device::token_tile>(w, max_tokens, false, a);
    const auto gflops = [&](std::size_t tokens, double ms) { return 2.0 * static_cast<double>(s.rows * s.cols * tokens) / (ms * 1e6); };
    std::printf(" %8.2f | %7.0f |", prefill, gflops(max_tokens, prefill));
    // The matrix units' path at 512 tokens, and both paths at 32 tokens (the policy's threshold).
    bool tiled = false;
    if constexpr (hip_device::int8_matmul<Format>()) {
      if (policy.has_matrix_units()) {
        const double tiles = tile_matmul_ms(w, max_tokens, a);
        const double dp4a_32 = matmul_ms<Format, 1, hip_device::token_tile>(w, 32, false, a);
        const double tiles_32 = tile_matmul_ms(w, 32, a);
        std::printf(" %8.2f | %7.0f | %7.1f | %7.1f |\n", tiles, gflops(max_tokens, tiles), dp4a_32 * 1e3, tiles_32 * 1e3);
        tiled = true;
      }
    }
    if (!tiled) std::printf("        — |       — |       — |       — |\n");
    std::fflush(stdout);
  }
}

// The fused decode kernel (fused_decode.hpp: activations quantized inside, one launch) for Task, as
// the policy launches it: as many blocks as the GPU holds, each launch overlapping the one before or
// not (gpu::launch_after_previous); `pair`: two distinct matrices in each launch, as matmul_pair
// multiplies a gated FFN's gate and up (y holds twice the rows).
template <class Task, class Format>
double fused_decode_ms(const device_weights<Format>& w, bool one_matrix, bool overlapped, const float* x, float* y, bool pair = false) {
  const std::size_t shared = hip_kernels::fused_decode_shared_bytes<Task>(w.cols);
  int per_unit = 0;
  int units = 0;
  gpu::check(gpu::resident_blocks(hip_kernels::fused_decode_kernel<Task>, hip_kernels::fused_decode_threads, shared, &per_unit),
             "querying occupancy");
  gpu::check(gpu::multiprocessors(0, &units), "querying the GPU's size");
  const auto warps = static_cast<std::size_t>(hip_kernels::fused_decode_threads / gpu::warp_size);
  const std::size_t rows = pair ? 2 * w.rows : w.rows;
  const auto blocks = static_cast<unsigned>(std::min((rows + warps - 1) / warps, static_cast<std::size_t>(per_unit) * static_cast<std::size_t>(units)));
  return time_ms(200, [&](int i) {
    const std::size_t first = one_matrix ? 0 : static_cast<std::size_t>(pair ? 2 * i : i);
    const auto* weights = reinterpret_cast<const std::uint8_t*>(w.copy(first));
    const hip_kernels::decode_matrices matrices{.first = weights, .first_out = y, .first_rows = w.rows,
                                                .second = pair ? reinterpret_cast<const std::uint8_t*>(w.copy(first + 1)) : nullptr,
                                                .second_out = pair ? y + w.rows : nullptr};
    gpu::check(gpu::launch_after_previous(overlapped, hip_kernels::fused_decode_kernel<Task>, blocks, hip_kernels::fused_decode_threads, shared,
                                          nullptr, matrices, rows, w.cols, x),
               "launching fused_decode_kernel");
  });
}

// Decode with the fused kernel beside matmul_kernel after the quantizing launch (with the warps per
// row the policy would give it) and the streaming read of the same bytes, per shape.
template <class Format>
void bench_fused_decode(double bandwidth, const hip_device& policy) {
  const char* type = name_of(Format::type).data();
  // The shapes of the other tables, and the largest matrix a decode step reads: Gemma 4's tied
  // output projection (E4B), where the launch's start and end weigh least.
  std::vector<bench::matmul_shape> shapes(std::begin(bench::decode_shapes), std::end(bench::decode_shapes));
  shapes.push_back({"gemma4-e4b.output 262144x2560", 262144, 2560});
  for (const bench::matmul_shape& s : shapes) {
    const std::size_t bytes = s.rows * s.cols / Format::block_size * sizeof(typename Format::block_type);
    const device_weights<Format> w(s.rows, s.cols, std::max<std::size_t>(2, (std::size_t{2} << 30) / bytes + 1));
    device_bytes x(s.cols * sizeof(float));
    device_bytes y(2 * s.rows * sizeof(float));
    device_bytes sink(sizeof(float));
    device_bytes codes(s.cols);
    device_bytes units(s.cols / hip_kernels::unit_size * sizeof(hip_kernels::q8_unit));
    gpu::check(gpu::fill_zero(x.p, s.cols * sizeof(float)), "clearing x");
    const auto* xs = static_cast<const float*>(x.p);
    auto* ys = static_cast<float*>(y.p);
    const activation_buffers a{xs, static_cast<std::int8_t*>(codes.p), static_cast<hip_kernels::q8_unit*>(units.p), nullptr, nullptr, ys};
    const auto fraction = [&](double ms) { return static_cast<double>(bytes) / (ms * 1e6) / bandwidth; };
    using task = hip_kernels::fused_decode_task<Format>;
    const double plain = fused_decode_ms<task>(w, false, false, xs, ys);
    const double overlapped = fused_decode_ms<task>(w, false, true, xs, ys);
    const double l2 = fused_decode_ms<task>(w, true, false, xs, ys);
    const double read = read_ms(w, static_cast<float*>(sink.p));
    const double unfused = decode_ms(policy.decode_warps_per_row(s.rows), true, w, false, a);
    const double pair = fused_decode_ms<task>(w, false, true, xs, ys, true);
    std::printf("| %-7s | %-30s | %7.1f | %5.2f | %7.1f | %5.2f | %7.1f | %7.1f | %5.2f | %7.1f | %5.2f | %7.1f | %5.2f |\n", type, s.name, plain * 1e3,
                fraction(plain), overlapped * 1e3, fraction(overlapped), l2 * 1e3, read * 1e3, fraction(read), unfused * 1e3, fraction(unfused),
                pair * 1e3, fraction(pair / 2));
    std::fflush(stdout);
  }
}

// One decode matmul through the policy (host activations in and out), against the kernel alone.
void bench_policy_call() {
  hip_device dev;
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> values(10240 * 2560);
  for (float& v : values) v = dist(rng);
  std::vector<block_q4_k> blocks(values.size() / 256);
  quantize_row<q4_k_format>(values, blocks);
  const quantized_view<q4_k_format> w(std::as_bytes(std::span(blocks)), 10240, 2560);
  std::vector<float> x(2560, 0.5f);
  std::vector<float> y(10240);
  dev.matmul(w, matrix_view<const float>(x.data(), {1, 2560}), matrix_view<float>(y.data(), {1, 10240}));
  const auto start = std::chrono::steady_clock::now();
  constexpr int reps = 500;
  for (int i = 0; i < reps; ++i) dev.matmul(w, matrix_view<const float>(x.data(), {1, 2560}), matrix_view<float>(y.data(), {1, 10240}));
  const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / reps;
  std::printf("\npolicy call, q4_K 10240x2560, one token, %s mode: %.1f us per call (kernel, staging and synchronisation)\n",
              to_string(dev.memory_mode()).data(), us);

  // With resident activations: what queuing a small call on a held row of 2560 costs the host, and
  // a burst of them in all once the GPU has run them.
  hip_device resident({.memory = dev.memory_mode() == hip_memory_mode::direct ? hip_memory_mode::automatic : dev.memory_mode(),
                       .host_call_max_values = 0,
                       .resident_activations = true});
  std::vector<float> row(2560, 0.5f), weight(2560, 1.0f), other(2560, 0.0f), copied(2560);
  const matrix_view<float> held(row.data(), {1, row.size()});
  const auto time_calls = [&](const char* what, auto&& queue) {
    queue();  // the row is held from here on
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) queue();
    const auto queued = std::chrono::steady_clock::now();
    resident.synchronize();
    const auto done = std::chrono::steady_clock::now();
    std::printf("resident %-9s on 1x2560: %5.1f us per call to queue, %5.1f us per call with the GPU's run\n", what,
                std::chrono::duration<double, std::micro>(queued - begin).count() / reps,
                std::chrono::duration<double, std::micro>(done - begin).count() / reps);
  };
  time_calls("rmsnorm", [&] { resident.rmsnorm(held, weight, norm_weight::plain, 1e-6f, held); });
  time_calls("add", [&] { resident.add(row, other, row); });
  time_calls("scale", [&] { resident.scale(row, 1.0f); });
  time_calls("copy", [&] { resident.copy(held, matrix_view<float>(copied.data(), {1, copied.size()})); });
}

// The attention kernel alone over a device-resident f16 cache (16-position blocks, blocks in
// order), Gemma 4 E4B's shapes: 8 query heads on 2 KV heads of dim 256 (sliding layers, window 512)
// or 512 (global layers), with blocks of `heads_per_block` query heads (0: the policy's choice).
// GB/s counts the K and V rows the query rows see, each KV head's once.
template <std::size_t Window>
void bench_attention(std::size_t context, std::size_t rows, std::size_t dim, std::size_t resident_warps, double bandwidth, int heads_per_block = 0) {
  constexpr std::size_t heads = 8, kv_heads = 2, block_size = 16;
  const std::size_t row_bytes = dim * sizeof(f16);
  const std::size_t run = kv_heads * block_size * row_bytes;
  const std::size_t blocks = (context + block_size - 1) / block_size;
  device_bytes cache(blocks * 2 * run);
  std::vector<f16> host(blocks * 2 * run / sizeof(f16));
  std::mt19937 rng(9);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (f16& v : host) v = f16(dist(rng));
  gpu::check(gpu::copy(cache.p, host.data(), blocks * 2 * run, gpu::copy_host_to_device), "uploading the cache");
  std::vector<kv_block_id> table(blocks);
  for (std::size_t b = 0; b < blocks; ++b) table[b] = static_cast<kv_block_id>(b);
  std::vector<hip_kernels::attention_query_row> query_rows(rows);
  for (std::size_t r = 0; r < rows; ++r) query_rows[r] = {0, static_cast<std::uint32_t>(context - rows + r)};
  device_bytes table_d(table.size() * sizeof(kv_block_id)), rows_d(rows * sizeof(hip_kernels::attention_query_row));
  device_bytes q(rows * heads * dim * sizeof(float)), out(rows * heads * dim * sizeof(float));
  gpu::check(gpu::fill_zero(q.p, rows * heads * dim * sizeof(float)), "clearing queries");
  gpu::check(gpu::copy(table_d.p, table.data(), table.size() * sizeof(kv_block_id), gpu::copy_host_to_device), "uploading the table");
  gpu::check(gpu::copy(rows_d.p, query_rows.data(), rows * sizeof(hip_kernels::attention_query_row), gpu::copy_host_to_device), "uploading rows");
  hip_kernels::attention_problem problem;
  problem.q = {static_cast<const float*>(q.p), heads * dim, dim};
  problem.out = {static_cast<float*>(out.p), heads * dim, dim};
  problem.group = heads / kv_heads;
  problem.head_dim = static_cast<std::uint32_t>(dim);
  problem.rows = static_cast<const hip_kernels::attention_query_row*>(rows_d.p);
  problem.tables = static_cast<const kv_block_id*>(table_d.p);
  problem.kv = {static_cast<const std::byte*>(cache.p), 2 * run, 0, run, row_bytes, static_cast<std::uint32_t>(block_size)};
  problem.scale = 1.0f / std::sqrt(static_cast<float>(dim));
  problem.heads = heads;
  const std::size_t most_keys = Window == 0 ? context : std::min(context, Window);
  const int policy_heads = hip_device::attention_heads_per_block(heads / kv_heads, dim, rows, most_keys);
  if (heads_per_block == 0) heads_per_block = policy_heads;
  const std::size_t head_groups = heads / static_cast<std::size_t>(heads_per_block);
  const auto split = hip_device::attention_splits(rows * head_groups, most_keys, resident_warps);
  problem.splits = static_cast<std::uint32_t>(split.count);
  problem.keys_per_split = static_cast<std::uint32_t>(split.keys);
  const std::size_t partials = split.count > 1 ? rows * heads * split.count : 1;
  device_bytes partial_max(partials * sizeof(float)), partial_sum(partials * sizeof(float)), partial_acc(partials * dim * sizeof(float));
  problem.partial_max = static_cast<float*>(partial_max.p);
  problem.partial_sum = static_cast<float*>(partial_sum.p);
  problem.partial_acc = static_cast<float*>(partial_acc.p);
  const double ms = time_ms(20, [&](int) {
    hip_kernels::with_attention_cut(heads_per_block, dim, [&](auto heads_per_block_, auto lane_slices) {
      hip_kernels::attention_kernel<f16_format, Window, hip_kernels::block_threads, decltype(heads_per_block_)::value, decltype(lane_slices)::value>
          <<<dim3(static_cast<unsigned>(rows), static_cast<unsigned>(head_groups), static_cast<unsigned>(split.count)),
             hip_kernels::block_threads>>>(problem);
    });
    if (split.count > 1) {
      hip_kernels::attention_combine_kernel<hip_kernels::block_threads>
          <<<dim3(static_cast<unsigned>(rows), static_cast<unsigned>(heads)), hip_kernels::block_threads>>>(problem);
    }
  });
  gpu::check(gpu::get_last_error(), "attention kernel");
  const std::size_t first = Window == 0 ? 0 : (context - rows + 1 > Window ? context - rows + 1 - Window : 0);
  const double bytes = static_cast<double>((context - first) * kv_heads * 2 * row_bytes);
  std::printf("| %-6s | %7zu | %4zu | %3zu | %d%s | %6zu | %9.1f | %7.0f | %5.1f %% |\n", Window == 0 ? "global" : "window", context, rows, dim, heads_per_block,
              heads_per_block == policy_heads ? " (policy)" : "", split.count, ms * 1e3, bytes / (ms * 1e6), 100.0 * bytes / (ms * 1e6) / bandwidth);
  std::fflush(stdout);
}

// Gated DeltaNet at Qwen3.5's linear-attention shapes (16 key heads, 32 value heads, dk = dv =
// 128): the recurrent kernel (Chunk 0) or the chunked one with Chunk tokens per chunk. GB/s counts
// the state read and written once.
template <int Chunk>
void bench_deltanet(std::size_t tokens, double bandwidth) {
  constexpr std::size_t key_heads = 16, heads = 32, dk = 128, dv = 128;
  device_bytes q(tokens * key_heads * dk * sizeof(float)), k(tokens * key_heads * dk * sizeof(float)), v(tokens * heads * dv * sizeof(float));
  device_bytes gates(tokens * heads * sizeof(float)), state(heads * dk * dv * sizeof(float)), out(tokens * heads * dv * sizeof(float));
  gpu::check(gpu::fill_zero(q.p, tokens * key_heads * dk * sizeof(float)), "clearing q");
  gpu::check(gpu::fill_zero(k.p, tokens * key_heads * dk * sizeof(float)), "clearing k");
  gpu::check(gpu::fill_zero(v.p, tokens * heads * dv * sizeof(float)), "clearing v");
  gpu::check(gpu::fill_zero(gates.p, tokens * heads * sizeof(float)), "clearing gates");
  gpu::check(gpu::fill_zero(state.p, heads * dk * dv * sizeof(float)), "clearing the state");
  hip_kernels::deltanet_problem problem;
  problem.q = {static_cast<const float*>(q.p), key_heads * dk, dk};
  problem.k = {static_cast<const float*>(k.p), key_heads * dk, dk};
  problem.v = {static_cast<const float*>(v.p), heads * dv, dv};
  problem.log_decay = static_cast<const float*>(gates.p);
  problem.beta = static_cast<const float*>(gates.p);
  problem.decay_stride = heads;
  problem.beta_stride = heads;
  problem.state = static_cast<float*>(state.p);
  problem.out = {static_cast<float*>(out.p), heads * dv, dv};
  problem.tokens = static_cast<std::uint32_t>(tokens);
  problem.key_heads = key_heads;
  problem.value_heads = heads;
  problem.key_dim = dk;
  problem.value_dim = dv;
  constexpr int threads = hip_kernels::block_threads;
  constexpr std::size_t columns = threads / hip_kernels::deltanet_lanes_per_column;
  const dim3 grid(static_cast<unsigned>(heads), static_cast<unsigned>((dv + columns - 1) / columns));
  const double ms = time_ms(20, [&](int) {
    if constexpr (Chunk == 0) {
      hip_kernels::deltanet_kernel<threads><<<grid, threads>>>(problem);
    } else {
      hip_kernels::deltanet_chunk_kernel<threads, Chunk><<<grid, threads>>>(problem);
    }
  });
  gpu::check(gpu::get_last_error(), "deltanet kernel");
  const double bytes = 2.0 * heads * dk * dv * sizeof(float);
  const std::string kernel = Chunk == 0 ? "recurrent" : "chunk " + std::to_string(Chunk);
  std::printf("| %6zu | %9s | %9.1f | %7.2f | %7.0f | %5.1f %% |\n", tokens, kernel.c_str(), ms * 1e3,
              ms * 1e3 / static_cast<double>(tokens), bytes / (ms * 1e6), 100.0 * bytes / (ms * 1e6) / bandwidth);
  std::fflush(stdout);
}

void bench_layers(const hip_device& dev, double bandwidth) {
  const std::size_t warps = dev.resident_warps();
  // Each shape with the policy's heads per block and with the kernel's other choice.
  std::printf("\n| attention | context | rows | dim | heads/block | splits | us | GB/s | of bw |\n|---|---|---|---|---|---|---|---|---|\n");
  const auto both = [&]<std::size_t Window>(std::integral_constant<std::size_t, Window>, std::size_t context, std::size_t rows, std::size_t dim) {
    bench_attention<Window>(context, rows, dim, warps, bandwidth, 1);
    bench_attention<Window>(context, rows, dim, warps, bandwidth, hip_kernels::attention_most_heads_per_block(4, dim));
  };
  for (std::size_t context : {std::size_t{64}, std::size_t{1024}, std::size_t{4096}, std::size_t{32768}}) {
    both(std::integral_constant<std::size_t, 512>{}, context, 1, 256);
    both(std::integral_constant<std::size_t, 0>{}, context, 1, 512);
  }
  both(std::integral_constant<std::size_t, 512>{}, 512, 9, 256);
  both(std::integral_constant<std::size_t, 0>{}, 4096, 9, 512);
  both(std::integral_constant<std::size_t, 512>{}, 512, 512, 256);
  both(std::integral_constant<std::size_t, 0>{}, 512, 512, 512);
  bench_attention<512>(4096, 4096, 256, warps, bandwidth);
  bench_attention<0>(4096, 4096, 512, warps, bandwidth);
  std::printf("\n| deltanet tokens | kernel | us | us/token | state GB/s | of bw |\n|---|---|---|---|---|---|\n");
  bench_deltanet<0>(1, bandwidth);
  for (std::size_t tokens : {std::size_t{512}, std::size_t{4096}}) {
    bench_deltanet<0>(tokens, bandwidth);
    bench_deltanet<16>(tokens, bandwidth);
    bench_deltanet<32>(tokens, bandwidth);
  }
}

template <std::size_t... Windows>
void bench_model(const char* preset_name, std::size_t prompt, std::size_t decode, hip_options options = {}) {
  const models::model_preset preset = models::find_preset(preset_name);
  models::gemma4_config config = models::gemma4_config::from_json(preset.config, preset.name);
  const models::random_weights source(models::tensor_naming::hugging_face, models::weight_scheme::named("q4_k_m"));
  models::gemma4_weights weights = models::gemma4_weights::load(source, config);
  using device_type = bench::timed_policy<hip_device>;
  using model_type = models::gemma4<device_type, Windows...>;
  model_type model(std::move(config), std::move(weights));
  const kv_layout layout = model.cache_layout({kv_type::f16, 16, 1, prompt, 0});
  models::sequence_runner<device_type, model_type, paged_kv_cache> runner(std::move(model),
                                                                          paged_kv_cache(layout, layout.budget_for_context(prompt + decode + 16)), prompt);
  device_type dev(options);
  std::mt19937 rng(1);
  std::vector<std::int32_t> tokens(prompt);
  for (auto& t : tokens) t = static_cast<std::int32_t>(rng() % 262144);
  // Warm-up with the whole prompt: the first pass uploads the weights (copied mode) and grows the
  // model's and the policy's scratch to the prompt's size, and its KV writes touch the cache's
  // memory first; the timed pass is what every later prompt of this length costs.
  runner.run(dev, tokens, false);
  runner.truncate(0);
  dev.start_timing();
  auto start = std::chrono::steady_clock::now();
  auto logits = runner.run(dev, tokens, false);
  const double prefill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  dev.stop_timing();
  std::printf("\nWhere the prefill of %zu tokens of %s goes (one chunk), per policy call:\n\n", prompt, preset_name);
  dev.print_tallies(1, prefill_s * 1e6);
  dev.start_timing();
  start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < decode; ++i) {
    const auto next = static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    logits = runner.run(dev, std::span(&next, 1), false);
  }
  const double decode_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  dev.stop_timing();
  std::printf("\n| model           | mode   | activations | prompt | pp tok/s | decode | tg tok/s | |\n|---|---|---|---|---|---|---|---|\n");
  std::printf("| %-15s | %s | %s%s | %6zu | %8.1f | %6zu | %7.1f | %.2f GB uploaded, host calls up to %zu values, matrix units from %zu tokens |\n",
              preset_name, to_string(dev.memory_mode()).data(), options.int8_activations ? "int8" : "f32 ",
              dev.resident_activations() ? ", resident" : "", prompt,
              static_cast<double>(prompt) / prefill_s, decode, static_cast<double>(decode) / decode_s,
              static_cast<double>(dev.uploaded_weight_bytes()) / 1e9, options.host_call_max_values, options.matrix_unit_min_tokens);
  std::printf("\nWhere a decode step of %s (prompt %zu) goes, per policy call:\n\n", preset_name, prompt);
  dev.print_tallies(decode, decode_s * 1e6 / static_cast<double>(decode));
  std::printf("\n");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  // --matmuls-only [format]: bandwidth, matmuls (of that format only, e.g. q4_K) and the policy
  // calls; --decode-only [format]: bandwidth and the fused decode table alone; --calls-only: the policy calls alone; --layers-only: bandwidth, the attention and DeltaNet kernels; --models-only [preset
  // [prompt [host_call_max_values [matrix_unit_min_tokens [resident [overlap]]]]]]: the E4B model (results
  // held on the GPU between calls and not, int8 and f32 activations, prompts of 512 and 4096) and
  // the 26B-A4B one (held and not), or only the preset named (0 for matrix_unit_min_tokens: never
  // the matrix units; resident 1: results held on the GPU; overlap 0: no kernel starts before the
  // one before it has finished). Default: all.
  const std::string option = argc > 1 ? argv[1] : "";
  const std::string only = argc > 2 ? argv[2] : "";
  const bool all = option.empty();
  try {
    hip_device probe;
    std::printf("device: %s\n", probe.memory_mode_reason().c_str());
    const double bandwidth = option == "--models-only" ? 0.0 : read_bandwidth_gbps();
    if (bandwidth > 0) std::printf("read bandwidth (4 GiB streaming read): %.0f GB/s\n\n", bandwidth);
    if (all || option == "--matmuls-only") {
      std::printf("| format  | shape                          | warps/row | activations | decode us | GB/s   | of bw | int8 1 w/r us | 2 w/r | 4 w/r | 8 w/r | "
                  "f32 1 w/r us | 2 w/r | 4 w/r | 8 w/r | quantize us | L2 us    | GB/s   | read us | pp512 ms | GFLOP/s | "
                  "pp512 tiles ms | GFLOP/s | pp32 us | pp32 tiles us |\n");
      std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
      bench_format<q4_k_format>(bandwidth, probe, only);
      bench_format<q8_0_format>(bandwidth, probe, only);
      bench_format<q6_k_format>(bandwidth, probe, only);
      bench_format<q5_k_format>(bandwidth, probe, only);
      bench_format<iq4_xs_format>(bandwidth, probe, only);
      bench_format<mxfp4_format>(bandwidth, probe, only);
      bench_format<q4_0_format>(bandwidth, probe, only);
      bench_format<bf16_format>(bandwidth, probe, only);
      bench_policy_call();
    }
    if (all || option == "--matmuls-only" || option == "--decode-only") {
      std::printf("\nFused decode (one launch, activations quantized inside) against matmul_kernel after quantize_q8_kernel; pair: two "
                  "matrices of the shape in one overlapped launch (matmul_pair), of bw over both:\n"
                  "| format  | shape                          | fused us | of bw | overlapped us | of bw | L2 us | read us | of bw | unfused us | of bw | "
                  "pair us | of bw |\n"
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
      if (only.empty() || only == "q4_K") bench_fused_decode<q4_k_format>(bandwidth, probe);
      if (only.empty() || only == "q8_0") bench_fused_decode<q8_0_format>(bandwidth, probe);
      if (only.empty() || only == "q6_K") bench_fused_decode<q6_k_format>(bandwidth, probe);
    }
    if (option == "--calls-only") bench_policy_call();
    if (all || option == "--layers-only") bench_layers(probe, bandwidth);
    if (all || option == "--models-only") {
      if (!only.empty()) {
        bench_model<512, 1024>(only.c_str(), argc > 3 ? std::stoul(argv[3]) : 512, 16,
                               {.host_call_max_values = argc > 4 ? std::stoul(argv[4]) : hip_options{}.host_call_max_values,
                                .matrix_unit_min_tokens = argc > 5 ? std::stoul(argv[5]) : hip_options{}.matrix_unit_min_tokens,
                                .resident_activations = argc > 6 && std::stoul(argv[6]) != 0,
                                .overlap_launches = argc <= 7 || std::stoul(argv[7]) != 0});
      } else {
        bench_model<512, 1024>("gemma4-e4b", 512, 16, {.resident_activations = true});
        bench_model<512, 1024>("gemma4-e4b", 512, 16);
        bench_model<512, 1024>("gemma4-e4b", 512, 16, {.int8_activations = false, .resident_activations = true});
        bench_model<512, 1024>("gemma4-e4b", 4096, 16, {.resident_activations = true});
        bench_model<512, 1024>("gemma4-26b-a4b", 512, 16, {.resident_activations = true});
        bench_model<512, 1024>("gemma4-26b-a4b", 512, 16);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hip_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
