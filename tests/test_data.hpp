// Paths to test data shipped in tests/data, and small helpers shared by the test suites.
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <vector>

namespace strix::testing {

inline std::filesystem::path data_path(const char* name) { return std::filesystem::path(STRIX_TEST_DATA_DIR) / name; }

inline std::vector<float> gaussian(std::size_t n, std::uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

}  // namespace strix::testing
