// Every hip kernel against the reference policy, on random data and nasty shapes, in every memory
// mode the GPU allows (copied and registered always; direct where it reads pageable host memory). Built only
// with -DSTRIX_GPU=cuda or hip, and run on a machine with that GPU.
#include <catch2/catch.hpp>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include <strix/device/hip/hip.hpp>
#include <strix/device/reference/reference.hpp>
#include <strix/quant/formats.hpp>

#include "attention/attention_test_support.hpp"
#include "device/hip_test_support.hpp"
#include "device/kernel_test_support.hpp"
#include "linear/deltanet_test_support.hpp"

using namespace strix;

namespace {

// One policy per memory mode this GPU supports, with `options` otherwise; every call on the GPU
// (small calls would run the reference kernels on the host in copied mode by default).
std::vector<std::unique_ptr<hip_device>> policies(hip_options options = {}) {
  std::vector<std::unique_ptr<hip_device>> result;
  for (const hip_memory_mode mode : testing::testable_hip_modes()) {
    options.memory = mode;
    options.host_call_max_values = 0;
    result.push_back(std::make_unique<hip_device>(options));
  }
  return result;
}

double norm(std::span<const float> v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

// A copied-mode policy that multiplies every matmul of a format with integer codes on the matrix
// units (if the GPU has them), whatever its number of tokens.
std::unique_ptr<hip_device> matrix_unit_policy() {
  return std::make_unique<hip_device>(
      hip_options{.memory = hip_memory_mode::copied, .host_call_max_values = 0, .matrix_unit_min_tokens = 1, .matrix_unit_min_warps_share = 0});
}

// Every memory mode with the automatic warps per row (one for 4097 rows, 8 for the small ones on an
// H100), int8 activations in decode too (the test matrices are below the default size for that)
// and the fused decode kernel for every row count of its formats; copied mode once more with f32
// activations for every format and 4 warps per row, once with 2 and int8 activations but never the
// fused kernel (matmul_kernel's int8 decode of those formats), and once on the matrix units at
// every token count.
std::vector<std::unique_ptr<hip_device>> matmul_policies() {
  std::vector<std::unique_ptr<hip_device>> result = policies({.int8_decode_min_weights = 0, .fused_decode_min_rows = 1});
  result.push_back(std::make_unique<hip_device>(hip_options{0, hip_memory_mode::copied, false, 4}));
  result.push_back(std::make_unique<hip_device>(hip_options{0, hip_memory_mode::copied, true, 2, 0, std::numeric_limits<std::size_t>::max()}));
  result.push_back(matrix_unit_policy());
  return result;
}

// The activations the GPU matmul multiplies, as floats, rows of `cols`: with int8 activations each
// row quantized per 32 (quantize_q8_kernel, the host's quantize_int8_absmax); on the matrix units
// each row scaled by a power of two below 2^15 and rounded to f16 (half_rows_kernel), then scaled
// back; else x itself.
std::vector<float> as_kernel_sees(const std::vector<float>& x, std::size_t cols, matmul_activations path) {
  std::vector<float> out(x);
  if (path == matmul_activations::int8) {
    std::int8_t codes[32];
    for (std::size_t b = 0; b < x.size() / 32; ++b) {
      const float d = detail::quantize_int8_absmax(x.data() + 32 * b, 32, codes);
      for (std::size_t k = 0; k < 32; ++k) out[32 * b + k] = static_cast<float>(codes[k]) * d;
    }
  } else if (path == matmul_activations::f16_tiles) {
    for (std::size_t r = 0; cols != 0 && r < x.size() / cols; ++r) {
      float largest = 0.0f;
      for (std::size_t k = 0; k < cols; ++k) largest = std::isnan(x[r * cols + k]) ? NAN : std::max(largest, std::fabs(x[r * cols + k]));
      int exponent = 0;
      if (std::isfinite(largest) && largest >= hip_kernels::half_row_limit) (void)std::frexp(largest / hip_kernels::half_row_limit, &exponent);
      for (std::size_t k = 0; k < cols; ++k) {
        out[r * cols + k] = std::ldexp(f16::from_float(std::ldexp(x[r * cols + k], -exponent)).to_float(), exponent);
      }
    }
  }
  return out;
}

// Bounds of a matmul's error over ‖w_row‖·‖x_row‖: against reference on the activations the
// kernel multiplies (float rounding; on the matrix units also each weight rounded to f16, 2^-11 of
// it) and against reference on x itself (also the activations' rounding: about half a step of
// 1/127 per 32 for int8, 2^-11 for f16).
double rounding_bound(matmul_activations path) { return path == matmul_activations::f16_tiles ? 1.0 / 1024 : 1e-5; }
double activation_bound(matmul_activations path) {
  return path == matmul_activations::int8 ? 1.0 / 127 : path == matmul_activations::f16_tiles ? 1.0 / 1024 : 1e-5;
}

std::string_view name_of(matmul_activations path) {
  return path == matmul_activations::int8 ? "int8 activations" : path == matmul_activations::f16_tiles ? "f16 tiles" : "f32 activations";
}

// |actual − expected| ≤ relative · max(1, |expected|) element-wise, NaN where expected is NaN.
void require_close(const std::vector<float>& actual, const std::vector<float>& expected, float relative) {
  REQUIRE(actual.size() == expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    INFO("element " << i << ": " << actual[i] << " vs " << expected[i]);
    if (std::isnan(expected[i])) {
      CHECK(std::isnan(actual[i]));
    } else {
      CHECK(std::fabs(actual[i] - expected[i]) <= relative * std::max(1.0f, std::fabs(expected[i])));
    }
  }
}

}  // namespace

TEST_CASE("hip reports the memory mode it chose and why", "[device][hip]") {
  const hip_device dev;
  CHECK(dev.memory_mode() != hip_memory_mode::automatic);
  CHECK_FALSE(dev.memory_mode_reason().empty());
  WARN("hip policy: " << to_string(dev.memory_mode()) << " — " << dev.memory_mode_reason());
}

TEST_CASE("hip refuses a decode warps-per-row setting it has no kernel for", "[device][hip]") {
  CHECK_THROWS_WITH(hip_device(hip_options{.decode_warps_per_row = 3}), Catch::Contains("decode_warps_per_row is 3"));
  CHECK(hip_device(hip_options{.decode_warps_per_row = 4}).decode_warps_per_row(1) == 4);
}

TEMPLATE_TEST_CASE("hip matmul agrees with reference on every GPU format and shape", "[device][hip]", f32_format, f16_format,
                   bf16_format, q8_0_format, q4_0_format, mxfp4_format, q4_k_format, q5_k_format, q6_k_format,
                   iq4_xs_format, q5_0_format) {
  reference oracle;
  const std::size_t block = TestType::block_size;
  const std::vector<std::size_t> widths = block == 1 ? std::vector<std::size_t>{1, 15, 16, 33, 64, 1000}
                                                     : std::vector<std::size_t>{block, 3 * block, 16 * block, 37 * block};
  for (const auto& dev : matmul_policies()) {
    for (std::size_t cols : widths) {
      // 4097 rows: with f32 activations IQ4_XS and MXFP4 decode give each warp two rows from 4096
      // on, the last warp one.
      for (std::size_t rows : {1u, 7u, 33u, 300u, 4097u}) {
        if (rows == 4097 && cols != widths[1]) continue;
        // Weights change from case to case at possibly the same address: drop the uploads.
        dev->forget_weights();
        const testing::quantized_matrix<TestType> w(rows, cols, static_cast<std::uint32_t>(rows * 31 + cols));
        // 65 tokens: past the default policy's threshold for the matrix units, and two token tiles.
        for (std::size_t tokens : {1u, 2u, 7u, 8u, 9u, 17u, 65u}) {
          if (tokens == 65 && rows == 4097) continue;
          const auto x = testing::gaussian(tokens * cols, static_cast<std::uint32_t>(tokens));
          std::vector<float> actual(tokens * rows, NAN);
          dev->matmul(w.view(), matrix_view<const float>(x.data(), {tokens, cols}), matrix_view<float>(actual.data(), {tokens, rows}));
          // Two standards (rounding_bound, activation_bound): one wrong unit of 32 weights would be
          // of order ‖w‖·‖x‖/√(units), far above either.
          const matmul_activations path = dev->template matmul_path<TestType>(tokens, rows, cols);
          const std::vector<float> seen = as_kernel_sees(x, cols, path);
          std::vector<float> exact(tokens * rows), expected(tokens * rows);
          oracle.matmul(w.view(), matrix_view<const float>(seen.data(), {tokens, cols}), matrix_view<float>(exact.data(), {tokens, rows}));
          oracle.matmul(w.view(), matrix_view<const float>(x.data(), {tokens, cols}), matrix_view<float>(expected.data(), {tokens, rows}));
          INFO(name_of(TestType::type) << ": " << rows << " x " << cols << ", " << tokens << " tokens, " << to_string(dev->memory_mode())
                                       << ", " << name_of(path) << ", decode warps per row " << dev->decode_warps_per_row(rows));
          std::vector<float> w_row(cols);
          for (std::size_t o = 0; o < rows; ++o) {
            w.view().dequantize_row(o, w_row);
            for (std::size_t t = 0; t < tokens; ++t) {
              const double norms = norm(w_row) * norm(std::span(x).subspan(t * cols, cols));
              CHECK(std::fabs(actual[t * rows + o] - exact[t * rows + o]) <= rounding_bound(path) * norms);
              CHECK(std::fabs(actual[t * rows + o] - expected[t * rows + o]) <= activation_bound(path) * norms);
            }
          }
        }
      }
    }
  }
}

// More rows than the fused decode kernel has warps on the GPU (an H100 holds 4224 of them), so each
// warp walks several rows and carries its loads in flight from one row into the next; rows with a
// partial last iteration of 32 tasks, Q8_0 rows of an odd number of 16-byte vectors (24, 72 and
// 296 blocks: the last task holds one) and of an even one (80 blocks), and Q6_K rows of 3, 9, 10
// and 37 blocks, whose 210-byte blocks start at every even offset from a 16-byte boundary; and
// fewer rows than one block's warps.
TEMPLATE_TEST_CASE("hip fused decode walks several rows per warp", "[device][hip]", q4_k_format, q8_0_format, q6_k_format) {
  reference oracle;
  hip_device dev(hip_options{.memory = hip_memory_mode::copied, .int8_decode_min_weights = 0, .fused_decode_min_rows = 1,
                             .host_call_max_values = 0});
  // One matrix per row length (quantizing it is most of the test's time), multiplied whole and as
  // its first 9001 rows (3.1 and 2.1 rows per warp of an H100) and first 1, 7 and 133 rows.
  for (const std::size_t cols : {768u, 2304u, 2560u, 9472u}) {
    const testing::quantized_matrix<TestType> matrix(13001, cols, static_cast<std::uint32_t>(13001 + cols));
    const auto x = testing::gaussian(cols, static_cast<std::uint32_t>(cols));
    const std::vector<float> seen = as_kernel_sees(x, cols, matmul_activations::int8);
    for (const std::size_t rows : {9001u, 13001u, 1u, 7u, 133u}) {
      REQUIRE(dev.takes_fused_decode<TestType>(rows, cols));
      dev.forget_weights();
      const quantized_view<TestType> w(std::as_bytes(std::span(matrix.blocks).first(rows * cols / TestType::block_size)), rows, cols, "test weights");
      std::vector<float> actual(rows, NAN), exact(rows);
      dev.matmul(w, matrix_view<const float>(x.data(), {1, cols}), matrix_view<float>(actual.data(), {1, rows}));
      oracle.matmul(w, matrix_view<const float>(seen.data(), {1, cols}), matrix_view<float>(exact.data(), {1, rows}));
      INFO(name_of(TestType::type) << ": " << rows << " x " << cols);
      std::vector<float> w_row(cols);
      for (std::size_t o = 0; o < rows; ++o) {
        w.dequantize_row(o, w_row);
        CHECK(std::fabs(actual[o] - exact[o]) <= rounding_bound(matmul_activations::int8) * norm(w_row) * norm(x));
      }
    }
  }
}

// matmul_pair (a gated FFN's gate and up) gives each output the bits two matmuls give it, whether
// it multiplies both in one fused decode launch (one token, formats with the fused kernel; rows of
// the two matrices unequal, fewer and more than a block's warps) or falls back to two matmuls
// (several tokens, other formats); in every memory mode, and with results held on the GPU.
TEMPLATE_TEST_CASE("hip matmul_pair equals two matmuls bit for bit", "[device][hip]", q4_k_format, q8_0_format, q6_k_format, bf16_format) {
  auto devices = policies({.int8_decode_min_weights = 0, .fused_decode_min_rows = 1});
  devices.push_back(std::make_unique<hip_device>(
      hip_options{.memory = hip_memory_mode::copied, .int8_decode_min_weights = 0, .fused_decode_min_rows = 1, .host_call_max_values = 0,
                  .resident_activations = true}));
  const std::size_t cols = 3 * 256;
  for (const auto& dev : devices) {
    for (const auto& [rows_a, rows_b] : {std::pair<std::size_t, std::size_t>{7, 33}, {4097, 1}, {300, 300}}) {
      dev->forget_weights();
      const testing::quantized_matrix<TestType> a(rows_a, cols, static_cast<std::uint32_t>(rows_a));
      const testing::quantized_matrix<TestType> b(rows_b, cols, static_cast<std::uint32_t>(rows_b + 1));
      for (std::size_t tokens : {1u, 3u}) {
        const auto x = testing::gaussian(tokens * cols, static_cast<std::uint32_t>(tokens));
        const matrix_view<const float> in(x.data(), {tokens, cols});
        std::vector<float> pair_a(tokens * rows_a, NAN), pair_b(tokens * rows_b, NAN), alone_a(tokens * rows_a, NAN), alone_b(tokens * rows_b, NAN);
        dev->matmul_pair(a.view(), b.view(), in, matrix_view<float>(pair_a.data(), {tokens, rows_a}), matrix_view<float>(pair_b.data(), {tokens, rows_b}));
        dev->matmul(a.view(), in, matrix_view<float>(alone_a.data(), {tokens, rows_a}));
        dev->matmul(b.view(), in, matrix_view<float>(alone_b.data(), {tokens, rows_b}));
        dev->synchronize();
        INFO(name_of(TestType::type) << ": " << rows_a << " and " << rows_b << " rows, " << tokens << " tokens, " << to_string(dev->memory_mode()));
        CHECK(std::memcmp(pair_a.data(), alone_a.data(), pair_a.size() * sizeof(float)) == 0);
        CHECK(std::memcmp(pair_b.data(), alone_b.data(), pair_b.size() * sizeof(float)) == 0);
        CHECK_FALSE(std::isnan(pair_a.front()));
        CHECK_FALSE(std::isnan(pair_b.back()));
      }
    }
  }
  hip_device dev;
  const testing::quantized_matrix<TestType> a(4, cols, 1), b(4, 2 * cols, 2);
  std::vector<float> x(cols, 1.0f), y(8);
  CHECK_THROWS_WITH(dev.matmul_pair(a.view(), b.view(), matrix_view<const float>(x.data(), {1, cols}), matrix_view<float>(y.data(), {1, 4}),
                                    matrix_view<float>(y.data() + 4, {1, 4})),
                    Catch::Contains("hip matmul: activation rows of 768 values for weight rows of 1536"));
}

// Slices of 1, 33 and 700 rows (6 experts of 700: past 4096 rows in all, where IQ4_XS decode with
// f32 activations takes two rows per warp), groups crossing the token tile of 8, idle experts; the
// int8 / f32 choice counts every group's rows, as the policy does.
TEMPLATE_TEST_CASE("hip grouped matmul agrees with the maths on every group layout", "[device][hip]", q8_0_format, q4_k_format,
                   bf16_format, iq4_xs_format) {
  const std::size_t experts = 6, cols = std::max<std::size_t>(TestType::block_size, 32) * 3;
  for (const auto& dev : matmul_policies()) {
    for (std::size_t width : {1u, 33u, 700u}) {
      dev->forget_weights();
      const testing::quantized_matrix<TestType> stack(experts * 2 * width, cols, static_cast<std::uint32_t>(width));
      for (const auto& sizes : testing::grouped_matmul_cases()) {
        for (std::size_t offset : {std::size_t{0}, width}) {
          const auto groups = testing::expert_groups(sizes, 2 * width, offset);
          std::size_t rows = 0, largest = 0, busy = 0;
          for (std::size_t n : sizes) {
            rows += n;
            largest = std::max(largest, n);
            busy += n != 0 ? 1 : 0;
          }
          const auto x = testing::gaussian(rows * cols, static_cast<std::uint32_t>(rows + offset));
          std::vector<float> y(rows * width, NAN);
          dev->grouped_matmul(stack.view(), groups, matrix_view<const float>(x.data(), {rows, cols}),
                              matrix_view<float>(y.data(), {rows, width}));
          const matmul_activations path = dev->template matmul_path<TestType>(largest, width * std::max<std::size_t>(busy, 1), cols);
          INFO(name_of(TestType::type) << ": slices of " << width << " rows, " << rows << " activation rows, offset " << offset << ", "
                                       << to_string(dev->memory_mode()) << ", " << name_of(path));
          testing::check_grouped_matmul(stack.view(), groups, width, x, as_kernel_sees(x, cols, path), y, rounding_bound(path),
                                        activation_bound(path));
        }
      }
    }
  }
  hip_device dev;
  const testing::quantized_matrix<q8_0_format> stack(12, 64, 3);
  std::vector<float> x(2 * 64, 1.0f), y(2 * 4);
  const std::vector<matmul_group> past_the_end{{0, 1}, {9, 1}};
  CHECK_THROWS_WITH(dev.grouped_matmul(stack.view(), past_the_end, matrix_view<const float>(x.data(), {2, 64}), matrix_view<float>(y.data(), {2, 4})),
                    Catch::Contains("hip grouped matmul: group 1's weight rows [9, 13)"));
}

TEST_CASE("hip matmul paths: f32 decode of small matrices, int8 activations, the fused decode kernel from enough rows, f16 tiles on the matrix units from 32 tokens on a grid that fills the GPU", "[device][hip]") {
  const hip_device automatic;
  const hip_device always(hip_options{.int8_decode_min_weights = 0});
  const hip_device never(hip_options{.int8_activations = false, .matrix_unit_min_tokens = 0});
  WARN("matrix units: " << (automatic.has_matrix_units() ? "yes" : "no"));
  const matmul_activations tiles = automatic.has_matrix_units() ? matmul_activations::f16_tiles : matmul_activations::int8;
  CHECK(automatic.matmul_path<q4_k_format>(1, 704, 2816) == matmul_activations::f32);
  CHECK(automatic.matmul_path<q4_k_format>(1, 10240, 2560) == matmul_activations::int8);
  CHECK(automatic.matmul_path<q8_0_format>(2, 7, 256) == matmul_activations::int8);
  // A tile grid of 64-row blocks fills an eighth of the GPU's warps from resident_warps() rows on.
  const std::size_t filling = automatic.resident_warps();
  CHECK(automatic.matmul_path<q8_0_format>(31, filling, 256) == matmul_activations::int8);
  CHECK(automatic.matmul_path<q8_0_format>(32, filling, 256) == tiles);
  CHECK(automatic.matmul_path<q8_0_format>(32, filling - 64, 256) == matmul_activations::int8);
  CHECK(automatic.matmul_path<q8_0_format>(65, filling / 2, 256) == tiles);
  CHECK(automatic.matmul_path<q6_k_format>(512, 10240, 2560) == tiles);
  CHECK(automatic.matmul_path<bf16_format>(512, 10240, 2560) == matmul_activations::f32);
  CHECK(always.matmul_path<q4_k_format>(1, 1, 256) == matmul_activations::int8);
  CHECK(never.matmul_path<q4_k_format>(512, 10240, 2560) == matmul_activations::f32);
  // The fused decode kernel by default from a quarter of the resident warps' rows (Q4_K, Q8_0) or
  // half (Q6_K).
  CHECK(automatic.takes_fused_decode<q4_k_format>(filling / 4, 2560));
  CHECK_FALSE(automatic.takes_fused_decode<q4_k_format>(filling / 4 - 1, 2560));
  CHECK(automatic.takes_fused_decode<q8_0_format>(filling / 4, 2560));
  CHECK_FALSE(automatic.takes_fused_decode<q8_0_format>(filling / 4 - 1, 2560));
  CHECK(automatic.takes_fused_decode<q6_k_format>(filling / 2, 2560));
  CHECK_FALSE(automatic.takes_fused_decode<q6_k_format>(filling / 2 - 1, 2560));
  CHECK_FALSE(automatic.takes_fused_decode<bf16_format>(filling, 2560));

  // The default policy's decode of a small Q4_K matrix: f32 activations, so within float rounding
  // of reference on x itself.
  reference oracle;
  const testing::quantized_matrix<q4_k_format> w(33, 768, 9);
  const auto x = testing::gaussian(768, 10);
  std::vector<float> actual(33), exact(33);
  hip_device dev;
  dev.matmul(w.view(), matrix_view<const float>(x.data(), {1, 768}), matrix_view<float>(actual.data(), {1, 33}));
  oracle.matmul(w.view(), matrix_view<const float>(x.data(), {1, 768}), matrix_view<float>(exact.data(), {1, 33}));
  std::vector<float> w_row(768);
  for (std::size_t o = 0; o < 33; ++o) {
    w.view().dequantize_row(o, w_row);
    CHECK(std::fabs(actual[o] - exact[o]) <= 1e-5 * norm(w_row) * norm(x));
  }
}

TEST_CASE("hip runs calls too small to pay for staging on the host in copied mode", "[device][hip]") {
  const hip_device copied(hip_options{.memory = hip_memory_mode::copied});
  const hip_device all_on_gpu(hip_options{.memory = hip_memory_mode::copied, .host_call_max_values = 0});
  const std::size_t limit = hip_options{}.host_call_max_values;
  CHECK(copied.runs_on_host(limit));
  CHECK_FALSE(copied.runs_on_host(limit + 1));
  CHECK(copied.runs_on_host(limit / hip_device::transcendental_cost, hip_device::transcendental_cost));
  CHECK_FALSE(copied.runs_on_host(limit / hip_device::transcendental_cost + 1, hip_device::transcendental_cost));
  CHECK_FALSE(all_on_gpu.runs_on_host(1));
  CHECK(copied.moves_rows_on_host());
  CHECK_FALSE(all_on_gpu.moves_rows_on_host());
  for (const hip_memory_mode mode : testing::testable_hip_modes()) {
    if (mode == hip_memory_mode::direct) {
      CHECK_FALSE(hip_device(hip_options{.memory = mode}).runs_on_host(1));
      CHECK_FALSE(hip_device(hip_options{.memory = mode}).moves_rows_on_host());
    }
  }

  // Both sides of the limit through the default policy: the host side is the reference kernel itself.
  hip_device dev(hip_options{.memory = hip_memory_mode::copied});
  reference oracle;
  for (const std::size_t width : {std::size_t{2560}, limit + 96}) {
    INFO("width " << width);
    const auto x = testing::gaussian(width, 31);
    const auto y = testing::gaussian(width, 32);
    const auto w = testing::gaussian(width, 33);
    std::vector<float> actual(width), expected(width);
    dev.rmsnorm(matrix_view<const float>(x.data(), {1, width}), w, norm_weight::plain, 1e-6f, matrix_view<float>(actual.data(), {1, width}));
    oracle.rmsnorm(matrix_view<const float>(x.data(), {1, width}), w, norm_weight::plain, 1e-6f, matrix_view<float>(expected.data(), {1, width}));
    require_close(actual, expected, 1e-5f);
    dev.add(x, y, actual);
    oracle.add(x, y, expected);
    require_close(actual, expected, 0.0f);
    const std::size_t gated = width / hip_device::transcendental_cost;
    dev.gated_activation(activation::gelu_tanh, std::span(x).first(gated), std::span(y).first(gated), std::span(actual).first(gated));
    oracle.gated_activation(activation::gelu_tanh, std::span(x).first(gated), std::span(y).first(gated), std::span(expected).first(gated));
    require_close(std::vector<float>(actual.begin(), actual.begin() + static_cast<std::ptrdiff_t>(gated)),
                  std::vector<float>(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(gated)), 1e-5f);
  }
}

// Copied and registered policies whose results stay on the GPU, checked: the host memory of a held
// result holds a NaN pattern until it comes back.
std::vector<std::unique_ptr<hip_device>> resident_policies() {
  std::vector<std::unique_ptr<hip_device>> result;
  for (const hip_memory_mode mode : {hip_memory_mode::copied, hip_memory_mode::registered}) {
    result.push_back(std::make_unique<hip_device>(hip_options{.memory = mode, .resident_activations = true, .check_host_access = true}));
  }
  return result;
}

TEST_CASE("hip resident activations: results stay on the GPU, later calls read them there, the host gets them when it asks", "[device][hip]") {
  reference oracle;
  CHECK_FALSE(hip_device(hip_options{.memory = hip_memory_mode::copied}).resident_activations());
  for (const auto& dev : resident_policies()) {
    INFO(to_string(dev->memory_mode()));
    REQUIRE(dev->resident_activations());
    CHECK_FALSE(dev->runs_on_host(1));
    CHECK_FALSE(dev->moves_rows_on_host());
    const std::size_t width = 512, rows = 3, outputs = 37;
    const auto x = testing::gaussian(rows * width, 1);
    const auto y = testing::gaussian(rows * width, 2);
    const auto norm_weight_values = testing::gaussian(width, 3);
    const testing::quantized_matrix<q8_0_format> w(outputs, width, 4);

    // A chain of calls: each result held on the GPU (its host memory still marked), read there by the next.
    std::vector<float> sum(rows * width), normed(rows * width), product(rows * outputs);
    const matrix_view<float> sum_rows(sum.data(), {rows, width}), normed_rows(normed.data(), {rows, width});
    dev->add(x, y, sum);
    CHECK(dev->held_result_bytes() == sum.size() * sizeof(float));
    CHECK(std::isnan(sum[0]));
    dev->rmsnorm(sum_rows, norm_weight_values, norm_weight::plain, 1e-6f, normed_rows);
    dev->matmul(w.view(), normed_rows, matrix_view<float>(product.data(), {rows, outputs}));
    CHECK(std::isnan(product[5]));
    dev->scale(product, 0.5f);  // in place, in the held copy
    CHECK(dev->held_result_bytes() == (sum.size() + normed.size() + product.size()) * sizeof(float));

    std::vector<float> e_sum(rows * width), e_normed(rows * width), e_product(rows * outputs);
    oracle.add(x, y, e_sum);
    oracle.rmsnorm(matrix_view<const float>(e_sum.data(), {rows, width}), norm_weight_values, norm_weight::plain, 1e-6f,
                   matrix_view<float>(e_normed.data(), {rows, width}));
    const matmul_activations path = dev->matmul_path<q8_0_format>(rows, outputs, width);
    const std::vector<float> seen = as_kernel_sees(e_normed, width, path);
    oracle.matmul(w.view(), matrix_view<const float>(seen.data(), {rows, width}), matrix_view<float>(e_product.data(), {rows, outputs}));
    oracle.scale(e_product, 0.5f);

    // Asking for one row brings back the whole result it lies in, and only that one.
    dev->host_access(std::span<const float>(product).subspan(outputs, outputs));
    CHECK(dev->held_result_bytes() == (sum.size() + normed.size()) * sizeof(float));
    CHECK(testing::nmse(product, e_product) < 1e-8);
    CHECK(std::isnan(sum[0]));

    // A result written into part of a held one stays in it; a result covering held ones wholly
    // replaces them; an input overlapping a held result in part brings it back first.
    const std::span<float> second_row = std::span(sum).subspan(width, width);
    dev->scale(second_row, 2.0f);
    CHECK(dev->held_result_bytes() == (sum.size() + normed.size()) * sizeof(float));
    for (std::size_t i = width; i < 2 * width; ++i) e_sum[i] *= 2.0f;
    std::vector<float> both(2 * rows * width);
    dev->host_access(both);  // nothing held there: no effect
    dev->add(std::span<const float>(sum).subspan(width / 2, width), std::span<const float>(y).first(width), std::span(both).first(width));
    CHECK(dev->held_result_bytes() == (sum.size() + normed.size() + width) * sizeof(float));
    std::vector<float> e_both(width);
    oracle.add(std::span<const float>(e_sum).subspan(width / 2, width), std::span<const float>(y).first(width), e_both);
    dev->copy(matrix_view<const float>(x.data(), {rows, width}), matrix_view<float>(both.data(), {rows, width}));  // covers the first
    dev->copy(sum_rows, matrix_view<float>(both.data() + rows * width, {rows, width}));
    CHECK(dev->held_result_bytes() == (sum.size() + normed.size() + both.size()) * sizeof(float));
    std::vector<float> halves(2 * rows);  // an input straddling two held results: both come back first
    dev->add(std::span<const float>(both).subspan(rows * width - rows, 2 * rows), std::span<const float>(x).first(2 * rows), halves);
    CHECK(dev->held_result_bytes() == (sum.size() + normed.size() + halves.size()) * sizeof(float));
    CHECK(std::equal(both.begin(), both.begin() + static_cast<std::ptrdiff_t>(rows * width), x.begin()));

    // Strided input copied on the GPU (rows of heads, each half taken), strided output copied back at once.
    std::vector<float> first_halves(rows * width / 2), strided_out(rows * 600, -1.0f);  // 2·rows heads of width/2
    dev->copy(matrix_view<const float>(sum.data(), {rows * 2, width / 4}, {width / 2, 1}), matrix_view<float>(first_halves.data(), {rows * 2, width / 4}));
    dev->copy(matrix_view<const float>(normed.data(), {rows, width}), matrix_view<float>(strided_out.data(), {rows, width}, {600, 1}));
    CHECK(strided_out[600 + width] == -1.0f);
    CHECK(strided_out[600 + 7] == e_normed[width + 7]);

    // Host fallbacks (top-k) and argmax read held results.
    std::vector<std::int32_t> ids(4);
    std::vector<float> values(4);
    CHECK(dev->argmax(std::span<const float>(normed).first(width)) == oracle.argmax(std::span<const float>(e_normed).first(width)));
    dev->top_k(matrix_view<const float>(normed.data(), {1, width}), matrix_view<std::int32_t>(ids.data(), {1, 4}), matrix_view<float>(values.data(), {1, 4}));
    std::vector<std::int32_t> e_ids(4);
    std::vector<float> e_values(4);
    oracle.top_k(matrix_view<const float>(e_normed.data(), {1, width}), matrix_view<std::int32_t>(e_ids.data(), {1, 4}),
                 matrix_view<float>(e_values.data(), {1, 4}));
    CHECK(ids == e_ids);

    dev->synchronize();
    CHECK(dev->held_result_bytes() == 0);
    require_close(sum, e_sum, 1e-6f);
    require_close(normed, e_normed, 1e-5f);
    require_close(both, [&] {
      std::vector<float> e(2 * rows * width);
      std::copy(x.begin(), x.end(), e.begin());
      std::copy(e_sum.begin(), e_sum.end(), e.begin() + static_cast<std::ptrdiff_t>(rows * width));
      return e;
    }(), 1e-6f);
    std::vector<float> e_halves(2 * rows);
    oracle.add(std::span<const float>(both).subspan(rows * width - rows, 2 * rows), std::span<const float>(x).first(2 * rows), e_halves);
    require_close(halves, e_halves, 0.0f);
    for (std::size_t r = 0; r < rows * 2; ++r) {
      for (std::size_t c = 0; c < width / 4; ++c) CHECK(first_halves[r * (width / 4) + c] == e_sum[r * (width / 2) + c]);
    }

    // Checked mode: a host write to a held result without host_access() is caught when the result is next used.
    dev->add(x, y, sum);
    sum[7] = 1.0f;
    CHECK_THROWS_WITH(dev->scale(sum, 2.0f), Catch::Contains("without host_access()"));
    dev->discard_activations();
    CHECK(dev->held_result_bytes() == 0);
  }
}

TEST_CASE("hip kernels that start while the kernel before them ends still read its results", "[device][hip]") {
  // Every step reads what the step before wrote, on the GPU (resident activations): a kernel that
  // read its input before gpu::follow_previous_kernel() would see the previous step's values.
  // The fused decode kernel, whose weight loads go out before that wait, takes every decode here.
  const std::size_t width = 2560, steps = 48;
  const testing::quantized_matrix<q4_k_format> w(width, width, 7, 0.02f);
  const auto start = testing::gaussian(width, 8);
  const auto norm = testing::gaussian(width, 9);
  const auto run = [&](bool overlap) {
    hip_device dev({.int8_decode_min_weights = 0, .fused_decode_min_rows = 1, .resident_activations = true, .overlap_launches = overlap});
    REQUIRE(dev.matmul_path<q4_k_format>(1, width, width) == matmul_activations::int8);
    REQUIRE(dev.takes_fused_decode<q4_k_format>(width, width));
    std::vector<float> h = start, normed(width), product(width);
    for (std::size_t step = 0; step < steps; ++step) {
      dev.rmsnorm(matrix_view<const float>(h.data(), {1, width}), norm, norm_weight::plain, 1e-6f, matrix_view<float>(normed.data(), {1, width}));
      dev.matmul(w.view(), matrix_view<const float>(normed.data(), {1, width}), matrix_view<float>(product.data(), {1, width}));
      dev.add(h, product, h);
    }
    dev.synchronize();
    return h;
  };
  const std::vector<float> overlapped = run(true);
  CHECK(std::ranges::all_of(overlapped, [](float v) { return std::isfinite(v); }));
  CHECK(overlapped == run(false));
}

TEST_CASE("hip registered mode reads weights where they lie in memory it was offered, uploads the rest and counts what the runtime refuses", "[device][hip]") {
  using block = q4_k_format::block_type;
  constexpr std::size_t page = 4096, cols = 512;
  const testing::quantized_matrix<q4_k_format> a_source(33, cols, 41), b_source(20, cols, 42);
  const std::size_t a_bytes = a_source.blocks.size() * sizeof(block), b_bytes = b_source.blocks.size() * sizeof(block);
  // Four pages holding a, then b.
  const std::unique_ptr<std::byte, decltype(&std::free)> memory(static_cast<std::byte*>(std::aligned_alloc(page, 4 * page)), &std::free);
  REQUIRE(a_bytes + b_bytes <= 4 * page);
  std::memcpy(memory.get(), a_source.blocks.data(), a_bytes);
  std::memcpy(memory.get() + a_bytes, b_source.blocks.data(), b_bytes);
  const quantized_view<q4_k_format> a({memory.get(), a_bytes}, 33, cols, "a"), b({memory.get() + a_bytes, b_bytes}, 20, cols, "b");
  const auto x = testing::gaussian(2 * cols, 43);
  reference oracle;
  auto check = [&](hip_device& dev, const quantized_view<q4_k_format>& w) {
    std::vector<float> actual(2 * w.rows()), expected(2 * w.rows());
    dev.matmul(w, matrix_view<const float>(x.data(), {2, cols}), matrix_view<float>(actual.data(), {2, w.rows()}));
    oracle.matmul(w, matrix_view<const float>(x.data(), {2, cols}), matrix_view<float>(expected.data(), {2, w.rows()}));
    require_close(actual, expected, 1e-4f);
  };
  hip_device dev(hip_options{.memory = hip_memory_mode::registered, .int8_activations = false, .host_call_max_values = 0});
  REQUIRE(dev.memory_mode() == hip_memory_mode::registered);
  CHECK(dev.stages_activations());
  // Not offered: uploaded, as in copied mode.
  check(dev, a);
  CHECK(dev.registered_bytes() == 0);
  CHECK(dev.uploaded_weight_bytes() == a_bytes);
  // Offered, the memory serves both matrices in place.
  dev.forget_weights();
  CHECK(dev.use_in_place({memory.get(), 4 * page}));
  CHECK(dev.registered_bytes() == 4 * page);
  check(dev, a);
  check(dev, b);
  CHECK(dev.uploaded_weight_bytes() == 0);
  CHECK(dev.use_in_place({memory.get() + page, page}));  // within: a lookup
  CHECK(dev.registered_bytes() == 4 * page);
  // Read where it lies: a changed row is what the next call multiplies (a copy would be stale).
  std::memcpy(memory.get(), b_source.blocks.data(), 2 * cols / 256 * sizeof(block));
  check(dev, a);
  dev.forget_host_regions();
  CHECK(dev.registered_bytes() == 0);
  // An offer overlapping a registered region (memory unmapped and mapped anew) replaces it.
  dev.use_in_place({memory.get(), 3 * page});
  dev.use_in_place({memory.get() + page, 3 * page});
  CHECK(dev.registered_bytes() == 3 * page);
  check(dev, b);
  CHECK(dev.uploaded_weight_bytes() == 0);
  check(dev, a);  // no longer inside a registered region
  CHECK(dev.uploaded_weight_bytes() == a_bytes);
  // Memory the runtime cannot pin (no access at all) is refused, counted with the runtime's
  // reason, and not retried when offered again.
  void* const inaccessible = mmap(nullptr, 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(inaccessible != MAP_FAILED);
  const std::span<const std::byte> refused(static_cast<const std::byte*>(inaccessible), 2 * page);
  CHECK_FALSE(dev.use_in_place(refused));
  CHECK(dev.refused_bytes() == 2 * page);
  CHECK_FALSE(dev.refusal().empty());
  WARN("refusal of inaccessible memory: " << dev.refusal());
  CHECK_FALSE(dev.use_in_place(refused));
  CHECK(dev.refused_bytes() == 2 * page);
  CHECK(dev.registered_bytes() == 3 * page);
  dev.forget_host_regions();
  CHECK(dev.refused_bytes() == 0);
  munmap(inaccessible, 2 * page);
  // Copied mode leaves an offer alone.
  hip_device copied(hip_options{.memory = hip_memory_mode::copied, .int8_activations = false, .host_call_max_values = 0});
  CHECK_FALSE(copied.use_in_place({memory.get(), 4 * page}));
  CHECK(copied.registered_bytes() == 0);
  check(copied, a);
  CHECK(copied.uploaded_weight_bytes() == a_bytes);
}

TEST_CASE("hip matmul handles empty shapes, strided outputs, zeros and huge values", "[device][hip]") {
  reference oracle;
  std::vector<std::unique_ptr<hip_device>> devices = policies();
  devices.push_back(matrix_unit_policy());
  for (const auto& dev : devices) {
    const testing::quantized_matrix<q4_k_format> w(9, 512, 1);
    std::vector<float> y(9 * 3, 7.0f);
    dev->matmul(w.view(), matrix_view<const float>(nullptr, {0, 512}), matrix_view<float>(y.data(), {0, 9}));
    CHECK(y[0] == 7.0f);

    std::vector<float> zeros(3 * 512, 0.0f);
    dev->matmul(w.view(), matrix_view<const float>(zeros.data(), {3, 512}), matrix_view<float>(y.data(), {3, 9}));
    for (float v : y) CHECK(v == 0.0f);

    auto huge = testing::gaussian(3 * 512, 4, 1e6f);
    dev->matmul(w.view(), matrix_view<const float>(huge.data(), {3, 512}), matrix_view<float>(y.data(), {3, 9}));
    std::vector<float> expected(27);
    // Magnitudes to 5e6: on the matrix units each row is scaled into f16's range and back (left
    // unscaled it would overflow to infinity); the f16 weights' rounding stays near 2^-11.
    const matmul_activations path = dev->matmul_path<q4_k_format>(3, 9, 512);
    const std::vector<float> seen = as_kernel_sees(huge, 512, path);
    oracle.matmul(w.view(), matrix_view<const float>(seen.data(), {3, 512}), matrix_view<float>(expected.data(), {3, 9}));
    INFO(name_of(path));
    CHECK(testing::nmse(y, expected) < (path == matmul_activations::f16_tiles ? 1e-6 : 1e-10));

    // Rows of x and y inside wider buffers (row strides 600 and 20): only the viewed columns change.
    std::vector<float> wide_x(3 * 600, 1.0f);
    for (std::size_t t = 0; t < 3; ++t) std::copy_n(huge.begin() + static_cast<std::ptrdiff_t>(t * 512), 512, wide_x.begin() + static_cast<std::ptrdiff_t>(t * 600));
    std::vector<float> wide_y(3 * 20, -1.0f);
    dev->matmul(w.view(), matrix_view<const float>(wide_x.data(), {3, 512}, {600, 1}), matrix_view<float>(wide_y.data(), {3, 9}, {20, 1}));
    for (std::size_t t = 0; t < 3; ++t) {
      for (std::size_t o = 0; o < 20; ++o) {
        if (o < 9) CHECK(wide_y[t * 20 + o] == y[t * 9 + o]);
        else CHECK(wide_y[t * 20 + o] == -1.0f);
      }
    }
  }
}

TEMPLATE_TEST_CASE("hip embedding gathers and scales dequantized rows", "[device][hip]", f32_format, bf16_format, q8_0_format,
                   q6_k_format, iq4_xs_format, q5_0_format) {
  reference oracle;
  for (const auto& dev : policies()) {
    const std::size_t cols = TestType::block_size == 1 ? 37 : 2 * TestType::block_size;
    const testing::quantized_matrix<TestType> table(20, cols, 5);
    const std::vector<std::int32_t> ids{19, 0, 3, 3, 7};
    std::vector<float> actual(5 * cols);
    std::vector<float> expected(5 * cols);
    dev->embedding(table.view(), ids, 0.5f, matrix_view<float>(actual.data(), {5, cols}));
    oracle.embedding(table.view(), ids, 0.5f, matrix_view<float>(expected.data(), {5, cols}));
    require_close(actual, expected, 1e-6f);
    const std::vector<std::int32_t> bad{20};
    CHECK_THROWS_AS(dev->embedding(table.view(), bad, 1.0f, matrix_view<float>(actual.data(), {1, cols})), error);
  }
}

TEST_CASE("hip row-wise kernels agree with reference", "[device][hip]") {
  reference oracle;
  for (const auto& dev : policies()) {
    INFO(to_string(dev->memory_mode()));
    // Every rmsnorm block size (32 threads up to 256 values, 64 up to 512, 128, 256, 512 threads),
    // one round exactly (256, 2048), one value past it (257), and past a 512-thread block's one
    // round (4097).
    for (std::size_t width : {1u, 31u, 96u, 256u, 257u, 1000u, 2048u, 2560u, 4097u}) {
      const std::size_t tokens = 13;
      auto x = testing::gaussian(tokens * width, static_cast<std::uint32_t>(21 + width));
      const auto w = testing::gaussian(width, 22);
      for (norm_weight kind : {norm_weight::none, norm_weight::plain, norm_weight::one_plus}) {
        std::vector<float> a(x.size());
        std::vector<float> b(x.size());
        dev->rmsnorm(matrix_view<const float>(x.data(), {tokens, width}), w, kind, 1e-6f, matrix_view<float>(a.data(), {tokens, width}));
        oracle.rmsnorm(matrix_view<const float>(x.data(), {tokens, width}), w, kind, 1e-6f, matrix_view<float>(b.data(), {tokens, width}));
        require_close(a, b, 1e-5f);
      }
      // Added to a residual and scaled: each row's sum once as it is, once halved.
      for (const float scale : {1.0f, 0.5f}) {
        const auto start = testing::gaussian(tokens * width, static_cast<std::uint32_t>(23 + width));
        std::vector<float> a = start;
        std::vector<float> b = start;
        dev->rmsnorm_add(matrix_view<const float>(x.data(), {tokens, width}), w, norm_weight::plain, 1e-6f, scale, matrix_view<float>(a.data(), {tokens, width}));
        dev->synchronize();
        oracle.rmsnorm_add(matrix_view<const float>(x.data(), {tokens, width}), w, norm_weight::plain, 1e-6f, scale, matrix_view<float>(b.data(), {tokens, width}));
        require_close(a, b, 1e-5f);
      }
      // In place (x and y alias), as the models call it.
      std::vector<float> a = x;
      std::vector<float> b(x.size());
      dev->rmsnorm(matrix_view<const float>(a.data(), {tokens, width}), w, norm_weight::plain, 1e-6f, matrix_view<float>(a.data(), {tokens, width}));
      oracle.rmsnorm(matrix_view<const float>(x.data(), {tokens, width}), w, norm_weight::plain, 1e-6f, matrix_view<float>(b.data(), {tokens, width}));
      require_close(a, b, 1e-5f);

      for (float cap : {0.0f, 30.0f}) {
        a = x;
        b = x;
        a[5] = b[5] = 1e30f;  // one huge logit
        if (width > 1) a[width] = b[width] = NAN;  // a NaN in row 1 makes the row NaN
        dev->softmax(matrix_view<float>(a.data(), {tokens, width}), cap);
        oracle.softmax(matrix_view<float>(b.data(), {tokens, width}), cap);
        require_close(a, b, 1e-5f);
      }
    }

    const std::size_t tokens = 7;
    for (std::size_t head_dim : {2u, 48u, 256u, 512u}) {
      for (std::size_t rotary : {head_dim, head_dim / 2}) {
        auto a = testing::gaussian(tokens * 3 * head_dim, 9);
        auto b = a;
        std::vector<std::int32_t> positions(tokens);
        for (std::size_t t = 0; t < tokens; ++t) positions[t] = static_cast<std::int32_t>(t == 0 ? 0 : 4096 * t + 7);
        std::vector<float> inv_freq(rotary / 2);
        for (std::size_t j = 0; j < inv_freq.size(); ++j) inv_freq[j] = std::pow(10000.0f, -2.0f * static_cast<float>(j) / static_cast<float>(rotary));
        if (!inv_freq.empty()) inv_freq.back() = 0.0f;  // proportional RoPE's zero frequencies
        dev->rope(tensor_view<float, 3>(a.data(), {tokens, 3, head_dim}), positions, rope_frequencies{inv_freq});
        oracle.rope(tensor_view<float, 3>(b.data(), {tokens, 3, head_dim}), positions, rope_frequencies{inv_freq});
        // Angles up to ~3e4 radians: float sin/cos argument reduction differs by a few ulps of the angle.
        require_close(a, b, 2e-3f);
      }
    }

    for (std::size_t n : {1u, 255u, 256u, 100003u}) {
      auto x = testing::gaussian(n, static_cast<std::uint32_t>(n), 4.0f);
      const auto y = testing::gaussian(n, static_cast<std::uint32_t>(n + 1), 4.0f);
      x[0] = 100.0f;
      if (n > 2) x[1] = -100.0f;
      for (activation act : {activation::silu, activation::gelu_tanh, activation::sigmoid}) {
        std::vector<float> a(n);
        std::vector<float> b(n);
        dev->apply_activation(act, x, a);
        oracle.apply_activation(act, x, b);
        require_close(a, b, 1e-5f);
        dev->gated_activation(act, x, y, a);
        oracle.gated_activation(act, x, y, b);
        require_close(a, b, 1e-5f);
      }
      std::vector<float> a = x;
      std::vector<float> b = x;
      dev->softcap(a, 30.0f);
      oracle.softcap(b, 30.0f);
      require_close(a, b, 1e-6f);
      dev->scale(a, 0.25f);
      oracle.scale(b, 0.25f);
      require_close(a, b, 1e-6f);
      std::vector<float> sa(n);
      std::vector<float> sb(n);
      dev->add(x, y, sa);
      oracle.add(x, y, sb);
      CHECK(sa == sb);
    }
  }
}

TEST_CASE("hip uploads norm weights and RoPE frequencies once and follows their changes", "[device][hip]") {
  reference oracle;
  for (const bool resident : {false, true}) {
    for (const auto& dev : policies({.resident_activations = resident})) {
      INFO(to_string(dev->memory_mode()) << (resident ? ", resident" : ""));
      const bool stages = dev->memory_mode() != hip_memory_mode::direct;
      const std::size_t tokens = 5, width = 96;
      const auto x = testing::gaussian(tokens * width, 31);
      auto w = testing::gaussian(width, 32);
      const auto other = testing::gaussian(width, 33);
      std::vector<float> a(x.size()), b(x.size());
      const auto norm_with = [&](std::span<const float> weight) {
        dev->rmsnorm(matrix_view<const float>(x.data(), {tokens, width}), weight, norm_weight::plain, 1e-6f, matrix_view<float>(a.data(), {tokens, width}));
        dev->synchronize();
        oracle.rmsnorm(matrix_view<const float>(x.data(), {tokens, width}), weight, norm_weight::plain, 1e-6f, matrix_view<float>(b.data(), {tokens, width}));
        require_close(a, b, 1e-5f);
      };
      norm_with(w);
      norm_with(w);
      CHECK(dev->uploaded_constant_bytes() == (stages ? width * sizeof(float) : 0));
      // Changed in place, between calls and while an earlier call may still be queued: the next
      // call reads the new values, the earlier one the old.
      for (float& v : w) v *= -2.0f;
      norm_with(w);
      const auto before = w;
      dev->rmsnorm(matrix_view<const float>(x.data(), {tokens, width}), w, norm_weight::plain, 1e-6f, matrix_view<float>(a.data(), {tokens, width}));
      w[7] = 100.0f;
      dev->synchronize();
      oracle.rmsnorm(matrix_view<const float>(x.data(), {tokens, width}), before, norm_weight::plain, 1e-6f, matrix_view<float>(b.data(), {tokens, width}));
      require_close(a, b, 1e-5f);
      norm_with(w);
      CHECK(dev->uploaded_constant_bytes() == (stages ? width * sizeof(float) : 0));
      norm_with(other);
      CHECK(dev->uploaded_constant_bytes() == (stages ? 2 * width * sizeof(float) : 0));
      // Longer vectors are staged with every call.
      const std::size_t wide = 20000;
      const auto long_x = testing::gaussian(wide, 34);
      const auto long_w = testing::gaussian(wide, 35);
      std::vector<float> la(wide), lb(wide);
      dev->rmsnorm(matrix_view<const float>(long_x.data(), {1, wide}), long_w, norm_weight::one_plus, 1e-6f, matrix_view<float>(la.data(), {1, wide}));
      dev->synchronize();
      oracle.rmsnorm(matrix_view<const float>(long_x.data(), {1, wide}), long_w, norm_weight::one_plus, 1e-6f, matrix_view<float>(lb.data(), {1, wide}));
      require_close(la, lb, 1e-5f);
      CHECK(dev->uploaded_constant_bytes() == (stages ? 2 * width * sizeof(float) : 0));

      std::vector<float> inv_freq{1.0f, 0.5f, 0.25f, 0.0f};
      const std::vector<std::int32_t> positions{0, 3, 11};
      for (int change = 0; change < 2; ++change) {
        auto q = testing::gaussian(3 * 2 * 8, static_cast<std::uint32_t>(36 + change));
        auto r = q;
        dev->rope(tensor_view<float, 3>(q.data(), {3, 2, 8}), positions, rope_frequencies{inv_freq});
        dev->synchronize();
        oracle.rope(tensor_view<float, 3>(r.data(), {3, 2, 8}), positions, rope_frequencies{inv_freq});
        require_close(q, r, 1e-5f);
        inv_freq[1] = 0.125f;
      }
      dev->forget_weights();
      CHECK(dev->uploaded_constant_bytes() == 0);
      norm_with(w);
    }
  }
}

TEST_CASE("hip argmax: ties to the lower index, NaN never chosen while a number is left", "[device][hip]") {
  reference oracle;
  for (const auto& dev : policies()) {
    for (std::size_t n : {1u, 2u, 255u, 257u, 262144u}) {
      auto x = testing::gaussian(n, static_cast<std::uint32_t>(n));
      CHECK(dev->argmax(x) == oracle.argmax(x));
      x[n - 1] = 50.0f;
      x[n / 2] = 50.0f;  // a tie: the lower index wins
      CHECK(dev->argmax(x) == n / 2);
      x[0] = NAN;
      CHECK(dev->argmax(x) == oracle.argmax(x));
    }
    const std::vector<float> all_nan(300, NAN);
    CHECK(dev->argmax(all_nan) == oracle.argmax(all_nan));
    const std::vector<float> all_minus_inf(300, -INFINITY);
    CHECK(dev->argmax(all_minus_inf) == 0);
  }
}

TEST_CASE("hip row gather and weighted scatter-add agree with reference", "[device][hip]") {
  reference oracle;
  for (const auto& dev : policies()) {
    for (std::size_t width : {1u, 300u}) {
      const auto x = testing::gaussian(11 * width, 3);
      const std::vector<std::int32_t> rows{10, 0, 4, 4, 9};
      std::vector<float> a(rows.size() * width);
      std::vector<float> b(rows.size() * width);
      dev->gather_rows(matrix_view<const float>(x.data(), {11, width}), rows, matrix_view<float>(a.data(), {rows.size(), width}));
      oracle.gather_rows(matrix_view<const float>(x.data(), {11, width}), rows, matrix_view<float>(b.data(), {rows.size(), width}));
      CHECK(a == b);

      const std::vector<float> weights{0.5f, -1.0f, 2.0f, 0.25f, 3.0f};
      auto out_a = testing::gaussian(11 * width, 4);
      auto out_b = out_a;
      dev->scatter_add_rows(matrix_view<const float>(a.data(), {rows.size(), width}), rows, weights, matrix_view<float>(out_a.data(), {11, width}));
      oracle.scatter_add_rows(matrix_view<const float>(a.data(), {rows.size(), width}), rows, weights, matrix_view<float>(out_b.data(), {11, width}));
      require_close(out_a, out_b, 1e-6f);
    }
  }
}

TEST_CASE("hip attention agrees with reference on every KV type, window and shape", "[device][hip][attention]") {
  for (const auto& dev : policies()) testing::expect_attention_sweep_matches_reference(*dev);
}

TEST_CASE("hip write_kv stores the reference's bytes, read back right after the write", "[device][hip][attention]") {
  for (const auto& dev : policies()) testing::expect_write_kv_matches_reference(*dev);
}

// Copied mode keeps its own copy of the cache on the GPU and uploads only blocks whose stamps
// moved: every way a block's bytes change must reach it.
TEST_CASE("hip attention follows every write to a cache: decode steps, rollback, forks and a new cache", "[device][hip][attention]") {
  const testing::attention_shape shape{4, 2, 64, 0, kv_type::f16, 16};
  const kv_layout layout = testing::scenario_layout(shape, 2);
  const std::size_t width = shape.kv_heads * shape.head_dim;
  reference oracle;
  for (const auto& dev : policies()) {
    std::mt19937 rng(5);
    // Two caches one after the other, the second likely where the first was.
    for (int round = 0; round < 2; ++round) {
      INFO("cache " << round);
      paged_kv_cache cache(layout, layout.budget_for_context(256));
      auto append = [&](kv_sequence_id id, std::size_t n) {
        const std::size_t at = cache.length(id);
        REQUIRE(cache.append(id, std::vector<std::int32_t>(n, 1)) == kv_status::ok);
        const auto k = testing::gaussian(n * width, static_cast<std::uint32_t>(rng()));
        const auto v = testing::gaussian(n * width, static_cast<std::uint32_t>(rng()));
        cache.write(id, 0, at, matrix_view<const float>(k.data(), {n, width}), matrix_view<const float>(v.data(), {n, width}));
      };
      // One query row at the newest position of `id`, on the GPU and on the reference.
      auto expect_attention = [&](kv_sequence_id id) {
        INFO("sequence " << id << " at " << cache.length(id) << " positions");
        const auto q = testing::gaussian(shape.heads * shape.head_dim, static_cast<std::uint32_t>(rng()));
        const std::vector<attention_sequence> sequences{{cache.sequence_view(id, 0), 0, 1}};
        std::vector<float> expected(q.size()), actual(q.size());
        const tensor_view<const float, 3> queries(q.data(), {1, shape.heads, shape.head_dim});
        oracle.attention<global_attention>({queries, {expected.data(), {1, shape.heads, shape.head_dim}}, sequences, cache.layer_view(0), 0.125f, 0.0f});
        dev->attention<global_attention>({queries, {actual.data(), {1, shape.heads, shape.head_dim}}, sequences, cache.layer_view(0), 0.125f, 0.0f});
        for (std::size_t i = 0; i < q.size(); ++i) REQUIRE(std::abs(actual[i] - expected[i]) <= 2e-5f);
      };
      const kv_sequence_id a = cache.create().sequence;
      append(a, 40);
      expect_attention(a);
      for (int step = 0; step < 20; ++step) {  // each step writes into the newest block
        append(a, 1);
        expect_attention(a);
      }
      {
        // A call refused for a bad block table (in copied mode after looking at a's newly written
        // block, which stays due for upload) reads nothing.
        append(a, 1);
        const kv_sequence_view good = cache.sequence_view(a, 0);
        std::vector<kv_block_id> bad_table(good.blocks.begin(), good.blocks.end());
        bad_table.back() = static_cast<kv_block_id>(cache.layer_view(0).blocks);
        const std::vector<attention_sequence> sequences{{good, 0, 1}, {{bad_table, good.length}, 1, 1}};
        std::vector<float> q(2 * shape.heads * shape.head_dim, 0.5f), out(q.size());
        CHECK_THROWS_AS(dev->attention<global_attention>({tensor_view<const float, 3>(q.data(), {2, shape.heads, shape.head_dim}),
                                                          {out.data(), {2, shape.heads, shape.head_dim}}, sequences, cache.layer_view(0), 0.125f, 0.0f}),
                        error);
        expect_attention(a);
      }
      REQUIRE(cache.truncate(a, cache.length(a) - 3) == kv_status::ok);  // rolled-back positions written anew
      append(a, 2);
      expect_attention(a);
      const kv_sequence_id b = cache.fork(a).sequence;  // b's first write copies the shared newest block
      append(b, 1);
      expect_attention(b);
      expect_attention(a);
      append(a, 3);
      expect_attention(a);
      expect_attention(b);
    }
  }
}

TEST_CASE("hip attention leaves rows no sequence claims alone and refuses shapes the cache does not have", "[device][hip][attention]") {
  const testing::attention_shape shape{4, 2, 32, 0, kv_type::q8_0, 16};
  auto s = testing::make_scenario(shape, {40, 9}, {3, 2}, 7);
  // Five query rows; the second sequence's two rows move to 3-4, and the first claims only 0-1.
  std::vector<attention_sequence> sequences{s.sequences[0], s.sequences[1]};
  sequences[0].rows = 2;
  sequences[0].kv.length -= 1;
  std::vector<float> expected(s.q.size(), 7.0f), actual(s.q.size(), 7.0f);
  const tensor_view<float, 3> expected_view(expected.data(), {s.rows, shape.heads, shape.head_dim});
  const tensor_view<float, 3> actual_view(actual.data(), {s.rows, shape.heads, shape.head_dim});
  reference oracle;
  oracle.attention<global_attention>({s.queries(), expected_view, sequences, s.cache.layer_view(0), 0.2f, 0.0f});
  for (const auto& dev : policies()) {
    std::fill(actual.begin(), actual.end(), 7.0f);
    dev->attention<global_attention>({s.queries(), actual_view, sequences, s.cache.layer_view(0), 0.2f, 0.0f});
    require_close(actual, expected, 2e-5f);
    CHECK(actual[2 * shape.heads * shape.head_dim] == 7.0f);  // row 2: no sequence's

    const tensor_view<const float, 3> wrong_heads(s.q.data(), {s.rows, 3, shape.head_dim});
    std::vector<float> out(s.rows * 3 * shape.head_dim);
    CHECK_THROWS_WITH(dev->attention<global_attention>({wrong_heads, tensor_view<float, 3>(out.data(), {s.rows, 3, shape.head_dim}), sequences,
                                                         s.cache.layer_view(0), 0.2f, 0.0f}),
                      Catch::Contains("do not fit a cache of 2 KV heads"));
  }
}

TEST_CASE("hip Gated DeltaNet agrees with reference", "[device][hip][deltanet]") {
  for (const auto& dev : policies()) testing::expect_deltanet_sweep_matches_reference(*dev);
}

TEST_CASE("hip attention splits keys over blocks only when rows and heads leave the GPU idle", "[device][hip][attention]") {
  // 8448 resident warps (an H100): 1056 blocks of 8 warps.
  constexpr auto decode = hip_device::attention_splits(8, 4096, 8448);
  CHECK(decode.count == 64);  // one split per 64 keys (a round of 8 warps' batches of 8): 512 blocks
  CHECK(decode.keys == 64);
  constexpr auto long_decode = hip_device::attention_splits(8, 100000, 8448);
  CHECK(long_decode.count == 132);  // 1056 blocks
  CHECK(long_decode.count * long_decode.keys >= 100000);
  CHECK(hip_device::attention_splits(4096 * 8, 4096, 8448).count == 1);  // prefill fills the GPU by itself
  CHECK(hip_device::attention_splits(8, 300, 8448).count == 4);
  CHECK(hip_device::attention_splits(8, 100, 8448).count == 1);          // too few keys to split
  CHECK(hip_device::attention_splits(8, 0, 8448).count == 1);
}

TEST_CASE("hip attention blocks share a KV head's query heads only where the call reads enough keys", "[device][hip][attention]") {
  // Gemma 4 E4B's layers: 8 query heads on 2 KV heads, head dim 256 (sliding window) or 512.
  CHECK(hip_device::attention_heads_per_block(4, 256, 1, 512) == 1);    // decode in a 512-key window
  CHECK(hip_device::attention_heads_per_block(4, 256, 9, 512) == 4);    // verifying 8 drafts there
  CHECK(hip_device::attention_heads_per_block(4, 512, 1, 1024) == 1);   // decode over a short context
  CHECK(hip_device::attention_heads_per_block(4, 512, 1, 4096) == 2);   // two slices per lane: 2 at most
  CHECK(hip_device::attention_heads_per_block(4, 256, 512, 512) == 4);  // prefill
  CHECK(hip_device::attention_heads_per_block(3, 256, 512, 512) == 1);  // no power of two divides the group
  CHECK(hip_device::attention_heads_per_block(2, 256, 512, 512) == 2);
  CHECK(hip_device::attention_heads_per_block(8, 256, 512, 512) == 4);
}
