// The zen5 attention kernel against the reference one over the same paged caches: every KV type,
// global and sliding windows smaller and larger than the sequences, GQA ratios, head dims with
// and without a 16-lane tail, block sizes 16 and 32, decode / verify / prefill rows, sequences cut
// back and re-appended, and an empty batch.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <strix/device/reference/reference.hpp>
#include <strix/device/zen5/zen5.hpp>

#include "attention/attention_test_support.hpp"
#include "device/zen5_test_support.hpp"

using namespace strix;
using namespace strix::testing;

namespace {

template <attention_window Window>
void compare(attention_shape shape, const std::vector<std::size_t>& lengths, const std::vector<std::size_t>& rows, float softcap) {
  shape.window = Window::size;
  auto s = make_scenario(shape, lengths, rows, static_cast<std::uint32_t>(shape.head_dim * 31 + lengths.size()));
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  std::vector<float> expected(s.q.size(), NAN), actual(s.q.size(), NAN);
  const tensor_view<float, 3> expected_view(expected.data(), {s.rows, shape.heads, shape.head_dim});
  const tensor_view<float, 3> actual_view(actual.data(), {s.rows, shape.heads, shape.head_dim});
  reference ref;
  thread_pool pool(3);
  zen5 fast(pool);
  ref.attention<Window>({s.queries(), expected_view, s.sequences, s.cache.layer_view(0), scale, softcap});
  fast.attention<Window>({s.queries(), actual_view, s.sequences, s.cache.layer_view(0), scale, softcap});
  INFO("type " << to_string(shape.type) << ", window " << Window::size << ", heads " << shape.heads << "/" << shape.kv_heads
               << ", dim " << shape.head_dim << ", block " << shape.block_size);
  // Outputs are convex combinations of value rows (|v| ≲ 5): absolute error at fp32 accumulation.
  for (std::size_t i = 0; i < expected.size(); ++i) REQUIRE(std::abs(actual[i] - expected[i]) <= 2e-5f);
}

}  // namespace

TEST_CASE("zen5 attention agrees with reference on every KV type, window and shape", "[device][zen5][attention]") {
  if (!zen5_cpu_ready()) return;
  const std::vector<std::size_t> lengths{1, 5, 37, 130, 300};
  const std::vector<std::size_t> rows{1, 4, 37, 1, 70};
  for (kv_type type : {kv_type::f32, kv_type::f16, kv_type::bf16, kv_type::q8_0, kv_type::q4_0}) {
    for (std::size_t block_size : {std::size_t{16}, std::size_t{32}}) {
      const bool quantized = type == kv_type::q8_0 || type == kv_type::q4_0;
      for (std::size_t dim : {quantized ? std::size_t{32} : std::size_t{20}, std::size_t{96}, std::size_t{256}}) {
        compare<global_attention>({4, 2, dim, 0, type, block_size}, lengths, rows, 0.0f);
        compare<sliding_window<7>>({8, 1, dim, 0, type, block_size}, lengths, rows, 0.0f);
        compare<sliding_window<64>>({6, 3, dim, 0, type, block_size}, lengths, rows, 30.0f);
        compare<sliding_window<1024>>({2, 2, dim, 0, type, block_size}, lengths, rows, 0.0f);
      }
    }
  }
}

TEST_CASE("zen5 attention at Gemma 4's global head dim and with an empty batch", "[device][zen5][attention]") {
  if (!zen5_cpu_ready()) return;
  compare<global_attention>({8, 2, 512, 0, kv_type::f16, 16}, {600, 3}, {1, 3}, 0.0f);
  compare<global_attention>({8, 2, 512, 0, kv_type::q8_0, 32}, {129}, {129}, 0.0f);
  compare<sliding_window<512>>({16, 8, 256, 0, kv_type::bf16, 16}, {700}, {64}, 0.0f);
  compare<global_attention>({4, 2, 32, 0, kv_type::f32, 16}, {}, {}, 0.0f);
}
