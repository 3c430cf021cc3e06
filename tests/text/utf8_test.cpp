#include <string>

#include <catch2/catch.hpp>

#include <strix/text/utf8.hpp>

using strix::text::complete_utf8_prefix;
using strix::text::utf8_length_at;

TEST_CASE("utf8_length_at accepts well-formed characters and counts malformed bytes singly") {
  CHECK(utf8_length_at("a", 0) == 1);
  CHECK(utf8_length_at("\xC3\xA9", 0) == 2);
  CHECK(utf8_length_at("\xE2\x96\x81", 0) == 3);
  CHECK(utf8_length_at("\xF0\x9F\x98\x80", 0) == 4);
  CHECK(utf8_length_at("\xC0\xAF", 0) == 1);          // overlong
  CHECK(utf8_length_at("\xED\xA0\x80", 0) == 1);      // surrogate
  CHECK(utf8_length_at("\xF4\x90\x80\x80", 0) == 1);  // above U+10FFFF
  CHECK(utf8_length_at("\xE2\x96", 0) == 1);          // truncated
  CHECK(utf8_length_at("\x80", 0) == 1);              // stray continuation
  CHECK(utf8_length_at("\xFF", 0) == 1);
}

TEST_CASE("complete_utf8_prefix holds back only a character that more bytes can finish") {
  CHECK(complete_utf8_prefix("") == 0);
  CHECK(complete_utf8_prefix("abc") == 3);
  CHECK(complete_utf8_prefix("ab\xE2") == 2);
  CHECK(complete_utf8_prefix("ab\xE2\x96") == 2);
  CHECK(complete_utf8_prefix("ab\xE2\x96\x81") == 5);
  CHECK(complete_utf8_prefix("\xF0\x9F\x98") == 0);
  CHECK(complete_utf8_prefix("\xF0\x9F\x98\x80") == 4);
  CHECK(complete_utf8_prefix("a\x80") == 2);      // stray continuation: never completes, print it
  CHECK(complete_utf8_prefix("a\xFF") == 2);      // invalid lead
  CHECK(complete_utf8_prefix("a\xE0\x80") == 3);  // overlong start: never valid
  CHECK(complete_utf8_prefix("a\xED\xA0") == 3);  // surrogate start: never valid
}
