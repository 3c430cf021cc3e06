// The Qwen3.5 model against transformers' Qwen3_5ForCausalLM and Qwen3_5MoeForCausalLM on tiny
// random models (tests/fixtures/make_qwen35_fixtures.py: 3 Gated DeltaNet layers and 1 gated
// attention layer, an 80-token prompt across the 64-token DeltaNet chunk): logits, incremental
// decode, the 16-token greedy continuation, and rollback of the whole model (KV cache and DeltaNet
// states at once) to every position of a 40-token sequence; the same models converted to GGUF as
// llama.cpp lays Qwen3.5 out (F32 and Q8_0) and loaded back, and a hostile A in such a file.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <strix/device/reference/reference.hpp>
#if STRIX_TEST_ZEN5
#include <strix/device/zen5/zen5.hpp>

#include "device/zen5_test_support.hpp"
#endif

#include "device/kernel_test_support.hpp"
#include "models/gguf_tensors.hpp"
#include "models/hf_tensors.hpp"
#include "models/model_test_support.hpp"
#include "models/qwen35.hpp"
#include "models/qwen35_gguf.hpp"
#include "models/sequence_runner.hpp"
#include "fixture_runners.hpp"

using namespace strix;
using namespace strix::models;
using namespace strix::testing;

namespace {

template <class Device>
qwen35_runner<Device> open_runner(const std::string& name, std::size_t max_rollback) {
  return open_qwen35_runner<Device>(data_path(name.c_str()), max_rollback);
}

template <class Device>
void check_model(Device& dev, const std::string& name, float relative) {
  INFO(name << " on " << Device::name);
  check_against_transformers(dev, expected_run(name), [&] { return open_runner<Device>(name, 0); }, 30, relative);
}

}  // namespace

TEST_CASE("Qwen3.5 dense matches transformers", "[models][qwen35]") {
  reference ref;
  check_model(ref, "qwen35-tiny", 1e-4f);
}

TEST_CASE("Qwen3.5 MoE (per-expert tensors, shared expert) matches transformers", "[models][qwen35]") {
  reference ref;
  check_model(ref, "qwen35-moe-tiny", 1e-4f);
}

#if STRIX_TEST_ZEN5
TEST_CASE("Qwen3.5 dense and MoE on zen5 match transformers", "[models][qwen35]") {
  if (!zen5_cpu_ready()) return;
  thread_pool pool(2);
  zen5 fast(pool);
  check_model(fast, "qwen35-tiny", 1e-3f);
  check_model(fast, "qwen35-moe-tiny", 1e-3f);
}
#endif

TEST_CASE("Qwen3.5 rolls back to every position of a 40-token sequence exactly", "[models][qwen35][rollback]") {
  reference ref;
  const expected_run e("qwen35-tiny");
  for (std::size_t back_to = 0; back_to <= 40; ++back_to) {
    INFO("rolled back to " << back_to);
    auto s = open_runner<reference>("qwen35-tiny", 40);
    s.run(ref, std::span(e.tokens).first(40), true);
    REQUIRE(s.cache().truncate(s.sequence(), back_to) == kv_status::ok);
    std::vector<float> logits;
    for (std::size_t t = back_to; t < back_to + 4; ++t) {
      const auto row = s.run(ref, std::span(e.tokens).subspan(t, 1), true);
      logits.insert(logits.end(), row.begin(), row.end());
    }
    require_rows_near(logits, e, back_to, 1e-4f);
  }
  // Without room to roll back, a truncate changes neither cache.
  auto s = open_runner<reference>("qwen35-tiny", 0);
  s.run(ref, std::span(e.tokens).first(10), true);
  REQUIRE(s.cache().truncate(s.sequence(), 5) == kv_status::rollback_too_deep);
  REQUIRE(s.cache().length(s.sequence()) == 10);
  require_rows_near(s.run(ref, std::span(e.tokens).subspan(10, 1), true), e, 10, 1e-4f);
}

namespace {

// `name` converted to GGUF in a temporary file of its own (test cases run in parallel processes).
std::filesystem::path converted(const char* name, ggml_type type, const std::string& test) {
  const models::qwen35_files files = open_qwen35(data_path(name));
  const auto path = std::filesystem::temp_directory_path() / ("strix-" + test + "-" + name + "-" + std::string(name_of(type)) + ".gguf");
  std::size_t reported = 0;
  write_qwen35_gguf(*files.source, files.config, type, path, [&](std::size_t done, std::size_t) { reported = done; });
  REQUIRE(reported > 0);
  return path;
}

}  // namespace

TEST_CASE("Qwen3.5 converted to GGUF (F32, Q8_0) loads as llama.cpp lays it out and matches transformers", "[models][qwen35][gguf]") {
  reference ref;
  for (const char* name : {"qwen35-tiny", "qwen35-moe-tiny"}) {
    INFO(name);
    const expected_run e(name);
    const auto f32_path = converted(name, ggml_type::f32, "roundtrip"), q8_path = converted(name, ggml_type::q8_0, "roundtrip");
    const gguf_tensors f32_file(f32_path), q8_file(q8_path);
    // The layout llama.cpp reads: norms as 1 + w, A = −exp(A_log), value heads tiled.
    const models::qwen35_config c = qwen35_config_from_gguf(f32_file.file());
    REQUIRE(c.linear.order == value_head_order::tiled);
    const std::string architecture = c.moe ? "qwen35moe" : "qwen35";
    REQUIRE(f32_file.file().get<std::string>("general.architecture") == architecture);
    REQUIRE(f32_file.file().get_integer(architecture + ".full_attention_interval") == 4);
    const hf_tensors hf(data_path(name));
    const auto a_log = hf.vector("model.layers.0.linear_attn.A_log", c.linear.value_heads);
    const auto ssm_a = f32_file.vector("blk.0.ssm_a", c.linear.value_heads);
    const std::size_t per_key = c.linear.value_heads / c.linear.key_heads;
    for (std::size_t p = 0; p < c.linear.value_heads; ++p) {
      REQUIRE(ssm_a[p] == -std::exp(a_log[p % c.linear.key_heads * per_key + p / c.linear.key_heads]));
    }
    const auto norm = hf.vector("model.layers.0.input_layernorm.weight", c.hidden);
    REQUIRE(f32_file.vector("blk.0.attn_norm.weight", c.hidden)[3] == 1.0f + norm[3]);

    {
      INFO("F32");
      auto s = open_qwen35_runner<reference>(f32_path, 0);
      REQUIRE(s.model().config().layer_count() == 4);
      require_all_rows_near(s.run(ref, e.tokens, true), e, 1e-4f);
#if STRIX_TEST_ZEN5
      if (zen5_cpu_ready()) {
        // The zen5 DeltaNet kernels on tiled heads, incremental decode included.
        thread_pool pool(2);
        zen5 fast(pool);
        check_against_transformers(fast, e, [&] { return open_qwen35_runner<zen5>(f32_path, 0); }, 30, 1e-3f);
      }
#endif
    }
    {
      INFO("Q8_0");
      // Every tensor of the Q8_0 file holds the F32 file's values up to Q8_0's rounding (those
      // whose rows are not a multiple of 32 stay F32, exactly).
      std::size_t quantized = 0;
      for (const gguf_tensor_info& t : q8_file.file().tensors()) {
        INFO(t.name);
        const auto values = q8_file.vector(t.name, static_cast<std::size_t>(t.element_count()));
        const auto exact = f32_file.vector(t.name, static_cast<std::size_t>(t.element_count()));
        if (t.type == ggml_type::q8_0) {
          ++quantized;
          CHECK(nmse(values, exact) < 1e-4);
        } else {
          CHECK(values == exact);
        }
      }
      CHECK(quantized > 8);
      // End to end, most positions move by the quantization error, but these random tiny models
      // amplify it — through the DeltaNet states, and in the MoE model through top-2 routings that
      // are near ties and flip (single rows then move by 0.3–1.6). Measured median row nmse: dense
      // 3e-3, MoE 0.02; bound 0.05, where a wrong layout, head order or norm offset gives ~1.
      auto s = open_qwen35_runner<reference>(q8_path, 0);
      const auto logits = s.run(ref, e.tokens, true);
      std::vector<double> row_nmse;
      for (std::size_t r = 0; r < e.tokens.size(); ++r) {
        const auto first = static_cast<std::ptrdiff_t>(r * e.vocab()), last = first + static_cast<std::ptrdiff_t>(e.vocab());
        row_nmse.push_back(nmse(std::vector<float>(logits.begin() + first, logits.begin() + last),
                                std::vector<float>(e.logits.begin() + first, e.logits.begin() + last)));
      }
      std::nth_element(row_nmse.begin(), row_nmse.begin() + static_cast<std::ptrdiff_t>(row_nmse.size() / 2), row_nmse.end());
      CHECK(row_nmse[row_nmse.size() / 2] < 0.05);
    }
    std::filesystem::remove(f32_path);
    std::filesystem::remove(q8_path);
  }
}

TEST_CASE("Qwen3.5 GGUF with a positive A names the tensor", "[models][qwen35][gguf]") {
  const auto path = converted("qwen35-tiny", ggml_type::f32, "hostile");
  {
    const gguf_file f = gguf_file::open(path);
    const gguf_tensor_info& t = f.tensor("blk.1.ssm_a");
    const float positive = 0.5f;
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(f.data_offset() + t.offset + sizeof(float)));
    file.write(reinterpret_cast<const char*>(&positive), sizeof positive);
  }
  try {
    (void)open_qwen35_runner<reference>(path, 0);
    FAIL("a positive A was accepted");
  } catch (const error& e) {
    CHECK_THAT(e.what(), Catch::Contains("blk.1.ssm_a") && Catch::Contains("negative"));
  }
  std::filesystem::remove(path);
}
