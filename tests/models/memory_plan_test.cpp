// The memory planner against what the loaders and allocators actually reserve on the fixture
// models (exact), and against hand-computed KV figures for the released shapes.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <strix/device/reference/reference.hpp>
#include <strix/io/safetensors_reader.hpp>

#include "fixture_runners.hpp"
#include "models/model_files.hpp"
#include "models/memory_plan.hpp"
#include "models/presets.hpp"
#include "models/system_memory.hpp"
#include "test_data.hpp"

using namespace strix;
using namespace strix::models;
using namespace strix::testing;

namespace {

// What a loaded model's weights occupy, tallied from the matrices and vectors themselves.
template <class Weights>
weight_bytes tally(const Weights& w) {
  weight_bytes b;
  w.for_each_tensor([&](const weight_matrix& m) { if (m.rows() > 0) b.matrices_by_type[m.type()] += m.bytes().size(); },
                    [&](const std::vector<float>& v) { b.vectors += v.size() * sizeof(float); });
  return b;
}

void check_weights(const weight_bytes& planned, const weight_bytes& loaded) {
  CHECK(planned.matrices_by_type == loaded.matrices_by_type);
  // gemma4 keeps its layer scalar as a float, handed to for_each_tensor as a one-value vector.
  CHECK(planned.vectors == loaded.vectors);
}

template <class Model, class Cache, class Tokens>
void run_rows(Model& model, Cache& cache, const Tokens& tokens) {
  reference dev;
  const auto seq = cache.create().sequence;
  REQUIRE(cache.append(seq, tokens) == kv_status::ok);
  std::vector<std::int32_t> positions(tokens.size());
  for (std::size_t i = 0; i < positions.size(); ++i) positions[i] = static_cast<std::int32_t>(i);
  const sequence_rows rows{seq, 0, tokens.size()};
  std::vector<float> logits(model.config().vocab);
  model.forward(dev, tokens, positions, std::span(&rows, 1), cache, {logits.data(), {1, model.config().vocab}}, models::logit_rows::last());
}

std::vector<std::int32_t> prompt(std::size_t n) {
  std::vector<std::int32_t> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<std::int32_t>(3 + i % 97);
  return t;
}

}  // namespace

TEST_CASE("Gemma 4 plan equals what the loader and the cache reserve", "[models][plan]") {
  const std::vector<std::filesystem::path> models{data_path("gemma4-e-tiny"), data_path("gemma4-e-tiny-bf16"), data_path("gemma4-moe-tiny"),
                                                  std::filesystem::path(STRIX_TINY_CHAT_DIR) / "gemma4-tiny-chat.gguf"};
  for (const auto& path : models) {
    INFO(path.string());
    const gemma4_files files = open_gemma4(path);
    weight_census census(*files.source);
    (void)gemma4_weights::load(census, files.config);
    for (const kv_type kv : {kv_type::f16, kv_type::q8_0, kv_type::f32}) {
      for (const std::size_t context : {1, 16, 17, 100}) {
        for (const std::size_t sequences : {1, 3}) {
          const plan_options o{context, sequences, kv, 24, 5, false};
          const memory_plan plan = plan_gemma4(files.config, census, o);
          const kv_layout layout = gemma4_cache_layout(files.config, {kv, 16, sequences, 24, 5});
          if (sequences == 1) CHECK(plan.kv_bytes == layout.budget_for_context(context));
          CHECK(paged_kv_cache(layout, plan.kv_bytes).bytes_reserved() == plan.kv_bytes);
          // The planned KV holds `sequences` sequences of `context` tokens, and no block fewer would.
          paged_kv_cache cache(layout, plan.kv_bytes);
          for (std::size_t s = 0; s < sequences; ++s) {
            const kv_sequence_id seq = cache.create().sequence;
            const std::vector<std::int32_t> tokens = prompt(context);
            for (std::size_t at = 0; at < context; at += 24) {
              REQUIRE(cache.append(seq, std::span(tokens).subspan(at, std::min<std::size_t>(24, context - at))) == kv_status::ok);
            }
          }
          CHECK(plan.max_context(plan.total_bytes()) == (context + 15) / 16 * 16);
          CHECK(plan.max_context(plan.total_bytes() - 1) < context);
        }
      }
    }
    const gemma4_weights weights = gemma4_weights::load(*files.source, files.config);
    check_weights(census.bytes(), tally(weights));
    // Activations: the model's buffers after a forward of one chunk of rows.
    const plan_options o{64, 1, kv_type::f32, 24, 0, false};
    const memory_plan plan = plan_gemma4(files.config, census, o);
    gemma4<reference, 8, 16, 128> model(files.config, weights);
    const kv_layout layout = model.cache_layout({kv_type::f32, 16, 1, 24, 0});
    paged_kv_cache cache(layout, plan.kv_bytes);
    run_rows(model, cache, prompt(24));
    CHECK(model.activation_bytes() == plan.activation_bytes);
    CHECK(plan.logits_bytes == files.config.vocab * sizeof(float));
    CHECK(plan.workspace_bytes == 0);
    CHECK(plan_gemma4(files.config, census, {64, 1, kv_type::f32, 24, 0, true}).workspace_bytes ==
          24 * (census.bytes().max_row_length * sizeof(float) + 64));
  }
}

TEST_CASE("Gemma 4 plan: weights are the checkpoint's tensor bytes; decode reads all but the per-layer table", "[models][plan]") {
  for (const char* name : {"gemma4-e-tiny", "gemma4-e-tiny-bf16", "gemma4-moe-tiny"}) {
    INFO(name);
    const gemma4_files files = open_gemma4(data_path(name));
    weight_census census(*files.source);
    (void)gemma4_weights::load(census, files.config);
    const memory_plan plan = plan_gemma4(files.config, census, {});
    // Every tensor of the checkpoint is used once; bf16 norm vectors are counted at their f32 size.
    std::uint64_t file_bytes = 0, norm_growth = 0;
    const safetensors_file file = safetensors_file::open(data_path(name) / "model.safetensors");
    for (const auto& t : file.tensors()) {
      file_bytes += t.size_bytes();
      if (t.shape.size() == 1 && t.dtype == safetensors_dtype::bf16) norm_growth += t.size_bytes();
    }
    CHECK(plan.weights.total() == file_bytes + norm_growth);
    const gemma4_config& c = files.config;
    if (c.ple_width) {
      const std::uint64_t table = c.ple_vocab * c.layer_count() * c.ple_width * (std::string(name).ends_with("bf16") ? 2 : 4);
      CHECK(plan.decode_weight_bytes == plan.weights.matrices() - table + table / c.ple_vocab);
    }
    if (c.moe) {
      const std::uint64_t stacks = c.layer_count() * c.experts * 3 * c.moe_intermediate * c.hidden * 4;
      CHECK(plan.decode_weight_bytes == plan.weights.matrices() - stacks + stacks * c.top_k / c.experts);
    }
  }
  // gemma4-e-tiny in f16: layers 0, 1, 3 slide (2 kv heads × 32) and own KV, layer 2 is global
  // (2 × 64); layers 4 and 5 share. K and V, 2 bytes each.
  const gemma4_files files = open_gemma4(data_path("gemma4-e-tiny"));
  weight_census census(*files.source);
  (void)gemma4_weights::load(census, files.config);
  const memory_plan plan = plan_gemma4(files.config, census, {});
  CHECK(plan.kv_bytes_per_token_global == 2 * 2 * 64 * 2);
  CHECK(plan.kv_bytes_per_token_sliding == 3 * 2 * 2 * 32 * 2);
  CHECK(plan.kv_read_bytes(1000) == 1000 * 512 + 8 * 768);
  CHECK(plan.weights.matrices_by_type.size() == 1);
}

TEST_CASE("Qwen3.5 plan equals what the loader, the KV cache and the DeltaNet state reserve", "[models][plan]") {
  for (const char* name : {"qwen35-tiny", "qwen35-moe-tiny"}) {
    INFO(name);
    const hf_tensors tensors(data_path(name));
    const qwen35_config config = qwen35_config::from_json(tensors.config(), name);
    weight_census census(tensors);
    (void)qwen35_weights::load(census, config);
    const qwen35_weights weights = qwen35_weights::load(tensors, config);
    check_weights(census.bytes(), tally(weights));
    for (const std::size_t rollback : {0, 5}) {
      for (const std::size_t sequences : {1, 2}) {
        const plan_options o{40, sequences, kv_type::f16, 24, rollback, false};
        const memory_plan plan = plan_qwen35(config, census, o);
        const kv_cache_options options{kv_type::f16, 16, sequences, 24, rollback};
        qwen35_cache cache(config, options, plan.kv_bytes);
        CHECK(cache.kv().bytes_reserved() == plan.kv_bytes);
        CHECK(cache.states().bytes() == plan.recurrent_state_bytes);
      }
    }
    const memory_plan plan = plan_qwen35(config, census, {64, 1, kv_type::f32, 24, 0, false});
    qwen35<reference> model(config, weights);
    qwen35_cache cache(config, {kv_type::f32, 16, 1, 24, 0}, plan.kv_bytes);
    run_rows(model, cache, prompt(24));
    CHECK(model.activation_bytes() == plan.activation_bytes);
    // The live state a decoded token reads: S per value head and the conv tail, per DeltaNet layer.
    const deltanet_shape& s = config.linear;
    const auto linear = static_cast<std::uint64_t>(std::count(config.linear_layer.begin(), config.linear_layer.end(), true));
    CHECK(plan.recurrent_read_bytes == linear * (s.state_floats() + (s.conv_kernel - 1) * s.channels()) * sizeof(float));
  }
}

// The released shapes, by hand (architectures.md), with the allocator's sliding reserve: window +
// prefill step (512) + rollback (0) positions, rounded up to 16-token blocks, plus 2 blocks of
// misalignment.
TEST_CASE("Plans of the released shapes match hand-computed KV bytes", "[models][plan]") {
  auto plan_of = [](const char* preset, std::size_t context, kv_type kv) {
    const model_preset p = find_preset(preset);
    const gemma4_config c = gemma4_config::from_json(p.config, preset);
    weight_census census(tensor_naming::gguf, weight_scheme::named("q4_k_m"));
    (void)gemma4_weights::load(census, c);
    return plan_gemma4(c, census, {context, 1, kv, 512, 0, true});
  };
  // E4B: 24 layers own KV, 4 global (2 kv heads × 512) and 20 sliding (2 × 256), window 512.
  // f16: a global layer stores 2 (K, V) × 2 heads × 512 × 2 B = 4096 B per token; a sliding one 2048.
  // Sliding reserve: (512 + 512 − 1) / 16 + 2 = 65 blocks of 16 tokens.
  memory_plan e4b = plan_of("gemma4-e4b", 131072, kv_type::f16);
  CHECK(e4b.kv_bytes_per_token_global == 16384);
  CHECK(e4b.kv_bytes_per_token_sliding == 40960);
  CHECK(e4b.kv_bytes == 131072ull * 16384 + 65 * 16 * 40960);  // 2 GiB + 40.6 MiB
  CHECK(e4b.kv_read_bytes(131072) == 2147483648ull + 512 * 40960);  // architectures.md: 2 GiB + 20 MiB
  // q8_0: 34 bytes per 32 values, so a 512-value row is 544 B and a 256-value row 272 B.
  e4b = plan_of("gemma4-e4b", 131072, kv_type::q8_0);
  CHECK(e4b.kv_bytes_per_token_global == 4 * 2 * 2 * 544);
  CHECK(e4b.kv_bytes_per_token_sliding == 20 * 2 * 2 * 272);
  CHECK(e4b.kv_bytes == 131072ull * 8704 + 65 * 16 * 21760);
  // 26B-A4B: 30 layers, 5 global (K=V, 2 kv heads × 512; strix stores K and V both) and 25 sliding
  // (8 kv heads × 256), window 1024: (1024 + 512 − 1) / 16 + 2 = 97 reserve blocks.
  memory_plan a4b = plan_of("gemma4-26b-a4b", 32768, kv_type::f16);
  CHECK(a4b.kv_bytes_per_token_global == 5 * 2 * 2 * 512 * 2);
  CHECK(a4b.kv_bytes_per_token_sliding == 25 * 2 * 8 * 256 * 2);
  CHECK(a4b.kv_bytes == 32768ull * 20480 + 97 * 16 * 204800);
  a4b = plan_of("gemma4-26b-a4b", 32768, kv_type::q8_0);
  CHECK(a4b.kv_bytes == 32768ull * (5 * 2 * 2 * 544) + 97 * 16 * (25 * 2 * 8 * 272));
  // No recurrent state in Gemma 4.
  CHECK(a4b.recurrent_state_bytes == 0);
  // Qwen3.5-35B-A3B: 10 global layers (2 kv heads × 256) and 30 DeltaNet layers, each holding
  // S (32 value heads × 128 × 128 f32) and a conv tail of 3 × (2·16·128 + 32·128) f32.
  const model_preset q = find_preset("qwen35-35b-a3b");
  const qwen35_config qc = qwen35_config::from_json(q.config, q.name);
  weight_census census(tensor_naming::hugging_face, weight_scheme::named("q8_0"));
  (void)qwen35_weights::load(census, qc);
  const memory_plan qwen = plan_qwen35(qc, census, {262144, 1, kv_type::f16, 512, 0, true});
  CHECK(qwen.kv_bytes_per_token_global == 10 * 2 * 2 * 256 * 2);
  CHECK(qwen.kv_bytes == 262144ull * 20480);
  CHECK(qwen.recurrent_state_bytes == 30ull * (32 * 128 * 128 + 3 * 8192) * 4);
}

TEST_CASE("system_memory reads /proc/meminfo's fields in bytes", "[models][plan]") {
  const auto dir = std::filesystem::temp_directory_path();
  const auto meminfo = dir / "strix_meminfo", mode = dir / "strix_overcommit";
  std::ofstream(meminfo) << "MemTotal:       24000000 kB\nMemFree:  1 kB\nMemAvailable:   20000000 kB\nCommitLimit:    12000000 kB\n"
                            "Committed_AS:    2000000 kB\nHugepagesize:       2048 kB\n";
  std::ofstream(mode) << "2\n";
  const system_memory m = system_memory::read(meminfo.string(), mode.string());
  CHECK(m.total == 24000000ull * 1024);
  CHECK(m.available == 20000000ull * 1024);
  CHECK(m.commit_headroom() == 10000000ull * 1024);
  CHECK(m.huge_page == 2048 * 1024);
  CHECK(m.overcommit_mode == 2);
  CHECK(system_memory::read((dir / "no_such_meminfo").string(), mode.string()).known() == false);
  std::filesystem::remove(meminfo);
  std::filesystem::remove(mode);
}
