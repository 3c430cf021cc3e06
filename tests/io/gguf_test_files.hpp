// Builders for GGUF test files: a valid file using every metadata type, and a raw little-endian
// byte writer for crafting broken ones field by field.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <strix/io/gguf_writer.hpp>

namespace strix::testing {

// Every value type, nested arrays, and three tensors (the last non-empty) of different types.
inline std::vector<std::byte> valid_gguf() {
  static const std::vector<float> weights{1.0f, -2.0f, 3.5f, 0.25f, 8.0f, -1.0f, 0.0f, 2.0f};
  static const std::vector<std::byte> q8(34 * 2, std::byte{0x11});
  gguf_writer w;
  w.set("general.architecture", gguf_value("test"));
  w.set("u8", gguf_value(std::uint8_t{200}));
  w.set("i8", gguf_value(std::int8_t{-100}));
  w.set("u16", gguf_value(std::uint16_t{60000}));
  w.set("i16", gguf_value(std::int16_t{-30000}));
  w.set("u32", gguf_value(std::uint32_t{4000000000u}));
  w.set("i32", gguf_value(std::int32_t{-2000000000}));
  w.set("f32", gguf_value(1.5f));
  w.set("bool", gguf_value(true));
  w.set("u64", gguf_value(std::uint64_t{1} << 60));
  w.set("i64", gguf_value(std::int64_t{-(std::int64_t{1} << 60)}));
  w.set("f64", gguf_value(-0.125));
  const std::vector<float> scores{0.5f, -1.0f, 2.0f};
  w.set("scores", gguf_value::array<float>(scores));
  const bool flags[] = {true, false, true};
  w.set("flags", gguf_value::array<bool>(flags));
  w.set("tokens", gguf_value::array(std::vector<std::string>{"<bos>", "\xe2\x96\x81hi", ""}));
  const std::int32_t a[] = {1, 2};
  const std::int32_t b[] = {3};
  w.set("nested", gguf_value::array_of_arrays({gguf_value::array<std::int32_t>(a), gguf_value::array<std::int32_t>(b)}));
  const std::uint64_t ne_empty[] = {0};
  const std::uint64_t ne_f32[] = {4, 2};
  const std::uint64_t ne_q8[] = {64, 1};
  w.add_tensor("empty", ggml_type::f32, ne_empty, {});
  w.add_tensor("weights", ggml_type::f32, ne_f32, std::as_bytes(std::span(weights)));
  w.add_tensor("blk.0.q8", ggml_type::q8_0, ne_q8, q8);
  return w.to_bytes();
}

// Appends raw little-endian fields.
struct raw_gguf {
  std::vector<std::byte> bytes;

  template <class T>
  raw_gguf& put(T value) {
    const auto* p = reinterpret_cast<const std::byte*>(&value);
    bytes.insert(bytes.end(), p, p + sizeof(T));
    return *this;
  }
  raw_gguf& str(std::string_view s) {
    put<std::uint64_t>(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    bytes.insert(bytes.end(), p, p + s.size());
    return *this;
  }
  raw_gguf& header(std::uint64_t tensors, std::uint64_t kvs, std::uint32_t version = 3) {
    bytes.insert(bytes.end(), {std::byte{'G'}, std::byte{'G'}, std::byte{'U'}, std::byte{'F'}});
    return put(version).put(tensors).put(kvs);
  }
  raw_gguf& tensor(std::string_view name, std::vector<std::uint64_t> ne, std::uint32_t type, std::uint64_t offset) {
    str(name).put(static_cast<std::uint32_t>(ne.size()));
    for (auto n : ne) put(n);
    return put(type).put(offset);
  }
  raw_gguf& pad_to(std::size_t alignment) {
    while (bytes.size() % alignment != 0) bytes.push_back(std::byte{0});
    return *this;
  }
  raw_gguf& zeros(std::size_t n) {
    bytes.insert(bytes.end(), n, std::byte{0});
    return *this;
  }
};

}  // namespace strix::testing
