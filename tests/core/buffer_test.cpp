#include <catch2/catch.hpp>

#include <cstdint>

#include <strix/core/buffer.hpp>

using namespace strix;

TEST_CASE("buffer is aligned, movable, and copies only when asked", "[core]") {
  buffer<float> a(1000, 1.5f);
  CHECK(reinterpret_cast<std::uintptr_t>(a.data()) % 64 == 0);
  CHECK(a.size() == 1000);
  CHECK(a.size_bytes() == 4000);
  CHECK(a[999] == 1.5f);

  buffer<float> b = std::move(a);
  CHECK(a.empty());
  CHECK(b.size() == 1000);

  auto c = b.copy();
  c[0] = 2.0f;
  CHECK(b[0] == 1.5f);

  const auto m = c.view<2>({10, 100});
  CHECK(m(0, 0) == 2.0f);
  CHECK_THROWS_AS(c.view<2>({10, 10}), error);
}

TEST_CASE("buffers of a huge page or more start on a huge page boundary", "[core]") {
  // Just under, at and over 2 MiB (odd sizes: a partial last huge page), moved and released.
  for (const std::size_t bytes : {host_memory::huge_page - 1, host_memory::huge_page, 3 * host_memory::huge_page + 5}) {
    buffer<std::byte> a(bytes, std::byte{7});
    const std::size_t expected = bytes >= host_memory::huge_page ? host_memory::huge_page : 64;
    CHECK(reinterpret_cast<std::uintptr_t>(a.data()) % expected == 0);
    CHECK(a[bytes - 1] == std::byte{7});
    buffer<std::byte> b = std::move(a);
    CHECK(b.size() == bytes);
  }
}

TEST_CASE("an empty buffer owns nothing", "[core]") {
  buffer<int> empty(0);
  CHECK(empty.data() == nullptr);
  CHECK(empty.span().empty());
}

TEST_CASE("an impossible allocation is a memory error, not a crash", "[core]") {
  try {
    buffer<double> huge(static_cast<std::size_t>(-1) / 4);
    FAIL("allocated the impossible");
  } catch (const error& e) {
    CHECK(e.category() == error_category::memory);
  }
}
