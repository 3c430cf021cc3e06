// The tiny Gemma 4 and Qwen3.5 fixture models on the hip policy against transformers' outputs
// (full prefill, prefill then decode, greedy continuation), within 2e-3 of the largest logit, in
// every memory mode the GPU allows, with small calls on the host (the default), on the GPU, and
// with results held on the GPU between calls. Built only with -DSTRIX_GPU=cuda or hip.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <strix/device/hip/hip.hpp>

#include "device/hip_test_support.hpp"
#include "fixture_runners.hpp"
#include "models/model_test_support.hpp"

using namespace strix;
using namespace strix::testing;

namespace {

constexpr float tolerance = 2e-3f;

// Every memory mode the GPU allows, each with the default dispatch (small calls on the host in
// copied mode), with every call on the GPU, and (copied, registered) with results held on the GPU
// between calls, checked: a block that touched a held result on the host without host_access()
// would read NaN or be refused.
std::vector<hip_options> model_test_options() {
  std::vector<hip_options> result;
  for (hip_memory_mode mode : testable_hip_modes()) {
    result.push_back({.memory = mode});
    result.push_back({.memory = mode, .host_call_max_values = 0});
    if (mode != hip_memory_mode::direct) result.push_back({.memory = mode, .resident_activations = true, .check_host_access = true});
  }
  return result;
}

void check_gemma4(const std::string& name) {
  for (const hip_options& options : model_test_options()) {
    hip_device dev(options);
    INFO(name << " on hip, " << to_string(options.memory) << ", host calls up to " << options.host_call_max_values << " values"
              << (options.resident_activations ? ", resident activations" : ""));
    check_against_transformers(dev, expected_run(name), [&] { return open_gemma4_runner<hip_device>(data_path(name.c_str())); }, 20,
                               tolerance);
    // The model offers its files' bytes: registered mode then uploads no weight.
    if (options.memory == hip_memory_mode::registered) CHECK(dev.uploaded_weight_bytes() == 0);
  }
}

void check_qwen35(const std::string& name) {
  for (const hip_options& options : model_test_options()) {
    hip_device dev(options);
    INFO(name << " on hip, " << to_string(options.memory) << ", host calls up to " << options.host_call_max_values << " values"
              << (options.resident_activations ? ", resident activations" : ""));
    check_against_transformers(dev, expected_run(name), [&] { return open_qwen35_runner<hip_device>(data_path(name.c_str()), 0); }, 30,
                               tolerance);
    // The model offers its files' bytes: registered mode then uploads no weight.
    if (options.memory == hip_memory_mode::registered) CHECK(dev.uploaded_weight_bytes() == 0);
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
