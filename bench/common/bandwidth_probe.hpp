// The measured read bandwidth for the benchmarks' roofline fractions: the tool's probe
// (examples/measure/read_bandwidth.hpp) over 2 GiB, once per thread count per process, reported
// on stderr.
#pragma once

#include <cstdio>

#include <strix/core/thread_pool.hpp>

#include "measure/read_bandwidth.hpp"

namespace strix::bench {

inline double bandwidth_for(unsigned threads) {
  static double measured[3] = {};
  if (measured[threads] == 0) {
    thread_pool pool(threads);
    measured[threads] = measure::read_bandwidth(pool, std::size_t{2} << 30, 5);
    std::fprintf(stderr, "read bandwidth, %u thread%s: %.2f GB/s\n", threads, threads == 1 ? "" : "s", measured[threads] / 1e9);
  }
  return measured[threads];
}

}  // namespace strix::bench
