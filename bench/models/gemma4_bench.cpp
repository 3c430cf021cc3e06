// Gemma 4 end to end on the zen5 policy with random weights at real shapes, llama-bench style:
// prefill of 512 tokens and decode of 128 tokens after it, 2 threads, f16 KV.
//   e4b:      Gemma 4 E4B as architectures.md gives it (42 layers, hidden 2560, PLE 256, KV
//             shared by the last 18 layers, double-wide MLP there, window 512, vocab 262144);
//   26b-a4b:  Gemma 4 26B-A4B's layer shapes (hidden 2816, 128 experts × 704 top-8 beside a 2112
//             MLP, K=V full layers with 2 kv heads, window 1024), with 6 of its 30 layers (5
//             sliding, 1 full) so the weights fit this machine; per-layer figures scale by 5.
// Weights follow a Q4_K_M-like mix: Q4_K matrices, Q6_K for V, FFN-down and the tied embedding,
// Q8_0 where a row length is not a multiple of 256 (the 704- and 2112-wide down projections).
// Each tensor repeats one randomly quantized pattern at its own address (the bytes streamed are
// real). Decode is also given as the weight bytes it reads per token (every matrix but the
// embedding tables, of which one row is read, plus the tied output matrix, and for MoE only the 8
// routed experts) over the time, against the measured read bandwidth.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <strix/device/zen5/zen5.hpp>  // first: brings <immintrin.h> with GCC 12's false warnings silenced

#include <nlohmann/json.hpp>
#include <strix/quant/formats.hpp>

#include "common/bandwidth_probe.hpp"
#include "models/gemma4.hpp"

using namespace strix;
using namespace strix::models;
using strix::bench::bandwidth_for;

namespace {

// A weight_source of random quantized tensors, typed by name as a Q4_K_M-like mix.
class random_weights final : public weight_source {
 public:
  [[nodiscard]] tensor_naming naming() const noexcept override { return tensor_naming::gguf; }
  [[nodiscard]] bool has(const std::string&) const override { return true; }
  [[nodiscard]] std::shared_ptr<const void> owner() const noexcept override { return storage_; }

  [[nodiscard]] ggml_type type(const std::string& name) const override { return type_for(name, 256); }

  [[nodiscard]] weight_matrix matrix(const std::string& name, std::size_t rows, std::size_t cols) const override {
    const ggml_type t = type_for(name, cols);
    const auto& traits = traits_of(t);
    const std::size_t row_bytes = cols / traits.block_size * traits.block_bytes;
    auto& bytes = storage_->emplace_back(rows * row_bytes);
    const std::vector<std::byte>& pattern = pattern_for(t, cols);
    const std::size_t pattern_rows = pattern.size() / row_bytes;
    for (std::size_t r = 0; r < rows; ++r) std::memcpy(bytes.data() + r * row_bytes, pattern.data() + (r % pattern_rows) * row_bytes, row_bytes);
    return weight_matrix(t, bytes, rows, cols, name);
  }

  [[nodiscard]] std::vector<float> vector(const std::string& name, std::size_t size) const override {
    std::mt19937 rng(static_cast<std::uint32_t>(std::hash<std::string>{}(name)));
    std::normal_distribution<float> dist(1.0f, 0.1f);
    std::vector<float> v(size);
    for (float& x : v) x = dist(rng);
    return v;
  }

 private:
  static ggml_type type_for(const std::string& name, std::size_t cols) {
    const bool high = name.find("attn_v") != std::string::npos || name.find("ffn_down") != std::string::npos || name == "token_embd.weight";
    if (cols % 256 != 0) return ggml_type::q8_0;
    return high ? ggml_type::q6_k : ggml_type::q4_k;
  }
  const std::vector<std::byte>& pattern_for(ggml_type t, std::size_t cols) const {
    auto& p = patterns_[{t, cols}];
    if (!p.empty()) return p;
    constexpr std::size_t rows = 64;
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    std::vector<float> values(rows * cols);
    for (float& x : values) x = dist(rng);
    const auto& traits = traits_of(t);
    p.resize(rows * cols / traits.block_size * traits.block_bytes);
    visit_format(t, [&]<class Format>() {
      quantize_row<Format>(values, std::span(reinterpret_cast<typename Format::block_type*>(p.data()), rows * cols / Format::block_size));
    });
    return p;
  }

  std::shared_ptr<std::deque<std::vector<std::byte>>> storage_ = std::make_shared<std::deque<std::vector<std::byte>>>();
  mutable std::map<std::pair<ggml_type, std::size_t>, std::vector<std::byte>> patterns_;
};

nlohmann::json e4b_config() {
  std::vector<std::string> types;
  for (int i = 0; i < 42; ++i) types.push_back(i % 6 == 5 ? "full_attention" : "sliding_attention");
  return {{"model_type", "gemma4_text"}, {"vocab_size", 262144}, {"hidden_size", 2560}, {"intermediate_size", 10240},
          {"num_hidden_layers", 42}, {"num_attention_heads", 8}, {"num_key_value_heads", 2}, {"head_dim", 256},
          {"global_head_dim", 512}, {"sliding_window", 512}, {"layer_types", types}, {"num_kv_shared_layers", 18},
          {"use_double_wide_mlp", true}, {"hidden_size_per_layer_input", 256}, {"vocab_size_per_layer_input", 262144},
          {"final_logit_softcapping", 30.0}, {"rms_norm_eps", 1e-6}};
}

nlohmann::json a4b_config() {
  const std::vector<std::string> types{"sliding_attention", "sliding_attention", "sliding_attention",
                                       "sliding_attention", "sliding_attention", "full_attention"};
  return {{"model_type", "gemma4_text"}, {"vocab_size", 262144}, {"hidden_size", 2816}, {"intermediate_size", 2112},
          {"num_hidden_layers", 6}, {"num_attention_heads", 16}, {"num_key_value_heads", 8}, {"head_dim", 256},
          {"global_head_dim", 512}, {"num_global_key_value_heads", 2}, {"attention_k_eq_v", true}, {"sliding_window", 1024},
          {"layer_types", types}, {"enable_moe_block", true}, {"num_experts", 128}, {"top_k_experts", 8},
          {"moe_intermediate_size", 704}, {"hidden_size_per_layer_input", 0}, {"rms_norm_eps", 1e-6}};
}

// Weight bytes one decoded token reads: every matrix but the embedding tables (one row each) and
// the unrouted experts; the tied embedding once more as the output projection.
double decode_bytes(const gemma4_config& c, const gemma4_weights& w) {
  double bytes = 0;
  w.for_each_tensor([&](const weight_matrix& m) { bytes += static_cast<double>(m.rows() * m.row_bytes()); }, [](const std::vector<float>&) {});
  bytes -= static_cast<double>(w.ple_embed.rows() * w.ple_embed.row_bytes());
  for (const gemma4_layer_weights& l : w.layers) {
    if (c.moe) {
      const double stack = static_cast<double>(l.experts.gate_up->rows() * l.experts.gate_up->row_bytes() +
                                               l.experts.down.rows() * l.experts.down.row_bytes());
      bytes -= stack * (1.0 - static_cast<double>(c.top_k) / static_cast<double>(c.experts));
    }
  }
  return bytes;
}

// With `verify`: after the decode, the cost of one speculative verification pass over k + 1 tokens
// (all rows' logits, then the cache truncated back), k = 2, 4, 8, as a multiple of a decode step.
void run(benchmark::State& state, const nlohmann::json& json, bool verify = false) {
  const gemma4_config config = gemma4_config::from_json(json, "preset");
  random_weights source;
  gemma4_weights weights = gemma4_weights::load(source, config);
  const double read_per_token = decode_bytes(config, weights);
  gemma4<zen5, 512, 1024> model(config, std::move(weights));
  thread_pool pool(2);
  zen5 dev(pool);
  constexpr std::size_t prompt = 512, generated = 128;
  constexpr std::size_t max_verify = 9;
  const kv_layout layout = model.cache_layout({kv_type::f16, 16, 1, prompt, max_verify});
  std::vector<std::int32_t> tokens(prompt);
  std::mt19937 rng(1);
  for (auto& t : tokens) t = static_cast<std::int32_t>(rng() % config.vocab);
  std::vector<float> logits(config.vocab * max_verify);
  double prefill_s = 0, decode_s = 0;
  double verify_s[3] = {};
  constexpr std::size_t verify_ks[3] = {2, 4, 8};
  constexpr std::size_t verify_repeats = 8;
  for (auto _ : state) {
    paged_kv_cache cache(layout, layout.budget_for_context(prompt + generated + max_verify));
    const kv_sequence_id seq = cache.create().sequence;
    auto step = [&](std::span<const std::int32_t> part, bool all_rows = false) {
      const std::size_t first = cache.length(seq);
      if (cache.append(seq, part) != kv_status::ok) state.SkipWithError("KV append failed");
      std::vector<std::int32_t> positions(part.size());
      for (std::size_t i = 0; i < part.size(); ++i) positions[i] = static_cast<std::int32_t>(first + i);
      const sequence_rows rows{seq, 0, part.size()};
      const std::size_t n = all_rows ? part.size() : 1;
      model.forward(dev, part, positions, std::span(&rows, 1), cache, {logits.data(), {n, config.vocab}}, all_rows);
      return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.begin() + static_cast<std::ptrdiff_t>(config.vocab)) -
                                       logits.begin());
    };
    auto start = std::chrono::steady_clock::now();
    std::int32_t next = step(tokens);
    prefill_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    start = std::chrono::steady_clock::now();
    for (std::size_t n = 0; n < generated; ++n) next = step(std::span(&next, 1));
    decode_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!verify) continue;
    const std::size_t length = cache.length(seq);
    for (std::size_t i = 0; i < 3; ++i) {
      const std::vector<std::int32_t> drafts(verify_ks[i] + 1, next);
      start = std::chrono::steady_clock::now();
      for (std::size_t r = 0; r < verify_repeats; ++r) {
        step(drafts, true);
        if (cache.truncate(seq, length) != kv_status::ok) state.SkipWithError("truncate failed");
      }
      verify_s[i] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
  }
  const double iterations = static_cast<double>(state.iterations());
  state.counters["pp512_tok/s"] = prompt * iterations / prefill_s;
  state.counters["tg128_tok/s"] = generated * iterations / decode_s;
  state.counters["GB_per_token"] = read_per_token / 1e9;
  state.counters["decode_of_bw"] = read_per_token * generated * iterations / decode_s / bandwidth_for(2);
  if (verify) {
    const double decode_step = decode_s / (generated * iterations);
    for (std::size_t i = 0; i < 3; ++i) {
      state.counters["verify_k" + std::to_string(verify_ks[i]) + "_x_decode"] = verify_s[i] / (verify_repeats * iterations) / decode_step;
    }
  }
}

void BM_gemma4_e4b(benchmark::State& state) { run(state, e4b_config(), true); }
void BM_gemma4_26b_a4b_6_layers(benchmark::State& state) { run(state, a4b_config()); }
BENCHMARK(BM_gemma4_e4b)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
BENCHMARK(BM_gemma4_26b_a4b_6_layers)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
