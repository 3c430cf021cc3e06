// The zen5 element-wise kernels against reference: every activation, the gated product and the
// soft-cap, on lengths around the 16-lane vector and the pool's task size, with values where exp
// and tanh saturate.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <strix/device/reference/reference.hpp>
#include <strix/device/zen5/zen5.hpp>

#include "device/zen5_test_support.hpp"
#include "test_data.hpp"

using namespace strix;
using namespace strix::testing;

namespace {

std::vector<float> inputs(std::size_t n, std::uint32_t seed) {
  auto x = gaussian(n, seed, 4.0f);
  const float extremes[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 88.0f, -88.0f, 100.0f, -100.0f, 1e4f, -1e4f};
  for (std::size_t i = 0; i < n; i += 7) x[i] = extremes[(i / 7) % 10];
  return x;
}

void require_close(const std::vector<float>& actual, const std::vector<float>& expected) {
  REQUIRE(actual.size() == expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) {
    INFO("element " << i);
    REQUIRE(std::abs(actual[i] - expected[i]) <= 1e-6f + 1e-5f * std::abs(expected[i]));
  }
}

}  // namespace

TEST_CASE("zen5 activations, gated products and soft-cap agree with reference", "[device][zen5][pointwise]") {
  if (!zen5_cpu_ready()) return;
  reference ref;
  thread_pool pool(3);
  zen5 fast(pool);
  for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 1000u, 16385u, 40000u}) {
    INFO("length " << n);
    const auto x = inputs(n, static_cast<std::uint32_t>(n) + 1), up = inputs(n, static_cast<std::uint32_t>(n) + 2);
    for (activation act : {activation::silu, activation::sigmoid, activation::gelu_tanh}) {
      INFO("activation " << static_cast<int>(act));
      std::vector<float> expected(n), actual(n, NAN);
      ref.apply_activation(act, x, expected);
      fast.apply_activation(act, x, actual);
      require_close(actual, expected);
      ref.gated_activation(act, x, up, expected);
      fast.gated_activation(act, x, up, actual);
      require_close(actual, expected);
      actual = up;  // in place over up, as the layers call it
      fast.gated_activation(act, x, actual, actual);
      require_close(actual, expected);
    }
    std::vector<float> expected = x, actual = x;
    ref.softcap(expected, 30.0f);
    fast.softcap(actual, 30.0f);
    require_close(actual, expected);
  }
}

TEST_CASE("zen5 row gather and weighted scatter-add agree with reference", "[device][zen5][pointwise]") {
  if (!zen5_cpu_ready()) return;
  reference ref;
  thread_pool pool(3);
  zen5 fast(pool);
  for (std::size_t cols : {1u, 17u, 64u, 2048u, 20000u}) {
    for (std::size_t n : {0u, 1u, 9u, 40u}) {
      INFO("cols " << cols << ", rows " << n);
      const std::size_t source_rows = 13;
      const auto x = gaussian(source_rows * cols, static_cast<std::uint32_t>(cols + n));
      std::vector<std::int32_t> rows;
      for (std::size_t i = 0; i < n; ++i) rows.push_back(static_cast<std::int32_t>((i * 7) % source_rows));  // repeats past 13
      const auto weights = gaussian(n, 3);
      std::vector<float> gathered_ref(n * cols), gathered(n * cols, NAN);
      ref.gather_rows({x.data(), {source_rows, cols}}, rows, {gathered_ref.data(), {n, cols}});
      fast.gather_rows({x.data(), {source_rows, cols}}, rows, {gathered.data(), {n, cols}});
      REQUIRE(gathered == gathered_ref);
      auto scattered_ref = gaussian(source_rows * cols, 4), scattered = scattered_ref;
      ref.scatter_add_rows({gathered.data(), {n, cols}}, rows, weights, {scattered_ref.data(), {source_rows, cols}});
      fast.scatter_add_rows({gathered.data(), {n, cols}}, rows, weights, {scattered.data(), {source_rows, cols}});
      require_close(scattered, scattered_ref);
    }
  }
}

TEST_CASE("zen5 top-k per row agrees with reference, rows split over the threads", "[device][zen5][pointwise]") {
  if (!zen5_cpu_ready()) return;
  reference ref;
  thread_pool pool(3);
  zen5 fast(pool);
  for (std::size_t rows : {0u, 1u, 7u, 512u}) {
    for (std::size_t k : {1u, 8u}) {
      INFO(rows << " rows, k " << k);
      auto x = gaussian(rows * 128, static_cast<std::uint32_t>(rows + k));
      if (rows > 1) x[130] = x[131] = 50.0f;  // a tie in row 1
      std::vector<std::int32_t> expected(rows * k), actual(rows * k, -1);
      std::vector<float> expected_values(rows * k), actual_values(rows * k);
      ref.top_k({x.data(), {rows, 128}}, {expected.data(), {rows, k}}, {expected_values.data(), {rows, k}});
      fast.top_k({x.data(), {rows, 128}}, {actual.data(), {rows, k}}, {actual_values.data(), {rows, k}});
      CHECK(actual == expected);
      CHECK(actual_values == expected_values);
    }
  }
}
