// Attention test scenarios: a paged cache holding several sequences of random K/V (written in
// chunks, some truncated and re-appended), the dense K/V each sequence ends with, and random
// queries for each sequence's newest rows; and the sweep every fast policy's attention kernel is
// held to against the reference one.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include <strix/device/attention_params.hpp>
#include <strix/device/reference/reference.hpp>
#include <strix/kv/paged_kv_cache.hpp>

#include "test_data.hpp"

namespace strix::testing {

struct attention_shape {
  std::size_t heads = 4;
  std::size_t kv_heads = 2;
  std::size_t head_dim = 32;
  std::size_t window = 0;
  kv_type type = kv_type::f32;
  std::size_t block_size = 16;
};

struct attention_scenario {
  attention_shape shape;
  paged_kv_cache cache;
  std::vector<kv_sequence_id> ids;
  std::vector<std::vector<float>> keys;    // per sequence: [position][kv_head][dim], as written
  std::vector<std::vector<float>> values;
  std::vector<attention_sequence> sequences;
  std::vector<float> q;                    // [rows][heads][dim]
  std::size_t rows = 0;

  [[nodiscard]] tensor_view<const float, 3> queries() const { return {q.data(), {rows, shape.heads, shape.head_dim}}; }
};

inline kv_layout scenario_layout(const attention_shape& shape, std::size_t sequences) {
  kv_cache_options options;
  options.type = shape.type;
  options.block_size = shape.block_size;
  options.max_sequences = std::max<std::size_t>(sequences, 1);
  options.max_step_tokens = 256;
  options.max_rollback = 4;
  return kv_layout({{shape.kv_heads, shape.head_dim, shape.window}}, options);
}

// lengths[i]: final cached positions of sequence i; rows[i]: how many of the newest are queries.
inline attention_scenario make_scenario(const attention_shape& shape, const std::vector<std::size_t>& lengths,
                                        const std::vector<std::size_t>& rows, std::uint32_t seed) {
  const kv_layout layout = scenario_layout(shape, lengths.size());
  std::size_t longest = 0;
  for (std::size_t n : lengths) longest += n + 2 * shape.block_size;
  attention_scenario s{shape, paged_kv_cache(layout, layout.budget_for_context(longest)), {}, {}, {}, {}, {}, 0};
  std::mt19937 rng(seed);
  const std::size_t width = shape.kv_heads * shape.head_dim;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    const kv_sequence_id id = s.cache.create().sequence;
    s.ids.push_back(id);
    std::vector<float> keys, values;
    auto append = [&](std::size_t n) {
      const std::size_t at = s.cache.length(id);
      if (s.cache.append(id, std::vector<std::int32_t>(n, 1)) != kv_status::ok) throw std::runtime_error("scenario append failed");
      const auto k = gaussian(n * width, static_cast<std::uint32_t>(rng()));
      const auto v = gaussian(n * width, static_cast<std::uint32_t>(rng()));
      s.cache.write(id, 0, at, matrix_view<const float>(k.data(), {n, width}), matrix_view<const float>(v.data(), {n, width}));
      keys.resize(at * width);
      values.resize(at * width);
      keys.insert(keys.end(), k.begin(), k.end());
      values.insert(values.end(), v.begin(), v.end());
    };
    // The history in chunks of 1…64, with a speculative-style rollback (append 4, keep 1) now and
    // then; the query rows come last, in one append, as a model step adds them.
    const std::size_t history = lengths[i] - rows[i];
    while (s.cache.length(id) < history) {
      append(std::min<std::size_t>(history - s.cache.length(id), 1 + rng() % 64));
      if (rng() % 3 == 0 && s.cache.length(id) + 4 <= history) {
        append(4);
        if (s.cache.truncate(id, s.cache.length(id) - 3) != kv_status::ok) throw std::runtime_error("scenario truncate failed");
      }
    }
    if (rows[i] != 0) append(rows[i]);
    s.keys.push_back(std::move(keys));
    s.values.push_back(std::move(values));
  }
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    s.sequences.push_back({s.cache.sequence_view(s.ids[i], 0), s.rows, rows[i]});
    s.rows += rows[i];
  }
  s.q = gaussian(s.rows * shape.heads * shape.head_dim, seed + 1);
  return s;
}

// A fast policy's attention equals the reference one over the same cache, within fp32 accumulation.
template <attention_window Window, class Policy>
void expect_attention_matches_reference(Policy& fast, attention_shape shape, const std::vector<std::size_t>& lengths,
                                        const std::vector<std::size_t>& rows, float softcap) {
  shape.window = Window::size;
  auto s = make_scenario(shape, lengths, rows, static_cast<std::uint32_t>(shape.head_dim * 31 + lengths.size()));
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  std::vector<float> expected(s.q.size(), NAN), actual(s.q.size(), NAN);
  const tensor_view<float, 3> expected_view(expected.data(), {s.rows, shape.heads, shape.head_dim});
  const tensor_view<float, 3> actual_view(actual.data(), {s.rows, shape.heads, shape.head_dim});
  reference ref;
  ref.attention<Window>({s.queries(), expected_view, s.sequences, s.cache.layer_view(0), scale, softcap});
  fast.template attention<Window>({s.queries(), actual_view, s.sequences, s.cache.layer_view(0), scale, softcap});
  INFO(Policy::name << ": type " << to_string(shape.type) << ", window " << Window::size << ", heads " << shape.heads << "/"
                    << shape.kv_heads << ", dim " << shape.head_dim << ", block " << shape.block_size);
  // Outputs are convex combinations of value rows (|v| ≲ 5): absolute error at fp32 accumulation.
  for (std::size_t i = 0; i < expected.size(); ++i) REQUIRE(std::abs(actual[i] - expected[i]) <= 2e-5f);
}

// Every KV type, global and sliding windows smaller and larger than the sequences, GQA ratios,
// head dims with and without a tail (20: not a multiple of 8 or 16), block sizes 16 and 32,
// decode / verify / prefill rows, soft-capping, Gemma 4's global head dim 512 (with 4 query heads
// per KV head and with 1), an empty batch, and long contexts beside short ones.
template <class Policy>
void expect_attention_sweep_matches_reference(Policy& fast) {
  const std::vector<std::size_t> lengths{1, 5, 37, 130, 300};
  const std::vector<std::size_t> rows{1, 4, 37, 1, 70};
  for (kv_type type : {kv_type::f32, kv_type::f16, kv_type::bf16, kv_type::q8_0, kv_type::q4_0}) {
    for (std::size_t block_size : {std::size_t{16}, std::size_t{32}}) {
      const bool quantized = type == kv_type::q8_0 || type == kv_type::q4_0;
      for (std::size_t dim : {quantized ? std::size_t{32} : std::size_t{20}, std::size_t{96}, std::size_t{256}}) {
        expect_attention_matches_reference<global_attention>(fast, {4, 2, dim, 0, type, block_size}, lengths, rows, 0.0f);
        expect_attention_matches_reference<sliding_window<7>>(fast, {8, 1, dim, 0, type, block_size}, lengths, rows, 0.0f);
        expect_attention_matches_reference<sliding_window<64>>(fast, {6, 3, dim, 0, type, block_size}, lengths, rows, 30.0f);
        expect_attention_matches_reference<sliding_window<1024>>(fast, {2, 2, dim, 0, type, block_size}, lengths, rows, 0.0f);
      }
    }
  }
  expect_attention_matches_reference<global_attention>(fast, {8, 2, 512, 0, kv_type::f16, 16}, {600, 3}, {1, 3}, 0.0f);
  expect_attention_matches_reference<global_attention>(fast, {8, 2, 512, 0, kv_type::q8_0, 32}, {129}, {129}, 0.0f);
  expect_attention_matches_reference<global_attention>(fast, {3, 3, 512, 0, kv_type::bf16, 16}, {50, 7}, {3, 7}, 0.0f);
  expect_attention_matches_reference<sliding_window<512>>(fast, {16, 8, 256, 0, kv_type::bf16, 16}, {700}, {64}, 0.0f);
  expect_attention_matches_reference<global_attention>(fast, {4, 2, 32, 0, kv_type::f32, 16}, {}, {}, 0.0f);
  // Decode of a long context beside short ones (a GPU splits the long row's keys over blocks; the
  // short rows' later splits are empty), with and without a window.
  expect_attention_matches_reference<global_attention>(fast, {8, 2, 128, 0, kv_type::f16, 16}, {3000, 40, 1}, {1, 2, 1}, 0.0f);
  expect_attention_matches_reference<sliding_window<700>>(fast, {4, 4, 64, 0, kv_type::q4_0, 32}, {2000, 900}, {2, 1}, 50.0f);
}

// A fast policy's write_kv stores the bytes the reference does, and its attention reads them right
// after the write (a GPU that keeps its own copy of the cache reads that copy, and brings the rows
// back to host memory by synchronize()). Two caches of two layers, written alike, the fast one by
// `fast` (one append of one layer on the host) and its twin by the reference: for every KV type, head dims with and without a 16-lane
// tail, 1 and 3 KV heads, block sizes 16 and 32, appends of 1 to 70 rows (one of them empty) and a
// rollback, and rows of zeros, of huge and tiny values and of rounding ties among the random ones.
template <class Policy>
void expect_write_kv_matches_reference(Policy& fast) {
  reference ref;
  for (kv_type type : {kv_type::f32, kv_type::f16, kv_type::bf16, kv_type::q8_0, kv_type::q4_0}) {
    for (std::size_t block_size : {std::size_t{16}, std::size_t{32}}) {
      const bool quantized = type == kv_type::q8_0 || type == kv_type::q4_0;
      for (std::size_t dim : {quantized ? std::size_t{32} : std::size_t{20}, std::size_t{96}}) {
        for (std::size_t kv_heads : {std::size_t{1}, std::size_t{3}}) {
          INFO(Policy::name << ": type " << to_string(type) << ", block " << block_size << ", dim " << dim << ", kv heads " << kv_heads);
          kv_cache_options options;
          options.type = type;
          options.block_size = block_size;
          options.max_step_tokens = 128;
          const kv_layout layout({{kv_heads, dim, 0}, {kv_heads, dim, 0}}, options);
          paged_kv_cache written(layout, layout.budget_for_context(512)), twin(layout, layout.budget_for_context(512));
          const kv_sequence_id seq = written.create().sequence, twin_seq = twin.create().sequence;
          const std::size_t width = kv_heads * dim;
          std::mt19937 rng(static_cast<std::uint32_t>(dim * 7 + block_size + kv_heads));
          std::vector<kv_row_slot> slots, twin_slots;
          std::vector<kv_block_write> blocks, twin_blocks;
          for (const std::size_t n : {std::size_t{1}, std::size_t{37}, std::size_t{0}, std::size_t{5}, std::size_t{1}, std::size_t{70}, std::size_t{1}}) {
            const std::size_t at = written.length(seq);
            const std::vector<std::int32_t> tokens(n, 1);
            REQUIRE(written.append(seq, tokens) == kv_status::ok);
            REQUIRE(twin.append(twin_seq, tokens) == kv_status::ok);
            for (std::size_t layer = 0; layer < 2; ++layer) {
              auto k = gaussian(n * width, static_cast<std::uint32_t>(rng()));
              auto v = gaussian(n * width, static_cast<std::uint32_t>(rng()));
              if (n >= 5) {
                std::fill_n(k.begin(), width, 0.0f);                                           // zeros
                // Huge values (past f16's range; a block scale of the quantized types must stay within
                // it) and subnormal ones.
                for (std::size_t i = 0; i < width; ++i) {
                  v[width + i] = i % 3 == 0 ? (quantized ? 6e4f : 1e30f) : i % 3 == 1 ? -3e-41f : 65519.0f + static_cast<float>(i);
                }
                for (std::size_t i = 0; i < width; ++i) v[2 * width + i] = static_cast<float>(i % 32) - 15.5f;  // ties
              }
              slots.resize(n);
              twin_slots.resize(n);
              blocks.clear();
              twin_blocks.clear();
              written.plan_write(seq, layer, at, slots, blocks);
              twin.plan_write(twin_seq, layer, at, twin_slots, twin_blocks);
              const matrix_view<const float> kk(k.data(), {n, width}), vv(v.data(), {n, width});
              ref.write_kv({twin.layer_view(layer), twin_slots, twin_blocks, kk, vv});
              if (n == 5 && layer == 1) {
                // Written on the host instead, and not read: the next write starts within the block
                // the host changed (a GPU's copy of it is stale).
                written.write(seq, layer, at, kk, vv);
                continue;
              }
              fast.write_kv({written.layer_view(layer), slots, blocks, kk, vv});
              // Attention right after the write, over every position so far.
              if (n == 0) continue;
              const std::size_t heads = 2 * kv_heads;
              const auto q = gaussian(heads * dim, static_cast<std::uint32_t>(rng()));
              std::vector<float> expected(q.size()), actual(q.size());
              const tensor_view<const float, 3> queries(q.data(), {1, heads, dim});
              const std::vector<attention_sequence> fast_rows{{written.sequence_view(seq, layer), 0, 1}};
              const std::vector<attention_sequence> twin_rows{{twin.sequence_view(twin_seq, layer), 0, 1}};
              fast.template attention<global_attention>({queries, {actual.data(), {1, heads, dim}}, fast_rows, written.layer_view(layer), 0.125f, 0.0f});
              ref.attention<global_attention>({queries, {expected.data(), {1, heads, dim}}, twin_rows, twin.layer_view(layer), 0.125f, 0.0f});
              fast.synchronize();
              // Values past f16's range are stored as infinities: those outputs must agree too.
              for (std::size_t i = 0; i < q.size(); ++i) {
                const bool agree = actual[i] == expected[i] ||
                                   std::abs(actual[i] - expected[i]) <= 2e-5f * (1.0f + std::abs(expected[i]));
                if (!agree) {
                  FAIL_CHECK("attention after the write, value " << i << ": " << actual[i] << " vs " << expected[i]);
                  break;
                }
              }
            }
            if (at == 43) {  // a rollback: the next append writes again into a block already written
              REQUIRE(written.truncate(seq, 40) == kv_status::ok);
              REQUIRE(twin.truncate(twin_seq, 40) == kv_status::ok);
            }
          }
          fast.synchronize();
          const std::size_t length = written.length(seq);
          for (std::size_t layer = 0; layer < 2; ++layer) {
            const kv_layer_view a = written.layer_view(layer), b = twin.layer_view(layer);
            const auto table = written.block_table(seq, 0), twin_table = twin.block_table(twin_seq, 0);
            for (std::size_t p = 0; p < length; ++p) {
              for (std::size_t h = 0; h < kv_heads; ++h) {
                const std::size_t slot = (p % block_size) * a.row_bytes;
                const bool same = std::memcmp(a.k_rows(table[p / block_size], h) + slot, b.k_rows(twin_table[p / block_size], h) + slot, a.row_bytes) == 0 &&
                                  std::memcmp(a.v_rows(table[p / block_size], h) + slot, b.v_rows(twin_table[p / block_size], h) + slot, a.row_bytes) == 0;
                if (!same) FAIL("layer " << layer << ", position " << p << ", head " << h << ": stored bytes differ from the reference's");
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace strix::testing
