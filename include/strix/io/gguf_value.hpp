// gguf_value: one GGUF metadata value: a scalar, a string, or an array (of scalars, of strings, or
// of arrays). Numeric arrays are stored as one packed, aligned block so they can be handed out as
// std::span<const T> without per-element objects (a 262144-entry score table stays one allocation).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <strix/core/error.hpp>

namespace strix {

enum class gguf_type : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9,
  u64 = 10, i64 = 11, f64 = 12,
};

constexpr std::string_view to_string(gguf_type type) noexcept {
  switch (type) {
    case gguf_type::u8: return "u8";
    case gguf_type::i8: return "i8";
    case gguf_type::u16: return "u16";
    case gguf_type::i16: return "i16";
    case gguf_type::u32: return "u32";
    case gguf_type::i32: return "i32";
    case gguf_type::f32: return "f32";
    case gguf_type::boolean: return "bool";
    case gguf_type::string: return "string";
    case gguf_type::array: return "array";
    case gguf_type::u64: return "u64";
    case gguf_type::i64: return "i64";
    case gguf_type::f64: return "f64";
  }
  return "unknown";
}

// Byte width of a scalar type; 0 for string and array.
constexpr std::size_t scalar_width(gguf_type type) noexcept {
  switch (type) {
    case gguf_type::u8: case gguf_type::i8: case gguf_type::boolean: return 1;
    case gguf_type::u16: case gguf_type::i16: return 2;
    case gguf_type::u32: case gguf_type::i32: case gguf_type::f32: return 4;
    case gguf_type::u64: case gguf_type::i64: case gguf_type::f64: return 8;
    case gguf_type::string: case gguf_type::array: return 0;
  }
  return 0;
}

constexpr bool is_known(gguf_type type) noexcept { return static_cast<std::uint32_t>(type) <= 12; }

template <class T>
inline constexpr bool is_gguf_scalar =
    std::is_same_v<T, std::uint8_t> || std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::uint16_t> ||
    std::is_same_v<T, std::int16_t> || std::is_same_v<T, std::uint32_t> || std::is_same_v<T, std::int32_t> ||
    std::is_same_v<T, float> || std::is_same_v<T, bool> || std::is_same_v<T, std::uint64_t> ||
    std::is_same_v<T, std::int64_t> || std::is_same_v<T, double>;

template <class T>
  requires is_gguf_scalar<T>
constexpr gguf_type gguf_type_of() noexcept {
  if constexpr (std::is_same_v<T, std::uint8_t>) return gguf_type::u8;
  else if constexpr (std::is_same_v<T, std::int8_t>) return gguf_type::i8;
  else if constexpr (std::is_same_v<T, std::uint16_t>) return gguf_type::u16;
  else if constexpr (std::is_same_v<T, std::int16_t>) return gguf_type::i16;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return gguf_type::u32;
  else if constexpr (std::is_same_v<T, std::int32_t>) return gguf_type::i32;
  else if constexpr (std::is_same_v<T, float>) return gguf_type::f32;
  else if constexpr (std::is_same_v<T, bool>) return gguf_type::boolean;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return gguf_type::u64;
  else if constexpr (std::is_same_v<T, std::int64_t>) return gguf_type::i64;
  else return gguf_type::f64;
}

class gguf_value {
 public:
  gguf_value() = default;

  template <class T>
    requires is_gguf_scalar<T>
  explicit gguf_value(T scalar) : type_(gguf_type_of<T>()), count_(1) {
    packed_.resize(1);
    std::memcpy(packed_.data(), &scalar, sizeof(T));
  }
  explicit gguf_value(std::string text) : type_(gguf_type::string), string_(std::move(text)) {}
  explicit gguf_value(const char* text) : gguf_value(std::string(text)) {}

  template <class T>
    requires is_gguf_scalar<T>
  static gguf_value array(std::span<const T> elements) {
    return packed_array(gguf_type_of<T>(), elements.size(), std::as_bytes(elements));
  }
  static gguf_value array(std::vector<std::string> strings) {
    gguf_value v;
    v.type_ = gguf_type::array;
    v.element_type_ = gguf_type::string;
    v.count_ = strings.size();
    v.strings_ = std::move(strings);
    return v;
  }
  // An array of arrays; every inner value must itself be an array.
  static gguf_value array_of_arrays(std::vector<gguf_value> arrays) {
    gguf_value v;
    v.type_ = gguf_type::array;
    v.element_type_ = gguf_type::array;
    v.count_ = arrays.size();
    v.arrays_ = std::move(arrays);
    return v;
  }

  // Raw packed elements of `count` scalars of `element`; bytes.size() must be count * width.
  static gguf_value packed_array(gguf_type element, std::size_t count, std::span<const std::byte> bytes) {
    gguf_value v;
    v.type_ = gguf_type::array;
    v.element_type_ = element;
    v.count_ = count;
    v.packed_.resize((bytes.size() + 7) / 8);
    if (!bytes.empty()) std::memcpy(v.packed_.data(), bytes.data(), bytes.size());
    return v;
  }
  static gguf_value packed_scalar(gguf_type type, std::span<const std::byte> bytes) {
    gguf_value v;
    v.type_ = type;
    v.count_ = 1;
    v.packed_.resize(1);
    std::memcpy(v.packed_.data(), bytes.data(), bytes.size());
    return v;
  }

  [[nodiscard]] gguf_type type() const noexcept { return type_; }
  [[nodiscard]] gguf_type element_type() const noexcept { return element_type_; }
  [[nodiscard]] bool is_array() const noexcept { return type_ == gguf_type::array; }
  // Number of elements of an array (1 for a scalar or string).
  [[nodiscard]] std::size_t size() const noexcept { return type_ == gguf_type::string ? 1 : count_; }

  template <class T>
    requires is_gguf_scalar<T>
  [[nodiscard]] bool holds() const noexcept { return type_ == gguf_type_of<T>(); }

  // The scalar, when the value is exactly a T; nullptr-free: check holds<T>() first or catch.
  template <class T>
    requires is_gguf_scalar<T>
  [[nodiscard]] T as() const {
    if (type_ != gguf_type_of<T>()) mismatch(std::string(to_string(gguf_type_of<T>())));
    T value;
    std::memcpy(&value, packed_.data(), sizeof(T));
    return value;
  }
  [[nodiscard]] const std::string& as_string() const {
    if (type_ != gguf_type::string) mismatch("string");
    return string_;
  }
  template <class T>
    requires is_gguf_scalar<T>
  [[nodiscard]] std::span<const T> as_array() const {
    if (type_ != gguf_type::array || element_type_ != gguf_type_of<T>()) {
      mismatch("array of " + std::string(to_string(gguf_type_of<T>())));
    }
    return {reinterpret_cast<const T*>(packed_.data()), count_};
  }
  [[nodiscard]] std::span<const std::string> as_strings() const {
    if (type_ != gguf_type::array || element_type_ != gguf_type::string) mismatch("array of string");
    return strings_;
  }
  [[nodiscard]] std::span<const gguf_value> as_arrays() const {
    if (type_ != gguf_type::array || element_type_ != gguf_type::array) mismatch("array of array");
    return arrays_;
  }
  // Bytes of a scalar or of a packed numeric array, for writers.
  [[nodiscard]] std::span<const std::byte> packed_bytes() const noexcept {
    const std::size_t width = scalar_width(type_ == gguf_type::array ? element_type_ : type_);
    return {reinterpret_cast<const std::byte*>(packed_.data()), width * count_};
  }

  // The value of any integer scalar type, widened; fails for other types and out-of-range u64.
  [[nodiscard]] std::int64_t as_integer() const {
    switch (type_) {
      case gguf_type::u8: return as<std::uint8_t>();
      case gguf_type::i8: return as<std::int8_t>();
      case gguf_type::u16: return as<std::uint16_t>();
      case gguf_type::i16: return as<std::int16_t>();
      case gguf_type::u32: return as<std::uint32_t>();
      case gguf_type::i32: return as<std::int32_t>();
      case gguf_type::i64: return as<std::int64_t>();
      case gguf_type::u64: {
        const auto v = as<std::uint64_t>();
        if (v > static_cast<std::uint64_t>(INT64_MAX)) mismatch("integer below 2^63");
        return static_cast<std::int64_t>(v);
      }
      default: mismatch("integer");
    }
  }

  // A short human-readable rendering: scalars in full, arrays as "[type; n]" with a few elements.
  [[nodiscard]] std::string describe(std::size_t max_elements = 8) const;

 private:
  [[noreturn]] void mismatch(const std::string& wanted) const {
    std::string actual(to_string(type_));
    if (type_ == gguf_type::array) actual += " of " + std::string(to_string(element_type_));
    throw error(error_category::format, "value has type " + actual + ", expected " + wanted);
  }

  gguf_type type_ = gguf_type::u8;
  gguf_type element_type_ = gguf_type::u8;
  std::size_t count_ = 0;
  std::vector<std::uint64_t> packed_;  // 8-byte units keep every scalar type aligned
  std::string string_;
  std::vector<std::string> strings_;
  std::vector<gguf_value> arrays_;
};

namespace detail {
inline std::string describe_scalar(gguf_type type, const std::byte* p) {
  auto load = [p]<class T>(T) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
  };
  switch (type) {
    case gguf_type::u8: return std::to_string(load(std::uint8_t{}));
    case gguf_type::i8: return std::to_string(load(std::int8_t{}));
    case gguf_type::u16: return std::to_string(load(std::uint16_t{}));
    case gguf_type::i16: return std::to_string(load(std::int16_t{}));
    case gguf_type::u32: return std::to_string(load(std::uint32_t{}));
    case gguf_type::i32: return std::to_string(load(std::int32_t{}));
    case gguf_type::u64: return std::to_string(load(std::uint64_t{}));
    case gguf_type::i64: return std::to_string(load(std::int64_t{}));
    case gguf_type::f32: return std::to_string(load(float{}));
    case gguf_type::f64: return std::to_string(load(double{}));
    case gguf_type::boolean: return load(std::uint8_t{}) != 0 ? "true" : "false";
    default: return "?";
  }
}
}  // namespace detail

inline std::string gguf_value::describe(std::size_t max_elements) const {
  if (type_ == gguf_type::string) return '"' + string_ + '"';
  if (type_ != gguf_type::array) return detail::describe_scalar(type_, packed_bytes().data());
  std::string out = "[" + std::string(to_string(element_type_)) + "; " + std::to_string(count_) + "]";
  const std::size_t shown = std::min(count_, max_elements);
  if (shown == 0) return out;
  out += " ";
  for (std::size_t i = 0; i < shown; ++i) {
    if (i != 0) out += ", ";
    if (element_type_ == gguf_type::string) out += '"' + strings_[i] + '"';
    else if (element_type_ == gguf_type::array) out += arrays_[i].describe(max_elements);
    else out += detail::describe_scalar(element_type_, packed_bytes().data() + i * scalar_width(element_type_));
  }
  if (shown < count_) out += ", ...";
  return out;
}

}  // namespace strix
