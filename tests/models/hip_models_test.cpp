// The tiny Gemma 4 and Qwen3.5 fixture models on the hip policy against transformers' outputs
// (full prefill, prefill then decode, greedy continuation), within 2e-3 of the largest logit, in
// every memory mode the GPU allows. Built only with -DSTRIX_GPU=cuda or hip.
#include <catch2/catch.hpp>

#include <string>

#include <strix/device/hip/hip.hpp>

#include "device/hip_test_support.hpp"
#include "fixture_runners.hpp"
#include "models/model_test_support.hpp"

using namespace strix;
using namespace strix::testing;

namespace {

constexpr float tolerance = 2e-3f;

void check_gemma4(const std::string& name) {
  for (hip_memory_mode mode : testable_hip_modes()) {
    hip_device dev(hip_options{0, mode});
    INFO(name << " on hip, " << to_string(mode));
    check_against_transformers(dev, expected_run(name), [&] { return open_gemma4_runner<hip_device>(data_path(name.c_str())); }, 20,
                               tolerance);
  }
}

void check_qwen35(const std::string& name) {
  for (hip_memory_mode mode : testable_hip_modes()) {
    hip_device dev(hip_options{0, mode});
    INFO(name << " on hip, " << to_string(mode));
    check_against_transformers(dev, expected_run(name), [&] { return open_qwen35_runner<hip_device>(data_path(name.c_str()), 0); }, 30,
                               tolerance);
  }
}

}  // namespace

TEST_CASE("Gemma 4 on the hip policy matches transformers", "[models][hip]") {
  check_gemma4("gemma4-e-tiny");
  check_gemma4("gemma4-e-tiny-bf16");
  check_gemma4("gemma4-moe-tiny");
}

TEST_CASE("Qwen3.5 on the hip policy matches transformers", "[models][hip]") {
  check_qwen35("qwen35-tiny");
  check_qwen35("qwen35-moe-tiny");
}
