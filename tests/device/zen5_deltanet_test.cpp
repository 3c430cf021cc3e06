// The zen5 Gated DeltaNet kernels against the reference ones: the sweep of deltanet_test_support.hpp
// (recurrent and chunked, head dims with and without 16-lane tails and past one 128-column block,
// grouped and tiled value heads, lengths around the chunk size, a carried state, decays that
// underflow, a chunked prefill followed by decode steps, no tokens at all).
#include <catch2/catch.hpp>

#include <strix/device/zen5/zen5.hpp>

#include "device/zen5_test_support.hpp"
#include "linear/deltanet_test_support.hpp"

using namespace strix;
using namespace strix::testing;

TEST_CASE("zen5 Gated DeltaNet kernels agree with reference", "[device][zen5][deltanet]") {
  if (!zen5_cpu_ready()) return;
  thread_pool pool(3);
  zen5 fast(pool);
  expect_deltanet_sweep_matches_reference(fast);
}
