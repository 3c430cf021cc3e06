// A streaming-read probe of the machine's memory bandwidth, so throughput can be stated as a
// fraction of the measured roofline: every thread of the pool sums its share of a buffer much
// larger than the caches; the best of a few passes counts.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <strix/core/buffer.hpp>
#include <strix/core/thread_pool.hpp>

namespace strix::measure {

// Bytes per second (best of `passes`) reading `bytes` with every thread of `pool`.
inline double read_bandwidth(thread_pool& pool, std::size_t bytes = std::size_t{1} << 30, int passes = 3) {
  const std::size_t threads = pool.size();
  const std::size_t words = bytes / sizeof(std::uint64_t) / threads * threads;
  buffer<std::uint64_t> data(words, 1);
  std::vector<std::uint64_t> sums(threads * 8, 0);  // a cache line per thread
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(0, threads, 1, [&](std::size_t first, std::size_t) {
      const std::uint64_t* p = data.data() + first * (words / threads);
      std::uint64_t acc[8] = {};
      for (std::size_t i = 0; i + 8 <= words / threads; i += 8) {
        for (std::size_t j = 0; j < 8; ++j) acc[j] += p[i + j];
      }
      for (std::uint64_t a : acc) sums[first * 8] += a;
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(words * sizeof(std::uint64_t)) / seconds);
  }
  volatile std::uint64_t sink = 0;
  for (std::uint64_t s : sums) sink = sink + s;
  return best;
}

}  // namespace strix::measure
