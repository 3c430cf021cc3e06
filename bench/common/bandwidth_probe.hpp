// A streaming-read probe of the machine's memory bandwidth, so benchmarks can state each figure
// as a fraction of the measured roofline. Include after a zen5 header (it uses AVX-512).
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <strix/core/buffer.hpp>
#include <strix/core/thread_pool.hpp>
#include <strix/device/zen5/intrinsics.hpp>

namespace strix::bench {

// Bytes per second a parallel streaming read achieves over `bytes` on `threads` threads (best of 5).
inline double read_bandwidth(std::size_t bytes, unsigned threads) {
  buffer<std::byte> data(bytes, std::byte{1});
  thread_pool pool(threads);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<long long> sums(threads * 8, 0);
    const auto start = std::chrono::steady_clock::now();
    const std::size_t per_thread = bytes / threads;
    pool.parallel_for(0, threads, 1, [&](std::size_t b, std::size_t) {
      const auto* p = reinterpret_cast<const __m512i*>(data.data() + b * per_thread);
      __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
      for (std::size_t i = 0; i + 4 <= per_thread / 64; i += 4) {
        acc0 = _mm512_add_epi64(acc0, _mm512_load_si512(p + i));
        acc1 = _mm512_add_epi64(acc1, _mm512_load_si512(p + i + 1));
        acc2 = _mm512_add_epi64(acc2, _mm512_load_si512(p + i + 2));
        acc3 = _mm512_add_epi64(acc3, _mm512_load_si512(p + i + 3));
      }
      sums[b * 8] = _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(acc0, acc1), _mm512_add_epi64(acc2, acc3)));
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    benchmark::DoNotOptimize(sums.data());
    best = std::max(best, static_cast<double>(bytes) / seconds);
  }
  return best;
}

// Measured once per thread count (1 or 2) per process, and reported on stderr.
inline double bandwidth_for(unsigned threads) {
  static double measured[3] = {};
  if (measured[threads] == 0) {
    measured[threads] = read_bandwidth(std::size_t{2} << 30, threads);
    std::fprintf(stderr, "read bandwidth, %u thread%s: %.2f GB/s\n", threads, threads == 1 ? "" : "s", measured[threads] / 1e9);
  }
  return measured[threads];
}

}  // namespace strix::bench
