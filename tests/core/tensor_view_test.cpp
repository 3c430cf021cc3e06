#include <catch2/catch.hpp>

#include <numeric>
#include <vector>

#include <strix/core/tensor_view.hpp>

using strix::tensor_view;

TEST_CASE("tensor_view indexes row-major data, slices rows and takes rows", "[core]") {
  std::vector<int> data(2 * 3 * 5);
  std::iota(data.begin(), data.end(), 0);
  const tensor_view<int, 3> t(data.data(), {2, 3, 5});
  CHECK(t.size() == 30);
  CHECK(t.strides() == std::array<std::size_t, 3>{15, 5, 1});
  CHECK(t(1, 2, 4) == 29);
  CHECK(t(0, 1, 0) == 5);

  const auto second = t.row(1);
  CHECK(second.rank == 2);
  CHECK(second(0, 0) == 15);
  CHECK(second.row(2)(3) == 28);

  const auto tail = t.slice(1, 2);
  CHECK(tail.extent(0) == 1);
  CHECK(tail(0, 0, 1) == 16);
  CHECK(tail.is_contiguous());

  const auto empty = t.slice(2, 2);
  CHECK(empty.empty());
}

TEST_CASE("tensor_view with custom strides describes a transposed matrix", "[core]") {
  std::vector<float> data{1, 2, 3, 4, 5, 6};  // 2 x 3 row-major
  const tensor_view<float, 2> transposed(data.data(), {3, 2}, {1, 3});
  CHECK(transposed(0, 1) == 4);
  CHECK(transposed(2, 0) == 3);
  CHECK_FALSE(transposed.is_contiguous());
  const tensor_view<const float, 2> read_only = transposed;
  CHECK(read_only(2, 1) == 6);
}

TEST_CASE("tensor_view's footprint runs from its first element to its last, gaps included", "[core]") {
  std::vector<float> data(40);
  const tensor_view<float, 2> rows(data.data() + 3, {3, 4}, {10, 1});  // 3 rows of 4 in rows of 10
  CHECK(rows.footprint().data() == data.data() + 3);
  CHECK(rows.footprint().size() == 2 * 10 + 4);
  const tensor_view<float, 2> dense(data.data(), {2, 5});
  CHECK(dense.footprint().size() == 10);
  CHECK(rows.slice(1, 1).footprint().empty());
}
