// prefault touches every page of the weights and reports progress up to the total.
#include <catch2/catch.hpp>

#include <cstddef>
#include <vector>

#include "models/prefault.hpp"

using namespace strix::models;

TEST_CASE("prefault reports monotonic progress ending at the total", "[models]") {
  std::vector<std::byte> a(10000), b(123), c;
  const std::vector<std::span<const std::byte>> ranges{a, b, c};
  std::vector<std::uint64_t> seen;
  prefault(ranges, [&](std::uint64_t done, std::uint64_t total) {
    REQUIRE(total == 10123);
    seen.push_back(done);
  });
  REQUIRE(!seen.empty());
  REQUIRE(seen.back() == 10123);
  for (std::size_t i = 1; i < seen.size(); ++i) REQUIRE(seen[i] >= seen[i - 1]);
}
