// UTF-8 helpers for the tokenizers: the length of the character at a position (malformed bytes
// count as one-byte characters, so hostile input never stalls a loop or reads past the end), code
// point decoding and encoding, and the length of the longest prefix that ends on a character
// boundary, which is what a streaming decoder may print.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace strix::text {

// Number of bytes of a well-formed UTF-8 sequence starting at text[pos], or 1 when it is malformed
// (bad lead byte, truncated, bad continuation, overlong, surrogate, above U+10FFFF).
[[nodiscard]] constexpr std::size_t utf8_length_at(std::string_view text, std::size_t pos) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned lead = byte(pos);
  std::size_t length = 0;
  unsigned min_second = 0x80;
  unsigned max_second = 0xBF;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) min_second = 0xA0;  // overlong
    if (lead == 0xED) max_second = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) min_second = 0x90;  // overlong
    if (lead == 0xF4) max_second = 0x8F;  // above U+10FFFF
  } else {
    return 1;
  }
  if (pos + length > text.size()) return 1;
  if (byte(pos + 1) < min_second || byte(pos + 1) > max_second) return 1;
  for (std::size_t i = 2; i < length; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) return 1;
  }
  return length;
}

// The code point of the character at text[pos] (of length utf8_length_at); a malformed byte b
// decodes as U+FFFD.
[[nodiscard]] constexpr char32_t utf8_code_point_at(std::string_view text, std::size_t pos, std::size_t length) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<char32_t>(static_cast<unsigned char>(text[i])); };
  switch (length) {
    case 1: return byte(pos) < 0x80 ? byte(pos) : U'\uFFFD';
    case 2: return ((byte(pos) & 0x1F) << 6) | (byte(pos + 1) & 0x3F);
    case 3: return ((byte(pos) & 0x0F) << 12) | ((byte(pos + 1) & 0x3F) << 6) | (byte(pos + 2) & 0x3F);
    default:
      return ((byte(pos) & 0x07) << 18) | ((byte(pos + 1) & 0x3F) << 12) | ((byte(pos + 2) & 0x3F) << 6) |
             (byte(pos + 3) & 0x3F);
  }
}

inline void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

[[nodiscard]] constexpr bool is_valid_utf8(std::string_view text) noexcept {
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t length = utf8_length_at(text, pos);
    if (length == 1 && static_cast<unsigned char>(text[pos]) >= 0x80) return false;
    pos += length;
  }
  return true;
}

// Length of the longest prefix of `bytes` that does not end inside a character that more bytes
// could still complete. Malformed bytes are not held back (waiting would not make them valid).
[[nodiscard]] constexpr std::size_t complete_utf8_prefix(std::string_view bytes) noexcept {
  const std::size_t n = bytes.size();
  // A character is at most 4 bytes: only the last 3 can belong to an unfinished one.
  for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
    const unsigned b = static_cast<unsigned char>(bytes[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    std::size_t needed = 0;
    if (b >= 0xC2 && b <= 0xDF) needed = 2;
    else if (b >= 0xE0 && b <= 0xEF) needed = 3;
    else if (b >= 0xF0 && b <= 0xF4) needed = 4;
    if (needed > back) {
      // Unfinished only if the bytes so far are a valid start of that character.
      if (back >= 2) {
        const unsigned second = static_cast<unsigned char>(bytes[n - back + 1]);
        if ((b == 0xE0 && second < 0xA0) || (b == 0xED && second > 0x9F) || (b == 0xF0 && second < 0x90) ||
            (b == 0xF4 && second > 0x8F)) {
          return n;
        }
      }
      return n - back;
    }
    return n;
  }
  return n;
}

}  // namespace strix::text
