#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include <strix/kv/paged_kv_cache.hpp>

using namespace strix;

namespace {

constexpr std::size_t window = 24;
constexpr std::size_t rollback = 6;
constexpr std::size_t head_dim = 4;
constexpr std::size_t kv_heads = 2;

// Layer 0 and 2 global, layer 1 sliding: two groups, one of them with two layers.
kv_layout test_layout(std::size_t block_size, std::size_t max_sequences, kv_type type = kv_type::f32) {
  kv_cache_options options;
  options.type = type;
  options.block_size = block_size;
  options.max_sequences = max_sequences;
  options.max_step_tokens = 20;
  options.max_rollback = rollback;
  const std::size_t dim = type == kv_type::f32 ? head_dim : 32;
  return kv_layout({{kv_heads, dim, 0}, {kv_heads, dim, window}, {1, dim, 0}}, options);
}

// K and V rows that encode what was written: token, position, layer, head.
float key_value(std::int32_t token, std::size_t position, std::size_t layer, std::size_t head, std::size_t d) {
  return static_cast<float>(token) * 1000.0f + static_cast<float>(position) + static_cast<float>(layer * 10 + head) * 0.01f +
         static_cast<float>(d) * 0.25f;
}

void write_positions(paged_kv_cache& cache, kv_sequence_id seq, std::size_t from) {
  const auto tokens = cache.tokens(seq);
  const std::size_t n = tokens.size() - from;
  for (std::size_t layer = 0; layer < cache.layout().layer_count(); ++layer) {
    const std::size_t heads = cache.layout().layer(layer).kv_heads;
    const std::size_t dim = cache.layout().layer(layer).head_dim;
    std::vector<float> k(n * heads * dim), v(n * heads * dim);
    for (std::size_t t = 0; t < n; ++t) {
      for (std::size_t h = 0; h < heads; ++h) {
        for (std::size_t d = 0; d < dim; ++d) {
          k[(t * heads + h) * dim + d] = key_value(tokens[from + t], from + t, layer, h, d);
          v[(t * heads + h) * dim + d] = -key_value(tokens[from + t], from + t, layer, h, d);
        }
      }
    }
    cache.write(seq, layer, from, matrix_view<const float>(k.data(), {n, heads * dim}),
                matrix_view<const float>(v.data(), {n, heads * dim}));
  }
}

// Every position a query at the end of the sequence may read holds exactly what was written for
// the sequence's token there; sliding layers hold at least the window.
void check_contents(paged_kv_cache& cache, kv_sequence_id seq, const std::vector<std::int32_t>& expected) {
  const auto tokens = cache.tokens(seq);
  REQUIRE(std::equal(tokens.begin(), tokens.end(), expected.begin(), expected.end()));
  for (std::size_t layer = 0; layer < cache.layout().layer_count(); ++layer) {
    const kv_layer_view view = cache.layer_view(layer);
    const kv_sequence_view sv = cache.sequence_view(seq, layer);
    REQUIRE(sv.length == expected.size());
    for (std::size_t p = 0; p < sv.length; ++p) {
      const kv_block_id b = sv.blocks[p / view.block_size];
      if (b == no_kv_block) {
        REQUIRE(view.window != 0);
        REQUIRE(p + view.window <= sv.length);  // only positions outside the window may be gone
        continue;
      }
      for (std::size_t h = 0; h < view.kv_heads; ++h) {
        const auto* k = reinterpret_cast<const float*>(view.k_rows(b, h) + (p % view.block_size) * view.row_bytes);
        const auto* v = reinterpret_cast<const float*>(view.v_rows(b, h) + (p % view.block_size) * view.row_bytes);
        for (std::size_t d = 0; d < view.head_dim; ++d) {
          REQUIRE(k[d] == key_value(expected[p], p, layer, h, d));
          REQUIRE(v[d] == -key_value(expected[p], p, layer, h, d));
        }
      }
    }
  }
}

void check_refcounts(const paged_kv_cache& cache, const std::map<kv_sequence_id, std::vector<std::int32_t>>& live) {
  for (std::size_t g = 0; g < cache.layout().groups().size(); ++g) {
    const block_pool& pool = cache.pool(g);
    std::vector<std::uint32_t> refs(pool.capacity(), 0);
    for (const auto& [seq, tokens] : live) {
      for (kv_block_id b : cache.block_table(seq, g)) {
        if (b != no_kv_block) ++refs.at(b);
      }
    }
    std::size_t referenced = 0;
    for (kv_block_id b = 0; b < pool.capacity(); ++b) {
      REQUIRE(pool.refcount(b) == refs[b]);
      referenced += refs[b] != 0 ? 1 : 0;
    }
    REQUIRE(pool.in_use() == referenced);
    REQUIRE(pool.available() == pool.capacity() - referenced);
    REQUIRE(pool.evictable() <= pool.cached());
    const kv_group& group = cache.layout().groups()[g];
    if (group.window != 0) {
      for (const auto& [seq, tokens] : live) REQUIRE(cache.blocks_held(seq, g) <= cache.layout().sliding_blocks_per_sequence(group));
    }
  }
}

}  // namespace

TEST_CASE("kv_layout groups layers by window and places K and V rows") {
  const kv_layout layout = test_layout(16, 2);
  REQUIRE(layout.groups().size() == 2);
  CHECK(layout.groups()[0].window == 0);
  CHECK(layout.groups()[0].layers == std::vector<std::size_t>{0, 2});
  CHECK(layout.groups()[1].layers == std::vector<std::size_t>{1});
  const std::size_t row = head_dim * sizeof(float);
  CHECK(layout.placement(0).k_offset == 0);
  CHECK(layout.placement(0).v_offset == kv_heads * 16 * row);
  CHECK(layout.placement(2).k_offset == 2 * kv_heads * 16 * row);
  CHECK(layout.groups()[0].block_bytes == (2 * kv_heads + 2) * 16 * row);
  CHECK(layout.bytes_per_token(layout.groups()[0]) == (2 * kv_heads + 2) * row);
}

TEST_CASE("kv_layout memory arithmetic: sliding reserve, context that fits, and the inverse") {
  const kv_layout layout = test_layout(16, 2);
  const kv_group& sliding = layout.groups()[1];
  // window 24 + rollback 6 + step 20 = 50 positions: ceil(49 / 16) + 2 blocks.
  CHECK(layout.sliding_blocks_per_sequence(sliding) == 5);
  CHECK(layout.sliding_reserve_bytes() == 2 * 5 * sliding.block_bytes);
  const std::size_t budget = layout.sliding_reserve_bytes() + 10 * layout.groups()[0].block_bytes + 7;
  CHECK(layout.context_tokens_for_budget(budget) == 160);
  CHECK(layout.budget_for_context(160) == budget - 7);
  CHECK(layout.context_tokens_for_budget(layout.budget_for_context(1000)) >= 1000);
  try {
    (void)layout.blocks_for_budget(100);
    FAIL("a budget below the sliding reserve must be refused");
  } catch (const error& e) {
    CHECK(e.category() == error_category::memory);
    CHECK_THAT(e.what(), Catch::Contains("sliding-window layers need"));
  }
}

TEST_CASE("kv_layout refuses head dims its type cannot store, naming the layer") {
  kv_cache_options options;
  options.type = kv_type::q8_0;
  try {
    (void)kv_layout({{2, 32, 0}, {2, 48, 0}}, options);
    FAIL("head_dim 48 is not a multiple of 32");
  } catch (const error& e) {
    CHECK_THAT(e.what(), Catch::Contains("layer 1") && Catch::Contains("q8_0"));
  }
  CHECK_THROWS_WITH(parse_kv_type("q5_k"), Catch::Contains("f32, f16, bf16, q8_0, q4_0"));
  CHECK(parse_kv_type("q4_0") == kv_type::q4_0);
}

TEST_CASE("paged_kv_cache: out of blocks is a status and leaves the sequence unchanged") {
  const kv_layout layout = test_layout(16, 1);
  paged_kv_cache cache(layout, layout.budget_for_context(32));
  const kv_sequence_id seq = cache.create().sequence;
  std::vector<std::int32_t> tokens(20, 5);
  REQUIRE(cache.append(seq, tokens) == kv_status::ok);
  write_positions(cache, seq, 0);
  CHECK(cache.append(seq, std::vector<std::int32_t>(21, 6)) == kv_status::step_too_large);
  REQUIRE(cache.append(seq, std::vector<std::int32_t>(12, 6)) == kv_status::ok);
  write_positions(cache, seq, 20);
  tokens.resize(32, 6);
  CHECK(cache.append(seq, std::vector<std::int32_t>(1, 7)) == kv_status::out_of_blocks);
  check_contents(cache, seq, tokens);
  CHECK(cache.create().status == kv_status::too_many_sequences);
}

TEST_CASE("paged_kv_cache: fork shares blocks and copies the partial block on write") {
  const kv_layout layout = test_layout(16, 2);
  paged_kv_cache cache(layout, layout.budget_for_context(256));
  const kv_sequence_id a = cache.create().sequence;
  std::vector<std::int32_t> prompt(20);
  for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<std::int32_t>(i);
  REQUIRE(cache.append(a, prompt) == kv_status::ok);
  write_positions(cache, a, 0);
  const kv_sequence_result b = cache.fork(a);
  REQUIRE(b);
  CHECK(cache.pool(0).in_use() == 2);
  REQUIRE(cache.append(a, std::vector<std::int32_t>{100}) == kv_status::ok);
  write_positions(cache, a, 20);
  REQUIRE(cache.append(b.sequence, std::vector<std::int32_t>{200}) == kv_status::ok);
  write_positions(cache, b.sequence, 20);
  CHECK(cache.pool(0).in_use() == 3);  // the full first block still shared, each its own second
  auto pa = prompt, pb = prompt;
  pa.push_back(100);
  pb.push_back(200);
  check_contents(cache, a, pa);
  check_contents(cache, b.sequence, pb);
}

TEST_CASE("paged_kv_cache: block stamps move exactly for the blocks a write or a copy-on-write changes") {
  const kv_layout layout = test_layout(16, 2);
  paged_kv_cache cache(layout, layout.budget_for_context(256));
  const kv_layer_view view = cache.layer_view(0);
  REQUIRE(view.block_stamps != nullptr);
  CHECK(view.blocks == cache.pool(0).capacity());
  CHECK(view.cache_id != paged_kv_cache(layout, layout.budget_for_context(256)).layer_view(0).cache_id);
  const auto stamps = [&] { return std::vector<std::uint64_t>(view.block_stamps, view.block_stamps + view.blocks); };

  const kv_sequence_id a = cache.create().sequence;
  REQUIRE(cache.append(a, std::vector<std::int32_t>(20, 1)) == kv_status::ok);
  auto before = stamps();
  write_positions(cache, a, 0);
  auto after = stamps();
  const auto table = cache.block_table(a, 0);
  for (std::size_t b = 0; b < view.blocks; ++b) {
    const bool written = b == table[0] || b == table[1];
    CHECK((after[b] != before[b]) == written);
  }

  // A fork's first write copies the shared partial block: the copy's stamp moves, the original's not.
  const kv_sequence_id child = cache.fork(a).sequence;
  before = stamps();
  REQUIRE(cache.append(child, std::vector<std::int32_t>{2}) == kv_status::ok);
  write_positions(cache, child, 20);
  after = stamps();
  const auto child_table = cache.block_table(child, 0);
  REQUIRE(child_table[1] != table[1]);
  CHECK(after[child_table[1]] != before[child_table[1]]);
  CHECK(after[table[1]] == before[table[1]]);
  CHECK(after[table[0]] == before[table[0]]);
}

TEST_CASE("paged_kv_cache: each layer has its own stamps, and plan_write says where rows go and how stamps moved") {
  const kv_layout layout = test_layout(16, 1);
  paged_kv_cache cache(layout, layout.budget_for_context(256));
  const kv_layer_view layer0 = cache.layer_view(0), layer2 = cache.layer_view(2);  // one group
  REQUIRE(layer0.block_stamps != layer2.block_stamps);
  const kv_sequence_id seq = cache.create().sequence;
  REQUIRE(cache.append(seq, std::vector<std::int32_t>(20, 1)) == kv_status::ok);
  write_positions(cache, seq, 0);

  // Positions 14..21 of layer 0: slots 14, 15 of block 0, then 0..5 of block 1 (appended anew).
  REQUIRE(cache.truncate(seq, 14) == kv_status::ok);
  REQUIRE(cache.append(seq, std::vector<std::int32_t>(8, 2)) == kv_status::ok);
  const std::vector<kv_block_id> table(cache.block_table(seq, 0).begin(), cache.block_table(seq, 0).end());
  REQUIRE(table.size() == 2);
  const std::uint64_t layer0_before[2] = {layer0.block_stamps[table[0]], layer0.block_stamps[table[1]]};
  const std::uint64_t layer2_before[2] = {layer2.block_stamps[table[0]], layer2.block_stamps[table[1]]};
  std::vector<kv_row_slot> slots(8);
  std::vector<kv_block_write> blocks;
  cache.plan_write(seq, 0, 14, slots, blocks);
  for (std::size_t t = 0; t < 8; ++t) {
    CHECK(slots[t].block == table[(14 + t) / 16]);
    CHECK(slots[t].slot == (14 + t) % 16);
  }
  REQUIRE(blocks.size() == 2);
  CHECK((blocks[0].block == table[0] && blocks[0].first_slot == 14 && blocks[0].slots == 2));
  CHECK((blocks[1].block == table[1] && blocks[1].first_slot == 0 && blocks[1].slots == 6));
  for (std::size_t b = 0; b < 2; ++b) {
    CHECK(blocks[b].stamp_before == layer0_before[b]);
    CHECK(blocks[b].stamp_after == layer0.block_stamps[table[b]]);
    CHECK(blocks[b].stamp_after != blocks[b].stamp_before);
    CHECK(layer2.block_stamps[table[b]] == layer2_before[b]);  // another layer of the group: unmoved
  }

  // Refused, planning nothing: positions of a published block (block 0, once the next append
  // publishes it), positions not appended, a layer the cache lacks.
  REQUIRE(cache.append(seq, std::vector<std::int32_t>{3}) == kv_status::ok);
  std::vector<kv_row_slot> one(1), two(2), none;
  blocks.clear();
  CHECK_THROWS_AS(cache.plan_write(seq, 0, 15, one, blocks), error);
  CHECK_THROWS_AS(cache.plan_write(seq, 0, 22, two, blocks), error);
  CHECK_THROWS_AS(cache.plan_write(seq, 7, 22, one, blocks), error);
  const std::vector<float> row(kv_heads * head_dim);
  CHECK_THROWS_AS(cache.write(seq, 7, 22, matrix_view<const float>(row.data(), {1, row.size()}), matrix_view<const float>(row.data(), {1, row.size()})),
                  error);
  cache.plan_write(seq, 2, 22, none, blocks);
  CHECK(blocks.empty());
}

TEST_CASE("paged_kv_cache: sliding-window layers hold constant memory as a sequence grows") {
  const kv_layout layout = test_layout(16, 1);
  paged_kv_cache cache(layout, layout.budget_for_context(4096));
  const kv_sequence_id seq = cache.create().sequence;
  std::vector<std::int32_t> all;
  std::size_t most_sliding = 0;
  for (int step = 0; step < 150; ++step) {
    std::vector<std::int32_t> chunk(step % 3 == 0 ? 20 : 1, step);
    all.insert(all.end(), chunk.begin(), chunk.end());
    REQUIRE(cache.append(seq, chunk) == kv_status::ok);
    write_positions(cache, seq, all.size() - chunk.size());
    most_sliding = std::max(most_sliding, cache.blocks_held(seq, 1));
  }
  check_contents(cache, seq, all);
  CHECK(all.size() > 1000);
  CHECK(cache.blocks_held(seq, 0) == (all.size() + 15) / 16);
  CHECK(most_sliding <= layout.sliding_blocks_per_sequence(layout.groups()[1]));
}

TEST_CASE("paged_kv_cache: truncate is exact within max_rollback and refuses deeper rollbacks on sliding layers") {
  const kv_layout layout = test_layout(16, 1);
  paged_kv_cache cache(layout, layout.budget_for_context(1024));
  const kv_sequence_id seq = cache.create().sequence;
  std::vector<std::int32_t> all;
  for (int step = 0; step < 10; ++step) {
    std::vector<std::int32_t> chunk(20, step);
    all.insert(all.end(), chunk.begin(), chunk.end());
    REQUIRE(cache.append(seq, chunk) == kv_status::ok);
    write_positions(cache, seq, all.size() - 20);
  }
  // Speculative round: append a draft of rollback tokens, accept two of them.
  std::vector<std::int32_t> draft(rollback, 77);
  REQUIRE(cache.append(seq, draft) == kv_status::ok);
  write_positions(cache, seq, all.size());
  REQUIRE(cache.truncate(seq, all.size() + 2) == kv_status::ok);
  all.push_back(77);
  all.push_back(77);
  check_contents(cache, seq, all);
  // Back past the last append and the rollback allowance: the window before it is gone.
  CHECK(cache.truncate(seq, 100) == kv_status::window_released);
  check_contents(cache, seq, all);
  REQUIRE(cache.truncate(seq, all.size() - 2 - rollback) == kv_status::ok);
  all.resize(all.size() - 2 - rollback);
  check_contents(cache, seq, all);
}

TEST_CASE("paged_kv_cache: prefix caching reuses written blocks of a released sequence") {
  const kv_layout layout = test_layout(16, 2);
  paged_kv_cache cache(layout, layout.budget_for_context(512));
  std::vector<std::int32_t> prompt(60);
  for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<std::int32_t>(i * 7 % 13);
  const kv_sequence_id first = cache.create().sequence;
  for (std::size_t at = 0; at < prompt.size(); at += 20) {
    REQUIRE(cache.append(first, std::span(prompt).subspan(at, 20)) == kv_status::ok);
    write_positions(cache, first, at);
  }
  cache.release(first);
  CHECK(cache.bytes_in_use() == 0);
  CHECK(cache.cached_prefix_length(prompt, prompt.size() - 1) == 48);
  auto other = prompt;
  other[40] = 999;  // differs in the third block
  CHECK(cache.cached_prefix_length(other, other.size()) == 32);

  const kv_sequence_id second = cache.create().sequence;
  CHECK(cache.reuse_prefix(second, prompt, prompt.size() - 1) == 48);
  CHECK(cache.prefix_hit_tokens() == 48);
  REQUIRE(cache.append(second, std::span(prompt).subspan(48)) == kv_status::ok);
  write_positions(cache, second, 48);
  check_contents(cache, second, prompt);
}

TEST_CASE("paged_kv_cache: quantized K/V types round-trip through their block format") {
  for (kv_type type : {kv_type::f16, kv_type::bf16, kv_type::q8_0, kv_type::q4_0}) {
    const kv_layout layout = test_layout(16, 1, type);
    paged_kv_cache cache(layout, layout.budget_for_context(64));
    const kv_sequence_id seq = cache.create().sequence;
    REQUIRE(cache.append(seq, std::vector<std::int32_t>(3, 1)) == kv_status::ok);
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    const std::size_t width = kv_heads * 32;
    std::vector<float> k(3 * width), v(3 * width);
    for (float& x : k) x = normal(rng);
    for (float& x : v) x = normal(rng);
    cache.write(seq, 1, 0, matrix_view<const float>(k.data(), {3, width}), matrix_view<const float>(v.data(), {3, width}));
    const kv_layer_view view = cache.layer_view(1);
    const kv_block_id b = cache.sequence_view(seq, 1).blocks[0];
    visit_kv_type(type, [&]<class Format>() {
      using block = typename Format::block_type;
      std::vector<block> expected(1);
      std::vector<float> want(32), got(32);
      for (std::size_t t = 0; t < 3; ++t) {
        for (std::size_t h = 0; h < kv_heads; ++h) {
          quantize_row<Format>(std::span<const float>(k).subspan(t * width + h * 32, 32), expected);
          dequantize_row<Format>(expected, want);
          const auto* stored = reinterpret_cast<const block*>(view.k_rows(b, h) + t * view.row_bytes);
          dequantize_row<Format>(std::span(stored, 1), got);
          REQUIRE(got == want);
        }
      }
    });
  }
}

TEST_CASE("paged_kv_cache: random operations keep refcounts exact and contents intact") {
  for (std::size_t block_size : {std::size_t{16}, std::size_t{32}}) {
    const std::size_t max_sequences = 6;
    const kv_layout layout = test_layout(block_size, max_sequences);
    // Tight global pool: out-of-blocks and prefix-cache eviction both happen.
    paged_kv_cache cache(layout, layout.budget_for_context(320));
    std::map<kv_sequence_id, std::vector<std::int32_t>> live;
    std::mt19937 rng(static_cast<unsigned>(block_size));
    auto uniform = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    // Tokens from a small alphabet and prompts from shared stems make prefix hits common.
    std::vector<std::vector<std::int32_t>> stems(4);
    for (auto& stem : stems) {
      stem.resize(40 + uniform(60));
      for (auto& t : stem) t = static_cast<std::int32_t>(uniform(3));
    }
    auto pick_live = [&] {
      auto it = live.begin();
      std::advance(it, static_cast<std::ptrdiff_t>(uniform(live.size())));
      return it;
    };
    std::size_t appended = 0, refused = 0, hits = 0;
    const int operations = 50000;
    for (int op = 0; op < operations; ++op) {
      const std::size_t kind = live.empty() ? 0 : uniform(10);
      kv_sequence_id touched = 0;
      bool check = true;
      if (kind == 0) {  // new sequence, maybe from a cached prefix
        const kv_sequence_result created = cache.create();
        if (!created) {
          REQUIRE(live.size() == max_sequences);
          continue;
        }
        touched = created.sequence;
        live[touched] = {};
        const auto& stem = stems[uniform(stems.size())];
        const std::size_t reused = cache.reuse_prefix(touched, stem, stem.size() - 1);
        REQUIRE(reused % block_size == 0);
        live[touched].assign(stem.begin(), stem.begin() + static_cast<std::ptrdiff_t>(reused));
        hits += reused != 0 ? 1 : 0;
        // Prefill the rest of the stem in chunks, as a server would.
        for (std::size_t at = reused; at < stem.size(); at += 20) {
          const auto chunk = std::span(stem).subspan(at, std::min<std::size_t>(20, stem.size() - at));
          if (cache.append(touched, chunk) != kv_status::ok) {
            ++refused;
            break;
          }
          write_positions(cache, touched, at);
          live[touched].insert(live[touched].end(), chunk.begin(), chunk.end());
        }
      } else if (kind <= 5) {  // append and write
        auto it = pick_live();
        touched = it->first;
        std::vector<std::int32_t> chunk(1 + uniform(uniform(4) == 0 ? 20 : 3));
        for (auto& t : chunk) t = static_cast<std::int32_t>(uniform(3));
        const kv_status status = cache.append(touched, chunk);
        if (status == kv_status::ok) {
          write_positions(cache, touched, it->second.size());
          it->second.insert(it->second.end(), chunk.begin(), chunk.end());
          ++appended;
        } else {
          REQUIRE(status == kv_status::out_of_blocks);
          ++refused;
        }
      } else if (kind == 6) {  // fork
        auto it = pick_live();
        const kv_sequence_result child = cache.fork(it->first);
        if (!child) {
          REQUIRE(child.status == kv_status::too_many_sequences);
          continue;
        }
        touched = child.sequence;
        live[touched] = it->second;
      } else if (kind <= 8) {  // truncate: usually a speculative rollback, sometimes deep
        auto it = pick_live();
        touched = it->first;
        const std::size_t length = it->second.size();
        const std::size_t target = uniform(3) != 0 ? length - std::min(length, uniform(rollback + 1)) : uniform(length + 1);
        const kv_status status = cache.truncate(touched, target);
        if (status == kv_status::ok) {
          it->second.resize(std::min(length, target));
        } else {
          REQUIRE(status == kv_status::window_released);
        }
      } else {  // release
        auto it = pick_live();
        cache.release(it->first);
        live.erase(it);
        check = false;
      }
      if (check) check_contents(cache, touched, live.at(touched));
      check_refcounts(cache, live);
      if (op % 1000 == 0) {
        for (const auto& [seq, tokens] : live) check_contents(cache, seq, tokens);
      }
    }
    for (const auto& [seq, tokens] : live) cache.release(seq);
    CHECK(cache.bytes_in_use() == 0);
    for (std::size_t g = 0; g < layout.groups().size(); ++g) CHECK(cache.pool(g).available() == cache.pool(g).capacity());
    // The run exercised the interesting paths.
    CHECK(appended > 1000);
    CHECK(refused > 10);
    CHECK(hits > 100);
    CHECK(cache.pool(0).evictions() > 0);
  }
}
