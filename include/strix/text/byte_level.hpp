// The GPT-2 byte-to-character map of byte-level BPE: printable Latin-1 bytes stand for themselves,
// the other 68 bytes are shifted to U+0100 and up in byte order, so every byte sequence becomes a
// string of printable characters that BPE can merge.
#pragma once

#include <array>
#include <cstdint>

namespace strix::text {

class byte_level_map {
 public:
  constexpr byte_level_map() {
    char32_t next = 256;
    for (unsigned b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_char_[b] = printable ? static_cast<char32_t>(b) : next++;
    }
    for (auto& b : to_byte_) b = -1;
    for (unsigned b = 0; b < 256; ++b) to_byte_[to_char_[b]] = static_cast<std::int16_t>(b);
  }

  [[nodiscard]] constexpr char32_t to_char(unsigned char byte) const noexcept { return to_char_[byte]; }
  // The byte a character stands for, or -1 when it is not one of the 256.
  [[nodiscard]] constexpr int to_byte(char32_t c) const noexcept { return c < to_byte_.size() ? to_byte_[c] : -1; }

 private:
  std::array<char32_t, 256> to_char_{};
  std::array<std::int16_t, 324> to_byte_{};  // the shifted characters end below U+0144
};

}  // namespace strix::text
