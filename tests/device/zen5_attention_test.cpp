// The zen5 attention kernel against the reference one over the same paged caches: the sweep of
// attention_test_support.hpp (every KV type, windows, GQA ratios, head dims with a 16-lane tail,
// block sizes, decode / verify / prefill rows, truncated and re-appended sequences, empty batch).
#include <catch2/catch.hpp>

#include <strix/device/zen5/zen5.hpp>

#include "attention/attention_test_support.hpp"
#include "device/zen5_test_support.hpp"

using namespace strix;
using namespace strix::testing;

TEST_CASE("zen5 attention agrees with reference on every KV type, window and shape", "[device][zen5][attention]") {
  if (!zen5_cpu_ready()) return;
  thread_pool pool(3);
  zen5 fast(pool);
  expect_attention_sweep_matches_reference(fast);
}

TEST_CASE("zen5 write_kv stores the reference's bytes", "[device][zen5][attention]") {
  if (!zen5_cpu_ready()) return;
  thread_pool pool(3);
  zen5 fast(pool);
  expect_write_kv_matches_reference(fast);
}
