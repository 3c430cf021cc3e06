// Every zen5 kernel against the reference policy, on random data and nasty shapes. Matmul is held
// to two standards: against reference on the activations the kernel actually multiplies (after
// its int8/bf16 quantization) it must agree to float rounding; against reference on the original
// activations, within the error that quantization implies. Both bounds are per output, scaled by
// ‖w_row‖·‖x_row‖ (Cauchy-Schwarz), so a row whose result cancels to near zero is judged fairly.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <strix/device/reference/reference.hpp>
#include <strix/device/zen5/zen5.hpp>
#include <strix/quant/formats.hpp>

#include "device/kernel_test_support.hpp"
#include "device/zen5_test_support.hpp"

using namespace strix;

namespace {

// What the zen5 kernel multiplies: activations after its own quantization, as floats.
template <class Format>
std::vector<float> as_kernel_sees(const std::vector<float>& x, std::size_t tokens, std::size_t cols) {
  using activations = typename zen5_kernels::dot_kernel<Format>::activations;
  std::vector<float> out(x.size());
  std::vector<std::max_align_t> storage(activations::bytes(cols) / sizeof(std::max_align_t) + 1);
  auto* bytes = reinterpret_cast<std::byte*>(storage.data());
  for (std::size_t t = 0; t < tokens; ++t) {
    const std::span<const float> row(x.data() + t * cols, cols);
    activations::fill(row, bytes);
    const auto view = activations::at(bytes, cols);
    float* y = out.data() + t * cols;
    if constexpr (std::is_same_v<activations, zen5_kernels::q8_32_activations>) {
      for (std::size_t i = 0; i < cols; ++i) y[i] = view.qs[i] * view.d[i / 32];
    } else if constexpr (std::is_same_v<activations, zen5_kernels::q8_k_activations>) {
      for (std::size_t i = 0; i < cols; ++i) y[i] = view[i / 256].d * static_cast<float>(view[i / 256].qs[i % 256]);
    } else if constexpr (std::is_same_v<activations, zen5_kernels::bf16_activations>) {
      for (std::size_t i = 0; i < cols; ++i) y[i] = view[i].to_float();
    } else {
      std::copy(row.begin(), row.end(), y);
    }
  }
  return out;
}

// Largest |error| / (‖w_row‖·‖x_row‖) that quantizing the activations may cause: by Cauchy-Schwarz
// the error Σ w·δ is at most ‖w‖·‖δ‖, and ‖δ‖/‖x‖ is about half a step of the activation format.
template <class Format>
double activation_error_bound() {
  using activations = typename zen5_kernels::dot_kernel<Format>::activations;
  if constexpr (std::is_same_v<activations, zen5_kernels::f32_activations>) return 1e-6;
  else if constexpr (std::is_same_v<activations, zen5_kernels::bf16_activations>) return 1.0 / 256;
  else return 1.0 / 127;
}

double norm(std::span<const float> v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}
}  // namespace

TEMPLATE_TEST_CASE("zen5 matmul agrees with reference on every fast format and shape", "[device][zen5]", f32_format,
                   f16_format, bf16_format, q8_0_format, q4_0_format, mxfp4_format, q4_k_format, q5_k_format,
                   q6_k_format, iq4_xs_format) {
  if (!testing::zen5_cpu_ready()) return;
  thread_pool pool(2);
  zen5 fast(pool);
  reference oracle;
  const std::size_t block = TestType::block_size;
  const std::vector<std::size_t> widths = block == 1 ? std::vector<std::size_t>{1, 15, 16, 33, 64, 1000}
                                                     : std::vector<std::size_t>{block, 3 * block, 16 * block, 37 * block};
  for (std::size_t cols : widths) {
    for (std::size_t rows : {1u, 7u, 33u}) {
      // Every count a kernel call takes (1-8), and counts split into even tiles (9: 5 + 4; 19: 7 + 6 + 6).
      for (std::size_t tokens : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 19u}) {
        const testing::quantized_matrix<TestType> w(rows, cols, static_cast<std::uint32_t>(rows * 31 + cols));
        const auto x = testing::gaussian(tokens * cols, static_cast<std::uint32_t>(tokens));
        std::vector<float> actual(tokens * rows);
        fast.matmul(w.view(), matrix_view<const float>(x.data(), {tokens, cols}), matrix_view<float>(actual.data(), {tokens, rows}));

        const auto seen = as_kernel_sees<TestType>(x, tokens, cols);
        std::vector<float> exact(tokens * rows);
        oracle.matmul(w.view(), matrix_view<const float>(seen.data(), {tokens, cols}), matrix_view<float>(exact.data(), {tokens, rows}));
        std::vector<float> ideal(tokens * rows);
        oracle.matmul(w.view(), matrix_view<const float>(x.data(), {tokens, cols}), matrix_view<float>(ideal.data(), {tokens, rows}));

        INFO(name_of(TestType::type) << ": " << rows << " x " << cols << ", " << tokens << " tokens");
        // Batch invariance: a token's outputs have the same bits whichever tokens share its call
        // (speculative verification compares a pass of several tokens with single-token decode,
        // which multiplies several weight rows at once on float formats).
        std::vector<float> alone(rows);
        for (std::size_t t = 0; t < tokens; ++t) {
          fast.matmul(w.view(), matrix_view<const float>(x.data() + t * cols, {1, cols}), matrix_view<float>(alone.data(), {1, rows}));
          for (std::size_t o = 0; o < rows; ++o) CHECK(std::memcmp(&alone[o], &actual[t * rows + o], sizeof(float)) == 0);
        }
        // Float rounding only: |error| ≤ 1e-4·‖w‖·‖x‖, where one wrong block of the ≥ 16 would be
        // of order ‖w‖·‖x‖/16 (and a small row's error still shows against its own norms).
        std::vector<float> w_row(cols);
        for (std::size_t o = 0; o < rows; ++o) {
          w.view().dequantize_row(o, w_row);
          for (std::size_t t = 0; t < tokens; ++t) {
            const double w_norm = norm(w_row);
            CHECK(std::fabs(actual[t * rows + o] - exact[t * rows + o]) <= 1e-4 * w_norm * norm(std::span(seen).subspan(t * cols, cols)));
            const double bound = activation_error_bound<TestType>() * w_norm * norm(std::span(x).subspan(t * cols, cols));
            CHECK(std::fabs(actual[t * rows + o] - ideal[t * rows + o]) <= bound);
          }
        }
      }
    }
  }
}

// A dot kernel's tile<R, N> gives each row and token the bits tile<1, 1> gives it, so the number
// of rows a decode call takes (`decode_rows_per_call`, a tuning choice that went opposite ways on
// an Intel and a Zen 5 VM) can change for any format without changing a result. The matmul test
// above reaches R > 1 only for formats whose decode takes several rows; this reaches every kernel.
TEMPLATE_TEST_CASE("zen5 dot kernels give a row the same bits whatever rows and tokens share its call", "[device][zen5]",
                   f32_format, f16_format, bf16_format, q8_0_format, q4_0_format, mxfp4_format, q4_k_format, q5_k_format,
                   q6_k_format, iq4_xs_format) {
  if (!testing::zen5_cpu_ready()) return;
  using kernel = zen5_kernels::dot_kernel<TestType>;
  using activations = typename kernel::activations;
  constexpr std::size_t rows = 3, tokens = 2;
  const std::size_t cols = TestType::block_size == 1 ? 1003 : 37 * TestType::block_size;  // vector and block tails
  const testing::quantized_matrix<TestType> w(rows, cols, 5);
  const auto x = testing::gaussian(tokens * cols, 9);
  const std::size_t stride = activations::bytes(cols) / sizeof(std::max_align_t) + 1;
  std::vector<std::max_align_t> storage(tokens * stride);
  typename activations::view views[tokens];
  for (std::size_t t = 0; t < tokens; ++t) {
    auto* bytes = reinterpret_cast<std::byte*>(storage.data() + t * stride);
    activations::fill(std::span<const float>(x.data() + t * cols, cols), bytes);
    views[t] = activations::at(bytes, cols);
  }
  const auto* weights = w.view().row(0).data();
  const std::size_t blocks = w.view().blocks_per_row();
  float alone[rows][tokens];
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t t = 0; t < tokens; ++t) kernel::template tile<1, 1>(weights + r * blocks, blocks, &views[t], blocks, &alone[r][t]);
  }
  const auto check = [&]<std::size_t R, std::size_t N>() {
    float out[R * N];
    kernel::template tile<R, N>(weights, blocks, views, blocks, out);
    for (std::size_t r = 0; r < R; ++r) {
      for (std::size_t t = 0; t < N; ++t) {
        INFO(name_of(TestType::type) << ": tile<" << R << ", " << N << ">, row " << r << ", token " << t);
        CHECK(std::memcmp(&out[r * N + t], &alone[r][t], sizeof(float)) == 0);
      }
    }
  };
  check.template operator()<1, 2>();
  check.template operator()<2, 1>();
  check.template operator()<3, 1>();
  check.template operator()<3, 2>();
}

// The vectorised activation quantizers must equal the scalar ones bit for bit (same scale, codes
// and sums), ties included: batch invariance and the "as the kernel sees" checks above rely on it.
// The groups' tasks cross group boundaries (33 rows per slice against tasks of 16), groups cross
// the token tile of 4, and q5_0 takes the reference rows split over the pool.
TEMPLATE_TEST_CASE("zen5 grouped matmul agrees with the maths on every group layout", "[device][zen5]", q8_0_format, q4_k_format,
                   bf16_format, iq4_xs_format, q5_0_format) {
  if (!testing::zen5_cpu_ready()) return;
  thread_pool pool(2);
  zen5 fast(pool);
  const std::size_t experts = 6, cols = std::max<std::size_t>(TestType::block_size, 32) * 3;
  for (std::size_t width : {1u, 33u}) {
    const testing::quantized_matrix<TestType> stack(experts * 2 * width, cols, static_cast<std::uint32_t>(width));
    for (const auto& sizes : testing::grouped_matmul_cases()) {
      for (std::size_t offset : {std::size_t{0}, width}) {
        const auto groups = testing::expert_groups(sizes, 2 * width, offset);
        std::size_t rows = 0;
        for (std::size_t n : sizes) rows += n;
        const auto x = testing::gaussian(rows * cols, static_cast<std::uint32_t>(rows + offset));
        std::vector<float> y(rows * width, NAN);
        fast.grouped_matmul(stack.view(), groups, matrix_view<const float>(x.data(), {rows, cols}),
                            matrix_view<float>(y.data(), {rows, width}));
        std::vector<float> seen = x;
        double bound = 1e-6;
        if constexpr (zen5_kernels::has_dot_kernel<TestType>) {
          seen = as_kernel_sees<TestType>(x, rows, cols);
          bound = activation_error_bound<TestType>();
        }
        INFO(name_of(TestType::type) << ": slices of " << width << " rows, " << rows << " activation rows, offset " << offset);
        testing::check_grouped_matmul(stack.view(), groups, width, x, seen, y, 1e-4, bound);
      }
    }
  }
}

TEST_CASE("zen5 activation quantizers equal the scalar quantizers bit for bit", "[device][zen5]") {
  if (!testing::zen5_cpu_ready()) return;
  const std::size_t n = 3 * 256;
  std::vector<std::vector<float>> rows;
  for (float sigma : {1e-3f, 1.0f, 1e6f}) rows.push_back(testing::gaussian(n, 7, sigma));
  rows.emplace_back(n, 0.0f);
  // amax 127 makes the scale exactly 1, so k + 0.5 is a tie in both directions of zero.
  std::vector<float> ties(n);
  for (std::size_t i = 0; i < n; ++i) ties[i] = (i % 32 == 0) ? 127.0f : static_cast<float>(static_cast<int>(i % 97) - 48) + 0.5f;
  rows.push_back(ties);
  for (const auto& x : rows) {
    std::vector<std::byte> q8_32(zen5_kernels::act_q8_32_row::bytes(n));
    zen5_kernels::quantize_act_q8_32(x, q8_32.data());
    const auto view = zen5_kernels::act_q8_32_row::at(q8_32.data(), n);
    for (std::size_t b = 0; b < n / 32; ++b) {
      std::int8_t codes[32];
      const float d = detail::quantize_int8_absmax(x.data() + 32 * b, 32, codes);
      std::int32_t sum = 0;
      for (std::int8_t c : codes) sum += c;
      CHECK(view.d[b] == d);
      CHECK(view.sum[b] == sum);
      CHECK(std::equal(codes, codes + 32, view.qs + 32 * b));
    }
    std::vector<zen5_kernels::act_q8_k_block> fast(n / 256);
    zen5_kernels::quantize_act_q8_k(x, fast.data());
    for (std::size_t b = 0; b < n / 256; ++b) {
      block_q8_k expected;
      q8_k_format::quantize(x.data() + 256 * b, expected);
      CHECK(fast[b].d == expected.d);
      CHECK(std::equal(expected.qs, expected.qs + 256, fast[b].qs));
      for (int g = 0; g < 16; ++g) CHECK(fast[b].group_sums[g] == expected.d * static_cast<float>(expected.bsums[g]));
      for (int j = 0; j < 8; ++j) {
        CHECK(fast[b].sub_block_sums[j] == expected.d * static_cast<float>(expected.bsums[2 * j] + expected.bsums[2 * j + 1]));
      }
    }
  }
}

TEST_CASE("zen5 matmul handles empty shapes, zeros and huge values", "[device][zen5]") {
  if (!testing::zen5_cpu_ready()) return;
  thread_pool pool(2);
  zen5 fast(pool);
  reference oracle;
  const testing::quantized_matrix<q4_k_format> w(9, 512, 1);
  std::vector<float> y(9 * 3, 7.0f);
  fast.matmul(w.view(), matrix_view<const float>(nullptr, {0, 512}), matrix_view<float>(y.data(), {0, 9}));
  CHECK(y[0] == 7.0f);

  std::vector<float> zeros(3 * 512, 0.0f);
  fast.matmul(w.view(), matrix_view<const float>(zeros.data(), {3, 512}), matrix_view<float>(y.data(), {3, 9}));
  for (float v : y) CHECK(v == 0.0f);

  auto huge = testing::gaussian(3 * 512, 4, 1e6f);
  fast.matmul(w.view(), matrix_view<const float>(huge.data(), {3, 512}), matrix_view<float>(y.data(), {3, 9}));
  std::vector<float> expected(27);
  oracle.matmul(w.view(), matrix_view<const float>(huge.data(), {3, 512}), matrix_view<float>(expected.data(), {3, 9}));
  CHECK(testing::nmse(y, expected) < 1e-3);
}

// The K-quant kernels sum a block's products in 16- and 32-bit integers (vpmaddubsw, vpdpwssd):
// every code, scale and min at its largest (bytes 0xff: codes 15 / 31 / 63, 6-bit scales and mins
// 63; Q6_K's int8 scales at 127 and -128) against activations at ±127, all of one sign or
// alternating, must neither saturate nor overflow.
TEMPLATE_TEST_CASE("zen5 K-quant matmul is exact at the largest codes and activations", "[device][zen5]", q4_k_format, q5_k_format,
                   q6_k_format) {
  if (!testing::zen5_cpu_ready()) return;
  thread_pool pool(2);
  zen5 fast(pool);
  reference oracle;
  constexpr std::size_t rows = 2, cols = 3 * 256, tokens = 3;
  std::vector<typename TestType::block_type> blocks(rows * cols / 256);
  std::memset(static_cast<void*>(blocks.data()), 0xff, blocks.size() * sizeof(blocks[0]));
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    auto& block = blocks[b];
    block.d = f16::from_float(b % 2 == 0 ? 1.0f : -0.5f);
    if constexpr (std::is_same_v<TestType, q6_k_format>) {
      for (std::size_t g = 0; g < 16; ++g) block.scales[g] = static_cast<std::int8_t>((g + b) % 2 == 0 ? 127 : -128);
    } else {
      block.dmin = f16::from_float(0.25f);
    }
  }
  const quantized_view<TestType> w{std::as_bytes(std::span(blocks)), rows, cols, "extreme weights"};
  std::vector<float> x(tokens * cols);
  for (std::size_t i = 0; i < cols; ++i) {
    x[i] = 3.0f;
    x[cols + i] = -1e6f;
    x[2 * cols + i] = i % 2 == 0 ? 2.0f : -2.0f;
  }
  std::vector<float> actual(tokens * rows), exact(tokens * rows);
  fast.matmul(w, matrix_view<const float>(x.data(), {tokens, cols}), matrix_view<float>(actual.data(), {tokens, rows}));
  const auto seen = as_kernel_sees<TestType>(x, tokens, cols);
  oracle.matmul(w, matrix_view<const float>(seen.data(), {tokens, cols}), matrix_view<float>(exact.data(), {tokens, rows}));
  std::vector<float> w_row(cols);
  for (std::size_t o = 0; o < rows; ++o) {
    w.dequantize_row(o, w_row);
    for (std::size_t t = 0; t < tokens; ++t) {
      INFO(name_of(TestType::type) << ": row " << o << ", token " << t << ": " << actual[t * rows + o] << " against " << exact[t * rows + o]);
      CHECK(std::fabs(actual[t * rows + o] - exact[t * rows + o]) <= 1e-6 * norm(w_row) * norm(std::span(seen).subspan(t * cols, cols)));
    }
  }
}

TEST_CASE("zen5 falls back to the reference matmul for formats without a fast kernel", "[device][zen5]") {
  if (!testing::zen5_cpu_ready()) return;
  thread_pool pool(2);
  zen5 fast(pool);
  reference oracle;
  STATIC_REQUIRE_FALSE(zen5_kernels::has_dot_kernel<q5_0_format>);
  const testing::quantized_matrix<q5_0_format> w(37, 96, 2);
  const auto x = testing::gaussian(5 * 96, 3);
  std::vector<float> actual(5 * 37);
  std::vector<float> expected(5 * 37);
  fast.matmul(w.view(), matrix_view<const float>(x.data(), {5, 96}), matrix_view<float>(actual.data(), {5, 37}));
  oracle.matmul(w.view(), matrix_view<const float>(x.data(), {5, 96}), matrix_view<float>(expected.data(), {5, 37}));
  CHECK(actual == expected);
  fast.matmul(w.view(), matrix_view<const float>(nullptr, {0, 96}), matrix_view<float>(actual.data(), {0, 37}));
}

TEST_CASE("zen5 row-wise kernels equal the reference ones", "[device][zen5]") {
  if (!testing::zen5_cpu_ready()) return;
  thread_pool pool(2);
  zen5 fast(pool);
  reference oracle;
  const std::size_t tokens = 13;
  const std::size_t width = 96;
  const auto x = testing::gaussian(tokens * width, 21);
  const auto w = testing::gaussian(width, 22);

  std::vector<float> a(x.size());
  std::vector<float> b(x.size());
  fast.rmsnorm(matrix_view<const float>(x.data(), {tokens, width}), w, norm_weight::one_plus, 1e-6f, matrix_view<float>(a.data(), {tokens, width}));
  oracle.rmsnorm(matrix_view<const float>(x.data(), {tokens, width}), w, norm_weight::one_plus, 1e-6f, matrix_view<float>(b.data(), {tokens, width}));
  CHECK(a == b);
  a = x;
  b = x;
  fast.rmsnorm_add(matrix_view<const float>(w.data(), {1, width}), w, norm_weight::plain, 1e-6f, 0.5f, matrix_view<float>(a.data(), {1, width}));
  oracle.rmsnorm_add(matrix_view<const float>(w.data(), {1, width}), w, norm_weight::plain, 1e-6f, 0.5f, matrix_view<float>(b.data(), {1, width}));
  fast.rmsnorm_add(matrix_view<const float>(x.data(), {tokens, width}), w, norm_weight::one_plus, 1e-6f, 1.0f, matrix_view<float>(a.data(), {tokens, width}));
  oracle.rmsnorm_add(matrix_view<const float>(x.data(), {tokens, width}), w, norm_weight::one_plus, 1e-6f, 1.0f, matrix_view<float>(b.data(), {tokens, width}));
  CHECK(a == b);

  a = x;
  b = x;
  std::vector<std::int32_t> positions(tokens);
  for (std::size_t t = 0; t < tokens; ++t) positions[t] = static_cast<std::int32_t>(1000 * t);
  std::vector<float> inv_freq(24);
  for (std::size_t j = 0; j < inv_freq.size(); ++j) inv_freq[j] = std::pow(10000.0f, -2.0f * static_cast<float>(j) / 48.0f);
  fast.rope(tensor_view<float, 3>(a.data(), {tokens, 2, 48}), positions, rope_frequencies{inv_freq});
  oracle.rope(tensor_view<float, 3>(b.data(), {tokens, 2, 48}), positions, rope_frequencies{inv_freq});
  CHECK(a == b);

  a = x;
  b = x;
  fast.softmax(matrix_view<float>(a.data(), {tokens, width}), 30.0f);
  oracle.softmax(matrix_view<float>(b.data(), {tokens, width}), 30.0f);
  CHECK(a == b);

  const testing::quantized_matrix<q6_k_format> table(20, 256, 5);
  const std::vector<std::int32_t> ids{19, 0, 3, 3, 7};
  std::vector<float> ea(5 * 256);
  std::vector<float> eb(5 * 256);
  fast.embedding(table.view(), ids, 0.5f, matrix_view<float>(ea.data(), {5, 256}));
  oracle.embedding(table.view(), ids, 0.5f, matrix_view<float>(eb.data(), {5, 256}));
  CHECK(ea == eb);
}
