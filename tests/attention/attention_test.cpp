#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <strix/attention/hybrid_attention.hpp>
#include <strix/attention/window.hpp>
#include <strix/device/reference/reference.hpp>

#include "attention/attention_test_support.hpp"

using namespace strix;
using namespace strix::testing;

namespace {

// Attention from its definition over the dense K/V a sequence ended with.
std::vector<float> dense_attention(const attention_scenario& s, float scale, float softcap) {
  const auto& shape = s.shape;
  const std::size_t group = shape.heads / shape.kv_heads;
  std::vector<float> out(s.q.size());
  for (std::size_t i = 0; i < s.sequences.size(); ++i) {
    const std::size_t length = s.sequences[i].kv.length;
    for (std::size_t r = 0; r < s.sequences[i].rows; ++r) {
      const std::size_t row = s.sequences[i].first_row + r;
      const std::size_t position = length - s.sequences[i].rows + r;
      const std::size_t first = shape.window != 0 && position + 1 > shape.window ? position + 1 - shape.window : 0;
      for (std::size_t h = 0; h < shape.heads; ++h) {
        const std::size_t kv_head = h / group;
        auto at = [&](const std::vector<float>& m, std::size_t p, std::size_t d) {
          return m[(p * shape.kv_heads + kv_head) * shape.head_dim + d];
        };
        std::vector<double> w;
        for (std::size_t p = first; p <= position; ++p) {
          double dot = 0;
          for (std::size_t d = 0; d < shape.head_dim; ++d) dot += s.q[(row * shape.heads + h) * shape.head_dim + d] * at(s.keys[i], p, d);
          dot *= scale;
          w.push_back(softcap != 0 ? softcap * std::tanh(dot / softcap) : dot);
        }
        const double max = *std::max_element(w.begin(), w.end());
        double sum = 0;
        for (double& x : w) sum += (x = std::exp(x - max));
        for (std::size_t d = 0; d < shape.head_dim; ++d) {
          double acc = 0;
          for (std::size_t p = first; p <= position; ++p) acc += w[p - first] / sum * at(s.values[i], p, d);
          out[(row * shape.heads + h) * shape.head_dim + d] = static_cast<float>(acc);
        }
      }
    }
  }
  return out;
}

template <attention_window Window>
std::vector<float> run_reference(attention_scenario& s, float scale, float softcap) {
  std::vector<float> out(s.q.size(), NAN);
  reference dev;
  dev.attention<Window>({s.queries(), {out.data(), {s.rows, s.shape.heads, s.shape.head_dim}}, s.sequences,
                         s.cache.layer_view(0), scale, softcap});
  return out;
}

void require_close(const std::vector<float>& actual, const std::vector<float>& expected, float tolerance) {
  REQUIRE(actual.size() == expected.size());
  for (std::size_t i = 0; i < actual.size(); ++i) REQUIRE(std::abs(actual[i] - expected[i]) <= tolerance);
}

template <attention_window Window>
void check_reference_against_definition(std::size_t heads, std::size_t kv_heads, std::size_t block_size) {
  attention_shape shape{heads, kv_heads, 20, Window::size, kv_type::f32, block_size};
  // Decode (1 row), a speculative verify (4 rows), a prefill (70 rows) and a fresh prompt.
  auto s = make_scenario(shape, {1, 37, 150, 70, 33}, {1, 4, 70, 70, 1}, 7);
  require_close(run_reference<Window>(s, 0.3f, 0.0f), dense_attention(s, 0.3f, 0.0f), 1e-5f);
  require_close(run_reference<Window>(s, 1.0f, 5.0f), dense_attention(s, 1.0f, 5.0f), 1e-5f);
}

}  // namespace

TEST_CASE("reference attention over the paged cache equals the definition", "[attention]") {
  for (std::size_t block_size : {std::size_t{16}, std::size_t{32}}) {
    check_reference_against_definition<global_attention>(4, 2, block_size);
    check_reference_against_definition<sliding_window<5>>(6, 3, block_size);
    check_reference_against_definition<sliding_window<40>>(8, 1, block_size);
    check_reference_against_definition<sliding_window<1>>(2, 2, block_size);
  }
}

TEST_CASE("with_window picks an instantiated width or names the supported ones", "[attention]") {
  CHECK(with_window<512, 1024>(1024, [](auto w) { return decltype(w)::size; }) == 1024);
  CHECK(with_window<512, 1024>(0, [](auto w) { return decltype(w)::size; }) == 0);
  auto size_of = [](auto w) { return decltype(w)::size; };
  CHECK_THROWS_WITH((with_window<512, 1024>(4096, size_of)),
                    Catch::Contains("4096") && Catch::Contains("supported: 0 (global), 512, 1024"));
}

namespace {

// A whole layer from its definition: per-head RMSNorm, rotate-half RoPE, attention, gate.
struct dense_layer {
  attention_config config;
  std::vector<float> q_norm, k_norm, inv_freq;

  void norm(float* x, const std::vector<float>& w, norm_weight kind) const {
    double ss = 0;
    for (std::size_t d = 0; d < config.head_dim; ++d) ss += static_cast<double>(x[d]) * x[d];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(config.head_dim) + config.norm_eps);
    for (std::size_t d = 0; d < config.head_dim; ++d) {
      const double scale = kind == norm_weight::none ? 1.0 : kind == norm_weight::plain ? w[d] : 1.0 + w[d];
      x[d] = static_cast<float>(x[d] * inv * scale);
    }
  }
  void rotate(float* x, std::size_t position) const {
    const std::size_t half = inv_freq.size();
    for (std::size_t j = 0; j < half; ++j) {
      const double angle = static_cast<double>(position) * inv_freq[j];
      const double a = x[j], b = x[j + half];
      x[j] = static_cast<float>(a * std::cos(angle) - b * std::sin(angle));
      x[j + half] = static_cast<float>(b * std::cos(angle) + a * std::sin(angle));
    }
  }
  // Projections of every position so far, [position][heads][dim]; outputs of the last `rows`.
  std::vector<float> run(std::vector<float> q, std::vector<float> k, std::vector<float> v, const std::vector<float>& gate,
                         std::size_t positions, std::size_t rows, std::size_t window) const {
    const std::size_t hd = config.head_dim, H = config.heads, KV = config.kv_heads;
    if (config.values_from_keys) v = k;
    for (std::size_t p = 0; p < positions; ++p) {
      for (std::size_t h = 0; h < KV; ++h) {
        float* kh = &k[(p * KV + h) * hd];
        if (config.qk_norm != norm_weight::none) norm(kh, k_norm, config.qk_norm);
        rotate(kh, p);
        if (config.value_norm) norm(&v[(p * KV + h) * hd], {}, norm_weight::none);
      }
      for (std::size_t h = 0; h < H; ++h) {
        float* qh = &q[(p * H + h) * hd];
        if (config.qk_norm != norm_weight::none) norm(qh, q_norm, config.qk_norm);
        rotate(qh, p);
      }
    }
    std::vector<float> out;
    for (std::size_t p = positions - rows; p < positions; ++p) {
      const std::size_t first = window != 0 && p + 1 > window ? p + 1 - window : 0;
      for (std::size_t h = 0; h < H; ++h) {
        const std::size_t kvh = h / (H / KV);
        std::vector<double> w;
        for (std::size_t j = first; j <= p; ++j) {
          double dot = 0;
          for (std::size_t d = 0; d < hd; ++d) dot += static_cast<double>(q[(p * H + h) * hd + d]) * k[(j * KV + kvh) * hd + d];
          w.push_back(dot * config.scale);
        }
        const double max = *std::max_element(w.begin(), w.end());
        double sum = 0;
        for (double& x : w) sum += (x = std::exp(x - max));
        for (std::size_t d = 0; d < hd; ++d) {
          double acc = 0;
          for (std::size_t j = first; j <= p; ++j) acc += w[j - first] / sum * v[(j * KV + kvh) * hd + d];
          if (config.output_gate) acc *= 1.0 / (1.0 + std::exp(-static_cast<double>(gate[(p * H + h) * hd + d])));
          out.push_back(static_cast<float>(acc));
        }
      }
    }
    return out;
  }
};

template <attention_window Window>
void check_layer(attention_config config, std::size_t rotary_half) {
  dense_layer dense{config, gaussian(config.head_dim, 11, 0.2f), gaussian(config.head_dim, 12, 0.2f), {}};
  for (std::size_t j = 0; j < rotary_half; ++j) {
    // Proportional-RoPE style: the last quarter of the frequencies are zero (left unrotated).
    dense.inv_freq.push_back(j < rotary_half * 3 / 4 ? std::pow(10000.0f, -2.0f * static_cast<float>(j) / static_cast<float>(2 * rotary_half)) : 0.0f);
  }
  const std::size_t total = 45;
  const std::size_t hd = config.head_dim;
  const auto q = gaussian(total * config.heads * hd, 1);
  const auto k = gaussian(total * config.kv_heads * hd, 2);
  const auto v = gaussian(total * config.kv_heads * hd, 3);
  const auto gate = gaussian(total * config.heads * hd, 4);

  kv_cache_options options;
  options.type = kv_type::f32;
  options.max_step_tokens = 64;
  kv_layout layout({{config.kv_heads, hd, Window::size}}, options);
  paged_kv_cache cache(layout, layout.budget_for_context(64));
  const kv_sequence_id seq = cache.create().sequence;
  attention<reference, Window> layer(config, {dense.q_norm, dense.k_norm, {dense.inv_freq}});
  reference dev;
  // A 40-token prefill, then five decode steps.
  std::size_t done = 0;
  for (std::size_t step : {std::size_t{40}, std::size_t{1}, std::size_t{1}, std::size_t{1}, std::size_t{1}, std::size_t{1}}) {
    REQUIRE(cache.append(seq, std::vector<std::int32_t>(step, 3)) == kv_status::ok);
    auto take = [&](const std::vector<float>& m, std::size_t width) {
      return std::vector<float>(m.begin() + static_cast<std::ptrdiff_t>(done * width), m.begin() + static_cast<std::ptrdiff_t>((done + step) * width));
    };
    auto q_rows = take(q, config.heads * hd), k_rows = take(k, config.kv_heads * hd), v_rows = take(v, config.kv_heads * hd);
    const auto gate_rows = take(gate, config.heads * hd);
    std::vector<std::int32_t> positions(step);
    for (std::size_t i = 0; i < step; ++i) positions[i] = static_cast<std::int32_t>(done + i);
    const sequence_rows member{seq, 0, step};
    std::vector<float> out(step * config.heads * hd);
    layer.forward(dev, {std::span(&member, 1), positions}, {q_rows.data(), {step, config.heads * hd}},
                  kv_projections{{k_rows.data(), {step, config.kv_heads * hd}}, {v_rows.data(), {step, config.kv_heads * hd}}},
                  {gate_rows.data(), {step, config.heads * hd}}, cache, 0, {out.data(), {step, config.heads * hd}});
    done += step;
    require_close(out, dense.run(q, k, v, gate, done, step, Window::size), 2e-5f);
  }
}

}  // namespace

TEST_CASE("attention layer equals its definition: Gemma 4 sliding and K=V global, Qwen3.5 gated", "[attention]") {
  attention_config gemma_sliding{4, 2, 32, 1.0f, 0.0f, 1e-6f, norm_weight::plain, true, false, false};
  check_layer<sliding_window<8>>(gemma_sliding, 16);
  attention_config gemma_global = gemma_sliding;
  gemma_global.kv_heads = 1;
  gemma_global.values_from_keys = true;
  check_layer<global_attention>(gemma_global, 16);
  attention_config qwen{4, 2, 32, 1.0f / std::sqrt(32.0f), 0.0f, 1e-6f, norm_weight::one_plus, false, false, true};
  check_layer<global_attention>(qwen, 4);  // partial rotary: 8 of 32 dims
}

TEST_CASE("a KV-sharing layer reads the owning layer's cache", "[attention]") {
  const attention_config config{2, 1, 32, 0.5f, 0.0f, 1e-6f, norm_weight::none, false, false, false};
  kv_cache_options options;
  options.type = kv_type::q8_0;
  kv_layout layout({{1, 32, 16}}, options);
  paged_kv_cache cache(layout, layout.budget_for_context(64));
  const kv_sequence_id seq = cache.create().sequence;
  REQUIRE(cache.append(seq, std::vector<std::int32_t>(20, 1)) == kv_status::ok);
  auto q = gaussian(20 * 64, 5);
  auto k = gaussian(20 * 32, 6);
  auto v = gaussian(20 * 32, 7);
  auto q_shared = q;
  std::vector<std::int32_t> positions(20);
  for (int i = 0; i < 20; ++i) positions[static_cast<std::size_t>(i)] = i;
  const sequence_rows member{seq, 0, 20};
  const attention_batch batch{std::span(&member, 1), positions};
  reference dev;
  attention<reference, sliding_window<16>> owner(config, {});
  attention<reference, sliding_window<16>> sharer(config, {});
  std::vector<float> a(20 * 64), b(20 * 64);
  owner.forward(dev, batch, {q.data(), {20, 64}}, kv_projections{{k.data(), {20, 32}}, {v.data(), {20, 32}}}, {}, cache, 0,
                {a.data(), {20, 64}});
  sharer.forward(dev, batch, {q_shared.data(), {20, 64}}, std::nullopt, {}, cache, 0, {b.data(), {20, 64}});
  CHECK(a == b);
}

TEST_CASE("attention rejects mismatched caches, shapes and released windows with clear errors", "[attention]") {
  const attention_config config{2, 1, 32, 1.0f, 0.0f, 1e-6f, norm_weight::none, false, false, false};
  kv_cache_options options;
  options.type = kv_type::f32;
  options.max_step_tokens = 40;
  kv_layout layout({{1, 32, 0}}, options);
  paged_kv_cache cache(layout, layout.budget_for_context(64));
  const kv_sequence_id seq = cache.create().sequence;
  REQUIRE(cache.append(seq, std::vector<std::int32_t>(4, 1)) == kv_status::ok);
  std::vector<float> q(4 * 64), k(4 * 32), v(4 * 32), out(4 * 64);
  std::vector<std::int32_t> positions{0, 1, 2, 3};
  const sequence_rows member{seq, 0, 4};
  const attention_batch batch{std::span(&member, 1), positions};
  reference dev;
  attention<reference, sliding_window<8>> wrong_window(config, {});
  CHECK_THROWS_WITH(wrong_window.forward(dev, batch, {q.data(), {4, 64}}, kv_projections{{k.data(), {4, 32}}, {v.data(), {4, 32}}},
                                         {}, cache, 0, {out.data(), {4, 64}}),
                    Catch::Contains("kv layer 0") && Catch::Contains("window 0"));
  attention<reference, global_attention> layer(config, {});
  CHECK_THROWS_WITH(layer.forward(dev, batch, {q.data(), {3, 64}}, std::nullopt, {}, cache, 0, {out.data(), {3, 64}}),
                    Catch::Contains("one position per row"));
  CHECK_THROWS_WITH((attention<reference, global_attention>({3, 2, 32}, {})), Catch::Contains("multiple of kv_heads"));
  CHECK_THROWS_WITH((attention<reference, global_attention>({2, 1, 1024}, {})), Catch::Contains("head_dim 1024"));
}
