// byte_cursor: bounds-checked little-endian reads over an in-memory byte range. Every read names
// what it was reading, so a truncated or hostile file fails with "<file>: truncated reading <what>
// at offset N" instead of reading past the end.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <strix/core/error.hpp>

namespace strix {

static_assert(std::endian::native == std::endian::little, "strix reads little-endian files in place");

class byte_cursor {
 public:
  byte_cursor(std::span<const std::byte> bytes, std::string source) : bytes_(bytes), source_(std::move(source)) {}

  [[nodiscard]] std::size_t offset() const noexcept { return offset_; }
  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - offset_; }
  [[nodiscard]] const std::string& source() const noexcept { return source_; }

  template <class T>
    requires std::is_trivially_copyable_v<T>
  T read(std::string_view what) {
    require(sizeof(T), what);
    T value;
    std::memcpy(&value, bytes_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  std::span<const std::byte> read_bytes(std::size_t n, std::string_view what) {
    require(n, what);
    auto result = bytes_.subspan(offset_, n);
    offset_ += n;
    return result;
  }

  void require(std::size_t n, std::string_view what) const {
    if (n > remaining()) {
      throw error(error_category::format, source_ + ": truncated file: " + std::string(what) + " at offset " +
                                              std::to_string(offset_) + " needs " + std::to_string(n) +
                                              " bytes, " + std::to_string(remaining()) + " left");
    }
  }

  [[noreturn]] void fail(const std::string& message) const {
    throw error(error_category::format, source_ + ": " + message + " (at offset " + std::to_string(offset_) + ")");
  }

 private:
  std::span<const std::byte> bytes_;
  std::string source_;
  std::size_t offset_ = 0;
};

// Whether bytes are well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
inline bool is_valid_utf8(std::string_view text) noexcept {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (lead < 0x80) {
      ++i;
      continue;
    }
    if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
      code = lead & 0x1fu;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      code = lead & 0x0fu;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      code = lead & 0x07u;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto continuation = static_cast<unsigned char>(text[i + k]);
      if ((continuation & 0xc0u) != 0x80u) return false;
      code = (code << 6) | (continuation & 0x3fu);
    }
    if ((length == 3 && code < 0x800) || (length == 4 && code < 0x10000) || code > 0x10ffff ||
        (code >= 0xd800 && code <= 0xdfff)) {
      return false;
    }
    i += length;
  }
  return true;
}

}  // namespace strix
