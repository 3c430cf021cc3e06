#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include <strix/quant/formats.hpp>
#include <strix/quant/quantized_view.hpp>

#include "../test_data.hpp"

using namespace strix;

TEST_CASE("quantized_view validates its shape and reads rows", "[quant]") {
  const auto x = testing::gaussian(3 * 64, 5);
  std::vector<block_q8_0> blocks(6);
  quantize_row<q8_0_format>(x, blocks);
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(blocks.data()), blocks.size() * sizeof(block_q8_0));

  SECTION("rows are the right blocks") {
    const quantized_view<q8_0_format> view(bytes, 3, 64);
    CHECK(view.blocks_per_row() == 2);
    std::vector<float> row(64);
    view.dequantize_row(2, row);
    std::vector<float> expected(64);
    dequantize_row<q8_0_format>(std::span<const block_q8_0>(blocks).subspan(4, 2), expected);
    CHECK(row == expected);
    const auto tail = view.rows_between(1, 3);
    CHECK(tail.rows() == 2);
    tail.dequantize_row(1, row);
    CHECK(row == expected);
  }
  SECTION("a row length that is not a multiple of the block size is an error naming the tensor") {
    CHECK_THROWS_WITH((quantized_view<q8_0_format>(bytes, 6, 33, "blk.3.ffn_up.weight")),
                      Catch::Contains("blk.3.ffn_up.weight") && Catch::Contains("block size 32"));
  }
  SECTION("a byte count that does not match is an error") {
    CHECK_THROWS_AS((quantized_view<q8_0_format>(bytes.first(bytes.size() - 1), 3, 64)), error);
    CHECK_THROWS_AS((quantized_view<q8_0_format>(bytes, 4, 64)), error);
  }
  SECTION("an empty view is fine") {
    const quantized_view<q8_0_format> view(bytes.first(0), 0, 64);
    CHECK(view.rows() == 0);
  }
}
