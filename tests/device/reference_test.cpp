// The reference policy against independent computations: naive dequantize-then-multiply, closed
// forms for norms, rotations and activations, and std::sort for selection.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <vector>

#include <strix/device/reference/reference.hpp>
#include <strix/kv/paged_kv_cache.hpp>
#include <strix/quant/formats.hpp>

#include "device/kernel_test_support.hpp"

using namespace strix;

TEMPLATE_TEST_CASE("reference matmul equals dequantize-then-multiply", "[device][reference]", f32_format, bf16_format,
                   q8_0_format, q4_k_format, q6_k_format, iq4_nl_format) {
  reference dev;
  for (std::size_t rows : {0u, 1u, 5u}) {
    for (std::size_t tokens : {0u, 1u, 70u}) {  // 70 crosses the 64-token accumulator tile
      const std::size_t cols = TestType::block_size * 3;
      const testing::quantized_matrix<TestType> w(rows, cols, 17);
      const auto x = testing::gaussian(tokens * cols, 5);
      std::vector<float> y(tokens * rows, -1.0f);
      dev.matmul(w.view(), matrix_view<const float>(x.data(), {tokens, cols}), matrix_view<float>(y.data(), {tokens, rows}));
      std::vector<float> expected(tokens * rows);
      std::vector<float> row(cols);
      for (std::size_t o = 0; o < rows; ++o) {
        w.view().dequantize_row(o, row);
        for (std::size_t t = 0; t < tokens; ++t) {
          float sum = 0;
          for (std::size_t i = 0; i < cols; ++i) sum += row[i] * x[t * cols + i];
          expected[t * rows + o] = sum;
        }
      }
      INFO(rows << " rows, " << tokens << " tokens");
      CHECK(testing::nmse(y, expected) < 1e-10);
    }
  }
}

TEMPLATE_TEST_CASE("reference grouped matmul multiplies each group's rows by its slice of the stack", "[device][reference]",
                   f32_format, q8_0_format, q4_k_format) {
  reference dev;
  const std::size_t experts = 6, width = 5, cols = TestType::block_size * 2;
  const testing::quantized_matrix<TestType> stack(experts * 2 * width, cols, 23);
  for (const auto& sizes : testing::grouped_matmul_cases()) {
    for (std::size_t offset : {0u, 5u}) {  // gate and up halves of a fused stack
      const auto groups = testing::expert_groups(sizes, 2 * width, offset);
      std::size_t rows = 0;
      for (std::size_t n : sizes) rows += n;
      const auto x = testing::gaussian(rows * cols, 9);
      std::vector<float> y(rows * width, NAN);
      dev.grouped_matmul(stack.view(), groups, matrix_view<const float>(x.data(), {rows, cols}), matrix_view<float>(y.data(), {rows, width}));
      testing::check_grouped_matmul(stack.view(), groups, width, x, x, y, 1e-6, 1e-6);
    }
  }
}

TEST_CASE("grouped matmul refuses groups that do not fit the stack or the activations", "[device][reference]") {
  reference dev;
  const testing::quantized_matrix<q8_0_format> stack(12, 64, 3);
  std::vector<float> x(3 * 64, 1.0f), y(3 * 4);
  const matrix_view<const float> xs(x.data(), {3, 64});
  const matrix_view<float> ys(y.data(), {3, 4});
  const std::vector<matmul_group> past_the_end{{0, 1}, {9, 2}};
  CHECK_THROWS_WITH(dev.grouped_matmul(stack.view(), past_the_end, xs, ys), Catch::Contains("group 1's weight rows [9, 13)"));
  const std::vector<matmul_group> too_few{{0, 1}, {8, 1}};
  CHECK_THROWS_WITH(dev.grouped_matmul(stack.view(), too_few, xs, ys), Catch::Contains("the groups hold 2 rows, the activations 3"));
  const std::vector<matmul_group> fits{{0, 1}, {8, 2}};
  CHECK_THROWS_WITH(dev.grouped_matmul(stack.view(), fits, matrix_view<const float>(x.data(), {3, 32}), ys),
                    Catch::Contains("activation rows of 32 values for weight rows of 64"));
  CHECK_NOTHROW(dev.grouped_matmul(stack.view(), fits, xs, ys));
}

TEST_CASE("reference embedding gathers and scales dequantized rows", "[device][reference]") {
  reference dev;
  const testing::quantized_matrix<q8_0_format> table(10, 64, 3);
  const std::vector<std::int32_t> tokens{7, 0, 7};
  std::vector<float> out(3 * 64);
  dev.embedding(table.view(), tokens, 2.0f, matrix_view<float>(out.data(), {3, 64}));
  std::vector<float> row(64);
  table.view().dequantize_row(7, row);
  for (std::size_t i = 0; i < 64; ++i) {
    CHECK(out[i] == row[i] * 2.0f);
    CHECK(out[128 + i] == row[i] * 2.0f);
  }
}

TEST_CASE("reference rmsnorm applies no weight, the weight, or one plus the weight", "[device][reference]") {
  reference dev;
  const std::vector<float> x{3.0f, 4.0f};
  const std::vector<float> w{0.5f, -1.0f};
  std::vector<float> y(2);
  const float inv_rms = 1.0f / std::sqrt(12.5f + 1e-6f);
  const matrix_view<const float> in(x.data(), {1, 2});
  const matrix_view<float> out(y.data(), {1, 2});
  dev.rmsnorm(in, w, norm_weight::none, 1e-6f, out);
  CHECK(y[0] == Approx(3.0f * inv_rms));
  dev.rmsnorm(in, w, norm_weight::plain, 1e-6f, out);
  CHECK(y[1] == Approx(-4.0f * inv_rms));
  dev.rmsnorm(in, w, norm_weight::one_plus, 1e-6f, out);
  CHECK(y[0] == Approx(1.5f * 3.0f * inv_rms));
  CHECK(y[1] == Approx(0.0f).margin(1e-7));
}

TEST_CASE("reference rmsnorm_add adds the normalised rows to the residual and scales the sum", "[device][reference]") {
  reference dev;
  const std::size_t tokens = 3, width = 37;
  const auto x = testing::gaussian(tokens * width, 41);
  const auto w = testing::gaussian(width, 42);
  const auto start = testing::gaussian(tokens * width, 43);
  for (const norm_weight kind : {norm_weight::none, norm_weight::plain, norm_weight::one_plus}) {
    for (const float scale : {1.0f, 0.25f}) {
      // The same as a norm into scratch, an addition and a scaling.
      std::vector<float> expected(x.size()), fused = start;
      dev.rmsnorm(matrix_view<const float>(x.data(), {tokens, width}), w, kind, 1e-6f, matrix_view<float>(expected.data(), {tokens, width}));
      dev.add(start, expected, expected);
      dev.scale(expected, scale);
      dev.rmsnorm_add(matrix_view<const float>(x.data(), {tokens, width}), w, kind, 1e-6f, scale, matrix_view<float>(fused.data(), {tokens, width}));
      CHECK(fused == expected);
    }
  }
  std::vector<float> residual(tokens * width);
  CHECK_THROWS_WITH(dev.rmsnorm_add(matrix_view<const float>(x.data(), {tokens, width}), w, norm_weight::plain, 1e-6f, 1.0f,
                                    matrix_view<float>(residual.data(), {tokens - 1, width})),
                    Catch::Contains("rmsnorm_add") && Catch::Contains("differ"));
  CHECK_THROWS_WITH(dev.rmsnorm_add(matrix_view<const float>(x.data(), {tokens, width}), std::span(w).first(5), norm_weight::plain, 1e-6f,
                                    1.0f, matrix_view<float>(residual.data(), {tokens, width})),
                    Catch::Contains("5 weights"));
}

TEST_CASE("reference rope rotates pairs j, j + rotary/2 and leaves the rest", "[device][reference]") {
  reference dev;
  // one token, one head of 6 dims; 4 rotary dims: pairs (0,2) and (1,3); dims 4,5 pass through
  std::vector<float> x{1, 2, 3, 4, 5, 6};
  const std::vector<float> inv_freq{static_cast<float>(M_PI / 2), 0.0f};
  const std::vector<std::int32_t> position{1};
  dev.rope(tensor_view<float, 3>(x.data(), {1, 1, 6}), position, rope_frequencies{inv_freq});
  CHECK(x[0] == Approx(-3.0f).margin(1e-6));  // (1, 3) rotated by 90°
  CHECK(x[2] == Approx(1.0f).margin(1e-6));
  CHECK(x[1] == 2.0f);                       // zero frequency: unrotated (Gemma's proportional RoPE)
  CHECK(x[3] == 4.0f);
  CHECK(x[4] == 5.0f);
  CHECK(x[5] == 6.0f);
}

TEST_CASE("reference activations match their closed forms", "[device][reference]") {
  reference dev;
  const std::vector<float> x{0.0f, 1.0f, -3.0f, 20.0f};
  std::vector<float> y(4);
  dev.apply_activation(activation::gelu_tanh, x, y);
  CHECK(y[0] == 0.0f);
  CHECK(y[1] == Approx(0.841192).epsilon(1e-5));
  CHECK(y[2] == Approx(-0.0036373).epsilon(1e-3));
  CHECK(y[3] == Approx(20.0f));
  dev.apply_activation(activation::silu, x, y);
  CHECK(y[1] == Approx(1.0 / (1.0 + std::exp(-1.0))));
  const std::vector<float> up{2.0f, 2.0f, 2.0f, 2.0f};
  dev.gated_activation(activation::silu, x, up, y);
  CHECK(y[1] == Approx(2.0 / (1.0 + std::exp(-1.0))));
  dev.apply_activation(activation::sigmoid, x, y);
  CHECK(y[0] == 0.5f);
  CHECK(y[2] == Approx(1.0 / (1.0 + std::exp(3.0))));
  CHECK(y[3] == Approx(1.0f));
}

TEST_CASE("reference softmax normalises rows, honours the soft-cap and propagates NaN", "[device][reference]") {
  reference dev;
  std::vector<float> rows{1.0f, 2.0f, 3.0f, -INFINITY, 1000.0f, 1000.0f, 0.0f, NAN};
  dev.softmax(matrix_view<float>(rows.data(), {2, 4}), 0.0f);
  CHECK(rows[0] + rows[1] + rows[2] == Approx(1.0f));
  CHECK(rows[3] == 0.0f);
  CHECK(rows[2] / rows[1] == Approx(std::exp(1.0f)));
  CHECK(std::isnan(rows[4]));
  std::vector<float> capped{100.0f, 0.0f};
  dev.softmax(matrix_view<float>(capped.data(), {1, 2}), 30.0f);
  CHECK(capped[0] / capped[1] == Approx(std::exp(30.0f * std::tanh(100.0f / 30.0f))).epsilon(1e-4));
  std::vector<float> logits{60.0f, -60.0f};
  dev.softcap(logits, 30.0f);
  CHECK(logits[0] == Approx(30.0f * std::tanh(2.0f)));
}

TEST_CASE("reference copy moves rows between strided views and refuses another shape", "[device][reference]") {
  reference dev;
  std::vector<float> heads{1, 2, 3, 4, 5, 6, 7, 8};  // 4 heads of 2: take each head's first value
  std::vector<float> firsts(4, -1.0f);
  dev.copy(matrix_view<const float>(heads.data(), {4, 1}, {2, 1}), matrix_view<float>(firsts.data(), {4, 1}));
  CHECK(firsts == std::vector<float>{1, 3, 5, 7});
  CHECK_THROWS_AS(dev.copy(matrix_view<const float>(heads.data(), {2, 4}), matrix_view<float>(firsts.data(), {4, 1})), error);
  // The host-access part of the contract has nothing to do on the CPU.
  dev.host_access(heads);
  dev.synchronize();
  dev.discard_activations();
  CHECK(heads[7] == 8.0f);
}

TEST_CASE("reference argmax and top-k agree with sorting, ties to the lower index, NaN last", "[device][reference]") {
  reference dev;
  auto x = testing::gaussian(1000, 9);
  x[10] = x[500] = 100.0f;  // a tie
  x[3] = NAN;
  CHECK(dev.argmax(x) == 10);
  std::vector<std::int32_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    if (std::isnan(x[a]) != std::isnan(x[b])) return std::isnan(x[b]);
    return x[a] > x[b];
  });
  for (std::size_t k : {1u, 8u, 1000u}) {
    std::vector<std::int32_t> indices(k);
    std::vector<float> values(k);
    dev.top_k(matrix_view<const float>(x.data(), {1, x.size()}), matrix_view<std::int32_t>(indices.data(), {1, k}),
              matrix_view<float>(values.data(), {1, k}));
    CHECK(std::equal(indices.begin(), indices.end(), order.begin()));
  }
  const std::vector<float> nans{NAN, NAN};
  CHECK(dev.argmax(nans) == 0);

  // Row by row: 250 rows of 4 (x as a matrix) give each row's best 2.
  std::vector<std::int32_t> indices(500);
  std::vector<float> values(500);
  dev.top_k(matrix_view<const float>(x.data(), {250, 4}), matrix_view<std::int32_t>(indices.data(), {250, 2}),
            matrix_view<float>(values.data(), {250, 2}));
  for (std::size_t r = 0; r < 250; ++r) {
    std::vector<std::int32_t> row_indices(2);
    std::vector<float> row_values(2);
    reference_kernels::top_k(std::span<const float>(x).subspan(4 * r, 4), row_indices, row_values);
    CHECK((indices[2 * r] == row_indices[0] && indices[2 * r + 1] == row_indices[1]));
  }
  CHECK_THROWS_AS(dev.top_k(matrix_view<const float>(x.data(), {250, 4}), matrix_view<std::int32_t>(indices.data(), {100, 5}),
                            matrix_view<float>(values.data(), {100, 5})),
                  error);
}

TEST_CASE("reference write_kv puts each row's heads into its slot and refuses rows that do not fit", "[device][reference]") {
  kv_cache_options options;
  options.block_size = 4;
  options.type = kv_type::f32;
  const kv_layout layout({{2, 3, 0}}, options);
  paged_kv_cache cache(layout, layout.budget_for_context(16));
  const kv_layer_view view = cache.layer_view(0);
  std::vector<float> k(12), v(12);
  std::iota(k.begin(), k.end(), 1.0f);
  std::iota(v.begin(), v.end(), 101.0f);
  const std::vector<kv_row_slot> slots{{1, 3}, {0, 0}};
  // What plan_write lists for these rows: each block, its first slot written and how many.
  const auto blocks_of = [](const std::vector<kv_row_slot>& targets) {
    std::vector<kv_block_write> blocks;
    for (const kv_row_slot& target : targets) blocks.push_back({target.block, target.slot, 1, 0, 1});
    return blocks;
  };
  reference dev;
  dev.write_kv({view, slots, blocks_of(slots), matrix_view<const float>(k.data(), {2, 6}), matrix_view<const float>(v.data(), {2, 6})});
  for (std::size_t row = 0; row < 2; ++row) {
    for (std::size_t head = 0; head < 2; ++head) {
      const auto* key = reinterpret_cast<const float*>(view.k_rows(slots[row].block, head) + slots[row].slot * view.row_bytes);
      const auto* value = reinterpret_cast<const float*>(view.v_rows(slots[row].block, head) + slots[row].slot * view.row_bytes);
      for (std::size_t d = 0; d < 3; ++d) {
        CHECK(key[d] == k[row * 6 + head * 3 + d]);
        CHECK(value[d] == v[row * 6 + head * 3 + d]);
      }
    }
  }
  const auto refused = [&](std::vector<kv_row_slot> targets, std::size_t width, std::vector<kv_block_write> blocks) {
    CHECK_THROWS_AS(dev.write_kv({view, targets, blocks, matrix_view<const float>(k.data(), {2, width}), matrix_view<const float>(v.data(), {2, width})}),
                    error);
  };
  const auto past = static_cast<kv_block_id>(view.blocks);
  refused({{0, 0}, {0, 1}}, 5, blocks_of({{0, 0}, {0, 1}}));              // rows narrower than the heads
  refused({{0, 0}}, 6, blocks_of({{0, 0}}));                              // one slot for two rows
  refused({{0, 0}, {0, 4}}, 6, blocks_of({{0, 0}, {0, 4}}));              // past the block's slots
  refused({{0, 0}, {past, 0}}, 6, blocks_of({{0, 0}, {past, 0}}));        // past the cache's blocks
  refused(slots, 6, {});                                                  // no written blocks listed
  refused(slots, 6, {{1, 3, 1, 0, 1}, {0, 0, 2, 0, 1}});                  // the blocks take 3 rows, not 2
  refused(slots, 6, {{1, 3, 1, 0, 1}, {past, 0, 1, 0, 1}});               // a listed block past the cache
}
