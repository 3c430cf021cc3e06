#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <string>

#include <strix/io/byte_cursor.hpp>

using namespace strix;

TEST_CASE("byte_cursor reads little-endian values and names what was truncated", "[io]") {
  const std::array<std::byte, 6> bytes{std::byte{1}, std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0xff}, std::byte{0x7f}};
  byte_cursor in(bytes, "weights.gguf");
  CHECK(in.read<std::uint32_t>("version") == 1);
  CHECK(in.read<std::int16_t>("count") == 0x7fff);
  CHECK(in.remaining() == 0);
  CHECK_THROWS_WITH(in.read<std::uint8_t>("tensor type"),
                    Catch::Contains("weights.gguf") && Catch::Contains("tensor type") && Catch::Contains("offset 6"));
}

TEST_CASE("UTF-8 validation accepts well-formed text and rejects the rest", "[io]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ASCII"));
  CHECK(is_valid_utf8("\xe2\x96\x81hello"));           // U+2581, SentencePiece's space
  CHECK(is_valid_utf8("\xf0\x9f\x98\x80 \xe0\xb6\xb8"));  // emoji, Sinhala
  CHECK_FALSE(is_valid_utf8("\x80"));                  // lone continuation
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));              // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xe0\x80\xaf"));          // overlong, 3 bytes
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));          // UTF-16 surrogate
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));      // above U+10FFFF
  CHECK_FALSE(is_valid_utf8("\xe2\x96"));              // truncated sequence
  CHECK_FALSE(is_valid_utf8(std::string("\xff", 1)));
}
