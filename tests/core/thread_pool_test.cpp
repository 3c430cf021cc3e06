#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <vector>

#include <strix/core/thread_pool.hpp>

using strix::thread_pool;

TEST_CASE("parallel_for covers every index exactly once", "[core]") {
  for (unsigned threads : {1u, 2u, 4u}) {
    thread_pool pool(threads);
    CHECK(pool.size() == threads);
    for (std::size_t n : {0u, 1u, 7u, 1000u, 4097u}) {
      for (std::size_t grain : {1u, 3u, 64u, 10000u}) {
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_for(0, n, grain, [&](std::size_t b, std::size_t e) {
          REQUIRE(e - b <= grain);
          for (std::size_t i = b; i < e; ++i) hits[i].fetch_add(1);
        });
        for (std::size_t i = 0; i < n; ++i) REQUIRE(hits[i].load() == 1);
      }
    }
  }
}

TEST_CASE("parallel_for runs repeatedly, nests, and propagates exceptions", "[core]") {
  thread_pool pool(3);
  std::atomic<long> sum{0};
  for (int round = 0; round < 200; ++round) {
    pool.parallel_for(10, 110, 7, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) sum += static_cast<long>(i);
    });
  }
  CHECK(sum == 200L * (10 + 109) * 100 / 2);

  std::atomic<int> inner{0};
  pool.parallel_for(0, 8, 1, [&](std::size_t, std::size_t) {
    pool.parallel_for(0, 10, 2, [&](std::size_t b, std::size_t e) { inner += static_cast<int>(e - b); });
  });
  CHECK(inner == 80);

  CHECK_THROWS_AS(pool.parallel_for(0, 100, 1,
                                    [](std::size_t b, std::size_t) {
                                      if (b == 42) throw std::runtime_error("chunk 42");
                                    }),
                  std::runtime_error);
  std::atomic<int> after{0};
  pool.parallel_for(0, 50, 5, [&](std::size_t b, std::size_t e) { after += static_cast<int>(e - b); });
  CHECK(after == 50);
}
