// The zen5 Gated DeltaNet kernels against the reference ones: recurrent and chunked, head dims
// with and without 16-lane tails and past one 128-column block, value heads sharing key heads
// (grouped and tiled), lengths around the chunk size, chunk sizes 1, 7 and 64, a carried state,
// decays that underflow, and no tokens at all.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <strix/device/reference/reference.hpp>
#include <strix/device/zen5/zen5.hpp>

#include "device/zen5_test_support.hpp"
#include "linear/deltanet_test_support.hpp"

using namespace strix;
using namespace strix::testing;

namespace {

struct deltanet_shape {
  std::size_t key_heads, heads, dk, dv;
};

void compare(const deltanet_inputs& in, std::size_t chunk) {
  reference ref;
  thread_pool pool(3);
  zen5 fast(pool);
  const auto initial = gaussian(in.heads * in.dk * in.dv, 17, 0.3f);
  std::vector<float> state_ref = initial, out_ref(in.tokens * in.heads * in.dv, NAN);
  ref.deltanet_recurrent(in.args(state_ref, out_ref));
  INFO("tokens " << in.tokens << ", heads " << in.key_heads << "/" << in.heads << ", dk " << in.dk << ", dv " << in.dv);
  {
    std::vector<float> state = initial, out(out_ref.size(), NAN);
    fast.deltanet_recurrent(in.args(state, out));
    require_close(out, out_ref, 1e-4f);
    require_close(state, state_ref, 1e-4f);
  }
  {
    INFO("chunk " << chunk);
    std::vector<float> state = initial, out(out_ref.size(), NAN);
    fast.deltanet_chunked(in.args(state, out), chunk);
    require_close(out, out_ref, 1e-4f);
    require_close(state, state_ref, 1e-4f);
  }
}

}  // namespace

TEST_CASE("zen5 Gated DeltaNet kernels agree with reference", "[device][zen5][deltanet]") {
  if (!zen5_cpu_ready()) return;
  const deltanet_shape shapes[] = {{2, 4, 8, 12}, {1, 3, 20, 130}, {2, 2, 128, 128}, {1, 2, 5, 256}, {2, 6, 33, 17}};
  std::uint32_t seed = 1;
  for (const deltanet_shape& s : shapes) {
    for (std::size_t tokens : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{63}, std::size_t{64}, std::size_t{65},
                               std::size_t{130}}) {
      for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{64}}) {
        deltanet_inputs in(tokens, s.key_heads, s.heads, s.dk, s.dv, seed++);
        compare(in, chunk);
        if (s.heads > s.key_heads) {
          in.order = value_head_order::tiled;
          compare(in, chunk);
        }
      }
    }
  }
}

TEST_CASE("zen5 Gated DeltaNet: Qwen3.5 shapes, long chunks, decays that underflow", "[device][zen5][deltanet]") {
  if (!zen5_cpu_ready()) return;
  compare(deltanet_inputs(300, 2, 4, 128, 128, 5), 64);
  compare(deltanet_inputs(200, 1, 2, 64, 64, 6), 200);
  // g = -60 per token: exp(Γ) underflows to zero inside a chunk, and the state forgets completely.
  deltanet_inputs forgetful(150, 1, 2, 16, 24, 7);
  for (std::size_t i = 0; i < forgetful.g.size(); i += 3) forgetful.g[i] = -60.0f;
  compare(forgetful, 64);
}

TEST_CASE("zen5 Gated DeltaNet: a chunked prefill followed by decode steps carries the state", "[device][zen5][deltanet]") {
  if (!zen5_cpu_ready()) return;
  const deltanet_inputs in(90, 2, 4, 32, 48, 11);
  reference ref;
  thread_pool pool(2);
  zen5 fast(pool);
  std::vector<float> state_ref(4 * 32 * 48, 0.0f), out_ref(90 * 4 * 48);
  ref.deltanet_recurrent(in.args(state_ref, out_ref));
  std::vector<float> state(state_ref.size(), 0.0f), out(out_ref.size(), NAN);
  fast.deltanet_chunked(in.args(state, out, 0, 70), 32);
  for (std::size_t t = 70; t < 90; ++t) fast.deltanet_recurrent(in.args(state, out, t, 1));
  require_close(out, out_ref, 1e-4f);
  require_close(state, state_ref, 1e-4f);
}
