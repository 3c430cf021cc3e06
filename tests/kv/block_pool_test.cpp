#include <catch2/catch.hpp>

#include <array>
#include <cstdint>

#include <strix/kv/block_pool.hpp>
#include <strix/kv/prefix_hash.hpp>

using namespace strix;

TEST_CASE("block_pool hands out every block once and reports exhaustion") {
  block_pool pool(3, 4);
  const auto a = pool.allocate();
  const auto b = pool.allocate();
  const auto c = pool.allocate();
  REQUIRE((a && b && c));
  CHECK(*a != *b);
  CHECK(*b != *c);
  CHECK(pool.available() == 0);
  CHECK_FALSE(pool.allocate().has_value());
  pool.release(*b);
  CHECK(pool.available() == 1);
  CHECK(pool.allocate() == b);
}

TEST_CASE("block_pool counts references and frees at zero") {
  block_pool pool(2, 4);
  const kv_block_id a = *pool.allocate();
  pool.retain(a);
  CHECK(pool.refcount(a) == 2);
  pool.release(a);
  CHECK(pool.in_use() == 1);
  pool.release(a);
  CHECK(pool.in_use() == 0);
  CHECK(pool.available() == 2);
}

TEST_CASE("block_pool keeps released cached blocks findable and evicts the least recently released first") {
  block_pool pool(2, 2);
  const std::array<std::int32_t, 2> first{1, 2};
  const std::array<std::int32_t, 2> second{3, 4};
  const std::uint64_t h1 = chain_hash(prefix_hash_seed, first);
  const std::uint64_t h2 = chain_hash(h1, second);
  const kv_block_id a = *pool.allocate();
  const kv_block_id b = *pool.allocate();
  pool.cache(a, h1, prefix_hash_seed, first);
  pool.cache(b, h2, h1, second);
  pool.release(a);
  pool.release(b);
  CHECK(pool.evictable() == 2);
  CHECK(pool.find(h1, prefix_hash_seed, first) == a);
  CHECK(pool.find(h2, h1, second) == b);
  // Same hash, different parent or tokens: a collision, not a hit.
  CHECK(pool.find(h2, prefix_hash_seed, second) == no_kv_block);
  CHECK(pool.find(h1, prefix_hash_seed, second) == no_kv_block);

  // Reviving `a` takes it off the eviction list; the next allocation evicts `b`.
  pool.retain(a);
  CHECK(pool.evictable() == 1);
  CHECK(pool.allocate() == b);
  CHECK(pool.evictions() == 1);
  CHECK(pool.find(h2, h1, second) == no_kv_block);
  CHECK(pool.find(h1, prefix_hash_seed, first) == a);
  CHECK_FALSE(pool.allocate().has_value());
}

TEST_CASE("block_pool: the first block cached under a hash keeps it") {
  block_pool pool(2, 1);
  const std::array<std::int32_t, 1> tokens{7};
  const std::uint64_t h = chain_hash(prefix_hash_seed, tokens);
  const kv_block_id a = *pool.allocate();
  const kv_block_id b = *pool.allocate();
  pool.cache(a, h, prefix_hash_seed, tokens);
  pool.cache(b, h, prefix_hash_seed, tokens);
  CHECK(pool.is_cached(a));
  CHECK_FALSE(pool.is_cached(b));
  pool.uncache(a);
  CHECK(pool.find(h, prefix_hash_seed, tokens) == no_kv_block);
  pool.release(a);
  pool.release(b);
  CHECK(pool.evictable() == 0);
  CHECK(pool.available() == 2);
}

TEST_CASE("chain_hash depends on the parent and on every token") {
  const std::array<std::int32_t, 3> x{1, 2, 3};
  const std::array<std::int32_t, 3> y{1, 2, 4};
  CHECK(chain_hash(prefix_hash_seed, x) != chain_hash(prefix_hash_seed, y));
  CHECK(chain_hash(prefix_hash_seed, x) != chain_hash(prefix_hash_seed + 1, x));
  CHECK(chain_hash(prefix_hash_seed, x) == chain_hash(prefix_hash_seed, x));
}
